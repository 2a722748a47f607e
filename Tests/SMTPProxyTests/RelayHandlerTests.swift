import Foundation
import NIOCore
import NIOEmbedded
import PortcullisCore
import Testing
@testable import SMTPProxy

@Suite struct RelayHandlerTests {
    @Test func relaysASessionByteForByte() throws {
        let h = try RelayHarness(limits: SMTPLimits(maxMessageBytes: 1_000_000))
        try h.mx("220 mx.example.com ESMTP\r\n")
        #expect(try h.sentToVM() == "220 mx.example.com ESMTP\r\n")
        try h.vm("EHLO vm1.example.org\r\n")
        #expect(try h.sentUpstream().text == "EHLO vm1.example.org\r\n")
        try h.mx("250-mx.example.com\r\n250-PIPELINING\r\n250-AUTH PLAIN\r\n250-CHUNKING\r\n250 SMTPUTF8\r\n")
        #expect(try h.sentToVM() == "250-mx.example.com\r\n250-PIPELINING\r\n250-SMTPUTF8\r\n250 SIZE 1000000\r\n")
        try h.vm("QUIT\r\n")
        #expect(try h.sentUpstream().text == "QUIT\r\n")
        try h.mx("221 2.0.0 Bye\r\n")
        #expect(try h.sentToVM() == "221 2.0.0 Bye\r\n")
        #expect(!h.client.isActive && !h.upstream.isActive)
    }

    @Test func dotStuffingRoundTripIsByteExact() throws {
        let h = try RelayHarness()
        try h.openData()
        let content = ["Subject: dots", "", ".hidden line", "..two dots", ".", "plain", ". space", ""]
        let stuffed = content.map { ($0.hasPrefix(".") ? "." + $0 : $0) + "\r\n" }.joined()
        try h.vm(stuffed + ".\r\n")
        let relayed = try h.sentUpstream()
        #expect(relayed == Array((stuffed + ".\r\n").utf8), "relayed still stuffed, byte for byte, then the final dot")
        // What the upstream will store after unstuffing is exactly the content.
        let lines = relayed.text.components(separatedBy: "\r\n").dropLast(2)
        #expect(lines.map { $0.hasPrefix(".") ? String($0.dropFirst()) : $0 } == content)
        try h.mx("250 2.0.0 Ok: queued\r\n")
        #expect(try h.sentToVM() == "250 2.0.0 Ok: queued\r\n")
        #expect(h.log.records.last?.verdict == .relayed)
        #expect(h.log.records.last?.sizeBytes == stuffed.utf8.count)
    }

