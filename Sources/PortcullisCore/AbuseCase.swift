import Foundation

/// One incident on one VM, as the abuse desk works it: every automatic or manual action on the
/// VM (a detection, a filter placed or lifted, a notice, an operator's note) is appended to the
/// VM's open case, or opens one. A case is closed only by an operator; the next action after
/// that opens a new one. Closing does not lift filters: they have their own expiry.
public struct AbuseCase: Hashable, Sendable, Codable {
    public enum Status: String, Hashable, Sendable, Codable, CaseIterable {
        case open, closed
    }

    public let id: String
    public let vm: VMID
    public let tenant: TenantID
    public var status: Status
    public let openedAt: Date
    public var updatedAt: Date
    public var closedAt: Date?
    public var closedBy: String?
    /// What the operator found, given when closing.
    public var resolution: String?
    /// The signals detected in this case, in the order first seen.
    public var signals: [String]
    /// Oldest first. Empty in lists (`evidenceCount` says how many there are).
    public var evidence: [CaseEvidence]
    public var evidenceCount: Int

    public init(id: String, vm: VMID, tenant: TenantID, status: Status, openedAt: Date, updatedAt: Date,
                closedAt: Date? = nil, closedBy: String? = nil, resolution: String? = nil, signals: [String] = [],
                evidence: [CaseEvidence] = [], evidenceCount: Int = 0) {
        self.id = id
        self.vm = vm
        self.tenant = tenant
        self.status = status
        self.openedAt = openedAt
        self.updatedAt = updatedAt
        self.closedAt = closedAt
        self.closedBy = closedBy
        self.resolution = resolution
        self.signals = signals
        self.evidence = evidence
        self.evidenceCount = evidenceCount
    }

    enum CodingKeys: String, CodingKey {
        case id, vm, tenant, status, resolution, signals, evidence
        case openedAt = "opened_at"
        case updatedAt = "updated_at"
        case closedAt = "closed_at"
        case closedBy = "closed_by"
        case evidenceCount = "evidence_count"
    }
}

/// One entry of a case: what happened, who did it, and the facts behind it.
public struct CaseEvidence: Hashable, Sendable, Codable {
    public enum Kind: String, Hashable, Sendable, Codable, CaseIterable {
        /// A detector's offence (or one it held back: observe only, allowlisted).
        case detection
        case filterPlaced = "filter_placed"
        case filterLifted = "filter_lifted"
        case noticeQueued = "notice_queued"
        /// A notice delivered, or given up on.
        case noticeOutcome = "notice_outcome"
        /// An operator's note.
        case note
    }

    public let at: Date
    public let kind: Kind
    /// `detector:<signal>`, or the operator (API token name, or `cli` on the socket).
    public let actor: String
    public let summary: String
    /// The facts, one per line: counters, sampled flows with their times, SMTP transaction records.
    public let details: [String]

    public init(at: Date, kind: Kind, actor: String, summary: String, details: [String] = []) {
        self.at = at
        self.kind = kind
        self.actor = actor
        self.summary = summary
        self.details = details
    }
}

/// What an action adds to the VM's case, written in the same store transaction as the action
/// itself (a filter and its case entry, and the notice about it, exist together or not at all).
public struct CaseReport: Hashable, Sendable {
    public let vm: VMID
    public let tenant: TenantID
    public var signal: AbuseSignal?
    public var entries: [CaseEvidence]
    public var notices: [NoticeDraft]

    public init(vm: VMID, tenant: TenantID, signal: AbuseSignal? = nil, entries: [CaseEvidence], notices: [NoticeDraft] = []) {
        self.vm = vm
        self.tenant = tenant
        self.signal = signal
        self.entries = entries
        self.notices = notices
    }
}
