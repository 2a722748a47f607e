import NIOCore

/// An RFC 3463 enhanced status code, e.g. `4.7.1`.
public struct SMTPEnhancedStatus: Hashable, Sendable, CustomStringConvertible {
    public let statusClass: Int
    public let subject: Int
    public let detail: Int

    public init(_ statusClass: Int, _ subject: Int, _ detail: Int) {
        self.statusClass = statusClass
        self.subject = subject
        self.detail = detail
    }

    /// Reads `c.s.d` at the start of reply text (RFC 2034: `class "." subject "." detail SP`).
    init?(prefixOf text: Substring) {
        let token = text.prefix(while: { $0 != " " })
        let parts = token.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 3, parts.allSatisfy({ (1...3).contains($0.count) && $0.allSatisfy(\.isASCII) }),
              let c = Int(parts[0]), [2, 4, 5].contains(c), parts[0].count == 1,
              let s = Int(parts[1]), let d = Int(parts[2]) else { return nil }
        self.init(c, s, d)
    }

    public var description: String { "\(statusClass).\(subject).\(detail)" }
}

/// One SMTP reply: a code and one or more lines of text (RFC 5321 4.2).
///
/// Upstream replies are parsed into this and re-rendered for the VM, so nothing the upstream
/// sends reaches the VM except well-formed reply lines.
public struct SMTPReply: Hashable, Sendable, CustomStringConvertible {
    /// 200-599.
    public let code: Int
    /// The text of each line, after `ddd-` / `ddd ` (may include the enhanced status code).
    public let lines: [String]

    public init(code: Int, lines: [String]) {
        precondition((200...599).contains(code) && !lines.isEmpty, "SMTP reply codes are 2yz-5yz with at least one line")
        self.code = code
        self.lines = lines
    }

    /// A single-line reply we generate ourselves, with an enhanced status code.
    public init(code: Int, _ status: SMTPEnhancedStatus, _ text: String) {
        precondition(status.statusClass == code / 100, "enhanced status class must match the reply code")
        self.init(code: code, lines: ["\(status) \(text)"])
    }

    /// The enhanced status code on the first line, if the upstream (or we) sent one.
    public var enhancedStatus: SMTPEnhancedStatus? {
        SMTPEnhancedStatus(prefixOf: lines[0][...]).flatMap { $0.statusClass == code / 100 ? $0 : nil }
    }

    public var isPositiveCompletion: Bool { (200..<300).contains(code) }
    public var isPositiveIntermediate: Bool { (300..<400).contains(code) }
    public var isTransientFailure: Bool { (400..<500).contains(code) }
    public var isPermanentFailure: Bool { (500..<600).contains(code) }

    /// `250-first\r\n250 last\r\n`.
    public var description: String {
        lines.enumerated().map { index, line in
            "\(code)\(index == lines.count - 1 ? " " : "-")\(line)\r\n"
        }.joined()
    }

    public func write(to buffer: inout ByteBuffer) {
        buffer.writeString(description)
    }
}

/// The replies the relay generates itself, in one place so every code is reviewed together.
extension SMTPReply {
    public static let readyToStartTLS = SMTPReply(code: 220, SMTPEnhancedStatus(2, 0, 0), "Ready to start TLS")
    public static let closing = SMTPReply(code: 221, SMTPEnhancedStatus(2, 0, 0), "Bye")
    public static func serviceUnavailable(_ text: String) -> SMTPReply {
        SMTPReply(code: 421, SMTPEnhancedStatus(4, 4, 2), text)
    }
    public static let upstreamUnreachable = serviceUnavailable("Upstream mail server unreachable, try again later")
    public static let upstreamLost = serviceUnavailable("Connection to upstream mail server lost, try again later")
    public static let upstreamProtocolError = serviceUnavailable("Upstream mail server protocol error, try again later")
    public static let upstreamTLSFailed = SMTPReply(code: 421, SMTPEnhancedStatus(4, 7, 0), "TLS with upstream mail server failed, try again later")
    public static let timeout = serviceUnavailable("Timeout, closing connection")
    /// RFC 3463 X.3.2: the system is not accepting network messages (we are stopping).
    public static let shuttingDown = SMTPReply(code: 421, SMTPEnhancedStatus(4, 3, 2), "Relay shutting down, try again later")
    /// The relay does not know the connecting address as one of its VMs.
    public static let unknownSource = SMTPReply(code: 554, SMTPEnhancedStatus(5, 7, 1), "Relay access denied: unknown source address")
    public static let tooManySessions = SMTPReply(code: 421, SMTPEnhancedStatus(4, 7, 0),
                                                  "Too many concurrent sessions from this VM, try again later")
    public static let tooManyConnections = SMTPReply(code: 421, SMTPEnhancedStatus(4, 7, 0),
                                                     "Too many connections from this VM, try again later")
    /// The original destination of the connection could not be determined.
    public static let noDestination = serviceUnavailable("Original destination unknown, closing connection")
    public static func rateLimited(_ reason: String) -> SMTPReply {
        SMTPReply(code: 451, SMTPEnhancedStatus(4, 7, 1), reason)
    }
    public static let tooManyRecipients = SMTPReply(code: 452, SMTPEnhancedStatus(4, 5, 3), "Too many recipients")
    public static let tlsNotAvailable = SMTPReply(code: 454, SMTPEnhancedStatus(4, 7, 0), "TLS not available")
    public static let lineTooLong = SMTPReply(code: 500, SMTPEnhancedStatus(5, 5, 2), "Line too long")
    public static let textLineTooLong = SMTPReply(code: 500, SMTPEnhancedStatus(5, 5, 2),
                                                  "Line too long: message text lines are limited to 1000 octets")
    public static let unrecognized = SMTPReply(code: 500, SMTPEnhancedStatus(5, 5, 2), "Syntax error, command unrecognized")
    public static let bareLineEndingInCommand = SMTPReply(code: 500, SMTPEnhancedStatus(5, 5, 2),
                                                          "Syntax error: bare <CR> or <LF> received")
    public static let badArguments = SMTPReply(code: 501, SMTPEnhancedStatus(5, 5, 4), "Syntax error in parameters or arguments")
    public static let notImplemented = SMTPReply(code: 502, SMTPEnhancedStatus(5, 5, 1), "Command not implemented")
    public static let badSequence = SMTPReply(code: 503, SMTPEnhancedStatus(5, 5, 1), "Bad sequence of commands")
    public static let bareLineEndingInMessage = SMTPReply(code: 550, SMTPEnhancedStatus(5, 6, 0),
                                                          "Message rejected: bare <CR>, <LF> or NUL in message text")
    public static let messageTooBig = SMTPReply(code: 552, SMTPEnhancedStatus(5, 3, 4),
                                                "Message size exceeds fixed maximum message size")
}
