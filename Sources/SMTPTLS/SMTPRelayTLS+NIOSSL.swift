import Foundation
import NIOCore
import NIOSSL
import SMTPProxy

extension SMTPRelayTLS {
    /// The relay's TLS for `mode`, or nil for `.off` (the server then neither offers nor accepts
    /// STARTTLS). Only `.terminate` needs a certificate: `source` is read (or the self-signed one
    /// generated) only then, so a splice-mode relay never writes key files.
    public static func make(mode: SMTPTLSMode, certificate source: SMTPTLSCertificateSource,
                            upstreamServerName: @escaping @Sendable (SocketAddress) -> String? = { _ in nil },
                            now: Date = Date()) throws(SMTPTLSCertificateError) -> SMTPRelayTLS? {
        switch mode {
        case .off:
            return nil
        case .splice:
            return splicing()
        case .terminate:
            return try terminating(certificate: SMTPTLSCertificate(source: source, now: now),
                                   upstreamServerName: upstreamServerName)
        }
    }

    /// Terminate mode: the relay is the VM's TLS server with `certificate`, and the upstream's
    /// opportunistic TLS client.
    ///
    /// The upstream leg does not verify the MX's certificate: opportunistic STARTTLS (RFC 3207,
    /// RFC 7435) protects against passive listening only, and MTAs do not verify by default
    /// because most MX certificates would not pass; refusing them would bounce mail that plaintext
    /// would deliver. It sends SNI when `upstreamServerName` knows the destination's name (a
    /// smarthost); the transparent relay knows only the MX's address, and then sends none. Both
    /// legs refuse anything older than TLS 1.2.
    public static func terminating(certificate: SMTPTLSCertificate,
                                   upstreamServerName: @escaping @Sendable (SocketAddress) -> String? = { _ in nil })
        throws(SMTPTLSCertificateError) -> SMTPRelayTLS {
        let serverContext: NIOSSLContext
        let clientContext: NIOSSLContext
        do {
            var server = TLSConfiguration.makeServerConfiguration(
                certificateChain: certificate.chain.map { .certificate($0) },
                privateKey: .privateKey(certificate.privateKey))
            server.minimumTLSVersion = .tlsv12
            serverContext = try NIOSSLContext(configuration: server)
            var client = TLSConfiguration.makeClientConfiguration()
            client.certificateVerification = .none
            client.minimumTLSVersion = .tlsv12
            clientContext = try NIOSSLContext(configuration: client)
        } catch {
            throw .rejectedByTLSLibrary(certificatePath: certificate.certificatePath, keyPath: certificate.keyPath,
                                        reason: "\(error)")
        }
        return SMTPRelayTLS(
            mode: .terminate,
            startClientTLS: { channel in
                SMTPTLSInstaller.install(on: channel, side: .server) { NIOSSLServerHandler(context: serverContext) }
            },
            startUpstreamTLS: { channel in
                let name = channel.remoteAddress.flatMap(upstreamServerName).flatMap(SMTPTLSInstaller.sniName)
                SMTPTLSInstaller.install(on: channel, side: .client) {
                    try NIOSSLClientHandler(context: clientContext, serverHostname: name)
                }
            }
        )
    }

    /// Splice mode: the VM's STARTTLS goes to the MX and the relay copies the TLS bytes both ways,
    /// so it never runs a handshake and the core never calls these installers (it splices after
    /// the MX's 220 instead). Should one be called anyway, it closes the channel: never plaintext.
    public static func splicing() -> SMTPRelayTLS {
        SMTPRelayTLS(mode: .splice,
                     startClientTLS: { $0.close(promise: nil) },
                     startUpstreamTLS: { $0.close(promise: nil) })
    }
}
