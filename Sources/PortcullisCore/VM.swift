/// A tenant VM as the hypervisor sees it: the host interface it hangs off and every
/// identity it may use on the wire. Built only through `init(validating...)`, so a `VM`
/// value is always internally consistent.
public struct VM: Hashable, Sendable, Codable {
    public let id: VMID
    public let tenant: TenantID
    public let contact: EmailAddress?
    public let interface: InterfaceName
    public let mac: MACAddress
    public let ipv4: [IPv4Address]
    /// Addresses (as /128) and prefixes (e.g. a routed /64).
    public let ipv6: [IPv6Network]
    /// Extra source prefixes the VM may use ("allowed address pairs"), e.g. a VRRP address.
    public let allowedSources: [IPNetwork]
    /// The Linux bridge the VM's interface is a port of, when it is bridged. The bridge
    /// family has no `reject` on this kernel; knowing the bridge lets a refused connection
    /// be handed to the host to answer with a TCP reset instead of timing out.
    public let bridge: InterfaceName?
    /// The operator says the interface is routed (the host is the VM's gateway), not a
    /// bridge port. With `bridge` or `routed` declared, the VM's identities are loaded only
    /// into the table that sees its traffic (bridge, or inet and arp), and the other table
    /// drops anything from the interface: a wrong declaration fails closed, never open.
    public let routed: Bool

    /// Where the VM's traffic meets netfilter.
    public var attachment: Attachment {
        if let bridge { return .bridged(bridge) }
        return routed ? .routed : .unspecified
    }

    public init(
        id: VMID, tenant: TenantID, contact: EmailAddress?, interface: InterfaceName, mac: MACAddress,
        ipv4: [IPv4Address], ipv6: [IPv6Network], allowedSources: [IPNetwork], bridge: InterfaceName? = nil,
        routed: Bool = false
    ) throws(ValidationError) {
        if let bridge, bridge == interface {
            throw ValidationError(field: "bridge", value: bridge.name, problem: "is the VM's own interface; give the bridge it is a port of")
        }
        if let bridge, routed {
            throw ValidationError(field: "routed", value: bridge.name, problem: "a VM is either a port of a bridge or routed, not both")
        }
        for address in ipv4 where address.isUnspecified || address.isMulticastOrBroadcast {
            throw ValidationError(field: "ipv4", value: address.description, problem: "a VM address must be a unicast address")
        }
        for network in ipv6 where network.address == .unspecified || network.address.isMulticast {
            throw ValidationError(field: "ipv6", value: network.description, problem: "a VM address must be a unicast address")
        }
        if let duplicate = firstDuplicate(ipv4) {
            throw ValidationError(field: "ipv4", value: duplicate.description, problem: "listed twice")
        }
        if let duplicate = firstDuplicate(ipv6) {
            throw ValidationError(field: "ipv6", value: duplicate.description, problem: "listed twice")
        }
        try refuseOverlappingRanges(ipv6: ipv6, allowedSources: allowedSources)
        self.id = id
        self.tenant = tenant
        self.contact = contact
        self.interface = interface
        self.mac = mac
        self.ipv4 = ipv4.sorted()
        self.ipv6 = ipv6
        self.allowedSources = allowedSources
        self.bridge = bridge
        self.routed = routed
    }

    /// Parses every field from text, naming the field in the error.
    public init(
        id: String, tenant: String, contact: String?, interface: String, mac: String,
        ipv4: [String], ipv6: [String], allowedSources: [String], bridge: String? = nil, routed: Bool = false
    ) throws(ValidationError) {
        var v4: [IPv4Address] = []
        for text in ipv4 { v4.append(try IPv4Address(parsing: text, field: "ipv4")) }
        var v6: [IPv6Network] = []
        for text in ipv6 { v6.append(try IPv6Network(parsing: text, field: "ipv6")) }
        var extra: [IPNetwork] = []
        for text in allowedSources { extra.append(try IPNetwork(parsing: text, field: "allow-source")) }
        try self.init(
            id: try VMID(parsing: id),
            tenant: try TenantID(parsing: tenant),
            contact: try contact.map { text throws(ValidationError) in try EmailAddress(parsing: text) },
            interface: try InterfaceName(parsing: interface),
            mac: try MACAddress(parsing: mac),
            ipv4: v4, ipv6: v6, allowedSources: extra,
            bridge: try bridge.map { text throws(ValidationError) in try InterfaceName(parsing: text, field: "bridge") },
            routed: routed
        )
    }

