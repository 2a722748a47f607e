/// An IPv4 prefix. Host bits must be zero: `203.0.113.5/24` is refused rather than silently
/// widened, because an operator who typed it probably meant something else.
public struct IPv4Network: Hashable, Sendable, CustomStringConvertible, Codable {
    public let address: IPv4Address
    public let prefixLength: Int

    public init(address: IPv4Address, prefixLength: Int) {
        precondition((0...32).contains(prefixLength))
        self.address = address
        self.prefixLength = prefixLength
    }

    public init(parsing text: String, field: String = "ipv4 prefix") throws(ValidationError) {
        let (addressText, length) = try splitPrefix(text, maxLength: 32, field: field)
        let address = try IPv4Address(parsing: addressText, field: field)
        let length32 = length ?? 32
        let network = IPv4Network(address: address, prefixLength: length32)
        guard network.mask & address.value == address.value else {
            throw ValidationError(field: field, value: text,
                                  problem: "host bits are set; did you mean \(IPv4Address(address.value & network.mask))/\(length32)?")
        }
        self = network
    }

    var mask: UInt32 { prefixLength == 0 ? 0 : UInt32.max << (32 - prefixLength) }

    public func contains(_ other: IPv4Address) -> Bool { other.value & mask == address.value }

    public func overlaps(_ other: IPv4Network) -> Bool {
        contains(other.address) || other.contains(address)
    }

    public var isHost: Bool { prefixLength == 32 }
    public var description: String { isHost ? address.description : "\(address)/\(prefixLength)" }

    public init(from decoder: any Decoder) throws {
        self = try IPv4Network(parsing: try decoder.singleValueContainer().decode(String.self))
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(description)
    }
}

/// An IPv6 prefix (or a single address, as /128). Host bits must be zero.
public struct IPv6Network: Hashable, Sendable, CustomStringConvertible, Codable {
    public let address: IPv6Address
    public let prefixLength: Int

    public init(address: IPv6Address, prefixLength: Int) {
        precondition((0...128).contains(prefixLength))
        self.address = address
        self.prefixLength = prefixLength
    }

    public init(parsing text: String, field: String = "ipv6 prefix") throws(ValidationError) {
        let (addressText, length) = try splitPrefix(text, maxLength: 128, field: field)
        let address = try IPv6Address(parsing: addressText, field: field)
        let network = IPv6Network(address: address, prefixLength: length ?? 128)
        guard network.first == address else {
            throw ValidationError(field: field, value: text,
                                  problem: "host bits are set; did you mean \(network.first)/\(network.prefixLength)?")
        }
        self = network
    }

    private var masks: (UInt64, UInt64) {
        let highMask: UInt64 = prefixLength >= 64 ? .max : (prefixLength == 0 ? 0 : .max << (64 - prefixLength))
        let lowMask: UInt64 = prefixLength <= 64 ? 0 : (prefixLength == 128 ? .max : .max << (128 - prefixLength))
        return (highMask, lowMask)
    }

    /// The lowest address of the prefix.
    public var first: IPv6Address {
        let (h, l) = masks
        return IPv6Address(high: address.high & h, low: address.low & l)
    }

    /// The highest address of the prefix.
    public var last: IPv6Address {
        let (h, l) = masks
        return IPv6Address(high: address.high | ~h, low: address.low | ~l)
    }

    public func contains(_ other: IPv6Address) -> Bool {
        let (h, l) = masks
        return other.high & h == address.high & h && other.low & l == address.low & l
    }

    public func overlaps(_ other: IPv6Network) -> Bool {
        contains(other.address) || other.contains(address)
    }

    public var isHost: Bool { prefixLength == 128 }
    public var description: String { isHost ? address.description : "\(address)/\(prefixLength)" }

    public init(from decoder: any Decoder) throws {
        self = try IPv6Network(parsing: try decoder.singleValueContainer().decode(String.self))
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(description)
    }
}

/// A source prefix of either family, as given to `--allow-source`.
public enum IPNetwork: Hashable, Sendable, CustomStringConvertible, Codable {
    case v4(IPv4Network)
    case v6(IPv6Network)

    public init(parsing text: String, field: String = "allow-source") throws(ValidationError) {
        if text.contains(":") {
            self = .v6(try IPv6Network(parsing: text, field: field))
        } else {
            self = .v4(try IPv4Network(parsing: text, field: field))
        }
    }

    public var description: String {
        switch self {
        case .v4(let n): n.description
        case .v6(let n): n.description
        }
    }

    public init(from decoder: any Decoder) throws {
        self = try IPNetwork(parsing: try decoder.singleValueContainer().decode(String.self))
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(description)
    }
}

private func splitPrefix(_ text: String, maxLength: Int, field: String) throws(ValidationError) -> (String, Int?) {
    let parts = text.split(separator: "/", omittingEmptySubsequences: false)
    switch parts.count {
    case 1:
        return (text, nil)
    case 2:
        guard let length = Int(parts[1]), parts[1].allSatisfy({ $0.isASCII && $0.isNumber }),
              (0...maxLength).contains(length) else {
            throw ValidationError(field: field, value: text, problem: "prefix length must be 0-\(maxLength)")
        }
        return (String(parts[0]), length)
    default:
        throw ValidationError(field: field, value: text, problem: "expected ADDRESS or ADDRESS/LENGTH")
    }
}
