/// Everything that can happen to a relayed SMTP session, as the handlers report it.
public enum SMTPSessionEvent: Hashable, Sendable {
    /// The TCP connection to the original destination is up; its greeting is next.
    case upstreamConnected
    /// The original destination could not be reached.
    case upstreamConnectFailed
    /// One complete (possibly multi-line) reply from the upstream.
    case upstreamReply(SMTPReply)
    /// The upstream sent something that is not an SMTP reply.
    case upstreamProtocolError
    case upstreamClosed
    /// One line (or line-level error) from the VM, as `SMTPLineDecoder` framed it.
    case clientInput(SMTPInboundLine)
    case clientClosed
    case clientTLSEstablished(SMTPTLSInfo)
    case upstreamTLSEstablished(SMTPTLSInfo)
    case upstreamTLSFailed
    /// The answer to the last `.checkRate` action.
    case rateDecision(SMTPRateDecision)
    /// The timeout last armed with `.setTimeout` expired.
    case timeout
    /// The relay is stopping: end the session now with a 421 (RFC 5321 3.8), never a silent close.
    case shutdown
}
