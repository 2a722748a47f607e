import ArgumentParser
import ControlAPI
import Foundation
import PortcullisCore

func describeFilter(_ f: Filter) -> String {
    "\(f.id)  vm=\(f.vm)  \(f.scope)  until \(f.expiresAt.formatted(.iso8601))  by \(f.placedBy): \(f.reason)"
}

struct FilterCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "filter", abstract: "Block a VM's inbound or outbound traffic for a limited time (abuse response).",
        subcommands: [Add.self, Lift.self, List.self])

    struct Add: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Place a filter; the kernel lifts it by itself when it expires.",
            discussion: "Without --port and --source the filter blocks all of the VM's traffic in that direction.")
        @OptionGroup var options: ClientOptions
        @Argument(help: "VM id.") var vm: String
        @Option(help: "in (traffic to the VM) or out (traffic from the VM).") var direction: String
        @Option(help: "Only this TCP/UDP port: the destination port for out, the VM's own port for in.") var port: Int?
        @Option(help: "Only this far-side prefix: the source of inbound traffic, the destination of outbound (e.g. 198.51.100.0/24).")
        var source: String?
        @Flag(help: "Quarantine: block everything outbound except the site's abuse.quarantine_allow destinations (with --direction out, no --port or --source).")
        var quarantine = false
        @Flag(help: "Throttle: drop the VM's new outbound connections and UDP packets over the site's abuse.throttle rates (with --direction out, no --port or --source).")
        var throttle = false
        @Flag(help: "Send the VM's contact (and the webhook) a notice about the filter, with the reason.")
        var notify = false
        @Option(help: "Why (kept in the audit log).") var reason: String
        @Option(help: "How long, e.g. 30m, 2h, 7d (at most 90d).") var expires: String
        func run() async throws {
            if quarantine && throttle {
                FileHandle.standardError.write(Data("error: give --quarantine or --throttle, not both\n".utf8))
                throw ExitCode(2)
            }
            let body = FilterBody(vm: vm, direction: direction, port: port, remote: source, effect: quarantine ? "quarantine" : throttle ? "throttle" : nil, notify: notify ? true : nil,
                                  reason: reason, expires: expires)
            try options.call("POST", "/v1/filters", body: body, as: Filter.self) { "placed \(describeFilter($0))" }
        }
    }

    struct Lift: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Lift a filter now.")
        @OptionGroup var options: ClientOptions
        @Argument(help: "Filter id (see `filter list`).") var id: String
        func run() async throws {
            try options.call("DELETE", "/v1/filters/\(try VMID(parsing: id))", as: Filter.self) { "lifted \($0.id)" }
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List filters in force.")
        @OptionGroup var options: ClientOptions
        func run() async throws {
            try options.call("GET", "/v1/filters", as: [Filter].self) { list in
                list.isEmpty ? "no filters in force" : list.map(describeFilter).joined(separator: "\n")
            }
        }
    }
}
