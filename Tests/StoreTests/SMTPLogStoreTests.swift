import Foundation
import Testing
import PortcullisCore
import Store

@Suite struct SMTPLogStoreTests {
    /// Whole quarter seconds: exact in a Double whichever epoch Date converts through, so
    /// round trips compare equal.
    let now = Date(timeIntervalSince1970: 1_800_000_000.25)

    func entry(vm: String = "web1", tenant: String = "acme", minutesAgo: Double = 0, domains: [String] = ["example.org"],
               verdict: SMTPLogEntry.Verdict = .relayed) throws -> SMTPLogEntry {
        SMTPLogEntry(time: now.addingTimeInterval(-minutesAgo * 60), vm: try VMID(parsing: vm), tenant: try TenantID(parsing: tenant),
                     client: try IPAddress(parsing: "100.64.0.10"), destination: try IPAddress(parsing: "192.0.2.25"),
                     destinationPort: Port(25)!, sender: "news@acme.example", recipientCount: domains.count,
                     recipientDomains: domains, verdict: verdict, durationMilliseconds: 120)
    }

    @Test func everyFieldRoundTrips() throws {
        let store = try SQLiteStore(path: ":memory:")
        let full = SMTPLogEntry(
            time: now, vm: try VMID(parsing: "web1"), tenant: try TenantID(parsing: "acme"),
            client: try IPAddress(parsing: "2001:db8:2::10"), destination: try IPAddress(parsing: "2001:db8:ff::25"),
            destinationPort: Port(587)!, upstreamGreetingDomain: "mx1.example.org", ehloName: "web1.acme.example",
            sender: "news@acme.example", recipientCount: 3, recipientDomains: ["example.org", "example.net", "quo\"te.example"],
            recipientsRefusedByLimit: 2, recipientsRefusedByUpstream: 3, sizeBytes: 48_213,
            clientTLS: .init(version: "TLSv1.3", cipher: "TLS_AES_256_GCM_SHA384"),
            upstreamTLS: .init(version: "TLSv1.2", cipher: "ECDHE-RSA-AES128-GCM-SHA256"),
            upstreamReply: .init(code: 250, enhancedCode: "2.0.0", text: "Ok: queued as 4F2A1"),
            verdict: .rejectedByUpstream, durationMilliseconds: 1_234)
        let bare = SMTPLogEntry(
            time: now.addingTimeInterval(-1), vm: try VMID(parsing: "web2"), tenant: try TenantID(parsing: "acme"),
            client: try IPAddress(parsing: "100.64.0.11"), destination: try IPAddress(parsing: "192.0.2.25"),
            destinationPort: Port(25)!, sender: "", verdict: .aborted, durationMilliseconds: 0)
        try store.appendSMTPLog([full, bare])
        #expect(try store.smtpLog(SMTPLogQuery()) == [full, bare])
    }

    @Test(arguments: SMTPLogEntry.Verdict.allCases)
    func everyVerdictRoundTrips(_ verdict: SMTPLogEntry.Verdict) throws {
        let store = try SQLiteStore(path: ":memory:")
        try store.appendSMTPLog([try entry(verdict: verdict)])
        #expect(try store.smtpLog(SMTPLogQuery()).map(\.verdict) == [verdict])
    }

    @Test func filtersOrderAndLimit() throws {
        let store = try SQLiteStore(path: ":memory:")
        // Appended out of time order: the log answers by time, not by arrival.
        try store.appendSMTPLog([
            try entry(vm: "web1", minutesAgo: 90), try entry(vm: "web2", minutesAgo: 10),
            try entry(vm: "web1", minutesAgo: 5), try entry(vm: "web1", minutesAgo: 30),
        ])
        let all = try store.smtpLog(SMTPLogQuery())
        #expect(all.map(\.time) == [5, 10, 30, 90].map { now.addingTimeInterval(-$0 * 60) })
        let web1 = try VMID(parsing: "web1")
        #expect(try store.smtpLog(SMTPLogQuery(vm: web1)).map(\.time) == [5, 30, 90].map { now.addingTimeInterval(-$0 * 60) })
        let lastHour = now.addingTimeInterval(-3600)
        #expect(try store.smtpLog(SMTPLogQuery(since: lastHour)).count == 3)
        #expect(try store.smtpLog(SMTPLogQuery(vm: web1, since: lastHour)).map(\.vm) == [web1, web1])
        #expect(try store.smtpLog(SMTPLogQuery(limit: 2)).map(\.time) == [5, 10].map { now.addingTimeInterval(-$0 * 60) })
        #expect(try store.smtpLog(SMTPLogQuery(vm: try VMID(parsing: "ghost"))).isEmpty)
        #expect(try store.smtpLog(SMTPLogQuery(limit: -1)).isEmpty)
    }

