/// Why a command line could not be parsed; the session answers 500 or 501.
public enum SMTPSyntaxError: Error, Hashable, Sendable {
    /// Not UTF-8, a control character, or no verb: `500 5.5.2`.
    case unrecognized
    /// A known verb with arguments we cannot read: `501 5.5.4`.
    case badArguments(verb: String)
}

/// A parsed command plus the exact text it came from, which is what gets relayed upstream.
public struct SMTPCommandLine: Hashable, Sendable {
    /// The line as received, without its CRLF.
    public let text: String
    public let command: SMTPCommand

    /// Parses one command line. `bytes` must not contain the terminating CRLF.
    public init(parsing bytes: some Collection<UInt8>) throws(SMTPSyntaxError) {
        // Control characters (CR, LF, NUL, ...) are refused: we forward `text` upstream verbatim.
        guard bytes.allSatisfy({ $0 >= 0x20 && $0 != 0x7F || $0 == 0x09 }),
              let text = String(validating: bytes, as: UTF8.self) else {
            throw .unrecognized
        }
        try self.init(text: text)
    }

    public init(text: String) throws(SMTPSyntaxError) {
        guard !text.contains(where: { $0.isNewline }) else { throw .unrecognized }
        self.text = text
        let verbEnd = text.firstIndex(of: " ") ?? text.endIndex
        let verb = text[..<verbEnd].uppercased()
        let rest = text[verbEnd...].drop(while: { $0 == " " })
        guard !verb.isEmpty, verb.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber) }) else { throw .unrecognized }
        switch verb {
        case "EHLO", "HELO":
            let domain = rest.trimmingSuffix(" ")
            guard !domain.isEmpty, !domain.contains(" ") else { throw .badArguments(verb: verb) }
            command = verb == "EHLO" ? .ehlo(domain: String(domain)) : .helo(domain: String(domain))
        case "MAIL":
            guard let (path, parameters) = Self.pathAndParameters(rest, prefix: "FROM:") else { throw .badArguments(verb: verb) }
            if path.isEmpty {
                command = .mail(from: .null, parameters: parameters)
            } else if let mailbox = SMTPMailbox(parsing: path) {
                command = .mail(from: .mailbox(mailbox), parameters: parameters)
            } else {
                throw .badArguments(verb: verb)
            }
        case "RCPT":
            guard let (path, parameters) = Self.pathAndParameters(rest, prefix: "TO:"),
                  let mailbox = SMTPMailbox(parsing: path) else { throw .badArguments(verb: verb) }
            command = .rcpt(to: mailbox, parameters: parameters)
        case "DATA", "RSET", "QUIT", "STARTTLS":
            // RFC 5321 4.1.1.4/5/10 and RFC 3207: these take no arguments.
            guard rest.trimmingSuffix(" ").isEmpty else { throw .badArguments(verb: verb) }
            command = switch verb {
            case "DATA": .data
            case "RSET": .rset
            case "QUIT": .quit
            default: .startTLS
            }
        case "NOOP":
            command = .noop  // NOOP may carry a string, which is ignored (4.1.1.9).
        default:
            command = .other(verb: verb, arguments: String(rest))
        }
    }

    /// Splits `FROM:<path> PARAM=x PARAM2` into the text between the brackets (source route removed)
    /// and the parameters. A space after the colon is tolerated, as most servers do.
    private static func pathAndParameters(_ rest: Substring, prefix: String) -> (Substring, [SMTPParameter])? {
        guard rest.count > prefix.count, rest.prefix(prefix.count).uppercased() == prefix else { return nil }
        let afterColon = rest.dropFirst(prefix.count).drop(while: { $0 == " " })
        guard afterColon.first == "<", let close = afterColon.firstIndex(of: ">") else { return nil }
        var path = afterColon[afterColon.index(after: afterColon.startIndex)..<close]
        if path.first == "@" {
            // RFC 5321 4.1.1.3 / C: a source route "@a,@b:" must be accepted and ignored.
            guard let colon = path.firstIndex(of: ":") else { return nil }
            path = path[path.index(after: colon)...]
        }
        guard !path.contains("<"), !path.contains(" ") || path.first == "\"" else { return nil }
        let tail = afterColon[afterColon.index(after: close)...]
        guard tail.isEmpty || tail.first == " " else { return nil }
        var parameters: [SMTPParameter] = []
        for word in tail.split(separator: " ") {
            let parts = word.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            guard let keyword = parts.first, !keyword.isEmpty,
                  keyword.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-") }) else { return nil }
            parameters.append(SMTPParameter(keyword: String(keyword), value: parts.count == 2 ? String(parts[1]) : nil))
        }
        return (path, parameters)
    }
}

extension Substring {
    fileprivate func trimmingSuffix(_ character: Character) -> Substring {
        var result = self
        while result.last == character { result = result.dropLast() }
        return result
    }
}
