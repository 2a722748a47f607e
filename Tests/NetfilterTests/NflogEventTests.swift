import Foundation
import Testing
@testable import Netfilter

/// The one-line packet descriptions that go into spoofing cases, from the header bytes NFLOG
/// copies: never payload, and nothing printed that the header does not say.
@Suite struct NflogEventTests {
    static func event(_ hex: String, mac: String? = nil) -> NflogEvent {
        let bytes = stride(from: 0, to: hex.count, by: 2).map { offset -> UInt8 in
            let start = hex.index(hex.startIndex, offsetBy: offset)
            return UInt8(hex[start..<hex.index(start, offsetBy: 2)], radix: 16)!
        }
        return NflogEvent(prefix: "portcullis:spoof:ipv4_source", interface: "vm1", packet: bytes, sourceMAC: mac, time: Date())
    }

    @Test(arguments: [
        // IPv4 UDP 203.0.113.99:40000 -> 203.0.113.1:9
        ("4500001c000100004011000acb007163cb007101" + "9c400009000800", "02:00:00:00:02:01",
         "MAC 02:00:00:00:02:01, IPv4 UDP 203.0.113.99:40000 -> 203.0.113.1:9"),
        // IPv4 with options (IHL 6) TCP 198.51.100.66:1234 -> 198.51.100.1:443
        ("46000020000100004006000ac6336442c6336401" + "00000000" + "04d201bb", nil,
         "IPv4 TCP 198.51.100.66:1234 -> 198.51.100.1:443"),
        // IPv4 ICMP: no ports
        ("4500001c000100004001000ac0000201c0000202" + "0800", nil, "IPv4 ICMP 192.0.2.1 -> 192.0.2.2"),
        // IPv6 UDP 2001:db8:1::99 -> 2001:db8:1::1, 40000 -> 9
        ("6000000000081140" + "20010db8000100000000000000000099" + "20010db8000100000000000000000001" + "9c400009", nil,
         "IPv6 UDP [2001:db8:1::99]:40000 -> [2001:db8:1::1]:9"),
        // IPv6 cut before the ports
        ("6000000000083a40" + "fe800000000000000000000000000bad" + "ff020000000000000000000000000001", nil,
         "IPv6 ICMPv6 [fe80::bad] -> [ff02::1]"),
        // ARP reply: 203.0.113.1 is at 02:66:66:66:66:66
        ("0001080006040002" + "026666666666" + "cb007101" + "ffffffffffff" + "cb007101", nil,
         "ARP reply: 203.0.113.1 is at 02:66:66:66:66:66"),
        // ARP request
        ("0001080006040001" + "020000000201" + "cb00710a" + "000000000000" + "cb007101", nil,
         "ARP request: who has 203.0.113.1, tell 203.0.113.10 at 02:00:00:00:02:01"),
        // A later fragment: no ports, whatever its bytes say
        ("4500001c00010010401100" + "0acb007163cb007101" + "9c400009000800", nil, "IPv4 UDP 203.0.113.99 -> 203.0.113.1"),
        // A header length under 20 bytes: no ports
        ("4300001c000100004011000acb007163cb007101" + "9c400009000800", nil, "IPv4 UDP 203.0.113.99 -> 203.0.113.1"),
        ("8100", nil, "a frame of 2+ bytes that is not IPv4, IPv6 or ARP"),
        ("", "02:66:66:66:66:66", "MAC 02:66:66:66:66:66, (no packet bytes)"),
    ])
    func summary(hex: String, mac: String?, expected: String) {
        #expect(Self.event(hex, mac: mac).summary == expected)
    }
}
