/// Identifier text shared by VM ids and tenant ids: 1-64 characters of `[A-Za-z0-9_.:-]`,
/// starting with a letter or digit, so ids are safe in URLs, logs and rule comments.
func parseIdentifier(_ text: String, field: String) throws(ValidationError) -> String {
    guard (1...64).contains(text.utf8.count) else {
        throw ValidationError(field: field, value: text, problem: "must be 1-64 characters")
    }
    let allowed = text.unicodeScalars.allSatisfy {
        $0.isASCII && ($0.properties.isAlphabetic || ("0"..."9").contains($0) || "_.:-".unicodeScalars.contains($0))
    }
    guard allowed, let first = text.unicodeScalars.first, first.properties.isAlphabetic || ("0"..."9").contains(first) else {
        throw ValidationError(field: field, value: text, problem: "use letters, digits, '_', '.', ':' and '-', starting with a letter or digit")
    }
    return text
}

/// The operator's or orchestrator's name for a VM.
public struct VMID: Hashable, Comparable, Sendable, CustomStringConvertible, Codable {
    public let value: String
    public init(parsing text: String) throws(ValidationError) { value = try parseIdentifier(text, field: "vm id") }
    public var description: String { value }
    public static func < (lhs: Self, rhs: Self) -> Bool { lhs.value < rhs.value }
    public init(from decoder: any Decoder) throws {
        self = try VMID(parsing: try decoder.singleValueContainer().decode(String.self))
    }
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(value)
    }
}

/// The tenant (customer account) a VM belongs to.
public struct TenantID: Hashable, Sendable, CustomStringConvertible, Codable {
    public let value: String
    public init(parsing text: String) throws(ValidationError) { value = try parseIdentifier(text, field: "tenant") }
    public var description: String { value }
    public init(from decoder: any Decoder) throws {
        self = try TenantID(parsing: try decoder.singleValueContainer().decode(String.self))
    }
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(value)
    }
}

/// Where notices about a VM go. Deliberately a light check (one '@', a dotted domain,
/// no spaces or control characters): the relay is the real judge of deliverability.
public struct EmailAddress: Hashable, Sendable, CustomStringConvertible, Codable {
    public let value: String
    public init(parsing text: String) throws(ValidationError) {
        let parts = text.split(separator: "@", omittingEmptySubsequences: false)
        guard text.utf8.count <= 254, parts.count == 2, !parts[0].isEmpty, parts[1].contains("."),
              !parts[1].hasPrefix("."), !parts[1].hasSuffix("."),
              text.unicodeScalars.allSatisfy({ $0.isASCII && $0.value > 32 && $0.value < 127 && !"<>()[],;\\\"".unicodeScalars.contains($0) }) else {
            throw ValidationError(field: "contact", value: text, problem: "expected an e-mail address like ops@example.com")
        }
        value = text
    }
    public var description: String { value }
    public init(from decoder: any Decoder) throws {
        self = try EmailAddress(parsing: try decoder.singleValueContainer().decode(String.self))
    }
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(value)
    }
}
