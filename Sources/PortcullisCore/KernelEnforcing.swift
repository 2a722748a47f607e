import Foundation

/// What the policy engine needs from the kernel side. The daemon plugs in the libnftables
/// enforcer; API tests plug in a fake, so the HTTP layer is tested without root.
public protocol KernelEnforcing: Sendable {
    /// Loads `state` as one transaction; throws (and changes nothing) if the kernel refuses.
    ///
    /// `changed` names the VMs whose registration or exemptions differ from the state last
    /// applied (nil: unknown, compare everything). Naming them lets the enforcer touch only
    /// those VMs' set elements, so a change costs the same at 10 VMs and at 10,000.
    func apply(_ state: DesiredState, changed: Set<VMID>?) async throws
    /// Checks the kernel against `state` and repairs drift; returns what was wrong, if anything.
    /// `changed` as for `apply`.
    func reconcile(_ state: DesiredState, changed: Set<VMID>?, deep: Bool) async throws -> String?
    /// The full ruleset as last loaded.
    func listing() async -> String?
    /// Prometheus samples keyed by interface name (the engine maps them to VMs).
    func samples() async -> KernelSamples
    /// The port-scan detector's memory of one interface: each host and port it opened a TCP
    /// connection to within the window, with when it last tried. Evidence for a scan case.
    func firstContacts(interface: String) async -> [FirstContact]
    /// How full the detector's dynamic sets are: a full set silently stops adding.
    func dynamicSetFill() async -> [SetFill]
    /// Drops what the scan and SYN-flood detectors remember of one interface (first contacts,
    /// meters over budget), so an operator's lift starts the VM afresh; returns how many
    /// elements went.
    func forgetDetectorState(interface: String) async -> Int
}

extension KernelEnforcing {
    public func firstContacts(interface: String) async -> [FirstContact] { [] }
    public func dynamicSetFill() async -> [SetFill] { [] }
    public func forgetDetectorState(interface: String) async -> Int { 0 }
}

/// Elements in one dynamic set of one table, against its size.
public struct SetFill: Hashable, Sendable {
    public let family: String
    public let set: String
    public let elements: Int
    public let size: Int

    public init(family: String, set: String, elements: Int, size: Int) {
        self.family = family
        self.set = set
        self.elements = elements
        self.size = size
    }
}

/// A TCP first contact the kernel remembers (see `ScanDetection`).
public struct FirstContact: Hashable, Sendable {
    public let address: String
    public let port: Int
    /// When the VM last sent a SYN to it (to the second).
    public let lastSeen: Date

    public init(address: String, port: Int, lastSeen: Date) {
        self.address = address
        self.port = port
        self.lastSeen = lastSeen
    }
}

public struct KernelSamples: Sendable {
    public struct Drop: Sendable {
        public let interface: String
        public let kind: String
        public let packets: Int
        public init(interface: String, kind: String, packets: Int) {
            self.interface = interface
            self.kind = kind
            self.packets = packets
        }
    }

    public struct Rejected: Sendable {
        public let interface: String
        public let port: Int
        public let packets: Int
        public init(interface: String, port: Int, packets: Int) {
            self.interface = interface
            self.port = port
            self.packets = packets
        }
    }

    public var drops: [Drop]
    public var rejected: [Rejected]
    public var applies: [String: Int]
    public var applySeconds: [String: Double]
    public var failures: Int
    public var repairs: Int
    /// Full replaces that had to be loaded as text because the set elements could not be
    /// spliced into libnftables' transaction (slower, same result).
    public var textReplaces: Int

    public init(drops: [Drop] = [], rejected: [Rejected] = [], applies: [String: Int] = [:],
                applySeconds: [String: Double] = [:], failures: Int = 0, repairs: Int = 0, textReplaces: Int = 0) {
        self.drops = drops
        self.rejected = rejected
        self.applies = applies
        self.applySeconds = applySeconds
        self.failures = failures
        self.repairs = repairs
        self.textReplaces = textReplaces
    }
}
