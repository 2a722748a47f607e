import NIOCore
import PortcullisCore

/// When the submitter puts TLS on the connection to the smarthost (RFC 3207 STARTTLS).
public enum SMTPSubmissionTLS: String, Hashable, Sendable, Codable, CaseIterable {
    /// Never: for a smarthost on the same host or a trusted network segment.
    case off
    /// When the smarthost offers STARTTLS; plaintext when it does not. Protects against passive
    /// listening only: an active attacker can remove the offer.
    case opportunistic
    /// Always: a smarthost that does not offer STARTTLS gets no notice.
    case required
}

/// How long the submitter waits for the smarthost.
///
/// Shorter than RFC 5321's client minimums (5 and 10 minutes): those protect a message the
/// client cannot retry, while a notice waits in the outbox and is retried, so a hung smarthost
/// should free the sender soon.
public struct SMTPSubmissionTimeouts: Hashable, Sendable {
    /// Establishing the TCP connection.
    public var connect: TimeAmount
    /// Each reply: the greeting, EHLO, STARTTLS (including the TLS handshake), MAIL, RCPT, DATA, QUIT.
    public var reply: TimeAmount
    /// The reply to the message's final dot, when the smarthost may be running content filters.
    public var messageAccepted: TimeAmount

    public static let standard = SMTPSubmissionTimeouts(connect: .seconds(10), reply: .seconds(60),
                                                        messageAccepted: .minutes(3))

    public init(connect: TimeAmount, reply: TimeAmount, messageAccepted: TimeAmount) {
        self.connect = connect
        self.reply = reply
        self.messageAccepted = messageAccepted
    }
}

/// The mail server that accepts notices for delivery: the provider's own MTA, not the tenants' MX.
public struct SMTPSmarthost: Hashable, Sendable {
    /// An IP address literal (`192.0.2.25`, `2001:db8::25`) or a host name.
    public let host: String
    public let port: Int
    public let tls: SMTPSubmissionTLS
    /// Whether the smarthost's certificate must chain to a trusted root and name `host`.
    /// Switch off only for a smarthost with a self-signed certificate on a network you trust:
    /// without verification, TLS stops passive listening but not an active attacker.
    public let verify: Bool
    /// The name we give in EHLO/HELO: this host's name as the smarthost should log it.
    public let heloName: String
    public let timeouts: SMTPSubmissionTimeouts
    /// Log in with SMTP AUTH after STARTTLS; nil: relay by this host's address.
    public let credentials: SMTPCredentials?
    /// A PEM file of the roots the smarthost's certificate must chain to (a private CA) instead
    /// of the system's; nil: the system's.
    public let caFile: String?

    /// `host` may be an IPv6 address in brackets (`[2001:db8::25]`), as in URLs; they are removed.
    public init(host: String, port: Int = 25, tls: SMTPSubmissionTLS = .opportunistic, verify: Bool = true,
                heloName: String, timeouts: SMTPSubmissionTimeouts = .standard,
                credentials: SMTPCredentials? = nil, caFile: String? = nil) throws(ValidationError) {
        let host = host.hasPrefix("[") && host.hasSuffix("]") ? String(host.dropFirst().dropLast()) : host
        guard !host.isEmpty, host.utf8.allSatisfy({ (33...126).contains($0) && $0 != UInt8(ascii: "/") }) else {
            throw ValidationError(field: "smarthost host", value: host, problem: "expected an IP address or host name")
        }
        guard (1...65535).contains(port) else {
            throw ValidationError(field: "smarthost port", value: "\(port)", problem: "must be 1-65535 (usually 25 or 587)")
        }
        // RFC 5321 4.1.1.1: a domain or an address literal; no spaces, nothing that ends the command line.
        guard !heloName.isEmpty, heloName.utf8.count <= 255, heloName.utf8.allSatisfy({ (33...126).contains($0) }) else {
            throw ValidationError(field: "smarthost helo name", value: heloName,
                                  problem: "expected this host's fully qualified name, e.g. portcullis1.example.net")
        }
        self.host = host
        self.port = port
        self.tls = tls
        self.verify = verify
        guard credentials == nil || tls != .off else {
            throw ValidationError(field: "notices.email.auth", value: credentials!.username,
                                  problem: "credentials are only sent over TLS: set notices.email.tls to required")
        }
        guard credentials == nil || verify else {
            throw ValidationError(field: "notices.email.verify_certificate", value: "false",
                                  problem: "a login over unverified TLS hands the password to whoever sits in the path; "
                                    + "keep verification on (ca_file names a private CA)")
        }
        self.caFile = caFile
        self.heloName = heloName
        self.timeouts = timeouts
        self.credentials = credentials
    }

    /// `host:port`, with brackets around an IPv6 address, for messages.
    var endpoint: String {
        host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)"
    }
}
