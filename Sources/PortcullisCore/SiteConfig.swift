import Foundation

/// The site configuration file (YAML), decoded and validated as a whole before the
/// daemon touches the kernel. Every key is documented in docs/configuration.md.
public struct SiteConfig: Sendable, Decodable {
    public let policy: SitePolicy
    public let storePath: String
    public let apiSocket: String
    /// How often the reconciler compares the kernel with the desired state.
    public let reconcileInterval: PolicyDuration

    enum CodingKeys: String, CodingKey, CaseIterable {
        case site, exemptions, store, api, reconcile
        case publicIPv4 = "public_ipv4"
        case restrictedPorts = "restricted_ports"
    }

    struct RestrictedPorts: Decodable {
        let tcp: [Port]
        enum CodingKeys: String, CodingKey, CaseIterable { case tcp }
        init(from decoder: any Decoder) throws {
            try refuseUnknownKeys(in: decoder, known: CodingKeys.self, section: "restricted_ports")
            let c = try decoder.container(keyedBy: CodingKeys.self)
            tcp = try c.decodeIfPresent([Port].self, forKey: .tcp) ?? []
        }
    }

    struct StoreSection: Decodable {
        let sqlite: String
        enum CodingKeys: String, CodingKey, CaseIterable { case sqlite }
        init(from decoder: any Decoder) throws {
            try refuseUnknownKeys(in: decoder, known: CodingKeys.self, section: "store")
            sqlite = try decoder.container(keyedBy: CodingKeys.self).decode(String.self, forKey: .sqlite)
        }
    }

    struct APISection: Decodable {
        let socket: String?
        enum CodingKeys: String, CodingKey, CaseIterable { case socket }
        init(from decoder: any Decoder) throws {
            try refuseUnknownKeys(in: decoder, known: CodingKeys.self, section: "api")
            socket = try decoder.container(keyedBy: CodingKeys.self).decodeIfPresent(String.self, forKey: .socket)
        }
    }

    struct ReconcileSection: Decodable {
        let interval: PolicyDuration?
        enum CodingKeys: String, CodingKey, CaseIterable { case interval }
        init(from decoder: any Decoder) throws {
            try refuseUnknownKeys(in: decoder, known: CodingKeys.self, section: "reconcile")
            interval = try decoder.container(keyedBy: CodingKeys.self).decodeIfPresent(PolicyDuration.self, forKey: .interval)
        }
    }

    public init(from decoder: any Decoder) throws {
        try refuseUnknownKeys(in: decoder, known: CodingKeys.self, section: nil)
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let site = try c.decode(String.self, forKey: .site)
        _ = try parseIdentifier(site, field: "site")
        let ports = try c.decodeIfPresent(RestrictedPorts.self, forKey: .restrictedPorts)?.tcp
            ?? [25, 465, 587].compactMap { Port($0) }
        policy = SitePolicy(
            site: site,
            publicIPv4: try c.decodeIfPresent([IPv4Network].self, forKey: .publicIPv4) ?? [],
            restrictedTCPPorts: PortSet(ports),
            exemptions: try c.decodeIfPresent(ExemptionPolicy.self, forKey: .exemptions) ?? ExemptionPolicy()
        )
        storePath = try c.decodeIfPresent(StoreSection.self, forKey: .store)?.sqlite ?? "/var/lib/portcullis/state.db"
        apiSocket = try c.decodeIfPresent(APISection.self, forKey: .api)?.socket ?? "/run/portcullis/api.sock"
        reconcileInterval = try c.decodeIfPresent(ReconcileSection.self, forKey: .reconcile)?.interval ?? PolicyDuration(seconds: 1)
    }
}
