import Foundation

/// The site configuration file (YAML), decoded and validated as a whole before the
/// daemon touches the kernel. Every key is documented in docs/configuration.md.
public struct SiteConfig: Sendable, Decodable {
    public let policy: SitePolicy
    public let storePath: String
    public let apiSocket: String
    /// The optional TCP listener for a remote orchestrator (bearer tokens required).
    public let apiTCP: APITCPListener?
    /// How often the reconciler compares the kernel with the desired state.
    public let reconcileInterval: PolicyDuration
    /// The transparent SMTP relay (its mode and port are also in `policy.smtp`).
    public let smtp: SMTPSettings
    /// Abuse detection and the response ladder (the scan part is also in `policy.scanDetection`).
    public let abuse: AbuseSettings
    /// Who hears about abuse actions (e-mail to tenants, the webhook), and the outbox's retries.
    public let notices: NoticeSettings

    enum CodingKeys: String, CodingKey, CaseIterable {
        case site, exemptions, store, api, reconcile, smtp, abuse, notices
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
        let tcp: APITCPListener?
        enum CodingKeys: String, CodingKey, CaseIterable { case socket, tcp }
        init(from decoder: any Decoder) throws {
            try refuseUnknownKeys(in: decoder, known: CodingKeys.self, section: "api")
            let c = try decoder.container(keyedBy: CodingKeys.self)
            socket = try c.decodeIfPresent(String.self, forKey: .socket)
            tcp = try c.decodeIfPresent(APITCPListener.self, forKey: .tcp)
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
        smtp = try c.decodeIfPresent(SMTPSettings.self, forKey: .smtp) ?? SMTPSettings()
        abuse = try c.decodeIfPresent(AbuseSettings.self, forKey: .abuse) ?? AbuseSettings()
        notices = try c.decodeIfPresent(NoticeSettings.self, forKey: .notices) ?? NoticeSettings()
        let ports = try c.decodeIfPresent(RestrictedPorts.self, forKey: .restrictedPorts)?.tcp
            ?? [25, 465, 587].compactMap { Port($0) }
        policy = SitePolicy(
            site: site,
            publicIPv4: try c.decodeIfPresent([IPv4Network].self, forKey: .publicIPv4) ?? [],
            restrictedTCPPorts: PortSet(ports),
            exemptions: try c.decodeIfPresent(ExemptionPolicy.self, forKey: .exemptions) ?? ExemptionPolicy(),
            smtp: smtp.interception,
            scanDetection: abuse.scanDetection,
            quarantineAllow: abuse.quarantineAllow,
            throttle: abuse.throttle
        )
        storePath = try c.decodeIfPresent(StoreSection.self, forKey: .store)?.sqlite ?? "/var/lib/portcullis/state.db"
        let api = try c.decodeIfPresent(APISection.self, forKey: .api)
        apiSocket = api?.socket ?? "/run/portcullis/api.sock"
        apiTCP = api?.tcp
        reconcileInterval = try c.decodeIfPresent(ReconcileSection.self, forKey: .reconcile)?.interval ?? PolicyDuration(seconds: 1)
    }
}

/// `api.tcp`: where the control API also listens over TCP, and the file of its tokens.
public struct APITCPListener: Sendable, Decodable {
    public let host: String
    public let port: Int
    public let tokensFile: String

    enum CodingKeys: String, CodingKey, CaseIterable {
        case listen
        case tokensFile = "tokens_file"
    }

    public init(from decoder: any Decoder) throws {
        try refuseUnknownKeys(in: decoder, known: CodingKeys.self, section: "api.tcp")
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let listen = try c.decode(String.self, forKey: .listen)
        // HOST:PORT, with IPv6 hosts in brackets: 127.0.0.1:8787, [::1]:8787.
        guard let colon = listen.lastIndex(of: ":"), let port = Int(listen[listen.index(after: colon)...]),
              (1...65535).contains(port) else {
            throw ValidationError(field: "api.tcp.listen", value: listen, problem: "expected HOST:PORT, e.g. 127.0.0.1:8787 or [::1]:8787")
        }
        var host = String(listen[..<colon])
        if host.hasPrefix("["), host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        guard !host.isEmpty else {
            throw ValidationError(field: "api.tcp.listen", value: listen, problem: "give the address to listen on")
        }
        self.host = host
        self.port = port
        tokensFile = try c.decode(String.self, forKey: .tokensFile)
    }
}
