import Foundation
import Logging
import NIOCore
import PortcullisCore
import SMTPProxy
import Testing
@testable import Notices

/// SMTP AUTH at the smarthost: PLAIN or LOGIN, only after STARTTLS, and the password never on
/// the wire in plaintext.
@Suite(.timeLimit(.minutes(1)))
struct SMTPSubmitterAuthTests {
    static let credentials = try! SMTPCredentials(username: "notices@hosting.example", password: "s3cret pass")

    static func submitter(port: Int, tls: SMTPSubmissionTLS = .required, group: any EventLoopGroup) throws -> SMTPSubmitter {
        // Verified against the test certificate, by file, as notices.email.ca_file does it.
        let smarthost = try SMTPSmarthost(host: "127.0.0.1", port: port, tls: tls, verify: true, heloName: "portcullis.test",
                                          timeouts: SMTPSubmitterTests.timeouts, credentials: credentials,
                                          caFile: try TestCertificate.loopback.certificateFile())
        return SMTPSubmitter(smarthost: smarthost, eventLoopGroup: group, logger: Logger(label: "test"))
    }

    static func script(mechanisms: String, password: String = "s3cret pass", tls: Bool = true) throws -> FakeSMTPScript {
        var script = FakeSMTPScript()
        if tls { script.startTLS = try TestCertificate.loopback.serverTLS() }
        script.auth = (mechanisms, "notices@hosting.example", password)
        return script
    }

    @Test(arguments: ["PLAIN", "LOGIN PLAIN CRAM-MD5", "LOGIN"])
    func logsInOverTLSThenSends(mechanisms: String) async throws {
        try await withEventLoopGroup { group in
            try await withFakeSMTPServer(on: group, script: try Self.script(mechanisms: mechanisms)) { server in
                let reply = try await Self.submitter(port: server.port, group: group).send(SMTPSubmitterTests.mail())
                #expect(reply == "250 2.0.0 Ok: queued as FAKE1")
                let seen = await FakeSMTPSession(server.events)
                let plain = "AUTH PLAIN " + Data("\0notices@hosting.example\0s3cret pass".utf8).base64EncodedString()
                let login = ["AUTH LOGIN", Data("notices@hosting.example".utf8).base64EncodedString(),
                             Data("s3cret pass".utf8).base64EncodedString()]
                let expectedAuth = mechanisms.split(separator: " ").contains("PLAIN") ? [plain] : login
                #expect(seen.commands == ["EHLO portcullis.test", "STARTTLS", "EHLO portcullis.test"] + expectedAuth
                    + ["MAIL FROM:<abuse@hosting.example>", "RCPT TO:<ops@tenant.example>", "RCPT TO:<security@tenant.example>",
                       "DATA", "QUIT"])
                #expect(seen.commandsOverTLS == Array(seen.commands.dropFirst(2)), "the credentials travel inside TLS")
            }
        }
    }

    /// A refused login fails the attempt but not the notice: the password is configuration, and
    /// every notice would fail the same way until it is fixed.
    @Test func wrongPasswordIsRetriedNotFailed() async throws {
        try await withEventLoopGroup { group in
            try await withFakeSMTPServer(on: group, script: try Self.script(mechanisms: "PLAIN", password: "other")) { server in
                let error = try await #require(throws: SMTPSubmissionError.self) {
                    try await Self.submitter(port: server.port, group: group).send(SMTPSubmitterTests.mail())
                }
                guard case .refused(_, .auth, let reply) = error else {
                    Issue.record("expected AUTH refused, got \(error)")
                    return
                }
                #expect(reply.code == 535 && !error.isPermanent)
                #expect(error.description.contains("notices.email.auth") && error.description.contains("retried"))
                let seen = await FakeSMTPSession(server.events)
                #expect(!seen.commands.contains { $0.hasPrefix("MAIL") }, "no mail without a login")
            }
        }
    }

    /// Opportunistic TLS to a smarthost that does not offer STARTTLS but offers AUTH in
    /// plaintext: the credentials are not sent, and the notice waits.
    @Test func neverSendsCredentialsInPlaintext() async throws {
        try await withEventLoopGroup { group in
            var script = try Self.script(mechanisms: "PLAIN LOGIN", tls: false)
            script.authInPlaintext = true
            try await withFakeSMTPServer(on: group, script: script) { server in
                let error = try await #require(throws: SMTPSubmissionError.self) {
                    try await Self.submitter(port: server.port, tls: .opportunistic, group: group).send(SMTPSubmitterTests.mail())
                }
                guard case .authNotPossible(_, let reason) = error else {
                    Issue.record("expected authNotPossible, got \(error)")
                    return
                }
                #expect(reason.contains("never sent in plaintext") && !error.isPermanent)
                let seen = await FakeSMTPSession(server.events)
                #expect(seen.commands == ["EHLO portcullis.test"], "nothing after EHLO: no AUTH, no mail")
            }
        }
    }

    @Test(arguments: [(nil as String?, "no AUTH"), ("CRAM-MD5 XOAUTH2", "none of which is PLAIN or LOGIN")])
    func noUsableMechanism(offered: String?, says: String) async throws {
        try await withEventLoopGroup { group in
            var script = try Self.script(mechanisms: offered ?? "")
            if offered == nil { script.auth = nil }
            try await withFakeSMTPServer(on: group, script: script) { server in
                let error = try await #require(throws: SMTPSubmissionError.self) {
                    try await Self.submitter(port: server.port, group: group).send(SMTPSubmitterTests.mail())
                }
                #expect(error.description.contains(says), "\(error)")
                let seen = await FakeSMTPSession(server.events)
                #expect(!seen.commands.contains { $0.hasPrefix("AUTH") || $0.hasPrefix("MAIL") })
            }
        }
    }

    @Test(arguments: ["", "a\0b", "line\r\nMAIL FROM:<x@y>"])
    func unusableCredentialsAreRefused(text: String) {
        #expect(throws: ValidationError.self) { try SMTPCredentials(username: text, password: "p") }
        #expect(throws: ValidationError.self) { try SMTPCredentials(username: "u", password: text) }
    }

    @Test func credentialsNeedVerifiedTLSAndHideThePassword() throws {
        #expect(throws: ValidationError.self) {
            try SMTPSmarthost(host: "192.0.2.25", tls: .off, heloName: "h.example", credentials: Self.credentials)
        }
        #expect(throws: ValidationError.self) {
            try SMTPSmarthost(host: "192.0.2.25", tls: .required, verify: false, heloName: "h.example", credentials: Self.credentials)
        }
        #expect(!"\(Self.credentials)".contains("s3cret"))
    }
}
