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
        /// Allowed, through the transparent SMTP relay (its limits apply).
        case proxied
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
    let restricted = policy.accessType(of: vm) == .restricted
    let exemption = state.exemptions(for: vm.id).first { $0.ports.contains(flow.port) }
    if restricted, flow.transport == .tcp, policy.restrictedTCPPorts.contains(flow.port), exemption == nil {
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
    let opened = exemption.map { " (exemption \($0.id) opens it until \(iso8601($0.expiresAt)))" } ?? ""
    if flow.transport == .tcp, flow.port == SMTPInterception.port {
        switch policy.smtp.mode {
        case .block:
            return Verdict(decision: .rejected, rule: "smtp mode block: tcp dport 25 from every VM -> reject with tcp reset",
                           reason: "site \(policy.site) does not allow outbound SMTP on port 25 from any VM\(opened)", exemption: exemption)
        case .proxy:
            if let bridge = vm.bridge, state.bridgeMACs[bridge] == nil {
                return Verdict(decision: .rejected, rule: "bridge divert: tcp dport 25 iifname @vm_ports goto drop_smtp_undiverted",
                               reason: "bridge \(bridge) has no readable address on this host, so port 25 cannot be handed to the SMTP relay and is dropped",
                               exemption: exemption)
            }
            return Verdict(decision: .proxied,
                           rule: "inet smtp: tcp dport 25 -> tproxy to :\(policy.smtp.listenPort) (the transparent SMTP relay)",
                           reason: "port 25 goes through the site's transparent SMTP relay, which connects with the VM's own address and applies per-VM limits\(opened)",
                           exemption: exemption)
        case .allow:
            break
        }
    }
    if let exemption, restricted, flow.transport == .tcp, policy.restrictedTCPPorts.contains(flow.port) {
        return Verdict(decision: .allowed, rule: "set exempt contains \"\(vm.interface)\" . \(flow.port)",
                       reason: "exemption \(exemption.id) opens port \(flow.port) until \(iso8601(exemption.expiresAt))", exemption: exemption)
    }
    if !restricted {
        return Verdict(decision: .allowed, rule: "no rule: \(vm.interface) is not in set restricted",
                       reason: "VM \(vm.id) has a public IPv4 address, so no egress ports are restricted", exemption: nil)
    }
    return Verdict(decision: .allowed, rule: "no rule: \(flow.transport) port \(flow.port) is not restricted",
                   reason: "\(flow.transport.rawValue.uppercased()) port \(flow.port) is open to every VM at site \(policy.site)", exemption: nil)
}

func iso8601(_ date: Date) -> String {
    date.formatted(.iso8601)
}
