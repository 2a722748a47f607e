import Foundation
import Logging
import NIOCore
import PortcullisCore
import SMTPProxy
import Testing
@testable import Notices

/// The submitter against a fake smarthost over real loopback TCP, in plaintext.
@Suite(.timeLimit(.minutes(1)))
struct SMTPSubmitterTests {
    /// Short enough that a test never waits long, long enough for a loaded 2-core machine.
    static let timeouts = SMTPSubmissionTimeouts(connect: .seconds(5), reply: .seconds(5), messageAccepted: .seconds(5))

    static func mail() throws -> OutgoingMail {
        try OutgoingMail(from: address("abuse@hosting.example"), fromName: "Hosting Abuse Desk",
                         to: [address("ops@tenant.example"), address("security@tenant.example")],
                         subject: "Network restriction on your VM vm-1",
                         body: "Hello,\n.this line starts with a dot\n..and this one with two\n.\nBye\n",
                         headers: [MailHeader("X-Portcullis-Case", "c-42")],
                         messageID: "<fixed@hosting.example>", date: Date(timeIntervalSince1970: 1_767_225_600))
    }

    static func submitter(port: Int, tls: SMTPSubmissionTLS = .off,
                          timeouts: SMTPSubmissionTimeouts = timeouts, group: any EventLoopGroup) throws -> SMTPSubmitter {
        SMTPSubmitter(smarthost: try SMTPSmarthost(host: "127.0.0.1", port: port, tls: tls, heloName: "portcullis.test",
                                                   timeouts: timeouts),
                      eventLoopGroup: group)
    }

