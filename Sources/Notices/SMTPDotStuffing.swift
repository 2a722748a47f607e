/// The DATA phase's transparency rule (RFC 5321 4.5.2): a message line starting with '.' gets a
/// second '.', so no line of the message can end the transfer early, and the transfer ends with
/// `.` CRLF.
///
/// Applied at transmission, not in the rendered message, so the message the outbox stores and
/// audits is the message the recipient reads.
public enum SMTPDotStuffing {
    /// The bytes to send after the server's 354: `message` with CRLF line endings, dot-stuffed,
    /// then the terminating `.` CRLF.
    public static func transmissionText(of message: String) -> [UInt8] {
        var output: [UInt8] = []
        output.reserveCapacity(message.utf8.count + 8)
        for line in TextLines.split(message) {
            if line.utf8.first == UInt8(ascii: ".") { output.append(UInt8(ascii: ".")) }
            output += line.utf8
            output += [0x0D, 0x0A]
        }
        output += Array(".\r\n".utf8)
        return output
    }
}
