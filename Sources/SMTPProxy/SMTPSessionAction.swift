import NIOCore

/// What a handler must do for the session, in the order given.
public enum SMTPSessionAction: Hashable, Sendable {
    case sendToClient(SMTPReply)
    /// Bytes for the upstream, CRLFs included (a command line, or one line of message text).
    case sendToUpstream(ByteBuffer)
    /// Drop every byte received from the VM and not yet framed (STARTTLS injection defence).
    case discardClientBuffer
    /// Drop every byte received from the upstream and not yet framed.
    case discardUpstreamBuffer
    /// Start the TLS server handshake on the VM's leg (the 220 has just been sent).
    case startClientTLS
    /// Start the TLS client handshake on the upstream leg (its 220 has just arrived).
    case startUpstreamTLS
    /// Frame the VM's input as message text from now on.
    case enterDataMode
    /// Frame the VM's input as commands from now on.
    case leaveDataMode
    /// Ask the rate policy, then report `.rateDecision`. No VM input is taken meanwhile.
    case checkRate(SMTPRateQuery)
    /// Stop framing: from now on copy bytes untouched in both directions (splice-mode STARTTLS).
    case splice
    case closeClient
    case closeUpstream
    /// Replace the running timer: report `.timeout` if nothing happens within `after`.
    case setTimeout(SMTPTimeoutKind, after: TimeAmount)
    case cancelTimeout
    case recordTransaction(SMTPTransactionRecord)
}

/// What the session is waiting for when a timer runs (RFC 5321 4.5.3.2).
public enum SMTPTimeoutKind: String, Hashable, Sendable {
    case initialGreeting, mail, rcpt, dataInitiation, dataBlock, dataTermination, serverCommand, otherReply

    func duration(in timeouts: SMTPTimeouts) -> TimeAmount {
        switch self {
        case .initialGreeting: timeouts.initialGreeting
        case .mail: timeouts.mail
        case .rcpt: timeouts.rcpt
        case .dataInitiation: timeouts.dataInitiation
        case .dataBlock: timeouts.dataBlock
        case .dataTermination: timeouts.dataTermination
        case .serverCommand: timeouts.serverCommand
        case .otherReply: timeouts.otherReply
        }
    }
}
