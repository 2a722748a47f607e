import Foundation

/// Spam signals read from the relay's transaction records, without looking at content (the
/// measures the references use): accepted recipients per window, the share of recipients the
/// receiving servers refused, distinct recipient domains, and distinct mail servers dialled.
public struct SMTPAbuseThresholds: Sendable, Hashable {
    public let window: PolicyDuration
    /// Accepted recipients per window (policyd-rate-limit's 10 a minute is 600 an hour).
    public let recipients: Int
    /// Recipients refused by the receiving servers, as a share of those tried...
    public let rejectedRatio: Double
    /// ...once at least this many were refused (Postfix's `smtpd_hard_error_limit` is 20).
    public let minimumRejected: Int
    /// Distinct recipient domains per window.
    public let domains: Int
    /// Distinct mail servers (destination addresses) per window.
    public let destinations: Int

    public init(window: PolicyDuration = .init(seconds: 3600), recipients: Int = 600, rejectedRatio: Double = 0.3,
                minimumRejected: Int = 20, domains: Int = 200, destinations: Int = 100) {
        self.window = window
        self.recipients = recipients
        self.rejectedRatio = rejectedRatio
        self.minimumRejected = minimumRejected
        self.domains = domains
        self.destinations = destinations
    }
}

/// One threshold crossed: the signal, and the facts for the case.
public struct SMTPAbuseFinding: Hashable, Sendable {
    public let signal: AbuseSignal
    public let vm: VMID
    public let summary: String
    /// The VM's latest transactions in the window (newest last), one line each.
    public let samples: [String]
}

/// Keeps each VM's transactions of the last window and reports a signal when its threshold is
/// crossed, at most once per window and signal (the ladder decides what it earns). Pure: the
/// records carry their own times, so tests drive it with any clock.
///
/// Each VM's totals (recipients, refusals, how often each domain and mail server occurs) are kept
/// up to date as records enter and leave the window, so a record costs the same however many the
/// window holds: the relay can pass thousands of messages a second, and this runs for each.
/// Memory is bounded by what the relay's own limits let through in one window.
public struct SMTPAbuseDetector: Sendable {
    public let thresholds: SMTPAbuseThresholds

    /// One VM's records in the window (oldest first, from `head`) and their running totals.
    struct VMWindow: Sendable {
        var entries: [SMTPLogEntry] = []
        var head = 0
        var accepted = 0
        var refused = 0
        var domains: [String: Int] = [:]
        var destinations: [IPAddress: Int] = [:]
        var reported: [AbuseSignal: Date] = [:]

        var newest: SMTPLogEntry? { entries.last }

        mutating func add(_ entry: SMTPLogEntry) {
            entries.append(entry)
            accepted += entry.recipientCount
            refused += entry.recipientsRefusedByUpstream
            for domain in entry.recipientDomains { domains[domain, default: 0] += 1 }
            destinations[entry.destination, default: 0] += 1
        }

        /// Drops the records at or before `start` from the window and from the totals.
        mutating func expire(before start: Date) {
            while head < entries.count, entries[head].time <= start {
                let old = entries[head]
                accepted -= old.recipientCount
                refused -= old.recipientsRefusedByUpstream
                for domain in old.recipientDomains { Self.decrement(&domains, domain) }
                Self.decrement(&destinations, old.destination)
                head += 1
            }
            if head > 64, head * 2 > entries.count {  // amortised: the dropped prefix goes in one move
                entries.removeFirst(head)
                head = 0
            }
        }

        private static func decrement<Key: Hashable>(_ counts: inout [Key: Int], _ key: Key) {
            guard let count = counts[key] else { return }
            counts[key] = count > 1 ? count - 1 : nil
        }

        /// The latest transactions, newest last, one line each, for the case.
        func samples(_ count: Int) -> [String] {
            entries[max(head, entries.count - count)...].map(Self.line)
        }

        static func line(_ entry: SMTPLogEntry) -> String {
            "\(entry.time.formatted(.iso8601)) to \(entry.destination):\(entry.destinationPort) from <\(entry.sender)>: "
                + "\(entry.recipientCount) accepted, \(entry.recipientsRefusedByUpstream) refused"
                + (entry.recipientDomains.isEmpty ? "" : " (\(entry.recipientDomains.prefix(5).joined(separator: ", "))"
                                                          + (entry.recipientDomains.count > 5 ? ", ..." : "") + ")")
                + ", \(entry.verdict.rawValue)" + (entry.upstreamReply.map { " \($0.code)" } ?? "")
        }
    }

    private var windows: [VMID: VMWindow] = [:]

    public init(thresholds: SMTPAbuseThresholds = .init()) {
        self.thresholds = thresholds
    }

    func window(of vm: VMID) -> VMWindow? { windows[vm] }

    public mutating func observe(_ entry: SMTPLogEntry) -> [SMTPAbuseFinding] {
        let now = entry.time
        let start = now.addingTimeInterval(-thresholds.window.timeInterval)
        var window = windows.removeValue(forKey: entry.vm) ?? VMWindow()  // mutated in place, not copied
        defer { windows[entry.vm] = window }
        window.expire(before: start)
        window.add(entry)

        let accepted = window.accepted
        let refused = window.refused
        let period = thresholds.window.description
        var crossed: [(AbuseSignal, String)] = []
        if accepted > thresholds.recipients {
            crossed.append((.smtpRecipients, "\(accepted) recipients accepted in \(period) (threshold \(thresholds.recipients))"))
        }
        if refused >= thresholds.minimumRejected, Double(refused) / Double(max(1, refused + accepted)) >= thresholds.rejectedRatio {
            let share = Int((Double(refused) * 100 / Double(refused + accepted)).rounded())
            crossed.append((.smtpRejections, "\(refused) of \(refused + accepted) recipients (\(share)%) refused by the receiving servers in \(period)"))
        }
        if window.domains.count > thresholds.domains {
            crossed.append((.smtpDomains, "\(window.domains.count) distinct recipient domains in \(period) (threshold \(thresholds.domains))"))
        }
        if window.destinations.count > thresholds.destinations {
            crossed.append((.smtpDestinations, "\(window.destinations.count) distinct mail servers in \(period) (threshold \(thresholds.destinations))"))
        }
        var findings: [SMTPAbuseFinding] = []
        for (signal, summary) in crossed {
            if let last = window.reported[signal], last > start { continue }
            window.reported[signal] = now
            findings.append(SMTPAbuseFinding(signal: signal, vm: entry.vm, summary: summary, samples: window.samples(10)))
        }
        return findings
    }

    /// Forgets VMs with nothing in the window (call now and then to bound memory).
    public mutating func prune(at now: Date) {
        let start = now.addingTimeInterval(-thresholds.window.timeInterval)
        windows = windows.filter { _, window in
            (window.newest.map { $0.time > start } ?? false) || window.reported.values.contains { $0 > start }
        }
    }
}
