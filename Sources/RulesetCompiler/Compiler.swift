import Foundation
import PortcullisCore

/// Turns a desired state into a ruleset. Pure: the same state always gives the same text,
/// which is what the golden tests pin down.
///
/// Per-packet work does not grow with the number of VMs: every base chain first asks one
/// set lookup (`iifname @vm_ports`) whether the frame comes from a VM port at all, and every
/// check after that is a lookup in a concatenated set keyed by the interface name.
public enum RulesetCompiler {
    public static func compile(_ state: DesiredState) -> Ruleset {
        let skeleton = skeletons(policy: state.policy)
        let fingerprint = fnv1a(NftFamily.allCases.compactMap { skeleton[$0] }.joined())
        var withComment: [NftFamily: String] = [:]
        for (family, text) in skeleton {
            withComment[family] = text
                .replacingOccurrences(of: commentPlaceholder, with: "portcullis fingerprint=\(fingerprint)")
                .replacingOccurrences(of: fingerprintPlaceholder, with: fingerprint)
        }
        return Ruleset(skeleton: withComment, elements: elements(state), fingerprint: fingerprint, now: state.now)
    }

    static let commentPlaceholder = "@COMMENT@"
    static let fingerprintPlaceholder = "@FINGERPRINT@"

    /// libnftables 1.0.6 omits table comments from JSON listings, so the fingerprint is
    /// also carried as the name of an empty chain, which every listing shows.
    static let fingerprintChain = """
            chain fingerprint_\(fingerprintPlaceholder) {
            }

        """

    // MARK: - Elements

    /// Every set's elements. Each element belongs to exactly one VM (its key starts with the
    /// VM's interface name, which no two VMs share), so the whole is the disjoint union of
    /// the VMs' contributions and one VM can be updated on its own.
    static func elements(_ state: DesiredState) -> [SetRef: [String: Date?]] {
        var sets: [SetRef: [String: Date?]] = [:]
        for family in NftFamily.allCases {
            for name in staticSetNames(family) { sets[SetRef(family, name)] = [:] }
        }
        for vm in state.vms { contribute(vm, in: state, to: &sets) }
        return sets
    }

    /// The set elements one VM brings: its identities, and for a restricted VM its
    /// restriction and exemptions. The value is the element's expiry (nil: until removed).
    static func contribution(of vm: VM, in state: DesiredState) -> [SetRef: [String: Date?]] {
        var sets: [SetRef: [String: Date?]] = [:]
        contribute(vm, in: state, to: &sets)
        return sets
    }

    /// Adds one VM's elements to `sets` (written straight into the full compile's sets, so
    /// compiling 10,000 VMs allocates no per-VM dictionaries).
    static func contribute(_ vm: VM, in state: DesiredState, to sets: inout [SetRef: [String: Date?]]) {
        func add(_ name: String, _ key: String, in families: [NftFamily], expiry: Date? = nil) {
            for family in families {
                let ref = SetRef(family, name)
                // Two exemptions for the same port: the later expiry wins.
                if let existing = sets[ref]?[key], let old = existing, let new = expiry {
                    sets[ref, default: [:]][key] = max(old, new)
                } else {
                    sets[ref, default: [:]][key] = expiry
                }
            }
        }
        // The tables that see this VM's traffic hold its identities; the others drop anything
        // from its interface, so a wrong declaration fails closed. (A "bridged" VM that is in
        // fact routed has its IP dropped by the inet table; its ARP can then only reach the
        // host's view of its own point-to-point link, so the arp table needs no marker.)
        let all: [NftFamily]
        let misplaced: [NftFamily]
        switch vm.attachment {
        case .bridged: (all, misplaced) = ([.bridge], [.inet])
        case .routed: (all, misplaced) = ([.inet, .arp], [.bridge])
        case .unspecified: (all, misplaced) = (NftFamily.allCases, [])
        }
        let ip = all.filter { $0 != .arp }
        let port = quote(vm.interface)
        add("vm_misplaced", port, in: misplaced)
        add("vm_ports", port, in: all)
        add("vm_mac", "\(port) . \(vm.mac)", in: all)
        for address in vm.ipv4 { add("vm_ip4", "\(port) . \(address)", in: all) }
        var v6 = vm.ipv6Sources
        for source in vm.allowedSources {
            switch source {
            case .v4(let net) where net.isHost:
                add("vm_ip4", "\(port) . \(net.address)", in: all)
            case .v4(let net):
                add("vm_ip4_net", "\(port) . \(net)", in: all)
            case .v6(let net):
                v6.append(net)
            }
        }
        for net in v6 {
            if net.isHost {
                add("vm_ip6", "\(port) . \(net.address.hexLiteral)", in: ip)
            } else if net.prefixLength == 64 {
                add("vm_ip6_64", "\(port) . \(net.address.highHexLiteral)", in: ip)
            } else {
                add("vm_ip6_net", "\(port) . \(net.first.hexLiteral)-\(net.last.hexLiteral)", in: ip)
            }
        }
        if state.policy.accessType(of: vm) == .restricted {
            add("restricted", port, in: ip)
            if all.contains(.bridge), let bridge = vm.bridge, let bridgeMAC = state.bridgeMACs[bridge] {
                add("vm_bridge_mac", "\(port) : \(bridgeMAC)", in: [.bridge])
            }
            for exemption in state.exemptions(for: vm.id) {
                for exempted in exemption.ports {
                    add("exempt", "\(port) . \(exempted)", in: ip, expiry: exemption.expiresAt)
                }
            }
        }
    }