    @Test func deliversAndReturnsTheFinalReply() async throws {
        try await withEventLoopGroup { group in
            try await withFakeSMTPServer(on: group) { server in
                let mail = try Self.mail()
                let reply = try await Self.submitter(port: server.port, group: group).send(mail)
                #expect(reply == "250 2.0.0 Ok: queued as FAKE1")

                let seen = await FakeSMTPSession(server.events)
                #expect(seen.commands == ["EHLO portcullis.test", "MAIL FROM:<abuse@hosting.example>",
                                          "RCPT TO:<ops@tenant.example>", "RCPT TO:<security@tenant.example>",
                                          "DATA", "QUIT"])
                let sent = try #require(seen.messages.first)
                let text = String(decoding: sent, as: UTF8.self)
                #expect(Array((text + ".\r\n").utf8) == SMTPDotStuffing.transmissionText(of: mail.rendered()))
                #expect(text.contains("\r\n..this line starts with a dot\r\n...and this one with two\r\n..\r\nBye\r\n"),
                        "dot-stuffed on the wire")
                #expect(text.hasPrefix("Date: Thu, 01 Jan 2026 00:00:00 +0000\r\n"))
            }
        }
    }

    /// A multi-line EHLO reply (with STARTTLS in its middle) arriving a few bytes at a time is
    /// read as one reply, and every later reply too.
    @Test func readsMultilineRepliesSplitAcrossReads() async throws {
        try await withEventLoopGroup { group in
            var script = FakeSMTPScript()
            script.trickle = true
            script.greeting = "220-smarthost.test ESMTP Fake\r\n220-second greeting line\r\n220 third\r\n"
            script.ehlo = "250-smarthost.test Hello\r\n250-PIPELINING\r\n250-SIZE 10240000\r\n250-AUTH PLAIN LOGIN\r\n"
                + "250-ENHANCEDSTATUSCODES\r\n250 8BITMIME\r\n"
            script.replies["."] = "250-2.0.0 Ok\r\n250 2.0.0 queued as MULTI\r\n"
            try await withFakeSMTPServer(on: group, script: script) { server in
                let reply = try await Self.submitter(port: server.port, tls: .opportunistic, group: group).send(Self.mail())
                #expect(reply == "250 2.0.0 Ok 2.0.0 queued as MULTI", "a multi-line final reply, on one line")
                let seen = await FakeSMTPSession(server.events)
                #expect(seen.commands.first == "EHLO portcullis.test")
                #expect(!seen.commands.contains("STARTTLS"), "not offered, so opportunistic TLS goes without")
                #expect(seen.messages.count == 1)
            }
        }
    }

    @Test(arguments: ["500 5.5.1 Command unrecognized\r\n", "502 5.5.2 Error: command not recognized\r\n"])
    func fallsBackToHELOWhenEHLOIsUnknown(ehloReply: String) async throws {
        try await withEventLoopGroup { group in
            var script = FakeSMTPScript()
            script.replies["EHLO"] = ehloReply
            try await withFakeSMTPServer(on: group, script: script) { server in
                _ = try await Self.submitter(port: server.port, group: group).send(Self.mail())
                let seen = await FakeSMTPSession(server.events)
                #expect(Array(seen.commands.prefix(3)) == ["EHLO portcullis.test", "HELO portcullis.test",
                                                           "MAIL FROM:<abuse@hosting.example>"])
            }
        }
    }

    @Test func aRecipientRefusedWith5xxIsPermanent() async throws {
        try await withEventLoopGroup { group in
            var script = FakeSMTPScript()
            script.replies["RCPT"] = "550 5.1.1 <ops@tenant.example>: Recipient address rejected: User unknown\r\n"
            try await withFakeSMTPServer(on: group, script: script) { server in
                let error = try await #require(throws: SMTPSubmissionError.self) {
                    try await Self.submitter(port: server.port, group: group).send(Self.mail())
                }
                #expect(error.isPermanent)
                guard case .refused(_, let step, let reply) = error else {
                    Issue.record("expected a refusal, got \(error)")
                    return
                }
                #expect(step == .rcptTo(try address("ops@tenant.example")))
                #expect(reply.code == 550)
                #expect(error.description.contains("correct the contact address ops@tenant.example"))
                #expect(error.description.contains("will not be retried"))
                let seen = await FakeSMTPSession(server.events)
                #expect(seen.commands == ["EHLO portcullis.test", "MAIL FROM:<abuse@hosting.example>",
                                          "RCPT TO:<ops@tenant.example>", "QUIT"],
                        "stops at the refused recipient, says goodbye, sends no message")
                #expect(seen.messages.isEmpty)
            }
        }
    }

    /// Where the smarthost refuses, and with which class of reply, decides retry or give up.
    @Test(arguments: [
        ("greeting", "421 4.3.2 Service not available\r\n", false),
        ("greeting", "554 5.7.1 No SMTP service for you\r\n", true),
        ("MAIL", "451 4.3.0 Temporary lookup failure\r\n", false),
        ("MAIL", "553 5.7.1 Sender address rejected: not owned by user\r\n", true),
        ("RCPT", "450 4.2.0 Greylisted, try again later\r\n", false),
        ("RCPT", "554 5.7.1 Relay access denied\r\n", true),
        ("DATA", "451 4.3.0 Try again later\r\n", false),
        ("DATA", "554 5.5.1 No valid recipients\r\n", true),
        (".", "452 4.3.1 Insufficient system storage\r\n", false),
        (".", "552 5.3.4 Message size exceeds fixed limit\r\n", true),
    ])
    func classifiesRefusals(at verb: String, reply: String, permanent: Bool) async throws {
        try await withEventLoopGroup { group in
            var script = FakeSMTPScript()
            if verb == "greeting" { script.greeting = reply } else { script.replies[verb] = reply }
            try await withFakeSMTPServer(on: group, script: script) { server in
                let error = try await #require(throws: SMTPSubmissionError.self) {
                    try await Self.submitter(port: server.port, group: group).send(Self.mail())
                }
                #expect(error.isPermanent == permanent, "\(error)")
                guard case .refused(_, let step, let refusal) = error else {
                    Issue.record("expected a refusal, got \(error)")
                    return
                }
                let expectedStep: SMTPSubmissionStep = switch verb {
                case "greeting": .greeting
                case "MAIL": .mailFrom(try address("abuse@hosting.example"))
                case "RCPT": .rcptTo(try address("ops@tenant.example"))
                case "DATA": .data
                default: .messageText
                }
                #expect(step == expectedStep)
                #expect(refusal.oneLine + "\r\n" == reply)
                #expect(error.description.contains(permanent ? "will not be retried" : "will be retried"))
            }
        }
    }

    @Test func connectionRefusedIsTransient() async throws {
        try await withEventLoopGroup { group in
            let port = try await closedPort(on: group)
            let error = try await #require(throws: SMTPSubmissionError.self) {
                try await Self.submitter(port: port, group: group).send(Self.mail())
            }
            #expect(!error.isPermanent)
            guard case .connectFailed(let smarthost, let reason) = error else {
                Issue.record("expected a connect failure, got \(error)")
                return
            }
            #expect(smarthost == "127.0.0.1:\(port)")
            #expect(reason.contains("connection refused"), "\(reason)")
        }
    }

    @Test func aSilentSmarthostTimesOut() async throws {
        try await withEventLoopGroup { group in
            var script = FakeSMTPScript()
            script.silent = true
            try await withFakeSMTPServer(on: group, script: script) { server in
                let timeouts = SMTPSubmissionTimeouts(connect: .seconds(5), reply: .milliseconds(300),
                                                      messageAccepted: .seconds(5))
                let started = ContinuousClock.now
                let error = try await #require(throws: SMTPSubmissionError.self) {
                    try await Self.submitter(port: server.port, timeouts: timeouts, group: group).send(Self.mail())
                }
                #expect(ContinuousClock.now - started < .seconds(4))
                #expect(error == .timedOut(smarthost: "127.0.0.1:\(server.port)", step: .greeting, after: .milliseconds(300)))
                #expect(!error.isPermanent)
            }
        }
    }

    @Test func requiredTLSNotOfferedIsRefusedBeforeAnyMail() async throws {
        try await withEventLoopGroup { group in
            try await withFakeSMTPServer(on: group) { server in
                let error = try await #require(throws: SMTPSubmissionError.self) {
                    try await Self.submitter(port: server.port, tls: .required, group: group).send(Self.mail())
                }
                #expect(error == .tlsNotOffered(smarthost: "127.0.0.1:\(server.port)"))
                #expect(!error.isPermanent)
                #expect(error.description.contains("does not offer STARTTLS"))
                let seen = await FakeSMTPSession(server.events)
                #expect(seen.commands == ["EHLO portcullis.test"], "no MAIL, no message in plaintext")
            }
        }
    }

    /// Something that is not SMTP on the port (here an HTTP server's answer) is a protocol
    /// violation, retried: the operator may be fixing the port.
    @Test func aNonSMTPAnswerIsAProtocolViolation() async throws {
        try await withEventLoopGroup { group in
            var script = FakeSMTPScript()
            script.greeting = "HTTP/1.1 400 Bad Request\r\n\r\n"
            try await withFakeSMTPServer(on: group, script: script) { server in
                let error = try await #require(throws: SMTPSubmissionError.self) {
                    try await Self.submitter(port: server.port, group: group).send(Self.mail())
                }
                guard case .protocolViolation(_, let step, _) = error else {
                    Issue.record("expected a protocol violation, got \(error)")
                    return
                }
                #expect(step == .greeting)
                #expect(!error.isPermanent)
            }
        }
    }

    @Test func aReplyThatNeverComesTimesOutAtItsStep() async throws {
        try await withEventLoopGroup { group in
            var script = FakeSMTPScript()
            script.replies["MAIL"] = ""
            try await withFakeSMTPServer(on: group, script: script) { server in
                let timeouts = SMTPSubmissionTimeouts(connect: .seconds(5), reply: .milliseconds(300),
                                                      messageAccepted: .seconds(5))
                let error = try await #require(throws: SMTPSubmissionError.self) {
                    try await Self.submitter(port: server.port, timeouts: timeouts, group: group).send(Self.mail())
                }
                #expect(error == .timedOut(smarthost: "127.0.0.1:\(server.port)",
                                           step: .mailFrom(try address("abuse@hosting.example")), after: .milliseconds(300)))
                #expect(!error.isPermanent)
            }
        }
    }

    @Test func aSmarthostThatHangsUpIsTransient() async throws {
        try await withEventLoopGroup { group in
            var script = FakeSMTPScript()
            script.hangUpOn = "RCPT"
            try await withFakeSMTPServer(on: group, script: script) { server in
                let error = try await #require(throws: SMTPSubmissionError.self) {
                    try await Self.submitter(port: server.port, group: group).send(Self.mail())
                }
                #expect(error == .connectionLost(smarthost: "127.0.0.1:\(server.port)",
                                                 step: .rcptTo(try address("ops@tenant.example"))))
                #expect(!error.isPermanent)
            }
        }
    }

    @Test(arguments: [
        ("mail.example.net", 25, "portcullis1.example.net", nil as String?),
        ("192.0.2.25", 0, "portcullis1.example.net", "smarthost port"),
        ("192.0.2.25", 65536, "portcullis1.example.net", "smarthost port"),
        ("", 25, "portcullis1.example.net", "smarthost host"),
        ("mail example", 25, "portcullis1.example.net", "smarthost host"),
        ("192.0.2.25", 587, "", "smarthost helo name"),
        ("192.0.2.25", 587, "portcullis 1", "smarthost helo name"),
        ("192.0.2.25", 587, "portcullis1\r\nRSET", "smarthost helo name"),
    ])
    func validatesTheSmarthost(host: String, port: Int, heloName: String, failingField: String?) {
        do {
            _ = try SMTPSmarthost(host: host, port: port, heloName: heloName)
            #expect(failingField == nil)
        } catch {
            #expect(error.field == failingField)
        }
    }

    @Test func namesAnIPv6SmarthostWithBrackets() throws {
        let smarthost = try SMTPSmarthost(host: "[2001:db8::25]", port: 587, heloName: "portcullis1.example.net")
        #expect(smarthost.host == "2001:db8::25", "connectable")
        #expect(smarthost.endpoint == "[2001:db8::25]:587", "readable in messages")
        #expect(try SMTPSmarthost(host: "mail.example.net", heloName: "p.example.net").tls == .opportunistic)
        #expect(try SMTPSmarthost(host: "mail.example.net", heloName: "p.example.net").verify, "verification on by default")
    }
}
