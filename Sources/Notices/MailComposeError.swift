/// Why a notice could not be turned into a message. None of these gets better by retrying:
/// the text or the template that produced it must change.
public enum MailComposeError: Error, Hashable, Sendable, CustomStringConvertible {
    /// A header value held CR or LF: sent as is, the rest of the value would become headers of
    /// its own (header injection: a `Bcc:` the operator never wrote).
    case lineBreakInHeader(name: String)
    /// A header value held another control character (NUL, ESC...), which mail systems mangle.
    case controlCharacterInHeader(name: String)
    /// Not an RFC 5322 field name: printable ASCII without spaces or ':'.
    case invalidHeaderName(String)
    /// One of the headers the renderer writes itself (set it through `OutgoingMail`'s fields),
    /// or Cc/Bcc (put every recipient in `to`).
    case reservedHeader(String)
    case noRecipients

    public var description: String {
        switch self {
        case .lineBreakInHeader(let name):
            "the \(name) header contains a line break (CR or LF), which would let its text add headers of its own: "
                + "remove line breaks from the value (if it comes from a template, keep the placeholder's value on one line)"
        case .controlCharacterInHeader(let name):
            "the \(name) header contains a control character: remove it from the value"
        case .invalidHeaderName(let name):
            "'\(name)' is not a valid header name: use letters, digits and '-' (e.g. X-Portcullis-Case)"
        case .reservedHeader(let name) where ["cc", "bcc"].contains(name.lowercased()):
            "a \(name) header would name recipients the notice is not sent to: list every recipient in the notice's "
                + "recipients instead"
        case .reservedHeader(let name):
            "the \(name) header is written by portcullis itself: set the notice's sender, recipients or subject instead "
                + "of adding it as an extra header"
        case .noRecipients:
            "the notice has no recipients: give at least one address to send it to"
        }
    }
}
