import CNamespaceSupport
import CNftablesBatch
import Foundation
import Testing
import PortcullisCore

@testable import Netfilter
@testable import RulesetCompiler

/// Runs `body` on a thread of its own inside a new, empty network namespace (the namespace
/// is a property of the thread, and disappears with it, even when the test fails). The
/// kernel is real: needs root, like every test that loads rules.
func inPrivateNetworkNamespace<T: Sendable>(_ body: @escaping @Sendable () throws -> T) throws -> T {
    let box = ResultBox<T>()
    let done = DispatchSemaphore(value: 0)
    let thread = Thread {
        defer { done.signal() }
        guard portcullis_test_unshare_network() == 0 else {
            box.result = .failure(NamespaceError(message: "unshare(CLONE_NEWNET): \(String(cString: strerror(errno))) (run the tests as root)"))
            return
        }
        box.result = Result { try body() }
    }
    thread.start()
    done.wait()
    return try box.result!.get()
}

private final class ResultBox<T>: @unchecked Sendable {
    var result: Result<T, any Error>?
}

struct NamespaceError: Error, CustomStringConvertible {
    let message: String
    var description: String { message }
}

/// The kernel's view of our tables, with every set's elements in a fixed order (a hash set
/// lists them in bucket order), without handles and without the time left to timed elements.
func normalizedListing(_ nft: borrowing Nftables) throws -> String {
    var out: [String] = []
    for family in NftFamily.allCases {
        let json = try nft.run("list table \(family.rawValue) \(tableName)", json: true)
        guard let root = try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any],
              let items = root["nftables"] as? [[String: Any]] else { throw NamespaceError(message: "unexpected listing: \(json)") }
        for item in items {
            var item = item
            for kind in ["set", "map"] {
                guard var object = item[kind] as? [String: Any] else { continue }
                object["handle"] = nil
                if let elements = object["elem"] as? [Any] {
                    object["elem"] = try elements.map { element in
                        // A timed element's remaining time depends on when it is listed.
                        var element = element
                        if var wrapped = element as? [String: Any], var inner = wrapped["elem"] as? [String: Any] {
                            inner["expires"] = nil
                            wrapped["elem"] = inner
                            element = wrapped
                        }
                        return String(decoding: try JSONSerialization.data(withJSONObject: element, options: [.sortedKeys, .fragmentsAllowed]), as: UTF8.self)
                    }.sorted()
                }
                item[kind] = object
            }
            for kind in ["table", "chain", "rule"] {
                guard var object = item[kind] as? [String: Any] else { continue }
                object["handle"] = nil
                item[kind] = object
            }
            out.append(String(decoding: try JSONSerialization.data(withJSONObject: item, options: [.sortedKeys]), as: UTF8.self))
        }
    }
    return out.joined(separator: "\n")
}

@Suite struct SplicedReplaceTests {
    /// Every set that may be spliced holds elements: bridged and routed VMs with declared
    /// attachments, bridge ports with a known bridge address, the SMTP relay on.
    static func state() -> DesiredState {
        let base = NftablesTests.state(4)
        let vms = (0..<6).map { i in
            try! VM(id: "x\(i)", tenant: "t", contact: nil, interface: "tap-x.\(i)", mac: String(format: "0a:bc:00:00:00:%02x", i),
                    ipv4: [i % 2 == 0 ? "203.0.113.\(200 + i)" : "100.64.9.\(i)"],
                    ipv6: [String(format: "2001:db8:a%x::1", i), String(format: "2001:db8:b%x::/64", i)],
                    allowedSources: [], bridge: i % 2 == 0 ? "br0" : nil, routed: i % 2 == 1)
        }
        return DesiredState(policy: base.policy, vms: base.vms + vms, exemptions: base.exemptions, filters: base.filters,
                            now: base.now, bridgeMACs: [try! InterfaceName(parsing: "br0"): try! MACAddress(parsing: "02:42:ac:11:00:01")])
    }

    /// `count` VMs: even ones public and bridged (ports of br0, whose address is known), odd
    /// ones restricted and routed; each with an IPv4, an IPv6 address and a /64.
    static func fleet(_ count: Int) -> DesiredState {
        let vms = (0..<count).map { (i: Int) -> VM in
            let hi = (i >> 8) & 0xff, lo = i & 0xff
            let isPublic = i % 2 == 0
            let mac = String(format: "0a:00:00:%02x:%02x:%02x", (i >> 16) & 0xff, hi, lo)
            let ipv4 = isPublic ? "198.18.\(hi).\(lo)" : "100.64.\(hi).\(lo)"
            let ipv6 = [String(format: "2001:db8:%x::10", i), String(format: "2001:db8:ffff:%x::/64", i)]
            return try! VM(id: "f\(i)", tenant: "t", contact: nil, interface: "vnet\(i)", mac: mac, ipv4: [ipv4], ipv6: ipv6,
                           allowedSources: [], bridge: isPublic ? "br0" : nil, routed: !isPublic)
        }
        let policy = SitePolicy(site: "t", publicIPv4: [try! IPv4Network(parsing: "198.18.0.0/15")],
                                restrictedTCPPorts: PortSet([25, 465, 587].compactMap { Port($0) }))
        return DesiredState(policy: policy, vms: vms, exemptions: [], now: Date(),
                            bridgeMACs: [try! InterfaceName(parsing: "br0"): try! MACAddress(parsing: "02:42:ac:11:00:01")])
    }

