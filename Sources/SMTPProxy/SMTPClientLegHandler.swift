import NIOCore

/// Sits on the VM's channel: frames the VM's input, feeds the session, and carries out its actions
/// on both legs. All protocol decisions are the session's; this class only moves bytes and timers.
public final class SMTPClientLegHandler: ChannelDuplexHandler, SMTPUpstreamSink {
    public typealias InboundIn = ByteBuffer
    public typealias OutboundIn = ByteBuffer
    public typealias OutboundOut = ByteBuffer

    /// While the session takes no input (awaiting a sync-point reply), stop reading from the VM
    /// once this much is buffered, so a client that ignores RFC 2920 cannot make us hold more.
    public static let pausedBufferLimit = 64 * 1024

    public private(set) var session: SMTPSession
    let hooks: SMTPRelayHooks
    private let upstream: any SMTPUpstreamLeg
    private var context: ChannelHandlerContext?
    private var decoder = SMTPLineDecoder()
    private var buffer = ByteBuffer()
    private var timer: Scheduled<Void>?
    /// When the session's current timeout ends, and when the scheduled task will look at it.
    /// Every text line of a message moves the deadline; the task is only rescheduled when it
    /// would fire too late, so a message is not one timer cancellation per line.
    private var timeoutDeadline = NIODeadline.distantFuture
    private var timerFiresAt = NIODeadline.distantFuture
    private var readHeld = false
    private var isProcessing = false
    private var queuedEvents: [SMTPSessionEvent] = []
    /// While a read's worth of lines is processed, writes wait for one flush at the end: a
    /// 100 KB message is then a few writes, not one per line.
    private var flushDeferred = false
    /// Bytes for the upstream gathered while a read is processed (consecutive message lines
    /// become one write), handed over before anything else touches the upstream leg.
    private var pendingUpstream: ByteBuffer?

    public init(configuration: SMTPSession.Configuration, upstream: any SMTPUpstreamLeg, hooks: SMTPRelayHooks) {
        self.session = SMTPSession(configuration: configuration)
        self.upstream = upstream
        self.hooks = hooks
        upstream.sink = self
    }

