import NIOCore

/// Per-VM counts that span connections: open sessions, sessions admitted in the last minute,
/// transactions admitted in the last hour. A plain value with the clock passed in, so the
/// sliding windows are testable without waiting; `SMTPSharedRateLedger` shares it between loops.
///
/// Times are `NIODeadline` (monotonic), so a wall-clock step cannot open or close a window.
/// Only what was admitted is counted: a VM that keeps retrying while refused does not extend its
/// own lockout, and each VM's entry holds at most `connectionsPerMinute + messagesPerHour` times.
public struct SMTPRateLedger<Key: Hashable & Sendable>: Sendable {
    public enum Admission: Hashable, Sendable {
        case admitted
        case tooManySessions
        case tooManyConnections
    }

    struct Entry: Sendable {
        var openSessions = 0
        /// Admission times, oldest first: expiry drops from the front, in O(1) each.
        var connections = CircularBuffer<NIODeadline>()
        var messages = CircularBuffer<NIODeadline>()

        var isIdle: Bool { openSessions == 0 && connections.isEmpty && messages.isEmpty }

        /// Drops the times that left their window.
        mutating func expire(now: NIODeadline) {
            while let first = connections.first, now - first >= SMTPRateLedger.connectionWindow { connections.removeFirst() }
            while let first = messages.first, now - first >= SMTPRateLedger.messageWindow { messages.removeFirst() }
        }
    }

    public static var connectionWindow: TimeAmount { .seconds(60) }
    public static var messageWindow: TimeAmount { .hours(1) }

    public let limits: SMTPVMLimits
    private var entries: [Key: Entry] = [:]

    public init(limits: SMTPVMLimits) {
        self.limits = limits
    }

    /// A new connection from `key`: admitted (and counted) if both the concurrent-session and
    /// the per-minute limits allow it. An admitted session must be ended with `closeSession`.
    public mutating func openSession(for key: Key, now: NIODeadline) -> Admission {
        let limits = self.limits
        return update(key, now: now) { entry in
            if entry.openSessions >= limits.sessions { return .tooManySessions }
            if entry.connections.count >= limits.connectionsPerMinute { return .tooManyConnections }
            entry.openSessions += 1
            entry.connections.append(now)
            return .admitted
        }
    }

    public mutating func closeSession(for key: Key, now: NIODeadline) {
        update(key, now: now) { entry in
            precondition(entry.openSessions > 0, "closeSession without an admitted openSession")
            entry.openSessions -= 1
        }
    }

    /// A MAIL FROM from `key`: true (and counted) if the hourly message limit allows it.
    public mutating func admitMessage(for key: Key, now: NIODeadline) -> Bool {
        let limit = limits.messagesPerHour
        return update(key, now: now) { entry in
            guard entry.messages.count < limit else { return false }
            entry.messages.append(now)
            return true
        }
    }

    public func openSessions(for key: Key) -> Int {
        entries[key]?.openSessions ?? 0
    }

    /// How many VMs the ledger holds state for; idle VMs are forgotten when next touched.
    public var trackedKeys: Int { entries.count }

    /// Runs `body` on the entry for `key`, in place (no copy of its time lists), after dropping
    /// the times that left their window; an entry left idle is forgotten.
    private mutating func update<T>(_ key: Key, now: NIODeadline, _ body: (inout Entry) -> T) -> T {
        if entries[key] == nil { entries[key] = Entry() }
        entries[key]!.expire(now: now)
        let result = body(&entries[key]!)
        if entries[key]!.isIdle { entries[key] = nil }
        return result
    }
}
