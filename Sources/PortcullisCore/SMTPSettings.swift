/// The `smtp:` section of the site configuration: how the daemon's transparent relay runs.
/// The ruleset half (mode, port) is `SitePolicy.smtp`; the rest only the relay reads.
public struct SMTPSettings: Sendable, Hashable, Decodable {
    public let interception: SMTPInterception
    public let tls: SMTPTLSSettings
    public let limits: SMTPLimitSettings
    /// SO_MARK on the relay's upstream sockets, for sites whose host default route is not the
    /// tenants' gateway: the operator routes this mark through a tenant table (docs/deployment.md).
    public let upstreamMark: UInt32?
    /// The policy-routing table and rule priority the daemon installs so that intercepted packets
    /// (marked by the ruleset) are delivered to the relay on this host.
    public let routingTable: UInt32
    public let routingPriority: UInt32
    /// How long transaction records stay in the store.
    public let logRetention: PolicyDuration

    public init(interception: SMTPInterception = .init(), tls: SMTPTLSSettings = .init(), limits: SMTPLimitSettings = .init(),
                upstreamMark: UInt32? = nil, routingTable: UInt32 = 2525, routingPriority: UInt32 = 2525,
                logRetention: PolicyDuration = PolicyDuration(seconds: 30 * 86_400)) {
        self.interception = interception
        self.tls = tls
        self.limits = limits
        self.upstreamMark = upstreamMark
        self.routingTable = routingTable
        self.routingPriority = routingPriority
        self.logRetention = logRetention
    }

    enum CodingKeys: String, CodingKey, CaseIterable {
        case mode, tls, limits
        case listenPort = "listen_port"
        case upstreamMark = "upstream_mark"
        case routingTable = "routing_table"
        case routingPriority = "routing_priority"
        case logRetention = "log_retention"
    }

    public init(from decoder: any Decoder) throws {
        try refuseUnknownKeys(in: decoder, known: CodingKeys.self, section: "smtp")
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let defaults = SMTPSettings()
        let mode: SMTPMode
        if let text = try c.decodeIfPresent(String.self, forKey: .mode) {
            guard let parsed = SMTPMode(rawValue: text) else {
                throw ValidationError(field: "smtp.mode", value: text, problem: "expected block, proxy or allow")
            }
            mode = parsed
        } else {
            mode = defaults.interception.mode
        }
        interception = SMTPInterception(mode: mode,
                                        listenPort: try c.decodeIfPresent(Port.self, forKey: .listenPort) ?? defaults.interception.listenPort)
        tls = try c.decodeIfPresent(SMTPTLSSettings.self, forKey: .tls) ?? defaults.tls
        limits = try c.decodeIfPresent(SMTPLimitSettings.self, forKey: .limits) ?? defaults.limits
        let uint32 = Int(UInt32.max)
        upstreamMark = try c.decodeNumberIfPresent(.upstreamMark, in: 1...uint32, section: "smtp").map { UInt32($0) }
        routingTable = try c.decodeNumberIfPresent(.routingTable, in: 1...uint32, section: "smtp").map { UInt32($0) } ?? defaults.routingTable
        routingPriority = try c.decodeNumberIfPresent(.routingPriority, in: 0...32765, section: "smtp").map { UInt32($0) }
            ?? defaults.routingPriority
        if let mark = upstreamMark, (0x5043_0000...0x5043_ffff).contains(mark) {
            throw ValidationError(field: "smtp.upstream_mark", value: String(mark),
                                  problem: "is in Portcullis' own mark range 0x50430000-0x5043ffff; pick another")
        }
        guard ![253, 254, 255].contains(routingTable) else {
            throw ValidationError(field: "smtp.routing_table", value: String(routingTable),
                                  problem: "is one of the kernel's own tables (default, main, local); pick an unused number")
        }
        logRetention = try c.decodeIfPresent(PolicyDuration.self, forKey: .logRetention) ?? defaults.logRetention
    }

}

