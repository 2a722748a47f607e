import Foundation
import PortcullisCore
import Testing
@testable import Notices

struct OutgoingMailRenderingTests {
    static let date = Date(timeIntervalSince1970: 1_767_225_600)

    static func mail(subject: String = "Network restriction on your VM vm-1", fromName: String? = "Hosting Abuse Desk",
                     body: String = "Hello,\nyour VM vm-1 was restricted.\n",
                     headers: [MailHeader] = [MailHeader("X-Portcullis-Case", "c-42")]) throws -> OutgoingMail {
        try OutgoingMail(from: address("abuse@hosting.example"), fromName: fromName,
                         to: [address("ops@tenant.example"), address("security@tenant.example")],
                         subject: subject, body: body, headers: headers,
                         messageID: "<fixed@hosting.example>", date: date)
    }

    @Test func rendersHeadersThenTheBodyWithCRLF() throws {
        let expected = "Date: Thu, 01 Jan 2026 00:00:00 +0000\r\n"
            + "From: \"Hosting Abuse Desk\" <abuse@hosting.example>\r\n"
            + "To: ops@tenant.example, security@tenant.example\r\n"
            + "Subject: Network restriction on your VM vm-1\r\n"
            + "Message-ID: <fixed@hosting.example>\r\n"
            + "X-Portcullis-Case: c-42\r\n"
            + "MIME-Version: 1.0\r\n"
            + "Content-Type: text/plain; charset=utf-8\r\n"
            + "Content-Transfer-Encoding: quoted-printable\r\n"
            + "\r\n"
            + "Hello,\r\n"
            + "your VM vm-1 was restricted.\r\n"
        #expect(try Self.mail().rendered() == expected)
    }

    /// Every line ends in CRLF, whatever line endings the body came with, and none is longer
    /// than RFC 5322's 78 characters.
    @Test(arguments: ["one\ntwo\n", "one\r\ntwo\r\n", "one\rtwo", "one\n\n\ntwo"])
    func everyLineEndsWithCRLF(body: String) throws {
        let rendered = try Self.mail(body: body).rendered()
        #expect(rendered.hasSuffix("\r\n"))
        let lines = rendered.components(separatedBy: "\r\n").dropLast()
        for line in lines {
            #expect(!line.contains("\r") && !line.contains("\n"), "bare CR or LF in \(line.debugDescription)")
            #expect(line.utf8.count <= 78, "\(line)")
        }
        #expect(rendered.hasSuffix("\r\n\r\none\r\n" + (body.contains("\n\n\n") ? "\r\n\r\n" : "") + "two\r\n"))
    }

    @Test(arguments: [
        (0.0, "Thu, 01 Jan 1970 00:00:00 +0000"),
        (1_775_640_000, "Wed, 08 Apr 2026 09:20:00 +0000"),
        (951_868_799, "Tue, 29 Feb 2000 23:59:59 +0000"),
    ])
    func formatsTheDateAsRFC5322InUTC(seconds: Double, expected: String) throws {
        let mail = try OutgoingMail(from: address("abuse@hosting.example"), to: [address("ops@tenant.example")],
                                    subject: "s", body: "b", date: Date(timeIntervalSince1970: seconds))
        #expect(mail.rendered().hasPrefix("Date: \(expected)\r\nFrom: abuse@hosting.example\r\n"))
    }

    @Test func generatesAMessageIDAtTheSendersDomain() throws {
        let mail = try OutgoingMail(from: address("Abuse@Hosting.Example"), to: [address("ops@tenant.example")],
                                    subject: "s", body: "b")
        let uuid = "[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
        #expect(mail.messageID.wholeMatch(of: try Regex("<\(uuid)@hosting\\.example>")) != nil, "\(mail.messageID)")
        #expect(mail.rendered().contains("\r\nMessage-ID: \(mail.messageID)\r\n"))
        let other = try OutgoingMail(from: address("abuse@hosting.example"), to: [address("ops@tenant.example")],
                                     subject: "s", body: "b")
        #expect(other.messageID != mail.messageID)
    }

    @Test(arguments: [
        ("Café", "Subject: =?utf-8?B?Q2Fmw6k=?="),
        ("VM web-1 – Fall 42", "Subject: =?utf-8?B?Vk0gd2ViLTEg4oCTIEZhbGwgNDI=?="),
        // ASCII that looks like an encoded-word is encoded too, so no reader decodes it.
        ("=?utf-8?B?Zm9v?=", "Subject: =?utf-8?B?PT91dGYtOD9CP1ptOXY/PQ==?="),
    ])
    func encodesANonASCIISubject(subject: String, expected: String) throws {
        let rendered = try Self.mail(subject: subject).rendered()
        #expect(rendered.contains("\r\n\(expected)\r\n"), "\(rendered)")
    }

