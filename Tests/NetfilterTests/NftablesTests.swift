import Foundation
import Testing
import PortcullisCore
import RulesetCompiler
@testable import Netfilter

/// libnftables itself is the judge of the compiler's output: every script is checked with
/// nft's dry run (parsed and evaluated, never committed). Needs root, like nft -c.
@Suite struct NftablesTests {
    static func state(_ count: Int) -> DesiredState {
        let policy = SitePolicy(site: "t", publicIPv4: [try! IPv4Network(parsing: "203.0.113.0/24")],
                                restrictedTCPPorts: PortSet([25, 465, 587].compactMap { Port($0) }),
                                quarantineAllow: ["192.0.2.53 udp 53", "192.0.2.53 tcp 53", "198.51.100.0/24 tcp 443",
                                                  "2001:db8:53::/48 udp 53"].map { try! QuarantineDestination(parsing: $0) })
        let vms = (0..<count).map { i in
            try! VM(id: "vm\(i)", tenant: "t", contact: nil, interface: "tap\(i)", mac: String(format: "02:00:00:00:%02x:%02x", i >> 8, i & 0xff),
                    ipv4: [i % 2 == 0 ? "203.0.113.\(i % 250 + 1)" : "100.64.\(i >> 8).\(i & 0xff)"],
                    ipv6: [String(format: "2001:db8:%x::10", i), String(format: "2001:db8:1%x::/64", i), String(format: "2001:db8:ff%02x::/56", i)],
                    allowedSources: ["198.51.100.\(i % 250 + 1)", "192.0.2.0/28"])
        }
        let exemption = Exemption(id: "ex", vm: vms[1].id, ports: PortSet([Port(25)!]), reason: "r", grantedBy: "t",
                                  grantedAt: Date(), expiresAt: Date().addingTimeInterval(600))
        // One filter of every shape, so every filter set gets an element the kernel must accept.
        let now = Date()
        let shapes: [(Filter.Direction, Int?, String?)] = [
            (.outbound, nil, nil), (.outbound, 25, nil), (.outbound, nil, "198.51.100.0/24"), (.outbound, nil, "2001:db8:99::/48"),
            (.outbound, 25, "192.0.2.7"), (.outbound, 25, "2001:db8:99::/48"),
            (.inbound, nil, nil), (.inbound, 22, nil), (.inbound, nil, "198.51.100.0/24"), (.inbound, nil, "2001:db8:99::1"),
            (.inbound, 22, "192.0.2.0/24"), (.inbound, 22, "2001:db8:99::/48"),
        ]
        let filters = shapes.enumerated().map { i, shape in
            Filter(id: "f\(i)", vm: vms[i % count].id, direction: shape.0, port: shape.1.flatMap { Port($0) },
                   remote: shape.2.map { try! IPNetwork(parsing: $0) }, reason: "r", placedBy: "t", placedAt: now,
                   expiresAt: now.addingTimeInterval(600 + Double(i)))
        }
        let quarantine = Filter(id: "fq", vm: vms[0].id, direction: .outbound, port: nil, remote: nil, effect: .quarantine,
                                reason: "r", placedBy: "t", placedAt: now, expiresAt: now.addingTimeInterval(900))
        let throttle = Filter(id: "ft", vm: vms[1].id, direction: .outbound, port: nil, remote: nil, effect: .throttle,
                              reason: "r", placedBy: "t", placedAt: now, expiresAt: now.addingTimeInterval(900))
        return DesiredState(policy: policy, vms: vms, exemptions: [exemption], filters: filters + [quarantine, throttle], now: now)
    }

    @Test func compiledRulesetIsAcceptedByLibnftables() throws {
        let nft = Nftables(dryRun: true)
        try nft.run(RulesetCompiler.compile(Self.state(4)).replaceScript())
    }

    @Test func elementDiffIsAcceptedByLibnftables() throws {
        let nft = Nftables(dryRun: true)
        let small = RulesetCompiler.compile(Self.state(3))
        let large = RulesetCompiler.compile(Self.state(4))
        // Dry-run the replace and the diff in one script: the diff needs the tables to exist.
        try nft.run(small.replaceScript() + (try #require(large.changes(from: small))))
    }

    @Test func aRejectedScriptIsReportedNotIgnored() {
        let nft = Nftables(dryRun: true)
        let error = #expect(throws: NftError.self) {
            try nft.run("table inet portcullis_test {\n chain c { type filter hook input priority 0; policy accept; tcp dport 25 rejekt; }\n}\n")
        }
        #expect(error?.description.contains("nothing was changed") == true)
        #expect(error?.message.contains("syntax error") == true)
    }
}
