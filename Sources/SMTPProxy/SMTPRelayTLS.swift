import NIOCore

/// How the daemon adds TLS to the relay, which has no TLS library of its own.
///
/// Without one the server runs with `SMTPTLSMode.off`: STARTTLS is neither advertised nor accepted.
/// With one, the installers are the core's `SMTPRelayHooks.startClientTLS`/`startUpstreamTLS`: they add
/// the TLS handler to the given channel and fire `SMTPTLSEvent` when the handshake ends.
public struct SMTPRelayTLS: Sendable {
    public var mode: SMTPTLSMode
    public var startClientTLS: @Sendable (any Channel) -> Void
    public var startUpstreamTLS: @Sendable (any Channel) -> Void

    public init(mode: SMTPTLSMode, startClientTLS: @escaping @Sendable (any Channel) -> Void,
                startUpstreamTLS: @escaping @Sendable (any Channel) -> Void) {
        self.mode = mode
        self.startClientTLS = startClientTLS
        self.startUpstreamTLS = startUpstreamTLS
    }
}
