import Foundation

/// An IPv6 address as two 64-bit halves; printed in RFC 5952 canonical form so that
/// stored values, rule text and duplicate checks all agree on one spelling.
public struct IPv6Address: Hashable, Comparable, Sendable, CustomStringConvertible, Codable {
    public let high: UInt64
    public let low: UInt64

    public init(high: UInt64, low: UInt64) {
        self.high = high
        self.low = low
    }

    public init(parsing text: String, field: String = "ipv6") throws(ValidationError) {
        guard text.contains(":"), !text.contains("%"), text.utf8.count <= 45 else {
            throw ValidationError(field: field, value: text, problem: "expected an IPv6 address such as 2001:db8::10 (no zone index)")
        }
        var raw = in6_addr()
        guard inet_pton(AF_INET6, text, &raw) == 1 else {
            throw ValidationError(field: field, value: text, problem: "not a valid IPv6 address")
        }
        let bytes = withUnsafeBytes(of: &raw) { Array($0) }
        self.init(bytes: bytes)
    }

    init(bytes: [UInt8]) {
        var high: UInt64 = 0
        var low: UInt64 = 0
        for i in 0..<8 { high = high << 8 | UInt64(bytes[i]) }
        for i in 8..<16 { low = low << 8 | UInt64(bytes[i]) }
        self.init(high: high, low: low)
    }

    public var bytes: [UInt8] {
        (0..<8).map { UInt8(truncatingIfNeeded: high >> (56 - 8 * $0)) }
            + (0..<8).map { UInt8(truncatingIfNeeded: low >> (56 - 8 * $0)) }
    }

    public var description: String {
        var raw = in6_addr()
        withUnsafeMutableBytes(of: &raw) { buffer in
            for (i, byte) in bytes.enumerated() { buffer[i] = byte }
        }
        var text = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN))
        _ = inet_ntop(AF_INET6, &raw, &text, socklen_t(text.count))
        return String(decoding: text.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// The same address as one 128-bit hexadecimal literal, for nft raw-payload sets.
    public var hexLiteral: String {
        "0x" + hex(high) + hex(low)
    }

    /// The upper 64 bits as a hexadecimal literal (the /64 prefix), for nft raw-payload sets.
    public var highHexLiteral: String {
        "0x" + hex(high)
    }

    private func hex(_ v: UInt64) -> String {
        let s = String(v, radix: 16)
        return String(repeating: "0", count: 16 - s.count) + s
    }

    public static func < (lhs: Self, rhs: Self) -> Bool {
        (lhs.high, lhs.low) < (rhs.high, rhs.low)
    }

    public static let unspecified = IPv6Address(high: 0, low: 0)
    public var isMulticast: Bool { high >> 56 == 0xff }
    public var isLinkLocal: Bool { high >> 54 == 0x3fa }  // fe80::/10

    public init(from decoder: any Decoder) throws {
        let text = try decoder.singleValueContainer().decode(String.self)
        self = try IPv6Address(parsing: text)
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(description)
    }
}
