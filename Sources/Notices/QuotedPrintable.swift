/// RFC 2045 6.7 quoted-printable, the body's transfer encoding.
///
/// Chosen over 8bit because 8bit may only be sent to a server that advertises 8BITMIME
/// (RFC 6152) and SMTP lines may not exceed 998 octets (RFC 5321 4.5.3.1.6): quoted-printable
/// is 7-bit and wraps every line at 76 characters with soft breaks, so any smarthost takes the
/// notice whatever it advertises and however long an evidence line is. English notice text stays
/// readable in the raw message; only '=', non-ASCII bytes and trailing blanks are escaped.
enum QuotedPrintable {
    static let maxLineLength = 76
    private static let hex = Array("0123456789ABCDEF".utf8)

    /// `text` encoded; its line breaks (LF, CRLF or CR) become CRLF hard breaks, and the result
    /// ends with CRLF.
    static func encode(_ text: String) -> String {
        var output: [UInt8] = []
        for line in TextLines.split(text) {
            encodeLine(Array(line.utf8), into: &output)
            output += [0x0D, 0x0A]
        }
        return String(decoding: output, as: UTF8.self)
    }

    private static func encodeLine(_ bytes: [UInt8], into output: inout [UInt8]) {
        var column = 0
        for (index, byte) in bytes.enumerated() {
            let isLast = index == bytes.count - 1
            let token: [UInt8]
            if (33...126).contains(byte) && byte != UInt8(ascii: "=") {
                token = [byte]
            } else if (byte == 0x20 || byte == 0x09) && !isLast {
                token = [byte]  // a blank at the end of a line would be stripped in transit: escaped below
            } else {
                token = [UInt8(ascii: "="), hex[Int(byte >> 4)], hex[Int(byte & 0x0F)]]
            }
            // A soft break ("=" CRLF) takes one column, except after the line's last token.
            let limit = isLast ? maxLineLength : maxLineLength - 1
            if column + token.count > limit {
                output += [UInt8(ascii: "="), 0x0D, 0x0A]
                column = 0
            }
            output += token
            column += token.count
        }
    }
}
