import Foundation
import PortcullisCore

/// One notice as an e-mail, ready to render and submit.
///
/// The Message-ID and Date are fixed when the mail is made, not when it is sent, so every retry
/// of the same notice carries the same identity: a smarthost or tenant that received an attempt
/// whose final reply was lost can recognise the retry as a duplicate. Headers are checked here,
/// once, so a notice that could inject headers never gets into the outbox.
public struct OutgoingMail: Hashable, Sendable, Codable {
    public let from: EmailAddress
    /// Shown next to the sender address, e.g. "Example Hosting Abuse Desk".
    public let fromName: String?
    public let to: [EmailAddress]
    public let subject: String
    /// Plain text; any line endings (LF, CRLF, CR) are sent as CRLF.
    public let body: String
    public let headers: [MailHeader]
    /// With angle brackets: `<uuid@sender-domain>`.
    public let messageID: String
    public let date: Date

    /// Headers the caller may not add: the ones the renderer writes itself, and Cc/Bcc, which
    /// would name recipients the notice is not actually sent to (the envelope takes `to` only).
    public static let reservedHeaderNames: Set<String> = [
        "date", "from", "to", "cc", "bcc", "subject", "message-id", "mime-version", "content-type",
        "content-transfer-encoding",
    ]

    public init(from: EmailAddress, fromName: String? = nil, to: [EmailAddress], subject: String, body: String,
                headers: [MailHeader] = [], messageID: String? = nil, date: Date = Date()) throws(MailComposeError) {
        guard !to.isEmpty else { throw .noRecipients }
        try Self.checkValue(subject, of: "Subject")
        if let fromName { try Self.checkValue(fromName, of: "From") }
        for header in headers {
            try Self.checkName(header.name)
            try Self.checkValue(header.value, of: header.name)
        }
        let messageID = messageID ?? Self.makeMessageID(domain: from.domain)
        try Self.checkValue(messageID, of: "Message-ID")
        self.from = from
        self.fromName = fromName
        self.to = to
        self.subject = subject
        self.body = body
        self.headers = headers
        self.messageID = messageID
        self.date = date
    }

    /// A fresh `<uuid@domain>`: the sender's domain makes it globally unique per RFC 5322 3.6.4.
    public static func makeMessageID(domain: String) -> String {
        "<\(UUID().uuidString.lowercased())@\(domain)>"
    }

    // Decoding goes through the checks too: a stored notice is trusted no more than a new one.
    private enum CodingKeys: String, CodingKey {
        case from, fromName, to, subject, body, headers, messageID, date
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        try self.init(from: container.decode(EmailAddress.self, forKey: .from),
                      fromName: container.decodeIfPresent(String.self, forKey: .fromName),
                      to: container.decode([EmailAddress].self, forKey: .to),
                      subject: container.decode(String.self, forKey: .subject),
                      body: container.decode(String.self, forKey: .body),
                      headers: container.decode([MailHeader].self, forKey: .headers),
                      messageID: container.decode(String.self, forKey: .messageID),
                      date: container.decode(Date.self, forKey: .date))
    }

    static func checkName(_ name: String) throws(MailComposeError) {
        // RFC 5322 2.2: ftext is printable US-ASCII except ':'.
        guard !name.isEmpty, name.utf8.allSatisfy({ (33...126).contains($0) && $0 != UInt8(ascii: ":") }) else {
            throw .invalidHeaderName(name)
        }
        guard !reservedHeaderNames.contains(name.lowercased()) else { throw .reservedHeader(name) }
    }

    static func checkValue(_ value: String, of name: String) throws(MailComposeError) {
        for scalar in value.unicodeScalars {
            if scalar == "\r" || scalar == "\n" || scalar == "\u{2028}" || scalar == "\u{2029}" || scalar == "\u{85}" {
                throw .lineBreakInHeader(name: name)
            }
            if scalar != "\t" && (scalar.value < 0x20 || (0x7F...0x9F).contains(scalar.value)) {
                throw .controlCharacterInHeader(name: name)
            }
        }
    }
}

extension EmailAddress {
    /// The part after the '@', lowercased.
    var domain: String {
        String(value[value.index(after: value.lastIndex(of: "@")!)...]).lowercased()
    }
}
