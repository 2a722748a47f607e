import NIOCore

/// Splits SMTP input into lines ending in CRLF, with a hard bound on what it buffers.
///
/// `LineBasedFrameDecoder` accepts a bare LF as a line end and buffers without limit; an SMTP
/// relay must do neither. SMTP smuggling (CVE-2023-51764/51765/51766) works when a relay sees
/// `<LF>.<LF>`, `<CR>.<CR>` or similar as the end of a message while the next hop does not (or the
/// other way round), so here CRLF is the only line end in message text, `.<CR><LF>` after a CRLF is
/// the only end of data, and a line containing a stray CR or LF is reported as such and never
/// handed on as text.
///
/// Bounds (RFC 5321 4.5.3.1.4 and 4.5.3.1.6): command lines 512 octets with the CRLF, text lines
/// 1000. Past the bound the decoder drops bytes as they arrive until the next CRLF, and reports the
/// line as too long once it ends; it never holds more than the bound.
///
/// The mode is switched by whoever drives the decoder (the session's enter/leave data mode actions),
/// between two lines. `reset()` forgets a partial line: after STARTTLS the plaintext already
/// received must not be glued to the first decrypted line (CVE-2011-0411).
public struct SMTPLineDecoder: ByteToMessageDecoder {
    public typealias InboundOut = SMTPInboundLine

    public enum Mode: Hashable, Sendable {
        case command
        case data
    }

    public static let commandLineLimit = 512
    public static let textLineLimit = 1000

    public var mode: Mode
    public let commandLineLimit: Int
    public let textLineLimit: Int

    /// Bytes of the current line still in the buffer, from its reader index, already looked at.
    private var scanned = 0
    /// Bytes of the current line already dropped because it is too long.
    private var dropped = 0
    /// The last byte of the current line looked at was a CR (it may be in the dropped part).
    private var previousWasCR = false
    private var bareLineEnding: SMTPBareLineEnding?

    public init(mode: Mode = .command, commandLineLimit: Int = Self.commandLineLimit, textLineLimit: Int = Self.textLineLimit) {
        precondition(commandLineLimit >= 3 && textLineLimit >= 3, "a line needs room for at least one octet and CRLF")
        self.mode = mode
        self.commandLineLimit = commandLineLimit
        self.textLineLimit = textLineLimit
    }

    /// Forgets any partial line. The caller drops the bytes themselves.
    public mutating func reset() {
        scanned = 0
        dropped = 0
        previousWasCR = false
        bareLineEnding = nil
    }

    /// Takes the next line out of `buffer`, or returns nil (having consumed at most the bytes of an
    /// over-long line) when the buffer holds no complete line yet.
    public mutating func nextLine(from buffer: inout ByteBuffer) -> SMTPInboundLine? {
        if mode == .data, scanned == 0, dropped == 0 {
            let length = cleanTextLength(in: buffer)
            if length > 0 { return .text(buffer.readSlice(length: length)!) }
        }
        let limit = mode == .command ? commandLineLimit : textLineLimit
        while scanned < buffer.readableBytes {
            let byte = buffer.getInteger(at: buffer.readerIndex + scanned, as: UInt8.self)!
            scanned += 1
            if byte == .lf {
                if previousWasCR {
                    return finishLine(from: &buffer, limit: limit)
                }
                bareLineEnding = bareLineEnding ?? .lf
                if mode == .command {
                    return finishLine(from: &buffer, limit: limit)
                }
            } else if previousWasCR {
                bareLineEnding = bareLineEnding ?? .cr
            }
            if byte == 0 {
                bareLineEnding = bareLineEnding ?? .nul
            }
            previousWasCR = byte == .cr
            if dropped + scanned >= limit {
                // Even a LF next would make the line longer than the limit: stop keeping its bytes.
                buffer.moveReaderIndex(forwardBy: scanned)
                dropped += scanned
                scanned = 0
            }
        }
        return nil
    }

    /// How many bytes at the front of `buffer` are complete, clean text lines: each ends in CRLF, is
    /// within the text line limit, holds no other CR, LF or NUL, and is not the end of data.
    ///
    /// This is the fast path that lets message text pass a read at a time instead of a line at a
    /// time. It stops before the first line that is incomplete or breaks a rule, and that line goes
    /// through the byte-by-byte path above, which decides what it is. Both paths apply the same
    /// rules; the tests compare them on the same input.
    private func cleanTextLength(in buffer: ByteBuffer) -> Int {
        let limit = textLineLimit
        return buffer.withUnsafeReadableBytes { bytes in
            var clean = 0
            var index = 0
            let count = bytes.count
            while index < count {
                let byte = bytes[index]
                index += 1
                if byte > .cr { continue }
                switch byte {
                case .lf:
                    let length = index - clean
                    guard length >= 2, bytes[index - 2] == .cr, length <= limit else { return clean }
                    if length == 3, bytes[clean] == .dot { return clean }  // ".<CR><LF>": the end of data
                    clean = index
                case .cr:
                    guard index < count, bytes[index] == .lf else { return clean }
                case 0:
                    return clean
                default:
                    continue
                }
            }
            return clean
        }
    }

    /// The current line ends with the byte just scanned: consume it and say what it was.
    private mutating func finishLine(from buffer: inout ByteBuffer, limit: Int) -> SMTPInboundLine {
        defer { reset() }
        let length = dropped + scanned
        let line = buffer.readSlice(length: scanned)!
        if length > limit {
            return mode == .command ? .commandTooLong : .textTooLong
        }
        if let bare = bareLineEnding {
            return mode == .command ? .commandBareLineEnding(bare) : .textBareLineEnding(bare)
        }
        switch mode {
        case .command:
            return .command(line.getSlice(at: line.readerIndex, length: line.readableBytes - 2)!)
        case .data:
            return line.readableBytesView.elementsEqual([.dot, .cr, .lf]) ? .endOfData : .text(line)
        }
    }

    public mutating func decode(context: ChannelHandlerContext, buffer: inout ByteBuffer) throws -> DecodingState {
        guard let line = nextLine(from: &buffer) else { return .needMoreData }
        context.fireChannelRead(Self.wrapInboundOut(line))
        return .continue
    }

    public mutating func decodeLast(context: ChannelHandlerContext, buffer: inout ByteBuffer, seenEOF: Bool) throws -> DecodingState {
        while let line = nextLine(from: &buffer) {
            context.fireChannelRead(Self.wrapInboundOut(line))
        }
        // A partial line at end of input is not a command and not message text: drop it.
        buffer.moveReaderIndex(to: buffer.writerIndex)
        reset()
        return .needMoreData
    }
}

extension UInt8 {
    static let cr = UInt8(ascii: "\r")
    static let lf = UInt8(ascii: "\n")
    static let dot = UInt8(ascii: ".")
}
