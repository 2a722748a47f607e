import ArgumentParser
import ControlAPI
import Foundation
import PortcullisCore

struct VMCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "vm", abstract: "Register, list and remove VMs.",
        subcommands: [Add.self, List.self, Show.self, Remove.self])

    struct Add: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Register a VM; its rules are in the kernel when this returns.")
        @OptionGroup var options: ClientOptions
        @Argument(help: "VM id.") var id: String
        @Option(help: "Tenant id.") var tenant: String
        @Option(help: "Host interface of the VM (tap/veth), at most 15 bytes.") var interface: String
        @Option(help: "The VM's MAC address.") var mac: String
        @Option(help: "An IPv4 address of the VM (repeatable).") var ipv4: [String] = []
        @Option(help: "An IPv6 address or prefix of the VM (repeatable).") var ipv6: [String] = []
        @Option(name: .customLong("allow-source"), help: "An extra source prefix the VM may use (repeatable).") var allowSource: [String] = []
        @Option(help: "Contact e-mail for notices.") var contact: String?
        @Option(help: "The Linux bridge the interface is a port of, if bridged. Its identities then go only into the bridge table, and refused connections get a TCP reset.") var bridge: String?
        @Flag(help: "The interface is routed (the host is the VM's gateway). Its identities then go only into the inet and arp tables.") var routed = false

        func run() async throws {
            let body = VMRequest(id: id, tenant: tenant, contact: contact, interface: interface, mac: mac,
                                 ipv4: ipv4, ipv6: ipv6, allowSource: allowSource, bridge: bridge, routed: routed)
            try options.call("POST", "/v1/vms", body: body, as: VMView.self) { "registered \(describe($0))" }
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List registered VMs.")
        @OptionGroup var options: ClientOptions
        func run() async throws {
            try options.call("GET", "/v1/vms", as: [VMView].self) { views in
                views.isEmpty ? "no VMs registered" : views.map(describe).joined(separator: "\n")
            }
        }
    }

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show one VM.")
        @OptionGroup var options: ClientOptions
        @Argument var id: String
        func run() async throws {
            try options.call("GET", "/v1/vms/\(try VMID(parsing: id))", as: VMView.self) { view in
                var lines = [describe(view), "  tenant: \(view.vm.tenant)", "  mac: \(view.vm.mac)",
                             "  contact: \(view.vm.contact?.value ?? "-")",
                             "  attachment: \(describe(view.vm.attachment))",
                             "  allowed extra sources: \(view.vm.allowedSources.map(\.description).joined(separator: ", "))"]
                for exemption in view.exemptions { lines.append("  " + describeExemption(exemption)) }
                return lines.joined(separator: "\n")
            }
        }
    }

    struct Remove: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Remove a VM and its exemptions.")
        @OptionGroup var options: ClientOptions
        @Argument var id: String
        func run() async throws {
            try options.call("DELETE", "/v1/vms/\(try VMID(parsing: id))", as: VM.self) { "removed VM \($0.id)" }
        }
    }
}

func describe(_ view: VMView) -> String {
    let vm = view.vm
    let addresses = (vm.ipv4.map(\.description) + vm.ipv6.map(\.description)).joined(separator: " ")
    return "\(vm.id)  \(view.accessType.rawValue)  if=\(vm.interface)  \(addresses)"
}

func describe(_ attachment: Attachment) -> String {
    switch attachment {
    case .bridged(let bridge): "bridged on \(bridge)"
    case .routed: "routed"
    case .unspecified: "not declared (filtered in every table)"
    }
}

func describeExemption(_ e: Exemption) -> String {
    "\(e.id)  vm=\(e.vm)  ports=\(e.ports)  until \(e.expiresAt.formatted(.iso8601))  by \(e.grantedBy): \(e.reason)"
}

struct ExemptionCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "exemption", abstract: "Open restricted ports for a VM for a limited time.",
        subcommands: [Grant.self, Revoke.self, List.self])

    struct Grant: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Grant an exemption; it expires by itself, in the kernel too.")
        @OptionGroup var options: ClientOptions
        @Argument(help: "VM id.") var vm: String
        @Option(help: "Ports to open, e.g. 25,465,587.") var ports: String
        @Option(help: "Why (kept in the audit log).") var reason: String
        @Option(help: "How long, e.g. 2h, 30d (default: the site's exemptions.default_duration).") var expires: String?
        func run() async throws {
            let body = ExemptionBody(vm: vm, ports: ports, reason: reason, expires: expires)
            try options.call("POST", "/v1/exemptions", body: body, as: Exemption.self) { "granted \(describeExemption($0))" }
        }
    }

    struct Revoke: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Revoke an exemption now.")
        @OptionGroup var options: ClientOptions
        @Argument(help: "Exemption id (see `exemption list`).") var id: String
        func run() async throws {
            try options.call("DELETE", "/v1/exemptions/\(try VMID(parsing: id))", as: Exemption.self) { "revoked \($0.id)" }
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List active exemptions.")
        @OptionGroup var options: ClientOptions
        func run() async throws {
            try options.call("GET", "/v1/exemptions", as: [Exemption].self) { list in
                list.isEmpty ? "no active exemptions" : list.map(describeExemption).joined(separator: "\n")
            }
        }
    }
}
