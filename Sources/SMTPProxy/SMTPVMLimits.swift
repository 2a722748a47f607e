/// Limits that span a VM's connections, so the relay keeps state across sessions for them.
/// (Per-message limits live in `SMTPLimits` and are the session's business.)
public struct SMTPVMLimits: Hashable, Sendable {
    /// Open sessions at once; one more is answered `421 4.7.0` before any upstream connection.
    public var sessions: Int
    /// Sessions admitted in any sliding 60 seconds; one more is answered `421 4.7.0`.
    public var connectionsPerMinute: Int
    /// Transactions (MAIL FROM the relay let through) in any sliding hour; one more gets `451 4.7.1`.
    public var messagesPerHour: Int

    public init(sessions: Int = 10, connectionsPerMinute: Int = 60, messagesPerHour: Int = 1000) {
        precondition(sessions > 0 && connectionsPerMinute > 0 && messagesPerHour > 0, "limits must be positive")
        self.sessions = sessions
        self.connectionsPerMinute = connectionsPerMinute
        self.messagesPerHour = messagesPerHour
    }
}
