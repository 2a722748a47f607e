import Foundation
import NIOCore

/// What the relay needs from the daemon, all called on the connection's event loop.
///
/// TLS is installed by the daemon (this target does not depend on NIOSSL): it adds its TLS
/// handler in `startClientTLS`/`startUpstreamTLS` and, once the handshake ends, fires an
/// `SMTPTLSEvent` as a user inbound event on that channel.
public struct SMTPRelayHooks {
    public var now: () -> Date
    /// Decides whether this VM may start another transaction now.
    public var checkRate: (SMTPRateQuery) -> SMTPRateDecision
    public var record: (SMTPTransactionRecord) -> Void
    public var startClientTLS: (any Channel) -> Void
    public var startUpstreamTLS: (any Channel) -> Void

    public init(now: @escaping () -> Date = Date.init,
                checkRate: @escaping (SMTPRateQuery) -> SMTPRateDecision = { _ in .allow },
                record: @escaping (SMTPTransactionRecord) -> Void,
                startClientTLS: @escaping (any Channel) -> Void,
                startUpstreamTLS: @escaping (any Channel) -> Void) {
        self.now = now
        self.checkRate = checkRate
        self.record = record
        self.startClientTLS = startClientTLS
        self.startUpstreamTLS = startUpstreamTLS
    }
}

/// Fired (as a user inbound event) on a VM's channel to end its session with a 421: the relay is stopping.
/// An event rather than a method so the server can send it from any thread through the pipeline.
public struct SMTPRelayShutdownEvent: Hashable, Sendable {
    public init() {}
}

/// Fired (as a user inbound event) by whoever runs a TLS handshake on either leg.
public enum SMTPTLSEvent: Hashable, Sendable {
    case established(SMTPTLSInfo)
    case failed
}
