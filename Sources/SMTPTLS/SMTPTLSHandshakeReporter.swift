import NIOCore
import NIOSSL
import NIOTLS
import SMTPProxy

/// Sits right after the NIOSSL handler and tells the relay's leg handler how the handshake ended,
/// as the core expects: one `SMTPTLSEvent.established` (version and cipher suite for the
/// transaction records) or one `.failed`.
///
/// A handshake error is turned into `.failed` and not passed on: the leg handlers close the
/// channel on any error, which would report a lost connection instead of a TLS failure. The
/// NIOSSL handler closes the channel itself after a failed handshake.
final class SMTPTLSHandshakeReporter: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer

    private let tls: NIOSSLHandler
    private let observer: TLSServerHelloObserver
    private var reported = false

    init(tls: NIOSSLHandler, observer: TLSServerHelloObserver) {
        self.tls = tls
        self.observer = observer
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if !reported, case TLSUserEvent.handshakeCompleted = event {
            reported = true
            let info = SMTPTLSInfo(version: TLSNames.version(tls.tlsVersion),
                                   cipher: TLSNames.cipherSuite(observer.cipherSuite))
            context.fireUserInboundEventTriggered(SMTPTLSEvent.established(info))
        }
        context.fireUserInboundEventTriggered(event)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        guard !reported else { return context.fireErrorCaught(error) }
        reportFailure(context: context)
    }

    func channelInactive(context: ChannelHandlerContext) {
        // NIOSSL reports an EOF during the handshake as an error first; this is the backstop.
        if !reported { reportFailure(context: context) }
        context.fireChannelInactive()
    }

    private func reportFailure(context: ChannelHandlerContext) {
        reported = true
        context.fireUserInboundEventTriggered(SMTPTLSEvent.failed)
        context.close(promise: nil)
    }
}
