import Foundation

/// Which VM a source address belongs to, readable from any thread without waiting for the
/// policy engine: the SMTP relay asks it once per accepted connection, on an event loop.
///
/// The engine updates it VM by VM as it commits changes, so a change costs a few dictionary
/// operations, not a rebuild over 10,000 VMs. Addresses are exact keys where they can be
/// (IPv4 hosts, IPv6 /128s and /64s); other prefix lengths, rare, are searched in a list.
///
/// A key may have several owners (an allowed address pair shared by two VMs, a VIP): each
/// key keeps all of them, so removing one VM never takes the address from another, and the
/// answer is deterministic: an owner by its own address beats one by an allowed source, then
/// the longest prefix, then the lowest VM id.
public final class VMDirectory: @unchecked Sendable {
    /// One VM's claim on a key.
    struct Claim {
        let vm: VM
        /// Owned through `ipv4`/`ipv6` (true) or through `allowedSources` (false).
        let own: Bool
        let prefixLength: Int
    }

    private let lock = NSLock()
    private var ipv4Hosts: [IPv4Address: [Claim]] = [:]
    private var ipv4Prefixes: [(IPv4Network, Claim)] = []
    private var ipv6Hosts: [IPv6Address: [Claim]] = [:]
    private var ipv6By64: [UInt64: [Claim]] = [:]
    private var ipv6Prefixes: [(IPv6Network, Claim)] = []
    private var byInterface: [String: VM] = [:]
    private var byID: [VMID: VM] = [:]

    public init(_ vms: [VM] = []) {
        for vm in vms { insertLocked(vm) }
    }

    public func insert(_ vm: VM) {
        lock.withLock { insertLocked(vm) }
    }

    public func remove(_ vm: VM) {
        lock.withLock {
            func drop<K>(_ table: inout [K: [Claim]], _ key: K) {
                table[key]?.removeAll { $0.vm.id == vm.id }
                if table[key]?.isEmpty == true { table[key] = nil }
            }
            for address in vm.ipv4 { drop(&ipv4Hosts, address) }
            for (v4, v6, _) in sources(of: vm) {
                if let net = v4, net.isHost { drop(&ipv4Hosts, net.address) }
                if let net = v6 {
                    if net.isHost { drop(&ipv6Hosts, net.address) }
                    if net.prefixLength == 64 { drop(&ipv6By64, net.address.high) }
                }
            }
            if byInterface[vm.interface.name]?.id == vm.id { byInterface[vm.interface.name] = nil }
            byID[vm.id] = nil
            ipv4Prefixes.removeAll { $0.1.vm.id == vm.id }
            ipv6Prefixes.removeAll { $0.1.vm.id == vm.id }
        }
    }

    public func vm(for address: IPv4Address) -> VM? {
        lock.withLock {
            Self.best((ipv4Hosts[address] ?? []) + ipv4Prefixes.filter { $0.0.contains(address) }.map(\.1))
        }
    }

    public func vm(for address: IPv6Address) -> VM? {
        lock.withLock {
            Self.best((ipv6Hosts[address] ?? []) + (ipv6By64[address.high] ?? [])
                      + ipv6Prefixes.filter { $0.0.contains(address) }.map(\.1))
        }
    }

    private static func best(_ claims: [Claim]) -> VM? {
        claims.min { a, b in
            if a.own != b.own { return a.own }
            if a.prefixLength != b.prefixLength { return a.prefixLength > b.prefixLength }
            return a.vm.id < b.vm.id
        }?.vm
    }

    /// The networks a VM may send from, beyond its IPv4 hosts: its IPv6 sources (own) and its
    /// allowed extra prefixes (an "allowed address pair" is still that VM's traffic).
    private func sources(of vm: VM) -> [(IPv4Network?, IPv6Network?, own: Bool)] {
        vm.ipv6Sources.map { (nil, $0, true) } + vm.allowedSources.map { source in
            switch source {
            case .v4(let net): (net, nil, false)
            case .v6(let net): (nil, net, false)
            }
        }
    }

    /// The VM whose port this interface is (for events the kernel reports by interface).
    public func vm(interface name: String) -> VM? {
        lock.withLock { byInterface[name] }
    }

    public func vm(_ id: VMID) -> VM? {
        lock.withLock { byID[id] }
    }

    private func insertLocked(_ vm: VM) {
        byInterface[vm.interface.name] = vm
        byID[vm.id] = vm
        for address in vm.ipv4 { ipv4Hosts[address, default: []].append(Claim(vm: vm, own: true, prefixLength: 32)) }
        for (v4, v6, own) in sources(of: vm) {
            if let net = v4 {
                let claim = Claim(vm: vm, own: own, prefixLength: net.prefixLength)
                if net.isHost { ipv4Hosts[net.address, default: []].append(claim) } else { ipv4Prefixes.append((net, claim)) }
            }
            if let net = v6 {
                let claim = Claim(vm: vm, own: own, prefixLength: net.prefixLength)
                if net.isHost {
                    ipv6Hosts[net.address, default: []].append(claim)
                } else if net.prefixLength == 64 {
                    ipv6By64[net.address.high, default: []].append(claim)
                } else {
                    ipv6Prefixes.append((net, claim))
                }
            }
        }
    }
}
