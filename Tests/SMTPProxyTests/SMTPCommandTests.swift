import Testing
@testable import SMTPProxy

@Suite struct SMTPCommandTests {
    static let valid: [(String, SMTPCommand)] = [
        ("EHLO vm1.example.org", .ehlo(domain: "vm1.example.org")),
        ("ehlo [192.0.2.7]", .ehlo(domain: "[192.0.2.7]")),
        ("HeLo vm1", .helo(domain: "vm1")),
        ("DATA", .data), ("data", .data), ("RSET", .rset), ("QUIT", .quit), ("StartTLS", .startTLS),
        ("NOOP", .noop), ("NOOP anything goes", .noop),
        ("VRFY postmaster", .other(verb: "VRFY", arguments: "postmaster")),
        ("help", .other(verb: "HELP", arguments: "")),
        ("AUTH PLAIN AGFiYwBkZWY=", .other(verb: "AUTH", arguments: "PLAIN AGFiYwBkZWY=")),
    ]

    @Test(arguments: valid)
    func parses(_ text: String, _ expected: SMTPCommand) throws {
        let line = try SMTPCommandLine(text: text)
        #expect(line.command == expected)
        #expect(line.text == text, "the relayed text is the text as received")
    }

    @Test func mailFromWithParameters() throws {
        let line = try SMTPCommandLine(text: "mail from:<Alice@Example.ORG> SIZE=12345 BODY=8BITMIME SMTPUTF8")
        guard case .mail(let sender, let parameters) = line.command, case .mailbox(let mailbox) = sender else {
            Issue.record("not a MAIL with a mailbox: \(line.command)")
            return
        }
        #expect(mailbox.localPart == "Alice")
        #expect(mailbox.domain == "example.org")
        #expect(parameters.declaredSize == 12345)
        #expect(parameters.value(of: "body") == "8BITMIME")
        #expect(parameters.value(of: "SMTPUTF8") == "")
        #expect(parameters.value(of: "RET") == nil)
    }

    @Test func nullReversePathAndToleratedSpace() throws {
        #expect(try SMTPCommandLine(text: "MAIL FROM:<>").command == .mail(from: .null, parameters: []))
        let spaced = try SMTPCommandLine(text: "MAIL FROM: <a@b.example>").command
        guard case .mail(.mailbox(let mailbox), []) = spaced else {
            Issue.record("unexpected \(spaced)")
            return
        }
        #expect(mailbox.description == "a@b.example")
    }

    @Test(arguments: [
        ("RCPT TO:<bob@Mail.Example.COM>", "mail.example.com"),
        ("rcpt to:<\"odd@local\"@example.net> NOTIFY=NEVER", "example.net"),
        ("RCPT TO:<@relay.example,@other.example:carol@dest.example>", "dest.example"),
        ("RCPT TO:<用户@例子.测试>", "例子.测试"),
    ])
    func recipientDomain(_ text: String, _ domain: String) throws {
        guard case .rcpt(let mailbox, _) = try SMTPCommandLine(text: text).command else {
            Issue.record("not RCPT")
            return
        }
        #expect(mailbox.domain == domain)
    }

    @Test func postmasterWithoutDomain() throws {
        guard case .rcpt(let mailbox, _) = try SMTPCommandLine(text: "RCPT TO:<Postmaster>").command else {
            Issue.record("not RCPT")
            return
        }
        #expect(mailbox.domain == nil)
    }

    @Test(arguments: [
        "MAIL FROM:a@b.example", "MAIL FROM:<a@b.example", "MAIL TO:<a@b.example>", "MAIL FROM:<nodomain>",
        "RCPT TO:<>", "RCPT TO:<a@>", "RCPT FROM:<a@b.example>", "EHLO", "HELO a b", "DATA now", "STARTTLS x",
        "MAIL FROM:<a@b.example>SIZE=1", "MAIL FROM:<a@b.example> =x",
    ])
    func badArguments(_ text: String) {
        #expect(throws: SMTPSyntaxError.self) { try SMTPCommandLine(text: text) }
        if let error = #expect(throws: SMTPSyntaxError.self, performing: { try SMTPCommandLine(text: text) }) {
            guard case .badArguments = error else {
                Issue.record("expected badArguments, got \(error)")
                return
            }
        }
    }

    @Test(arguments: [[UInt8]("".utf8), [UInt8](" EHLO x".utf8), [0x45, 0x48, 0x4C, 0x4F, 0x20, 0xFF], [UInt8]("EHLO a\u{0}b".utf8),
                      [UInt8]("MA!L FROM:<a@b>".utf8)])
    func unrecognized(_ bytes: [UInt8]) {
        #expect(throws: SMTPSyntaxError.unrecognized) { try SMTPCommandLine(parsing: bytes) }
    }

    @Test func syncPoints() throws {
        #expect(try !SMTPCommandLine(text: "MAIL FROM:<>").command.isSyncPoint)
        #expect(try !SMTPCommandLine(text: "RCPT TO:<a@b.example>").command.isSyncPoint)
        #expect(try !SMTPCommandLine(text: "RSET").command.isSyncPoint)
        for text in ["EHLO x", "DATA", "QUIT", "NOOP", "STARTTLS", "VRFY x"] {
            #expect(try SMTPCommandLine(text: text).command.isSyncPoint, "\(text)")
        }
    }
}
