/// One client command, typed. Verbs are matched case-insensitively (RFC 5321 2.4).
public enum SMTPCommand: Hashable, Sendable {
    case ehlo(domain: String)
    case helo(domain: String)
    case mail(from: SMTPReversePath, parameters: [SMTPParameter])
    case rcpt(to: SMTPMailbox, parameters: [SMTPParameter])
    case data
    case rset
    case noop
    case quit
    case startTLS
    /// VRFY, HELP, EXPN, BDAT, AUTH and anything unknown: relayed as written (or refused), never interpreted.
    case other(verb: String, arguments: String)

    /// RFC 2920 section 3.1: commands whose outcome changes what the client may send next can only be
    /// the last in a pipelined group. The session stops reading the VM until their reply arrives, so
    /// later bytes are interpreted (as commands or as message text) only once that outcome is known.
    public var isSyncPoint: Bool {
        switch self {
        case .mail, .rcpt, .rset: false
        case .ehlo, .helo, .data, .noop, .quit, .startTLS, .other: true
        }
    }
}
