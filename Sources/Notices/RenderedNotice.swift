/// A template's output: what goes into `OutgoingMail`'s subject and body.
public struct RenderedNotice: Hashable, Sendable {
    /// One line: line breaks in values were replaced by spaces.
    public let subject: String
    /// Lines separated by LF; the mail renderer sends them as CRLF.
    public let body: String

    public init(subject: String, body: String) {
        self.subject = subject
        self.body = body
    }
}
