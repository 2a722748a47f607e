import NIOCore
import NIOSSL
import SMTPProxy

/// Puts TLS on one leg's channel, mid-stream, where the core asks for it.
enum SMTPTLSInstaller {
    /// Adds, in front of everything the relay has on `channel` (so the leg handlers keep seeing
    /// plaintext): the ServerHello observer next to the socket, then the NIOSSL handler, then the
    /// reporter that turns the handshake's end into an `SMTPTLSEvent`.
    ///
    /// Called by the leg handler on the channel's event loop, after it flushed its last plaintext
    /// (our 220, or the upstream's STARTTLS) and dropped any buffered input. The NIOSSL handler
    /// starts its handshake as soon as it is added to the active channel, so the observer and the
    /// reporter are in place first.
    static func install(on channel: any Channel, side: TLSServerHelloObserver.Side,
                        makeHandler: () throws -> NIOSSLHandler) {
        do {
            let tls = try makeHandler()
            let observer = TLSServerHelloObserver(side: side)
            let reporter = SMTPTLSHandshakeReporter(tls: tls, observer: observer)
            let pipeline = channel.pipeline.syncOperations
            try pipeline.addHandler(reporter, position: .first)
            try pipeline.addHandler(observer, position: .first)
            try pipeline.addHandler(tls, position: .after(observer))
        } catch {
            channel.pipeline.fireUserInboundEventTriggered(SMTPTLSEvent.failed)
            channel.close(promise: nil)
        }
    }

    /// SNI carries host names only (RFC 6066 3): an address literal or an empty name means none.
    static func sniName(_ name: String) -> String? {
        let trimmed = name.hasSuffix(".") ? String(name.dropLast()) : name
        guard !trimmed.isEmpty, trimmed.utf8.count <= 255, (try? SocketAddress(ipAddress: trimmed, port: 0)) == nil else {
            return nil
        }
        return trimmed
    }
}
