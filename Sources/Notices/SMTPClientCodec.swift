import NIOCore
import NIOSSL
import SMTPProxy

/// Frames the smarthost's bytes into replies, times each wait for a reply, and puts TLS on the
/// connection at the exact point STARTTLS's 220 ends.
///
/// Doing this on the event loop rather than in the async submission is what makes STARTTLS safe:
/// by the time an async reader saw the 220, more plaintext could already have been read and
/// buffered, and would be taken for replies from inside TLS.
final class SMTPClientCodec: ChannelDuplexHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = SMTPReply
    typealias OutboundIn = SMTPClientOutbound
    typealias OutboundOut = ByteBuffer

    /// RFC 5321 4.5.3.1.5 allows reply lines of 512 octets; twice that for lenient servers, and a
    /// bound on what a hostile one makes us buffer.
    static let maxLineLength = 1024

    typealias MakeTLSHandler = @Sendable () throws -> NIOSSLClientHandler

    private let greetingTimeout: TimeAmount
    private let makeTLSHandler: MakeTLSHandler?
    private var pending = ByteBuffer()
    private var parser = SMTPReplyParser()
    private var timer: Scheduled<Void>?
    private var awaitingSTARTTLSReply = false
    private var failed = false

    /// `makeTLSHandler` is nil when TLS is off: a STARTTLS sent anyway would leave the connection
    /// in plaintext, so the codec refuses to send it.
    init(greetingTimeout: TimeAmount, makeTLSHandler: MakeTLSHandler?) {
        self.greetingTimeout = greetingTimeout
        self.makeTLSHandler = makeTLSHandler
    }

    func channelActive(context: ChannelHandlerContext) {
        arm(greetingTimeout, context: context)
        context.fireChannelActive()
    }

    func channelInactive(context: ChannelHandlerContext) {
        disarm()
        context.fireChannelInactive()
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        disarm()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !failed else { return }
        var bytes = Self.unwrapInboundIn(data)
        pending.writeBuffer(&bytes)
        while !failed, let line = nextLine(context: context) {
            let reply: SMTPReply?
            do {
                reply = try parser.feed(line)
            } catch {
                fail(.malformedReply, context: context)
                return
            }
            guard let reply else { continue }
            disarm()
            if awaitingSTARTTLSReply {
                awaitingSTARTTLSReply = false
                if reply.code == 220 {
                    guard startTLS(context: context) else { return }
                    context.fireChannelRead(Self.wrapInboundOut(reply))
                    // The read-complete for this read now comes through the TLS handler, which
                    // passes one on only with plaintext of its own: send ours, or the reply would
                    // wait in the next handler's buffer until the handshake was over.
                    context.fireChannelReadComplete()
                    return
                }
            }
            context.fireChannelRead(Self.wrapInboundOut(reply))
        }
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        let bytes: ByteBuffer
        switch Self.unwrapOutboundIn(data) {
        case .command(let line, let timeout), .secret(let line, let timeout):
            arm(timeout, context: context)
            bytes = ByteBuffer(string: line + "\r\n")
        case .startTLS(let timeout):
            guard makeTLSHandler != nil else {
                // Never sent with TLS off: after a 220 the connection could not go on in plaintext.
                promise?.fail(ChannelError.operationUnsupported)
                fail(.tlsNotConfigured, context: context)
                return
            }
            awaitingSTARTTLSReply = true
            arm(timeout, context: context)
            bytes = ByteBuffer(string: "STARTTLS\r\n")
        case .messageText(let text, let timeout):
            arm(timeout, context: context)
            bytes = ByteBuffer(bytes: text)
        }
        context.write(Self.wrapOutboundOut(bytes), promise: promise)
    }

    /// The next complete line without its line ending (CRLF, or a lenient bare LF), if there is one.
    private func nextLine(context: ChannelHandlerContext) -> [UInt8]? {
        guard let newline = pending.readableBytesView.firstIndex(of: UInt8(ascii: "\n")) else {
            if pending.readableBytes > Self.maxLineLength { fail(.lineTooLong, context: context) }
            return nil
        }
        let length = newline - pending.readerIndex
        guard length <= Self.maxLineLength else {
            fail(.lineTooLong, context: context)
            return nil
        }
        var line = pending.readBytes(length: length)!
        pending.moveReaderIndex(forwardBy: 1)
        if line.last == UInt8(ascii: "\r") { line.removeLast() }
        pending.discardReadBytes()
        return line
    }

    /// Puts the TLS handler next to the socket, ahead of this codec, so every later byte in both
    /// directions goes through it; the handshake starts at once. False if the connection was
    /// given up instead.
    private func startTLS(context: ChannelHandlerContext) -> Bool {
        guard pending.readableBytes == 0 else {
            fail(.plaintextAfterSTARTTLS, context: context)
            return false
        }
        do {
            guard let makeTLSHandler else { throw SMTPClientCodecError.tlsNotConfigured }
            try context.pipeline.syncOperations.addHandler(makeTLSHandler(), position: .first)
            return true
        } catch {
            failed = true
            context.fireErrorCaught(error)
            context.close(promise: nil)
            return false
        }
    }

    private func arm(_ timeout: TimeAmount, context: ChannelHandlerContext) {
        disarm()
        timer = context.eventLoop.assumeIsolated().scheduleTask(in: timeout) {
            self.timer = nil
            self.fail(.timedOut, context: context)
        }
    }

    private func disarm() {
        timer?.cancel()
        timer = nil
    }

    private func fail(_ error: SMTPClientCodecError, context: ChannelHandlerContext) {
        guard !failed else { return }
        failed = true
        disarm()
        context.fireErrorCaught(error)
        context.close(promise: nil)
    }
}
