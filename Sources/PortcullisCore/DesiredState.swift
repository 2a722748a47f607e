import Foundation

/// Everything the kernel should enforce, at one instant. The compiler turns this into a
/// ruleset; the reconciler keeps the kernel equal to it.
public struct DesiredState: Hashable, Sendable {
    public let policy: SitePolicy
    public let vms: [VM]
    /// Only exemptions still active at `now`.
    public let exemptions: [Exemption]
    /// Only filters still active at `now`.
    public let filters: [Filter]
    public let now: Date
    /// The MAC address of each bridge the VMs are ports of, as the host reports it now.
    /// A bridge whose address is unknown (missing, not a bridge) is simply absent.
    public let bridgeMACs: [InterfaceName: MACAddress]

    public init(policy: SitePolicy, vms: [VM], exemptions: [Exemption], filters: [Filter] = [], now: Date,
                bridgeMACs: [InterfaceName: MACAddress] = [:]) {
        self.policy = policy
        self.bridgeMACs = bridgeMACs
        self.vms = vms.sorted { $0.id < $1.id }
        self.exemptions = exemptions.filter { $0.isActive(at: now) }.sorted { $0.id < $1.id }
        self.filters = filters.filter { $0.isActive(at: now) }.sorted { $0.id < $1.id }
        self.now = now
    }

    public func vm(_ id: VMID) -> VM? { vms.first { $0.id == id } }

    public func exemptions(for vm: VMID) -> [Exemption] { exemptions.filter { $0.vm == vm } }

    public func filters(for vm: VMID) -> [Filter] { filters.filter { $0.vm == vm } }
}
