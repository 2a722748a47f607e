import Foundation
import Testing
import PortcullisCore
@testable import RulesetCompiler

enum Lab {
    static let policy = SitePolicy(site: "lab-1", publicIPv4: [try! IPv4Network(parsing: "203.0.113.0/24")],
                                   restrictedTCPPorts: PortSet([25, 465, 587].compactMap { Port($0) }))
    static let pub = try! VM(id: "pub", tenant: "t1", contact: nil, interface: "vmpub0", mac: "02:00:00:00:01:01",
                             ipv4: ["203.0.113.10"], ipv6: ["2001:db8:1::10"], allowedSources: ["203.0.113.100"])
    static let priv = try! VM(id: "priv", tenant: "t1", contact: nil, interface: "vmpriv0", mac: "02:00:00:00:02:01",
                              ipv4: ["100.64.0.10"], ipv6: ["2001:db8:2::10", "2001:db8:2:1::/64", "2001:db8:3::/56"],
                              allowedSources: ["100.64.9.0/24"])
    static let now = Date(timeIntervalSince1970: 1_800_000_000)
    static func state(_ vms: [VM] = [pub, priv], exemptions: [Exemption] = [], policy: SitePolicy = policy) -> DesiredState {
        DesiredState(policy: policy, vms: vms, exemptions: exemptions, now: now)
    }
}