    /// The element changes that bring a ruleset compiled from `old` to `new`, recomputing
    /// only the VMs in `changed`: the cost is independent of the number of other VMs.
    /// Nil when the policy (and so the skeleton) differs: compile anew.
    public static func delta(from old: DesiredState, to new: DesiredState, changed: Set<VMID>) -> RulesetDelta? {
        guard old.policy == new.policy else { return nil }
        var delta = RulesetDelta(now: new.now)
        for id in changed {
            if let vm = old.vm(id) {
                for (set, items) in contribution(of: vm, in: old) { delta.before[set, default: [:]].merge(items) { a, _ in a } }
            }
            if let vm = new.vm(id) {
                for (set, items) in contribution(of: vm, in: new) { delta.after[set, default: [:]].merge(items) { a, _ in a } }
            }
        }
        return delta
    }

    static func staticSetNames(_ family: NftFamily) -> [String] {
        switch family {
        case .bridge:
            ["vm_misplaced", "vm_ports", "vm_mac", "vm_ip4", "vm_ip4_net", "vm_ip6", "vm_ip6_64", "vm_ip6_net",
             "restricted", "exempt", "vm_bridge_mac"]
        case .inet:
            ["vm_misplaced", "vm_ports", "vm_mac", "vm_ip4", "vm_ip4_net", "vm_ip6", "vm_ip6_64", "vm_ip6_net", "restricted", "exempt"]
        case .arp:
            ["vm_misplaced", "vm_ports", "vm_mac", "vm_ip4", "vm_ip4_net"]
        }
    }

    /// Interface names are validated to `[A-Za-z0-9_.-]`, so quoting cannot be escaped.
    static func quote(_ name: InterfaceName) -> String { "\"\(name.name)\"" }

    // MARK: - Skeleton

    static func skeletons(policy: SitePolicy) -> [NftFamily: String] {
        [.bridge: bridgeTable(policy), .inet: inetTable(policy), .arp: arpTable()]
    }

    /// Every drop goes through a chain of its kind that counts, then drops, in two rules: a
    /// full counting set makes `update` stop its rule, and the drop must not go with it.
    static func drop(_ kind: DropKind) -> String {
        "goto drop_\(kind)"
    }

    static func dropChains(_ kinds: [DropKind]) -> String {
        kinds.map { kind in
            """
                chain drop_\(kind) {
                    update @drops { iifname . \(kind.rawValue) }
                    drop
                }

            """
        }.joined()
    }

    static let bridgeDropKinds: [DropKind] = DropKind.allCases
    static let inetDropKinds: [DropKind] = DropKind.allCases.filter { ![.ethertype, .arpMAC, .arpIP].contains($0) }
    static let arpDropKinds: [DropKind] = [.wrongAttachment, .arpMAC, .arpIP]

