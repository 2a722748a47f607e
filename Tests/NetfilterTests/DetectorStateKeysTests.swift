import Testing
@testable import Netfilter

/// What the enforcer deletes when an operator lifts a scan filter: only the VM's own elements,
/// keys written back as nft reads them, nothing about to expire, nothing it cannot vouch for.
@Suite struct DetectorStateKeysTests {
    static let listing = #"""
        {"nftables": [{"metainfo": {"version": "1.0.6"}}, {"set": {"family": "inet", "name": "scan_seen4", "table": "portcullis", "type": ["ifname", "ipv4_addr", "inet_service"], "timeout": 300, "elem": [{"elem": {"val": {"concat": ["vmpriv0", "198.51.100.99", 22]}, "expires": 290}}, {"elem": {"val": {"concat": ["vmpub0", "198.51.100.99", 22]}, "expires": 290}}, {"elem": {"val": {"concat": ["vmpriv0", "198.51.100.98", 23]}, "expires": 1}}]}}]}
        {"nftables": [{"set": {"family": "inet", "name": "scan_ports6", "table": "portcullis", "type": ["ifname", "ipv6_addr"], "elem": [{"elem": {"val": {"concat": ["vmpriv0", "2001:db8:1::99"]}, "expires": 200, "limit": {"rate": 3, "burst": 15, "per": "minute", "inv": true}}}, {"elem": {"val": {"concat": ["vmpriv0", "2001:db8::1\" }; flush ruleset; {"]}, "expires": 200}}]}}]}
        {"nftables": [{"set": {"family": "inet", "name": "scan_budget", "table": "portcullis", "type": "ifname", "elem": [{"elem": {"val": "vmpriv0", "expires": 59, "limit": {"rate": 300, "burst": 300, "per": "minute", "inv": true}}}, {"elem": {"val": "vmpub0", "expires": 59}}]}}]}
        """#

    @Test func onlyTheInterfacesOwnElements() {
        #expect(KernelSnapshot.keys(in: Self.listing, interface: "vmpriv0", soon: 2)
            == [#""vmpriv0" . 198.51.100.99 . 22"#, #""vmpriv0" . 2001:db8:1::99"#, #""vmpriv0""#])
        #expect(KernelSnapshot.keys(in: Self.listing, interface: "vmpub0", soon: 2) == [#""vmpub0" . 198.51.100.99 . 22"#, #""vmpub0""#])
        #expect(KernelSnapshot.keys(in: Self.listing, interface: "tap9", soon: 2).isEmpty)
    }
}
