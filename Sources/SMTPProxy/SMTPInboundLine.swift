import NIOCore

/// Which stray line-ending byte a line contained.
public enum SMTPBareLineEnding: String, Hashable, Sendable {
    /// A CR not followed by LF.
    case cr
    /// An LF not preceded by CR.
    case lf
    /// A NUL. Not a line ending in SMTP, but some MTAs end a line or a string at it (a smuggling
    /// vector), and neither RFC 5322 text nor 8BITMIME allows it; the relay offers no BINARYMIME.
    case nul
}

/// What `SMTPLineDecoder` produces: one event per line, typed so that nothing malformed can be
/// mistaken for a command or for message text.
public enum SMTPInboundLine: Hashable, Sendable {
    // Command mode.
    /// A command line, CRLF removed, at most 510 octets.
    case command(ByteBuffer)
    /// A command line longer than the bound; its bytes were discarded up to the next CRLF.
    case commandTooLong
    /// A command line containing a bare CR or LF. A bare LF ends such a line, so a client that
    /// ends lines with LF alone gets an error reply instead of silence.
    case commandBareLineEnding(SMTPBareLineEnding)

    // DATA mode.
    /// One or more complete lines of message text, each with its CRLF, each within the line limit,
    /// none holding a stray CR, LF or NUL and none the end of data; byte-exact and still dot-stuffed.
    /// How many lines one event holds depends on how the bytes arrived.
    case text(ByteBuffer)
    /// `.<CR><LF>` at the start of a line: the only end of the message text.
    case endOfData
    /// A text line longer than the bound; its bytes were discarded up to the next CRLF.
    case textTooLong
    /// A text line containing a bare CR or LF; discarded up to the next CRLF, never forwarded.
    case textBareLineEnding(SMTPBareLineEnding)
}