    static let identitySets = """
          set vm_misplaced { type ifname; }
          set vm_ports { type ifname; }
          set vm_mac { type ifname . ether_addr; }
          set vm_ip4 { type ifname . ipv4_addr; }
          set vm_ip4_net { type ifname . ipv4_addr; flags interval; }

      """

    /// IPv6 identities are keyed by raw 128-bit (or, for /64s, 64-bit) values rather than
    /// `ipv6_addr`, so that one set serves both the source check (`@nh,64,128`, the IPv6
    /// source address) and the NDP target check (`@th,64,128`: nft 1.0.6 has no
    /// `icmpv6 taddr`). Typed sets would need a second copy of every address.
    static let ipv6Sets = """
          set vm_ip6 { typeof iifname . @nh,64,128; }
          set vm_ip6_64 { typeof iifname . @nh,64,64; }
          set vm_ip6_net { typeof iifname . @nh,64,128; flags interval; }

      """

    static let restrictionSets = """
          set restricted { type ifname; }
          set exempt { type ifname . inet_service; flags timeout; }
          set rejected { type ifname . inet_service; flags dynamic; size 262144; counter; }

      """

    static let dropSet = """
          set drops { type ifname . inet_service; flags dynamic; size 262144; counter; }

      """

    static func ipv4Chain() -> String {
        """
            chain vm_ip4 {
                ip saddr 0.0.0.0 ip daddr 255.255.255.255 udp sport 68 udp dport 67 accept
                udp sport 67 udp dport 68 \(drop(.dhcp4Server))
                iifname . ip saddr @vm_ip4 accept
                iifname . ip saddr @vm_ip4_net accept
                \(drop(.ipv4Source))
            }

        """
    }

    /// IPv6 from a VM. Hash sets hold single addresses and /64s (the common cases); only
    /// other prefix lengths need the slower interval sets. The source is read at `@nh,64`
    /// and the ND target at `@th,64`, both matched against the same sets.
    static func ipv6Chain() -> String {
        """
            chain vm_ip6 {
                icmpv6 type nd-router-advert \(drop(.routerAdvertisement))
                icmpv6 type nd-redirect \(drop(.redirect))
                udp sport 547 udp dport 546 \(drop(.dhcp6Server))
                ip6 saddr :: icmpv6 type { mld-listener-report, mld2-listener-report } accept
                ip6 saddr :: icmpv6 type nd-neighbor-solicit goto vm_nd_target
                jump vm_ip6_source
                icmpv6 type nd-neighbor-advert goto vm_nd_target
                accept
            }

            chain vm_ip6_source {
                iifname . @nh,64,128 @vm_ip6 return
                iifname . @nh,64,64 @vm_ip6_64 return
                iifname . @nh,64,128 @vm_ip6_net return
                \(drop(.ipv6Source))
            }

            chain vm_nd_target {
                iifname . @th,64,128 @vm_ip6 accept
                iifname . @th,64,64 @vm_ip6_64 accept
                iifname . @th,64,128 @vm_ip6_net accept
                \(drop(.ndTarget))
            }

        """
    }

    static func arpChain() -> String {
        """
            chain vm_arp {
                iifname . arp saddr ether != @vm_mac \(drop(.arpMAC))
                arp saddr ip 0.0.0.0 accept
                iifname . arp saddr ip @vm_ip4 accept
                iifname . arp saddr ip @vm_ip4_net accept
                \(drop(.arpIP))
            }

        """
    }

    static func restrictedChain(_ policy: SitePolicy, verdict: String) -> String {
        guard !policy.restrictedTCPPorts.isEmpty else { return "" }
        return """
                iifname @restricted tcp dport { \(policy.restrictedTCPPorts.ports.map(\.description).joined(separator: ", ")) } goto restricted_port
            }

            chain restricted_port {
                iifname . tcp dport @exempt accept
                update @rejected { iifname . tcp dport }
                \(verdict)

        """
    }

    /// The mark of a bridged frame handed to the host to be refused (see `divertChains`).
    static let divertMark = "0x50430001"

