import ArgumentParser
import ControlAPI
import Foundation
import PortcullisCore
import Store

struct Status: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Daemon and policy status.")
    @OptionGroup var options: ClientOptions
    func run() async throws {
        try options.call("GET", "/v1/status", as: StatusReport.self) { s in
            """
            site \(s.site): \(s.vms) VMs (\(s.restrictedVMs) restricted), \(s.activeExemptions) active exemptions
            restricted TCP ports: \(s.restrictedPorts)
            last reconcile: \(s.lastReconcile?.formatted(.iso8601) ?? "never"); repairs: \(s.repairs); refused transactions: \(s.failedTransactions)
            last drift: \(s.lastDrift ?? "none")
            """ + (s.smtpInterceptionRefused.map {
                "\nSMTP INTERCEPTION REFUSED by the kernel: port 25 is refused instead of relayed (\($0))"
            } ?? "")
        }
    }
}

struct RulesetCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "ruleset", abstract: "Print the generated nftables ruleset.")
    @OptionGroup var options: ClientOptions
    func run() async throws {
        let reply = try options.client.request("GET", "/v1/ruleset")
        print(String(decoding: reply.body, as: UTF8.self), terminator: "")
        if reply.status != 200 { throw ExitCode(2) }
    }
}

struct Explain: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Why a VM can or cannot reach a port, and what to do about it.")
    @OptionGroup var options: ClientOptions
    @Argument(help: "VM id.") var vm: String
    @Option(help: "Destination port.") var port: Int
    @Option(name: .customLong("protocol"), help: "tcp or udp.") var transport: String = "tcp"
    func run() async throws {
        let id = try VMID(parsing: vm)
        try options.call("GET", "/v1/explain?vm=\(id)&port=\(port)&protocol=\(transport)", as: Explanation.self) { $0.text }
    }
}

struct Plan: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Which access type fits a deployment (the 'before you deploy' checklist).")
    @OptionGroup var options: ClientOptions
    @Option(help: "Comma-separated needs: smtp, mail-server, web, database, dev, port:N.") var needs: String
    func run() async throws {
        let query = needs.addingPercentEncoding(withAllowedCharacters: .urlQueryAllowed) ?? needs
        try options.call("GET", "/v1/plan?needs=\(query)", as: DeploymentPlan.self) { $0.text }
    }
}

struct Audit: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Show the audit log, newest first.")
    @OptionGroup var options: ClientOptions
    @Option(help: "How many entries.") var limit: Int = 50
    func run() async throws {
        try options.call("GET", "/v1/audit?limit=\(limit)", as: [AuditEntry].self) { entries in
            entries.map { "\($0.at.formatted(.iso8601))  \($0.actor)  \($0.action)  \($0.subject)" }.joined(separator: "\n")
        }
    }
}