@Suite struct CompilerTests {
    /// The whole ruleset for the lab's two VMs, pinned. Regenerate deliberately with
    /// PORTCULLIS_UPDATE_GOLDEN=1 and review the diff.
    @Test func goldenTwoVMs() throws {
        let exemption = Exemption(id: "ex-1", vm: Lab.priv.id, ports: try PortSet(parsing: "25"), reason: "r", grantedBy: "a",
                                  grantedAt: Lab.now, expiresAt: Lab.now.addingTimeInterval(3600))
        let text = RulesetCompiler.compile(Lab.state(exemptions: [exemption])).replaceScript()
        let url = Bundle.module.url(forResource: "Golden/two-vms", withExtension: "nft")
        if ProcessInfo.processInfo.environment["PORTCULLIS_UPDATE_GOLDEN"] == "1" {
            let path = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Golden/two-vms.nft")
            try text.write(to: path, atomically: true, encoding: .utf8)
        }
        let golden = try String(contentsOf: try #require(url), encoding: .utf8)
        #expect(text == golden)
    }

    @Test func elementsCarryEveryIdentity() throws {
        let ruleset = RulesetCompiler.compile(Lab.state())
        let inet = { (name: String) in Set(ruleset.elements[SetRef(.inet, name)]!.keys) }
        #expect(inet("vm_ports") == ["\"vmpub0\"", "\"vmpriv0\""])
        #expect(inet("restricted") == ["\"vmpriv0\""])
        // IPv6 keys are raw values: fe80::ff:fe00:201 (EUI-64 of 02:00:00:00:02:01), a /64, a /56 range.
        #expect(inet("vm_ip6").contains("\"vmpriv0\" . 0xfe80000000000000000000fffe000201"))
        #expect(inet("vm_ip6").contains("\"vmpriv0\" . 0x20010db8000200000000000000000010"))
        #expect(inet("vm_ip6_64") == ["\"vmpriv0\" . 0x20010db800020001"])
        #expect(inet("vm_ip6_net") == ["\"vmpriv0\" . 0x20010db8000300000000000000000000-0x20010db8000300ffffffffffffffffff"])
        #expect(inet("vm_ip4").contains("\"vmpub0\" . 203.0.113.100"))
        #expect(inet("vm_ip4_net") == ["\"vmpriv0\" . 100.64.9.0/24"])
        #expect(Set(ruleset.elements[SetRef(.arp, "vm_mac")]!.keys) == ["\"vmpub0\" . 02:00:00:00:01:01", "\"vmpriv0\" . 02:00:00:00:02:01"])
    }

    @Test func addingOneVMIsAnElementDiff() throws {
        let before = RulesetCompiler.compile(Lab.state([Lab.pub]))
        let after = RulesetCompiler.compile(Lab.state([Lab.pub, Lab.priv]))
        #expect(before.fingerprint == after.fingerprint)
        let script = try #require(after.changes(from: before))
        let lines = script.split(separator: "\n")
        #expect(lines.allSatisfy { $0.hasPrefix("add element ") })
        #expect(lines.allSatisfy { $0.contains("vmpriv0") && !$0.contains("vmpub0") })
        #expect(after.changes(from: after) == nil)
        let removal = try #require(before.changes(from: after))
        #expect(removal.split(separator: "\n").allSatisfy { $0.hasPrefix("delete element ") })
    }

    @Test func exemptionsBecomeTimedElements() throws {
        let exemption = Exemption(id: "ex-1", vm: Lab.priv.id, ports: try PortSet(parsing: "25,587"), reason: "r", grantedBy: "a",
                                  grantedAt: Lab.now, expiresAt: Lab.now.addingTimeInterval(90))
        let ruleset = RulesetCompiler.compile(Lab.state(exemptions: [exemption]))
        let script = try #require(ruleset.changes(from: RulesetCompiler.compile(Lab.state())))
        #expect(script.contains("add element inet portcullis exempt { \"vmpriv0\" . 25 timeout 90s, \"vmpriv0\" . 587 timeout 90s }"))
        #expect(script.contains("add element bridge portcullis exempt"))
        // An exemption for a public VM has no effect on the kernel.
        let publicExemption = Exemption(id: "ex-2", vm: Lab.pub.id, ports: try PortSet(parsing: "25"), reason: "r", grantedBy: "a",
                                        grantedAt: Lab.now, expiresAt: Lab.now.addingTimeInterval(90))
        #expect(RulesetCompiler.compile(Lab.state(exemptions: [publicExemption])).elements[SetRef(.inet, "exempt")]!.isEmpty)
    }

    @Test func policyChangeChangesTheSkeleton() {
        let other = SitePolicy(site: "lab-1", publicIPv4: Lab.policy.publicIPv4, restrictedTCPPorts: PortSet([Port(25)!]))
        let a = RulesetCompiler.compile(Lab.state())
        let b = RulesetCompiler.compile(Lab.state(policy: other))
        #expect(a.fingerprint != b.fingerprint)
        #expect(b.changes(from: a) == nil)
        #expect(b.replaceScript().contains("tcp dport { 25 } goto restricted_port"))
    }

    @Test func replaceTouchesOnlyOurTables() {
        let script = RulesetCompiler.compile(Lab.state()).replaceScript()
        for line in script.split(separator: "\n") where line.hasPrefix("table ") || line.hasPrefix("delete ") || line.hasPrefix("add ") {
            #expect(line.contains(" portcullis"), "line touches another table: \(line)")
        }
        #expect(!script.contains("flush"))
    }

    @Test func perPacketPathIsIndependentOfVMCount() {
        // The skeleton (all rules) is the same for 2 VMs and for 1,000: VMs are only set elements.
        let many = (0..<1000).map { i in
            try! VM(id: "vm\(i)", tenant: "t", contact: nil, interface: "tap\(i)", mac: String(format: "02:00:00:00:%02x:%02x", i >> 8, i & 0xff),
                    ipv4: ["100.64.\(i >> 8).\(i & 0xff)"], ipv6: [], allowedSources: [])
        }
        #expect(RulesetCompiler.compile(Lab.state(many)).skeleton == RulesetCompiler.compile(Lab.state()).skeleton)
    }
}

@Suite struct ExpiryDiffTests {
    @Test func expiredElementsAreNotDeletedTwice() throws {
        let exemption = Exemption(id: "ex-1", vm: Lab.priv.id, ports: try PortSet(parsing: "25"), reason: "r", grantedBy: "a",
                                  grantedAt: Lab.now, expiresAt: Lab.now.addingTimeInterval(5))
        let before = RulesetCompiler.compile(Lab.state(exemptions: [exemption]))
        // Ten seconds later the kernel has dropped the element by itself; the next diff must not delete it.
        let later = RulesetCompiler.compile(DesiredState(policy: Lab.policy, vms: [Lab.pub, Lab.priv], exemptions: [exemption],
                                                         now: Lab.now.addingTimeInterval(10)))
        #expect(later.changes(from: before) == nil)
        // Revoked early: deleted.
        let revoked = RulesetCompiler.compile(Lab.state())
        #expect(revoked.changes(from: before)?.contains("delete element inet portcullis exempt { \"vmpriv0\" . 25 }") == true)
    }
}

/// Updating one VM in place must give exactly what a full compile gives, with a script that
/// touches only that VM's elements.
@Suite struct IncrementalUpdateTests {
    static let extra = try! VM(id: "extra", tenant: "t2", contact: nil, interface: "vmextra0", mac: "02:00:00:00:03:01",
                               ipv4: ["100.64.0.30"], ipv6: ["2001:db8:4::/64"], allowedSources: ["100.64.8.0/24"])
    static let exemption = Exemption(id: "ex-9", vm: extra.id, ports: try! PortSet(parsing: "25"), reason: "r", grantedBy: "a",
                                     grantedAt: Lab.now, expiresAt: Lab.now.addingTimeInterval(600))

