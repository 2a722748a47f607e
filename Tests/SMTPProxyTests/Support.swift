import NIOCore
@testable import SMTPProxy

/// Runs the decoder over `input` in one piece (or in `chunk`-sized pieces), like the client leg does.
func decode(_ input: [UInt8], mode: SMTPLineDecoder.Mode, chunk: Int? = nil) -> [SMTPInboundLine] {
    var decoder = SMTPLineDecoder(mode: mode)
    var buffer = ByteBuffer()
    var events: [SMTPInboundLine] = []
    for piece in input.chunks(of: chunk ?? max(input.count, 1)) {
        buffer.writeBytes(piece)
        while let event = decoder.nextLine(from: &buffer) { events.append(event) }
    }
    return events
}

func decode(_ input: String, mode: SMTPLineDecoder.Mode, chunk: Int? = nil) -> [SMTPInboundLine] {
    decode(Array(input.utf8), mode: mode, chunk: chunk)
}

extension Array {
    func chunks(of size: Int) -> [ArraySlice<Element>] {
        stride(from: 0, to: count, by: size).map { self[$0..<Swift.min($0 + size, count)] }
    }
}

extension ByteBuffer {
    var text: String { String(buffer: self) }
}

/// The smuggling end-of-data variants (CVE-2023-51764/51765/51766 and the SEC Consult write-up),
/// each written right after the last byte of a body line, in place of `<CR><LF>.<CR><LF>`.
let smugglingVariants: [String] = [
    "\n.\n", "\r.\r", "\n.\r\n", "\r\n.\n", "\r.\r\n", "\r\n.\r", "\n.\r", "\r.\n",
    "\r\n\n.\r\n", "\r\n\r.\r\n", "\r\n.\r\r\n", "\r\n.\n\r\n", "\r\r\n.\r\r\n", "\n\r\n.\n",
    "\r\n.\0\r\n", "\r\n\0.\r\n", "\r\n.\0\n",
]

/// Bodies with a stray CR or LF somewhere, but a proper end of data.
let bareLineEndingBodies: [String] = ["bo\rdy\r\n", "bo\ndy\r\n", "\r\r\n", "\n\r\n", "line\r\r\n", ".\n\r\n", "nu\0l\r\n"]