    @Test func pruneRemovesOnlyOlderRecordsAndCountsThem() throws {
        let store = try SQLiteStore(path: ":memory:")
        try store.appendSMTPLog(try (0..<25).map { try entry(minutesAgo: Double($0)) })
        // A small chunk size exercises the loop over several transactions.
        let removed = try store.pruneSMTPLog(olderThan: now.addingTimeInterval(-9.5 * 60), chunkSize: 4)
        #expect(removed == 15)
        #expect(try store.smtpLog(SMTPLogQuery()).count == 10)
        #expect(try store.pruneSMTPLog(olderThan: now.addingTimeInterval(-9.5 * 60)) == 0)
    }

    @Test func activityPerVM() throws {
        let store = try SQLiteStore(path: ":memory:")
        try store.appendSMTPLog([
            try entry(vm: "web1", minutesAgo: 1, domains: ["a.example", "b.example"]),
            try entry(vm: "web1", minutesAgo: 2, domains: ["b.example", "c.example", "d.example"]),
            try entry(vm: "web1", minutesAgo: 3, domains: [], verdict: .rejectedByUpstream),
            try entry(vm: "web1", minutesAgo: 120, domains: ["old.example"]),
            try entry(vm: "web2", minutesAgo: 4, domains: ["a.example"], verdict: .rateLimited),
        ])
        let since = now.addingTimeInterval(-3600)
        let web1 = try store.smtpActivity(of: try VMID(parsing: "web1"), since: since)
        #expect(web1 == SMTPActivity(vm: try VMID(parsing: "web1"), messages: 3, relayed: 2, recipients: 5,
                                     distinctRecipientDomains: 4, rejectedByUpstream: 1))
        let everyone = try store.smtpActivity(since: since)
        #expect(everyone.map(\.vm.value) == ["web1", "web2"])
        #expect(everyone[1] == SMTPActivity(vm: try VMID(parsing: "web2"), messages: 1, relayed: 0, recipients: 1,
                                            distinctRecipientDomains: 1, rejectedByUpstream: 0))
        let quiet = try store.smtpActivity(of: try VMID(parsing: "quiet"), since: since)
        #expect(quiet.messages == 0 && quiet.distinctRecipientDomains == 0)
    }

    @Test func tenThousandInOneBatch() throws {
        let store = try SQLiteStore(path: ":memory:")
        let template = try entry(domains: ["a.example", "b.example"])
        let batch = (0..<10_000).map { index in
            var next = template
            next.time = now.addingTimeInterval(Double(index) / 1000)
            return next
        }
        let clock = ContinuousClock()
        let elapsed = try clock.measure { try store.appendSMTPLog(batch) }
        print("SMTPLogStoreTests: appended 10,000 SMTP log records in one transaction in \(elapsed)")
        #expect(try store.smtpLog(SMTPLogQuery(limit: SMTPLogQuery.maximumLimit)).count == 10_000)
        #expect(try store.smtpActivity(since: now.addingTimeInterval(-1)).first?.recipients == 20_000)
    }

    /// The log is in the same database file as the desired state; reopening it (a daemon
    /// restart) runs no migration twice and keeps both.
    @Test func reopeningKeepsStateAndLog() throws {
        let path = FileManager.default.temporaryDirectory
            .appendingPathComponent("portcullis-smtplog-\(UUID().uuidString)/state.db").path
        defer { try? FileManager.default.removeItem(atPath: URL(fileURLWithPath: path).deletingLastPathComponent().path) }
        let vm = try VM(id: "priv", tenant: "t1", contact: nil, interface: "vmpriv0", mac: "02:00:00:00:02:01",
                        ipv4: ["100.64.0.10"], ipv6: [], allowedSources: [])
        do {
            let store = try SQLiteStore(path: path)
            try store.add(vm, actor: "a", at: now)
            try store.appendSMTPLog([try entry()])
        }
        let reopened = try SQLiteStore(path: path)
        #expect(try reopened.vms() == [vm])
        #expect(try reopened.smtpLog(SMTPLogQuery()).count == 1)
    }
}
