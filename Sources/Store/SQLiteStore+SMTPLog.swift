import Foundation
import GRDB
import PortcullisCore

/// The SMTP transaction log: one row per relayed transaction, kept for the retention period.
///
/// Explicit columns rather than a JSON body: abuse detection sums and counts these rows per
/// VM and window many times a minute, and SQL over columns needs no JSON parsing per row
/// (the one list, the recipient domains, is a JSON array that `json_each` reads only when
/// distinct domains are counted). Rows do not reference `vm`: the log outlives a VM's
/// removal, because what a removed VM sent is still evidence; retention alone deletes rows.
extension SQLiteStore {
    static func registerSMTPLogMigration(in migrator: inout DatabaseMigrator) {
        migrator.registerMigration("v2: smtp_log") { db in
            try db.execute(sql: """
                CREATE TABLE smtp_log (
                    id INTEGER PRIMARY KEY,
                    time DOUBLE NOT NULL,
                    vm_id TEXT NOT NULL,
                    tenant TEXT NOT NULL,
                    client TEXT NOT NULL,
                    destination TEXT NOT NULL,
                    destination_port INTEGER NOT NULL,
                    upstream_greeting_domain TEXT,
                    ehlo_name TEXT,
                    sender TEXT NOT NULL,
                    recipient_count INTEGER NOT NULL,
                    recipient_domains TEXT NOT NULL,
                    recipients_refused_by_limit INTEGER NOT NULL,
                    size_bytes INTEGER NOT NULL,
                    client_tls_version TEXT,
                    client_tls_cipher TEXT,
                    upstream_tls_version TEXT,
                    upstream_tls_cipher TEXT,
                    upstream_reply_code INTEGER,
                    upstream_reply_enhanced_code TEXT,
                    upstream_reply_text TEXT,
                    verdict TEXT NOT NULL,
                    duration_ms INTEGER NOT NULL
                );
                CREATE INDEX smtp_log_vm_time ON smtp_log(vm_id, time);
                CREATE INDEX smtp_log_time ON smtp_log(time);
                """)
        }
    }

    /// Registered after v5: migrations run in the order registered, and stores that ran v5 exist.
    static func registerSMTPLogRefusalsMigration(in migrator: inout DatabaseMigrator) {
        migrator.registerMigration("v6: smtp_log recipients refused by upstream") { db in
            try db.execute(sql: "ALTER TABLE smtp_log ADD COLUMN recipients_refused_by_upstream INTEGER NOT NULL DEFAULT 0")
        }
    }

    /// Stores a batch of records in one write transaction: a busy relay finishes hundreds of
    /// transactions a second, and one commit (one fsync) per batch instead of per record is
    /// what keeps up. On any failure nothing of the batch is stored. Blocks while it writes:
    /// call it from a task of its own, never from an event loop.
    public func appendSMTPLog(_ entries: [SMTPLogEntry]) throws {
        guard !entries.isEmpty else { return }
        let domainsEncoder = JSONEncoder()
        try db.write { db in
            let insert = try db.cachedStatement(sql: """
                INSERT INTO smtp_log (time, vm_id, tenant, client, destination, destination_port,
                    upstream_greeting_domain, ehlo_name, sender, recipient_count, recipient_domains,
                    recipients_refused_by_limit, size_bytes, client_tls_version, client_tls_cipher,
                    upstream_tls_version, upstream_tls_cipher, upstream_reply_code,
                    upstream_reply_enhanced_code, upstream_reply_text, verdict, duration_ms,
                    recipients_refused_by_upstream)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                """)
            for entry in entries {
                let domains = String(decoding: try domainsEncoder.encode(entry.recipientDomains), as: UTF8.self)
                let values: [(any DatabaseValueConvertible)?] = [
                    entry.time.timeIntervalSince1970, entry.vm.value, entry.tenant.value,
                    entry.client.description, entry.destination.description, Int(entry.destinationPort.value),
                    entry.upstreamGreetingDomain, entry.ehloName, entry.sender, entry.recipientCount, domains,
                    entry.recipientsRefusedByLimit, entry.sizeBytes,
                    entry.clientTLS?.version, entry.clientTLS?.cipher,
                    entry.upstreamTLS?.version, entry.upstreamTLS?.cipher,
                    entry.upstreamReply?.code, entry.upstreamReply?.enhancedCode, entry.upstreamReply?.text,
                    entry.verdict.rawValue, entry.durationMilliseconds, entry.recipientsRefusedByUpstream,
                ]
                try insert.execute(arguments: StatementArguments(values))
            }
        }
    }