    /// Every IPv6 source the VM may use: its addresses/prefixes plus its EUI-64 link-local.
    public var ipv6Sources: [IPv6Network] {
        let linkLocal = IPv6Network(address: mac.eui64LinkLocal, prefixLength: 128)
        return ipv6.contains(linkLocal) ? ipv6 : [linkLocal] + ipv6
    }

    enum CodingKeys: String, CodingKey {
        case id, tenant, contact, interface, mac, ipv4, ipv6, bridge, routed
        case allowedSources = "allow_source"
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        try self.init(
            id: try c.decode(VMID.self, forKey: .id),
            tenant: try c.decode(TenantID.self, forKey: .tenant),
            contact: try c.decodeIfPresent(EmailAddress.self, forKey: .contact),
            interface: try c.decode(InterfaceName.self, forKey: .interface),
            mac: try c.decode(MACAddress.self, forKey: .mac),
            ipv4: try c.decodeIfPresent([IPv4Address].self, forKey: .ipv4) ?? [],
            ipv6: try c.decodeIfPresent([IPv6Network].self, forKey: .ipv6) ?? [],
            allowedSources: try c.decodeIfPresent([IPNetwork].self, forKey: .allowedSources) ?? [],
            bridge: try c.decodeIfPresent(InterfaceName.self, forKey: .bridge),
            routed: try c.decodeIfPresent(Bool.self, forKey: .routed) ?? false
        )
    }
}

/// Where a VM's traffic meets netfilter, as the operator declared it.
public enum Attachment: Hashable, Sendable {
    /// A port of this Linux bridge: frames are seen by the bridge family.
    case bridged(InterfaceName)
    /// Routed through the host: packets are seen by the inet family, ARP by the arp family.
    case routed
    /// Not declared: every family holds the VM's identities (twice the kernel elements).
    case unspecified
}

/// Prefixes that become address ranges in the kernel (IPv4 prefixes shorter than /32, IPv6
/// prefixes other than /64 and /128) must not overlap within one VM: nftables refuses
/// overlapping ranges in a set, and the operator should hear which field is at fault.
private func refuseOverlappingRanges(ipv6: [IPv6Network], allowedSources: [IPNetwork]) throws(ValidationError) {
    var v4: [IPv4Network] = []
    var v6: [(network: IPv6Network, field: String)] = ipv6.map { ($0, "ipv6") }
    for source in allowedSources {
        switch source {
        case .v4(let network) where !network.isHost: v4.append(network)
        case .v4: break
        case .v6(let network): v6.append((network, "allow-source"))
        }
    }
    for (i, a) in v4.enumerated() {
        for b in v4[(i + 1)...] where a.overlaps(b) {
            throw ValidationError(field: "allow-source", value: b.description, problem: "overlaps \(a); give each range once")
        }
    }
    let ranges = v6.filter { ![64, 128].contains($0.network.prefixLength) }
    for (i, a) in ranges.enumerated() {
        for b in ranges[(i + 1)...] where a.network.overlaps(b.network) && a.network != b.network {
            throw ValidationError(field: b.field, value: b.network.description, problem: "overlaps \(a.network); give each range once")
        }
    }
}

private func firstDuplicate<T: Hashable>(_ items: [T]) -> T? {
    var seen = Set<T>()
    for item in items where !seen.insert(item).inserted { return item }
    return nil
}

/// Checks a new VM against those already registered. Two VMs may never share an id, an
/// interface, a MAC or an address: the kernel sets key on these, and a shared key would let
/// one tenant speak as another. Allowed extra sources may overlap on purpose (a VRRP pair).
public func checkConflicts(of vm: VM, with existing: [VM]) throws(ValidationError) {
    for other in existing {
        if other.id == vm.id {
            throw ValidationError(field: "vm id", value: vm.id.value, problem: "already registered; remove it first to change it")
        }
        if other.interface == vm.interface {
            throw ValidationError(field: "interface", value: vm.interface.name, problem: "already used by VM \(other.id)")
        }
        if other.mac == vm.mac {
            throw ValidationError(field: "mac", value: vm.mac.description, problem: "already used by VM \(other.id)")
        }
        for address in vm.ipv4 where other.ipv4.contains(address) {
            throw ValidationError(field: "ipv4", value: address.description, problem: "already used by VM \(other.id)")
        }
        for network in vm.ipv6 {
            if let clash = other.ipv6.first(where: { $0.overlaps(network) }) {
                throw ValidationError(field: "ipv6", value: network.description, problem: "overlaps \(clash) of VM \(other.id)")
            }
        }
    }
}
