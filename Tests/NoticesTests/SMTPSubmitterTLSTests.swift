import Logging
import NIOCore
import NIOSSL
import PortcullisCore
import SMTPProxy
import Testing
@testable import Notices

/// STARTTLS against the fake smarthost with a throwaway self-signed certificate, as in the lab.
@Suite(.timeLimit(.minutes(1)))
struct SMTPSubmitterTLSTests {
    static func submitter(port: Int, tls: SMTPSubmissionTLS, verify: Bool, trusting: NIOSSLCertificate? = nil,
                          group: any EventLoopGroup) throws -> SMTPSubmitter {
        let smarthost = try SMTPSmarthost(host: "127.0.0.1", port: port, tls: tls, verify: verify,
                                          heloName: "portcullis.test", timeouts: SMTPSubmitterTests.timeouts)
        var tlsClient = TLSClient(verify: verify)
        if let trusting { tlsClient.trustRoots = .certificates([trusting]) }
        let logger = Logger(label: "test")
        return SMTPSubmitter(smarthost: smarthost, eventLoopGroup: group, logger: logger, tls: tlsClient)
    }

    static func tlsScript() throws -> FakeSMTPScript {
        var script = FakeSMTPScript()
        script.startTLS = try TestCertificate.loopback.serverTLS()
        return script
    }

    /// Unverified (the lab's setting) and verified against the certificate as a trust root: the
    /// whole transaction after STARTTLS, the message included, travels inside TLS.
    @Test(arguments: [SMTPSubmissionTLS.opportunistic, .required], [false, true])
    func sendsEverythingAfterSTARTTLSOverTLS(tls: SMTPSubmissionTLS, verify: Bool) async throws {
        try await withEventLoopGroup { group in
            try await withFakeSMTPServer(on: group, script: try Self.tlsScript()) { server in
                let submitter = try Self.submitter(port: server.port, tls: tls, verify: verify,
                                                   trusting: verify ? TestCertificate.loopback.certificate : nil, group: group)
                let reply = try await submitter.send(SMTPSubmitterTests.mail())
                #expect(reply == "250 2.0.0 Ok: queued as FAKE1")
                let seen = await FakeSMTPSession(server.events)
                #expect(seen.commands == ["EHLO portcullis.test", "STARTTLS", "EHLO portcullis.test",
                                          "MAIL FROM:<abuse@hosting.example>", "RCPT TO:<ops@tenant.example>",
                                          "RCPT TO:<security@tenant.example>", "DATA", "QUIT"])
                #expect(seen.commandsOverTLS == Array(seen.commands.dropFirst(2)), "EHLO again, then all of it over TLS")
                #expect(seen.messagesOverTLS.count == 1)
            }
        }
    }

    /// With verification on and the system's roots, a self-signed certificate is refused: the
    /// notice is not sent in the clear instead, and the operator is told about `verify`.
    @Test(arguments: [SMTPSubmissionTLS.opportunistic, .required])
    func refusesAnUnverifiableCertificate(tls: SMTPSubmissionTLS) async throws {
        try await withEventLoopGroup { group in
            try await withFakeSMTPServer(on: group, script: try Self.tlsScript()) { server in
                let submitter = try Self.submitter(port: server.port, tls: tls, verify: true, group: group)
                let error = try await #require(throws: SMTPSubmissionError.self) {
                    try await submitter.send(SMTPSubmitterTests.mail())
                }
                guard case .tlsFailed(_, let verify, let reason) = error else {
                    Issue.record("expected a TLS failure, got \(error)")
                    return
                }
                #expect(verify)
                #expect(reason.contains("did not verify"), "\(reason)")
                #expect(!error.isPermanent)
                #expect(error.description.contains("set verify to false"))
                let seen = await FakeSMTPSession(server.events)
                #expect(seen.commands == ["EHLO portcullis.test", "STARTTLS"], "nothing after the failed handshake")
                #expect(seen.messages.isEmpty)
            }
        }
    }

    /// A server (or someone on the path) that follows its 220 with plaintext is not trusted:
    /// those bytes would otherwise be read as replies from inside TLS.
    @Test func refusesPlaintextInjectedAfterTheSTARTTLSReply() async throws {
        try await withEventLoopGroup { group in
            var script = try Self.tlsScript()
            script.replies["STARTTLS"] = "220 2.0.0 Ready to start TLS\r\n250 2.1.0 injected\r\n"
            try await withFakeSMTPServer(on: group, script: script) { server in
                let submitter = try Self.submitter(port: server.port, tls: .required, verify: false, group: group)
                let error = try await #require(throws: SMTPSubmissionError.self) {
                    try await submitter.send(SMTPSubmitterTests.mail())
                }
                guard case .tlsFailed(_, _, let reason) = error else {
                    Issue.record("expected a TLS failure, got \(error)")
                    return
                }
                #expect(reason.contains("plaintext after agreeing to STARTTLS"))
                let seen = await FakeSMTPSession(server.events)
                #expect(seen.messages.isEmpty)
            }
        }
    }

    /// RFC 3207: after a refused STARTTLS the session goes on in plaintext, which opportunistic
    /// TLS accepts and required TLS does not.
    @Test(arguments: [SMTPSubmissionTLS.opportunistic, .required])
    func aRefusedSTARTTLS(tls: SMTPSubmissionTLS) async throws {
        try await withEventLoopGroup { group in
            var script = try Self.tlsScript()
            script.replies["STARTTLS"] = "454 4.7.0 TLS not available due to local problem\r\n"
            try await withFakeSMTPServer(on: group, script: script) { server in
                let submitter = try Self.submitter(port: server.port, tls: tls, verify: false, group: group)
                if tls == .opportunistic {
                    #expect(try await submitter.send(SMTPSubmitterTests.mail()) == "250 2.0.0 Ok: queued as FAKE1")
                    let seen = await FakeSMTPSession(server.events)
                    #expect(seen.commands.prefix(3) == ["EHLO portcullis.test", "STARTTLS", "MAIL FROM:<abuse@hosting.example>"])
                    #expect(seen.commandsOverTLS.isEmpty)
                } else {
                    let error = try await #require(throws: SMTPSubmissionError.self) {
                        try await submitter.send(SMTPSubmitterTests.mail())
                    }
                    guard case .refused(_, .startTLS, let reply) = error else {
                        Issue.record("expected STARTTLS refused, got \(error)")
                        return
                    }
                    #expect(reply.code == 454)
                    #expect(!error.isPermanent)
                    let seen = await FakeSMTPSession(server.events)
                    #expect(!seen.commands.contains { $0.hasPrefix("MAIL") })
                }
            }
        }
    }

    /// TLS off: STARTTLS is offered but not used.
    @Test func tlsOffIgnoresTheOffer() async throws {
        try await withEventLoopGroup { group in
            try await withFakeSMTPServer(on: group, script: try Self.tlsScript()) { server in
                let submitter = try Self.submitter(port: server.port, tls: .off, verify: true, group: group)
                _ = try await submitter.send(SMTPSubmitterTests.mail())
                let seen = await FakeSMTPSession(server.events)
                #expect(!seen.commands.contains("STARTTLS"))
                #expect(seen.commandsOverTLS.isEmpty)
            }
        }
    }
}
