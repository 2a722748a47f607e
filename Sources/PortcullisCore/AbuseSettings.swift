/// The `abuse:` section of the site configuration: what the kernel watches for, and the
/// response ladder the daemon climbs when it sees it.
public struct AbuseSettings: Sendable, Hashable, Decodable {
    /// Port-scan detection; nil when `port_scan.enabled` is false.
    public let scanDetection: ScanDetection?
    /// Spoofed packets (anti-spoofing drops of the kinds in `spoofKinds`) a VM may send within
    /// `counterInterval` before it is a spoofing offence. A few stray packets happen (a VM
    /// booting before its addresses are set); a stream does not.
    public let spoofedPackets: Int
    /// Refused attempts at restricted ports within `counterInterval` that make an offence
    /// (observed by default: a misconfigured MTA retries forever, a spam tool much faster).
    public let restrictedAttempts: Int
    /// How often the daemon reads the kernel's counters for these two signals.
    public let counterInterval: PolicyDuration
    public let ladder: AbuseLadder
    /// Spam signals from the SMTP relay's transaction records; nil when `smtp.enabled` is false.
    public let smtp: SMTPAbuseThresholds?
    /// Destinations a quarantined VM may still reach (`quarantine` response).
    public let quarantineAllow: [QuarantineDestination]
    /// What a throttled VM keeps (`throttle` response).
    public let throttle: ThrottleRates

    public init(scanDetection: ScanDetection? = ScanDetection(), spoofedPackets: Int = 10, restrictedAttempts: Int = 100,
                counterInterval: PolicyDuration = .init(seconds: 2), ladder: AbuseLadder = AbuseLadder(),
                smtp: SMTPAbuseThresholds? = SMTPAbuseThresholds(), quarantineAllow: [QuarantineDestination] = [],
                throttle: ThrottleRates = ThrottleRates()) {
        self.scanDetection = scanDetection
        self.quarantineAllow = quarantineAllow
        self.throttle = throttle
        self.smtp = smtp
        self.spoofedPackets = spoofedPackets
        self.restrictedAttempts = restrictedAttempts
        self.counterInterval = counterInterval
        self.ladder = ladder
    }

    /// The anti-spoofing drop kinds that count as spoofing (not DHCP/RA/ethertype policy drops).
    public static let spoofKinds: Set<String> = ["mac_source", "ipv4_source", "ipv6_source", "arp_mac", "arp_ip", "nd_target"]

    enum CodingKeys: String, CodingKey, CaseIterable {
        case responses, allowlist, smtp, throttle
        case quarantineAllow = "quarantine_allow"
        case portScan = "port_scan"
        case spoofedPackets = "spoofed_packets"
        case restrictedAttempts = "restricted_attempts"
        case counterInterval = "counter_interval"
    }

    struct PortScanSection: Decodable {
        let detection: ScanDetection?
        enum CodingKeys: String, CodingKey, CaseIterable {
            case enabled, window
            case portsPerHost = "ports_per_host"
            case hostsPerPort = "hosts_per_port"
            case nflogGroup = "nflog_group"
            case synFloodPerSecond = "syn_flood_per_second"
        }
        init(from decoder: any Decoder) throws {
            try refuseUnknownKeys(in: decoder, known: CodingKeys.self, section: "abuse.port_scan")
            let c = try decoder.container(keyedBy: CodingKeys.self)
            guard try c.decodeIfPresent(Bool.self, forKey: .enabled) ?? true else {
                detection = nil
                return
            }
            let d = ScanDetection()
            func count(_ key: CodingKeys, _ fallback: Int) throws -> Int {
                try c.decodeNumberIfPresent(key, in: 1...100_000, section: "abuse.port_scan") ?? fallback
            }
            let group = try c.decodeNumberIfPresent(.nflogGroup, in: 1...65_535, section: "abuse.port_scan") ?? Int(d.nflogGroup)
            detection = ScanDetection(portsPerHost: try count(.portsPerHost, d.portsPerHost),
                                      hostsPerPort: try count(.hostsPerPort, d.hostsPerPort),
                                      window: try c.decodeIfPresent(PolicyDuration.self, forKey: .window) ?? d.window,
                                      nflogGroup: UInt16(group),
                                      synFloodPerSecond: try c.decodeNumberIfPresent(.synFloodPerSecond, in: 10...10_000_000,
                                                                                     section: "abuse.port_scan") ?? d.synFloodPerSecond)
        }
    }

    struct ThrottleSection: Decodable {
        let rates: ThrottleRates
        enum CodingKeys: String, CodingKey, CaseIterable {
            case connectionsPerMinute = "connections_per_minute"
            case udpPacketsPerSecond = "udp_packets_per_second"
        }
        init(from decoder: any Decoder) throws {
            try refuseUnknownKeys(in: decoder, known: CodingKeys.self, section: "abuse.throttle")
            let c = try decoder.container(keyedBy: CodingKeys.self)
            let d = ThrottleRates()
            rates = ThrottleRates(
                connectionsPerMinute: try c.decodeNumberIfPresent(.connectionsPerMinute, in: 1...1_000_000, section: "abuse.throttle")
                    ?? d.connectionsPerMinute,
                udpPacketsPerSecond: try c.decodeNumberIfPresent(.udpPacketsPerSecond, in: 1...1_000_000, section: "abuse.throttle")
                    ?? d.udpPacketsPerSecond)
        }
    }

