import Foundation

/// A message to the tenant (e-mail) or the provider's systems (webhook) about an action on a
/// VM. Notices wait in a durable outbox in the store, written with the action they report, and
/// are retried until delivered or given up on: a restart never loses one. The text is rendered
/// from `content` when it is sent (and when an operator previews it), with the site's template.
public struct Notice: Hashable, Sendable, Codable {
    public enum Channel: String, Hashable, Sendable, Codable, CaseIterable {
        case email, webhook
    }

    public enum Status: String, Hashable, Sendable, Codable, CaseIterable {
        /// Waiting for its next attempt.
        case pending
        case delivered
        /// Refused for good (a 5xx, a 4xx from the webhook) or retried past the give-up time.
        case failed
    }

    public let id: String
    public let caseID: String
    public let channel: Channel
    /// The e-mail address, or the webhook URL.
    public let recipient: String
    public let createdAt: Date
    public var status: Status
    public var attempts: Int
    public var nextAttemptAt: Date
    public var deliveredAt: Date?
    /// The server's last answer or the last error, for the operator.
    public var lastResult: String?
    public let content: NoticeContent

    public init(id: String, caseID: String, channel: Channel, recipient: String, createdAt: Date, status: Status = .pending,
                attempts: Int = 0, nextAttemptAt: Date, deliveredAt: Date? = nil, lastResult: String? = nil,
                content: NoticeContent) {
        self.id = id
        self.caseID = caseID
        self.channel = channel
        self.recipient = recipient
        self.createdAt = createdAt
        self.status = status
        self.attempts = attempts
        self.nextAttemptAt = nextAttemptAt
        self.deliveredAt = deliveredAt
        self.lastResult = lastResult
        self.content = content
    }

    enum CodingKeys: String, CodingKey {
        case id, channel, recipient, status, attempts, content
        case caseID = "case_id"
        case createdAt = "created_at"
        case nextAttemptAt = "next_attempt_at"
        case deliveredAt = "delivered_at"
        case lastResult = "last_result"
    }
}

/// What a notice says, as data: the template turns it into text.
public struct NoticeContent: Hashable, Sendable, Codable {
    public let vm: VMID
    public let tenant: TenantID
    /// The signal (`port_scan`, `spoofing`, ...) or `operator` for a manual filter.
    public let signal: String
    /// The response (`block_port`, `quarantine`, `suspend`, ...), or `filter` for a manual one.
    public let response: String
    public let detectedAt: Date
    /// When the filters end (nil: nothing was filtered).
    public let until: Date?
    /// One line: what was seen.
    public let summary: String
    /// The evidence lines (counters, sampled flows, SMTP records).
    public let evidence: [String]
    /// What was done, one line per filter ("out all traffic until ...").
    public let actions: [String]

    public init(vm: VMID, tenant: TenantID, signal: String, response: String, detectedAt: Date, until: Date?,
                summary: String, evidence: [String], actions: [String]) {
        self.vm = vm
        self.tenant = tenant
        self.signal = signal
        self.response = response
        self.detectedAt = detectedAt
        self.until = until
        self.summary = summary
        self.evidence = evidence
        self.actions = actions
    }

    enum CodingKeys: String, CodingKey {
        case vm, tenant, signal, response, until, summary, evidence, actions
        case detectedAt = "detected_at"
    }
}

/// A notice to queue with an action; the store gives it its id and case.
public struct NoticeDraft: Hashable, Sendable {
    public let channel: Notice.Channel
    public let recipient: String
    public let content: NoticeContent

    public init(channel: Notice.Channel, recipient: String, content: NoticeContent) {
        self.channel = channel
        self.recipient = recipient
        self.content = content
    }
}
