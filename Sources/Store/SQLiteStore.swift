import Foundation
import GRDB
import PortcullisCore

/// The desired state on one host, in SQLite. Every change runs in one write transaction
/// together with its audit record, so the log can never disagree with the data. The same
/// database keeps the SMTP transaction log (`SQLiteStore+SMTPLog.swift`), which is a record
/// of traffic, not desired state, and so is not audited.
public final class SQLiteStore: Sendable {
    /// Internal, not private: the extensions for each table (the SMTP log) use it too.
    let db: DatabaseQueue

    /// Opens (creating if needed) the database at `path` and migrates it.
    /// Pass ":memory:" for an in-memory store (tests).
    public init(path: String) throws {
        if path == ":memory:" {
            db = try DatabaseQueue()
        } else {
            let directory = URL(fileURLWithPath: path).deletingLastPathComponent().path
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            var configuration = Configuration()
            configuration.busyMode = .timeout(5)
            db = try DatabaseQueue(path: path, configuration: configuration)
        }
        try Self.migrator.migrate(db)
    }

    static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1: vms, exemptions, audit") { db in
            try db.execute(sql: """
                CREATE TABLE vm (
                    id TEXT PRIMARY KEY NOT NULL,
                    interface TEXT NOT NULL UNIQUE,
                    mac TEXT NOT NULL UNIQUE,
                    body TEXT NOT NULL
                );
                CREATE TABLE exemption (
                    id TEXT PRIMARY KEY NOT NULL,
                    vm_id TEXT NOT NULL REFERENCES vm(id) ON DELETE CASCADE,
                    expires_at DOUBLE NOT NULL,
                    body TEXT NOT NULL
                );
                CREATE INDEX exemption_vm ON exemption(vm_id);
                CREATE TABLE audit (
                    id INTEGER PRIMARY KEY AUTOINCREMENT,
                    at DOUBLE NOT NULL,
                    actor TEXT NOT NULL,
                    action TEXT NOT NULL,
                    subject TEXT NOT NULL,
                    before TEXT,
                    after TEXT
                );
                """)
        }
        registerSMTPLogMigration(in: &migrator)
        migrator.registerMigration("v3: filters") { db in
            try db.execute(sql: """
                CREATE TABLE filter (
                    id TEXT PRIMARY KEY NOT NULL,
                    vm_id TEXT NOT NULL REFERENCES vm(id) ON DELETE CASCADE,
                    expires_at DOUBLE NOT NULL,
                    body TEXT NOT NULL
                );
                CREATE INDEX filter_vm ON filter(vm_id);
                """)
        }
        registerOffenceMigration(in: &migrator)
        registerCaseMigration(in: &migrator)
        registerSMTPLogRefusalsMigration(in: &migrator)
        return migrator
    }

    // MARK: VMs

    public func vms() throws -> [VM] {
        try db.read { db in try Self.vms(db) }
    }

    public func vm(_ id: VMID) throws -> VM? {
        try db.read { db in
            try String.fetchOne(db, sql: "SELECT body FROM vm WHERE id = ?", arguments: [id.value]).map(Self.decode)
        }
    }

    /// Registers a VM. Address and prefix conflicts are the policy engine's to check (it
    /// holds every VM in memory); the table's UNIQUE keys still refuse a second VM with the
    /// same id, interface or MAC, so the store stays consistent on its own.
    public func add(_ vm: VM, actor: String, at now: Date = Date()) throws {
        do {
            try db.write { db in
                let body = try Self.encode(vm)
                try db.execute(sql: "INSERT INTO vm (id, interface, mac, body) VALUES (?, ?, ?, ?)",
                               arguments: [vm.id.value, vm.interface.name, vm.mac.description, body])
                try Self.audit(db, now, actor, "vm.add", "vm/\(vm.id)", before: nil, after: body)
            }
        } catch let error as DatabaseError where error.extendedResultCode == .SQLITE_CONSTRAINT_UNIQUE
            || error.extendedResultCode == .SQLITE_CONSTRAINT_PRIMARYKEY {
            let message = error.message ?? ""
            let (field, value) = message.contains("vm.mac") ? ("mac", vm.mac.description)
                : message.contains("vm.interface") ? ("interface", vm.interface.name) : ("vm id", vm.id.value)
            throw ValidationError(field: field, value: value, problem: "already used by another registered VM")
        }
    }

    /// Registers many VMs in one transaction (an import from an orchestrator, a benchmark
    /// fleet). The same keys are refused as for `add`; on any refusal nothing is stored.
    public func add(_ vms: [VM], actor: String, at now: Date = Date()) throws {
        try db.write { db in
            for vm in vms {
                let body = try Self.encode(vm)
                try db.execute(sql: "INSERT INTO vm (id, interface, mac, body) VALUES (?, ?, ?, ?)",
                               arguments: [vm.id.value, vm.interface.name, vm.mac.description, body])
                try Self.audit(db, now, actor, "vm.add", "vm/\(vm.id)", before: nil, after: body)
            }
        }
    }

    /// Removes a VM and its exemptions and filters.
    @discardableResult
    public func removeVM(_ id: VMID, actor: String, at now: Date = Date()) throws -> VM {
        try db.write { db in
            guard let body = try String.fetchOne(db, sql: "SELECT body FROM vm WHERE id = ?", arguments: [id.value]) else {
                throw NotFound(kind: "VM", id: id.value)
            }
            try Self.removeTimed(db, of: id, actor: actor, at: now)
            try db.execute(sql: "DELETE FROM abuse_offence WHERE vm_id = ?", arguments: [id.value])
            try db.execute(sql: "DELETE FROM vm WHERE id = ?", arguments: [id.value])
            try Self.audit(db, now, actor, "vm.remove", "vm/\(id)", before: body, after: nil)
            return try Self.decode(body)
        }
    }

    // MARK: Exemptions

    public func exemptions() throws -> [Exemption] {
        try db.read { db in try Self.timedItems(db, TimedTable.exemption) }
    }

    public func add(_ exemption: Exemption, actor: String, at now: Date = Date()) throws {
        try db.write { db in
            try Self.insertTimed(db, .exemption, exemption, id: exemption.id, vm: exemption.vm, expiresAt: exemption.expiresAt,
                                 actor: actor, action: "grant", at: now)
        }
    }

    @discardableResult
    public func revokeExemption(_ id: String, actor: String, at now: Date = Date()) throws -> Exemption {
        try db.write { db in try Self.deleteTimed(db, .exemption, id: id, actor: actor, action: "revoke", at: now) }
    }

    /// Deletes exemptions whose time is up and records each expiry in the audit log.
    /// The kernel has already closed the ports by itself (set element timeouts).
    @discardableResult
    public func expireExemptions(at now: Date) throws -> [Exemption] {
        try db.write { db in try Self.expireTimed(db, .exemption, at: now) }
    }

    // MARK: Filters

    public func filters() throws -> [Filter] {
        try db.read { db in try Self.timedItems(db, TimedTable.filter) }
    }

    public func add(_ filter: Filter, actor: String, at now: Date = Date()) throws {
        try add([filter], actor: actor, at: now)
    }

    /// Stores filters placed together, and what they add to their VM's case (with its
    /// notices), in one transaction.
    @discardableResult
    public func add(_ filters: [Filter], report: CaseReport? = nil, actor: String, at now: Date = Date()) throws -> AbuseCase? {
        try db.write { db in
            for filter in filters {
                try Self.insertTimed(db, .filter, filter, id: filter.id, vm: filter.vm, expiresAt: filter.expiresAt,
                                     actor: actor, action: "place", at: now)
            }
            return try report.map { try Self.record(db, $0, actor: actor, at: now).0 }
        }
    }

    @discardableResult
    public func liftFilter(_ id: String, actor: String, at now: Date = Date()) throws -> Filter {
        try db.write { db in
            let filter: Filter = try Self.deleteTimed(db, .filter, id: id, actor: actor, action: "lift", at: now)
            if let tenant = try String.fetchOne(db, sql: "SELECT body FROM vm WHERE id = ?", arguments: [filter.vm.value])
                .map({ (body: String) throws -> VM in try Self.decode(body) })?.tenant {
                let entry = CaseEvidence(at: now, kind: .filterLifted, actor: actor, summary: "\(filter.id) lifted: \(filter.scope)")
                try Self.record(db, CaseReport(vm: filter.vm, tenant: tenant, entries: [entry]), actor: actor, at: now)
            }
            return filter
        }
    }

    /// Deletes filters whose time is up (the kernel lifted them already) and audits each.
    @discardableResult
    public func expireFilters(at now: Date) throws -> [Filter] {
        try db.write { db in try Self.expireTimed(db, .filter, at: now) }
    }

    // MARK: Time-limited items (exemptions, filters)

    /// A table of per-VM items that end at `expires_at`; its name is also the audit noun.
    enum TimedTable: String, CaseIterable {
        case exemption, filter
    }

    private static func timedItems<T: Decodable>(_ db: Database, _ table: TimedTable) throws -> [T] {
        try String.fetchAll(db, sql: "SELECT body FROM \(table.rawValue) ORDER BY id").map(decode)
    }

    private static func insertTimed(_ db: Database, _ table: TimedTable, _ item: some Encodable, id: String, vm: VMID,
                                    expiresAt: Date, actor: String, action: String, at now: Date) throws {
        guard try Bool.fetchOne(db, sql: "SELECT 1 FROM vm WHERE id = ?", arguments: [vm.value]) != nil else {
            throw NotFound(kind: "VM", id: vm.value)
        }
        let body = try encode(item)
        try db.execute(sql: "INSERT INTO \(table.rawValue) (id, vm_id, expires_at, body) VALUES (?, ?, ?, ?)",
                       arguments: [id, vm.value, expiresAt.timeIntervalSince1970, body])
        try audit(db, now, actor, "\(table.rawValue).\(action)", "\(table.rawValue)/\(id)", before: nil, after: body)
    }

    private static func deleteTimed<T: Decodable>(_ db: Database, _ table: TimedTable, id: String, actor: String,
                                                  action: String, at now: Date) throws -> T {
        guard let body = try String.fetchOne(db, sql: "SELECT body FROM \(table.rawValue) WHERE id = ?", arguments: [id]) else {
            throw NotFound(kind: table.rawValue, id: id)
        }
        try db.execute(sql: "DELETE FROM \(table.rawValue) WHERE id = ?", arguments: [id])
        try audit(db, now, actor, "\(table.rawValue).\(action)", "\(table.rawValue)/\(id)", before: body, after: nil)
        return try decode(body)
    }

    private static func expireTimed<T: Decodable>(_ db: Database, _ table: TimedTable, at now: Date) throws -> [T] {
        let rows = try Row.fetchAll(db, sql: "SELECT id, body FROM \(table.rawValue) WHERE expires_at <= ?",
                                    arguments: [now.timeIntervalSince1970])
        var expired: [T] = []
        for row in rows {
            let body: String = row["body"]
            try audit(db, now, "portcullis", "\(table.rawValue).expire", "\(table.rawValue)/\(row["id"] as String)", before: body, after: nil)
            expired.append(try decode(body))
        }
        try db.execute(sql: "DELETE FROM \(table.rawValue) WHERE expires_at <= ?", arguments: [now.timeIntervalSince1970])
        return expired
    }

    /// A removed VM's exemptions and filters go with it, each audited.
    private static func removeTimed(_ db: Database, of vm: VMID, actor: String, at now: Date) throws {
        for table in TimedTable.allCases {
            for row in try Row.fetchAll(db, sql: "SELECT id, body FROM \(table.rawValue) WHERE vm_id = ?", arguments: [vm.value]) {
                try audit(db, now, actor, "\(table.rawValue).remove", "\(table.rawValue)/\(row["id"] as String)",
                          before: row["body"], after: nil)
            }
            try db.execute(sql: "DELETE FROM \(table.rawValue) WHERE vm_id = ?", arguments: [vm.value])
        }
    }

    // MARK: Audit

    public func auditLog(limit: Int = 100) throws -> [AuditEntry] {
        try db.read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM audit ORDER BY id DESC LIMIT ?", arguments: [limit]).map { row in
                AuditEntry(id: row["id"], at: Date(timeIntervalSince1970: row["at"]), actor: row["actor"],
                           action: row["action"], subject: row["subject"], before: row["before"], after: row["after"])
            }
        }
    }

    // MARK: Helpers

    private static func vms(_ db: Database) throws -> [VM] {
        try String.fetchAll(db, sql: "SELECT body FROM vm ORDER BY id").map(decode)
    }

    static func audit(_ db: Database, _ at: Date, _ actor: String, _ action: String, _ subject: String,
                              before: String?, after: String?) throws {
        try db.execute(sql: "INSERT INTO audit (at, actor, action, subject, before, after) VALUES (?, ?, ?, ?, ?, ?)",
                       arguments: [at.timeIntervalSince1970, actor, action, subject, before, after])
    }

    static func encode(_ value: some Encodable) throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        encoder.dateEncodingStrategy = .iso8601
        return String(decoding: try encoder.encode(value), as: UTF8.self)
    }

    static func decode<T: Decodable>(_ body: String) throws -> T {
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        return try decoder.decode(T.self, from: Data(body.utf8))
    }
}
