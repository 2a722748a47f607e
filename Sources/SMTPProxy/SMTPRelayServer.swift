import NIOConcurrencyHelpers
import NIOCore
import NIOPosix

/// The transparent SMTP relay: accepts the VMs' intercepted port-25 connections and relays each
/// one, through the core's session, to the destination the VM dialled.
///
/// Handler-based like the core it drives: each accepted channel gets its handlers synchronously in
/// the child initializer (`SMTPRelayServer+Connection.swift`) and runs on its event loop, which the
/// upstream connection shares. `run()` is the structured-concurrency entry point a daemon's
/// service wraps: it serves until its task is cancelled.
public final class SMTPRelayServer: Sendable {
    /// Maps an accepted connection's source address to a VM; nil means not one of ours (554).
    public typealias Identify = @Sendable (SocketAddress) -> SMTPVMIdentity?
    /// Receives each finished transaction. Called on an event loop: must not block.
    public typealias Record = @Sendable (SMTPRelayedTransaction) -> Void

    public let configuration: SMTPRelayConfiguration
    let group: any EventLoopGroup
    let tls: SMTPRelayTLS?
    let identify: Identify
    let record: Record
    let connector: SMTPUpstreamConnector
    let connections = SMTPRelayConnections()
    let skippedFamilies = NIOLockedValueBox<[String]>([])
    public let ledger: SMTPSharedRateLedger

    public init(configuration: SMTPRelayConfiguration,
                group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
                tls: SMTPRelayTLS? = nil,
                ledger: SMTPSharedRateLedger? = nil,
                identify: @escaping Identify,
                record: @escaping Record) {
        self.configuration = configuration
        self.group = group
        self.tls = tls
        self.ledger = ledger ?? SMTPSharedRateLedger(limits: configuration.vmLimits)
        self.identify = identify
        self.record = record
        self.connector = SMTPUpstreamConnector(configuration: configuration)
    }

    /// Binds every listener, reports their addresses through `onListening`, and serves until the
    /// calling task is cancelled. Then it closes the listeners, ends every open session with
    /// `421 4.3.2` and returns once all of them are closed. Throws if a listener cannot be bound
    /// (e.g. IP_TRANSPARENT without CAP_NET_ADMIN), after closing those already bound.
    public func run(onListening: @Sendable ([SocketAddress]) -> Void = { _ in }) async throws {
        guard configuration.transparent || configuration.destinationOverride != nil else {
            // The accepted socket's local address would be this listener: we would dial ourselves.
            throw SMTPRelayServerError.noDestinationSource
        }
        let listeners = try await bindListeners()
        onListening(listeners.compactMap(\.localAddress))
        await withTaskCancellationHandler {
            for listener in listeners {
                try? await listener.closeFuture.get()
            }
        } onCancel: {
            for listener in listeners { listener.close(promise: nil) }
        }
        for listener in listeners {
            try? await listener.close()
        }
        await endOpenSessions()
    }

    /// One listener per host; with port 0 the later ones take the port the first one got, so
    /// IPv4 and IPv6 VMs reach the same port. A family the host does not have (IPv6 disabled)
    /// is skipped and listed in `skipped`; any other failure, or no listener at all, throws.
    private func bindListeners() async throws -> [any Channel] {
        var listeners: [any Channel] = []
        do {
            var port = configuration.listenPort
            for host in configuration.listenHosts {
                let address = try SocketAddress.makeAddressResolvingHost(host, port: port)
                let listener: any Channel
                do {
                    listener = try await makeBootstrap(for: address).bind(to: address).get()
                } catch let error as IOError where [EAFNOSUPPORT, EADDRNOTAVAIL].contains(error.errnoCode) {
                    skippedFamilies.withLockedValue { $0.append("\(host): \(error)") }
                    continue
                }
                listeners.append(listener)
                if port == 0, let bound = listener.localAddress?.port { port = bound }
            }
            guard !listeners.isEmpty else { throw SMTPRelayServerError.noListener(skippedFamilies.withLockedValue { $0 }) }
            return listeners
        } catch {
            for listener in listeners { try? await listener.close() }
            throw error
        }
    }

    /// Listen addresses skipped because the host lacks their family (e.g. IPv6 disabled).
    public var skipped: [String] { skippedFamilies.withLockedValue { $0 } }

    private func makeBootstrap(for address: SocketAddress) -> ServerBootstrap {
        var bootstrap = ServerBootstrap(group: group)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .serverChannelOption(.backlog, value: 256)
            .childChannelInitializer { [self] channel in
                channel.eventLoop.makeCompletedFuture { try self.setUpConnection(channel) }
            }
        if case .v6 = address {
            bootstrap = bootstrap.serverChannelOption(SMTPSocketOptions.ipv6Only, value: 1)
        }
        if configuration.transparent {
            // Must be set before bind: tproxy only assigns connections to transparent sockets.
            bootstrap = bootstrap.serverChannelOption(SMTPSocketOptions.transparent(for: address), value: 1)
        }
        return bootstrap
    }

    /// Tells every open session to end (each answers its VM 421) and waits for them to close.
    private func endOpenSessions() async {
        let open = connections.beginShutdown()
        for channel in open {
            channel.pipeline.fireUserInboundEventTriggered(SMTPRelayShutdownEvent())
        }
        for channel in open {
            try? await channel.closeFuture.get()
        }
    }
}

public enum SMTPRelayServerError: Error, Hashable, Sendable {
    /// Neither transparent mode nor a `destinationOverride`: the relay has no way to learn where a
    /// VM's connection was going.
    case noDestinationSource
    /// No listen address could be bound: every family was missing on this host.
    case noListener([String])
}
