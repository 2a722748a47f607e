import Foundation

/// RFC 2047 encoded-words (`=?utf-8?B?...?=`): how non-ASCII text gets into a header, which
/// SMTP carries as ASCII only.
///
/// B (base64) rather than Q: it is one rule for every script and never needs to know which
/// characters a particular header context allows.
enum EncodedWord {
    /// RFC 2047 2: an encoded-word is at most 75 characters, on a line of at most 76.
    static let maxLineLength = 76
    private static let prefix = "=?utf-8?B?"
    private static let suffix = "?="

    /// Whether `text` can go into a header as it is: printable ASCII (and tabs), nothing that a
    /// reader could mistake for an encoded-word, and short enough for SMTP's 998-octet line limit.
    static func isPlain(_ text: String, lineUsed: Int) -> Bool {
        text.utf8.allSatisfy { (0x20...0x7E).contains($0) || $0 == 0x09 }
            && !text.contains("=?") && lineUsed + text.utf8.count <= 998
    }

    /// `text` as encoded-words, folded onto continuation lines (`CRLF SP`), each line within
    /// 76 characters. `lineUsed` is how much of the first line the header name already takes.
    /// Words end on Unicode scalar boundaries: RFC 2047 5 forbids splitting a character.
    static func encode(_ text: String, lineUsed: Int) -> String {
        var words: [String] = []
        var pending: [UInt8] = []
        var capacity = payloadCapacity(lineUsed: lineUsed)
        for scalar in text.unicodeScalars {
            let bytes = Array(String(scalar).utf8)
            if !pending.isEmpty && pending.count + bytes.count > capacity {
                words.append(word(pending))
                pending = []
                capacity = payloadCapacity(lineUsed: 1)
            }
            pending += bytes
        }
        if !pending.isEmpty || words.isEmpty { words.append(word(pending)) }
        return words.joined(separator: "\r\n ")
    }

    /// Bytes of text that fit in one word on a line with `lineUsed` characters already taken:
    /// base64 turns 3 bytes into 4 characters.
    private static func payloadCapacity(lineUsed: Int) -> Int {
        max(3, (maxLineLength - lineUsed - prefix.count - suffix.count) / 4 * 3)
    }

    private static func word(_ bytes: [UInt8]) -> String {
        prefix + Data(bytes).base64EncodedString() + suffix
    }
}