    /// A long subject becomes several encoded-words on folded lines of at most 76 characters;
    /// no word splits a character, and together they decode to the subject.
    @Test func foldsALongEncodedSubjectBetweenCharacters() throws {
        let subject = "Überprüfung erforderlich: Missbrauch von VM web-1 – Fall 42, bitte sofort handeln 🚨🚨🚨 und antworten"
        let rendered = try Self.mail(subject: subject).rendered()
        let start = try #require(rendered.range(of: "\r\nSubject: "))
        let end = try #require(rendered.range(of: "\r\nMessage-ID:"))
        let header = String(rendered[start.upperBound..<end.lowerBound])
        let lines = header.components(separatedBy: "\r\n")
        #expect(lines.count > 2)
        #expect(lines.dropFirst().allSatisfy { $0.hasPrefix(" =?utf-8?B?") }, "continuation lines start with a space")
        #expect(("Subject: " + lines[0]).count <= 76)
        #expect(lines.allSatisfy { $0.count <= 76 })
        var decoded = ""
        for line in lines {
            let word = line.trimmingCharacters(in: .whitespaces)
            #expect(word.hasPrefix("=?utf-8?B?") && word.hasSuffix("?="))
            let payload = try #require(Data(base64Encoded: String(word.dropFirst(10).dropLast(2))))
            decoded += try #require(String(data: payload, encoding: .utf8), "each word is valid UTF-8 on its own")
        }
        #expect(decoded == subject)
    }

    @Test(arguments: [
        ("Hosting \"Abuse\" Desk", "From: \"Hosting \\\"Abuse\\\" Desk\" <abuse@hosting.example>"),
        ("Hébergement", "From: =?utf-8?B?SMOpYmVyZ2VtZW50?= <abuse@hosting.example>"),
    ])
    func quotesOrEncodesTheSendersName(name: String, expected: String) throws {
        #expect(try Self.mail(fromName: name).rendered().contains("\r\n\(expected)\r\n"))
    }

