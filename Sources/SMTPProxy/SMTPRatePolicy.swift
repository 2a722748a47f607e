/// What the session asks before it relays a MAIL FROM. The session stays a pure value:
/// it emits `.checkRate(query)`, pauses, and resumes when the handler feeds back the answer
/// as `.rateDecision(_)`. Counting messages per VM over time lives outside the session.
public struct SMTPRateQuery: Hashable, Sendable {
    public var sender: SMTPReversePath
    public var ehloName: String?

    public init(sender: SMTPReversePath, ehloName: String?) {
        self.sender = sender
        self.ehloName = ehloName
    }
}

/// The answer to an `SMTPRateQuery`.
public enum SMTPRateDecision: Hashable, Sendable {
    case allow
    /// Refuse this transaction with `451 4.7.1`; the text says why (shown to the VM).
    case deny(reason: String)
}