/// `smtp.tls`: how the relay treats STARTTLS.
public struct SMTPTLSSettings: Sendable, Hashable, Decodable {
    public enum Mode: String, Sendable, Hashable, CaseIterable {
        /// TLS with the VM on the relay's certificate; opportunistic STARTTLS upstream.
        case terminate
        /// The VM's STARTTLS goes upstream and the bytes are spliced: TLS end to end, and the
        /// limits that need the plaintext (recipients, size) no longer apply to that session.
        case splice
        /// Neither advertised nor accepted.
        case off
    }

    public let mode: Mode
    /// PEM certificate chain and key; when both are absent a self-signed pair is generated at
    /// first start into the state directory.
    public let certificate: String?
    public let key: String?

    public init(mode: Mode = .terminate, certificate: String? = nil, key: String? = nil) {
        self.mode = mode
        self.certificate = certificate
        self.key = key
    }

    enum CodingKeys: String, CodingKey, CaseIterable {
        case mode, key
        case certificate = "cert"
    }

    public init(from decoder: any Decoder) throws {
        try refuseUnknownKeys(in: decoder, known: CodingKeys.self, section: "smtp.tls")
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let text = try c.decodeIfPresent(String.self, forKey: .mode) ?? Mode.terminate.rawValue
        guard let mode = Mode(rawValue: text) else {
            throw ValidationError(field: "smtp.tls.mode", value: text, problem: "expected terminate, splice or off")
        }
        self.mode = mode
        certificate = try c.decodeIfPresent(String.self, forKey: .certificate)
        key = try c.decodeIfPresent(String.self, forKey: .key)
        guard (certificate == nil) == (key == nil) else {
            throw ValidationError(field: certificate == nil ? "smtp.tls.cert" : "smtp.tls.key", value: "",
                                  problem: "give both cert and key, or neither (a self-signed pair is then generated)")
        }
    }
}

/// `smtp.limits`: per VM. The defaults are the figures, generous for a mail server and
/// tight for a spam run.
public struct SMTPLimitSettings: Sendable, Hashable, Decodable {
    public let sessions: Int
    public let connectionsPerMinute: Int
    public let messagesPerHour: Int
    public let recipientsPerMessage: Int
    public let maxMessageBytes: Int

    public init(sessions: Int = 20, connectionsPerMinute: Int = 60, messagesPerHour: Int = 200,
                recipientsPerMessage: Int = 100, maxMessageBytes: Int = 26_214_400) {
        self.sessions = sessions
        self.connectionsPerMinute = connectionsPerMinute
        self.messagesPerHour = messagesPerHour
        self.recipientsPerMessage = recipientsPerMessage
        self.maxMessageBytes = maxMessageBytes
    }

    enum CodingKeys: String, CodingKey, CaseIterable {
        case sessions
        case connectionsPerMinute = "connections_per_minute"
        case messagesPerHour = "messages_per_hour"
        case recipientsPerMessage = "recipients_per_message"
        case maxMessageBytes = "max_message_bytes"
    }

    public init(from decoder: any Decoder) throws {
        try refuseUnknownKeys(in: decoder, known: CodingKeys.self, section: "smtp.limits")
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let d = SMTPLimitSettings()
        func positive(_ key: CodingKeys, _ fallback: Int) throws -> Int {
            try c.decodePositive(key, section: "smtp.limits", default: fallback)
        }
        sessions = try positive(.sessions, d.sessions)
        connectionsPerMinute = try positive(.connectionsPerMinute, d.connectionsPerMinute)
        messagesPerHour = try positive(.messagesPerHour, d.messagesPerHour)
        recipientsPerMessage = try positive(.recipientsPerMessage, d.recipientsPerMessage)
        maxMessageBytes = try positive(.maxMessageBytes, d.maxMessageBytes)
        guard recipientsPerMessage >= 100 else {
            throw ValidationError(field: "smtp.limits.recipients_per_message", value: String(recipientsPerMessage),
                                  problem: "RFC 5321 4.5.3.1.8 requires accepting at least 100 recipients")
        }
    }
}
