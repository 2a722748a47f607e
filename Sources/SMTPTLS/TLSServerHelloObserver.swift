import NIOCore

/// Sits between the socket and the NIOSSL handler and lets `TLSServerHelloParser` read the
/// server's first flight: outbound when the relay is the TLS server (VM leg), inbound when it is
/// the client (upstream leg). Passes every byte on untouched and stops looking once it knows.
final class TLSServerHelloObserver: ChannelDuplexHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    enum Side {
        /// We are the TLS server: the ServerHello is in what we write.
        case server
        /// We are the TLS client: the ServerHello is in what we read.
        case client
    }

    private let side: Side
    private var parser = TLSServerHelloParser()

    init(side: Side) {
        self.side = side
    }

    /// The suite the ServerHello named, once seen; nil if not (yet) found.
    var cipherSuite: UInt16? {
        if case .cipherSuite(let code) = parser.outcome { code } else { nil }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if side == .client, parser.outcome == nil {
            parser.feed(Self.unwrapInboundIn(data))
        }
        context.fireChannelRead(data)
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        if side == .server, parser.outcome == nil {
            parser.feed(Self.unwrapOutboundIn(data))
        }
        context.write(data, promise: promise)
    }
}
