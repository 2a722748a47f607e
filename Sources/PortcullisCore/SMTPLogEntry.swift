import Foundation

/// One relayed mail transaction (MAIL FROM to its end) as the SMTP transaction log keeps it.
///
/// The relay produces one per transaction; the store keeps them for the retention period so
/// that an operator can answer "what did this VM send?" and abuse detection can count per VM.
/// It lives here, not in SMTPProxy, so that the store, the API and the CLI can share it
/// without depending on NIO. Strings that came from the VM or the upstream (EHLO name,
/// sender, domains, reply text) are kept as received: they are evidence, and whoever prints
/// them to a terminal must neutralise control characters.
public struct SMTPLogEntry: Hashable, Sendable, Codable {
    /// A TLS session on one leg, as negotiated.
    public struct TLS: Hashable, Sendable, Codable {
        /// e.g. `TLSv1.3`.
        public var version: String
        /// e.g. `TLS_AES_256_GCM_SHA384`.
        public var cipher: String

        public init(version: String, cipher: String) {
            self.version = version
            self.cipher = cipher
        }
    }

    /// The upstream's last reply in the transaction: to the final dot, or the refusal.
    public struct Reply: Hashable, Sendable, Codable {
        /// 200-599.
        public var code: Int
        /// The RFC 3463 code, e.g. `5.7.1`, when the upstream sent one.
        public var enhancedCode: String?
        /// The reply text without code and enhanced code; the lines of a multiline reply
        /// joined with a space.
        public var text: String

        public init(code: Int, enhancedCode: String? = nil, text: String) {
            self.code = code
            self.enhancedCode = enhancedCode
            self.text = text
        }

        enum CodingKeys: String, CodingKey {
            case code, text
            case enhancedCode = "enhanced_code"
        }
    }

    /// How the transaction ended, from the relay's point of view (the relay's
    /// `SMTPTransactionRecord.Verdict` is this enum). The raw values are stored in the log.
    public enum Verdict: String, Hashable, Sendable, Codable, CaseIterable {
        /// The upstream accepted the message text (2xx after the final dot).
        case relayed
        /// The upstream refused MAIL FROM or the message text.
        case rejectedByUpstream
        /// SIZE= over the limit at MAIL FROM, or the text grew past it during DATA.
        case sizeExceeded
        /// Ended without a message, and at least one RCPT was refused by the recipient limit.
        case tooManyRecipients
        /// The rate policy refused MAIL FROM.
        case rateLimited
        /// The message text contained a bare CR, LF or NUL (SMTP smuggling defence).
        case bareLineEnding
        /// A message text line was longer than 1000 octets.
        case lineTooLong
        /// RSET, QUIT, a new EHLO, a timeout or a lost connection ended it before the message completed.
        case aborted
    }

    /// When the transaction ended. Records are written then, so the log's order is the order
    /// in which transactions finished; `durationMilliseconds` says when each began.
    public var time: Date
    public var vm: VMID
    public var tenant: TenantID
    /// The VM's address the connection came from.
    public var client: IPAddress
    /// The original destination (the MX the VM connected to), which the relay dialled.
    public var destination: IPAddress
    public var destinationPort: Port
    /// The host name the upstream gave in its 220 greeting, as it claimed it.
    public var upstreamGreetingDomain: String?
    /// The name the VM gave in EHLO/HELO (nil if it sent MAIL FROM without one).
    public var ehloName: String?
    /// The envelope sender (MAIL FROM) without angle brackets; empty for the null
    /// reverse-path `<>` of bounces.
    public var sender: String
    /// RCPTs the upstream accepted.
    public var recipientCount: Int
    /// Lowercased domains of the accepted RCPTs, in order, without repeats.
    public var recipientDomains: [String]
    /// RCPTs the relay refused itself because of the per-message recipient limit.
    public var recipientsRefusedByLimit: Int
    /// RCPTs the upstream did not accept (refused, or unanswered when the transaction ended).
    public var recipientsRefusedByUpstream: Int
    /// Octets of message text received from the VM.
    public var sizeBytes: Int
    /// TLS between the VM and the relay; nil for plain text.
    public var clientTLS: TLS?
    /// TLS between the relay and the upstream; nil for plain text.
    public var upstreamTLS: TLS?
    /// nil when the transaction ended before the upstream answered (e.g. the relay refused
    /// MAIL FROM itself, or the VM went away).
    public var upstreamReply: Reply?
    public var verdict: Verdict
    /// From MAIL FROM to the end of the transaction.
    public var durationMilliseconds: Int

    public init(time: Date, vm: VMID, tenant: TenantID, client: IPAddress, destination: IPAddress,
                destinationPort: Port, upstreamGreetingDomain: String? = nil, ehloName: String? = nil,
                sender: String, recipientCount: Int = 0, recipientDomains: [String] = [],
                recipientsRefusedByLimit: Int = 0, recipientsRefusedByUpstream: Int = 0, sizeBytes: Int = 0, clientTLS: TLS? = nil,
                upstreamTLS: TLS? = nil, upstreamReply: Reply? = nil, verdict: Verdict,
                durationMilliseconds: Int) {
        self.time = time
        self.vm = vm
        self.tenant = tenant
        self.client = client
        self.destination = destination
        self.destinationPort = destinationPort
        self.upstreamGreetingDomain = upstreamGreetingDomain
        self.ehloName = ehloName
        self.sender = sender
        self.recipientCount = recipientCount
        self.recipientDomains = recipientDomains
        self.recipientsRefusedByLimit = recipientsRefusedByLimit
        self.recipientsRefusedByUpstream = recipientsRefusedByUpstream
        self.sizeBytes = sizeBytes
        self.clientTLS = clientTLS
        self.upstreamTLS = upstreamTLS
        self.upstreamReply = upstreamReply
        self.verdict = verdict
        self.durationMilliseconds = durationMilliseconds
    }

    enum CodingKeys: String, CodingKey {
        case time, vm, tenant, client, destination, sender, verdict
        case destinationPort = "destination_port"
        case upstreamGreetingDomain = "upstream_greeting_domain"
        case ehloName = "ehlo_name"
        case recipientCount = "recipient_count"
        case recipientDomains = "recipient_domains"
        case recipientsRefusedByLimit = "recipients_refused_by_limit"
        case recipientsRefusedByUpstream = "recipients_refused_by_upstream"
        case sizeBytes = "size_bytes"
        case clientTLS = "client_tls"
        case upstreamTLS = "upstream_tls"
        case upstreamReply = "upstream_reply"
        case durationMilliseconds = "duration_ms"
    }
}
