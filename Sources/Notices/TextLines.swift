import Foundation

/// Splitting text into lines whatever its line endings: notice text comes from Swift literals
/// (LF), operators' files (LF or CRLF) and evidence from logs, and everything that goes out is CRLF.
enum TextLines {
    /// The lines of `text` (LF, CRLF and CR all end a line); a final line break does not start
    /// another, empty line.
    static func split(_ text: String) -> [Substring] {
        let normalized = text.replacingOccurrences(of: "\r\n", with: "\n").replacingOccurrences(of: "\r", with: "\n")
        var lines = normalized.split(separator: "\n", omittingEmptySubsequences: false)
        if lines.count > 1, lines.last == "" { lines.removeLast() }
        return lines
    }
}