    /// (before, after, the VM that changed)
    static let changes: [(DesiredState, DesiredState, VMID)] = [
        (Lab.state(), Lab.state([Lab.pub, Lab.priv, extra]), extra.id),                                   // add
        (Lab.state([Lab.pub, Lab.priv, extra]), Lab.state(), extra.id),                                   // remove
        (Lab.state([Lab.pub, Lab.priv, extra]), Lab.state([Lab.pub, Lab.priv, extra], exemptions: [exemption]), extra.id), // grant
        (Lab.state([Lab.pub, Lab.priv, extra], exemptions: [exemption]), Lab.state([Lab.pub, Lab.priv, extra]), extra.id), // revoke
    ]

    @Test(arguments: changes)
    func updateEqualsFullCompile(before: DesiredState, after: DesiredState, changed: VMID) throws {
        let applied = RulesetCompiler.compile(before)
        let delta = try #require(RulesetCompiler.delta(from: before, to: after, changed: [changed]))
        var updated = applied
        updated.apply(delta)
        let full = RulesetCompiler.compile(after)
        #expect(updated.elements == full.elements)
        #expect(updated.fingerprint == full.fingerprint)
        let script = try #require(delta.script)
        #expect(script == full.changes(from: applied))
        #expect(script.split(separator: "\n").allSatisfy { $0.contains("vmextra0") && !$0.contains("vmpriv0") && !$0.contains("vmpub0") })
    }

    @Test func nothingChangedGivesNoScript() throws {
        let state = Lab.state()
        let delta = try #require(RulesetCompiler.delta(from: state, to: state, changed: [Lab.priv.id]))
        #expect(delta.script == nil)
    }

    @Test func aPolicyChangeIsNotAnUpdate() {
        let other = SitePolicy(site: "lab-1", publicIPv4: [], restrictedTCPPorts: PortSet([Port(25)!]))
        let before = Lab.state()
        #expect(RulesetCompiler.delta(from: before, to: Lab.state(policy: other), changed: []) == nil)
    }

    @Test func replayingLaterDropsExpiredElementsAndShortensTimeouts() throws {
        let short = Exemption(id: "ex-s", vm: Lab.priv.id, ports: try PortSet(parsing: "25"), reason: "r", grantedBy: "a",
                              grantedAt: Lab.now, expiresAt: Lab.now.addingTimeInterval(30))
        let long = Exemption(id: "ex-l", vm: Lab.priv.id, ports: try PortSet(parsing: "587"), reason: "r", grantedBy: "a",
                             grantedAt: Lab.now, expiresAt: Lab.now.addingTimeInterval(3600))
        let ruleset = RulesetCompiler.compile(Lab.state(exemptions: [short, long])).at(Lab.now.addingTimeInterval(600))
        let script = ruleset.replaceScript()
        #expect(!script.contains("\"vmpriv0\" . 25 timeout"))
        #expect(script.contains("\"vmpriv0\" . 587 timeout 3000s"))
    }
}

@Suite struct RuleCountTests {
    @Test func rulesPerChainCountsRuleLinesOnly() {
        let counts = RulesetCompiler.compile(Lab.state()).rulesPerChain
        #expect(counts["inet/prerouting"] == 3)
        #expect(counts["bridge/restricted_divert"] == 3)
        #expect(counts["bridge/smtp_divert"] == 2)
        #expect(counts["inet/smtp_relay"] == 4)
        #expect(counts["bridge/drop_mac_source"] == 3, "sample, count, drop")
        #expect(counts["bridge/drop_ethertype"] == 2, "not a spoofing kind: count, drop")
        #expect(counts["arp/drop_arp_ip"] == 2, "the arp table has no sampling set")
        #expect(counts["arp/drop_ipv4_source"] == nil)
        #expect(counts["inet/forward"] == 4)
        #expect(counts["inet/outbound_filter"] == 9 && counts["bridge/inbound_filter"] == 6)
        #expect(counts["bridge/quarantine"] == 3)
        #expect(counts["inet/restricted_port"] == 3)
        #expect(counts["bridge/from_vm"] == 3)
        #expect(counts["arp/vm_arp"] == 5)
        #expect(counts.keys.contains { $0.hasPrefix("inet/fingerprint_") && counts[$0] == 0 })
    }
}

@Suite struct BridgeDivertTests {
    static let bridged = try! VM(id: "brpriv", tenant: "t1", contact: nil, interface: "vmbrp0", mac: "02:00:00:00:04:01",
                                 ipv4: ["198.51.100.10"], ipv6: [], allowedSources: [], bridge: "br0")
    static let brMAC = try! MACAddress(parsing: "02:00:00:00:00:fe")

