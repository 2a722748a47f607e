import Foundation
import PortcullisCore

/// A deterministic fleet of N VMs for benchmarks: half public (bridged), half restricted,
/// every one with IPv4, IPv6 and a /64 (no two overlapping), inside documentation and shared ranges.
enum SyntheticFleet {
    static let policy = SitePolicy(
        site: "bench",
        publicIPv4: [try! IPv4Network(parsing: "203.0.113.0/24"), try! IPv4Network(parsing: "198.18.0.0/15")],
        restrictedTCPPorts: PortSet([25, 465, 587].compactMap { Port($0) })
    )

    /// With `declared`, public VMs are bridged ports of br0 and restricted ones routed, as an
    /// operator at scale would register them; without, every table holds every VM.
    static func vm(_ i: Int, declared: Bool) -> VM {
        let hi = (i >> 8) & 0xff, lo = i & 0xff
        let isPublic = i % 2 == 0
        // 198.18.0.0/15 (benchmarking range) stands in for public space at this scale.
        let v4 = isPublic ? "198.18.\(hi).\(lo)" : "100.64.\(hi).\(lo)"
        let mac = String(format: "02:00:00:%02x:%02x:%02x", (i >> 16) & 0xff, hi, lo)
        return try! VM(
            id: "vm-\(i)", tenant: "t-\(i % 97)", contact: nil, interface: "tap\(i)", mac: mac,
            ipv4: [v4], ipv6: [String(format: "2001:db8:%x::10", i), String(format: "2001:db8:ffff:%x::/64", i)],
            allowedSources: [], bridge: declared && isPublic ? "br0" : nil, routed: declared && !isPublic
        )
    }

    static func vm(_ i: Int) -> VM { vm(i, declared: true) }

    static func state(count: Int, extra: [VM] = [], declared: Bool = true) -> DesiredState {
        DesiredState(policy: policy, vms: (0..<count).map { vm($0, declared: declared) } + extra, exemptions: [], now: Date())
    }
}
