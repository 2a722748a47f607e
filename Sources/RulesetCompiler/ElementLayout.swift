/// How the kernel holds the elements of one of our sets: the bytes of the key (and of a
/// map's value) that an element's text stands for.
///
/// A full replace at 10,000 VMs is mostly set elements (nine per VM), and libnftables spends
/// about 3 µs parsing and evaluating each one. The enforcer therefore hands the elements of
/// the sets that hold one entry per VM identity to the kernel as netlink messages it encodes
/// itself, inside libnftables' own transaction. These layouts are the single statement of
/// what those bytes are; they must match the set declarations in `RulesetCompiler`
/// (a test loads both ways into a namespace and compares the kernel's listings).
public struct ElementLayout: Sendable, Equatable {
    /// One field of a key or a map value, as the compiler renders it.
    public enum Field: Sendable, Equatable {
        /// `"tap1"`: the interface name, zero-padded to IFNAMSIZ (16 bytes).
        case ifname
        /// `02:00:00:00:00:01`: six bytes.
        case etherAddress
        /// `192.0.2.1`: four bytes, network order.
        case ipv4Address
        /// `0x20010db8…`: a raw-payload integer of this many bytes, big-endian, written with
        /// exactly two hexadecimal digits per byte.
        case integer(bytes: Int)

        /// Bytes of the field's value.
        public var length: Int {
            switch self {
            case .ifname: 16
            case .etherAddress: 6
            case .ipv4Address: 4
            case .integer(let bytes): bytes
            }
        }
    }

    /// The key's fields; in a concatenation (more than one) each is padded to 4 bytes, the
    /// size of an nftables register.
    public let key: [Field]
    /// The value's field, for a map.
    public let data: Field?

    /// Bytes of a key.
    public var keyLength: Int {
        key.count == 1 ? key[0].length : key.reduce(0) { $0 + Self.paddedLength($1.length) }
    }

    /// `n` rounded up to a multiple of 4: netlink attributes and concatenation fields are.
    public static func paddedLength(_ n: Int) -> Int { (n + 3) & ~3 }

    /// The layout of `set`, for the sets whose elements may be loaded as netlink messages:
    /// plain hash sets and maps (no intervals, no timeouts) that grow with the number of VMs.
    public static func of(_ set: SetRef) -> ElementLayout? {
        switch set.name {
        case "vm_misplaced", "vm_ports", "restricted": ElementLayout(key: [.ifname], data: nil)
        case "vm_mac": ElementLayout(key: [.ifname, .etherAddress], data: nil)
        case "vm_ip4": ElementLayout(key: [.ifname, .ipv4Address], data: nil)
        case "vm_ip6": set.family == .arp ? nil : ElementLayout(key: [.ifname, .integer(bytes: 16)], data: nil)
        case "vm_ip6_64": set.family == .arp ? nil : ElementLayout(key: [.ifname, .integer(bytes: 8)], data: nil)
        case "vm_bridge_mac": set.family == .bridge ? ElementLayout(key: [.ifname], data: .etherAddress) : nil
        case "smtp_vm_mac": set.family == .bridge ? ElementLayout(key: [.etherAddress], data: .etherAddress) : nil
        default: nil
        }
    }

    /// Appends the key and then the value (if a map) of `element`, as rendered by the
    /// compiler, to `key` and `data`. Returns false, appending nothing, when the text does
    /// not have this layout's form: then the set is loaded as text.
    public func encode(_ element: String, key keyBytes: inout [UInt8], data dataBytes: inout [UInt8]) -> Bool {
        var element = element
        let keyStart = keyBytes.count, dataStart = dataBytes.count
        let encoded = element.withUTF8 { text in
            var cursor = 0
            for (index, field) in key.enumerated() {
                if index > 0, !Self.expect(" . ", in: text, at: &cursor) { return false }
                let start = keyBytes.count
                guard Self.parse(field, in: text, at: &cursor, into: &keyBytes) else { return false }
                if key.count > 1 {
                    let written = keyBytes.count - start
                    keyBytes.append(contentsOf: repeatElement(0, count: Self.paddedLength(written) - written))
                }
            }
            if let data {
                guard Self.expect(" : ", in: text, at: &cursor), Self.parse(data, in: text, at: &cursor, into: &dataBytes) else { return false }
            }
            return cursor == text.count
        }
        if !encoded {
            keyBytes.removeSubrange(keyStart...)
            dataBytes.removeSubrange(dataStart...)
        }
        return encoded
    }

