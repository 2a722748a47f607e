import NIOCore
import NIOPosix

/// Opens the TCP connection to a session's original destination.
///
/// In transparent mode the socket gets IP_TRANSPARENT/IPV6_TRANSPARENT and is bound to the VM's
/// address (port 0) before connecting, so the MX sees the VM, not the hypervisor, as the sender
/// (recipe section 7). Options and the bind are applied by the bootstrap before `connect`.
public struct SMTPUpstreamConnector: Sendable {
    public var transparent: Bool
    public var mark: UInt32?
    public var connectTimeout: TimeAmount

    public init(transparent: Bool, mark: UInt32?, connectTimeout: TimeAmount) {
        self.transparent = transparent
        self.mark = mark
        self.connectTimeout = connectTimeout
    }

    public init(configuration: SMTPRelayConfiguration) {
        self.init(transparent: configuration.transparent, mark: configuration.upstreamMark,
                  connectTimeout: configuration.connectTimeout)
    }

    /// Connects from `vm` to `destination` on `eventLoop` (the VM channel's loop: the core's two
    /// leg handlers call each other directly). `handler` joins the pipeline before the connection
    /// is up, so it reports `.upstreamConnected` from `channelActive` and sees the first byte.
    public func connect(to destination: SocketAddress, from vm: SocketAddress, on eventLoop: any EventLoop,
                        handler: SMTPUpstreamLegHandler) -> EventLoopFuture<any Channel> {
        let boundHandler = NIOLoopBound(handler, eventLoop: eventLoop)
        var bootstrap = ClientBootstrap(group: eventLoop)
            .connectTimeout(connectTimeout)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(boundHandler.value)
                }
            }
        if let mark {
            bootstrap = bootstrap.channelOption(SMTPSocketOptions.mark, value: SocketOptionValue(Int32(bitPattern: mark)))
        }
        if transparent {
            var source = vm
            source.port = 0
            bootstrap = bootstrap
                .channelOption(SMTPSocketOptions.transparent(for: vm), value: 1)
                .bind(to: source)
        }
        return bootstrap.connect(to: destination)
    }
}