    @Test func pipelinedCommandsAfterDATAWaitForThe354() throws {
        let h = try RelayHarness()
        try h.ready()
        try h.vm("MAIL FROM:<a@vm.example>\r\nRCPT TO:<b@example.com>\r\nRCPT TO:<c@example.net>\r\nDATA\r\nRSET\r\nSubject: x\r\n")
        #expect(try h.sentUpstream().text == "MAIL FROM:<a@vm.example>\r\nRCPT TO:<b@example.com>\r\nRCPT TO:<c@example.net>\r\nDATA\r\n",
                "DATA is a sync point; nothing after it goes out before its reply")
        try h.mx("250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n")
        #expect(try h.sentToVM() == "250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n")
        try h.mx("250 2.1.5 Ok\r\n354 Go ahead\r\n")
        #expect(try h.sentToVM() == "250 2.1.5 Ok\r\n354 Go ahead\r\n")
        #expect(try h.sentUpstream().text == "RSET\r\nSubject: x\r\n", "after the 354 the held lines are message text")
        #expect(h.log.records.isEmpty)
    }

    @Test func pipelinedCommandsAfterARefusedDATAAreCommands() throws {
        let h = try RelayHarness()
        try h.ready()
        try h.vm("MAIL FROM:<a@vm.example>\r\nRCPT TO:<b@example.com>\r\nDATA\r\nRSET\r\n")
        _ = try h.sentUpstream()
        try h.mx("250 Ok\r\n550 5.1.1 Unknown user\r\n554 5.5.1 No valid recipients\r\n")
        #expect(try h.sentToVM() == "250 Ok\r\n550 5.1.1 Unknown user\r\n554 5.5.1 No valid recipients\r\n")
        #expect(try h.sentUpstream().text == "RSET\r\n")
        try h.mx("250 2.0.0 Ok\r\n")
        #expect(try h.sentToVM() == "250 2.0.0 Ok\r\n")
    }

    @Test(arguments: smugglingVariants)
    func smuggledSecondMessageNeverReachesUpstream(_ variant: String) throws {
        let h = try RelayHarness()
        try h.openData()
        let attack = "From: alice@vm1.example.org\r\n\r\nhello" + variant
            + "MAIL FROM:<ceo@example.com>\r\nRCPT TO:<victim@example.com>\r\nDATA\r\nFrom: ceo@example.com\r\n\r\nsmuggled\r\n.\r\n"
        try h.vm(attack + "QUIT\r\n")
        let relayed = try h.sentUpstream()
        #expect(relayed.occurrences(of: "MAIL FROM") == 0, "the smuggled transaction is never relayed")
        #expect(relayed.occurrences(of: "smuggled") == 0)
        #expect(!relayed.text.hasSuffix("\r\n.\r\n") && relayed.occurrences(of: "\r\n.\r\n") == 0, "the message is never completed upstream")
        #expect(!relayed.enumerated().contains { i, byte in
            byte == 0x0A && (i == 0 || relayed[i - 1] != 0x0D) || byte == 0x0D && (i + 1 == relayed.count || relayed[i + 1] != 0x0A)
        }, "no bare CR or LF ever goes upstream")
        #expect(["From: alice@vm1.example.org\r\n\r\n", "From: alice@vm1.example.org\r\n\r\nhello\r\n"].contains(relayed.text),
                "only the clean lines before the offence were relayed: \(relayed.text.debugDescription)")
        #expect(!h.upstream.isActive, "the upstream connection was closed without the final dot")
        let toVM = try h.sentToVM()
        #expect(toVM == SMTPReply.bareLineEndingInMessage.description + SMTPReply.closing.description)
        #expect(h.log.records.map(\.verdict) == [.bareLineEnding])
        #expect(!h.client.isActive)
    }

    @Test func theRealEndOfDataEndsTheMessage() throws {
        let h = try RelayHarness()
        try h.openData()
        try h.vm("hello\r\n.\r\nMAIL FROM:<a@vm1.example.org>\r\n")
        #expect(try h.sentUpstream().text == "hello\r\n.\r\n", "the next command waits for the reply to the final dot")
        try h.mx("250 2.0.0 queued\r\n")
        #expect(try h.sentToVM() == "250 2.0.0 queued\r\n")
        #expect(try h.sentUpstream().text == "MAIL FROM:<a@vm1.example.org>\r\n")
        #expect(h.log.records.map(\.verdict) == [.relayed])
    }

    @Test func sizeAbortNeverSendsTheFinalDot() throws {
        let h = try RelayHarness(limits: SMTPLimits(maxMessageBytes: 64))
        try h.openData()
        let line = String(repeating: "a", count: 30) + "\r\n"
        try h.vm(line + line)
        try h.vm(line + ".\r\n")
        let relayed = try h.sentUpstream()
        #expect(relayed.text == line + line, "the read crossing the limit and all after it stay here")
        #expect(relayed.occurrences(of: ".\r\n") == 0)
        #expect(!h.upstream.isActive)
        #expect(try h.sentToVM() == "552 5.3.4 Message size exceeds fixed maximum message size\r\n")
        #expect(h.log.records.last?.verdict == .sizeExceeded)
        #expect(h.log.records.last?.sizeBytes == 96)
        #expect(h.client.isActive, "the VM may still QUIT politely")
    }

    @Test func tooLongTextLineRejectsTheMessage() throws {
        let h = try RelayHarness()
        try h.openData()
        try h.vm(String(repeating: "x", count: 999) + "\r\n.\r\n")
        #expect(try h.sentUpstream().isEmpty)
        #expect(try h.sentToVM() == "500 5.5.2 Line too long: message text lines are limited to 1000 octets\r\n")
        #expect(h.log.records.last?.verdict == .lineTooLong)
    }

    @Test func tooLongCommandLine() throws {
        let h = try RelayHarness()
        try h.ready()
        try h.vm("NOOP " + String(repeating: "x", count: 600) + "\r\nNOOP\r\n")
        #expect(try h.sentToVM() == "500 5.5.2 Line too long\r\n")
        #expect(try h.sentUpstream().text == "NOOP\r\n")
    }

    @Test func startTLSInjectionIsDiscarded() throws {
        let h = try RelayHarness(mode: .terminate)
        try h.ready()
        try h.vm("STARTTLS\r\nRSET\r\nMAIL FROM:<injected@example.com>\r\n")
        #expect(try h.sentToVM() == "220 2.0.0 Ready to start TLS\r\n")
        #expect(h.log.clientTLSStarts == 1)
        h.client.pipeline.fireUserInboundEventTriggered(SMTPTLSEvent.established(SMTPTLSInfo(version: "TLSv1.3", cipher: "x")))
        #expect(try h.sentUpstream().isEmpty, "the injected RSET and MAIL are never executed after TLS")
        #expect(try h.sentToVM().isEmpty, "and never answered")
        try h.vm("EHLO vm1.example.org\r\n")
        #expect(try h.sentUpstream().text == "EHLO vm1.example.org\r\n")
    }

    @Test func partialLineBeforeSTARTTLSIsNotGluedToTheFirstLineAfter() throws {
        let h = try RelayHarness(mode: .terminate)
        try h.ready()
        try h.vm("STARTTLS\r\nMAIL FROM:<x@y.example>")  // no CRLF: half a line
        h.client.pipeline.fireUserInboundEventTriggered(SMTPTLSEvent.established(SMTPTLSInfo(version: "TLSv1.3", cipher: "x")))
        _ = try h.sentToVM()
        try h.vm("\r\nEHLO vm1\r\n")
        #expect(try h.sentToVM() == "500 5.5.2 Syntax error, command unrecognized\r\n")
        #expect(try h.sentUpstream().text == "EHLO vm1\r\n")
    }

    @Test func upstreamSTARTTLSDiscardsInjectedUpstreamBytes() throws {
        let h = try RelayHarness(mode: .terminate)
        try h.mx("220 mx\r\n")
        try h.vm("EHLO vm1\r\n")
        try h.mx("250-mx\r\n250 STARTTLS\r\n")
        #expect(try h.sentUpstream().text == "EHLO vm1\r\nSTARTTLS\r\n")
        try h.mx("220 2.0.0 Ready\r\n250 injected reply\r\n")
        #expect(h.log.upstreamTLSStarts == 1)
        h.upstream.pipeline.fireUserInboundEventTriggered(SMTPTLSEvent.established(SMTPTLSInfo(version: "TLSv1.3", cipher: "y")))
        #expect(try h.sentUpstream().text == "EHLO vm1\r\n")
        try h.mx("250-mx\r\n250 PIPELINING\r\n")
        #expect(try h.sentToVM() == "220 mx\r\n250-mx\r\n250-PIPELINING\r\n250-SIZE 26214400\r\n250 STARTTLS\r\n")
        #expect(h.client.isActive, "the injected 250 was dropped, not taken as an unasked reply")
    }

    @Test func spliceCopiesBytesUntouched() throws {
        let h = try RelayHarness(mode: .splice)
        try h.mx("220 mx\r\n")
        try h.vm("EHLO vm1\r\n")
        try h.mx("250-mx\r\n250 STARTTLS\r\n")
        try h.vm("STARTTLS\r\n")
        _ = try h.sentUpstream()
        try h.mx("220 2.0.0 go\r\n")
        #expect(try h.sentToVM().hasSuffix("220 2.0.0 go\r\n"))
        let hello: [UInt8] = [0x16, 0x03, 0x01, 0x00, 0x0A, 0x0D, 0x0A, 0x2E, 0x0A, 0x00]
        try h.vm(bytes: hello)
        #expect(try h.sentUpstream() == hello)
        try h.upstream.writeInbound(ByteBuffer(bytes: hello.reversed()))
        #expect(try h.sentToVM() == String(decoding: hello.reversed(), as: UTF8.self))
    }

    @Test func upstreamLossIs421() throws {
        let h = try RelayHarness()
        try h.ready()
        try h.vm("MAIL FROM:<a@vm.example>\r\n")
        try h.upstream.close().wait()
        #expect(try h.sentToVM() == "421 4.4.2 Connection to upstream mail server lost, try again later\r\n")
        #expect(!h.client.isActive)
        #expect(h.log.records.map(\.verdict) == [.aborted])
    }

    @Test func upstreamUnreachableIs421() throws {
        let loop = EmbeddedEventLoop()
        let client = EmbeddedChannel(loop: loop)
        let handler = SMTPClientLegHandler(configuration: .init(tlsMode: .off), upstream: SMTPUpstreamLegHandler(),
                                           hooks: SMTPRelayHooks(record: { _ in }, startClientTLS: { _ in }, startUpstreamTLS: { _ in }))
        try client.pipeline.syncOperations.addHandler(handler)
        try client.connect(to: SocketAddress(ipAddress: "192.0.2.10", port: 40000)).wait()
        handler.upstreamConnectFailed()
        let reply = try #require(try client.readOutbound(as: ByteBuffer.self))
        #expect(String(buffer: reply) == "421 4.4.2 Upstream mail server unreachable, try again later\r\n")
        #expect(!client.isActive)
    }

    @Test func garbageFromUpstreamIs421() throws {
        let h = try RelayHarness()
        try h.ready()
        try h.vm("NOOP\r\n")
        try h.mx("HTTP/1.1 400 Bad Request\r\n")
        #expect(try h.sentToVM() == "421 4.4.2 Upstream mail server protocol error, try again later\r\n")
        #expect(!h.client.isActive && !h.upstream.isActive)
    }

    @Test func timeoutIs421() throws {
        let h = try RelayHarness()
        try h.ready()
        h.loop.advanceTime(by: .minutes(4))
        #expect(try h.sentToVM().isEmpty)
        try h.vm("NOOP\r\n")
        try h.mx("250 Ok\r\n")
        _ = try h.sentToVM()
        h.loop.advanceTime(by: .minutes(4))
        #expect(h.client.isActive, "each event re-arms the timer")
        h.loop.advanceTime(by: .minutes(1) + .seconds(1))
        #expect(try h.sentToVM() == "421 4.4.2 Timeout, closing connection\r\n")
        #expect(!h.client.isActive && !h.upstream.isActive)
    }

    @Test func rateLimitedMailIsNeverRelayed() throws {
        let h = try RelayHarness(rate: .deny(reason: "Too many messages, try later"))
        try h.ready()
        try h.vm("MAIL FROM:<a@vm.example>\r\nRCPT TO:<b@example.com>\r\n")
        #expect(try h.sentToVM() == "451 4.7.1 Too many messages, try later\r\n")
        #expect(try h.sentUpstream().text == "RCPT TO:<b@example.com>\r\n", "the RCPT goes on; upstream answers it with 503")
        #expect(h.log.rateQueries.count == 1)
        #expect(h.log.records.map(\.verdict) == [.rateLimited])
    }
}
