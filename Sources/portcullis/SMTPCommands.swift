import ArgumentParser
import ControlAPI
import Foundation
import PortcullisCore

struct SMTPCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "smtp", abstract: "The SMTP relay: what the VMs sent through it.",
        subcommands: [Log.self])

    struct Log: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "The transaction log, newest first: one line per mail transaction.",
            discussion: "The columns: when the transaction ended (UTC), VM, envelope sender (<> for bounces), recipients the upstream accepted and their domains, message size, TLS version VM side / upstream side (- for plain text), the upstream's last reply code, and the relay's verdict. --json prints every field.")
        @OptionGroup var options: ClientOptions
        @Option(help: "Only this VM's transactions.") var vm: String?
        @Option(help: "Only transactions since this long ago, e.g. 30m, 1h, 2d (default: everything kept).") var since: String?
        @Option(help: "At most this many transactions (1-\(SMTPLogQuery.maximumLimit)).") var limit: Int = SMTPLogQuery.defaultLimit

        func run() async throws {
            let path: String
            do {
                path = try requestPath()
            } catch {
                FileHandle.standardError.write(Data("error: \(error)\n".utf8))
                throw ExitCode(2)
            }
            try options.call("GET", path, as: [SMTPLogEntry].self) { entries in
                entries.isEmpty ? "no SMTP transactions logged" + (vm.map { " for VM \($0)" } ?? "") + (since.map { " in the last \($0)" } ?? "")
                    : SMTPLogTable.render(entries)
            }
        }

        /// The API path for the options. They are checked here too, so that a typo is
        /// refused before the daemon is asked, with the message the daemon would give.
        func requestPath() throws(PortcullisCore.ValidationError) -> String {
            var parameters = ["limit=\(limit)"]
            if let vm {
                do {
                    parameters.append("vm=\(try VMID(parsing: vm))")
                } catch {
                    throw PortcullisCore.ValidationError(field: "vm", value: vm, problem: error.problem)
                }
            }
            if let since {
                _ = try SMTPLogQuery.parseSince(since, now: Date())
                parameters.append("since=\(since.addingPercentEncoding(withAllowedCharacters: queryValueAllowed) ?? since)")
            }
            return "/v1/smtp/log?" + parameters.joined(separator: "&")
        }
    }
}

/// Characters a query value may hold as they are; an ISO 8601 time's `+` must be escaped,
/// or the daemon would read it as a space.
private let queryValueAllowed = CharacterSet(charactersIn: "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~:")

/// The transaction log as aligned columns for a terminal.
enum SMTPLogTable {
    static let header = ["TIME", "VM", "SENDER", "RECIPIENTS", "SIZE", "TLS VM/MX", "REPLY", "VERDICT"]

    static func render(_ entries: [SMTPLogEntry]) -> String {
        let rows = [header] + entries.map(cells)
        let widths = header.indices.map { column in rows.map { $0[column].count }.max() ?? 0 }
        return rows.map { row in
            row.indices.map { column in
                column == row.count - 1 ? row[column] : row[column].padding(toLength: widths[column], withPad: " ", startingAt: 0)
            }.joined(separator: "  ")
        }.joined(separator: "\n")
    }

    static func cells(_ entry: SMTPLogEntry) -> [String] {
        [
            entry.time.formatted(.iso8601),
            entry.vm.value,
            entry.sender.isEmpty ? "<>" : shown(entry.sender, limit: 40),
            recipients(entry),
            size(entry.sizeBytes),
            "\(tls(entry.clientTLS))/\(tls(entry.upstreamTLS))",
            entry.upstreamReply.map { String($0.code) } ?? "-",
            entry.verdict.rawValue,
        ]
    }

    /// `3 example.org,example.net,+1`: the count, then the first domains.
    static func recipients(_ entry: SMTPLogEntry) -> String {
        var text = String(entry.recipientCount)
        let domains = entry.recipientDomains
        if !domains.isEmpty {
            let first = domains.prefix(2).map { shown($0, limit: 30) }.joined(separator: ",")
            text += " " + first + (domains.count > 2 ? ",+\(domains.count - 2)" : "")
        }
        if entry.recipientsRefusedByLimit > 0 { text += " (\(entry.recipientsRefusedByLimit) over limit)" }
        return text
    }

    static func size(_ bytes: Int) -> String {
        switch bytes {
        case ..<10_000: String(bytes)
        case ..<10_000_000: "\(bytes / 1024)K"
        default: "\(bytes / 1_048_576)M"
        }
    }

    /// `1.3` for `TLSv1.3`, `-` for plain text.
    static func tls(_ leg: SMTPLogEntry.TLS?) -> String {
        guard let leg else { return "-" }
        return leg.version.hasPrefix("TLSv") ? String(leg.version.dropFirst(4)) : shown(leg.version, limit: 10)
    }

    /// Text that came from a VM, shortened, with control characters replaced: it must not
    /// be able to move the cursor or recolour the operator's terminal.
    static func shown(_ text: String, limit: Int) -> String {
        let safe = String(String.UnicodeScalarView(text.unicodeScalars.map {
            $0.properties.generalCategory == .control ? "?" : $0
        }))
        return safe.count > limit ? safe.prefix(limit - 1) + "…" : safe
    }
}
