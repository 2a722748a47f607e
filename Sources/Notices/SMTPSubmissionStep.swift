import PortcullisCore

/// Where in the SMTP conversation a submission stopped, so an error names the command the
/// smarthost refused or did not answer.
public enum SMTPSubmissionStep: Hashable, Sendable, CustomStringConvertible {
    case greeting
    case ehlo
    case helo
    case startTLS
    /// SMTP AUTH (RFC 4954), with the configured credentials.
    case auth
    case mailFrom(EmailAddress)
    case rcptTo(EmailAddress)
    case data
    /// The message text and its final dot.
    case messageText
    case quit

    public var description: String {
        switch self {
        case .greeting: "the greeting"
        case .ehlo: "EHLO"
        case .helo: "HELO"
        case .startTLS: "STARTTLS"
        case .auth: "AUTH"
        case .mailFrom(let address): "MAIL FROM:<\(address)>"
        case .rcptTo(let address): "RCPT TO:<\(address)>"
        case .data: "DATA"
        case .messageText: "the message text"
        case .quit: "QUIT"
        }
    }
}
