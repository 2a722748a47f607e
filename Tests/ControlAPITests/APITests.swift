import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Testing
import PortcullisCore
import Store
@testable import ControlAPI

/// Records what the engine asked of the kernel; can be told to refuse like nftables would.
actor FakeKernel: KernelEnforcing {
    var applied: [DesiredState] = []
    var refuse = false
    /// Refuses any state that relays port 25, like a kernel without TPROXY.
    var refuseInterception = false
    /// Suspends inside every apply, as the real enforcer does while libnftables runs, so
    /// that concurrent changes get the chance to interleave.
    var suspend = false
    /// The interfaces whose detector state the engine asked to clear, in order.
    var forgotten: [String] = []

    func forgetDetectorState(interface: String) async -> Int {
        forgotten.append(interface)
        return 1
    }

    func setRefuse(_ value: Bool) { refuse = value }
    func setRefuseInterception(_ value: Bool) { refuseInterception = value }
    func setSuspend(_ value: Bool) { suspend = value }

    func apply(_ state: DesiredState, changed: Set<VMID>?) async throws {
        if refuse || (refuseInterception && state.policy.smtp.mode == .proxy) { throw FakeRefusal() }
        if suspend { try await Task.sleep(for: .milliseconds(5)) }
        applied.append(state)
    }

    func reconcile(_ state: DesiredState, changed: Set<VMID>?, deep: Bool) async throws -> String? {
        try await apply(state, changed: changed)
        return nil
    }

    func listing() async -> String? { "table inet portcullis {}\n" }

    func samples() async -> KernelSamples {
        KernelSamples(drops: [.init(interface: "vmpriv0", kind: "ipv4_source", packets: 3)],
                      rejected: [.init(interface: "vmpriv0", port: 25, packets: 2)])
    }
}

struct FakeRefusal: Error, CustomStringConvertible {
    var description: String { "nftables refused the transaction (nothing was changed): test" }
}

struct APITests {
    let policy = SitePolicy(site: "lab-1", publicIPv4: [try! IPv4Network(parsing: "203.0.113.0/24")],
                            restrictedTCPPorts: PortSet([25, 465, 587].compactMap { Port($0) }))

    func withApp(_ body: @escaping @Sendable (any TestClientProtocol, FakeKernel, SQLiteStore) async throws -> Void) async throws {
        let store = try SQLiteStore(path: ":memory:")
        let kernel = FakeKernel()
        let engine = try PolicyEngine(policy: policy, store: store, kernel: kernel)
        let app = Application(router: buildRouter(engine: engine))
        try await app.test(.router) { client in try await body(client, kernel, store) }
    }

    static let privBody = #"{"id":"priv","tenant":"t1","interface":"vmpriv0","mac":"02:00:00:00:02:01","ipv4":["100.64.0.10"],"ipv6":["2001:db8:2::10"]}"#

    @Test func registerListExplainRemove() async throws {
        try await withApp { client, kernel, store in
            try await client.execute(uri: "/v1/vms", method: .post, body: ByteBuffer(string: Self.privBody)) { response in
                #expect(response.status == .created)
                #expect(String(buffer: response.body).contains(#""access_type" : "restricted""#))
            }
            #expect(await kernel.applied.last?.vms.map(\.id.value) == ["priv"])
            try await client.execute(uri: "/v1/explain?vm=priv&port=25", method: .get) { response in
                #expect(response.status == .ok)
                #expect(String(buffer: response.body).contains(#""decision" : "rejected""#))
            }
            try await client.execute(uri: "/v1/explain?vm=priv&port=443", method: .get) { response in
                #expect(String(buffer: response.body).contains(#""decision" : "allowed""#))
            }
            try await client.execute(uri: "/v1/vms/priv", method: .delete) { response in
                #expect(response.status == .ok)
            }
            #expect(try store.vms().isEmpty)
            #expect(await kernel.applied.last?.vms.isEmpty == true)
        }
    }