    public func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
    }

    public func handlerRemoved(context: ChannelHandlerContext) {
        timer?.cancel()
        self.context = nil
    }

    public func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var bytes = Self.unwrapInboundIn(data)
        if session.isSpliced {
            upstream.write(bytes)
            upstream.flush()
            return
        }
        guard !session.isClosed else { return }
        if buffer.readableBytes == 0 {
            buffer = bytes  // message text then goes upstream as slices of this read, not copies
        } else {
            buffer.writeBuffer(&bytes)
        }
        drainClientInput()
    }

    public func channelInactive(context: ChannelHandlerContext) {
        process(.clientClosed)
        context.fireChannelInactive()
    }

    public func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if event is SMTPRelayShutdownEvent {
            process(.shutdown)
            return
        }
        switch event as? SMTPTLSEvent {
        case .established(let info):
            process(.clientTLSEstablished(info))
            drainClientInput()
        case .failed:
            process(.clientClosed)
            context.close(promise: nil)
        case nil:
            context.fireUserInboundEventTriggered(event)
        }
    }

    public func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }

    public func read(context: ChannelHandlerContext) {
        if !session.acceptsClientInput, buffer.readableBytes >= Self.pausedBufferLimit {
            readHeld = true
        } else {
            context.read()
        }
    }

    /// For whoever dials the upstream: the connection attempt failed.
    public func upstreamConnectFailed() {
        process(.upstreamConnectFailed)
    }

    private func setTimer(deadline: NIODeadline) {
        timeoutDeadline = deadline
        if timer != nil, timerFiresAt <= deadline { return }  // it will fire first and look again
        timer?.cancel()
        scheduleTimer(at: deadline)
    }

    private func scheduleTimer(at deadline: NIODeadline) {
        timerFiresAt = deadline
        timer = context?.eventLoop.assumeIsolated().scheduleTask(deadline: deadline) { [weak self] in
            guard let self else { return }
            self.timer = nil
            if let loop = self.context?.eventLoop, loop.now < self.timeoutDeadline {
                self.scheduleTimer(at: self.timeoutDeadline)
            } else {
                self.process(.timeout)
            }
        }
    }

    // MARK: SMTPUpstreamSink

    public func upstreamEvent(_ event: SMTPSessionEvent) {
        process(event)
        drainClientInput()
    }

    public func upstreamSplicedBytes(_ bytes: ByteBuffer) {
        context?.writeAndFlush(Self.wrapOutboundOut(bytes), promise: nil)
    }

    // MARK: Driving the session

    /// Frames and processes buffered VM lines for as long as the session takes them.
    private func drainClientInput() {
        guard !isProcessing else { return }
        flushDeferred = true
        while session.acceptsClientInput, let line = decoder.nextLine(from: &buffer) {
            process(.clientInput(line))
        }
        flushDeferred = false
        writePendingUpstream()
        context?.flush()
        upstream.flush()
        buffer.discardReadBytes()
        if readHeld, session.acceptsClientInput || buffer.readableBytes < Self.pausedBufferLimit {
            readHeld = false
            context?.read()
        }
    }

    /// Feeds one event to the session and carries out its actions. Events raised while actions run
    /// (closing a channel reports its closure synchronously) wait their turn instead of interleaving.
    private func process(_ event: SMTPSessionEvent) {
        queuedEvents.append(event)
        guard !isProcessing else { return }
        isProcessing = true
        defer { isProcessing = false }
        while !queuedEvents.isEmpty {
            for action in session.handle(queuedEvents.removeFirst(), now: hooks.now()) {
                if let followUp = perform(action) { queuedEvents.append(followUp) }
            }
        }
        if !flushDeferred {
            writePendingUpstream()
            context?.flush()
            upstream.flush()
        }
    }

    private func writePendingUpstream() {
        if let bytes = pendingUpstream {
            pendingUpstream = nil
            upstream.write(bytes)
        }
    }

    /// Carries out one action; returns an event that must be fed back (the rate decision).
    private func perform(_ action: SMTPSessionAction) -> SMTPSessionEvent? {
        switch action {
        case .sendToClient(let reply):
            var bytes = context?.channel.allocator.buffer(capacity: 64) ?? ByteBuffer()
            reply.write(to: &bytes)
            context?.write(Self.wrapOutboundOut(bytes), promise: nil)
        case .sendToUpstream(var bytes):
            if pendingUpstream == nil {
                pendingUpstream = bytes
            } else {
                pendingUpstream!.writeBuffer(&bytes)
            }
        case .discardClientBuffer:
            buffer.clear()
            decoder.reset()
        case .discardUpstreamBuffer:
            writePendingUpstream()
            upstream.discardBufferedInput()
        case .startClientTLS:
            // The 220 must leave in plaintext before the TLS handler takes over the channel.
            guard let context else { return nil }
            context.flush()
            buffer.clear()
            decoder = SMTPLineDecoder()
            hooks.startClientTLS(context.channel)
        case .startUpstreamTLS:
            writePendingUpstream()
            upstream.startTLS(using: hooks.startUpstreamTLS)
        case .enterDataMode:
            decoder.mode = .data
        case .leaveDataMode:
            decoder.mode = .command
        case .checkRate(let query):
            return .rateDecision(hooks.checkRate(query))
        case .splice:
            buffer.clear()
            writePendingUpstream()
            upstream.splice()
        case .closeClient:
            context?.flush()
            context?.close(promise: nil)
        case .closeUpstream:
            writePendingUpstream()
            upstream.flush()
            upstream.close()
        case .setTimeout(_, let after):
            guard let context else { return nil }
            setTimer(deadline: context.eventLoop.now + after)
        case .cancelTimeout:
            timer?.cancel()
            timer = nil
        case .recordTransaction(let record):
            hooks.record(record)
        }
        return nil
    }
}
