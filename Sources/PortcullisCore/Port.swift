/// A TCP/UDP port number, 1-65535.
public struct Port: Hashable, Comparable, Sendable, CustomStringConvertible, Codable {
    public let value: UInt16

    public init?(_ value: Int) {
        guard (1...65535).contains(value) else { return nil }
        self.value = UInt16(value)
    }

    public init(parsing text: String, field: String = "port") throws(ValidationError) {
        guard let number = Int(text), text.allSatisfy({ $0.isASCII && $0.isNumber }), let port = Port(number) else {
            throw ValidationError(field: field, value: text, problem: "ports are numbers 1-65535")
        }
        self = port
    }

    public var description: String { String(value) }
    public static func < (lhs: Self, rhs: Self) -> Bool { lhs.value < rhs.value }

    public init(from decoder: any Decoder) throws {
        let number = try decoder.singleValueContainer().decode(Int.self)
        guard let port = Port(number) else {
            throw ValidationError(field: "port", value: String(number), problem: "ports are numbers 1-65535")
        }
        self = port
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(Int(value))
    }
}

/// A sorted, duplicate-free set of ports, written `25,465,587`.
public struct PortSet: Hashable, Sendable, CustomStringConvertible, Codable, Sequence {
    public let ports: [Port]

    public init(_ ports: some Sequence<Port>) {
        self.ports = Array(Set(ports)).sorted()
    }

    public init(parsing text: String, field: String = "ports") throws(ValidationError) {
        let items = text.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
        guard !items.isEmpty else {
            throw ValidationError(field: field, value: text, problem: "give at least one port, e.g. 25,465,587")
        }
        var ports: [Port] = []
        for item in items { ports.append(try Port(parsing: item, field: field)) }
        self.init(ports)
    }

    public func contains(_ port: Port) -> Bool { ports.contains(port) }
    public var isEmpty: Bool { ports.isEmpty }
    public func makeIterator() -> IndexingIterator<[Port]> { ports.makeIterator() }
    public var description: String { ports.map(\.description).joined(separator: ",") }

    public init(from decoder: any Decoder) throws {
        self.init(try decoder.singleValueContainer().decode([Port].self))
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(ports)
    }
}

import Foundation
