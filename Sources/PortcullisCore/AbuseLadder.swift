import Foundation

/// What a detector saw a VM do. The ladder decides what that earns.
public enum AbuseSignal: String, Hashable, Sendable, Codable, CaseIterable {
    /// Many ports of one host (vertical) or one port of many hosts (horizontal), first contacts only.
    case portScan = "port_scan"
    /// TCP SYNs at a rate no client makes (an outbound SYN flood).
    case synFlood = "syn_flood"
    /// Traffic from addresses the VM does not own (the anti-spoofing drops).
    case spoofing
    /// More recipients through the relay than a tenant's own mail server plausibly sends.
    case smtpRecipients = "smtp_recipients"
    /// Many recipients refused by the receiving servers (guessed or harvested addresses).
    case smtpRejections = "smtp_rejections"
    /// Mail to very many distinct recipient domains.
    case smtpDomains = "smtp_domains"
    /// Connections to very many distinct mail servers.
    case smtpDestinations = "smtp_destinations"
    /// Attempts to reach 25/465/587 while restricted, far beyond a misconfigured client's retries.
    case restrictedSMTPAttempts = "restricted_smtp_attempts"
}

extension AbuseSignal {
    /// The mail signals, answered by blocking the mail ports rather than all traffic.
    public var isAboutMail: Bool { ![.portScan, .synFlood, .spoofing].contains(self) }
    /// Who a filter placed for this signal names as its author (`placed_by`).
    public var detector: String { "detector:\(rawValue)" }

    /// SMTP, submission with implicit TLS, and submission: what "block SMTP" closes.
    public static let mailPorts: [Port] = [Port(25)!, Port(465)!, Port(587)!]
}

/// The rungs of the response ladder, mildest first.
public enum AbuseResponse: String, Hashable, Sendable, Codable, CaseIterable, Comparable {
    /// Open or extend a case; no traffic is touched.
    case observe
    /// Slow the VM down: new outbound connections and UDP packets over `abuse.throttle`'s rates are dropped.
    case throttle
    /// Block the protocol/port the signal is about (SMTP for spam, everything new outbound for scans).
    case blockPort = "block_port"
    /// All outbound traffic blocked (an operator allowlist of destinations may stay open).
    case quarantine
    /// All traffic, both directions: the provider's response to spoofing.
    case suspend

    public static func < (lhs: Self, rhs: Self) -> Bool {
        allCases.firstIndex(of: lhs)! < allCases.firstIndex(of: rhs)!
    }
}

/// How one signal is answered: the response, and how long it lasts as offences repeat.
public struct AbuseRung: Hashable, Sendable, Codable {
    public let response: AbuseResponse
    /// The first offence's filter lasts this long; each repeat doubles it, up to `maxDuration`.
    public let baseDuration: PolicyDuration
    public let maxDuration: PolicyDuration
    /// One offence is forgiven for each `decay` without a new one, so an old incident does not
    /// make a VM's next filter a long one forever.
    public let decay: PolicyDuration

    public init(response: AbuseResponse, baseDuration: PolicyDuration, maxDuration: PolicyDuration, decay: PolicyDuration) {
        self.response = response
        self.baseDuration = baseDuration
        self.maxDuration = maxDuration
        self.decay = decay
    }
}

/// A VM's offences for one signal, as the ladder remembers them.
public struct OffenceHistory: Hashable, Sendable, Codable {
    public var count: Int
    public var lastAt: Date

    public init(count: Int, lastAt: Date) {
        self.count = count
        self.lastAt = lastAt
    }

    /// The count after forgiving one offence per full `decay` since the last one.
    public func decayed(at now: Date, decay: PolicyDuration) -> Int {
        guard decay.seconds > 0 else { return count }
        let periods = Int(max(0, now.timeIntervalSince(lastAt)) / decay.timeInterval)
        return max(0, count - periods)
    }
}

