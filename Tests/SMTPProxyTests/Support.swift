import NIOCore
@testable import SMTPProxy

/// Runs the decoder over `input` in one piece (or in `chunk`-sized pieces), like the client leg does.
/// Consecutive text events are merged: how many lines one of them holds depends on the chunking.
func decode(_ input: [UInt8], mode: SMTPLineDecoder.Mode, chunk: Int? = nil) -> [SMTPInboundLine] {
    var decoder = SMTPLineDecoder(mode: mode)
    var buffer = ByteBuffer()
    var events: [SMTPInboundLine] = []
    for piece in input.chunks(of: chunk ?? max(input.count, 1)) {
        buffer.writeBytes(piece)
        while let event = decoder.nextLine(from: &buffer) { events.append(event) }
    }
    return mergingText(events)
}

func mergingText(_ events: [SMTPInboundLine]) -> [SMTPInboundLine] {
    var merged: [SMTPInboundLine] = []
    for event in events {
        if case .text(var more) = event, case .text(var bytes)? = merged.last {
            bytes.writeBuffer(&more)
            merged[merged.count - 1] = .text(bytes)
        } else {
            merged.append(event)
        }
    }
    return merged
}

/// The lines of every text event, each with its CRLF.
func textLines(_ events: [SMTPInboundLine]) -> [[UInt8]] {
    events.flatMap { event -> [[UInt8]] in
        guard case .text(let bytes) = event else { return [] }
        var lines: [[UInt8]] = []
        var line: [UInt8] = []
        for byte in bytes.readableBytesView {
            line.append(byte)
            if line.suffix(2) == [0x0D, 0x0A] {
                lines.append(line)
                line = []
            }
        }
        if !line.isEmpty { lines.append(line) }  // would fail the callers' CRLF checks
        return lines
    }
}

/// What RFC 5321 and the relay's rules say DATA-mode input is, written out the simplest way:
/// lines end at the first CRLF; an over-long line is too long; a line with a stray CR, LF or NUL
/// is reported with the first one; `.<CR><LF>` ends the data. The decoder must agree with it.
func referenceDataEvents(_ input: [UInt8], textLineLimit: Int = SMTPLineDecoder.textLineLimit) -> [SMTPInboundLine] {
    var events: [SMTPInboundLine] = []
    var start = 0
    var index = 0
    while index + 1 < input.count {
        guard input[index] == 0x0D, input[index + 1] == 0x0A else {
            index += 1
            continue
        }
        let line = Array(input[start...index + 1])
        start = index + 2
        index = start
        if line.count > textLineLimit {
            events.append(.textTooLong)
        } else if let bare = firstBareLineEnding(in: line.dropLast(2)) {
            events.append(.textBareLineEnding(bare))
        } else if line == [0x2E, 0x0D, 0x0A] {
            events.append(.endOfData)
        } else {
            events.append(.text(ByteBuffer(bytes: line)))
        }
    }
    return mergingText(events)
}

/// In a line without its final CRLF: a LF not after a CR, a CR not before a LF, or a NUL.
private func firstBareLineEnding(in body: ArraySlice<UInt8>) -> SMTPBareLineEnding? {
    let bytes = Array(body) + [0x0D]  // the final CR, which follows the last body byte
    for (offset, byte) in bytes.enumerated() {
        if offset > 0, bytes[offset - 1] == 0x0D, byte != 0x0A { return .cr }
        if byte == 0x0A, offset == 0 || bytes[offset - 1] != 0x0D { return .lf }
        if byte == 0 { return .nul }
    }
    return nil
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

/// A seeded generator, so a failing random input is the same on every run.
struct SplitMix64: RandomNumberGenerator {
    private var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476C_E5B9_1CE5
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
