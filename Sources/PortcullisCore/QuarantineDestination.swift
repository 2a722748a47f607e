/// A destination a quarantined VM may still reach: what the tenant needs to fix the VM and
/// to talk to the provider (the DNS resolvers, the support portal, the package mirror).
/// Written `ADDRESS[/PREFIX] tcp|udp PORT` in `abuse.quarantine_allow`.
public struct QuarantineDestination: Hashable, Sendable, Codable, CustomStringConvertible {
    public let network: IPNetwork
    public let transport: TransportProtocol
    public let port: Port

    public init(network: IPNetwork, transport: TransportProtocol, port: Port) {
        self.network = network
        self.transport = transport
        self.port = port
    }

    public init(parsing text: String) throws(ValidationError) {
        let parts = text.split(separator: " ", omittingEmptySubsequences: true).map(String.init)
        let field = "abuse.quarantine_allow"
        guard parts.count == 3, let transport = TransportProtocol(rawValue: parts[1].lowercased()) else {
            throw ValidationError(field: field, value: text, problem: "expected ADDRESS[/PREFIX] tcp|udp PORT, e.g. \"192.0.2.53 udp 53\"")
        }
        self.init(network: try IPNetwork(parsing: parts[0], field: field), transport: transport,
                  port: try Port(parsing: parts[2], field: field))
    }

    public var description: String { "\(network) \(transport.rawValue) \(port)" }

    public init(from decoder: any Decoder) throws {
        self = try QuarantineDestination(parsing: try decoder.singleValueContainer().decode(String.self))
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(description)
    }
}

/// What a throttled VM may still do (`abuse.throttle`): enough for its ordinary use, far too
/// little for a scan, a flood or a spam run.
public struct ThrottleRates: Hashable, Sendable, Codable {
    /// New outbound TCP connections a minute.
    public let connectionsPerMinute: Int
    /// Outbound UDP packets a second.
    public let udpPacketsPerSecond: Int

    public init(connectionsPerMinute: Int = 60, udpPacketsPerSecond: Int = 100) {
        self.connectionsPerMinute = connectionsPerMinute
        self.udpPacketsPerSecond = udpPacketsPerSecond
    }
}