    private static func expect(_ literal: StaticString, in text: UnsafeBufferPointer<UInt8>, at cursor: inout Int) -> Bool {
        let count = literal.utf8CodeUnitCount
        guard cursor + count <= text.count else { return false }
        let bytes = UnsafeBufferPointer(start: literal.utf8Start, count: count)
        for i in 0..<count where text[cursor + i] != bytes[i] { return false }
        cursor += count
        return true
    }

    private static func hexValue(_ c: UInt8) -> UInt8? {
        switch c {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): c - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): c - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): c - UInt8(ascii: "A") + 10
        default: nil
        }
    }

    private static func isInterfaceNameByte(_ c: UInt8) -> Bool {
        switch c {
        case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
             UInt8(ascii: "_"), UInt8(ascii: "."), UInt8(ascii: "-"): true
        default: false
        }
    }

    private static func hexByte(_ text: UnsafeBufferPointer<UInt8>, _ at: Int) -> UInt8? {
        guard at + 2 <= text.count, let hi = hexValue(text[at]), let lo = hexValue(text[at + 1]) else { return nil }
        return hi << 4 | lo
    }

    private static func parse(_ field: Field, in text: UnsafeBufferPointer<UInt8>, at cursor: inout Int, into out: inout [UInt8]) -> Bool {
        switch field {
        case .ifname:
            guard cursor < text.count, text[cursor] == UInt8(ascii: "\"") else { return false }
            var end = cursor + 1
            while end < text.count, text[end] != UInt8(ascii: "\"") { end += 1 }
            let length = end - cursor - 1
            // InterfaceName allows at most 15 bytes of [A-Za-z0-9_.-] (no escapes, no `*`
            // wildcard, which nft would read differently); the 16th is the terminating zero.
            guard end < text.count, length >= 1, length <= 15,
                  text[(cursor + 1)..<end].allSatisfy(isInterfaceNameByte) else { return false }
            out.append(contentsOf: text[(cursor + 1)..<end])
            out.append(contentsOf: repeatElement(0, count: 16 - length))
            cursor = end + 1
        case .etherAddress:
            for i in 0..<6 {
                if i > 0 {
                    guard cursor < text.count, text[cursor] == UInt8(ascii: ":") else { return false }
                    cursor += 1
                }
                guard let byte = hexByte(text, cursor) else { return false }
                out.append(byte)
                cursor += 2
            }
        case .ipv4Address:
            for i in 0..<4 {
                if i > 0 {
                    guard cursor < text.count, text[cursor] == UInt8(ascii: ".") else { return false }
                    cursor += 1
                }
                var value = 0
                var digits = 0
                while cursor < text.count, digits < 3, let d = hexValue(text[cursor]), d < 10 {
                    value = value * 10 + Int(d)
                    digits += 1
                    cursor += 1
                }
                // Canonical decimal only: "010" would be octal to some parsers.
                guard digits > 0, value <= 255, digits == 1 || text[cursor - digits] != UInt8(ascii: "0") else { return false }
                out.append(UInt8(value))
            }
        case .integer(let bytes):
            guard expect("0x", in: text, at: &cursor) else { return false }
            for _ in 0..<bytes {
                guard let byte = hexByte(text, cursor) else { return false }
                out.append(byte)
                cursor += 2
            }
        }
        return true
    }
}
