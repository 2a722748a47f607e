import Foundation
import PortcullisCore

/// What happened to one mail transaction (MAIL FROM to its end), for the audit log and metrics.
public struct SMTPTransactionRecord: Hashable, Sendable {
    /// How the transaction ended. One enum for the relay and the log it feeds (defined in
    /// PortcullisCore, which the store and the CLI can read without NIO).
    public typealias Verdict = SMTPLogEntry.Verdict

    public var ehloName: String?
    public var sender: SMTPReversePath
    /// RCPTs the upstream accepted.
    public var recipientCount: Int
    /// Lowercased domains of the accepted RCPTs, in order, without repeats.
    public var recipientDomains: [String]
    /// RCPTs the relay refused itself because of the recipient limit.
    public var recipientsRefusedByLimit: Int
    /// RCPTs passed upstream that the upstream did not accept (refused, or unanswered when
    /// the transaction ended): the spam signal of guessed addresses.
    public var recipientsRefusedByUpstream: Int
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
                recipientsRefusedByLimit: Int = 0, recipientsRefusedByUpstream: Int = 0, sizeBytes: Int = 0, clientTLS: SMTPTLSInfo? = nil,
                upstreamTLS: SMTPTLSInfo? = nil, upstreamReply: SMTPReply? = nil, upstreamGreetingDomain: String? = nil,
                verdict: Verdict, startedAt: Date, endedAt: Date) {
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
        self.upstreamGreetingDomain = upstreamGreetingDomain
        self.verdict = verdict
        self.startedAt = startedAt
        self.endedAt = endedAt
    }
}
