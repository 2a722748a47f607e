import Foundation

/// What happened to one mail transaction (MAIL FROM to its end), for the audit log and metrics.
public struct SMTPTransactionRecord: Hashable, Sendable {
    /// How the transaction ended, from the relay's point of view.
    public enum Verdict: String, Hashable, Sendable, CaseIterable {
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
        /// The message text contained a bare CR or LF (SMTP smuggling defence).
        case bareLineEnding
        /// A message text line was longer than 1000 octets.
        case lineTooLong
        /// RSET, QUIT, a new EHLO, a timeout or a lost connection ended it before the message completed.
        case aborted
    }

    public var ehloName: String?
    public var sender: SMTPReversePath
    /// RCPTs the upstream accepted.
    public var recipientCount: Int
    /// Lowercased domains of the accepted RCPTs, in order, without repeats.
    public var recipientDomains: [String]
    /// RCPTs the relay refused itself because of the recipient limit.
    public var recipientsRefusedByLimit: Int
    /// Octets of message text received from the VM (dot-stuffed, CRLFs included, final dot excluded).
    public var sizeBytes: Int
    public var clientTLS: SMTPTLSInfo?
    public var upstreamTLS: SMTPTLSInfo?
    /// The upstream's last reply in this transaction (to the final dot, or the refusal).
    public var upstreamReply: SMTPReply?
    /// The domain the upstream named in its 220 greeting (RFC 5321 4.3.1), as it claimed it.
    public var upstreamGreetingDomain: String?
    public var verdict: Verdict
    public var startedAt: Date
    public var endedAt: Date

    public init(ehloName: String?, sender: SMTPReversePath, recipientCount: Int = 0, recipientDomains: [String] = [],
                recipientsRefusedByLimit: Int = 0, sizeBytes: Int = 0, clientTLS: SMTPTLSInfo? = nil,
                upstreamTLS: SMTPTLSInfo? = nil, upstreamReply: SMTPReply? = nil, upstreamGreetingDomain: String? = nil,
                verdict: Verdict, startedAt: Date, endedAt: Date) {
        self.ehloName = ehloName
        self.sender = sender
        self.recipientCount = recipientCount
        self.recipientDomains = recipientDomains
        self.recipientsRefusedByLimit = recipientsRefusedByLimit
        self.sizeBytes = sizeBytes
        self.clientTLS = clientTLS
        self.upstreamTLS = upstreamTLS
        self.upstreamReply = upstreamReply
        self.upstreamGreetingDomain = upstreamGreetingDomain
        self.verdict = verdict
        self.startedAt = startedAt
        self.endedAt = endedAt
    }
}
