/// A unicast Ethernet address. Multicast, broadcast and all-zero MACs are refused: a VM
/// registered with one would let it claim frames that belong to everyone.
public struct MACAddress: Hashable, Sendable, CustomStringConvertible, Codable {
    public let bytes: [UInt8]

    public init(parsing text: String, field: String = "mac") throws(ValidationError) {
        let parts = text.split(separator: ":", omittingEmptySubsequences: false)
        guard parts.count == 6 else {
            throw ValidationError(field: field, value: text, problem: "expected six colon-separated hex bytes, e.g. 02:00:00:00:01:01")
        }
        var bytes: [UInt8] = []
        for part in parts {
            guard part.count == 2, let byte = UInt8(part, radix: 16) else {
                throw ValidationError(field: field, value: text, problem: "each byte must be two hex digits")
            }
            bytes.append(byte)
        }
        guard bytes[0] & 1 == 0 else {
            throw ValidationError(field: field, value: text, problem: "multicast/broadcast MAC; a VM needs a unicast MAC")
        }
        guard bytes.contains(where: { $0 != 0 }) else {
            throw ValidationError(field: field, value: text, problem: "all-zero MAC is not a valid VM MAC")
        }
        self.bytes = bytes
    }

    public var description: String {
        bytes.map { b in
            let s = String(b, radix: 16)
            return s.count == 1 ? "0" + s : s
        }.joined(separator: ":")
    }

    /// The modified EUI-64 link-local address (RFC 4291 appendix A) a VM derives from this MAC.
    public var eui64LinkLocal: IPv6Address {
        let b = bytes
        let iid: [UInt8] = [b[0] ^ 0x02, b[1], b[2], 0xff, 0xfe, b[3], b[4], b[5]]
        var low: UInt64 = 0
        for byte in iid { low = low << 8 | UInt64(byte) }
        return IPv6Address(high: 0xfe80_0000_0000_0000, low: low)
    }

    public init(from decoder: any Decoder) throws {
        self = try MACAddress(parsing: try decoder.singleValueContainer().decode(String.self))
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(description)
    }
}
