/// The restrictions a site publishes to its tenants, as the operator configured them.
/// The restricted port list is policy, not code: providers change it (25 → 25/465/587).
public struct SitePolicy: Hashable, Sendable, Codable {
    public let site: String
    /// A VM with at least one IPv4 address inside these ranges has a public IPv4.
    public let publicIPv4: [IPv4Network]
    /// Egress TCP ports closed to VMs without a public IPv4.
    public let restrictedTCPPorts: PortSet
    public let exemptions: ExemptionPolicy
    /// Port 25 of the VMs that are not restricted: relayed, refused or passed.
    public let smtp: SMTPInterception
    /// Port-scan detection in the kernel; nil: off.
    public let scanDetection: ScanDetection?
    /// What a quarantined VM may still reach (`abuse.quarantine_allow`).
    public let quarantineAllow: [QuarantineDestination]
    /// The rates a throttled VM keeps (`abuse.throttle`).
    public let throttle: ThrottleRates

    public init(site: String, publicIPv4: [IPv4Network], restrictedTCPPorts: PortSet, exemptions: ExemptionPolicy = .init(),
                smtp: SMTPInterception = .init(), scanDetection: ScanDetection? = ScanDetection(),
                quarantineAllow: [QuarantineDestination] = [], throttle: ThrottleRates = ThrottleRates()) {
        self.site = site
        self.publicIPv4 = publicIPv4
        self.restrictedTCPPorts = restrictedTCPPorts
        self.exemptions = exemptions
        self.smtp = smtp
        self.scanDetection = scanDetection
        self.quarantineAllow = quarantineAllow
        self.throttle = throttle
    }

    /// The same policy with port 25 handled another way: what the engine enforces while the
    /// kernel refuses the interception rules (`.block`, fail closed).
    public func with(smtpMode mode: SMTPMode) -> SitePolicy {
        SitePolicy(site: site, publicIPv4: publicIPv4, restrictedTCPPorts: restrictedTCPPorts, exemptions: exemptions,
                   smtp: SMTPInterception(mode: mode, listenPort: smtp.listenPort), scanDetection: scanDetection,
                   quarantineAllow: quarantineAllow, throttle: throttle)
    }

    public func accessType(of vm: VM) -> AccessType {
        vm.ipv4.contains { address in publicIPv4.contains { $0.contains(address) } } ? .publicIPv4 : .restricted
    }
}

/// Whether this site lets operators open restricted ports for a VM, and for how long.
public struct ExemptionPolicy: Hashable, Sendable, Codable {
    public let allowed: Bool
    public let defaultDuration: PolicyDuration
    public let maxDuration: PolicyDuration

    public init(allowed: Bool = true, defaultDuration: PolicyDuration = .init(seconds: 30 * 86_400),
                maxDuration: PolicyDuration = .init(seconds: 365 * 86_400)) {
        self.allowed = allowed
        self.defaultDuration = defaultDuration
        self.maxDuration = maxDuration
    }

    enum CodingKeys: String, CodingKey, CaseIterable {
        case allowed
        case defaultDuration = "default_duration"
        case maxDuration = "max_duration"
    }

    public init(from decoder: any Decoder) throws {
        try refuseUnknownKeys(in: decoder, known: CodingKeys.self, section: "exemptions")
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let defaults = ExemptionPolicy()
        allowed = try c.decodeIfPresent(Bool.self, forKey: .allowed) ?? defaults.allowed
        defaultDuration = try c.decodeIfPresent(PolicyDuration.self, forKey: .defaultDuration) ?? defaults.defaultDuration
        maxDuration = try c.decodeIfPresent(PolicyDuration.self, forKey: .maxDuration) ?? defaults.maxDuration
        guard defaultDuration.seconds <= maxDuration.seconds else {
            throw ValidationError(field: "exemptions.default_duration", value: defaultDuration.description,
                                  problem: "longer than exemptions.max_duration (\(maxDuration))")
        }
    }
}

/// Derived, never stored: a VM's access type follows from its addresses and the site policy.
public enum AccessType: String, Hashable, Sendable, Codable {
    /// Has a public IPv4: no port restrictions.
    case publicIPv4 = "public"
    /// No public IPv4: restricted ports are closed on IPv4 and IPv6 alike.
    case restricted
}
