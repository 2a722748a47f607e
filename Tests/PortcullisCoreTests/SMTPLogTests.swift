import Foundation
import Testing
@testable import PortcullisCore

@Suite struct SMTPLogTests {
    let now = Date(timeIntervalSince1970: 1_800_000_000)

    @Test(arguments: [("100.64.0.10", "100.64.0.10"), ("2001:DB8::25", "2001:db8::25")])
    func addressesOfEitherFamily(_ text: String, _ canonical: String) throws {
        #expect(try IPAddress(parsing: text).description == canonical)
    }

    @Test(arguments: ["", "100.64.0", "2001:db8::g", "mx.example.org"])
    func badAddressesNameTheField(_ text: String) {
        let error = #expect(throws: ValidationError.self) { try IPAddress(parsing: text, field: "destination") }
        #expect(error?.field == "destination")
    }

    @Test(arguments: [("3600", 3600.0), ("30m", 1800.0), ("1h", 3600.0), ("2d", 172_800.0), ("1w", 604_800.0)])
    func sinceAsALookBack(_ text: String, _ seconds: Double) throws {
        let query = try SMTPLogQuery(vm: nil, since: text, limit: nil, now: now)
        #expect(query.since == now.addingTimeInterval(-seconds))
        #expect(query.limit == SMTPLogQuery.defaultLimit)
    }

    @Test func sinceAsATime() throws {
        let query = try SMTPLogQuery(vm: "web1", since: "2027-01-15T08:00:00Z", limit: "20", now: now)
        #expect(query.since == now)  // 2027-01-15T08:00:00Z is 1_800_000_000
        #expect(query.vm == (try VMID(parsing: "web1")))
        #expect(query.limit == 20)
    }

    /// (parameter at fault, vm, since, limit)
    static let badParameters: [(String, String?, String?, String?)] = [
        ("vm", "bad id!", nil, nil), ("vm", "", nil, nil),
        ("since", nil, "1y", nil), ("since", nil, "-5", nil), ("since", nil, "0", nil), ("since", nil, "", nil),
        ("since", nil, "2027-13-45T99:00:00Z", nil),
        ("limit", nil, nil, "0"), ("limit", nil, nil, "10001"), ("limit", nil, nil, "ten"), ("limit", nil, nil, "-1"),
    ]

    @Test(arguments: badParameters)
    func badParametersNameTheParameter(field: String, vm: String?, since: String?, limit: String?) {
        let error = #expect(throws: ValidationError.self) { try SMTPLogQuery(vm: vm, since: since, limit: limit, now: now) }
        #expect(error?.field == field)
    }

    /// The JSON keys are the API's contract (documented in the OpenAPI document).
    @Test func entryJSONKeys() throws {
        let entry = SMTPLogEntry(
            time: now, vm: try VMID(parsing: "web1"), tenant: try TenantID(parsing: "acme"),
            client: try IPAddress(parsing: "100.64.0.10"), destination: try IPAddress(parsing: "192.0.2.25"),
            destinationPort: Port(25)!, upstreamGreetingDomain: "mx.example.org", ehloName: "web1",
            sender: "a@acme.example", recipientCount: 1, recipientDomains: ["example.org"],
            clientTLS: .init(version: "TLSv1.3", cipher: "TLS_AES_128_GCM_SHA256"),
            upstreamReply: .init(code: 550, enhancedCode: "5.7.1", text: "blocked"),
            verdict: .rejectedByUpstream, durationMilliseconds: 75)
        let encoder = JSONEncoder()
        encoder.dateEncodingStrategy = .iso8601
        let object = try JSONSerialization.jsonObject(with: try encoder.encode(entry)) as? [String: Any] ?? [:]
        #expect(Set(object.keys) == ["time", "vm", "tenant", "client", "destination", "destination_port",
                                     "upstream_greeting_domain", "ehlo_name", "sender", "recipient_count",
                                     "recipient_domains", "recipients_refused_by_limit", "recipients_refused_by_upstream", "size_bytes", "client_tls",
                                     "upstream_reply", "verdict", "duration_ms"])
        #expect(object["verdict"] as? String == "rejectedByUpstream")
        #expect((object["upstream_reply"] as? [String: Any])?["enhanced_code"] as? String == "5.7.1")
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        #expect(try decoder.decode(SMTPLogEntry.self, from: try encoder.encode(entry)) == entry)
    }
}