    func map(_ vms: [VM], bridgeMACs: [InterfaceName: MACAddress]) -> Set<String> {
        let state = DesiredState(policy: Lab.policy, vms: vms, exemptions: [], now: Lab.now, bridgeMACs: bridgeMACs)
        return Set(RulesetCompiler.compile(state).elements[SetRef(.bridge, "vm_bridge_mac")]!.keys)
    }

    @Test func restrictedBridgedVMIsDivertedToItsBridge() {
        #expect(map([Self.bridged, Lab.priv], bridgeMACs: [Self.bridged.bridge!: Self.brMAC]) == ["\"vmbrp0\" : 02:00:00:00:00:fe"])
    }

    @Test func unknownBridgeAddressMeansNoDivert() {
        #expect(map([Self.bridged], bridgeMACs: [:]).isEmpty)
    }

    /// The divert map doubles as the bridge's port set: a bridged VM with a known bridge is in
    /// it (public or not) and not in vm_ports; only `restricted` decides the port refusal.
    @Test func publicBridgedVMIsInTheDivertMapButNotRestricted() throws {
        let publicBridged = try VM(id: "pubbr", tenant: "t1", contact: nil, interface: "vmpb0", mac: "02:00:00:00:05:01",
                                   ipv4: ["203.0.113.50"], ipv6: [], allowedSources: [], bridge: "br0")
        let state = DesiredState(policy: Lab.policy, vms: [publicBridged], exemptions: [], now: Lab.now,
                                 bridgeMACs: [publicBridged.bridge!: Self.brMAC])
        let elements = RulesetCompiler.compile(state).elements
        #expect(map([publicBridged], bridgeMACs: [publicBridged.bridge!: Self.brMAC]) == ["\"vmpb0\" : 02:00:00:00:00:fe"])
        #expect(elements[SetRef(.bridge, "vm_ports")]!.isEmpty)
        #expect(elements[SetRef(.bridge, "restricted")]!.isEmpty)
        #expect(Set(elements[SetRef(.bridge, "smtp_vm_mac")]!.keys) == ["02:00:00:00:05:01 : 02:00:00:00:00:fe"])
    }

    @Test func unknownBridgeAddressKeepsThePortInVMPorts() {
        let state = DesiredState(policy: Lab.policy, vms: [Self.bridged], exemptions: [], now: Lab.now, bridgeMACs: [:])
        let elements = RulesetCompiler.compile(state).elements
        #expect(Set(elements[SetRef(.bridge, "vm_ports")]!.keys) == ["\"vmbrp0\""])
        #expect(elements[SetRef(.bridge, "smtp_vm_mac")]!.isEmpty)
    }
}

/// Port 25 of VMs that are not restricted, by `smtp.mode`.
@Suite struct SMTPInterceptionTests {
    static func policy(_ mode: SMTPMode, restricted: [Int] = [25, 465, 587], port: Int = 10025) -> SitePolicy {
        SitePolicy(site: "lab-1", publicIPv4: Lab.policy.publicIPv4, restrictedTCPPorts: PortSet(restricted.compactMap { Port($0) }),
                   smtp: SMTPInterception(mode: mode, listenPort: Port(port)!))
    }

