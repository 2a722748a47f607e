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
        #expect(actions.prefix(4) == ["vm.remove", "filter.remove", "filter.expire", "filter.lift"])
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
