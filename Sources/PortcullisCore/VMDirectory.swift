import Foundation

/// Which VM a source address belongs to, readable from any thread without waiting for the
/// policy engine: the SMTP relay asks it once per accepted connection, on an event loop.
///
/// The engine updates it VM by VM as it commits changes, so a change costs a few dictionary
/// operations, not a rebuild over 10,000 VMs. Addresses are exact keys where they can be
/// (IPv4 hosts, IPv6 /128s and /64s); other prefix lengths, rare, are searched in a list.
public final class VMDirectory: @unchecked Sendable {
    private let lock = NSLock()
    private var ipv4Hosts: [IPv4Address: VM] = [:]
    private var ipv4Prefixes: [(IPv4Network, VM)] = []
    private var ipv6Hosts: [IPv6Address: VM] = [:]
    private var ipv6By64: [UInt64: VM] = [:]
    private var ipv6Prefixes: [(IPv6Network, VM)] = []

    public init(_ vms: [VM] = []) {
        for vm in vms { insertLocked(vm) }
    }

    public func insert(_ vm: VM) {
        lock.withLock { insertLocked(vm) }
    }

    public func remove(_ vm: VM) {
        lock.withLock {
            for address in vm.ipv4 where ipv4Hosts[address]?.id == vm.id { ipv4Hosts[address] = nil }
            for (v4, v6) in sources(of: vm) {
                if let net = v4, net.isHost, ipv4Hosts[net.address]?.id == vm.id { ipv4Hosts[net.address] = nil }
                if let net = v6 {
                    if net.isHost, ipv6Hosts[net.address]?.id == vm.id { ipv6Hosts[net.address] = nil }
                    if net.prefixLength == 64, ipv6By64[net.address.high]?.id == vm.id { ipv6By64[net.address.high] = nil }
                }
            }
            ipv4Prefixes.removeAll { $0.1.id == vm.id }
            ipv6Prefixes.removeAll { $0.1.id == vm.id }
        }
    }

    public func vm(for address: IPv4Address) -> VM? {
        lock.withLock {
            ipv4Hosts[address] ?? ipv4Prefixes.first { $0.0.contains(address) }?.1
        }
    }

    public func vm(for address: IPv6Address) -> VM? {
        lock.withLock {
            ipv6Hosts[address] ?? ipv6By64[address.high] ?? ipv6Prefixes.first { $0.0.contains(address) }?.1
        }
    }

    /// The networks a VM may send from, beyond its IPv4 hosts: its IPv6 sources and its
    /// allowed extra prefixes (an "allowed address pair" is still that VM's traffic).
    private func sources(of vm: VM) -> [(IPv4Network?, IPv6Network?)] {
        vm.ipv6Sources.map { (nil, $0) } + vm.allowedSources.map { source in
            switch source {
            case .v4(let net): (net, nil)
            case .v6(let net): (nil, net)
            }
        }
    }

    private func insertLocked(_ vm: VM) {
        for address in vm.ipv4 { ipv4Hosts[address] = vm }
        for (v4, v6) in sources(of: vm) {
            if let net = v4 {
                if net.isHost { ipv4Hosts[net.address] = vm } else { ipv4Prefixes.append((net, vm)) }
            }
            if let net = v6 {
                if net.isHost {
                    ipv6Hosts[net.address] = vm
                } else if net.prefixLength == 64 {
                    ipv6By64[net.address.high] = vm
                } else {
                    ipv6Prefixes.append((net, vm))
                }
            }
        }
    }
}