    static func script(_ policy: SitePolicy) -> String {
        let state = DesiredState(policy: policy, vms: [Lab.pub, Lab.priv], exemptions: [], now: Lab.now)
        return RulesetCompiler.compile(state).replaceScript()
    }

    @Test func proxyModeHandsPort25ToTheRelayAndFailsClosed() {
        let text = Self.script(Self.policy(.proxy, port: 2525))
        #expect(text.contains("tproxy ip to :2525 meta mark set 0x50430004 accept"))
        #expect(text.contains("tproxy ip6 to :2525 meta mark set 0x50430004 accept"))
        // The line after the tproxy rules: when nothing listens the connection is refused.
        #expect(text.contains("tproxy ip6 to :2525 meta mark set 0x50430004 accept\n        reject with tcp reset"))
        #expect(text.contains("socket transparent 1 meta mark set 0x50430004 accept"))
        #expect(text.contains("chain smtp_divert"))
        #expect(text.contains("tcp dport 25 iifname @vm_ports iifname != @restricted reject with tcp reset"))
    }

    @Test func blockModeRefusesPort25Everywhere() {
        let text = Self.script(Self.policy(.block))
        #expect(!text.contains("tproxy"))
        #expect(text.contains("chain smtp_from_vm {\n        iifname @restricted iifname . tcp dport != @exempt return\n        update @rejected { iifname . tcp dport }\n        reject with tcp reset"))
        #expect(text.contains("meta mark 0x50430001 reject with tcp reset"))
    }

    @Test func blockModeRefusesBridgedPort25EvenWithoutRestrictedPorts() {
        let text = Self.script(Self.policy(.block, restricted: []))
        #expect(text.contains("meta mark 0x50430001 reject with tcp reset"))
        #expect(text.contains("chain smtp_divert {\n        update @rejected { iifname . tcp dport }"))
        #expect(!text.contains("restricted_divert"))
    }

    @Test func allowModeAddsNothing() {
        let text = Self.script(Self.policy(.allow))
        #expect(!text.contains("tproxy"))
        #expect(!text.contains("chain smtp"))
        #expect(!text.contains("tcp sport 25"))
    }

    /// When 25 is not a restricted port, restricted VMs are relayed like the others.
    @Test func unrestrictedPort25IsRelayedForRestrictedVMsToo() {
        let text = Self.script(Self.policy(.proxy, restricted: [465, 587]))
        #expect(text.contains("chain smtp_from_vm {\n        goto smtp_relay"))
    }
}

/// A declared attachment loads a VM's identities only where its traffic is seen, and makes
/// every other table drop anything from its interface.
@Suite struct AttachmentTests {
    static func vm(bridge: String? = nil, routed: Bool = false) -> VM {
        try! VM(id: "v", tenant: "t", contact: nil, interface: "tapv", mac: "02:00:00:00:06:01", ipv4: ["100.64.6.1"],
                ipv6: ["2001:db8:6::1"], allowedSources: [], bridge: bridge, routed: routed)
    }

    static func families(holding set: String, _ vm: VM) -> Set<NftFamily> {
        let ruleset = RulesetCompiler.compile(Lab.state([vm]))
        return Set(NftFamily.allCases.filter { !(ruleset.elements[SetRef($0, set)] ?? [:]).isEmpty })
    }

    @Test(arguments: [
        (vm(bridge: "br0"), Set<NftFamily>([.bridge]), Set<NftFamily>([.inet])),
        (vm(routed: true), Set<NftFamily>([.inet, .arp]), Set<NftFamily>([.bridge])),
        (vm(), Set<NftFamily>(NftFamily.allCases), Set<NftFamily>()),
    ])
    func identitiesWhereTheTrafficIs(vm: VM, identities: Set<NftFamily>, misplaced: Set<NftFamily>) {
        #expect(Self.families(holding: "vm_ports", vm) == identities)
        #expect(Self.families(holding: "vm_ip4", vm) == identities)
        #expect(Self.families(holding: "vm_ip6", vm) == identities.subtracting([.arp]))
        #expect(Self.families(holding: "restricted", vm) == identities.subtracting([.arp]))
        #expect(Self.families(holding: "vm_misplaced", vm) == misplaced)
    }

