import Foundation
import Testing
import Notices

struct SMTPDotStuffingTests {
    @Test(arguments: [
        ("Hello\r\n", "Hello\r\n.\r\n"),
        (".\r\n", "..\r\n.\r\n"),
        (".hidden\r\n", "..hidden\r\n.\r\n"),
        ("..two\r\n", "...two\r\n.\r\n"),
        ("a\r\n.\r\nb\r\n", "a\r\n..\r\nb\r\n.\r\n"),
        ("mid.line.dots\r\n", "mid.line.dots\r\n.\r\n"),
        (" .space first\r\n", " .space first\r\n.\r\n"),
        ("no final line break", "no final line break\r\n.\r\n"),
        ("bare\nLF\n.dot\n", "bare\r\nLF\r\n..dot\r\n.\r\n"),
        ("", "\r\n.\r\n"),
    ])
    func stuffsLinesStartingWithADotAndEndsWithTheFinalDot(message: String, expected: String) {
        #expect(SMTPDotStuffing.transmissionText(of: message) == Array(expected.utf8))
    }

    /// No line of the transmission is a lone "." until the very last: the message cannot end the
    /// transfer early, whatever the notice's text says.
    @Test func aMessageCannotEndTheTransferEarly() {
        let hostile = "text\r\n.\r\nMAIL FROM:<x@y.example>\r\n.\n.\r\n"
        let lines = String(decoding: SMTPDotStuffing.transmissionText(of: hostile), as: UTF8.self)
            .components(separatedBy: "\r\n").dropLast()
        #expect(lines.filter { $0 == "." }.count == 1)
        #expect(lines.last == ".")
    }
}
