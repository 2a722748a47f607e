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
    /// VM's interface name, which no two VMs share, or, in `smtp_vm_mac`, with its MAC, which
    /// no two VMs share either), so the whole is the disjoint union of the VMs' contributions
    /// and one VM can be updated on its own.
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
        // A bridge port whose bridge address is known is listed in the map that diverts its
        // frames to the host (restricted ports, SMTP); the map doubles as its port set, so the
        // VM costs one element there, not two. Without an address it stays in vm_ports, and a
        // divert it would need is a drop.
        let bridgeMAC = all.contains(.bridge) ? vm.bridge.flatMap { state.bridgeMACs[$0] } : nil
        add("vm_misplaced", port, in: misplaced)
        if let bridgeMAC {
            add("vm_bridge_mac", "\(port) : \(bridgeMAC)", in: [.bridge])
            add("vm_ports", port, in: all.filter { $0 != .bridge })
            if state.policy.smtp.mode == .proxy {
                // The relay's upstream leg uses the VM's address, so the MX answers to the VM's
                // MAC; this map turns those frames to the host, where the relay's socket is.
                add("smtp_vm_mac", "\(vm.mac) : \(bridgeMAC)", in: [.bridge])
            }
        } else {
            add("vm_ports", port, in: all)
        }
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
        for filter in state.filters(for: vm.id) {
            let (set, key) = filterElement(filter, port: port)
            add(set, key, in: ip, expiry: filter.expiresAt)
            add(filter.direction == .outbound ? "filtered_out" : "filtered_in", port, in: ip, expiry: filter.expiresAt)
        }
        if state.policy.accessType(of: vm) == .restricted {
            add("restricted", port, in: ip)
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

    /// The set and key of one filter: which set depends on whether it names a port and a
    /// far-side prefix, so that every set is a plain lookup.
    static func filterElement(_ filter: Filter, port interface: String) -> (set: String, key: String) {
        let direction = filter.direction == .outbound ? "out" : "in"
        switch filter.effect {
        case .quarantine: return ("out_quarantine", interface)
        case .throttle: return ("out_throttle", interface)
        case .block: break
        }
        switch (filter.remote, filter.port) {
        case (nil, nil): return ("\(direction)_all", interface)
        case (nil, let port?): return ("\(direction)_port", "\(interface) . \(port)")
        case (.v4(let net)?, nil): return ("\(direction)_net4", "\(interface) . \(net)")
        case (.v6(let net)?, nil): return ("\(direction)_net6", "\(interface) . \(net)")
        case (.v4(let net)?, let port?): return ("\(direction)_net4_port", "\(interface) . \(net) . \(port)")
        case (.v6(let net)?, let port?): return ("\(direction)_net6_port", "\(interface) . \(net) . \(port)")
        }
    }


    static func staticSetNames(_ family: NftFamily) -> [String] {
        switch family {
        case .bridge:
            ["vm_misplaced", "vm_ports", "vm_mac", "vm_ip4", "vm_ip4_net", "vm_ip6", "vm_ip6_64", "vm_ip6_net",
             "restricted", "exempt", "vm_bridge_mac", "smtp_vm_mac"] + filterSetNames
        case .inet:
            ["vm_misplaced", "vm_ports", "vm_mac", "vm_ip4", "vm_ip4_net", "vm_ip6", "vm_ip6_64", "vm_ip6_net", "restricted", "exempt"]
                + filterSetNames
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

    /// One chain per drop kind: count per VM and kind, then drop. With abuse detection on
    /// (`sampleGroup`), spoofed packets are also sampled to NFLOG, a few a second per VM and a
    /// few dozen in all (the group also carries the scan events), as the evidence of a spoofing
    /// case (source and destination, when). The arp table has no
    /// detector sets and passes nil: there, routed VMs' ARP drops are counted only.
    static func dropChains(_ kinds: [DropKind], sampleGroup: UInt16? = nil) -> String {
        kinds.map { kind in
            let sample = sampleGroup.flatMap { group in
                AbuseSettings.spoofKinds.contains(kind.description)
                    ? "        update @spoof_logged { iifname limit rate \(ScanDetection.spoofSamplesPerSecond)/second } "
                        + "limit rate \(ScanDetection.spoofSamplesPerSecondInAll)/second "
                        + "log group \(group) prefix \"\(ScanDetection.spoofPrefix):\(kind) \"\n"
                    : nil
            } ?? ""
            // Inbound filter drops belong to the VM the traffic was going to.
            return """
                chain drop_\(kind) {
            \(sample)        update @drops { \(kind == .filteredIn ? "oifname" : "iifname") . \(kind.rawValue) }
                    drop
                }

            """
        }.joined()
    }

    static let bridgeDropKinds: [DropKind] = DropKind.allCases
    static let inetDropKinds: [DropKind] = DropKind.allCases.filter { ![.ethertype, .arpMAC, .arpIP, .smtpUndiverted].contains($0) }
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

    /// One direction of filtering. Going out, the VM's interface is the input and the far side
    /// the destination; coming in, the interface is the output and the far side the source.
    struct FilterDirection {
        let name: String  // "out" / "in": the prefix of its sets
        let interface: String
        let far: String
        let drop: DropKind

        static let all = [
            FilterDirection(name: "out", interface: "iifname", far: "daddr", drop: .filteredOut),
            FilterDirection(name: "in", interface: "oifname", far: "saddr", drop: .filteredIn),
        ]
    }

    /// The filter sets by shape (see `filterElement`), and `filtered_<direction>`, the index of
    /// the VMs that have any, so that unfiltered traffic pays one lookup.
    static let filterShapes: [(name: String, type: String, interval: Bool)] = [
        ("all", "ifname", false), ("port", "ifname . inet_service", false),
        ("net4", "ifname . ipv4_addr", true), ("net6", "ifname . ipv6_addr", true),
        ("net4_port", "ifname . ipv4_addr . inet_service", true), ("net6_port", "ifname . ipv6_addr . inet_service", true),
    ]

    static let filterSetNames = FilterDirection.all.flatMap { d in ["filtered_\(d.name)"] + filterShapes.map { "\(d.name)_\($0.name)" } }
        + ["out_quarantine", "out_throttle"]

    /// Every element has the filter's timeout: the kernel lifts it on time by itself.
    static func filterSets(_ policy: SitePolicy) -> String {
        FilterDirection.all.map { d in
            "    set filtered_\(d.name) { type ifname; flags timeout; }\n" + filterShapes.map { shape in
                "    set \(d.name)_\(shape.name) { type \(shape.type); flags \(shape.interval ? "interval, " : "")timeout; }\n"
            }.joined()
        }.joined() + "    set out_quarantine { type ifname; flags timeout; }\n" + quarantineAllowSets(policy)
            + "    set out_throttle { type ifname; flags timeout; }\n"
            + "    set throttle_tcp { type ifname; flags dynamic, timeout; timeout 1m; size \(ScanDetection.setSize); }\n"
            + "    set throttle_udp { type ifname; flags dynamic, timeout; timeout 1m; size \(ScanDetection.setSize); }\n\n"
    }

    /// What quarantined VMs may still reach, from the site policy (a change is a new skeleton).
    static func quarantineAllowSets(_ policy: SitePolicy) -> String {
        var v4: [String] = []
        var v6: [String] = []
        for destination in policy.quarantineAllow {
            switch destination.network {
            case .v4(let net): v4.append("\(net) . \(destination.transport.rawValue) . \(destination.port)")
            case .v6(let net): v6.append("\(net) . \(destination.transport.rawValue) . \(destination.port)")
            }
        }
        func set(_ name: String, _ type: String, _ elements: [String]) -> String {
            "    set \(name) { type \(type) . inet_proto . inet_service; flags interval; "
                + (elements.isEmpty ? "" : "elements = { \(elements.joined(separator: ", ")) }; ") + "}\n"
        }
        return set("quarantine_allow4", "ipv4_addr", v4) + set("quarantine_allow6", "ipv6_addr", v6)
    }

    /// Outbound filters run right after anti-spoofing (priority -340), before anything that
    /// diverts or relays the VM's traffic; inbound filters first in the forward chain, where
    /// the VM's interface is the output (`inboundFilterJump`).
    static func filterChains(_ policy: SitePolicy) -> String {
        let hook = """
            chain outbound_filter_hook {
                type filter hook prerouting priority -340; policy accept;
                iifname @filtered_out goto outbound_filter
            }

        """
        // A quarantined VM's packets go on to the other filters only if they are for an
        // allowed destination; anything else over IP is dropped (a packet without ports, such as
        // ICMP, matches no allowed element). ARP is left to anti-spoofing.
        let quarantine = """
            chain quarantine {
                ip daddr . meta l4proto . th dport @quarantine_allow4 return
                ip6 daddr . meta l4proto . th dport @quarantine_allow6 return
                meta protocol { ip, ip6 } goto drop_\(DropKind.quarantined)
            }

        """
        return hook + quarantine + FilterDirection.all.map { d in
            let (i, far, drop) = (d.interface, d.far, "goto drop_\(d.drop)")
            let chain = d.name == "out" ? "outbound_filter" : "inbound_filter"
            let tcp = "limit rate over \(policy.throttle.connectionsPerMinute)/minute burst \(policy.throttle.connectionsPerMinute) packets"
            let udp = "limit rate over \(policy.throttle.udpPacketsPerSecond)/second burst \(policy.throttle.udpPacketsPerSecond) packets"
            let first = d.name == "out" ? """
                        iifname @out_quarantine jump quarantine
                        tcp flags & (syn | ack) == syn iifname @out_throttle update @throttle_tcp { iifname \(tcp) } goto drop_\(DropKind.throttled)
                        meta l4proto udp iifname @out_throttle update @throttle_udp { iifname \(udp) } goto drop_\(DropKind.throttled)

                """ : ""
            return "    chain \(chain) {\n" + first + """
                    \(i) @\(d.name)_all \(drop)
                    meta l4proto { tcp, udp } \(i) . th dport @\(d.name)_port \(drop)
                    \(i) . ip \(far) @\(d.name)_net4 \(drop)
                    \(i) . ip6 \(far) @\(d.name)_net6 \(drop)
                    meta l4proto { tcp, udp } \(i) . ip \(far) . th dport @\(d.name)_net4_port \(drop)
                    meta l4proto { tcp, udp } \(i) . ip6 \(far) . th dport @\(d.name)_net6_port \(drop)
                }

            """
        }.joined()
    }

    /// Port-scan detection (see `ScanDetection`): a VM's TCP first contacts, counted per host
    /// and per port in dynamic sets with timeouts; past a budget, one NFLOG event per VM at most
    /// twice a second. Runs after the outbound filters (priority -330), so a VM filtered for
    /// scanning stops feeding the sets. A full `scan_seen` set stops remembering first
    /// contacts, which makes every SYN count: detection errs towards seeing a scan, never
    /// goes blind for a VM that is still connecting.
    static func scanSets(_ policy: SitePolicy) -> String {
        guard let scan = policy.scanDetection else { return "" }
        let window = "timeout \(scan.window); size \(ScanDetection.setSize);"
        return """
              set scan_seen4 { type ifname . ipv4_addr . inet_service; flags dynamic, timeout; \(window) }
              set scan_seen6 { type ifname . ipv6_addr . inet_service; flags dynamic, timeout; \(window) }
              set scan_ports4 { type ifname . ipv4_addr; flags dynamic, timeout; \(window) }
              set scan_ports6 { type ifname . ipv6_addr; flags dynamic, timeout; \(window) }
              set scan_hosts { type ifname . inet_service; flags dynamic, timeout; \(window) }
              set scan_budget { type ifname; flags dynamic, timeout; timeout 1m; size \(ScanDetection.setSize); }
              set syn_rate { type ifname; flags dynamic, timeout; timeout 1m; size \(ScanDetection.setSize); }
              set syn_logged { type ifname; flags dynamic, timeout; timeout 1m; size \(ScanDetection.setSize); }
              set scan_logged { type ifname; flags dynamic, timeout; timeout 1m; size \(ScanDetection.setSize); }
              set spoof_logged { type ifname; flags dynamic, timeout; timeout 1m; size \(ScanDetection.setSize); }

          """
    }

    static func scanChains(_ policy: SitePolicy, family: NftFamily) -> String {
        guard let scan = policy.scanDetection else { return "" }
        let ports = "limit rate over \(ScanDetection.perMinute(scan.portsPerHost, window: scan.window))/minute burst \(scan.portsPerHost) packets"
        let hosts = "limit rate over \(ScanDetection.perMinute(scan.hostsPerPort, window: scan.window))/minute burst \(scan.hostsPerPort) packets"
        let vmSets = family == .bridge ? ["vm_ports", "vm_bridge_mac"] : ["vm_ports"]
        let flood = "update @syn_rate { iifname limit rate over \(scan.synFloodPerSecond)/second burst \(scan.synFloodPerSecond) packets } jump syn_flood_event"
        let fromVM = vmSets.map { "        tcp flags & (syn | ack) == syn iifname @\($0) \(flood)\n" }.joined()
            + vmSets.map { "        tcp flags & (syn | ack) == syn iifname @\($0) goto scan_watch\n" }.joined()
        return """
            chain scan_watch_hook {
                type filter hook prerouting priority -330; policy accept;
        \(fromVM)    }

            chain scan_watch {
                iifname . ip daddr . tcp dport @scan_seen4 return
                iifname . ip6 daddr . tcp dport @scan_seen6 return
                update @scan_budget { iifname limit rate over \(ScanDetection.firstContactsPerMinute)/minute burst \(ScanDetection.firstContactsPerMinute) packets } goto scan_event
                update @scan_seen4 { iifname . ip daddr . tcp dport }
                update @scan_seen6 { iifname . ip6 daddr . tcp dport }
                update @scan_ports4 { iifname . ip daddr \(ports) } goto scan_event
                update @scan_ports6 { iifname . ip6 daddr \(ports) } goto scan_event
                update @scan_hosts { iifname . tcp dport \(hosts) } goto scan_event
            }

            chain scan_event {
                update @scan_logged { iifname limit rate 2/second } counter log group \(scan.nflogGroup) prefix "\(ScanDetection.logPrefix) "
            }

            chain syn_flood_event {
                update @syn_logged { iifname limit rate 2/second } counter log group \(scan.nflogGroup) prefix "\(ScanDetection.synFloodPrefix) "
            }

        """
    }

    static let inboundFilterJump = "        oifname @filtered_in goto inbound_filter\n"

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

    /// Marks that carry a decision from the bridge table to the host's IP stack, and from the
    /// ruleset to policy routing. "PC" in the high half keeps them clear of small marks an
    /// operator may already use.
    /// A bridged frame handed to the host to be refused (see `divertChains`).
    static let divertMark = "0x50430001"
    /// A bridged VM's port-25 frame handed to the host for the SMTP relay.
    static let relayMark = "0x50430002"
    /// A bridged MX's answer to the relay's upstream leg, handed to the host.
    static let replyMark = "0x50430003"
    /// Set on packets for the relay's sockets: the daemon's policy-routing rule delivers this
    /// mark locally whatever the destination address (`SMTPRouting`).
    public static let localDeliveryMark: UInt32 = 0x5043_0004

    /// Whether some bridged frame is handed to the host only to be refused there.
    static func divertsToRefuse(_ policy: SitePolicy) -> Bool {
        !policy.restrictedTCPPorts.isEmpty || policy.smtp.mode == .block
    }

    static func restrictedPortList(_ policy: SitePolicy) -> String {
        policy.restrictedTCPPorts.ports.map(\.description).joined(separator: ", ")
    }

    /// Bridged frames the host must see: a restricted VM's connection to a restricted port,
    /// answered with a TCP reset, and port 25 for the SMTP relay (or refused, in block mode).
    /// The bridge family cannot `reject` on this kernel (no CONFIG_NFT_BRIDGE_REJECT), so the
    /// frame is addressed to the bridge itself and marked; the host's IP stack sees it in
    /// `inet portcullis` prerouting. A VM whose bridge address is unknown is in `vm_ports`,
    /// not `vm_bridge_mac`: its frames miss the map lookup and are dropped right here (a drop
    /// in the forward chain would miss frames the bridge delivers to the host itself, as a
    /// NAT bridge like virbr0 does).
    static func divertChains(_ policy: SitePolicy) -> String {
        let restricted = !policy.restrictedTCPPorts.isEmpty
        let smtp = policy.smtp.mode != .allow
        guard restricted || smtp else { return "" }
        var divert = [String]()
        if restricted {
            divert.append("iifname @restricted tcp dport { \(restrictedPortList(policy)) } iifname . tcp dport != @exempt goto restricted_divert")
        }
        if smtp {
            divert.append("tcp dport \(SMTPInterception.port) iifname @vm_bridge_mac goto smtp_divert")
            divert.append("tcp dport \(SMTPInterception.port) iifname @vm_ports \(drop(.smtpUndiverted))")
        }
        if policy.smtp.mode == .proxy {
            // From any port, VM ports included: an MX on another VM of this host answers too.
            let toHost = "ether daddr set ether daddr map @smtp_vm_mac meta pkttype set host meta mark set \(replyMark) accept"
            divert.append("tcp sport \(SMTPInterception.port) \(toHost)")
            // ICMP errors about a connection from a relayed VM's address to port 25 are about the
            // relay's upstream leg (the VM's own port 25 connections all end at the relay): they go
            // to the host too, where they find the relay's socket, so path MTU discovery works and
            // the VM is not told about a connection it does not have. The inner header starts 8
            // bytes into the ICMP message: protocol and destination port at fixed offsets (the
            // host's TCP sends no IPv4 options or IPv6 extension headers).
            divert.append("icmp type { destination-unreachable, time-exceeded } @th,136,8 6 @th,240,16 \(SMTPInterception.port) \(toHost)")
            divert.append("icmpv6 type { destination-unreachable, packet-too-big, time-exceeded } @th,112,8 6 @th,400,16 \(SMTPInterception.port) \(toHost)")
        }
        var text = """
            chain divert {
                type filter hook prerouting priority -300; policy accept;
        \(divert.map { "        \($0)\n" }.joined())    }

        """
        if restricted {
            text += """

                chain restricted_divert {
                    update @rejected { iifname . tcp dport }
                    ether daddr set iifname map @vm_bridge_mac meta pkttype set host meta mark set \(divertMark) accept
                    drop
                }

            """
        }
        if smtp {
            let (count, mark) = policy.smtp.mode == .block ? ("        update @rejected { iifname . tcp dport }\n", divertMark) : ("", relayMark)
            text += """

                chain smtp_divert {
            \(count)        ether daddr set iifname map @vm_bridge_mac meta pkttype set host meta mark set \(mark) accept
                    drop
                }

            """
        }
        return text
    }

    /// A bridged VM's port 25 never leaves through the bridge when the relay or a block is in
    /// force: every such frame was handed to the host in prerouting, so one here went around it.
    /// Nor does a frame addressed to the host: if the bridge's address changed since the last
    /// round, the bridge would flood it to every port instead of delivering it.
    static func bridgeSMTPBypass(_ policy: SitePolicy) -> String {
        guard policy.smtp.mode != .allow else { return divertsToRefuse(policy) ? "        meta mark \(divertMark) drop\n" : "" }
        return """
                meta mark { \(divertMark), \(relayMark), \(replyMark) } drop
                tcp dport \(SMTPInterception.port) iifname @vm_ports drop
                tcp dport \(SMTPInterception.port) iifname @vm_bridge_mac drop

        """
    }

    /// The routed half of `bridgeSMTPBypass`: port 25 from a VM that is not refused as
    /// restricted was taken by the relay (or refused) in prerouting, never forwarded.
    static func inetSMTPBypass(_ policy: SitePolicy) -> String {
        guard policy.smtp.mode != .allow else { return "" }
        return """
                tcp dport \(SMTPInterception.port) iifname @vm_ports iifname != @restricted reject with tcp reset
                iifname . tcp dport @exempt tcp dport \(SMTPInterception.port) reject with tcp reset

        """
    }

    /// Port 25 of routed VMs, and what bridged VMs handed over (recipes B1 and A1 of
    /// docs/interception.md). `tproxy` gives the connection to the relay's transparent listener
    /// and marks it for local delivery; when nothing listens the rule stops and the next one
    /// refuses the connection: fail closed, never passed through. The MX's answers to the
    /// relay's upstream leg (addressed to the VM) belong to a transparent socket of the relay.
    static func smtpChains(_ policy: SitePolicy) -> String {
        let port = SMTPInterception.port
        let restrictedSMTP = policy.restrictedTCPPorts.contains(port)
            ? "        iifname @restricted iifname . tcp dport != @exempt return\n" : ""
        switch policy.smtp.mode {
        case .allow:
            return ""
        case .block:
            return """
                chain smtp {
                    type filter hook prerouting priority -150; policy accept;
                    tcp dport \(port) iifname @vm_ports goto smtp_from_vm
                }

                chain smtp_from_vm {
            \(restrictedSMTP)        update @rejected { iifname . tcp dport }
                    reject with tcp reset
                }

            """
        case .proxy:
            let local = "0x" + String(localDeliveryMark, radix: 16)
            return """
                chain smtp {
                    type filter hook prerouting priority -150; policy accept;
                    meta mark \(relayMark) goto smtp_relay
                    meta mark \(replyMark) goto smtp_reply
                    tcp dport \(port) iifname @vm_ports goto smtp_from_vm
                    tcp sport \(port) socket transparent 1 meta mark set \(local) accept
                    icmp type { destination-unreachable, time-exceeded } socket transparent 1 meta mark set \(local) accept
                    icmpv6 type { destination-unreachable, packet-too-big, time-exceeded } socket transparent 1 meta mark set \(local) accept
                    tcp dport \(policy.smtp.listenPort) fib daddr type local drop
                }

                chain smtp_from_vm {
            \(restrictedSMTP)        goto smtp_relay
                }

                chain smtp_relay {
                    fib daddr type { local, broadcast, multicast } reject with tcp reset
                    meta nfproto ipv4 meta l4proto tcp tproxy ip to :\(policy.smtp.listenPort) meta mark set \(local) accept
                    meta nfproto ipv6 meta l4proto tcp tproxy ip6 to :\(policy.smtp.listenPort) meta mark set \(local) accept
                    reject with tcp reset
                }

                chain smtp_reply {
                    socket transparent 1 meta mark set \(local) accept
                    drop
                }

            """
        }
    }

    static func bridgeTable(_ policy: SitePolicy) -> String {
        """
        table bridge portcullis {
            comment "\(commentPlaceholder)"
        \(fingerprintChain)\(identitySets)\(ipv6Sets)\(restrictionSets)\(filterSets(policy))\(scanSets(policy))\(dropSet)    map vm_bridge_mac { type ifname : ether_addr; }
            map smtp_vm_mac { type ether_addr : ether_addr; }

            chain prerouting {
                type filter hook prerouting priority -350; policy accept;
                iifname @vm_misplaced \(drop(.wrongAttachment))
                iifname @vm_ports goto from_vm
                iifname @vm_bridge_mac goto from_vm
            }

            chain from_vm {
                iifname . ether saddr != @vm_mac \(drop(.macSource))
                ether type vmap { ip : goto vm_ip4, ip6 : goto vm_ip6, arp : goto vm_arp }
                \(drop(.ethertype))
            }

        \(ipv4Chain())\(ipv6Chain())\(arpChain())\(divertChains(policy))\(filterChains(policy))\(scanChains(policy, family: .bridge))\(dropChains(bridgeDropKinds, sampleGroup: policy.scanDetection?.nflogGroup))
            chain forward {
                type filter hook forward priority -10; policy accept;
        \(inboundFilterJump)\(bridgeSMTPBypass(policy))\(restrictedChain(policy, verdict: "drop"))    }
        }

        """
    }

    static func inetTable(_ policy: SitePolicy) -> String {
        """
        table inet portcullis {
            comment "\(commentPlaceholder)"
        \(fingerprintChain)\(identitySets)\(ipv6Sets)\(restrictionSets)\(filterSets(policy))\(scanSets(policy))\(dropSet)
            chain prerouting {
                type filter hook prerouting priority -350; policy accept;
        \(divertsToRefuse(policy) ? "        meta mark \(divertMark) reject with tcp reset\n" : "")        iifname @vm_misplaced \(drop(.wrongAttachment))
                iifname @vm_ports goto from_vm
            }

            chain from_vm {
                iifname . ether saddr != @vm_mac \(drop(.macSource))
                meta nfproto vmap { ipv4 : goto vm_ip4, ipv6 : goto vm_ip6 }
            }

        \(ipv4Chain())\(ipv6Chain())\(smtpChains(policy))\(filterChains(policy))\(scanChains(policy, family: .inet))\(dropChains(inetDropKinds, sampleGroup: policy.scanDetection?.nflogGroup))
            chain forward {
                type filter hook forward priority -10; policy accept;
        \(inboundFilterJump)\(inetSMTPBypass(policy))\(restrictedChain(policy, verdict: "reject with tcp reset"))    }
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
