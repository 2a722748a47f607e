import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Testing
import PortcullisCore
import Store
@testable import ControlAPI

@Suite struct SMTPLogAPITests {
    let policy = SitePolicy(site: "lab-1", publicIPv4: [], restrictedTCPPorts: PortSet([25].compactMap { Port($0) }))
    static let now = Date(timeIntervalSince1970: 1_800_000_000)

    static func entry(_ vm: String, minutesAgo: Double) throws -> SMTPLogEntry {
        SMTPLogEntry(time: now.addingTimeInterval(-minutesAgo * 60), vm: try VMID(parsing: vm), tenant: try TenantID(parsing: "acme"),
                     client: try IPAddress(parsing: "100.64.0.10"), destination: try IPAddress(parsing: "192.0.2.25"),
                     destinationPort: Port(25)!, sender: "a@acme.example", recipientCount: 1, recipientDomains: ["example.org"],
                     upstreamReply: .init(code: 250, enhancedCode: "2.0.0", text: "queued"), verdict: .relayed,
                     durationMilliseconds: 40)
    }

    /// An app whose engine's clock stands at `now`, over a log of four records: web1 at 5,
    /// 30 and 90 minutes ago, web2 at 10 minutes ago.
    func withApp(_ body: @escaping @Sendable (any TestClientProtocol) async throws -> Void) async throws {
        let store = try SQLiteStore(path: ":memory:")
        try store.appendSMTPLog([try Self.entry("web1", minutesAgo: 90), try Self.entry("web2", minutesAgo: 10),
                                 try Self.entry("web1", minutesAgo: 5), try Self.entry("web1", minutesAgo: 30)])
        let engine = try PolicyEngine(policy: policy, store: store, kernel: FakeKernel(), clock: { Self.now })
        try await Application(router: buildRouter(engine: engine)).test(.router) { client in try await body(client) }
    }

    func log(_ client: any TestClientProtocol, _ uri: String) async throws -> [SMTPLogEntry] {
        try await client.execute(uri: uri, method: .get) { response in
            #expect(response.status == .ok, "GET \(uri) answered \(response.status)")
            return try JSON.decoder.decode([SMTPLogEntry].self, from: Data(response.body.readableBytesView))
        }
    }

    @Test func filtersAndOrder() async throws {
        try await withApp { client in
            let minutesAgo = { (entries: [SMTPLogEntry]) in entries.map { Int(Self.now.timeIntervalSince($0.time) / 60) } }
            #expect(minutesAgo(try await log(client, "/v1/smtp/log")) == [5, 10, 30, 90])
            #expect(minutesAgo(try await log(client, "/v1/smtp/log?vm=web1")) == [5, 30, 90])
            #expect(minutesAgo(try await log(client, "/v1/smtp/log?since=1h")) == [5, 10, 30])
            #expect(minutesAgo(try await log(client, "/v1/smtp/log?since=900")) == [5, 10])
            #expect(minutesAgo(try await log(client, "/v1/smtp/log?vm=web1&since=2h&limit=2")) == [5, 30])
            // An ISO 8601 time; its '+' escaped as the CLI sends it (now is 2027-01-15T08:00:00Z).
            #expect(minutesAgo(try await log(client, "/v1/smtp/log?since=2027-01-15T08:45:00%2B01:00")) == [5, 10])
            let first = try await log(client, "/v1/smtp/log?limit=1").first
            #expect(first?.upstreamReply?.enhancedCode == "2.0.0" && first?.destinationPort == Port(25))
        }
    }

    @Test(arguments: [("vm=no%20spaces", "vm"), ("since=yesterday", "since"), ("since=-1h", "since"),
                      ("limit=0", "limit"), ("limit=lots", "limit"), ("limit=20000", "limit")])
    func badParametersAre400NamingTheParameter(query: String, field: String) async throws {
        try await withApp { client in
            try await client.execute(uri: "/v1/smtp/log?\(query)", method: .get) { response in
                #expect(response.status == .badRequest)
                let error = try JSONDecoder().decode(APIErrorBody.self, from: Data(response.body.readableBytesView))
                #expect(error.field == field)
                #expect(error.error.contains(field))
            }
        }
    }
}
