import Foundation

/// The `notices:` section of the site configuration: who hears about abuse actions, and how.
/// E-mail goes to the VM's contact through the provider's smarthost; the webhook (JSON, signed
/// with HMAC-SHA256) goes to the provider's own systems (ticketing, the abuse desk's chat). With
/// neither configured, cases are still kept and nothing is sent.
public struct NoticeSettings: Sendable, Hashable, Decodable {
    public enum TLSMode: String, Sendable, Hashable, Decodable, CaseIterable {
        /// Plain text only (a smarthost on a trusted management network).
        case off
        /// STARTTLS when the smarthost offers it.
        case opportunistic
        /// STARTTLS or no delivery (retried, like any transient failure).
        case required
    }

    public struct Email: Sendable, Hashable {
        /// The smarthost: host name or address.
        public let relayHost: String
        public let relayPort: Int
        public let from: EmailAddress
        public let tls: TLSMode
        /// Check the smarthost's certificate (a private CA goes in `caFile`; off only without `auth`, on a trusted path).
        public let verifyCertificate: Bool
        /// The name in EHLO; nil: the host name.
        public let heloName: String?
        /// A template file replacing the built-in notice text (docs/configuration.md lists its placeholders).
        public let templatePath: String?
        /// SMTP AUTH at the smarthost; nil: it lets this host relay by its address.
        public let auth: Auth?
        /// A PEM file of trust roots for the smarthost's certificate (a private CA); nil: the system's.
        public let caFile: String?
    }

    /// A login at the smarthost. The password is in a file (its first line), not in the
    /// configuration, so the configuration can be world-readable.
    public struct Auth: Sendable, Hashable {
        public let username: String
        public let passwordFile: String
    }

    public struct Webhook: Sendable, Hashable {
        public let url: URL
        /// A file holding the shared secret the signature is made with (not the secret itself,
        /// so the configuration can be world-readable).
        public let secretFile: String
        public let verifyCertificate: Bool
    }

    public let email: Email?
    public let webhook: Webhook?
    /// Named in every notice, e.g. "Example Hosting".
    public let providerName: String
    /// Where tenants reply or ask, e.g. "abuse@example.net or https://support.example.net".
    public let supportContact: String
    /// The responses that send notices (the default: every response that filters traffic;
    /// add `observe` to hear about detections that were only recorded).
    public let notify: Set<AbuseResponse>
    /// Retry schedule: the first retry after `retryFirst`, doubling up to `retryMax` between
    /// attempts; a notice still undelivered after `giveUpAfter` is marked failed and logged.
    public let retryFirst: PolicyDuration
    public let retryMax: PolicyDuration
    public let giveUpAfter: PolicyDuration

    public init(email: Email? = nil, webhook: Webhook? = nil, providerName: String = "your hosting provider",
                supportContact: String = "your provider's support", notify: Set<AbuseResponse> = [.blockPort, .quarantine, .suspend],
                retryFirst: PolicyDuration = .init(seconds: 30), retryMax: PolicyDuration = .init(seconds: 3600),
                giveUpAfter: PolicyDuration = .init(seconds: 3 * 86_400)) {
        self.email = email
        self.webhook = webhook
        self.providerName = providerName
        self.supportContact = supportContact
        self.notify = notify
        self.retryFirst = retryFirst
        self.retryMax = retryMax
        self.giveUpAfter = giveUpAfter
    }

    /// The notices a detector's response on `vm` sends (none for responses not in `notify`).
    public func drafts(for vm: VM, response: AbuseResponse, content: NoticeContent) -> [NoticeDraft] {
        notify.contains(response) ? drafts(for: vm, content: content) : []
    }

    /// The notices an action on `vm` sends: an e-mail to its contact (when it has one and
    /// e-mail is configured) and the webhook (when configured).
    public func drafts(for vm: VM, content: NoticeContent) -> [NoticeDraft] {
        var drafts: [NoticeDraft] = []
        if email != nil, let contact = vm.contact {
            drafts.append(NoticeDraft(channel: .email, recipient: contact.value, content: content))
        }
        if let webhook {
            drafts.append(NoticeDraft(channel: .webhook, recipient: webhook.url.absoluteString, content: content))
        }
        return drafts
    }

