import NIOCore

/// Sits in front of `SMTPClientLegHandler` on the VM's channel and owns the upstream connection's
/// lifetime: dials once the VM's connection is active, turns a failed dial (refused, unreachable,
/// timed out, bind refused) into the core's `.upstreamConnectFailed` (so the VM gets a 421, never
/// a silent close), and closes the upstream channel when the VM's side goes away, even when that
/// happens while the dial is still under way.
final class SMTPUpstreamDialHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer

    private enum State {
        case idle
        case dialing
        case connected(any Channel)
        case clientGone
    }

    private let connector: SMTPUpstreamConnector
    private let destination: SocketAddress
    private let vm: SocketAddress
    private let upstream: SMTPUpstreamLegHandler
    private let clientLeg: SMTPClientLegHandler
    private var state = State.idle

    init(connector: SMTPUpstreamConnector, destination: SocketAddress, vm: SocketAddress,
         upstream: SMTPUpstreamLegHandler, clientLeg: SMTPClientLegHandler) {
        self.connector = connector
        self.destination = destination
        self.vm = vm
        self.upstream = upstream
        self.clientLeg = clientLeg
    }

    func handlerAdded(context: ChannelHandlerContext) {
        if context.channel.isActive { dial(context: context) }
    }

    func channelActive(context: ChannelHandlerContext) {
        context.fireChannelActive()
        dial(context: context)
    }

    func channelInactive(context: ChannelHandlerContext) {
        if case .connected(let channel) = state { channel.close(promise: nil) }
        state = .clientGone
        context.fireChannelInactive()
    }

    private func dial(context: ChannelHandlerContext) {
        guard case .idle = state else { return }
        state = .dialing
        connector.connect(to: destination, from: vm, on: context.eventLoop, handler: upstream)
            .assumeIsolated()
            .whenComplete { result in
                switch (result, self.state) {
                case (.success(let channel), .clientGone):
                    channel.close(promise: nil)
                case (.success(let channel), _):
                    self.state = .connected(channel)
                case (.failure, .clientGone):
                    break
                case (.failure, _):
                    self.state = .clientGone
                    self.clientLeg.upstreamConnectFailed()
                }
            }
    }
}