    @Test func everySplicedSetHasElementsInTheTestState() {
        let ruleset = RulesetCompiler.compile(Self.state())
        let spliced = ruleset.staticSets.filter { ElementLayout.of($0) != nil }
        #expect(spliced.count == 20)
        // A bridged VM's marker in the arp table is never needed (see the compiler).
        let empty = spliced.filter { ruleset.elements[$0]?.isEmpty != false }
        #expect(empty == [SetRef(.arp, "vm_misplaced")], "empty sets are not covered by the comparison")
        // A layout is a plain key (no interval end, no timeout): the declarations must agree.
        for set in spliced {
            let declaration = ruleset.skeleton[set.family]!.split(separator: "\n").first { line in
                let words = line.split(separator: " ")
                return words.count >= 2 && ["set", "map"].contains(words[0]) && words[1] == set.name
            }
            #expect(declaration != nil, "\(set) is not declared")
            #expect(declaration?.contains("flags") == false, "\(set) has flags: \(declaration ?? "")")
        }
    }

    @Test func splicedLoadGivesTheKernelExactlyWhatTheTextGives() throws {
        let ruleset = RulesetCompiler.compile(Self.state())
        let viaText = try inPrivateNetworkNamespace {
            let nft = Nftables()
            try nft.run(ruleset.replaceScript())
            return try normalizedListing(nft)
        }
        let (path, viaSplice) = try inPrivateNetworkNamespace {
            var nft = Nftables()
            let path = try nft.replace(with: ruleset)
            return (path, try normalizedListing(nft))
        }
        guard case .spliced(_, let elements) = path else {
            Issue.record("the replace was not spliced: \(path)")
            return
        }
        #expect(elements > 50)
        #expect(viaSplice == viaText)
    }

    /// A listing cannot show a key's padding (the zeros after an interface name, between the
    /// fields of a concatenation), but a lookup compares every byte: deleting each spliced
    /// element by its text succeeds only if the kernel holds exactly the text's key. With
    /// 3,000 VMs every large set also spans several messages.
    @Test func everySplicedKeyIsTheTextsKeyByteForByte() throws {
        let ruleset = RulesetCompiler.compile(Self.fleet(3_000))
        let load = SplicedReplace(ruleset)
        #expect(load.messages.count > 20)
        let remaining = try inPrivateNetworkNamespace {
            var nft = Nftables()
            let path = try nft.replace(with: ruleset)
            guard case .spliced = path else { throw NamespaceError(message: "not spliced: \(path)") }
            var deletes = ""
            for set in ruleset.staticSets where ElementLayout.of(set) != nil {
                guard let items = ruleset.elements[set], !items.isEmpty else { continue }
                let keys = items.keys.map { key in key.split(separator: " : ").first.map(String.init) ?? key }
                deletes += "delete element \(set.family.rawValue) \(tableName) \(set.name) { \(keys.joined(separator: ", ")) }\n"
            }
            try nft.run(deletes)
            return try normalizedListing(nft)
        }
        #expect(!remaining.contains("\"elem\":["), "elements left after deleting every key: \(remaining.prefix(2_000))")
    }

    @Test func aSplicedReplaceOfExistingTablesKeepsTheOthers() throws {
        let small = RulesetCompiler.compile(NftablesTests.state(3))
        let large = RulesetCompiler.compile(Self.state())
        let (listing, expected, foreign) = try inPrivateNetworkNamespace {
            var nft = Nftables()
            try nft.run("table inet someone_else {\n set keep { type ipv4_addr; elements = { 192.0.2.1 }; }\n}\n")
            _ = try nft.replace(with: small)
            let path = try nft.replace(with: large)
            guard case .spliced = path else { throw NamespaceError(message: "not spliced: \(path)") }
            let listing = try normalizedListing(nft)
            try nft.run(large.replaceScript())
            return (listing, try normalizedListing(nft), try nft.run("list table inet someone_else"))
        }
        #expect(listing == expected)
        #expect(foreign.contains("192.0.2.1"))
    }

