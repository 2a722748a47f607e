/// The per-VM limits the relay enforces itself, without asking the upstream.
public struct SMTPLimits: Hashable, Sendable {
    /// RCPT commands beyond this many in one transaction get `452 4.5.3` and are not relayed.
    /// RFC 5321 4.5.3.1.8 requires servers to accept at least 100.
    public var recipientsPerMessage: Int
    /// Message text larger than this (counted as received, dot-stuffed, with CRLFs) is not completed upstream.
    public var maxMessageBytes: Int

    public init(recipientsPerMessage: Int = 100, maxMessageBytes: Int = 25 * 1024 * 1024) {
        precondition(recipientsPerMessage > 0 && maxMessageBytes > 0, "limits must be positive")
        self.recipientsPerMessage = recipientsPerMessage
        self.maxMessageBytes = maxMessageBytes
    }
}

/// How the relay treats STARTTLS.
public enum SMTPTLSMode: String, Hashable, Sendable, CaseIterable {
    /// No TLS on either leg: STARTTLS is neither advertised nor accepted.
    case off
    /// The relay terminates the VM's TLS with its own certificate and opportunistically
    /// speaks STARTTLS to the upstream itself. It sees (and limits) the message.
    case terminate
    /// The VM's STARTTLS goes to the upstream; after the upstream's 220 the relay copies bytes
    /// untouched both ways. Keeps DANE/MTA-STS working, at the price of not seeing the messages.
    case splice
}

/// Which end of the relay.
public enum SMTPLeg: String, Hashable, Sendable {
    /// The VM, which we serve.
    case client
    /// The original destination MX, whose client we are.
    case upstream
}

/// What a handler learned about a completed TLS handshake, for the transaction record.
public struct SMTPTLSInfo: Hashable, Sendable {
    public var version: String
    public var cipher: String

    public init(version: String, cipher: String) {
        self.version = version
        self.cipher = cipher
    }
}