    /// Records matching the query, newest first.
    public func smtpLog(_ query: SMTPLogQuery) throws -> [SMTPLogEntry] {
        var conditions: [String] = []
        var arguments: [(any DatabaseValueConvertible)?] = []
        if let vm = query.vm {
            conditions.append("vm_id = ?")
            arguments.append(vm.value)
        }
        if let since = query.since {
            conditions.append("time >= ?")
            arguments.append(since.timeIntervalSince1970)
        }
        arguments.append(max(query.limit, 0))  // a negative LIMIT would mean "no limit" to SQLite
        let filter = conditions.isEmpty ? "" : "WHERE " + conditions.joined(separator: " AND ")
        return try db.read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM smtp_log \(filter) ORDER BY time DESC, id DESC LIMIT ?",
                             arguments: StatementArguments(arguments)).map(Self.smtpLogEntry)
        }
    }

    /// Deletes the records older than `cutoff` (retention) and returns how many went.
    ///
    /// Deletes in chunks of `chunkSize`, each its own transaction, so that pruning a large
    /// backlog (the first run after a long retention, a daemon that was down) never holds the
    /// write lock long enough to stall the relay's appends.
    @discardableResult
    public func pruneSMTPLog(olderThan cutoff: Date, chunkSize: Int = 10_000) throws -> Int {
        var removed = 0
        while true {
            let count = try db.write { db in
                try db.execute(sql: """
                    DELETE FROM smtp_log WHERE id IN (SELECT id FROM smtp_log WHERE time < ? LIMIT ?)
                    """, arguments: [cutoff.timeIntervalSince1970, max(chunkSize, 1)])
                return db.changesCount
            }
            removed += count
            if count < max(chunkSize, 1) { return removed }
        }
    }

    /// What one VM did through the relay since `since`; zeros when it sent nothing.
    public func smtpActivity(of vm: VMID, since: Date) throws -> SMTPActivity {
        try smtpActivity(since: since, vm: vm).first
            ?? SMTPActivity(vm: vm, messages: 0, relayed: 0, recipients: 0, distinctRecipientDomains: 0, rejectedByUpstream: 0)
    }

    /// What every VM that used the relay since `since` did, ordered by VM id: the per-VM
    /// counters abuse detection reads in one pass.
    public func smtpActivity(since: Date) throws -> [SMTPActivity] {
        try smtpActivity(since: since, vm: nil)
    }

    private func smtpActivity(since: Date, vm: VMID?) throws -> [SMTPActivity] {
        var arguments: StatementArguments = [since.timeIntervalSince1970]
        var filter = "time >= ?"
        // For every VM, SQLite would rather walk all of (vm_id, time) to group by VM; the
        // window is a small part of the retention, so reading just its slice of the time
        // index and grouping afterwards is far less work.
        var source = "smtp_log INDEXED BY smtp_log_time"
        if let vm {
            filter += " AND vm_id = ?"
            arguments += [vm.value]
            source = "smtp_log"
        }
        return try db.read { db in
            var domains: [String: Int] = [:]
            for row in try Row.fetchAll(db, sql: """
                SELECT vm_id, COUNT(DISTINCT domain.value) AS domains
                FROM \(source), json_each(smtp_log.recipient_domains) AS domain
                WHERE \(filter) GROUP BY vm_id
                """, arguments: arguments) {
                domains[row["vm_id"]] = row["domains"]
            }
            return try Row.fetchAll(db, sql: """
                SELECT vm_id, COUNT(*) AS messages, SUM(verdict = 'relayed') AS relayed,
                       SUM(recipient_count) AS recipients, SUM(verdict = 'rejectedByUpstream') AS rejected
                FROM \(source) WHERE \(filter) GROUP BY vm_id ORDER BY vm_id
                """, arguments: arguments).map { row in
                let id: String = row["vm_id"]
                return SMTPActivity(vm: try Self.stored(VMID(parsing: id), table: "smtp_log", column: "vm_id"),
                                    messages: row["messages"], relayed: row["relayed"], recipients: row["recipients"],
                                    distinctRecipientDomains: domains[id] ?? 0, rejectedByUpstream: row["rejected"])
            }
        }
    }

    private static func smtpLogEntry(_ row: Row) throws -> SMTPLogEntry {
        func tls(_ prefix: String) -> SMTPLogEntry.TLS? {
            guard let version: String = row["\(prefix)_tls_version"], let cipher: String = row["\(prefix)_tls_cipher"] else {
                return nil
            }
            return SMTPLogEntry.TLS(version: version, cipher: cipher)
        }
        let reply = (row["upstream_reply_code"] as Int?).map { code in
            SMTPLogEntry.Reply(code: code, enhancedCode: row["upstream_reply_enhanced_code"],
                               text: row["upstream_reply_text"] ?? "")
        }
        let verdictText: String = row["verdict"]
        guard let verdict = SMTPLogEntry.Verdict(rawValue: verdictText) else {
            throw StoredRecordError(table: "smtp_log", column: "verdict", value: verdictText,
                                    problem: "a verdict this version of portcullis does not know; was the database written by a newer one?")
        }
        let portNumber: Int = row["destination_port"]
        guard let port = Port(portNumber) else {
            throw StoredRecordError(table: "smtp_log", column: "destination_port", value: String(portNumber), problem: "not a port")
        }
        let domains: String = row["recipient_domains"]
        let recipientDomains: [String]
        do {
            recipientDomains = try JSONDecoder().decode([String].self, from: Data(domains.utf8))
        } catch {
            throw StoredRecordError(table: "smtp_log", column: "recipient_domains", value: domains, problem: "not a JSON array of strings")
        }
        return SMTPLogEntry(
            time: Date(timeIntervalSince1970: row["time"]),
            vm: try stored(VMID(parsing: row["vm_id"]), table: "smtp_log", column: "vm_id"),
            tenant: try stored(TenantID(parsing: row["tenant"]), table: "smtp_log", column: "tenant"),
            client: try stored(IPAddress(parsing: row["client"]), table: "smtp_log", column: "client"),
            destination: try stored(IPAddress(parsing: row["destination"]), table: "smtp_log", column: "destination"),
            destinationPort: port,
            upstreamGreetingDomain: row["upstream_greeting_domain"],
            ehloName: row["ehlo_name"],
            sender: row["sender"],
            recipientCount: row["recipient_count"],
            recipientDomains: recipientDomains,
            recipientsRefusedByLimit: row["recipients_refused_by_limit"],
            recipientsRefusedByUpstream: row["recipients_refused_by_upstream"],
            sizeBytes: row["size_bytes"],
            clientTLS: tls("client"),
            upstreamTLS: tls("upstream"),
            upstreamReply: reply,
            verdict: verdict,
            durationMilliseconds: row["duration_ms"]
        )
    }

    /// A stored value that no longer parses is a damaged database, not bad input: it must
    /// not reach the API as a 400 that blames the caller.
    private static func stored<T>(_ parse: @autoclosure () throws(ValidationError) -> T, table: String, column: String) throws -> T {
        do {
            return try parse()
        } catch {
            throw StoredRecordError(table: table, column: column, value: error.value, problem: error.problem)
        }
    }
}
