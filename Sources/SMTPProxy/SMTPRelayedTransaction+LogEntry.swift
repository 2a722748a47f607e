import Foundation
import NIOCore
import PortcullisCore

extension SMTPRelayedTransaction {
    /// Upstream reply text longer than this is cut in the log: 100 lines of 512 octets are
    /// allowed on the wire, but a log row is for reading, and the code says what happened.
    public static let loggedReplyTextLimit = 1000

    /// The transaction as the SMTP transaction log (the store) keeps it.
    ///
    /// Throws, naming the field, when the VM identity does not parse as a VM id and tenant,
    /// or an address is not an IP address with a port: the daemon's registry handed the relay
    /// something it would not accept from an operator.
    public func logEntry() throws(ValidationError) -> SMTPLogEntry {
        guard let clientText = client.ipAddress else {
            throw ValidationError(field: "client", value: "\(client)", problem: "the relay accepted a connection without an IP address")
        }
        guard let destinationText = destination.ipAddress, let port = destination.port.flatMap(Port.init) else {
            throw ValidationError(field: "destination", value: "\(destination)", problem: "expected an IP address and port")
        }
        return SMTPLogEntry(
            time: record.endedAt,
            vm: try VMID(parsing: vm.vmID),
            tenant: try TenantID(parsing: vm.tenant),
            client: try IPAddress(parsing: clientText, field: "client"),
            destination: try IPAddress(parsing: destinationText, field: "destination"),
            destinationPort: port,
            upstreamGreetingDomain: record.upstreamGreetingDomain,
            ehloName: record.ehloName,
            sender: record.sender.logged,
            recipientCount: record.recipientCount,
            recipientDomains: record.recipientDomains,
            recipientsRefusedByLimit: record.recipientsRefusedByLimit,
            recipientsRefusedByUpstream: record.recipientsRefusedByUpstream,
            sizeBytes: record.sizeBytes,
            clientTLS: record.clientTLS.map { SMTPLogEntry.TLS(version: $0.version, cipher: $0.cipher) },
            upstreamTLS: record.upstreamTLS.map { SMTPLogEntry.TLS(version: $0.version, cipher: $0.cipher) },
            upstreamReply: record.upstreamReply.map(Self.logged),
            verdict: record.verdict,
            durationMilliseconds: max(0, Int((record.endedAt.timeIntervalSince(record.startedAt) * 1000).rounded()))
        )
    }

    /// Code, enhanced code, and the text of every line without the repeated enhanced code.
    static func logged(_ reply: SMTPReply) -> SMTPLogEntry.Reply {
        let status = reply.enhancedStatus
        let lines = reply.lines.map { line -> Substring in
            guard let status, line.hasPrefix("\(status)") else { return line[...] }
            return line.dropFirst("\(status)".count).drop { $0 == " " }
        }
        let text = lines.filter { !$0.isEmpty }.joined(separator: " ")
        return SMTPLogEntry.Reply(code: reply.code, enhancedCode: status?.description,
                                  text: String(text.prefix(loggedReplyTextLimit)))
    }
}

extension SMTPReversePath {
    /// The mailbox without brackets; empty for `<>`.
    var logged: String {
        switch self {
        case .null: ""
        case .mailbox(let mailbox): mailbox.description
        }
    }
}
