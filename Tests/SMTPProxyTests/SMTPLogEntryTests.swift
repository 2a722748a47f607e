import Foundation
import NIOCore
import PortcullisCore
import Testing
@testable import SMTPProxy

@Suite struct SMTPLogEntryTests {
    let start = Date(timeIntervalSince1970: 1_800_000_000)

    func transaction(_ record: SMTPTransactionRecord, vm: String = "web1",
                     client: SocketAddress? = nil) throws -> SMTPRelayedTransaction {
        SMTPRelayedTransaction(record: record, vm: SMTPVMIdentity(vmID: vm, tenant: "acme"),
                               client: try client ?? SocketAddress(ipAddress: "100.64.0.10", port: 40_000),
                               destination: try SocketAddress(ipAddress: "2001:db8::25", port: 25))
    }

    @Test func everyFieldIsCarriedOver() throws {
        let record = SMTPTransactionRecord(
            ehloName: "web1.acme.example", sender: .mailbox(SMTPMailbox(parsing: "news@Acme.example")!),
            recipientCount: 2, recipientDomains: ["example.org", "example.net"], recipientsRefusedByLimit: 1,
            sizeBytes: 4096, clientTLS: SMTPTLSInfo(version: "TLSv1.3", cipher: "TLS_AES_128_GCM_SHA256"),
            upstreamTLS: SMTPTLSInfo(version: "TLSv1.2", cipher: "ECDHE-RSA-AES128-GCM-SHA256"),
            upstreamReply: SMTPReply(code: 550, lines: ["5.7.1 Message refused", "5.7.1 see https://mx.example/why"]),
            upstreamGreetingDomain: "mx1.example.org", verdict: .rejectedByUpstream,
            startedAt: start, endedAt: start.addingTimeInterval(1.2345))
        let entry = try transaction(record).logEntry()
        #expect(entry == SMTPLogEntry(
            time: start.addingTimeInterval(1.2345), vm: try VMID(parsing: "web1"), tenant: try TenantID(parsing: "acme"),
            client: try IPAddress(parsing: "100.64.0.10"), destination: try IPAddress(parsing: "2001:db8::25"),
            destinationPort: Port(25)!, upstreamGreetingDomain: "mx1.example.org", ehloName: "web1.acme.example",
            sender: "news@acme.example", recipientCount: 2, recipientDomains: ["example.org", "example.net"],
            recipientsRefusedByLimit: 1, sizeBytes: 4096,
            clientTLS: .init(version: "TLSv1.3", cipher: "TLS_AES_128_GCM_SHA256"),
            upstreamTLS: .init(version: "TLSv1.2", cipher: "ECDHE-RSA-AES128-GCM-SHA256"),
            upstreamReply: .init(code: 550, enhancedCode: "5.7.1", text: "Message refused see https://mx.example/why"),
            verdict: .rejectedByUpstream, durationMilliseconds: 1235))
    }

    @Test func aBareTransactionLeavesTheOptionalFieldsEmpty() throws {
        let record = SMTPTransactionRecord(ehloName: nil, sender: .null, verdict: .aborted, startedAt: start, endedAt: start)
        let entry = try transaction(record).logEntry()
        #expect(entry.verdict == .aborted)
        #expect(entry.sender == "" && entry.upstreamReply == nil && entry.clientTLS == nil)
    }

    @Test func aReplyWithoutEnhancedCodeKeepsItsText() {
        let reply = SMTPRelayedTransaction.logged(SMTPReply(code: 250, lines: ["Ok: queued as 4F2A1"]))
        #expect(reply == SMTPLogEntry.Reply(code: 250, enhancedCode: nil, text: "Ok: queued as 4F2A1"))
    }

    @Test func anIdentityTheLogWouldRefuseNamesTheField() throws {
        let record = SMTPTransactionRecord(ehloName: nil, sender: .null, verdict: .aborted, startedAt: start, endedAt: start)
        let error = #expect(throws: ValidationError.self) { try transaction(record, vm: "bad id").logEntry() }
        #expect(error?.field == "vm id")
    }
}