    struct SMTPSection: Decodable {
        let thresholds: SMTPAbuseThresholds?
        enum CodingKeys: String, CodingKey, CaseIterable {
            case enabled, window, recipients, domains, destinations
            case rejectedRatio = "rejected_ratio"
            case minimumRejected = "minimum_rejected"
        }
        init(from decoder: any Decoder) throws {
            try refuseUnknownKeys(in: decoder, known: CodingKeys.self, section: "abuse.smtp")
            let c = try decoder.container(keyedBy: CodingKeys.self)
            guard try c.decodeIfPresent(Bool.self, forKey: .enabled) ?? true else {
                thresholds = nil
                return
            }
            let d = SMTPAbuseThresholds()
            let ratio = try c.decodeIfPresent(Double.self, forKey: .rejectedRatio) ?? d.rejectedRatio
            guard ratio > 0, ratio <= 1 else {
                throw ValidationError(field: "abuse.smtp.rejected_ratio", value: String(ratio), problem: "expected a share above 0 and at most 1, e.g. 0.3")
            }
            func count(_ key: CodingKeys, _ fallback: Int) throws -> Int {
                try c.decodeNumberIfPresent(key, in: 1...10_000_000, section: "abuse.smtp") ?? fallback
            }
            thresholds = SMTPAbuseThresholds(window: try c.decodeIfPresent(PolicyDuration.self, forKey: .window) ?? d.window,
                                             recipients: try count(.recipients, d.recipients), rejectedRatio: ratio,
                                             minimumRejected: try count(.minimumRejected, d.minimumRejected),
                                             domains: try count(.domains, d.domains),
                                             destinations: try count(.destinations, d.destinations))
        }
    }

    struct RungSection: Decodable {
        let rung: AbuseRung
        enum CodingKeys: String, CodingKey, CaseIterable { case response, base, max, decay }
        init(from decoder: any Decoder) throws {
            try refuseUnknownKeys(in: decoder, known: CodingKeys.self, section: "abuse.responses")
            let c = try decoder.container(keyedBy: CodingKeys.self)
            let field = (decoder.codingPath.map(\.stringValue)).joined(separator: ".")
            let defaults = AbuseLadder.defaultRungs[AbuseSignal(rawValue: decoder.codingPath.last?.stringValue ?? "") ?? .portScan]!
            var response = defaults.response
            if let text = try c.decodeIfPresent(String.self, forKey: .response) {
                guard let parsed = AbuseResponse(rawValue: text) else {
                    throw ValidationError(field: "\(field).response", value: text,
                                          problem: "expected one of \(AbuseResponse.allCases.map(\.rawValue).joined(separator: ", "))")
                }
                response = parsed
            }
            let base = try c.decodeIfPresent(PolicyDuration.self, forKey: .base) ?? defaults.baseDuration
            let max = try c.decodeIfPresent(PolicyDuration.self, forKey: .max) ?? defaults.maxDuration
            guard base.seconds <= max.seconds, max.seconds <= FilterRequest.maxDuration.seconds else {
                throw ValidationError(field: "\(field).max", value: max.description,
                                      problem: "must be at least base (\(base)) and at most \(FilterRequest.maxDuration)")
            }
            rung = AbuseRung(response: response, baseDuration: base, maxDuration: max,
                             decay: try c.decodeIfPresent(PolicyDuration.self, forKey: .decay) ?? defaults.decay)
        }
    }

    struct AllowlistSection: Decodable {
        let vms: [VMID]
        let tenants: [TenantID]
        enum CodingKeys: String, CodingKey, CaseIterable { case vms, tenants }
        init(from decoder: any Decoder) throws {
            try refuseUnknownKeys(in: decoder, known: CodingKeys.self, section: "abuse.allowlist")
            let c = try decoder.container(keyedBy: CodingKeys.self)
            vms = try (c.decodeIfPresent([String].self, forKey: .vms) ?? []).map { text throws in try VMID(parsing: text) }
            tenants = try (c.decodeIfPresent([String].self, forKey: .tenants) ?? []).map { text throws in try TenantID(parsing: text) }
        }
    }

    public init(from decoder: any Decoder) throws {
        try refuseUnknownKeys(in: decoder, known: CodingKeys.self, section: "abuse")
        let c = try decoder.container(keyedBy: CodingKeys.self)
        scanDetection = try c.decodeIfPresent(PortScanSection.self, forKey: .portScan).map(\.detection) ?? ScanDetection()
        var rungs = AbuseLadder.defaultRungs
        if let responses = try c.decodeIfPresent([String: RungSection].self, forKey: .responses) {
            for (name, section) in responses {
                guard let signal = AbuseSignal(rawValue: name) else {
                    throw ValidationError(field: "abuse.responses.\(name)", value: name,
                                          problem: "unknown signal; known: \(AbuseSignal.allCases.map(\.rawValue).joined(separator: ", "))")
                }
                rungs[signal] = section.rung
            }
        }
        let defaults = AbuseSettings()
        spoofedPackets = try c.decodePositive(.spoofedPackets, section: "abuse", default: defaults.spoofedPackets)
        restrictedAttempts = try c.decodePositive(.restrictedAttempts, section: "abuse", default: defaults.restrictedAttempts)
        counterInterval = try c.decodeIfPresent(PolicyDuration.self, forKey: .counterInterval) ?? defaults.counterInterval
        quarantineAllow = try c.decodeIfPresent([QuarantineDestination].self, forKey: .quarantineAllow) ?? []
        throttle = try c.decodeIfPresent(ThrottleSection.self, forKey: .throttle)?.rates ?? ThrottleRates()
        smtp = try c.decodeIfPresent(SMTPSection.self, forKey: .smtp).map(\.thresholds) ?? SMTPAbuseThresholds()
        let allow = try c.decodeIfPresent(AllowlistSection.self, forKey: .allowlist)
        ladder = AbuseLadder(rungs: rungs, allowedVMs: Set(allow?.vms ?? []), allowedTenants: Set(allow?.tenants ?? []))
    }
}
