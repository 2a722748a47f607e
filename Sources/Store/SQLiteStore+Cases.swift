import Foundation
import GRDB
import PortcullisCore

/// Abuse cases, their evidence, and the notice outbox. A case row holds the case without its
/// evidence; evidence rows are appended, never changed. Notices are written in the same
/// transaction as the case entry that caused them, so a notice exists exactly when its action
/// does, and survives any restart until it is delivered or given up on. None of these rows
/// reference `vm`: a removed VM's cases are still the abuse desk's record.
extension SQLiteStore {
    static func registerCaseMigration(in migrator: inout DatabaseMigrator) {
        migrator.registerMigration("v5: abuse cases and notices") { db in
            try db.execute(sql: """
                CREATE TABLE abuse_case (
                    id TEXT PRIMARY KEY NOT NULL,
                    vm_id TEXT NOT NULL,
                    status TEXT NOT NULL,
                    updated_at DOUBLE NOT NULL,
                    body TEXT NOT NULL
                );
                CREATE INDEX abuse_case_vm ON abuse_case(vm_id, status);
                CREATE TABLE case_evidence (
                    id INTEGER PRIMARY KEY AUTOINCREMENT,
                    case_id TEXT NOT NULL REFERENCES abuse_case(id),
                    body TEXT NOT NULL
                );
                CREATE INDEX case_evidence_case ON case_evidence(case_id);
                CREATE TABLE notice (
                    id TEXT PRIMARY KEY NOT NULL,
                    case_id TEXT NOT NULL REFERENCES abuse_case(id),
                    status TEXT NOT NULL,
                    next_attempt_at DOUBLE NOT NULL,
                    body TEXT NOT NULL
                );
                CREATE INDEX notice_due ON notice(status, next_attempt_at);
                """)
        }
    }

    // MARK: Cases

    /// Appends the report to the VM's open case (opening one if there is none) and queues its
    /// notices; returns the case and the queued notices.
    @discardableResult
    public func record(_ report: CaseReport, actor: String, at now: Date = Date()) throws -> (AbuseCase, [Notice]) {
        try db.write { db in try Self.record(db, report, actor: actor, at: now) }
    }

    static func record(_ db: Database, _ report: CaseReport, actor: String, at now: Date) throws -> (AbuseCase, [Notice]) {
        var current: AbuseCase
        if let body = try String.fetchOne(db, sql: "SELECT body FROM abuse_case WHERE vm_id = ? AND status = 'open'",
                                          arguments: [report.vm.value]) {
            current = try Self.decode(body)
        } else {
            current = AbuseCase(id: "case-" + UUID().uuidString.prefix(8).lowercased(), vm: report.vm, tenant: report.tenant,
                                status: .open, openedAt: now, updatedAt: now)
            try db.execute(sql: "INSERT INTO abuse_case (id, vm_id, status, updated_at, body) VALUES (?, ?, 'open', ?, ?)",
                           arguments: [current.id, report.vm.value, now.timeIntervalSince1970, try Self.encode(current)])
            try Self.audit(db, now, actor, "case.open", "case/\(current.id)", before: nil, after: try Self.encode(current))
        }
        if let signal = report.signal, !current.signals.contains(signal.rawValue) { current.signals.append(signal.rawValue) }
        var entries = report.entries
        var notices: [Notice] = []
        for draft in report.notices {
            let notice = Notice(id: "ntc-" + UUID().uuidString.prefix(8).lowercased(), caseID: current.id, channel: draft.channel,
                                recipient: draft.recipient, createdAt: now, nextAttemptAt: now, content: draft.content)
            try db.execute(sql: "INSERT INTO notice (id, case_id, status, next_attempt_at, body) VALUES (?, ?, ?, ?, ?)",
                           arguments: [notice.id, current.id, notice.status.rawValue, now.timeIntervalSince1970, try Self.encode(notice)])
            try Self.audit(db, now, actor, "notice.queue", "notice/\(notice.id)", before: nil, after: try Self.encode(notice))
            entries.append(CaseEvidence(at: now, kind: .noticeQueued, actor: actor,
                                        summary: "\(notice.id): \(notice.channel.rawValue) to \(notice.recipient)"))
            notices.append(notice)
        }
        for entry in entries {
            try db.execute(sql: "INSERT INTO case_evidence (case_id, body) VALUES (?, ?)", arguments: [current.id, try Self.encode(entry)])
        }
        current.updatedAt = now
        try db.execute(sql: "UPDATE abuse_case SET updated_at = ?, body = ? WHERE id = ?",
                       arguments: [now.timeIntervalSince1970, try Self.encode(current), current.id])
        current.evidenceCount = try Int.fetchOne(db, sql: "SELECT count(*) FROM case_evidence WHERE case_id = ?",
                                                 arguments: [current.id]) ?? 0
        return (current, notices)
    }

    /// Cases, most recently updated first, without their evidence.
    public func cases(status: AbuseCase.Status? = nil, vm: VMID? = nil, limit: Int = 100) throws -> [AbuseCase] {
        try db.read { db in
            var conditions: [String] = []
            var arguments: StatementArguments = []
            if let status {
                conditions.append("status = ?")
                arguments += [status.rawValue]
            }
            if let vm {
                conditions.append("vm_id = ?")
                arguments += [vm.value]
            }
            let filter = conditions.isEmpty ? "" : "WHERE " + conditions.joined(separator: " AND ")
            arguments += [limit]
            return try Row.fetchAll(db, sql: """
                SELECT body, (SELECT count(*) FROM case_evidence e WHERE e.case_id = abuse_case.id) AS evidence
                FROM abuse_case \(filter) ORDER BY updated_at DESC, id LIMIT ?
                """, arguments: arguments).map { row in
                var item: AbuseCase = try Self.decode(row["body"])
                item.evidenceCount = row["evidence"]
                return item
            }
        }
    }