    /// Spliced elements the kernel refuses (they name a set the script does not have; the
    /// script would succeed alone): nothing is committed, not even the script's own element.
    /// With 40,000 of them the kernel's error replies, each echoing its message, are all
    /// accounted for, and the same `Nftables` works afterwards.
    @Test(arguments: [1, 40_000])
    func refusedElementsCommitNothingAndLeaveTheContextUsable(count: Int) throws {
        let good = RulesetCompiler.compile(NftablesTests.state(3))
        let (before, error, after, reloaded) = try inPrivateNetworkNamespace {
            var nft = Nftables()
            _ = try nft.replace(with: good)
            let before = try normalizedListing(nft)
            var messages = SetElementMessages()
            _ = messages.append(SetRef(.inet, "no_such_set"), layout: ElementLayout(key: [.ifname], data: nil),
                                items: (0..<count).map { "\"t\($0)\"" })
            var caught: SpliceFailure?
            do throws(SpliceFailure) {
                try nft.run(good.replaceScript() + "add element inet portcullis vm_ports { \"tap77\" }\n", splicing: messages)
            } catch {
                caught = error
            }
            let after = try normalizedListing(nft)
            try nft.run(good.replaceScript())
            return (before, caught, after, try normalizedListing(nft))
        }
        let failure = try #require(error)
        if count == 1 {
            #expect(failure.reason.contains("refused 1 element message"))
        } else {
            #expect(failure.reason.contains("refused") || failure.reason.contains("overflowed"))
        }
        #expect(!failure.committedWithoutMessages)
        #expect(after == before)
        #expect(!after.contains("tap77"))
        #expect(reloaded == before)
    }

    @Test func anArmedSpliceRefusesToSendAnythingButABatch() throws {
        let (sent, outcome) = try inPrivateNetworkNamespace {
            let fd = socket(AF_INET, Int32(SOCK_DGRAM.rawValue), 0)
            defer { close(fd) }
            var payload: [UInt8] = [1, 2, 3]
            var address = sockaddr_in()
            address.sin_family = sa_family_t(AF_INET)
            address.sin_port = UInt16(9).bigEndian
            address.sin_addr.s_addr = UInt32(0x7f00_0001).bigEndian
            let messages: [UInt8] = [0, 0, 0, 0]
            return messages.withUnsafeBytes { raw in
                portcullis_splice_arm(raw.baseAddress, raw.count)
                let sent = payload.withUnsafeMutableBytes { buffer in
                    withUnsafeMutablePointer(to: &address) { addressPointer in
                        var iov = iovec(iov_base: buffer.baseAddress, iov_len: buffer.count)
                        return withUnsafeMutablePointer(to: &iov) { iovPointer in
                            var header = msghdr()
                            header.msg_name = UnsafeMutableRawPointer(addressPointer)
                            header.msg_namelen = socklen_t(MemoryLayout<sockaddr_in>.size)
                            header.msg_iov = iovPointer
                            header.msg_iovlen = 1
                            return sendmsg(fd, &header, 0)
                        }
                    }
                }
                return (sent, portcullis_splice_disarm())
            }
        }
        #expect(sent == -1)
        #expect(outcome.refused_shape == 1)
        #expect(outcome.spliced == 0)
    }

    @Test(arguments: [
        (ElementLayout(key: [.ifname], data: nil), "\"tap1\"", [0x74, 0x61, 0x70, 0x31] + [UInt8](repeating: 0, count: 12), [UInt8]()),
        (ElementLayout(key: [.ifname, .etherAddress], data: nil), "\"a\" . 02:0A:ff:00:10:01",
         [0x61] + [UInt8](repeating: 0, count: 15) + [0x02, 0x0a, 0xff, 0x00, 0x10, 0x01, 0, 0], []),
        (ElementLayout(key: [.ifname, .ipv4Address], data: nil), "\"a\" . 192.0.2.255",
         [0x61] + [UInt8](repeating: 0, count: 15) + [192, 0, 2, 255], []),
        (ElementLayout(key: [.ifname, .integer(bytes: 8)], data: nil), "\"a\" . 0x20010db8ffff0001",
         [0x61] + [UInt8](repeating: 0, count: 15) + [0x20, 0x01, 0x0d, 0xb8, 0xff, 0xff, 0x00, 0x01], []),
        (ElementLayout(key: [.etherAddress], data: .etherAddress), "02:00:00:00:00:01 : 02:42:ac:11:00:01",
         [2, 0, 0, 0, 0, 1], [2, 0x42, 0xac, 0x11, 0, 1]),
    ])
    func elementsEncodeToTheKernelsBytes(layout: ElementLayout, text: String, key: [UInt8], data: [UInt8]) {
        var keyBytes: [UInt8] = [9]
        var dataBytes: [UInt8] = []
        #expect(layout.encode(text, key: &keyBytes, data: &dataBytes))
        #expect(keyBytes == [9] + key)
        #expect(keyBytes.count - 1 == layout.keyLength)
        #expect(dataBytes == data)
    }

