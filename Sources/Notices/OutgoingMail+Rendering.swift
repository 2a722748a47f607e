import Foundation
import PortcullisCore

extension OutgoingMail {
    /// The message as RFC 5322 text with CRLF line endings, headers then the quoted-printable body:
    /// what the smarthost receives after DATA (before dot-stuffing) and what the audit keeps.
    ///
    /// Header text that is not plain ASCII is sent as RFC 2047 encoded-words, so a subject in any
    /// language survives ASCII-only mail paths.
    public func rendered() -> String {
        var lines: [String] = []
        lines.append("Date: " + RFC5322Date.format(date))
        lines.append("From: " + renderedSender)
        lines.append(Self.addressList("To", to))
        lines.append(Self.unstructured("Subject", subject))
        lines.append("Message-ID: " + messageID)
        for header in headers {
            lines.append(Self.unstructured(header.name, header.value))
        }
        lines.append("MIME-Version: 1.0")
        lines.append("Content-Type: text/plain; charset=utf-8")
        lines.append("Content-Transfer-Encoding: quoted-printable")
        return lines.joined(separator: "\r\n") + "\r\n\r\n" + QuotedPrintable.encode(body)
    }

    /// `"Name" <address>`, `=?utf-8?B?...?= <address>` or the bare address.
    private var renderedSender: String {
        guard let fromName, !fromName.isEmpty else { return from.value }
        let used = "From: ".count
        if EncodedWord.isPlain(fromName, lineUsed: used) {
            // RFC 5322 3.2.4: inside a quoted-string only '"' and '\' need a backslash.
            let quoted = fromName.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"")
            return "\"\(quoted)\" <\(from.value)>"
        }
        return EncodedWord.encode(fromName, lineUsed: used) + " <\(from.value)>"
    }

    private static func unstructured(_ name: String, _ value: String) -> String {
        let used = name.utf8.count + 2
        return name + ": " + (EncodedWord.isPlain(value, lineUsed: used) ? value : EncodedWord.encode(value, lineUsed: used))
    }

    /// Addresses separated by commas, a new continuation line before any that would pass column 78.
    private static func addressList(_ name: String, _ addresses: [EmailAddress]) -> String {
        var text = name + ":"
        var column = text.count
        for (index, address) in addresses.enumerated() {
            let item = address.value + (index < addresses.count - 1 ? "," : "")
            if column > name.count + 1 && column + 1 + item.count > 78 {
                text += "\r\n"
                column = 0
            }
            text += " " + item
            column += 1 + item.count
        }
        return text
    }
}
