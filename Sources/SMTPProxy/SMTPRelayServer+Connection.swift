import Foundation
import NIOCore

extension SMTPRelayServer {
    static let rateLimitReason = "Too many messages from this VM, try again later"

    /// Assembles one VM connection's pipeline, on its event loop, before it becomes active.
    ///
    /// Order of checks: who is it (unknown: 554), are we stopping (421), per-VM session and
    /// connection limits (421 4.7.0); only then is the upstream dialled, so a refused VM never
    /// causes a connection to the destination.
    func setUpConnection(_ channel: any Channel) throws {
        let pipeline = channel.pipeline.syncOperations
        guard let client = channel.remoteAddress, let vm = identify(client) else {
            return try pipeline.addHandler(SMTPRefusalHandler(reply: .unknownSource))
        }
        // TPROXY keeps the VM's destination as the accepted socket's local address.
        guard let destination = configuration.destinationOverride ?? channel.localAddress else {
            return try pipeline.addHandler(SMTPRefusalHandler(reply: .noDestination))
        }
        guard connections.register(channel) else {
            return try pipeline.addHandler(SMTPRefusalHandler(reply: .shuttingDown))
        }
        switch ledger.openSession(for: vm) {
        case .tooManySessions:
            return try pipeline.addHandler(SMTPRefusalHandler(reply: .tooManySessions))
        case .tooManyConnections:
            return try pipeline.addHandler(SMTPRefusalHandler(reply: .tooManyConnections))
        case .admitted:
            channel.closeFuture.whenComplete { [ledger] _ in ledger.closeSession(for: vm) }
        }

        let upstream = SMTPUpstreamLegHandler()
        let clientLeg = SMTPClientLegHandler(
            configuration: SMTPSession.Configuration(tlsMode: tls?.mode ?? .off, limits: configuration.limits,
                                                     timeouts: configuration.timeouts),
            upstream: upstream,
            hooks: makeHooks(vm: vm, client: client, destination: destination)
        )
        try pipeline.addHandlers([
            SMTPUpstreamDialHandler(connector: connector, destination: destination, vm: client,
                                    upstream: upstream, clientLeg: clientLeg),
            clientLeg,
        ])
    }

    private func makeHooks(vm: SMTPVMIdentity, client: SocketAddress, destination: SocketAddress) -> SMTPRelayHooks {
        let ledger = self.ledger
        let record = self.record
        // With TLS mode .off the session never asks for a handshake; if it ever did, closing is the
        // only answer that cannot leak plaintext.
        let refuseTLS: (any Channel) -> Void = { $0.close(promise: nil) }
        let startClientTLS: (any Channel) -> Void = tls.map { tls in { tls.startClientTLS($0) } } ?? refuseTLS
        let startUpstreamTLS: (any Channel) -> Void = tls.map { tls in { tls.startUpstreamTLS($0) } } ?? refuseTLS
        return SMTPRelayHooks(
            now: Date.init,
            checkRate: { _ in ledger.admitMessage(for: vm) ? .allow : .deny(reason: Self.rateLimitReason) },
            record: { record(SMTPRelayedTransaction(record: $0, vm: vm, client: client, destination: destination)) },
            startClientTLS: startClientTLS,
            startUpstreamTLS: startUpstreamTLS
        )
    }
}
