/// A host interface name (the VM's tap or veth). Limited to what the kernel accepts
/// (IFNAMSIZ - 1 = 15 bytes) and to `[A-Za-z0-9_.-]`, so it can be quoted into rule text safely.
public struct InterfaceName: Hashable, Comparable, Sendable, CustomStringConvertible, Codable {
    public let name: String

    public init(parsing text: String, field: String = "interface") throws(ValidationError) {
        guard !text.isEmpty, text.utf8.count <= 15 else {
            throw ValidationError(field: field, value: text, problem: "interface names are 1-15 bytes long")
        }
        guard text.unicodeScalars.allSatisfy({ $0.isASCII && ($0.properties.isAlphabetic || ("0"..."9").contains($0) || "_.-".unicodeScalars.contains($0)) }) else {
            throw ValidationError(field: field, value: text, problem: "only letters, digits, '_', '.' and '-' are allowed")
        }
        guard text != "." && text != ".." else {
            throw ValidationError(field: field, value: text, problem: "not a usable interface name")
        }
        self.name = text
    }

    public var description: String { name }
    public static func < (lhs: Self, rhs: Self) -> Bool { lhs.name < rhs.name }

    public init(from decoder: any Decoder) throws {
        self = try InterfaceName(parsing: try decoder.singleValueContainer().decode(String.self))
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(name)
    }
}
