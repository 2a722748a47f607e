import NIOCore

/// Answers a connection the relay will not serve with one reply, then closes it.
///
/// Used before any upstream connection exists (unknown VM, per-VM limits, shutdown), so the VM's
/// MTA learns why (4xx: retry later, 5xx: give up) instead of seeing a bare close. What the VM
/// sends meanwhile is dropped unread: none of it will be answered.
public final class SMTPRefusalHandler: ChannelInboundHandler {
    public typealias InboundIn = ByteBuffer
    public typealias OutboundOut = ByteBuffer

    private let reply: SMTPReply
    private var sent = false

    public init(reply: SMTPReply) {
        self.reply = reply
    }

    public func handlerAdded(context: ChannelHandlerContext) {
        if context.channel.isActive { refuse(context: context) }
    }

    public func channelActive(context: ChannelHandlerContext) {
        context.fireChannelActive()
        refuse(context: context)
    }

    public func channelRead(context: ChannelHandlerContext, data: NIOAny) {}

    public func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }

    private func refuse(context: ChannelHandlerContext) {
        guard !sent else { return }
        sent = true
        var bytes = context.channel.allocator.buffer(capacity: 96)
        reply.write(to: &bytes)
        let channel = context.channel
        context.writeAndFlush(Self.wrapOutboundOut(bytes)).whenComplete { _ in
            channel.close(promise: nil)
        }
    }
}
