import Foundation
import Testing
import PortcullisCore
import Store

@Suite struct SQLiteStoreTests {
    let vm = try! VM(id: "priv", tenant: "t1", contact: "ops@example.com", interface: "vmpriv0", mac: "02:00:00:00:02:01",
                     ipv4: ["100.64.0.10"], ipv6: ["2001:db8:2::10"], allowedSources: [])
    let now = Date(timeIntervalSince1970: 1_800_000_000)

    func exemption(_ id: String, expiresIn seconds: Double) throws -> Exemption {
        Exemption(id: id, vm: vm.id, ports: try PortSet(parsing: "25"), reason: "r", grantedBy: "alice",
                  grantedAt: now, expiresAt: now.addingTimeInterval(seconds))
    }

    @Test func roundTripAndAudit() throws {
        let store = try SQLiteStore(path: ":memory:")
        try store.add(vm, actor: "alice", at: now)
        #expect(try store.vms() == [vm])
        #expect(try store.vm(vm.id) == vm)
        try store.add(try exemption("ex-1", expiresIn: 60), actor: "bob", at: now)
        try store.removeVM(vm.id, actor: "carol", at: now)
        #expect(try store.vms().isEmpty)
        #expect(try store.exemptions().isEmpty)
        let log = try store.auditLog()
        #expect(log.map(\.action) == ["vm.remove", "exemption.remove", "exemption.grant", "vm.add"])
        #expect(log[0].actor == "carol" && log[0].before?.contains("vmpriv0") == true && log[0].after == nil)
        #expect(log[3].after?.contains("100.64.0.10") == true)
    }

    @Test(arguments: [
        ("other", "tapx", "02:00:00:00:02:01", "mac"),
        ("other", "vmpriv0", "02:00:00:00:0a:01", "interface"),
        ("priv", "tapx", "02:00:00:00:0a:01", "vm id"),
    ])
    func uniqueKeysAreRefusedInsideTheTransaction(id: String, interface: String, mac: String, field: String) throws {
        let store = try SQLiteStore(path: ":memory:")
        try store.add(vm, actor: "a", at: now)
        let clash = try VM(id: id, tenant: "t", contact: nil, interface: interface, mac: mac,
                           ipv4: [], ipv6: [], allowedSources: [])
        let error = #expect(throws: ValidationError.self) { try store.add(clash, actor: "a", at: now) }
        #expect(error?.field == field)
        #expect(try store.vms().count == 1)
        #expect(try store.auditLog().count == 1)
    }

    @Test func expiryIsRecorded() throws {
        let store = try SQLiteStore(path: ":memory:")
        try store.add(vm, actor: "a", at: now)
        try store.add(try exemption("ex-short", expiresIn: 10), actor: "a", at: now)
        try store.add(try exemption("ex-long", expiresIn: 1000), actor: "a", at: now)
        #expect(try store.expireExemptions(at: now.addingTimeInterval(5)).isEmpty)
        #expect(try store.expireExemptions(at: now.addingTimeInterval(11)).map(\.id) == ["ex-short"])
        #expect(try store.exemptions().map(\.id) == ["ex-long"])
        #expect(try store.auditLog(limit: 1).first?.action == "exemption.expire")
    }

    func filter(_ id: String, expiresIn seconds: Double) -> Filter {
        Filter(id: id, vm: vm.id, direction: .outbound, port: Port(25), remote: try! IPNetwork(parsing: "198.51.100.0/24"),
               reason: "scan", placedBy: "detector:scan", placedAt: now, expiresAt: now.addingTimeInterval(seconds))
    }

