import Foundation

/// The transport protocol of an egress flow.
public enum TransportProtocol: String, Hashable, Sendable, Codable, CaseIterable {
    case tcp, udp
}

/// One egress connection attempt, as a tenant would ask about it.
public struct Flow: Hashable, Sendable {
    public let transport: TransportProtocol
    public let port: Port

    public init(transport: TransportProtocol, port: Port) {
        self.transport = transport
        self.port = port
    }
}

/// What the kernel does with a flow, and which rule decides it.
public struct Verdict: Hashable, Sendable, Codable {
    public enum Decision: String, Hashable, Sendable, Codable {
        case allowed
        case rejected
    }

    public let decision: Decision
    /// The rule (in the words of the generated ruleset) that decides this flow.
    public let rule: String
    public let reason: String
    /// The exemption that opens the port, when one does.
    public let exemption: Exemption?
}

/// The single decision function: the compiler emits rules that implement exactly this,
/// and explain/plan answer tenants with it.
public func verdict(for vm: VM, flow: Flow, in state: DesiredState) -> Verdict {
    let policy = state.policy
    if policy.accessType(of: vm) == .publicIPv4 {
        return Verdict(decision: .allowed, rule: "no rule: \(vm.interface) is not in set restricted",
                       reason: "VM \(vm.id) has a public IPv4 address, so no egress ports are restricted", exemption: nil)
    }
    guard flow.transport == .tcp, policy.restrictedTCPPorts.contains(flow.port) else {
        return Verdict(decision: .allowed, rule: "no rule: \(flow.transport) port \(flow.port) is not restricted",
                       reason: "\(flow.transport.rawValue.uppercased()) port \(flow.port) is open to every VM at site \(policy.site)", exemption: nil)
    }
    if let exemption = state.exemptions(for: vm.id).first(where: { $0.ports.contains(flow.port) }) {
        return Verdict(decision: .allowed, rule: "set exempt contains \"\(vm.interface)\" . \(flow.port)",
                       reason: "exemption \(exemption.id) opens port \(flow.port) until \(iso8601(exemption.expiresAt))", exemption: exemption)
    }
    let ports = policy.restrictedTCPPorts.ports.map(\.description).joined(separator: ", ")
    return Verdict(
        decision: .rejected,
        rule: vm.bridge == nil
            ? "inet forward: iifname @restricted tcp dport { \(ports) } goto restricted_port -> reject with tcp reset"
            : "bridge prerouting: iifname @restricted tcp dport { \(ports) } goto restricted_divert -> handed to the host -> reject with tcp reset",
        reason: "VM \(vm.id) has no public IPv4 address; TCP connections to ports \(policy.restrictedTCPPorts) are refused on IPv4 and IPv6",
        exemption: nil
    )
}

func iso8601(_ date: Date) -> String {
    date.formatted(.iso8601)
}
