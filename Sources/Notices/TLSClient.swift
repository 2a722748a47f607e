import NIOCore
import NIOSSL

/// The client side of TLS, shared by the SMTP submitter and the webhook poster: one policy for
/// both ways a notice leaves.
struct TLSClient: Sendable {
    /// Whether the peer's certificate must chain to `trustRoots` and name the host we dialled.
    var verify: Bool
    /// The system's roots in production; tests put their self-signed certificate here.
    var trustRoots: NIOSSLTrustRoots = .default

    /// A context for one connection. Built per connection rather than kept: notices are rare, and
    /// a context made at start would miss roots the operator adds later.
    func makeContext() throws -> NIOSSLContext {
        var configuration = TLSConfiguration.makeClientConfiguration()
        configuration.minimumTLSVersion = .tlsv12
        configuration.certificateVerification = verify ? .fullVerification : .none
        configuration.trustRoots = trustRoots
        return try NIOSSLContext(configuration: configuration)
    }

    /// The name to send in SNI and check in the certificate; nil for an address literal, which
    /// SNI cannot carry (RFC 6066 3): NIOSSL then checks the certificate's IP addresses instead.
    static func serverName(for host: String) -> String? {
        let name = host.hasSuffix(".") ? String(host.dropLast()) : host
        let unbracketed = name.hasPrefix("[") && name.hasSuffix("]") ? String(name.dropFirst().dropLast()) : name
        guard !unbracketed.isEmpty, (try? SocketAddress(ipAddress: unbracketed, port: 0)) == nil else { return nil }
        return unbracketed
    }
}

/// Telling TLS failures from other connection failures, and saying what went wrong in words.
enum TLSFailure {
    /// True for errors raised by the TLS layer, except a peer that closed without a TLS goodbye,
    /// which is a lost connection like any other.
    static func isTLSError(_ error: any Error) -> Bool {
        if let error = error as? NIOSSLError, case .uncleanShutdown = error { return false }
        return error is NIOSSLError || error is BoringSSLError || error is NIOSSLExtraError
    }

    static func describe(_ error: any Error) -> String {
        let text = "\(error)"
        if text.contains("CERTIFICATE_VERIFY_FAILED") {
            return "the certificate did not verify: it is self-signed, issued by an unknown CA, or expired (\(text))"
        }
        if let error = error as? NIOSSLExtraError, error == .failedToValidateHostname {
            return "the certificate is for another name (\(text))"
        }
        return text
    }
}
