import NIOCore

/// Why a webhook notice was not delivered, worded for the operator, and whether retrying can help.
///
/// Permanent: a 4xx other than 408 and 429 (the receiver understood and refuses this request:
/// wrong URL, wrong secret, a body it rejects) and any 3xx (the receiver has moved; redirects are
/// not followed, so a signed notice goes only where the operator pointed it). Transient:
/// everything that may pass by itself: 5xx, 408 Request Timeout, 429 Too Many Requests,
/// connection failures, timeouts, TLS failures.
///
/// Messages name the receiver by scheme, host and port only: webhook URLs often carry a token.
public enum WebhookDeliveryError: Error, Hashable, Sendable, CustomStringConvertible {
    case connectFailed(receiver: String, reason: String)
    case timedOut(receiver: String, after: TimeAmount)
    /// The connection closed before a response status arrived.
    case connectionLost(receiver: String)
    case tlsFailed(receiver: String, verify: Bool, reason: String)
    /// The receiver's answer was not HTTP/1.1 as we know it.
    case malformedResponse(receiver: String, detail: String)
    /// The receiver answered with a status other than 2xx. `bodyExcerpt` is the start of what it
    /// said, for the operator; `location` the target of a redirect.
    case refused(receiver: String, status: Int, reason: String, bodyExcerpt: String, location: String?)
    /// The task sending the notice was cancelled (the daemon is stopping).
    case cancelled

    public var isPermanent: Bool {
        guard case .refused(_, let status, _, _, _) = self else { return false }
        return (300..<500).contains(status) && status != 408 && status != 429
    }

    public var description: String {
        switch self {
        case .connectFailed(let receiver, let reason):
            return "cannot connect to the webhook receiver \(receiver): \(reason). Check the URL and that this host may "
                + "reach it (DNS, firewall, proxy); the notice will be retried"
        case .timedOut(let receiver, let after):
            return "the webhook receiver \(receiver) did not answer within \(after): check that it is up; "
                + "the notice will be retried"
        case .connectionLost(let receiver):
            return "the webhook receiver \(receiver) closed the connection before answering: its log says why; "
                + "the notice will be retried"
        case .tlsFailed(let receiver, let verify, let reason):
            return "TLS with the webhook receiver \(receiver) failed (\(reason)): "
                + (verify ? "give it a certificate from a trusted CA for its host name, or set verify to false for a "
                    + "receiver with a self-signed certificate on a network you trust; "
                    : "check that it speaks TLS 1.2 or later on that port; ")
                + "the notice will be retried"
        case .malformedResponse(let receiver, let detail):
            return "the webhook receiver \(receiver) did not answer in HTTP/1.1 (\(detail)): check that the URL's scheme "
                + "and port are right (https for a TLS port); the notice will be retried"
        case .refused(let receiver, let status, let reason, let excerpt, let location):
            let answer = "the webhook receiver \(receiver) answered \(status) \(reason)"
                + (excerpt.isEmpty ? "" : " (\(excerpt))")
            guard isPermanent else {
                return answer + ": it has a temporary problem or is limiting us; the notice will be retried"
            }
            return answer + ": " + Self.remedy(status: status, location: location) + "; the notice will not be retried"
        case .cancelled:
            return "sending the notice was cancelled (the daemon is stopping); the notice will be retried"
        }
    }

    private static func remedy(status: Int, location: String?) -> String {
        switch status {
        case 300..<400:
            "it redirects" + (location.map { " to \($0)" } ?? "") + "; configure the new URL (redirects are not "
                + "followed, so signed notices go only where configured)"
        case 401, 403:
            "check that the receiver has the same shared secret, and that this host's clock is right (receivers "
                + "reject old X-Portcullis-Timestamp values)"
        case 404, 405, 410:
            "check the webhook URL"
        case 413:
            "the receiver limits request size below this notice's; raise its limit"
        default:
            "the receiver refuses this request as sent; its log says why"
        }
    }
}
