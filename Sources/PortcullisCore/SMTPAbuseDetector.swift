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
/// records carry their own times, so tests drive it with any clock. Memory is bounded by what
/// the relay's own limits let through in one window.
public struct SMTPAbuseDetector: Sendable {
    public let thresholds: SMTPAbuseThresholds

    struct Record: Sendable {
        let time: Date
        let accepted: Int
        let refused: Int
        let domains: [String]
        let destination: String
        let line: String
    }

    private var records: [VMID: [Record]] = [:]
    private var reported: [VMID: [AbuseSignal: Date]] = [:]

    public init(thresholds: SMTPAbuseThresholds = .init()) {
        self.thresholds = thresholds
    }

    public mutating func observe(_ entry: SMTPLogEntry) -> [SMTPAbuseFinding] {
        let now = entry.time
        let start = now.addingTimeInterval(-thresholds.window.timeInterval)
        let line = "\(entry.time.formatted(.iso8601)) to \(entry.destination):\(entry.destinationPort) from <\(entry.sender)>: "
            + "\(entry.recipientCount) accepted, \(entry.recipientsRefusedByUpstream) refused"
            + (entry.recipientDomains.isEmpty ? "" : " (\(entry.recipientDomains.prefix(5).joined(separator: ", "))"
                                                      + (entry.recipientDomains.count > 5 ? ", ..." : "") + ")")
            + ", \(entry.verdict.rawValue)" + (entry.upstreamReply.map { " \($0.code)" } ?? "")
        var window = records[entry.vm, default: []].drop { $0.time <= start }.map { $0 }
        window.append(Record(time: now, accepted: entry.recipientCount, refused: entry.recipientsRefusedByUpstream,
                             domains: entry.recipientDomains, destination: entry.destination.description, line: line))
        records[entry.vm] = window

        let accepted = window.reduce(0) { $0 + $1.accepted }
        let refused = window.reduce(0) { $0 + $1.refused }
        let domains = Set(window.flatMap(\.domains)).count
        let destinations = Set(window.map(\.destination)).count
        let period = thresholds.window.description
        var crossed: [(AbuseSignal, String)] = []
        if accepted > thresholds.recipients {
            crossed.append((.smtpRecipients, "\(accepted) recipients accepted in \(period) (threshold \(thresholds.recipients))"))
        }
        if refused >= thresholds.minimumRejected, Double(refused) / Double(max(1, refused + accepted)) >= thresholds.rejectedRatio {
            let share = Int((Double(refused) * 100 / Double(refused + accepted)).rounded())
            crossed.append((.smtpRejections, "\(refused) of \(refused + accepted) recipients (\(share)%) refused by the receiving servers in \(period)"))
        }
        if domains > thresholds.domains {
            crossed.append((.smtpDomains, "\(domains) distinct recipient domains in \(period) (threshold \(thresholds.domains))"))
        }
        if destinations > thresholds.destinations {
            crossed.append((.smtpDestinations, "\(destinations) distinct mail servers in \(period) (threshold \(thresholds.destinations))"))
        }
        var findings: [SMTPAbuseFinding] = []
        for (signal, summary) in crossed {
            if let last = reported[entry.vm]?[signal], last > start { continue }
            reported[entry.vm, default: [:]][signal] = now
            findings.append(SMTPAbuseFinding(signal: signal, vm: entry.vm, summary: summary, samples: window.suffix(10).map(\.line)))
        }
        return findings
    }

    /// Forgets VMs with nothing in the window (call now and then to bound memory).
    public mutating func prune(at now: Date) {
        let start = now.addingTimeInterval(-thresholds.window.timeInterval)
        records = records.filter { $0.value.last.map { $0.time > start } ?? false }
        reported = reported.filter { $0.value.values.contains { $0 > start } }
    }
}
