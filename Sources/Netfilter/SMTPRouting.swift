import Glibc
import RulesetCompiler

/// The policy routing the transparent SMTP relay needs, installed by the daemon itself:
///
///     ip rule add fwmark MARK lookup TABLE priority PRIORITY     (IPv4 and IPv6)
///     ip route add local 0.0.0.0/0 dev lo table TABLE            (and local ::/0)
///
/// The ruleset marks a VM's intercepted port-25 packets and the MX's answers to the relay's
/// upstream leg; this delivers them to the host's own sockets although their destination is
/// not a host address (docs/interception.md). Both steps are idempotent, so every reconcile
/// round can repeat them: an operator's `ip rule flush` is repaired like a foreign
/// `nft flush ruleset`. Without them the marked packets are not routed at all (the kernel
/// counts IpInAddrErrors): the relay is unreachable, never bypassed.
public struct SMTPRouting: Sendable, Hashable {
    public let mark: UInt32
    public let table: UInt32
    public let priority: UInt32

    public init(mark: UInt32 = RulesetCompiler.localDeliveryMark, table: UInt32, priority: UInt32) {
        self.mark = mark
        self.table = table
        self.priority = priority
    }

    /// What `install` does, as the operator would type it.
    public var commands: [String] {
        let mark = "0x" + String(self.mark, radix: 16)
        return [
            "ip rule add fwmark \(mark) lookup \(table) priority \(priority)",
            "ip -6 rule add fwmark \(mark) lookup \(table) priority \(priority)",
            "ip route add local 0.0.0.0/0 dev lo table \(table)",
            "ip -6 route add local ::/0 dev lo table \(table)",
        ]
    }

    /// Installs whatever is missing. Returns the families it had to add something for (empty
    /// when everything was in place), so the caller can report a repair.
    @discardableResult
    public func install() throws(SMTPRoutingError) -> [String] {
        var socket: NetlinkSocket
        do {
            socket = try NetlinkSocket(protocol: 0)  // NETLINK_ROUTE
        } catch {
            throw SMTPRoutingError(step: "open a routing socket", detail: "\(error)")
        }
        let loopback = if_nametoindex("lo")
        guard loopback != 0 else { throw SMTPRoutingError(step: "find the loopback interface", detail: "no interface lo") }
        var repaired: [String] = []
        for (family, name) in [(UInt8(AF_INET), "IPv4"), (UInt8(AF_INET6), "IPv6")] {
            let rule = try send(&socket, step: "ip\(family == UInt8(AF_INET6) ? " -6" : "") rule add fwmark") { sequence in
                // fib_rule_hdr: family, dst_len, src_len, tos, table, res1, res2, action (FR_ACT_TO_TBL), flags u32.
                var message = NetlinkMessage(
                    type: 32 /* RTM_NEWRULE */,
                    flags: NetlinkMessage.flagRequest | NetlinkMessage.flagAck | NetlinkMessage.flagCreate | NetlinkMessage.flagExclusive,
                    sequence: sequence, header: [family, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0])
                message.append(attribute: 6 /* FRA_PRIORITY */, priority)
                message.append(attribute: 10 /* FRA_FWMARK */, mark)
                message.append(attribute: 16 /* FRA_FWMASK */, 0xffff_ffff)
                message.append(attribute: 15 /* FRA_TABLE */, table)
                return message
            }
            // IPv6 disabled on this host (ipv6.disable=1: no family; disable_ipv6=1: lo refuses the route).
            let ipv6Missing = family == UInt8(AF_INET6)
            if ipv6Missing && rule == -EAFNOSUPPORT { continue }
            if rule != 0 && rule != -EEXIST { throw failure("ip rule add fwmark (\(name))", rule) }
            if rule == 0 { repaired.append("\(name) rule") }
            let route = try send(&socket, step: "ip route add local") { sequence in
                // rtmsg: family, dst_len, src_len, tos, table, protocol (static), scope (host), type (local), flags u32.
                var message = NetlinkMessage(
                    type: 24 /* RTM_NEWROUTE */,
                    flags: NetlinkMessage.flagRequest | NetlinkMessage.flagAck | NetlinkMessage.flagCreate | NetlinkMessage.flagExclusive,
                    sequence: sequence, header: [family, 0, 0, 0, 0, 4, 254, 2, 0, 0, 0, 0])
                message.append(attribute: 15 /* RTA_TABLE */, table)
                message.append(attribute: 4 /* RTA_OIF */, loopback)
                return message
            }
            if ipv6Missing && [-EACCES, -ENETDOWN, -EAFNOSUPPORT].contains(route) { continue }
            if route != 0 && route != -EEXIST { throw failure("ip route add local default (\(name))", route) }
            if route == 0 { repaired.append("\(name) route") }
        }
        return repaired
    }

    private func send(_ socket: inout NetlinkSocket, step: String,
                      _ build: (UInt32) -> NetlinkMessage) throws(SMTPRoutingError) -> Int32 {
        do {
            return try socket.acknowledged(build)
        } catch {
            throw SMTPRoutingError(step: step, detail: "\(error)")
        }
    }

    private func failure(_ step: String, _ code: Int32) -> SMTPRoutingError {
        let hint = code == -EPERM ? " (the daemon needs CAP_NET_ADMIN: run it as root)" : ""
        return SMTPRoutingError(step: step, detail: String(cString: strerror(-code)) + hint)
    }
}

/// The SMTP relay's policy routing could not be installed: intercepted connections would be
/// refused, so the daemon says which step failed.
public struct SMTPRoutingError: Error, CustomStringConvertible, Sendable {
    public let step: String
    public let detail: String
    public var description: String {
        "installing the SMTP relay's policy routing failed at \(step): \(detail)"
    }
}
