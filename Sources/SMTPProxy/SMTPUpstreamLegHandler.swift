import NIOCore

/// What the client leg needs from the upstream leg. A protocol so the client leg can be tested
/// against a fake, and so the upstream connection can be made however the daemon likes.
public protocol SMTPUpstreamLeg: AnyObject {
    /// Where upstream events and (after a splice) raw upstream bytes go.
    var sink: (any SMTPUpstreamSink)? { get set }
    func write(_ bytes: ByteBuffer)
    func flush()
    func discardBufferedInput()
    /// Flush, forget buffered plaintext, and let `install` add the TLS handler to the upstream channel.
    func startTLS(using install: (any Channel) -> Void)
    /// From now on hand every received byte to `sink.upstreamSplicedBytes` untouched.
    func splice()
    func close()
}

/// The client leg, as the upstream leg sees it.
public protocol SMTPUpstreamSink: AnyObject {
    func upstreamEvent(_ event: SMTPSessionEvent)
    func upstreamSplicedBytes(_ bytes: ByteBuffer)
}

/// Sits on the channel to the original destination: frames its replies and reports them.
/// Must run on the same event loop as the client leg.
public final class SMTPUpstreamLegHandler: ChannelInboundHandler, SMTPUpstreamLeg {
    public typealias InboundIn = ByteBuffer
    public typealias OutboundOut = ByteBuffer

    public weak var sink: (any SMTPUpstreamSink)?
    private var context: ChannelHandlerContext?
    /// Reply lines are 512 octets per RFC 5321 4.5.3.1.5; some servers send longer text, so allow 1000.
    private var decoder = SMTPLineDecoder(commandLineLimit: 1000)
    private var parser = SMTPReplyParser()
    private var buffer = ByteBuffer()
    private var spliced = false
    private var failed = false

    public init() {}

    public func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        if context.channel.isActive { sink?.upstreamEvent(.upstreamConnected) }
    }

    public func handlerRemoved(context: ChannelHandlerContext) {
        self.context = nil
    }

    public func channelActive(context: ChannelHandlerContext) {
        sink?.upstreamEvent(.upstreamConnected)
        context.fireChannelActive()
    }

    public func channelInactive(context: ChannelHandlerContext) {
        sink?.upstreamEvent(.upstreamClosed)
        context.fireChannelInactive()
    }

    public func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var bytes = Self.unwrapInboundIn(data)
        if spliced {
            sink?.upstreamSplicedBytes(bytes)
            return
        }
        buffer.writeBuffer(&bytes)
        while !failed, !spliced, let line = decoder.nextLine(from: &buffer) {
            deliver(line)
        }
        buffer.discardReadBytes()
    }

    private func deliver(_ line: SMTPInboundLine) {
        guard case .command(let bytes) = line else {
            return protocolError()
        }
        do {
            if let reply = try parser.feed(bytes.readableBytesView) {
                sink?.upstreamEvent(.upstreamReply(reply))
            }
        } catch {
            protocolError()
        }
    }

    private func protocolError() {
        failed = true
        buffer.clear()
        sink?.upstreamEvent(.upstreamProtocolError)
    }

    public func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        switch event as? SMTPTLSEvent {
        case .established(let info): sink?.upstreamEvent(.upstreamTLSEstablished(info))
        case .failed: sink?.upstreamEvent(.upstreamTLSFailed)
        case nil: context.fireUserInboundEventTriggered(event)
        }
    }

    public func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }

    // MARK: SMTPUpstreamLeg

    public func write(_ bytes: ByteBuffer) {
        context?.write(Self.wrapOutboundOut(bytes), promise: nil)
    }

    public func flush() {
        context?.flush()
    }

    public func discardBufferedInput() {
        buffer.clear()
        decoder.reset()
        parser = SMTPReplyParser()
    }

    public func startTLS(using install: (any Channel) -> Void) {
        guard let context else { return }
        context.flush()
        // A fresh decoder for what arrives decrypted; nothing from before the handshake is kept.
        discardBufferedInput()
        install(context.channel)
    }

    public func splice() {
        spliced = true
        if buffer.readableBytes > 0 {
            sink?.upstreamSplicedBytes(buffer)
            buffer.clear()
        }
    }

    public func close() {
        guard let context else { return }
        context.flush()
        context.close(promise: nil)
    }
}