    @Test func bridgedAndRoutedAtOnceIsRefused() {
        #expect(throws: ValidationError.self) {
            try VM(id: "v", tenant: "t", contact: nil, interface: "tapv", mac: "02:00:00:00:06:01", ipv4: [], ipv6: [],
                   allowedSources: [], bridge: "br0", routed: true)
        }
    }
}

/// A filter is one element in the set of its shape, plus the VM in the direction's index set,
/// both with the filter's expiry.
@Suite struct FilterElementTests {
    static func filter(_ direction: Filter.Direction, port: Int? = nil, remote: String? = nil, minutes: Double = 60) -> Filter {
        Filter(id: "f-\(direction)-\(port ?? 0)-\(remote ?? "")-\(minutes)", vm: Lab.priv.id, direction: direction, port: port.flatMap { Port($0) },
               remote: remote.map { try! IPNetwork(parsing: $0) }, reason: "r", placedBy: "t", placedAt: Lab.now,
               expiresAt: Lab.now.addingTimeInterval(minutes * 60))
    }

    @Test(arguments: [
        (filter(.outbound), "out_all", "\"vmpriv0\""),
        (filter(.outbound, port: 25), "out_port", "\"vmpriv0\" . 25"),
        (filter(.outbound, remote: "198.51.100.0/24"), "out_net4", "\"vmpriv0\" . 198.51.100.0/24"),
        (filter(.outbound, port: 25, remote: "2001:db8:9::/48"), "out_net6_port", "\"vmpriv0\" . 2001:db8:9::/48 . 25"),
        (filter(.inbound, port: 22), "in_port", "\"vmpriv0\" . 22"),
        (filter(.inbound, remote: "192.0.2.7"), "in_net4", "\"vmpriv0\" . 192.0.2.7"),
        (filter(.inbound, port: 22, remote: "192.0.2.0/24"), "in_net4_port", "\"vmpriv0\" . 192.0.2.0/24 . 22"),
    ])
    func eachShapeHasItsSet(filter: Filter, set: String, key: String) {
        let state = DesiredState(policy: Lab.policy, vms: [Lab.priv], exemptions: [], filters: [filter], now: Lab.now)
        let elements = RulesetCompiler.compile(state).elements
        #expect(elements[SetRef(.inet, set)]?[key] == filter.expiresAt)
        #expect(elements[SetRef(.inet, filter.direction == .outbound ? "filtered_out" : "filtered_in")]?["\"vmpriv0\""] == filter.expiresAt)
        #expect(elements[SetRef(.arp, set)] == nil, "filters are not in the arp table")
    }

    @Test func theIndexLastsAsLongAsTheLongestFilter() {
        let short = Self.filter(.outbound, port: 25, minutes: 10)
        let long = Self.filter(.outbound, remote: "198.51.100.0/24", minutes: 120)
        let state = DesiredState(policy: Lab.policy, vms: [Lab.priv], exemptions: [], filters: [short, long], now: Lab.now)
        #expect(RulesetCompiler.compile(state).elements[SetRef(.inet, "filtered_out")]?["\"vmpriv0\""] == long.expiresAt)
    }

    @Test func anExpiredFilterIsGone() {
        let filter = Self.filter(.outbound, minutes: 1)
        let later = DesiredState(policy: Lab.policy, vms: [Lab.priv], exemptions: [], filters: [filter], now: Lab.now.addingTimeInterval(120))
        #expect(RulesetCompiler.compile(later).elements[SetRef(.inet, "out_all")]?.isEmpty == true)
    }

    @Test func placingAFilterIsAnElementDelta() throws {
        let before = DesiredState(policy: Lab.policy, vms: [Lab.pub, Lab.priv], exemptions: [], now: Lab.now)
        let after = DesiredState(policy: Lab.policy, vms: [Lab.pub, Lab.priv], exemptions: [], filters: [Self.filter(.inbound)], now: Lab.now)
        var ruleset = RulesetCompiler.compile(before)
        ruleset.apply(try #require(RulesetCompiler.delta(from: before, to: after, changed: [Lab.priv.id])))
        #expect(ruleset.elements == RulesetCompiler.compile(after).elements)
    }
}
