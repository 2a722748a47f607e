import NIOCore
import SMTPProxy

/// Why a notice did not reach the smarthost, worded for the operator, and whether trying again
/// can help: the outbox retries transient failures and gives up at once on permanent ones.
///
/// Only a 5xx reply is permanent: the smarthost has said this notice will not be accepted as it
/// is. Everything else, including TLS problems, is transient: a smarthost being restarted, a
/// certificate being renewed or a network path being fixed all end without the notice changing.
public enum SMTPSubmissionError: Error, Hashable, Sendable, CustomStringConvertible {
    /// The TCP connection could not be made.
    case connectFailed(smarthost: String, reason: String)
    /// The smarthost took longer than the configured timeout to answer `step`.
    case timedOut(smarthost: String, step: SMTPSubmissionStep, after: TimeAmount)
    /// The smarthost closed the connection (or it broke) while we waited for its answer to `step`.
    case connectionLost(smarthost: String, step: SMTPSubmissionStep)
    /// The smarthost answered `step` with a failure reply (4xx or 5xx).
    case refused(smarthost: String, step: SMTPSubmissionStep, reply: SMTPReply)
    /// The smarthost's answer to `step` was not SMTP as we know it (malformed, or a success code
    /// where another was due).
    case protocolViolation(smarthost: String, step: SMTPSubmissionStep, detail: String)
    /// TLS is required but the smarthost's EHLO reply did not offer STARTTLS.
    case tlsNotOffered(smarthost: String)
    /// The TLS handshake failed: the certificate did not verify, or no protocol version or cipher
    /// was acceptable to both sides.
    case tlsFailed(smarthost: String, verify: Bool, reason: String)
    /// Credentials are configured but cannot be used on this connection: no TLS (they are never
    /// sent in plaintext), or the smarthost offers no AUTH mechanism we speak (PLAIN, LOGIN).
    case authNotPossible(smarthost: String, reason: String)
    /// The task sending the notice was cancelled (the daemon is stopping).
    case cancelled

    /// True when the smarthost refused the notice for good (a 5xx reply): retrying the same
    /// notice would be refused again, so the outbox should mark it failed and tell the operator.
    ///
    /// A refused login is not: it is about the configuration (a rotated password), not about the
    /// notice, and every notice would fail with it; they wait until the login is fixed.
    public var isPermanent: Bool {
        if case .refused(_, let step, let reply) = self, step != .auth { return reply.isPermanentFailure }
        return false
    }

    public var description: String {
        switch self {
        case .connectFailed(let smarthost, let reason):
            return "cannot connect to the smarthost \(smarthost): \(reason). Check that it is running and that this host "
                + "may reach it (address, port, firewall); the notice will be retried"
        case .timedOut(let smarthost, let step, let after):
            return "the smarthost \(smarthost) did not answer \(step) within \(after): check that it is up and not "
                + "overloaded; the notice will be retried"
        case .connectionLost(let smarthost, let step):
            return "the smarthost \(smarthost) closed the connection while we waited for its answer to \(step): "
                + "its log says why; the notice will be retried"
        case .refused(let smarthost, .auth, let reply):
            return "the smarthost \(smarthost) refused the login (\(reply.oneLine)): \(Self.remedy(for: .auth)); "
                + "notices wait and are retried until it works"
        case .refused(let smarthost, let step, let reply) where reply.isPermanentFailure:
            return "the smarthost \(smarthost) refused \(step) (\(reply.oneLine)): \(Self.remedy(for: step)); "
                + "the notice will not be retried as it is"
        case .refused(let smarthost, let step, let reply):
            return "the smarthost \(smarthost) deferred \(step) (\(reply.oneLine)): it is busy, limiting or has a "
                + "temporary problem; the notice will be retried"
        case .protocolViolation(let smarthost, let step, let detail):
            return "the smarthost \(smarthost) answered \(step) with something other than SMTP (\(detail)): check that "
                + "the configured port is an SMTP port (25 or 587, not 465, which expects TLS from the first byte); "
                + "the notice will be retried"
        case .tlsNotOffered(let smarthost):
            return "the smarthost \(smarthost) does not offer STARTTLS and tls is 'required': enable STARTTLS on the "
                + "smarthost, or set tls to 'opportunistic' or 'off' if the path to it is trusted; the notice will be retried"
        case .tlsFailed(let smarthost, let verify, let reason):
            return "TLS with the smarthost \(smarthost) failed (\(reason)): "
                + (verify ? "if its certificate is self-signed or names another host, give it a certificate for the "
                    + "configured host name, or set verify to false on a network you trust; "
                    : "check the smarthost's TLS settings (TLS 1.2 or later is required); ")
                + "the notice will be retried"
        case .authNotPossible(let smarthost, let reason):
            return "cannot log in at the smarthost \(smarthost): \(reason); the notice will be retried"
        case .cancelled:
            return "sending the notice was cancelled (the daemon is stopping); the notice will be retried"
        }
    }

    /// What the operator can change so the smarthost accepts the notice next time.
    private static func remedy(for step: SMTPSubmissionStep) -> String {
        switch step {
        case .greeting:
            "allow this host to submit mail on the smarthost (its client access rules)"
        case .ehlo, .helo:
            "set helo name to a name the smarthost accepts, usually this host's fully qualified DNS name"
        case .startTLS:
            "fix TLS on the smarthost, or set tls to 'off' if the path to it is trusted"
        case .auth:
            "check notices.email.auth (user name, password file) against the smarthost's accounts"
        case .mailFrom:
            "use a sender address the smarthost accepts from this host or account (without notices.email.auth the "
                + "smarthost must allow this host to relay by its address)"
        case .rcptTo(let address):
            "correct the contact address \(address), or allow this host to relay through the smarthost"
        case .data, .messageText:
            "the smarthost's log says why (message size, content filter)"
        case .quit:
            "none needed: QUIT comes after the notice was accepted"
        }
    }
}
