import NIOCore
import NIOPosix

/// What the fake MX saw, in order.
enum FakeMXEvent: Hashable, Sendable {
    case accepted(from: SocketAddress)
    case command(String)
    /// The message text exactly as received (still dot-stuffed), without the final `.\r\n`.
    case message([UInt8])
    /// The MX answered STARTTLS with 220 and put TLS on the connection: every later command and
    /// message arrived decrypted (the TLS handler passes on nothing else).
    case startedTLS
    /// Bytes that followed STARTTLS in the MX's buffer and were dropped, as RFC 3207 5 asks.
    case discardedAfterSTARTTLS([UInt8])
    case closed
}

/// Puts TLS on the fake MX's side of a connection: adds a TLS server handler in front of the
/// channel's handlers. A closure, so these tests need no TLS library; the SMTPTLS tests give one.
typealias FakeMXStartTLS = @Sendable (any Channel) throws -> Void

/// A tiny MTA over real TCP: greets, answers EHLO with extensions the relay must strip
/// (AUTH, XCLIENT), accepts MAIL/RCPT/DATA and records every command and message. Given a
/// `startTLS`, it also offers STARTTLS (until TLS is up) and answers it with 220.
struct FakeMX {
    let listener: any Channel
    let events: AsyncStream<FakeMXEvent>

    var address: SocketAddress { listener.localAddress! }

    /// Closes the listener (if a test has not already) and waits until it is closed.
    func stop() async {
        listener.close(promise: nil)
        try? await listener.closeFuture.get()
    }

    static let ehloReply = "250-mx.test.example\r\n250-PIPELINING\r\n250-SIZE 10240000\r\n250-8BITMIME\r\n"
        + "250-AUTH PLAIN LOGIN\r\n250 XCLIENT NAME ADDR PROTO\r\n"
    static let ehloReplyOfferingTLS = "250-mx.test.example\r\n250-PIPELINING\r\n250-SIZE 10240000\r\n250-8BITMIME\r\n"
        + "250-STARTTLS\r\n250-AUTH PLAIN LOGIN\r\n250 XCLIENT NAME ADDR PROTO\r\n"

    static func start(on group: any EventLoopGroup, host: String, startTLS: FakeMXStartTLS? = nil) async throws -> FakeMX {
        let (events, continuation) = AsyncStream<FakeMXEvent>.makeStream()
        let listener = try await ServerBootstrap(group: group)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(FakeMXHandler(events: continuation, startTLS: startTLS))
                }
            }
            .bind(host: host, port: 0).get()
        listener.closeFuture.whenComplete { _ in continuation.finish() }
        return FakeMX(listener: listener, events: events)
    }
}

final class FakeMXHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private let events: AsyncStream<FakeMXEvent>.Continuation
    private let startTLS: FakeMXStartTLS?
    private var buffer: [UInt8] = []
    private var inData = false
    private var tlsStarted = false

    init(events: AsyncStream<FakeMXEvent>.Continuation, startTLS: FakeMXStartTLS? = nil) {
        self.events = events
        self.startTLS = startTLS
    }

    func channelActive(context: ChannelHandlerContext) {
        events.yield(.accepted(from: context.remoteAddress!))
        send("220 mx.test.example ESMTP FakeMX\r\n", context: context)
    }

    func channelInactive(context: ChannelHandlerContext) {
        events.yield(.closed)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        buffer += Self.unwrapInboundIn(data).readableBytesView
        while step(context: context) {}
    }

    /// Handles one complete command or message from the buffer; false when more bytes are needed.
    private func step(context: ChannelHandlerContext) -> Bool {
        if inData {
            let end: [UInt8] = Array("\r\n.\r\n".utf8)
            if buffer.starts(with: Array(".\r\n".utf8)) {
                buffer.removeFirst(3)
                return endMessage([], context: context)
            }
            guard let at = buffer.firstRange(of: end) else { return false }
            let text = Array(buffer[..<(at.lowerBound + 2)])
            buffer.removeSubrange(..<at.upperBound)
            return endMessage(text, context: context)
        }
        guard let at = buffer.firstRange(of: Array("\r\n".utf8)) else { return false }
        let line = String(decoding: buffer[..<at.lowerBound], as: UTF8.self)
        buffer.removeSubrange(..<at.upperBound)
        events.yield(.command(line))
        let verb = line.prefix(while: { $0 != " " && $0 != ":" }).uppercased()
        switch verb {
        case "EHLO":
            send(startTLS != nil && !tlsStarted ? FakeMX.ehloReplyOfferingTLS : FakeMX.ehloReply, context: context)
        case "STARTTLS" where startTLS != nil && !tlsStarted:
            send("220 2.0.0 Ready to start TLS\r\n", context: context)
            // RFC 3207 5: whatever the client pipelined after STARTTLS is not taken as a command.
            if !buffer.isEmpty { events.yield(.discardedAfterSTARTTLS(buffer)) }
            buffer.removeAll()
            tlsStarted = true
            do {
                try startTLS?(context.channel)
                events.yield(.startedTLS)
            } catch {
                context.close(promise: nil)
            }
            return false
        case "HELO": send("250 mx.test.example\r\n", context: context)
        case "MAIL": send("250 2.1.0 Ok\r\n", context: context)
        case "RCPT": send("250 2.1.5 Ok\r\n", context: context)
        case "DATA":
            inData = true
            send("354 End data with <CR><LF>.<CR><LF>\r\n", context: context)
        case "RSET", "NOOP": send("250 2.0.0 Ok\r\n", context: context)
        case "QUIT":
            send("221 2.0.0 Bye\r\n", context: context)
            context.close(promise: nil)
            return false
        default: send("502 5.5.1 Command not implemented\r\n", context: context)
        }
        return true
    }

    private func endMessage(_ text: [UInt8], context: ChannelHandlerContext) -> Bool {
        inData = false
        events.yield(.message(text))
        send("250 2.0.0 Ok: queued as FAKE1\r\n", context: context)
        return true
    }

    private func send(_ text: String, context: ChannelHandlerContext) {
        context.writeAndFlush(Self.wrapOutboundOut(ByteBuffer(string: text)), promise: nil)
    }
}