    /// A restricted bridged VM's connection to a restricted port, answered with a TCP reset.
    /// The bridge family cannot `reject` on this kernel (no CONFIG_NFT_BRIDGE_REJECT), so
    /// the frame is addressed to the bridge itself and marked; the host's IP stack sees it
    /// in `inet portcullis prerouting` and rejects it there. A VM whose bridge address is
    /// unknown misses the map lookup and is dropped right here: a drop in the forward chain
    /// would miss frames the bridge delivers to the host itself (a NAT bridge like virbr0).
    static func divertChains(_ policy: SitePolicy) -> String {
        guard !policy.restrictedTCPPorts.isEmpty else { return "" }
        return """
            chain divert {
                type filter hook prerouting priority -300; policy accept;
                iifname @restricted tcp dport { \(policy.restrictedTCPPorts.ports.map(\.description).joined(separator: ", ")) } goto restricted_divert
            }

            chain restricted_divert {
                iifname . tcp dport @exempt return
                update @rejected { iifname . tcp dport }
                ether daddr set iifname map @vm_bridge_mac meta pkttype set host meta mark set \(divertMark) accept
                drop
            }

        """
    }

    static func bridgeTable(_ policy: SitePolicy) -> String {
        """
        table bridge portcullis {
            comment "\(commentPlaceholder)"
        \(fingerprintChain)\(identitySets)\(ipv6Sets)\(restrictionSets)\(dropSet)    map vm_bridge_mac { type ifname : ether_addr; }

            chain prerouting {
                type filter hook prerouting priority -350; policy accept;
                iifname @vm_misplaced \(drop(.wrongAttachment))
                iifname @vm_ports goto from_vm
            }

            chain from_vm {
                iifname . ether saddr != @vm_mac \(drop(.macSource))
                ether type vmap { ip : goto vm_ip4, ip6 : goto vm_ip6, arp : goto vm_arp }
                \(drop(.ethertype))
            }

        \(ipv4Chain())\(ipv6Chain())\(arpChain())\(divertChains(policy))\(dropChains(bridgeDropKinds))
            chain forward {
                type filter hook forward priority -10; policy accept;
        \(restrictedChain(policy, verdict: "drop"))    }
        }

        """
    }

    static func inetTable(_ policy: SitePolicy) -> String {
        """
        table inet portcullis {
            comment "\(commentPlaceholder)"
        \(fingerprintChain)\(identitySets)\(ipv6Sets)\(restrictionSets)\(dropSet)
            chain prerouting {
                type filter hook prerouting priority -350; policy accept;
        \(policy.restrictedTCPPorts.isEmpty ? "" : "        meta mark \(divertMark) reject with tcp reset\n")        iifname @vm_misplaced \(drop(.wrongAttachment))
                iifname @vm_ports goto from_vm
            }

            chain from_vm {
                iifname . ether saddr != @vm_mac \(drop(.macSource))
                meta nfproto vmap { ipv4 : goto vm_ip4, ipv6 : goto vm_ip6 }
            }

        \(ipv4Chain())\(ipv6Chain())\(dropChains(inetDropKinds))
            chain forward {
                type filter hook forward priority -10; policy accept;
        \(restrictedChain(policy, verdict: "reject with tcp reset"))    }
        }

        """
    }

    static func arpTable() -> String {
        """
        table arp portcullis {
            comment "\(commentPlaceholder)"
        \(fingerprintChain)\(identitySets)\(dropSet)
            chain input {
                type filter hook input priority -350; policy accept;
                iifname @vm_misplaced \(drop(.wrongAttachment))
                iifname @vm_ports goto vm_arp
            }

        \(arpChain())\(dropChains(arpDropKinds))}

        """
    }

    /// FNV-1a, 64 bit: a stable fingerprint of the skeleton text (not a security boundary).
    static func fnv1a(_ text: String) -> String {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in text.utf8 {
            hash ^= UInt64(byte)
            hash = hash &* 0x0000_0100_0000_01b3
        }
        let hex = String(hash, radix: 16)
        return String(repeating: "0", count: 16 - hex.count) + hex
    }
}