    @Test func filtersArePlacedLiftedExpiredAndAudited() throws {
        let store = try SQLiteStore(path: ":memory:")
        try store.add(vm, actor: "a", at: now)
        try store.add(filter("flt-short", expiresIn: 10), actor: "detector:scan", at: now)
        try store.add(filter("flt-long", expiresIn: 1000), actor: "cli:alice", at: now)
        try store.add(filter("flt-lifted", expiresIn: 1000), actor: "cli:alice", at: now)
        #expect(try store.filters().map(\.id) == ["flt-lifted", "flt-long", "flt-short"])
        #expect(try store.filters().first { $0.id == "flt-long" } == filter("flt-long", expiresIn: 1000))
        #expect(try store.liftFilter("flt-lifted", actor: "cli:bob", at: now).id == "flt-lifted")
        #expect(try store.expireFilters(at: now.addingTimeInterval(11)).map(\.id) == ["flt-short"])
        #expect(try store.filters().map(\.id) == ["flt-long"])
        try store.removeVM(vm.id, actor: "cli:carol", at: now)
        #expect(try store.filters().isEmpty)
        let actions = try store.auditLog().map(\.action)
        // A lift is an action on the VM: it opens a case (there was none), after the lift itself.
        #expect(actions.prefix(5) == ["vm.remove", "filter.remove", "filter.expire", "case.open", "filter.lift"])
        #expect(actions.filter { $0 == "filter.place" }.count == 3)
        #expect(throws: NotFound.self) { try store.liftFilter("flt-none", actor: "a") }
    }

    @Test func unknownIdsAreNotFound() throws {
        let store = try SQLiteStore(path: ":memory:")
        #expect(throws: NotFound.self) { try store.removeVM(try VMID(parsing: "ghost"), actor: "a") }
        #expect(throws: NotFound.self) { try store.revokeExemption("ex-none", actor: "a") }
        #expect(throws: NotFound.self) { try store.add(try exemption("ex-1", expiresIn: 5), actor: "a") }
    }

    @Test func persistsAcrossReopen() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("pc-\(UUID()).db").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        try SQLiteStore(path: path).add(vm, actor: "a", at: now)
        #expect(try SQLiteStore(path: path).vms() == [vm])
    }
}

@Suite struct OffenceHistoryStoreTests {
    @Test func historiesSurviveReopenAndGoWithTheirVM() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("offences-\(UUID().uuidString).db").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        let vm = try VM(id: "scanner", tenant: "t", contact: nil, interface: "tap9", mac: "02:00:00:00:09:09",
                        ipv4: ["100.64.9.9"], ipv6: [], allowedSources: [])
        let at = Date(timeIntervalSince1970: 1_800_000_000)
        do {
            let store = try SQLiteStore(path: path)
            try store.add(vm, actor: "a", at: at)
            try store.recordOffence(vm: vm.id, signal: .portScan, history: OffenceHistory(count: 1, lastAt: at))
            try store.recordOffence(vm: vm.id, signal: .portScan, history: OffenceHistory(count: 2, lastAt: at.addingTimeInterval(60)))
            try store.recordOffence(vm: vm.id, signal: .spoofing, history: OffenceHistory(count: 1, lastAt: at))
            // A VM that is gone leaves no history behind.
            try store.recordOffence(vm: try VMID(parsing: "ghost"), signal: .portScan, history: OffenceHistory(count: 9, lastAt: at))
        }
        let store = try SQLiteStore(path: path)
        let histories = try store.offenceHistories()
        #expect(histories.count == 1)
        #expect(histories[vm.id]?[.portScan] == OffenceHistory(count: 2, lastAt: at.addingTimeInterval(60)))
        #expect(histories[vm.id]?[.spoofing]?.count == 1)
        try store.removeVM(vm.id, actor: "a", at: at)
        #expect(try store.offenceHistories().isEmpty)
    }
}

/// Cases and the notice outbox: one open case per VM, extended by every action; notices
/// written with their action and kept until delivered or given up on.
@Suite struct CaseStoreTests {
    let vm = try! VM(id: "web1", tenant: "acme", contact: "ops@acme.example", interface: "tap1", mac: "02:00:00:00:00:01",
                     ipv4: ["203.0.113.10"], ipv6: [], allowedSources: [])
    let now = Date(timeIntervalSince1970: 1_800_000_000)

    func report(_ summary: String, notices: Int = 0) -> CaseReport {
        let content = NoticeContent(vm: vm.id, tenant: vm.tenant, signal: "spoofing", response: "suspend", detectedAt: now,
                                    until: now.addingTimeInterval(3600), summary: summary, evidence: ["ipv4_source: 12"], actions: [])
        return CaseReport(vm: vm.id, tenant: vm.tenant, signal: .spoofing,
                          entries: [CaseEvidence(at: now, kind: .detection, actor: "detector:spoofing", summary: summary)],
                          notices: (0..<notices).map { _ in NoticeDraft(channel: .email, recipient: "ops@acme.example", content: content) })
    }

