import Foundation

/// What one VM did through the SMTP relay in a window of time, summed from the transaction
/// log: the counters abuse detection compares with its thresholds.
public struct SMTPActivity: Hashable, Sendable, Codable {
    public var vm: VMID
    /// Transactions logged, whatever their verdict.
    public var messages: Int
    /// Transactions the upstream accepted (verdict `relayed`).
    public var relayed: Int
    /// RCPTs the upstreams accepted, summed over the transactions.
    public var recipients: Int
    /// Distinct recipient domains over all the transactions (a spam run fans out wide).
    public var distinctRecipientDomains: Int
    /// Transactions the upstream refused (verdict `rejectedByUpstream`): a sender that many
    /// MXs refuse is likely on blocklists already.
    public var rejectedByUpstream: Int

    public init(vm: VMID, messages: Int, relayed: Int, recipients: Int, distinctRecipientDomains: Int,
                rejectedByUpstream: Int) {
        self.vm = vm
        self.messages = messages
        self.relayed = relayed
        self.recipients = recipients
        self.distinctRecipientDomains = distinctRecipientDomains
        self.rejectedByUpstream = rejectedByUpstream
    }

    enum CodingKeys: String, CodingKey {
        case vm, messages, relayed, recipients
        case distinctRecipientDomains = "distinct_recipient_domains"
        case rejectedByUpstream = "rejected_by_upstream"
    }
}
