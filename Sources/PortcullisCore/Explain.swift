import Foundation

/// One way out for a tenant whose traffic is refused, as the provider's documentation gives them.
public struct Remedy: Hashable, Sendable, Codable {
    public let title: String
    public let detail: String
}

/// The answer to "why can't my VM reach this port, and what can I do?".
public struct Explanation: Hashable, Sendable, Codable {
    public let vm: VMID
    public let accessType: AccessType
    public let transport: TransportProtocol
    public let port: Port
    public let verdict: Verdict
    public let remedies: [Remedy]

    enum CodingKeys: String, CodingKey {
        case vm, transport, port, verdict, remedies
        case accessType = "access_type"
    }

    /// Human-readable form for the CLI.
    public var text: String {
        var lines = [
            "VM \(vm) (\(accessType == .publicIPv4 ? "public IPv4" : "no public IPv4, restricted")) → \(transport) port \(port): \(verdict.decision.rawValue.uppercased())",
            "  why:  \(verdict.reason)",
            "  rule: \(verdict.rule)",
        ]
        if !remedies.isEmpty {
            lines.append("  what you can do:")
            for (i, remedy) in remedies.enumerated() {
                lines.append("   \(i + 1). \(remedy.title): \(remedy.detail)")
            }
        }
        return lines.joined(separator: "\n")
    }
}

public func explain(vm: VM, flow: Flow, in state: DesiredState) -> Explanation {
    let decision = verdict(for: vm, flow: flow, in: state)
    let blockedBySMTPMode = state.policy.smtp.mode == .block && flow.transport == .tcp && flow.port == SMTPInterception.port
        && !(state.policy.accessType(of: vm) == .restricted && decision.exemption == nil && state.policy.restrictedTCPPorts.contains(flow.port))
    let remedies = decision.decision != .rejected ? []
        : blockedBySMTPMode ? submissionRemedies(vm: vm, in: state) : mailRemedies(policy: state.policy)
    return Explanation(vm: vm.id, accessType: state.policy.accessType(of: vm), transport: flow.transport,
                       port: flow.port, verdict: decision, remedies: remedies)
}

/// The workarounds the site's published restrictions give for mail from a VM without IPv4.
func mailRemedies(policy: SitePolicy) -> [Remedy] {
    var remedies = [
        Remedy(title: "Deploy with a public IPv4",
               detail: "VMs with a public IPv4 address have no port restrictions and can run mail servers."),
        Remedy(title: "Run mail on a separate VM with a public IPv4",
               detail: "Keep this VM without IPv4 and send mail through your own mail VM that has one."),
        Remedy(title: "Use an e-mail API over HTTPS",
               detail: "Services such as SendGrid or Mailgun accept mail through an HTTPS API on port 443, which is open."),
    ]
    if policy.exemptions.allowed {
        remedies.append(Remedy(
            title: "Request an exemption",
            detail: "The operator can open \(policy.restrictedTCPPorts) for this VM for up to \(policy.exemptions.maxDuration), with a reason on record."))
    }
    return remedies
}

/// The ways out when the site refuses port 25 to every VM: submission to a mail provider, or an API.
func submissionRemedies(vm: VM, in state: DesiredState) -> [Remedy] {
    var remedies: [Remedy] = []
    let submission = [465, 587].compactMap { Port($0) }.filter {
        verdict(for: vm, flow: Flow(transport: .tcp, port: $0), in: state).decision == .allowed
    }
    if !submission.isEmpty {
        remedies.append(Remedy(title: "Submit mail to a mail provider",
                               detail: "Authenticated submission on port \(submission.map(\.description).joined(separator: " or ")) to your mail provider is open."))
    }
    remedies.append(Remedy(title: "Use an e-mail API over HTTPS",
                           detail: "Services such as SendGrid or Mailgun accept mail through an HTTPS API on port 443, which is open."))
    return remedies
}