    /// One case with its evidence, oldest first.
    public func abuseCase(_ id: String) throws -> AbuseCase {
        try db.read { db in try Self.fullCase(db, id) }
    }

    static func fullCase(_ db: Database, _ id: String) throws -> AbuseCase {
        guard let body = try String.fetchOne(db, sql: "SELECT body FROM abuse_case WHERE id = ?", arguments: [id]) else {
            throw NotFound(kind: "case", id: id)
        }
        var item: AbuseCase = try Self.decode(body)
        item.evidence = try String.fetchAll(db, sql: "SELECT body FROM case_evidence WHERE case_id = ? ORDER BY id",
                                            arguments: [id]).map(Self.decode)
        item.evidenceCount = item.evidence.count
        return item
    }

    /// Closes an open case with the operator's resolution (audited). Its VM's next action opens a new case.
    public func closeCase(_ id: String, resolution: String, actor: String, at now: Date = Date()) throws -> AbuseCase {
        try db.write { db in
            var item = try Self.fullCase(db, id)
            guard item.status == .open else {
                throw StoreConflict(problem: "case \(id) was already closed by \(item.closedBy ?? "?"); actions on its VM open a new case")
            }
            let before = try Self.encode(item.withoutEvidence)
            item.status = .closed
            item.closedAt = now
            item.closedBy = actor
            item.resolution = resolution
            item.updatedAt = now
            try db.execute(sql: "UPDATE abuse_case SET status = 'closed', updated_at = ?, body = ? WHERE id = ?",
                           arguments: [now.timeIntervalSince1970, try Self.encode(item.withoutEvidence), id])
            try Self.audit(db, now, actor, "case.close", "case/\(id)", before: before, after: try Self.encode(item.withoutEvidence))
            return item
        }
    }

    /// An operator's note on a case, open or closed.
    public func addNote(to id: String, text: String, actor: String, at now: Date = Date()) throws -> AbuseCase {
        try db.write { db in
            _ = try Self.fullCase(db, id)
            let entry = CaseEvidence(at: now, kind: .note, actor: actor, summary: text)
            try db.execute(sql: "INSERT INTO case_evidence (case_id, body) VALUES (?, ?)", arguments: [id, try Self.encode(entry)])
            try Self.audit(db, now, actor, "case.note", "case/\(id)", before: nil, after: try Self.encode(entry))
            return try Self.fullCase(db, id)
        }
    }

    // MARK: Notice outbox

    public func notices(caseID: String? = nil, status: Notice.Status? = nil, limit: Int = 100) throws -> [Notice] {
        try db.read { db in
            var conditions: [String] = []
            var arguments: StatementArguments = []
            if let caseID {
                conditions.append("case_id = ?")
                arguments += [caseID]
            }
            if let status {
                conditions.append("status = ?")
                arguments += [status.rawValue]
            }
            let filter = conditions.isEmpty ? "" : "WHERE " + conditions.joined(separator: " AND ")
            arguments += [limit]
            return try String.fetchAll(db, sql: "SELECT body FROM notice \(filter) ORDER BY rowid DESC LIMIT ?",
                                       arguments: arguments).map(Self.decode)
        }
    }

    public func notice(_ id: String) throws -> Notice {
        try db.read { db in
            guard let body = try String.fetchOne(db, sql: "SELECT body FROM notice WHERE id = ?", arguments: [id]) else {
                throw NotFound(kind: "notice", id: id)
            }
            return try Self.decode(body)
        }
    }

    /// Pending notices whose next attempt is due, oldest first.
    public func dueNotices(at now: Date, limit: Int = 20) throws -> [Notice] {
        try db.read { db in
            try String.fetchAll(db, sql: """
                SELECT body FROM notice WHERE status = 'pending' AND next_attempt_at <= ? ORDER BY next_attempt_at LIMIT ?
                """, arguments: [now.timeIntervalSince1970, limit]).map(Self.decode)
        }
    }

    /// When the next pending notice is due (nil: the outbox is empty).
    public func nextNoticeDue() throws -> Date? {
        try db.read { db in
            try Double.fetchOne(db, sql: "SELECT min(next_attempt_at) FROM notice WHERE status = 'pending'")
                .map { Date(timeIntervalSince1970: $0) }
        }
    }

    /// Stores the outcome of one attempt: delivered and failed are final (and audited, with an
    /// entry in the case); pending means another attempt at `nextAttemptAt`.
    public func updateNotice(_ notice: Notice, at now: Date = Date()) throws {
        try db.write { db in
            try db.execute(sql: "UPDATE notice SET status = ?, next_attempt_at = ?, body = ? WHERE id = ?",
                           arguments: [notice.status.rawValue, notice.nextAttemptAt.timeIntervalSince1970, try Self.encode(notice), notice.id])
            guard notice.status != .pending else { return }
            try Self.audit(db, now, "portcullis", "notice.\(notice.status == .delivered ? "deliver" : "fail")", "notice/\(notice.id)",
                      before: nil, after: notice.lastResult)
            let entry = CaseEvidence(at: now, kind: .noticeOutcome, actor: "portcullis",
                                     summary: "\(notice.id) \(notice.status.rawValue) after \(notice.attempts) attempt(s): \(notice.lastResult ?? "")")
            try db.execute(sql: "INSERT INTO case_evidence (case_id, body) VALUES (?, ?)", arguments: [notice.caseID, try Self.encode(entry)])
        }
    }
}

extension AbuseCase {
    var withoutEvidence: AbuseCase {
        var copy = self
        copy.evidence = []
        copy.evidenceCount = 0
        return copy
    }
}
