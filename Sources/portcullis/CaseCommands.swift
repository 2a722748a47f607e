import ArgumentParser
import ControlAPI
import Foundation
import PortcullisCore

struct CaseCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "case", abstract: "Abuse cases: what was detected on a VM, what was done, and the evidence.",
        discussion: "Every detection, filter placed or lifted, and notice is added to the VM's open case, or opens one. A case stays open until an operator closes it.",
        subcommands: [List.self, Show.self, Close.self, Note.self])

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Cases, most recently updated first.")
        @OptionGroup var options: ClientOptions
        @Option(help: "open or closed (default: both).") var status: String?
        @Option(help: "Only this VM's cases.") var vm: String?
        func run() async throws {
            var parameters: [String] = []
            if let status { parameters.append("status=\(status)") }
            if let vm { parameters.append("vm=\(try VMID(parsing: vm))") }
            try options.call("GET", "/v1/cases" + (parameters.isEmpty ? "" : "?" + parameters.joined(separator: "&")),
                             as: [AbuseCase].self) { cases in
                cases.isEmpty ? "no cases" : cases.map { item in
                    "\(item.id)  \(item.status.rawValue)  vm=\(item.vm)  tenant=\(item.tenant)  opened \(item.openedAt.formatted(.iso8601))"
                        + "  updated \(item.updatedAt.formatted(.iso8601))  \(item.evidenceCount) entries"
                        + (item.signals.isEmpty ? "" : "  signals: \(item.signals.joined(separator: ","))")
                }.joined(separator: "\n")
            }
        }
    }

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "One case with all its evidence, oldest first.")
        @OptionGroup var options: ClientOptions
        @Argument(help: "Case id (see `case list`).") var id: String
        func run() async throws {
            try options.call("GET", "/v1/cases/\(try pathSegment(id))", as: AbuseCase.self, text: CaseText.render)
        }
    }

    struct Close: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Close a case. Filters in force stay until they expire or are lifted (`filter lift`).")
        @OptionGroup var options: ClientOptions
        @Argument(help: "Case id.") var id: String
        @Option(help: "What was found and done (kept in the case and the audit log).") var resolution: String
        func run() async throws {
            try options.call("POST", "/v1/cases/\(try pathSegment(id))/close", body: CaseCloseBody(resolution: resolution),
                             as: AbuseCase.self) { "closed \($0.id)" }
        }
    }

    struct Note: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Add an operator's note to a case.")
        @OptionGroup var options: ClientOptions
        @Argument(help: "Case id.") var id: String
        @Argument(help: "The note.") var text: String
        func run() async throws {
            try options.call("POST", "/v1/cases/\(try pathSegment(id))/notes", body: CaseNoteBody(text: text),
                             as: AbuseCase.self) { "noted on \($0.id)" }
        }
    }
}

struct NoticeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "notice", abstract: "The notice outbox: e-mails to tenants and webhook calls about abuse actions.",
        subcommands: [List.self, Preview.self])

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Notices, newest first, with their delivery state.")
        @OptionGroup var options: ClientOptions
        @Option(name: .customLong("case"), help: "Only this case's notices.") var caseID: String?
        @Option(help: "pending, delivered or failed.") var status: String?
        func run() async throws {
            var parameters: [String] = []
            if let caseID { parameters.append("case=\(try pathSegment(caseID))") }
            if let status { parameters.append("status=\(status)") }
            try options.call("GET", "/v1/notices" + (parameters.isEmpty ? "" : "?" + parameters.joined(separator: "&")),
                             as: [Notice].self) { notices in
                notices.isEmpty ? "no notices" : notices.map(NoticeText.line).joined(separator: "\n")
            }
        }
    }

    struct Preview: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "The exact text a notice is (or was) sent as: the e-mail with its headers, or the webhook's JSON body.")
        @OptionGroup var options: ClientOptions
        @Argument(help: "Notice id (see `notice list`).") var id: String
        func run() async throws {
            let reply = try options.client.request("GET", "/v1/notices/\(try pathSegment(id))/preview", body: nil)
            guard (200..<300).contains(reply.status) else {
                let message = (try? JSONDecoder().decode(ErrorReply.self, from: reply.body))?.error
                    ?? String(decoding: reply.body, as: UTF8.self)
                FileHandle.standardError.write(Data("error: \(message)\n".utf8))
                throw ExitCode(reply.status == 404 ? 3 : 2)
            }
            print(String(decoding: reply.body, as: UTF8.self))
        }
    }
}

/// An id as a URL path segment: letters, digits and dashes only, so no id can reach another route.
func pathSegment(_ id: String) throws(PortcullisCore.ValidationError) -> String {
    guard !id.isEmpty, id.count <= 64, id.unicodeScalars.allSatisfy({ $0.isASCII && (CharacterSet.alphanumerics.contains($0) || $0 == "-") }) else {
        throw PortcullisCore.ValidationError(field: "id", value: id, problem: "expected an id like case-1a2b3c4d")
    }
    return id
}

/// A case for a terminal. Evidence from VMs (SMTP senders, EHLO names) is shown with control
/// characters neutralised.
enum CaseText {
    static func render(_ item: AbuseCase) -> String {
        var lines = [
            "case \(item.id)  \(item.status.rawValue)",
            "vm \(item.vm)  tenant \(item.tenant)",
            "opened \(item.openedAt.formatted(.iso8601))  updated \(item.updatedAt.formatted(.iso8601))",
        ]
        if !item.signals.isEmpty { lines.append("signals: \(item.signals.joined(separator: ", "))") }
        if item.status == .closed {
            lines.append("closed \(item.closedAt?.formatted(.iso8601) ?? "?") by \(item.closedBy ?? "?"): \(SMTPLogTable.shown(item.resolution ?? "", limit: 500))")
        }
        lines.append("")
        for entry in item.evidence {
            lines.append("\(entry.at.formatted(.iso8601))  \(entry.kind.rawValue)  \(entry.actor)  \(SMTPLogTable.shown(entry.summary, limit: 500))")
            lines += entry.details.map { "    \(SMTPLogTable.shown($0, limit: 300))" }
        }
        return lines.joined(separator: "\n")
    }
}

enum NoticeText {
    static func line(_ n: Notice) -> String {
        var text = "\(n.id)  \(n.caseID)  \(n.channel.rawValue) to \(SMTPLogTable.shown(n.recipient, limit: 80))"
        text += "  \(n.status.rawValue)  attempts \(n.attempts)"
        if n.status == .pending { text += "  next \(n.nextAttemptAt.formatted(.iso8601))" }
        if let last = n.lastResult { text += "  last: \(SMTPLogTable.shown(last, limit: 120))" }
        return text
    }
}
