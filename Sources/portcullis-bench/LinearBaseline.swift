import Foundation
import PortcullisCore

/// The reference implementation's approach, rebuilt for comparison: one jump rule per VM in
/// a base chain and one `nft` process per rule (Zero-OS networkd). Per-packet cost grows
/// with the number of VMs, and every rule is its own process and transaction.
enum LinearBaseline {
    static let table = "zos_baseline"

    /// The rules for one VM, each of which the baseline runs as its own `nft` command.
    static func commands(for vm: VM, policy: SitePolicy) -> [[String]] {
        let chain = "vm-\(vm.interface)"
        var rules: [[String]] = [
            ["add", "chain", "inet", table, chain],
            ["add", "rule", "inet", table, "forward", "iifname", vm.interface.name, "jump", chain],
            ["add", "rule", "inet", table, chain, "ether", "saddr", "!=", vm.mac.description, "drop"],
        ]
        for address in vm.ipv4 {
            rules.append(["add", "rule", "inet", table, chain, "meta", "nfproto", "ipv4", "ip", "saddr", "!=", address.description, "drop"])
        }
        if policy.accessType(of: vm) == .restricted {
            rules.append(["add", "rule", "inet", table, chain, "tcp", "dport", "25", "reject", "with", "tcp", "reset"])
        }
        return rules
    }

    static let prologue: [[String]] = [
        ["add", "table", "inet", table],
        ["add", "chain", "inet", table, "forward", "{ type filter hook forward priority 0; policy accept; }"],
    ]

    /// The same rules as one script (for the forwarding benchmark, where only the per-packet
    /// cost matters, not how the rules were loaded).
    static func script(vms: [VM], policy: SitePolicy) -> String {
        var lines = ["table inet \(table)", "delete table inet \(table)"]
        lines += prologue.map { $0.joined(separator: " ") }
        for vm in vms {
            // Quote the interface name after `iifname` (it may start with a digit-like token);
            // chain names stay bare, as nft 1.0.6 wants them.
            lines += commands(for: vm, policy: policy).map { command in
                command.enumerated().map { i, word in
                    i > 0 && command[i - 1] == "iifname" ? "\"\(word)\"" : word
                }.joined(separator: " ")
            }
        }
        return lines.joined(separator: "\n") + "\n"
    }

    /// Runs `commands` the baseline way: one nft process each. posix_spawn and waitpid
    /// directly: Foundation's Process needs a run-loop socket pair, which is not always
    /// available inside a bare network namespace.
    static func run(_ commands: [[String]]) {
        for command in commands {
            let argv = ["nft"] + command
            var cArgs: [UnsafeMutablePointer<CChar>?] = argv.map { strdup($0) } + [nil]
            defer { for pointer in cArgs { free(pointer) } }
            var pid: pid_t = 0
            let spawned = posix_spawn(&pid, "/usr/sbin/nft", nil, nil, &cArgs, environ)
            precondition(spawned == 0, "cannot start /usr/sbin/nft: \(String(cString: strerror(spawned)))")
            var status: Int32 = 0
            while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
            precondition(status == 0, "baseline nft \(command.joined(separator: " ")) failed (status \(status))")
        }
    }
}