    @Test func actionsExtendTheOpenCaseUntilItIsClosed() throws {
        let store = try SQLiteStore(path: ":memory:")
        try store.add(vm, actor: "a", at: now)
        let (first, _) = try store.record(report("one"), actor: "detector:spoofing", at: now)
        let (same, _) = try store.record(report("two"), actor: "detector:spoofing", at: now.addingTimeInterval(5))
        #expect(same.id == first.id && same.evidenceCount == 2 && same.signals == ["spoofing"])
        let closed = try store.closeCase(first.id, resolution: "tenant cleaned the VM", actor: "cli:alice", at: now.addingTimeInterval(60))
        #expect(closed.status == .closed && closed.closedBy == "cli:alice")
        #expect(throws: StoreConflict.self) { try store.closeCase(first.id, resolution: "again", actor: "cli:alice") }
        let (next, _) = try store.record(report("three"), actor: "detector:spoofing", at: now.addingTimeInterval(120))
        #expect(next.id != first.id)
        #expect(try store.cases(status: .open).map(\.id) == [next.id])
        #expect(try store.cases(vm: vm.id).count == 2)
        #expect(try store.abuseCase(first.id).evidence.map(\.summary) == ["one", "two"])
        #expect(try store.auditLog().map(\.action).filter { $0.hasPrefix("case.") } == ["case.open", "case.close", "case.open"])
    }

    @Test func filtersAndTheirCaseEntryAreOneTransaction() throws {
        let store = try SQLiteStore(path: ":memory:")
        try store.add(vm, actor: "a", at: now)
        let filter = Filter(id: "flt-1", vm: vm.id, direction: .outbound, port: nil, remote: nil, reason: "r",
                            placedBy: "detector:spoofing", placedAt: now, expiresAt: now.addingTimeInterval(60))
        // A filter for an unknown VM fails, and takes its case entry and notices with it.
        let stranger = Filter(id: "flt-2", vm: try VMID(parsing: "ghost"), direction: .outbound, port: nil, remote: nil, reason: "r",
                              placedBy: "x", placedAt: now, expiresAt: now.addingTimeInterval(60))
        #expect(throws: NotFound.self) { try store.add([stranger], report: report("ghost", notices: 1), actor: "x", at: now) }
        #expect(try store.cases().isEmpty && store.notices().isEmpty)
        let recorded = try store.add([filter], report: report("real", notices: 1), actor: "detector:spoofing", at: now)
        #expect(recorded?.evidenceCount == 2)  // the detection and the notice entry
        #expect(try store.notices().count == 1)
        try store.liftFilter("flt-1", actor: "cli:bob", at: now.addingTimeInterval(10))
        #expect(try store.abuseCase(recorded!.id).evidence.last?.kind == .filterLifted)
    }

    @Test func noticesWaitUntilDueAndEndDeliveredOrFailed() throws {
        let store = try SQLiteStore(path: ":memory:")
        try store.add(vm, actor: "a", at: now)
        let (item, queued) = try store.record(report("x", notices: 2), actor: "detector:spoofing", at: now)
        #expect(try store.dueNotices(at: now).count == 2)
        var first = queued[0]
        first.attempts = 1
        first.nextAttemptAt = now.addingTimeInterval(30)
        first.lastResult = "connection refused"
        try store.updateNotice(first, at: now)
        #expect(try store.dueNotices(at: now).map(\.id) == [queued[1].id])
        #expect(try store.nextNoticeDue() == now)
        var second = queued[1]
        second.attempts = 1
        second.status = .delivered
        second.deliveredAt = now
        second.lastResult = "250 2.0.0 queued"
        try store.updateNotice(second, at: now)
        #expect(try store.dueNotices(at: now.addingTimeInterval(31)).map(\.id) == [first.id])
        #expect(try store.notices(status: .delivered).map(\.id) == [second.id])
        #expect(try store.abuseCase(item.id).evidence.last?.summary.contains("delivered") == true)
    }
}