    @Test func foldsALongRecipientList() throws {
        let to = try (1...6).map { try address("security-team-\($0)@tenant.example") }
        let mail = try OutgoingMail(from: address("abuse@hosting.example"), to: to, subject: "s", body: "b")
        let rendered = mail.rendered()
        #expect(rendered.contains("\r\nTo: security-team-1@tenant.example, security-team-2@tenant.example,\r\n"
            + " security-team-3@tenant.example, security-team-4@tenant.example,\r\n"
            + " security-team-5@tenant.example, security-team-6@tenant.example\r\n"))
    }

    /// Quoted-printable: '=' and non-ASCII escaped, a blank at a line's end escaped, lines
    /// longer than 76 characters broken with soft breaks.
    @Test func encodesTheBodyAsQuotedPrintable() throws {
        let long = String(repeating: "0123456789", count: 10)
        let body = "a=b café \ntrailing tab\t\n\(long)\n"
        let rendered = try Self.mail(body: body).rendered()
        let encoded = String(rendered[try #require(rendered.range(of: "\r\n\r\n")).upperBound...])
        #expect(encoded == "a=3Db caf=C3=A9=20\r\n"
            + "trailing tab=09\r\n"
            + String(long.prefix(75)) + "=\r\n" + String(long.dropFirst(75)) + "\r\n")
        #expect(QuotedPrintableDecoding.decode(encoded) == body.replacingOccurrences(of: "\n", with: "\r\n"))
    }

    /// Soft breaks never split an escape, and what decodes is what was written.
    @Test(arguments: [
        String(repeating: "é", count: 60),
        String(repeating: "x", count: 74) + "=é",
        String(repeating: "y", count: 75) + " ",
        String(repeating: "z", count: 76),
        String(repeating: "w", count: 77),
    ])
    func quotedPrintableRoundTrips(line: String) throws {
        let encoded = QuotedPrintable.encode(line)
        for physical in encoded.components(separatedBy: "\r\n").dropLast() {
            #expect(physical.utf8.count <= 76, "\(physical)")
            #expect(!physical.hasSuffix(" ") && !physical.hasSuffix("\t"))
        }
        #expect(QuotedPrintableDecoding.decode(encoded) == line + "\r\n")
    }

    // MARK: Header injection and other refusals

    @Test(arguments: ["Notice\r\nBcc: victim@example.com", "Notice\nBcc: victim@example.com", "Notice\rBcc: x@y.example",
                      "Notice\u{2028}Bcc: x@y.example"])
    func refusesLineBreaksInTheSubject(subject: String) throws {
        #expect(throws: MailComposeError.lineBreakInHeader(name: "Subject")) { try Self.mail(subject: subject) }
    }

    @Test func refusesLineBreaksInExtraHeadersAndTheSendersName() throws {
        #expect(throws: MailComposeError.lineBreakInHeader(name: "X-Portcullis-Case")) {
            try Self.mail(headers: [MailHeader("X-Portcullis-Case", "c-42\r\nBcc: victim@example.com")])
        }
        #expect(throws: MailComposeError.lineBreakInHeader(name: "From")) {
            try Self.mail(fromName: "Abuse\r\nBcc: victim@example.com")
        }
        let error = MailComposeError.lineBreakInHeader(name: "Subject")
        #expect(error.description.contains("line break"))
    }

    @Test func refusesOtherControlCharacters() throws {
        #expect(throws: MailComposeError.controlCharacterInHeader(name: "Subject")) { try Self.mail(subject: "a\u{0}b") }
        #expect(throws: MailComposeError.controlCharacterInHeader(name: "Subject")) { try Self.mail(subject: "a\u{1B}[31mb") }
        #expect(try Self.mail(subject: "tab\tis fine").subject == "tab\tis fine")
    }

    @Test(arguments: ["X Portcullis", "X:Case", "", "Caf\u{e9}"])
    func refusesInvalidHeaderNames(name: String) throws {
        #expect(throws: MailComposeError.invalidHeaderName(name)) { try Self.mail(headers: [MailHeader(name, "v")]) }
    }

    @Test(arguments: ["Bcc", "subject", "Content-Transfer-Encoding", "MESSAGE-ID"])
    func refusesHeadersTheRendererWrites(name: String) throws {
        #expect(throws: MailComposeError.reservedHeader(name)) { try Self.mail(headers: [MailHeader(name, "v")]) }
    }

    @Test func explainsWhyCcIsRefused() {
        #expect(MailComposeError.reservedHeader("Cc").description.contains("list every recipient"))
        #expect(MailComposeError.reservedHeader("Subject").description.contains("written by portcullis itself"))
    }

    @Test func allowsReplyTo() throws {
        let mail = try Self.mail(headers: [MailHeader("Reply-To", "support@hosting.example")])
        #expect(mail.rendered().contains("\r\nReply-To: support@hosting.example\r\n"))
    }

    @Test func refusesANoticeWithoutRecipients() throws {
        #expect(throws: MailComposeError.noRecipients) {
            try OutgoingMail(from: address("abuse@hosting.example"), to: [], subject: "s", body: "b")
        }
    }

    /// The outbox stores notices as JSON: they come back identical, and a stored notice with an
    /// injected header is refused on the way back in, like a new one.
    @Test func decodingChecksLikeTheInitializer() throws {
        let mail = try Self.mail()
        let json = try JSONEncoder().encode(mail)
        #expect(try JSONDecoder().decode(OutgoingMail.self, from: json) == mail)
        let tampered = try #require(String(data: json, encoding: .utf8))
            .replacingOccurrences(of: "Network restriction", with: "Hi\\r\\nBcc: victim@example.com\\r\\n")
        #expect(throws: MailComposeError.lineBreakInHeader(name: "Subject")) {
            try JSONDecoder().decode(OutgoingMail.self, from: Data(tampered.utf8))
        }
    }
}

/// A quoted-printable decoder written for the tests, to check the encoder by round trip.
enum QuotedPrintableDecoding {
    static func decode(_ text: String) -> String {
        var bytes: [UInt8] = []
        let input = Array(text.utf8)
        var index = 0
        while index < input.count {
            let byte = input[index]
            if byte == UInt8(ascii: "="), index + 2 < input.count, input[index + 1] == 0x0D, input[index + 2] == 0x0A {
                index += 3  // soft line break
            } else if byte == UInt8(ascii: "="), index + 2 < input.count,
                      let value = UInt8(String(decoding: input[(index + 1)...(index + 2)], as: UTF8.self), radix: 16) {
                bytes.append(value)
                index += 3
            } else {
                bytes.append(byte)
                index += 1
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}
