import Foundation

/// A time-limited opening of restricted ports for one VM. It is enforced as kernel set
/// elements with a timeout, so it closes on time even if the daemon is down.
public struct Exemption: Hashable, Sendable, Codable {
    public let id: String
    public let vm: VMID
    public let ports: PortSet
    public let reason: String
    public let grantedBy: String
    public let grantedAt: Date
    public let expiresAt: Date

    public init(id: String, vm: VMID, ports: PortSet, reason: String, grantedBy: String, grantedAt: Date, expiresAt: Date) {
        self.id = id
        self.vm = vm
        self.ports = ports
        self.reason = reason
        self.grantedBy = grantedBy
        self.grantedAt = grantedAt
        self.expiresAt = expiresAt
    }

    public func isActive(at now: Date) -> Bool { expiresAt > now }

    enum CodingKeys: String, CodingKey {
        case id, vm, ports, reason
        case grantedBy = "granted_by"
        case grantedAt = "granted_at"
        case expiresAt = "expires_at"
    }
}

/// What an operator asks for; turned into an `Exemption` only after the policy allows it.
public struct ExemptionRequest: Sendable, Codable {
    public let vm: VMID
    public let ports: PortSet
    public let reason: String
    public let expires: PolicyDuration?

    public init(vm: VMID, ports: PortSet, reason: String, expires: PolicyDuration?) {
        self.vm = vm
        self.ports = ports
        self.reason = reason
        self.expires = expires
    }

    /// Checks the request against the site policy and the VM, and builds the exemption.
    public func grant(to vm: VM, policy: SitePolicy, by actor: String, id: String, now: Date) throws(ValidationError) -> Exemption {
        guard policy.exemptions.allowed else {
            throw ValidationError(field: "exemption", value: vm.id.value, problem: "this site does not grant exemptions (exemptions.allowed is false)")
        }
        let reasonText = try parseReason(reason)
        guard policy.accessType(of: vm) == .restricted else {
            throw ValidationError(field: "vm", value: vm.id.value, problem: "has a public IPv4 and no port restrictions; nothing to exempt")
        }
        for port in ports where !policy.restrictedTCPPorts.contains(port) {
            throw ValidationError(field: "ports", value: port.description,
                                  problem: "is not restricted at this site (restricted: \(policy.restrictedTCPPorts))")
        }
        let duration = expires ?? policy.exemptions.defaultDuration
        guard duration.seconds <= policy.exemptions.maxDuration.seconds else {
            throw ValidationError(field: "expires", value: duration.description,
                                  problem: "longer than this site's maximum of \(policy.exemptions.maxDuration)")
        }
        return Exemption(id: id, vm: vm.id, ports: ports, reason: reasonText, grantedBy: actor,
                         grantedAt: now, expiresAt: now.addingTimeInterval(duration.timeInterval))
    }
}