/// What the ladder decided for one detection.
public struct AbuseDecision: Hashable, Sendable {
    public let signal: AbuseSignal
    public let vm: VMID
    public let response: AbuseResponse
    /// How long the filter lasts (nil for `observe`).
    public let duration: PolicyDuration?
    /// Which offence this is, after decay (1 = first).
    public let offence: Int
    /// Why the ladder held back, when it did (allowlisted VM or tenant).
    public let heldBack: String?
    public let history: OffenceHistory
}

/// The response ladder. Pure: the same history, detection and time give the same decision,
/// which is what its tests pin down with a fixed clock; the daemon keeps the histories.
public struct AbuseLadder: Hashable, Sendable {
    public let rungs: [AbuseSignal: AbuseRung]
    /// Never filtered automatically (the provider's own VMs, a tenant under contract...):
    /// detections still open cases for an operator to look at.
    public let allowedVMs: Set<VMID>
    public let allowedTenants: Set<TenantID>

    public init(rungs: [AbuseSignal: AbuseRung] = AbuseLadder.defaultRungs, allowedVMs: Set<VMID> = [],
                allowedTenants: Set<TenantID> = []) {
        self.rungs = rungs
        self.allowedVMs = allowedVMs
        self.allowedTenants = allowedTenants
    }

    /// Defaults: scans and spam block what they abuse for 15 minutes, doubling per repeat up
    /// to a day, one offence forgiven per day clean; spoofing suspends (the seed provider's
    /// published response) for an hour, doubling up to a week, forgiven per week.
    public static let defaultRungs: [AbuseSignal: AbuseRung] = [
        .portScan: AbuseRung(response: .blockPort, baseDuration: .init(seconds: 900), maxDuration: .init(seconds: 86_400),
                             decay: .init(seconds: 86_400)),
        .synFlood: AbuseRung(response: .blockPort, baseDuration: .init(seconds: 900), maxDuration: .init(seconds: 86_400),
                             decay: .init(seconds: 86_400)),
        .smtpRecipients: smtpRung,
        .smtpRejections: smtpRung,
        .smtpDomains: smtpRung,
        .smtpDestinations: smtpRung,
        .restrictedSMTPAttempts: AbuseRung(response: .observe, baseDuration: .init(seconds: 900), maxDuration: .init(seconds: 86_400),
                                           decay: .init(seconds: 86_400)),
        .spoofing: AbuseRung(response: .suspend, baseDuration: .init(seconds: 3600), maxDuration: .init(seconds: 7 * 86_400),
                             decay: .init(seconds: 7 * 86_400)),
    ]

    /// Spam: mail blocked for an hour, doubling up to a week, one offence forgiven per day.
    static let smtpRung = AbuseRung(response: .blockPort, baseDuration: .init(seconds: 3600),
                                    maxDuration: .init(seconds: 7 * 86_400), decay: .init(seconds: 86_400))

    public func decide(_ signal: AbuseSignal, vm: VMID, tenant: TenantID, history: OffenceHistory?, now: Date) -> AbuseDecision {
        let rung = rungs[signal] ?? AbuseRung(response: .observe, baseDuration: .init(seconds: 60), maxDuration: .init(seconds: 60),
                                                decay: .init(seconds: 86_400))
        let previous = history?.decayed(at: now, decay: rung.decay) ?? 0
        let updated = OffenceHistory(count: previous + 1, lastAt: now)
        let heldBack = allowedVMs.contains(vm) ? "VM \(vm) is allowlisted"
            : allowedTenants.contains(tenant) ? "tenant \(tenant) is allowlisted" : nil
        guard heldBack == nil, rung.response != .observe else {
            return AbuseDecision(signal: signal, vm: vm, response: .observe, duration: nil, offence: updated.count,
                                 heldBack: heldBack, history: updated)
        }
        // base × 2^(offences before this one), capped; computed without overflow.
        var seconds = rung.baseDuration.seconds
        for _ in 0..<min(previous, 62) where seconds < rung.maxDuration.seconds { seconds *= 2 }
        let duration = PolicyDuration(seconds: min(seconds, rung.maxDuration.seconds))
        return AbuseDecision(signal: signal, vm: vm, response: rung.response, duration: duration, offence: updated.count,
                             heldBack: nil, history: updated)
    }
}
