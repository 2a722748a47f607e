/// An IPv4 address, parsed strictly from dotted-quad text (no leading zeros, no shorthand),
/// because anything looser lets two spellings of one address slip past duplicate checks.
public struct IPv4Address: Hashable, Comparable, Sendable, CustomStringConvertible, Codable {
    public let value: UInt32

    public init(_ value: UInt32) { self.value = value }

    public init(parsing text: String, field: String = "ipv4") throws(ValidationError) {
        let parts = text.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 4 else {
            throw ValidationError(field: field, value: text, problem: "expected four dotted decimal octets, e.g. 203.0.113.10")
        }
        var value: UInt32 = 0
        for part in parts {
            guard !part.isEmpty, part.count <= 3, part.allSatisfy({ $0.isASCII && $0.isNumber }),
                  !(part.count > 1 && part.first == "0"), let octet = UInt32(part), octet <= 255 else {
                throw ValidationError(field: field, value: text, problem: "each octet must be a decimal number 0-255 without leading zeros")
            }
            value = value << 8 | octet
        }
        self.value = value
    }

    public var description: String {
        "\(value >> 24).\(value >> 16 & 0xff).\(value >> 8 & 0xff).\(value & 0xff)"
    }

    public static func < (lhs: Self, rhs: Self) -> Bool { lhs.value < rhs.value }

    public var isUnspecified: Bool { value == 0 }
    public var isMulticastOrBroadcast: Bool { value >> 28 == 0xe || value == .max }

    public init(from decoder: any Decoder) throws {
        let text = try decoder.singleValueContainer().decode(String.self)
        self = try IPv4Address(parsing: text)
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(description)
    }
}
