import SMTPProxy

extension SMTPReply {
    /// The reply on one line, `250 2.0.0 Ok: queued as 4Fx2` (a multi-line reply's lines joined
    /// by spaces): what the audit records and what errors quote.
    public var oneLine: String {
        "\(code) " + lines.joined(separator: " ")
    }
}
