import NIOCore

/// How long the relay waits for the other side, per RFC 5321 section 4.5.3.2.
///
/// The client-side values apply while we wait for the upstream MX (we are its client);
/// `serverCommand` applies while we wait for the VM's next command (we are its server).
/// The session never reads a clock: it tells the handler which timeout to arm.
public struct SMTPTimeouts: Hashable, Sendable {
    /// 4.5.3.2.1: waiting for the upstream 220 greeting.
    public var initialGreeting: TimeAmount
    /// 4.5.3.2.2: waiting for the reply to MAIL FROM.
    public var mail: TimeAmount
    /// 4.5.3.2.3: waiting for the reply to RCPT TO.
    public var rcpt: TimeAmount
    /// 4.5.3.2.4: waiting for the 354 after DATA.
    public var dataInitiation: TimeAmount
    /// 4.5.3.2.5: waiting between two blocks of message text from the VM.
    public var dataBlock: TimeAmount
    /// 4.5.3.2.6: waiting for the upstream's reply to the final dot.
    public var dataTermination: TimeAmount
    /// 4.5.3.2.7: waiting for the VM's next command (server timeout).
    public var serverCommand: TimeAmount
    /// Other upstream replies (EHLO, RSET, STARTTLS, NOOP...); RFC 5321 gives none, 5 minutes like MAIL.
    public var otherReply: TimeAmount

    /// The RFC 5321 minimums.
    public static let rfc5321 = SMTPTimeouts(
        initialGreeting: .minutes(5), mail: .minutes(5), rcpt: .minutes(5),
        dataInitiation: .minutes(2), dataBlock: .minutes(3), dataTermination: .minutes(10),
        serverCommand: .minutes(5), otherReply: .minutes(5)
    )

    public init(initialGreeting: TimeAmount, mail: TimeAmount, rcpt: TimeAmount, dataInitiation: TimeAmount,
                dataBlock: TimeAmount, dataTermination: TimeAmount, serverCommand: TimeAmount, otherReply: TimeAmount) {
        self.initialGreeting = initialGreeting
        self.mail = mail
        self.rcpt = rcpt
        self.dataInitiation = dataInitiation
        self.dataBlock = dataBlock
        self.dataTermination = dataTermination
        self.serverCommand = serverCommand
        self.otherReply = otherReply
    }
}