    @Test(arguments: [
        (#"{"id":"a","tenant":"t","interface":"vm1","mac":"02:00:00:00:00:zz"}"#, "mac"),
        (#"{"id":"a","tenant":"t","interface":"a-very-long-name0","mac":"02:00:00:00:00:01"}"#, "interface"),
        (#"{"id":"a","tenant":"t","interface":"vm;1","mac":"02:00:00:00:00:01"}"#, "interface"),
        (#"{"id":"a","tenant":"t","interface":"vm1","mac":"02:00:00:00:00:01","ipv4":["300.1.1.1"]}"#, "ipv4"),
        (#"{"id":"a","tenant":"t","interface":"vm1","mac":"02:00:00:00:00:01","ipv6":["2001:db8::1/64"]}"#, "ipv6"),
        (#"{"id":"a","tenant":"t","interface":"vm1","mac":"02:00:00:00:00:01","allow_source":["10.0.0.0/99"]}"#, "allow-source"),
        (#"{"id":"a","tenant":"t","interface":"vmpriv0","mac":"02:00:00:00:00:01"}"#, "interface"),
        (#"{"id":"a","tenant":"t","interface":"vm1","mac":"02:00:00:00:02:01"}"#, "mac"),
        (#"{"id":"a","tenant":"t","interface":"vm1","mac":"02:00:00:00:00:01","ipv4":["100.64.0.10"]}"#, "ipv4"),
        (#"{"id":"priv","tenant":"t","interface":"vm1","mac":"02:00:00:00:00:01"}"#, "vm id"),
        (#"{"tenant":"t"}"#, "body"),
    ])
    func badInputIsRefusedAndNothingApplied(body: String, field: String) async throws {
        try await withApp { client, kernel, store in
            try await client.execute(uri: "/v1/vms", method: .post, body: ByteBuffer(string: Self.privBody)) { _ in }
            let appliedBefore = await kernel.applied.count
            try await client.execute(uri: "/v1/vms", method: .post, body: ByteBuffer(string: body)) { response in
                #expect(response.status == .badRequest)
                let error = try JSONDecoder().decode(APIErrorBody.self, from: Data(response.body.readableBytesView))
                #expect(error.field == field)
            }
            #expect(await kernel.applied.count == appliedBefore)
            #expect(try store.vms().count == 1)
        }
    }

    @Test func kernelRefusalStoresNothing() async throws {
        try await withApp { client, kernel, store in
            await kernel.setRefuse(true)
            try await client.execute(uri: "/v1/vms", method: .post, body: ByteBuffer(string: Self.privBody)) { response in
                #expect(response.status == .internalServerError)
                #expect(String(buffer: response.body).contains("nothing was changed"))
            }
            #expect(try store.vms().isEmpty)
            #expect(try store.auditLog().isEmpty)
        }
    }

    /// Twenty VMs registered at once: none may be lost in memory, in the store, or in the
    /// state last handed to the kernel.
    @Test func concurrentChangesAreSerialised() async throws {
        let store = try SQLiteStore(path: ":memory:")
        let kernel = FakeKernel()
        await kernel.setSuspend(true)
        let engine = try PolicyEngine(policy: policy, store: store, kernel: kernel)
        try await withThrowingTaskGroup(of: Void.self) { group in
            for i in 0..<20 {
                group.addTask {
                    let vm = try VM(id: "vm\(i)", tenant: "t", contact: nil, interface: "tap\(i)",
                                    mac: String(format: "02:00:00:00:0b:%02x", i), ipv4: ["100.64.1.\(i + 1)"], ipv6: [], allowedSources: [])
                    _ = try await engine.add(vm, actor: "test")
                }
            }
            try await group.waitForAll()
        }
        #expect(await engine.vms().count == 20)
        #expect(try store.vms().count == 20)
        #expect(await kernel.applied.last?.vms.count == 20)
        #expect(await kernel.applied.map(\.vms.count) == Array(1...20))
    }

    /// The TCP listener's router: no token, a wrong token → 401; the right one → through,
    /// with the audit actor taken from the token, not from the request's header.
    @Test func bearerTokensGuardTheTCPRouter() async throws {
        let token = String(repeating: "7f", count: 16)
        let store = try SQLiteStore(path: ":memory:")
        let engine = try PolicyEngine(policy: policy, store: store, kernel: FakeKernel())
        let tokens = try APITokens(parsing: "orchestrator \(token)\n", file: "tokens")
        let app = Application(router: buildRouter(engine: engine, tokens: tokens))
        try await app.test(.router) { client in
            try await client.execute(uri: "/v1/status", method: .get) { response in
                #expect(response.status == .unauthorized)
                #expect(response.headers[.wwwAuthenticate] == "Bearer")
            }
            try await client.execute(uri: "/v1/status", method: .get, headers: [.authorization: "Bearer \(token.dropLast())0"]) { response in
                #expect(response.status == .unauthorized)
            }
            let headers: HTTPFields = [.authorization: "Bearer \(token)", HTTPField.Name("X-Portcullis-Actor")!: "someone-else"]
            try await client.execute(uri: "/v1/vms", method: .post, headers: headers, body: ByteBuffer(string: Self.privBody)) { response in
                #expect(response.status == .created)
            }
        }
        #expect(try store.auditLog().first?.actor == "token:orchestrator")
    }

    @Test func exemptionLifecycle() async throws {
        try await withApp { client, kernel, _ in
            try await client.execute(uri: "/v1/vms", method: .post, body: ByteBuffer(string: Self.privBody)) { _ in }
            var id = ""
            let grant = #"{"vm":"priv","ports":"25","reason":"transactional mail","expires":"2h"}"#
            try await client.execute(uri: "/v1/exemptions", method: .post,
                                     headers: [.init("X-Portcullis-Actor")!: "cli:alice"], body: ByteBuffer(string: grant)) { response in
                #expect(response.status == .created)
                let decoder = JSONDecoder()
                decoder.dateDecodingStrategy = .iso8601
                let exemption = try decoder.decode(Exemption.self, from: Data(response.body.readableBytesView))
                #expect(exemption.grantedBy == "cli:alice")
                id = exemption.id
            }
            #expect(await kernel.applied.last?.exemptions.count == 1)
            try await client.execute(uri: "/v1/explain?vm=priv&port=25", method: .get) { response in
                #expect(String(buffer: response.body).contains(#""decision" : "proxied""#))
            }
            let bad = #"{"vm":"priv","ports":"443","reason":"x"}"#
            try await client.execute(uri: "/v1/exemptions", method: .post, body: ByteBuffer(string: bad)) { response in
                #expect(response.status == .badRequest)
            }
            try await client.execute(uri: "/v1/exemptions/\(id)", method: .delete) { response in
                #expect(response.status == .ok)
            }
            #expect(await kernel.applied.last?.exemptions.isEmpty == true)
            try await client.execute(uri: "/v1/audit", method: .get) { response in
                let text = String(buffer: response.body)
                #expect(text.contains("exemption.revoke") && text.contains("exemption.grant"))
            }
        }
    }

    @Test func filterLifecycle() async throws {
        try await withApp { client, kernel, store in
            try await client.execute(uri: "/v1/vms", method: .post, body: ByteBuffer(string: Self.privBody)) { _ in }
            var id = ""
            let place = #"{"vm":"priv","direction":"out","port":25,"remote":"198.51.100.0/24","reason":"spam run","expires":"2h"}"#
            try await client.execute(uri: "/v1/filters", method: .post,
                                     headers: [.init("X-Portcullis-Actor")!: "cli:alice"], body: ByteBuffer(string: place)) { response in
                #expect(response.status == .created)
                let filter = try JSON.decoder.decode(Filter.self, from: Data(response.body.readableBytesView))
                #expect(filter.placedBy == "cli:alice" && filter.scope == "out tcp/udp port 25 to 198.51.100.0/24")
                id = filter.id
            }
            #expect(await kernel.applied.last?.filters.map(\.id) == [id])
            #expect(try store.filters().map(\.id) == [id])
            try await client.execute(uri: "/v1/filters", method: .get) { response in
                #expect(String(buffer: response.body).contains(id))
            }
            for (bad, field) in [(#"{"vm":"priv","direction":"sideways","reason":"x","expires":"1h"}"#, "direction"),
                                 (#"{"vm":"priv","direction":"in","remote":"10.0.0.1/8","reason":"x","expires":"1h"}"#, "remote"),
                                 (#"{"vm":"priv","direction":"in","reason":"x","expires":"forever"}"#, "expires")] {
                try await client.execute(uri: "/v1/filters", method: .post, body: ByteBuffer(string: bad)) { response in
                    #expect(response.status == .badRequest)
                    #expect(String(buffer: response.body).contains(#""field" : "\#(field)""#))
                }
            }
            try await client.execute(uri: "/v1/filters/\(id)", method: .delete) { #expect($0.status == .ok) }
            #expect(await kernel.applied.last?.filters.isEmpty == true)
            try await client.execute(uri: "/v1/filters/\(id)", method: .delete) { #expect($0.status == .notFound) }
        }
    }

    @Test func casesFollowFiltersAndCloseOnce() async throws {
        try await withApp { client, _, _ in
            try await client.execute(uri: "/v1/vms", method: .post, body: ByteBuffer(string: Self.privBody)) { _ in }
            let place = #"{"vm":"priv","direction":"out","effect":"throttle","reason":"noisy","expires":"1h"}"#
            try await client.execute(uri: "/v1/filters", method: .post, body: ByteBuffer(string: place)) { response in
                #expect(response.status == .created)
                #expect(String(buffer: response.body).contains(#""effect" : "throttle""#))
            }
            var caseID = ""
            try await client.execute(uri: "/v1/cases?status=open&vm=priv", method: .get) { response in
                let cases = try JSON.decoder.decode([AbuseCase].self, from: Data(response.body.readableBytesView))
                #expect(cases.count == 1 && cases[0].evidenceCount == 1)
                caseID = cases.first?.id ?? ""
            }
            try await client.execute(uri: "/v1/cases/\(caseID)", method: .get) { response in
                let item = try JSON.decoder.decode(AbuseCase.self, from: Data(response.body.readableBytesView))
                #expect(item.evidence.map(\.kind) == [.filterPlaced] && item.evidence[0].summary.contains("throttle"))
            }
            let close = #"{"resolution":"tenant fixed it"}"#
            try await client.execute(uri: "/v1/cases/\(caseID)/close", method: .post, body: ByteBuffer(string: close)) {
                #expect($0.status == .ok)
            }
            try await client.execute(uri: "/v1/cases/\(caseID)/close", method: .post, body: ByteBuffer(string: close)) {
                #expect($0.status == .conflict)
            }
            try await client.execute(uri: "/v1/cases?status=maybe", method: .get) { #expect($0.status == .badRequest) }
            try await client.execute(uri: "/v1/cases/case-none", method: .get) { #expect($0.status == .notFound) }
            // A filter without --notify queues no notice.
            try await client.execute(uri: "/v1/notices", method: .get) { response in
                let notices = try JSON.decoder.decode([Notice].self, from: Data(response.body.readableBytesView))
                #expect(notices.isEmpty)
            }
            try await client.execute(uri: "/v1/notices/ntc-none/preview", method: .get) { #expect($0.status == .notFound) }
            let bad = #"{"vm":"priv","direction":"in","effect":"throttle","reason":"x","expires":"1h"}"#
            try await client.execute(uri: "/v1/filters", method: .post, body: ByteBuffer(string: bad)) { response in
                #expect(response.status == .badRequest && String(buffer: response.body).contains(#""field" : "effect""#))
            }
        }
    }

    @Test func unknownVMIs404() async throws {
        try await withApp { client, _, _ in
            try await client.execute(uri: "/v1/vms/ghost", method: .get) { #expect($0.status == .notFound) }
            try await client.execute(uri: "/v1/explain?vm=ghost&port=25", method: .get) { #expect($0.status == .notFound) }
            try await client.execute(uri: "/v1/vms/ghost", method: .delete) { #expect($0.status == .notFound) }
        }
    }

    @Test func planMetricsAndOpenAPI() async throws {
        try await withApp { client, _, _ in
            try await client.execute(uri: "/v1/vms", method: .post, body: ByteBuffer(string: Self.privBody)) { _ in }
            try await client.execute(uri: "/v1/plan?needs=smtp,web", method: .get) { response in
                #expect(String(buffer: response.body).contains(#""recommendation" : "public""#))
            }
            try await client.execute(uri: "/v1/plan?needs=warp-drive", method: .get) { #expect($0.status == .badRequest) }
            try await client.execute(uri: "/metrics", method: .get) { response in
                let text = String(buffer: response.body)
                #expect(text.contains(#"portcullis_dropped_packets_total{vm="priv",interface="vmpriv0",kind="ipv4_source"} 3"#))
                #expect(text.contains(#"portcullis_rejected_packets_total{vm="priv",interface="vmpriv0",port="25"} 2"#))
            }
            var paths: [String] = []
            try await client.execute(uri: "/openapi.json", method: .get) { response in
                let document = try JSONSerialization.jsonObject(with: Data(response.body.readableBytesView)) as? [String: Any]
                paths = ((document?["paths"] as? [String: Any]) ?? [:]).keys.sorted()
            }
            #expect(paths.count == 21)
            for path in paths where !path.contains("{") {
                let uri = path == "/v1/explain" ? "/v1/explain?vm=priv&port=25" : path == "/v1/plan" ? "/v1/plan?needs=web" : path
                try await client.execute(uri: uri, method: .get) { response in
                    #expect(response.status == .ok, "GET \(uri) answered \(response.status)")
                }
            }
        }
    }

    /// A kernel that cannot load the interception rules (no TPROXY) must not leave the host with
    /// nothing: everything else loads with port 25 refused, status and /metrics say so, and a
    /// deep reconcile round loads the interception once the kernel takes it.
    @Test func refusedInterceptionFailsClosed() async throws {
        let store = try SQLiteStore(path: ":memory:")
        let kernel = FakeKernel()
        await kernel.setRefuseInterception(true)
        let engine = try PolicyEngine(policy: policy, store: store, kernel: kernel)
        try await engine.start()
        #expect(await kernel.applied.last?.policy.smtp.mode == .block)
        #expect(await engine.interceptionRefused?.contains("nftables refused") == true)
        #expect(try await engine.status().smtpInterceptionRefused != nil)
        #expect(try await engine.metrics().contains("portcullis_smtp_interception_refused 1"))
        _ = try await engine.reconcile(deep: true)
        #expect(await engine.interceptionRefused != nil, "still refused: stays closed")
        #expect(await kernel.applied.last?.policy.smtp.mode == .block)
        // A change meanwhile is applied with port 25 refused too.
        _ = try await engine.add(try VM(id: "pub", tenant: "t1", contact: nil, interface: "vmpub0", mac: "02:00:00:00:01:01",
                                        ipv4: ["203.0.113.10"], ipv6: [], allowedSources: []), actor: "test")
        #expect(await kernel.applied.last?.vms.map(\.id.value) == ["pub"])
        #expect(await kernel.applied.last?.policy.smtp.mode == .block)
        await kernel.setRefuseInterception(false)
        _ = try await engine.reconcile(deep: false)
        #expect(await engine.interceptionRefused != nil, "only deep rounds try again")
        let note = try await engine.reconcile(deep: true)
        #expect(note?.contains("relayed again") == true)
        #expect(await engine.interceptionRefused == nil)
        #expect(await kernel.applied.last?.policy.smtp.mode == .proxy)
        #expect(try await engine.metrics().contains("portcullis_smtp_interception_refused 0"))
    }

    @Test func aKernelRefusingEverythingStillFailsTheStart() async throws {
        let store = try SQLiteStore(path: ":memory:")
        let kernel = FakeKernel()
        await kernel.setRefuse(true)
        let engine = try PolicyEngine(policy: policy, store: store, kernel: kernel)
        await #expect(throws: FakeRefusal.self) { try await engine.start() }
        #expect(await engine.interceptionRefused == nil, "not blamed on the interception")
    }

    /// Lifting the VM's last scan or flood filter clears the detector's memory of it (before the
    /// lift); an operator's own filter, or a scan filter with another still in force, does not.
    @Test func liftingTheLastScanFilterClearsTheDetectorState() async throws {
        let store = try SQLiteStore(path: ":memory:")
        let kernel = FakeKernel()
        let engine = try PolicyEngine(policy: policy, store: store, kernel: kernel)
        try await engine.start()
        let vm = try VM(id: "priv", tenant: "t1", contact: nil, interface: "vmpriv0", mac: "02:00:00:00:02:01",
                        ipv4: ["100.64.0.10"], ipv6: [], allowedSources: [])
        _ = try await engine.add(vm, actor: "test")
        func request(_ port: Int?) -> FilterRequest {
            FilterRequest(vm: vm.id, direction: .outbound, port: port.flatMap { Port($0) }, remote: nil, reason: "r",
                          expires: .init(seconds: 600))
        }
        let report = CaseReport(vm: vm.id, tenant: vm.tenant, entries: [])
        let (scan, _) = try await engine.place([request(nil), request(22)], actor: AbuseSignal.portScan.detector, report: report)
        let manual = try await engine.place(request(443), actor: "ops")
        _ = try await engine.lift(manual.id, actor: "ops")
        _ = try await engine.lift(scan[0].id, actor: "ops")
        #expect(await kernel.forgotten.isEmpty, "an operator's filter, and a scan filter with another in force")
        _ = try await engine.lift(scan[1].id, actor: "ops")
        #expect(await kernel.forgotten == ["vmpriv0"])
    }
}
