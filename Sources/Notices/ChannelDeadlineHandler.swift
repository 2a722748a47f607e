import NIOCore

/// Gives a connection a fixed time from becoming active to being done, then raises
/// `ChannelDeadlineExceeded` and closes it: one bound on the TLS handshake, the request and the
/// whole response, so a receiver that trickles bytes cannot hold a notice forever.
final class ChannelDeadlineHandler: ChannelInboundHandler {
    typealias InboundIn = NIOAny

    private let timeout: TimeAmount
    private var timer: Scheduled<Void>?

    init(timeout: TimeAmount) {
        self.timeout = timeout
    }

    func handlerAdded(context: ChannelHandlerContext) {
        if context.channel.isActive { arm(context: context) }
    }

    func channelActive(context: ChannelHandlerContext) {
        arm(context: context)
        context.fireChannelActive()
    }

    func channelInactive(context: ChannelHandlerContext) {
        timer?.cancel()
        timer = nil
        context.fireChannelInactive()
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        timer?.cancel()
        timer = nil
    }

    private func arm(context: ChannelHandlerContext) {
        guard timer == nil else { return }
        timer = context.eventLoop.assumeIsolated().scheduleTask(in: timeout) {
            context.fireErrorCaught(ChannelDeadlineExceeded())
            context.close(promise: nil)
        }
    }
}

struct ChannelDeadlineExceeded: Error, Hashable {}
