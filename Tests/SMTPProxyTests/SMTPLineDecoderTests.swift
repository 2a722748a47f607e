import NIOCore
import NIOTestUtils
import Testing
@testable import SMTPProxy

@Suite struct SMTPLineDecoderTests {
    @Test func commandLinesSplitOnCRLFOnly() {
        #expect(decode("EHLO a\r\nNOOP\r\n", mode: .command) == [.command(ByteBuffer(string: "EHLO a")), .command(ByteBuffer(string: "NOOP"))])
        #expect(decode("EHLO a\r\nNOOP\r\n", mode: .command, chunk: 1)
            == [.command(ByteBuffer(string: "EHLO a")), .command(ByteBuffer(string: "NOOP"))])
        #expect(decode("EHLO a", mode: .command).isEmpty, "no line end yet")
    }

    @Test func commandBareLineEndings() {
        // A bare LF ends a (bad) command line so an LF-only client hears back; a bare CR taints the line.
        #expect(decode("NOOP\nRSET\r\n", mode: .command) == [.commandBareLineEnding(.lf), .command(ByteBuffer(string: "RSET"))])
        #expect(decode("NO\rOP\r\nRSET\r\n", mode: .command) == [.commandBareLineEnding(.cr), .command(ByteBuffer(string: "RSET"))])
        #expect(decode("DATA\r\r\n", mode: .command) == [.commandBareLineEnding(.cr)])
    }

    @Test(arguments: [1, 7, 512, 100_000])
    func commandLineLimit(chunk: Int) {
        let fits = String(repeating: "x", count: 510) + "\r\n"
        let tooLong = String(repeating: "y", count: 511) + "\r\n"
        let events = decode(fits + tooLong + "NOOP\r\n", mode: .command, chunk: chunk)
        #expect(events == [.command(ByteBuffer(string: String(repeating: "x", count: 510))), .commandTooLong,
                           .command(ByteBuffer(string: "NOOP"))])
    }

    @Test(arguments: [1, 13, 1000, 100_000])
    func textLineLimit(chunk: Int) {
        let fits = String(repeating: "x", count: 998) + "\r\n"
        let tooLong = String(repeating: "y", count: 999) + "\r\n"
        let events = decode(fits + tooLong + ".\r\n", mode: .data, chunk: chunk)
        #expect(events == [.text(ByteBuffer(string: fits)), .textTooLong, .endOfData])
    }

    @Test func overlongInputIsNeverBuffered() {
        var decoder = SMTPLineDecoder()
        var buffer = ByteBuffer()
        for _ in 0..<200 {
            buffer.writeString(String(repeating: "z", count: 500))
            #expect(decoder.nextLine(from: &buffer) == nil)
            #expect(buffer.readableBytes <= SMTPLineDecoder.commandLineLimit)
        }
        buffer.writeString("\r")
        #expect(decoder.nextLine(from: &buffer) == nil)
        buffer.writeString("\nQUIT\r\n")
        #expect(decoder.nextLine(from: &buffer) == .commandTooLong, "a CR dropped with the excess still pairs with the LF")
        #expect(decoder.nextLine(from: &buffer) == .command(ByteBuffer(string: "QUIT")))
    }

    @Test func onlyDotCRLFEndsData() {
        #expect(decode("a\r\n.\r\n", mode: .data) == [.text(ByteBuffer(string: "a\r\n")), .endOfData])
        #expect(decode(". \r\n.x\r\n..\r\n.\r\n", mode: .data)
            == [.text(ByteBuffer(string: ". \r\n")), .text(ByteBuffer(string: ".x\r\n")), .text(ByteBuffer(string: "..\r\n")), .endOfData])
    }

    @Test(arguments: smugglingVariants)
    func smugglingVariantIsNotEndOfData(_ variant: String) {
        let input = "Subject: hi\r\n\r\nbody" + variant + "MAIL FROM:<evil@attacker.example>\r\nRCPT TO:<victim@example.com>\r\n"
            + "DATA\r\nFrom: ceo@example.com\r\n\r\nsmuggled\r\n.\r\n"
        for chunk in [1, 2, 3, 1000] {
            let events = decode(input, mode: .data, chunk: chunk)
            #expect(events.last == .endOfData)
            #expect(events.filter { $0 == .endOfData }.count == 1, "only the real <CR><LF>.<CR><LF> ends the message")
            #expect(events.contains { if case .textBareLineEnding = $0 { true } else { false } })
            for case .text(let line) in events {
                let bytes = Array(line.readableBytesView)
                #expect(bytes.suffix(2) == [0x0D, 0x0A])
                #expect(!bytes.dropLast(2).contains(0x0D) && !bytes.dropLast(2).contains(0x0A), "text lines carry no stray CR/LF")
            }
        }
    }

    @Test(arguments: bareLineEndingBodies)
    func bareLineEndingAnywhere(_ body: String) {
        let events = decode(body + ".\r\n", mode: .data)
        #expect(events.last == .endOfData)
        #expect(events.contains { if case .textBareLineEnding = $0 { true } else { false } })
    }

    @Test func resetForgetsPartialLine() {
        var decoder = SMTPLineDecoder()
        var buffer = ByteBuffer(string: "RSET\r")
        #expect(decoder.nextLine(from: &buffer) == nil)
        decoder.reset()
        buffer.clear()
        buffer.writeString("\nNOOP\r\n")
        #expect(decoder.nextLine(from: &buffer) == .commandBareLineEnding(.lf), "the CR before the reset is gone")
        #expect(decoder.nextLine(from: &buffer) == .command(ByteBuffer(string: "NOOP")))
    }

    @Test func verifierCommandMode() throws {
        let long = String(repeating: "q", count: 700)
        try ByteToMessageDecoderVerifier.verifyDecoder(
            stringInputOutputPairs: [
                ("EHLO vm.example\r\n", [.command(ByteBuffer(string: "EHLO vm.example"))]),
                ("MAIL FROM:<a@b.example>\r\nRCPT TO:<c@d.example>\r\n",
                 [.command(ByteBuffer(string: "MAIL FROM:<a@b.example>")), .command(ByteBuffer(string: "RCPT TO:<c@d.example>"))]),
                (long + "\r\n", [.commandTooLong]),
                ("NOOP\n", [.commandBareLineEnding(.lf)]),
                ("NO\rOP\r\n", [.commandBareLineEnding(.cr)]),
            ],
            decoderFactory: { SMTPLineDecoder() }
        )
    }

    @Test func verifierDataMode() throws {
        try ByteToMessageDecoderVerifier.verifyDecoder(
            stringInputOutputPairs: [
                ("Subject: x\r\n", [.text(ByteBuffer(string: "Subject: x\r\n"))]),
                ("..stuffed\r\n.\r\n", [.text(ByteBuffer(string: "..stuffed\r\n")), .endOfData]),
                ("a\nb\r\n", [.textBareLineEnding(.lf)]),
                (String(repeating: "w", count: 1200) + "\r\n", [.textTooLong]),
            ],
            decoderFactory: { SMTPLineDecoder(mode: .data) }
        )
    }
}
