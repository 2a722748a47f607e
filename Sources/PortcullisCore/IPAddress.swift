/// One host address of either family, as a connection has it (a relayed message's
/// destination, a client). Printed in each family's canonical form, so stored values
/// and queries agree on one spelling.
public enum IPAddress: Hashable, Sendable, CustomStringConvertible, Codable {
    case v4(IPv4Address)
    case v6(IPv6Address)

    public init(parsing text: String, field: String = "address") throws(ValidationError) {
        if text.contains(":") {
            self = .v6(try IPv6Address(parsing: text, field: field))
        } else {
            self = .v4(try IPv4Address(parsing: text, field: field))
        }
    }

    public var description: String {
        switch self {
        case .v4(let address): address.description
        case .v6(let address): address.description
        }
    }

    public init(from decoder: any Decoder) throws {
        self = try IPAddress(parsing: try decoder.singleValueContainer().decode(String.self))
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(description)
    }
}
