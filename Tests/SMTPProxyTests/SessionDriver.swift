import Foundation
import NIOCore
@testable import SMTPProxy

/// Drives an `SMTPSession` directly, hiding timer actions unless asked for.
struct SessionDriver {
    var session: SMTPSession
    var records: [SMTPTransactionRecord] = []
    var lastTimeout: (SMTPTimeoutKind, TimeAmount)?
    static let epoch = Date(timeIntervalSince1970: 1_800_000_000)
    var clock = epoch

    init(mode: SMTPTLSMode = .off, limits: SMTPLimits = SMTPLimits()) {
        session = SMTPSession(configuration: .init(tlsMode: mode, limits: limits))
    }

    @discardableResult
    mutating func on(_ event: SMTPSessionEvent) -> [SMTPSessionAction] {
        clock += 1
        var visible: [SMTPSessionAction] = []
        for action in session.handle(event, now: clock) {
            switch action {
            case .setTimeout(let kind, let after): lastTimeout = (kind, after)
            case .cancelTimeout: lastTimeout = nil
            case .recordTransaction(let record): records.append(record); visible.append(action)
            default: visible.append(action)
            }
        }
        return visible
    }

    @discardableResult
    mutating func vm(_ line: String) -> [SMTPSessionAction] {
        precondition(session.acceptsClientInput, "the handler would not frame \(line) now")
        return on(.clientInput(.command(ByteBuffer(string: line))))
    }

    @discardableResult
    mutating func text(_ line: String) -> [SMTPSessionAction] {
        on(.clientInput(line == ".\r\n" ? .endOfData : .text(ByteBuffer(string: line))))
    }

    @discardableResult
    mutating func mx(_ text: String) -> [SMTPSessionAction] {
        on(.upstreamReply(try! SMTPReplyParser.parse(text + "\r\n")[0]))
    }

    /// Connected, greeted, EHLO done (upstream offers no STARTTLS).
    mutating func ready(ehlo: String = "250-mx.example.com\r\n250-PIPELINING\r\n250 8BITMIME") {
        on(.upstreamConnected)
        mx("220 mx.example.com ESMTP")
        vm("EHLO vm1.example.org")
        mx(ehlo)
    }

    /// MAIL allowed by the rate policy.
    @discardableResult
    mutating func mail(_ line: String = "MAIL FROM:<alice@vm1.example.org>") -> [SMTPSessionAction] {
        let asked = vm(line)
        guard case .checkRate = asked.last else { return asked }
        return on(.rateDecision(.allow))
    }
}

func up(_ text: String) -> SMTPSessionAction { .sendToUpstream(ByteBuffer(string: text + "\r\n")) }
func vmGets(_ text: String) -> SMTPSessionAction { .sendToClient(try! SMTPReplyParser.parse(text + "\r\n")[0]) }
