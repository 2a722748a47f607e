import Foundation
import GRDB
import PortcullisCore

/// The abuse ladder's memory: per VM and signal, how many offences and when the last one was.
/// Kept in the store so that a restart does not turn a repeat offender into a first offender
/// (the decay still forgives old offences). Rows go with their VM.
extension SQLiteStore {
    static func registerOffenceMigration(in migrator: inout DatabaseMigrator) {
        migrator.registerMigration("v4: abuse offences") { db in
            try db.execute(sql: """
                CREATE TABLE abuse_offence (
                    vm_id TEXT NOT NULL REFERENCES vm(id) ON DELETE CASCADE,
                    signal TEXT NOT NULL,
                    count INTEGER NOT NULL,
                    last_at DOUBLE NOT NULL,
                    PRIMARY KEY (vm_id, signal)
                );
                """)
        }
    }

    /// Every remembered history; rows naming a signal this version does not know are skipped.
    public func offenceHistories() throws -> [VMID: [AbuseSignal: OffenceHistory]] {
        try db.read { db in
            var histories: [VMID: [AbuseSignal: OffenceHistory]] = [:]
            for row in try Row.fetchAll(db, sql: "SELECT vm_id, signal, count, last_at FROM abuse_offence") {
                guard let vm = try? VMID(parsing: row["vm_id"]), let signal = AbuseSignal(rawValue: row["signal"]) else { continue }
                histories[vm, default: [:]][signal] = OffenceHistory(count: row["count"],
                                                                     lastAt: Date(timeIntervalSince1970: row["last_at"]))
            }
            return histories
        }
    }

    public func recordOffence(vm: VMID, signal: AbuseSignal, history: OffenceHistory) throws {
        try db.write { db in
            guard try Bool.fetchOne(db, sql: "SELECT 1 FROM vm WHERE id = ?", arguments: [vm.value]) != nil else { return }
            try db.execute(sql: """
                INSERT INTO abuse_offence (vm_id, signal, count, last_at) VALUES (?, ?, ?, ?)
                ON CONFLICT (vm_id, signal) DO UPDATE SET count = excluded.count, last_at = excluded.last_at
                """, arguments: [vm.value, signal.rawValue, history.count, history.lastAt.timeIntervalSince1970])
        }
    }
}
