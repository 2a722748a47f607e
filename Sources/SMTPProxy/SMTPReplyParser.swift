/// Why upstream output could not be read as replies; the session then gives up on the upstream.
public enum SMTPReplyError: Error, Hashable, Sendable {
    case malformedLine
    case inconsistentCode
    case tooManyLines
}

/// Assembles reply lines (CRLF already removed) into replies:
/// `250-a`, `250-b`, `250 c` → one reply with three lines (RFC 5321 4.2.1).
public struct SMTPReplyParser: Sendable {
    /// Bounds what a hostile upstream can make us hold; EHLO replies have a dozen lines.
    public static let maxLines = 100

    private var code: Int?
    private var lines: [String] = []

    public init() {}

    /// Feeds one line; returns a reply when this line was the last one.
    public mutating func feed(_ bytes: some Collection<UInt8>) throws(SMTPReplyError) -> SMTPReply? {
        guard let line = String(validating: bytes, as: UTF8.self),
              line.utf8.count >= 3, line.utf8.allSatisfy({ $0 >= 0x20 || $0 == 0x09 }) else { throw .malformedLine }
        let digits = line.utf8.prefix(3)
        guard digits.allSatisfy({ (0x30...0x39).contains($0) }), let lineCode = Int(String(line.prefix(3))),
              (200...599).contains(lineCode) else { throw .malformedLine }
        let separator = line.utf8.dropFirst(3).first
        guard separator == nil || separator == UInt8(ascii: " ") || separator == UInt8(ascii: "-") else { throw .malformedLine }
        if let code, code != lineCode { throw .inconsistentCode }
        guard lines.count < Self.maxLines else { throw .tooManyLines }
        code = lineCode
        lines.append(String(line.dropFirst(4)))
        guard separator != UInt8(ascii: "-") else { return nil }
        defer { code = nil; lines = [] }
        return SMTPReply(code: lineCode, lines: lines)
    }

    /// True between the first and the last line of a multi-line reply.
    public var isInsideReply: Bool { code != nil }

    /// Parses complete reply text (tests and fixtures): `"250-a\r\n250 b\r\n"`.
    public static func parse(_ text: String) throws(SMTPReplyError) -> [SMTPReply] {
        var parser = SMTPReplyParser()
        var replies: [SMTPReply] = []
        for line in text.split(separator: "\r\n", omittingEmptySubsequences: true) {
            if let reply = try parser.feed(Array(line.utf8)) { replies.append(reply) }
        }
        guard !parser.isInsideReply else { throw .malformedLine }
        return replies
    }
}
