import Foundation

/// Traffic of one VM blocked for a while: what the provider's terms call placing an outbound
/// or inbound filter. Enforced as a kernel set element with a timeout, so it lifts itself on
/// time even if the daemon is down; nothing is permanent without an operator renewing it.
public struct Filter: Hashable, Sendable, Codable {
    public enum Direction: String, Hashable, Sendable, Codable, CaseIterable {
        /// Traffic to the VM.
        case inbound = "in"
        /// Traffic from the VM.
        case outbound = "out"
    }

    /// What happens to matching traffic.
    public enum Effect: String, Hashable, Sendable, Codable, CaseIterable {
        /// Dropped.
        case block
        /// Outbound only, without port or prefix: new TCP connections and UDP packets beyond the
        /// site's `abuse.throttle` rates are dropped; a tenant's ordinary use fits under them.
        case throttle
        /// Outbound only, without port or prefix: everything is blocked except the site's
        /// `abuse.quarantine_allow` destinations (resolvers, the support portal), so the tenant
        /// can still clean the VM up and reach the provider.
        case quarantine
    }

    public let id: String
    public let vm: VMID
    public let direction: Direction
    /// TCP and UDP port on the far side for outbound (the destination port), on the VM for
    /// inbound (the VM's service); nil: every protocol and port.
    public let port: Port?
    /// The far side's prefix (the destination of outbound traffic, the source of inbound);
    /// nil: anywhere.
    public let remote: IPNetwork?
    public let effect: Effect
    public let reason: String
    public let placedBy: String
    public let placedAt: Date
    public let expiresAt: Date

    public init(id: String, vm: VMID, direction: Direction, port: Port?, remote: IPNetwork?, effect: Effect = .block,
                reason: String, placedBy: String, placedAt: Date, expiresAt: Date) {
        self.id = id
        self.vm = vm
        self.direction = direction
        self.port = port
        self.remote = remote
        self.effect = effect
        self.reason = reason
        self.placedBy = placedBy
        self.placedAt = placedAt
        self.expiresAt = expiresAt
    }

    public func isActive(at now: Date) -> Bool { expiresAt > now }

    /// "out tcp/udp port 25 to 198.51.100.0/24", for lists and the audit log.
    public var scope: String { Self.scope(direction: direction, port: port, remote: remote, effect: effect) }

    static func scope(direction: Direction, port: Port?, remote: IPNetwork?, effect: Effect) -> String {
        switch effect {
        case .quarantine: return "out all traffic except the quarantine allowlist (quarantine)"
        case .throttle: return "out new connections over the site's rates (throttle)"
        case .block: break
        }
        let ports = port.map { " tcp/udp port \($0)" } ?? " all traffic"
        let far = remote.map { direction == .outbound ? " to \($0)" : " from \($0)" } ?? ""
        return direction.rawValue + ports + far
    }

    enum CodingKeys: String, CodingKey {
        case id, vm, direction, port, remote, reason, effect
        case placedBy = "placed_by"
        case placedAt = "placed_at"
        case expiresAt = "expires_at"
    }

    /// Filters stored before effects existed have no `effect` key: they block.
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        id = try c.decode(String.self, forKey: .id)
        vm = try c.decode(VMID.self, forKey: .vm)
        direction = try c.decode(Direction.self, forKey: .direction)
        port = try c.decodeIfPresent(Port.self, forKey: .port)
        remote = try c.decodeIfPresent(IPNetwork.self, forKey: .remote)
        effect = try c.decodeIfPresent(Effect.self, forKey: .effect) ?? .block
        reason = try c.decode(String.self, forKey: .reason)
        placedBy = try c.decode(String.self, forKey: .placedBy)
        placedAt = try c.decode(Date.self, forKey: .placedAt)
        expiresAt = try c.decode(Date.self, forKey: .expiresAt)
    }
}

/// What an operator (or a detector) asks for; a `Filter` once checked.
public struct FilterRequest: Sendable, Codable {
    public let vm: VMID
    public let direction: Filter.Direction
    public let port: Port?
    public let remote: IPNetwork?
    public let effect: Filter.Effect
    public let reason: String
    public let expires: PolicyDuration

    /// Longest a filter may be placed for at once. Longer blocks need an operator to renew
    /// them, so that no VM stays cut off because somebody forgot it.
    public static let maxDuration = PolicyDuration(seconds: 90 * 86_400)

    public init(vm: VMID, direction: Filter.Direction, port: Port?, remote: IPNetwork?, effect: Filter.Effect = .block,
                reason: String, expires: PolicyDuration) {
        self.vm = vm
        self.direction = direction
        self.port = port
        self.remote = remote
        self.effect = effect
        self.reason = reason
        self.expires = expires
    }

    public var scope: String { Filter.scope(direction: direction, port: port, remote: remote, effect: effect) }

    public func place(by actor: String, id: String, now: Date) throws(ValidationError) -> Filter {
        let reasonText = try parseReason(reason)
        guard expires.seconds <= Self.maxDuration.seconds else {
            throw ValidationError(field: "expires", value: expires.description,
                                  problem: "longer than the maximum of \(Self.maxDuration); renew the filter when it ends instead")
        }
        if effect != .block, direction != .outbound || port != nil || remote != nil {
            throw ValidationError(field: "effect", value: effect.rawValue,
                                  problem: "a \(effect.rawValue) is outbound and covers every destination; leave out the port and prefix")
        }
        return Filter(id: id, vm: vm, direction: direction, port: port, remote: remote, effect: effect, reason: reasonText,
                      placedBy: actor, placedAt: now, expiresAt: now.addingTimeInterval(expires.timeInterval))
    }
}
