import Foundation
import Logging
import NIOCore
import Netfilter
import PortcullisCore
import ServiceLifecycle
import SMTPProxy

/// The transparent SMTP relay as one of the daemon's services (`smtp.mode: proxy`).
///
/// It keeps the relay's policy routing in place (installed at start, beside the first bind, and
/// checked again every reconcile interval) and serves until the daemon stops. A relay that cannot bind
/// does not take the daemon down: enforcement goes on, the ruleset refuses port 25 while nobody
/// listens (fail closed), and the bind is retried.
struct SMTPRelayService: Service {
    let settings: SMTPSettings
    let directory: VMDirectory
    let tls: SMTPRelayTLS?
    let recheckInterval: PolicyDuration
    let record: SMTPRelayServer.Record
    let logger: Logger

    var routing: SMTPRouting {
        SMTPRouting(table: settings.routingTable, priority: settings.routingPriority)
    }

    var configuration: SMTPRelayConfiguration {
        SMTPRelayConfiguration(
            listenPort: Int(settings.interception.listenPort.value),
            transparent: true,
            upstreamMark: settings.upstreamMark,
            vmLimits: SMTPVMLimits(sessions: settings.limits.sessions, connectionsPerMinute: settings.limits.connectionsPerMinute,
                                   messagesPerHour: settings.limits.messagesPerHour),
            limits: SMTPLimits(recipientsPerMessage: settings.limits.recipientsPerMessage,
                               maxMessageBytes: settings.limits.maxMessageBytes)
        )
    }

    func run() async throws {
        try await cancelWhenGracefulShutdown {
            try await withThrowingDiscardingTaskGroup { group in
                group.addTask { await keepRouting() }
                group.addTask { await serve() }
            }
        }
    }

    private func keepRouting() async {
        while !Task.isCancelled {
            do {
                let added = try routing.install()
                if !added.isEmpty {
                    logger.notice("SMTP relay policy routing installed", metadata: [
                        "added": "\(added.joined(separator: ", "))", "commands": "\(routing.commands.joined(separator: "; "))"])
                }
            } catch {
                logger.error("\(error); intercepted SMTP connections are refused until it is repaired")
            }
            do {
                try await Task.sleep(for: .seconds(recheckInterval.seconds))
            } catch {
                return
            }
        }
    }

    private func serve() async {
        let directory = self.directory
        while !Task.isCancelled {
            let server = SMTPRelayServer(configuration: configuration, tls: tls,
                                         identify: { address in Self.identity(of: address, in: directory) },
                                         record: record)
            do {
                try await server.run { addresses in
                    logger.info("SMTP relay listening", metadata: [
                        "addresses": "\(addresses.map { "\($0)" }.joined(separator: ", "))",
                        "tls": "\(tls?.mode.rawValue ?? "off")"])
                    for skipped in server.skipped {
                        logger.warning("SMTP relay: not listening on \(skipped) (address family missing on this host)")
                    }
                }
                if Task.isCancelled { return }
                logger.error("SMTP relay stopped unexpectedly; restarting in 5 s")
            } catch {
                logger.error("SMTP relay cannot listen: \(error). Port 25 of proxied VMs is refused until it can; retrying in 5 s",
                             metadata: ["port": "\(settings.interception.listenPort)"])
            }
            do {
                try await Task.sleep(for: .seconds(5))
            } catch {
                return
            }
        }
    }

    /// The VM an accepted connection comes from: the peer address is the VM's own (tproxy
    /// keeps it), and the directory maps it to the registered VM.
    static func identity(of address: SocketAddress, in directory: VMDirectory) -> SMTPVMIdentity? {
        guard let text = address.ipAddress else { return nil }
        let vm: VM?
        switch address {
        case .v4: vm = (try? IPv4Address(parsing: text)).flatMap(directory.vm(for:))
        case .v6: vm = (try? IPv6Address(parsing: text)).flatMap(directory.vm(for:))
        default: vm = nil
        }
        return vm.map { SMTPVMIdentity(vmID: $0.id.value, tenant: $0.tenant.value) }
    }
}
