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
            == [.text(ByteBuffer(string: ". \r\n.x\r\n..\r\n")), .endOfData])
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
            for bytes in textLines(events) {
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

    @Test func cleanLinesInOneReadAreOneEvent() {
        var decoder = SMTPLineDecoder(mode: .data)
        var buffer = ByteBuffer(string: "Subject: x\r\n\r\nbody\r\n..dot\r\n.\r\nQUIT\r\n")
        #expect(decoder.nextLine(from: &buffer) == .text(ByteBuffer(string: "Subject: x\r\n\r\nbody\r\n..dot\r\n")))
        #expect(decoder.nextLine(from: &buffer) == .endOfData, "the block stops before the end of data")
        decoder.mode = .command
        #expect(decoder.nextLine(from: &buffer) == .command(ByteBuffer(string: "QUIT")), "nothing after the dot was taken as text")
    }

    @Test func blockStopsBeforeAnUncleanOrPartialLine() {
        var decoder = SMTPLineDecoder(mode: .data)
        var buffer = ByteBuffer(string: "one\r\ntwo\nthree\r\nfour\r\nfiv")
        #expect(decoder.nextLine(from: &buffer) == .text(ByteBuffer(string: "one\r\n")))
        #expect(decoder.nextLine(from: &buffer) == .textBareLineEnding(.lf))
        #expect(decoder.nextLine(from: &buffer) == .text(ByteBuffer(string: "four\r\n")))
        #expect(decoder.nextLine(from: &buffer) == nil)
        buffer.writeString("e\r\n.\r\n")
        #expect(decoder.nextLine(from: &buffer) == .text(ByteBuffer(string: "five\r\n")))
        #expect(decoder.nextLine(from: &buffer) == .endOfData)
    }

    /// The decoder (fast path and byte path, in every chunking) against `referenceDataEvents`, on
    /// random input rich in the bytes that matter: CR, LF, NUL, dots, and lines near the limit.
    @Test(arguments: 0..<40)
    func agreesWithTheReference(seed: Int) {
        var random = SplitMix64(seed: UInt64(seed))
        let alphabet: [UInt8] = [0x0D, 0x0A, 0x00, 0x2E, 0x61, 0x20]
        var input: [UInt8] = []
        while input.count < 6_000 {
            switch random.next() % 10 {
            case 0: input += [0x0D, 0x0A, 0x2E, 0x0D, 0x0A]
            case 1: input += Array(repeating: 0x62, count: 990 + Int(random.next() % 20)) + [0x0D, 0x0A]
            case 2, 3, 4: input += Array(repeating: 0x63, count: Int(random.next() % 80)) + [0x0D, 0x0A]
            default: input.append(alphabet[Int(random.next() % UInt64(alphabet.count))])
            }
        }
        let expected = referenceDataEvents(input)
        for chunk in [1, 2, 3, 7, 64, 1_000, 1_460, 65_536] {
            #expect(decode(input, mode: .data, chunk: chunk) == expected, "chunk \(chunk)")
        }
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
}