    /// When attempt `attempts + 1` is due after a transient failure at `now`, or nil when the
    /// notice has been tried long enough.
    public func nextAttempt(after attempts: Int, createdAt: Date, now: Date) -> Date? {
        var delay = retryFirst.seconds
        for _ in 1..<max(1, min(attempts, 40)) where delay < retryMax.seconds { delay *= 2 }
        let next = now.addingTimeInterval(TimeInterval(min(delay, retryMax.seconds)))
        return next.timeIntervalSince(createdAt) > giveUpAfter.timeInterval ? nil : next
    }

    enum CodingKeys: String, CodingKey, CaseIterable {
        case email, webhook, notify, retry
        case providerName = "provider_name"
        case supportContact = "support_contact"
    }

    struct EmailSection: Decodable {
        let email: Email
        enum CodingKeys: String, CodingKey, CaseIterable {
            case relay, from, tls, helo, template, auth
            case verifyCertificate = "verify_certificate"
            case caFile = "ca_file"
        }

        struct AuthSection: Decodable {
            let auth: Auth
            enum CodingKeys: String, CodingKey, CaseIterable {
                case username
                case passwordFile = "password_file"
            }
            init(from decoder: any Decoder) throws {
                try refuseUnknownKeys(in: decoder, known: CodingKeys.self, section: "notices.email.auth")
                let c = try decoder.container(keyedBy: CodingKeys.self)
                auth = Auth(username: try c.decode(String.self, forKey: .username),
                            passwordFile: try c.decode(String.self, forKey: .passwordFile))
            }
        }
        init(from decoder: any Decoder) throws {
            try refuseUnknownKeys(in: decoder, known: CodingKeys.self, section: "notices.email")
            let c = try decoder.container(keyedBy: CodingKeys.self)
            let relay = try c.decode(String.self, forKey: .relay)
            let (host, port) = try Self.hostAndPort(relay)
            var tls = TLSMode.opportunistic
            if let text = try c.decodeIfPresent(String.self, forKey: .tls) {
                guard let parsed = TLSMode(rawValue: text) else {
                    throw ValidationError(field: "notices.email.tls", value: text, problem: "expected off, opportunistic or required")
                }
                tls = parsed
            }
            email = Email(relayHost: host, relayPort: port, from: try c.decode(EmailAddress.self, forKey: .from), tls: tls,
                          verifyCertificate: try c.decodeIfPresent(Bool.self, forKey: .verifyCertificate) ?? true,
                          heloName: try c.decodeIfPresent(String.self, forKey: .helo),
                          templatePath: try c.decodeIfPresent(String.self, forKey: .template),
                          auth: try c.decodeIfPresent(AuthSection.self, forKey: .auth)?.auth,
                          caFile: try c.decodeIfPresent(String.self, forKey: .caFile))
            if email.auth != nil, tls != .required {
                throw ValidationError(field: "notices.email.tls", value: tls.rawValue,
                                      problem: "must be required with notices.email.auth: the password is only ever sent over TLS")
            }
            if email.auth != nil, !email.verifyCertificate {
                throw ValidationError(field: "notices.email.verify_certificate", value: "false",
                                      problem: "must stay on with notices.email.auth: over unverified TLS the password goes to "
                                        + "whoever sits in the path; name a private CA with notices.email.ca_file")
            }
        }

