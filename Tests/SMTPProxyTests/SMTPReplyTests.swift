import Testing
@testable import SMTPProxy

@Suite struct SMTPReplyTests {
    @Test func multiLineReply() throws {
        let replies = try SMTPReplyParser.parse("250-mx.example.com Hello\r\n250-PIPELINING\r\n250 SIZE 1000\r\n")
        #expect(replies.count == 1)
        #expect(replies[0].code == 250)
        #expect(replies[0].lines == ["mx.example.com Hello", "PIPELINING", "SIZE 1000"])
        #expect(replies[0].description == "250-mx.example.com Hello\r\n250-PIPELINING\r\n250 SIZE 1000\r\n")
    }

    @Test func severalRepliesAndBareCode() throws {
        let replies = try SMTPReplyParser.parse("250 2.1.0 Ok\r\n354\r\n550 5.1.1 <x@y>: unknown\r\n")
        #expect(replies.map(\.code) == [250, 354, 550])
        #expect(replies[1].lines == [""])
        #expect(replies[2].enhancedStatus == SMTPEnhancedStatus(5, 1, 1))
        #expect(replies[0].enhancedStatus == SMTPEnhancedStatus(2, 1, 0))
        #expect(replies[1].enhancedStatus == nil)
    }

    @Test(arguments: [("250 Ok", nil), ("451 4.7.1 Try later", "4.7.1"), ("550 4.1.1 class mismatch", nil),
                      ("250 2.0.0", "2.0.0"), ("421 4.4.2x no", nil), ("552 5.3.4 big", "5.3.4")] as [(String, String?)])
    func enhancedStatus(_ line: String, _ expected: String?) throws {
        let reply = try SMTPReplyParser.parse(line + "\r\n")[0]
        #expect(reply.enhancedStatus?.description == expected)
    }

    @Test(arguments: ["25 Ok", "2500 Ok", "abc Ok", "250+Ok", "150 Ok", "700 x"])
    func malformed(_ line: String) {
        #expect(throws: SMTPReplyError.malformedLine) { try SMTPReplyParser.parse(line + "\r\n") }
    }

    @Test func inconsistentCodes() {
        #expect(throws: SMTPReplyError.inconsistentCode) { try SMTPReplyParser.parse("250-a\r\n251 b\r\n") }
    }

    @Test func unterminatedMultiLine() {
        #expect(throws: SMTPReplyError.malformedLine) { try SMTPReplyParser.parse("250-a\r\n250-b\r\n") }
    }

    @Test func boundedLineCount() throws {
        var parser = SMTPReplyParser()
        for _ in 0..<SMTPReplyParser.maxLines {
            #expect(try parser.feed(Array("250-x".utf8)) == nil)
        }
        #expect(throws: SMTPReplyError.tooManyLines) { try parser.feed(Array("250 x".utf8)) }
    }

    @Test(arguments: [
        (SMTPReply.upstreamUnreachable, "421 4.4.2 "), (.upstreamLost, "421 4.4.2 "), (.timeout, "421 4.4.2 "),
        (.upstreamTLSFailed, "421 4.7.0 "), (.rateLimited("Rate limit"), "451 4.7.1 Rate limit"),
        (.tooManyRecipients, "452 4.5.3 Too many recipients"), (.tlsNotAvailable, "454 4.7.0 "),
        (.lineTooLong, "500 5.5.2 Line too long"), (.textLineTooLong, "500 5.5.2 Line too long"),
        (.bareLineEndingInCommand, "500 5.5.2 "), (.badArguments, "501 5.5.4 "), (.notImplemented, "502 5.5.1 "),
        (.badSequence, "503 5.5.1 "), (.bareLineEndingInMessage, "550 5.6.0 "),
        (.messageTooBig, "552 5.3.4 Message size exceeds fixed maximum message size"),
        (.readyToStartTLS, "220 2.0.0 Ready to start TLS"), (.closing, "221 2.0.0 "),
    ])
    func generatedRepliesRoundTrip(_ reply: SMTPReply, _ prefix: String) throws {
        let text = reply.description
        #expect(text.hasPrefix(prefix))
        #expect(text.hasSuffix("\r\n") && text.utf8.filter { $0 == 0x0A }.count == 1)
        #expect(try SMTPReplyParser.parse(text) == [reply])
        #expect(reply.enhancedStatus?.statusClass == reply.code / 100)
    }
}