    @Test(arguments: [
        (ElementLayout(key: [.ifname], data: nil), "tap1"),
        (ElementLayout(key: [.ifname], data: nil), "\"tap1\" timeout 5s"),
        (ElementLayout(key: [.ifname], data: nil), "\"0123456789abcdef\""),
        (ElementLayout(key: [.ifname, .ipv4Address], data: nil), "\"a\" . 192.0.2.256"),
        (ElementLayout(key: [.ifname, .ipv4Address], data: nil), "\"a\" . 192.0.2.0/24"),
        (ElementLayout(key: [.ifname, .ipv4Address], data: nil), "\"a\" . 192.0.2.010"),
        (ElementLayout(key: [.ifname], data: nil), "\"tap*\""),
        (ElementLayout(key: [.ifname], data: nil), "\"ta\\p\""),
        (ElementLayout(key: [.ifname, .etherAddress], data: nil), "\"a\" . 02:00:00:00:00"),
        (ElementLayout(key: [.ifname, .integer(bytes: 8)], data: nil), "\"a\" . 0x20010db8ffff000"),
        (ElementLayout(key: [.ifname, .integer(bytes: 16)], data: nil), "\"a\" . 0x20010db8000000000000000000000010-0x20010db8000000000000000000000011"),
        (ElementLayout(key: [.etherAddress], data: .etherAddress), "02:00:00:00:00:01"),
    ])
    func textOfAnotherFormIsNotEncoded(layout: ElementLayout, text: String) {
        var keyBytes: [UInt8] = [1, 2]
        var dataBytes: [UInt8] = [3]
        #expect(!layout.encode(text, key: &keyBytes, data: &dataBytes))
        #expect(keyBytes == [1, 2])
        #expect(dataBytes == [3])
    }
}

/// The reconciler reads the identity sets back into the compiler's text to compare them by
/// content; a kernel listing of exactly the compiled elements must read back to exactly them.
@Suite struct IdentityElementReadBackTests {
    @Test func aListingOfTheCompiledElementsReadsBackToThem() throws {
        let ruleset = RulesetCompiler.compile(SplicedReplaceTests.state())
        let listing = try inPrivateNetworkNamespace {
            var nft = Nftables()
            _ = try nft.replace(with: ruleset)
            var text = ""
            for family in NftFamily.allCases {
                text += try nft.run("list table \(family.rawValue) \(tableName)", json: true) + "\n"
            }
            return text
        }
        var snapshot = KernelSnapshot()
        snapshot.absorb(json: listing)
        let identity = ruleset.staticSets.filter { ElementLayout.of($0) != nil }
        #expect(Set(snapshot.identityElements.keys) == Set(identity))
        for set in identity {
            #expect(snapshot.identityElements[set] == Set((ruleset.elements[set] ?? [:]).keys), "\(set)")
        }
    }

    @Test(arguments: [
        (ElementLayout(key: [.ifname, .integer(bytes: 8)], data: nil), #"{"concat": ["a0", -108086391056891903]}"#, "\"a0\" . 0xfe80000000000001"),
        (ElementLayout(key: [.ifname, .integer(bytes: 8)], data: nil), #"{"concat": ["a1", 1]}"#, "\"a1\" . 0x0000000000000001"),
        (ElementLayout(key: [.ifname, .integer(bytes: 16)], data: nil), #"{"concat": ["a0", 1]}"#, "\"a0\" . 0x00000000000000000000000000000001"),
        (ElementLayout(key: [.ifname, .integer(bytes: 16)], data: nil), #"{"concat": ["a0", "0xFE80000000000000000000fffe000101"]}"#, "\"a0\" . 0xfe80000000000000000000fffe000101"),
        (ElementLayout(key: [.ifname], data: .etherAddress), #"["a0", "02:42:ac:11:00:01"]"#, "\"a0\" : 02:42:ac:11:00:01"),
        (ElementLayout(key: [.ifname], data: nil), #""tap1""#, "\"tap1\""),
    ])
    func listedElementsReadAsTheCompilerWritesThem(layout: ElementLayout, json: String, text: String) throws {
        let value = try JSONSerialization.jsonObject(with: Data(json.utf8), options: [.fragmentsAllowed])
        #expect(KernelSnapshot.element(value, layout: layout) == text)
    }

    @Test func anElementOfAnotherShapeIsUnreadable() throws {
        let value = try JSONSerialization.jsonObject(with: Data(#"{"concat": ["a0", "0x1", 3]}"#.utf8))
        #expect(KernelSnapshot.element(value, layout: ElementLayout(key: [.ifname, .integer(bytes: 8)], data: nil)) == nil)
    }
}