        /// "host:port", "[v6]:port", or a host alone (port 25).
        static func hostAndPort(_ text: String) throws(ValidationError) -> (String, Int) {
            let problem = ValidationError(field: "notices.email.relay", value: text,
                                          problem: "expected host:port, e.g. smtp.example.net:25 or [2001:db8::25]:25")
            var host = text
            var port = 25
            if text.hasPrefix("[") {
                guard let close = text.firstIndex(of: "]") else { throw problem }
                host = String(text[text.index(after: text.startIndex)..<close])
                let rest = text[text.index(after: close)...]
                if !rest.isEmpty {
                    guard rest.hasPrefix(":"), let value = Int(rest.dropFirst()) else { throw problem }
                    port = value
                }
            } else if let colon = text.lastIndex(of: ":") {
                guard text.firstIndex(of: ":") == colon, let value = Int(text[text.index(after: colon)...]) else { throw problem }
                host = String(text[..<colon])
                port = value
            }
            guard !host.isEmpty, (1...65_535).contains(port), !host.contains(where: { $0.isWhitespace }) else { throw problem }
            return (host, port)
        }
    }

    struct WebhookSection: Decodable {
        let webhook: Webhook
        enum CodingKeys: String, CodingKey, CaseIterable {
            case url
            case secretFile = "secret_file"
            case verifyCertificate = "verify_certificate"
        }
        init(from decoder: any Decoder) throws {
            try refuseUnknownKeys(in: decoder, known: CodingKeys.self, section: "notices.webhook")
            let c = try decoder.container(keyedBy: CodingKeys.self)
            let text = try c.decode(String.self, forKey: .url)
            guard let url = URL(string: text), ["http", "https"].contains(url.scheme ?? ""), url.host != nil else {
                throw ValidationError(field: "notices.webhook.url", value: text, problem: "expected an http:// or https:// URL")
            }
            webhook = Webhook(url: url, secretFile: try c.decode(String.self, forKey: .secretFile),
                              verifyCertificate: try c.decodeIfPresent(Bool.self, forKey: .verifyCertificate) ?? true)
        }
    }

    struct RetrySection: Decodable {
        let first: PolicyDuration?
        let max: PolicyDuration?
        let giveUp: PolicyDuration?
        enum CodingKeys: String, CodingKey, CaseIterable {
            case first, max
            case giveUp = "give_up"
        }
        init(from decoder: any Decoder) throws {
            try refuseUnknownKeys(in: decoder, known: CodingKeys.self, section: "notices.retry")
            let c = try decoder.container(keyedBy: CodingKeys.self)
            first = try c.decodeIfPresent(PolicyDuration.self, forKey: .first)
            max = try c.decodeIfPresent(PolicyDuration.self, forKey: .max)
            giveUp = try c.decodeIfPresent(PolicyDuration.self, forKey: .giveUp)
        }
    }

    public init(from decoder: any Decoder) throws {
        try refuseUnknownKeys(in: decoder, known: CodingKeys.self, section: "notices")
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let defaults = NoticeSettings()
        email = try c.decodeIfPresent(EmailSection.self, forKey: .email)?.email
        webhook = try c.decodeIfPresent(WebhookSection.self, forKey: .webhook)?.webhook
        providerName = try c.decodeIfPresent(String.self, forKey: .providerName) ?? defaults.providerName
        supportContact = try c.decodeIfPresent(String.self, forKey: .supportContact) ?? defaults.supportContact
        if let names = try c.decodeIfPresent([String].self, forKey: .notify) {
            notify = Set(try names.map { name throws(ValidationError) in
                guard let response = AbuseResponse(rawValue: name) else {
                    throw ValidationError(field: "notices.notify", value: name,
                                          problem: "expected some of \(AbuseResponse.allCases.map(\.rawValue).joined(separator: ", "))")
                }
                return response
            })
        } else {
            notify = defaults.notify
        }
        let retry = try c.decodeIfPresent(RetrySection.self, forKey: .retry)
        retryFirst = retry?.first ?? defaults.retryFirst
        retryMax = retry?.max ?? defaults.retryMax
        giveUpAfter = retry?.giveUp ?? defaults.giveUpAfter
        guard retryFirst.seconds > 0, retryFirst.seconds <= retryMax.seconds else {
            throw ValidationError(field: "notices.retry.max", value: retryMax.description,
                                  problem: "must be at least retry.first (\(retryFirst)), which must be above zero")
        }
    }
}
