import NIOCore

/// What the submission hands the codec. Each expects exactly one reply (no pipelining), and
/// carries how long to wait for it, so the timer lives on the event loop with the bytes.
enum SMTPClientOutbound: Sendable {
    /// A command line, without CRLF.
    case command(String, replyTimeout: TimeAmount)
    /// A line that carries credentials (AUTH and its answers): sent like a command, never logged.
    case secret(String, replyTimeout: TimeAmount)
    /// STARTTLS. On a 220 reply the codec puts TLS on the connection before passing the reply
    /// on, so no plaintext the server sends after its 220 can be taken for a reply over TLS.
    case startTLS(replyTimeout: TimeAmount)
    /// The dot-stuffed message text, final dot included.
    case messageText([UInt8], replyTimeout: TimeAmount)
}

/// Why the codec gave up on the connection; the submission turns these into `SMTPSubmissionError`.
enum SMTPClientCodecError: Error, Hashable {
    case timedOut
    case lineTooLong
    case malformedReply
    /// The server sent more after its 220 to STARTTLS, in plaintext: an injection attempt
    /// (CVE-2011-0411 in reverse) or a broken server; either way nothing on this connection is trusted.
    case plaintextAfterSTARTTLS
    /// STARTTLS was asked for on a connection set up without TLS (a bug in the submitter).
    case tlsNotConfigured
}
