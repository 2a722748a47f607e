import NIOCore
import PortcullisCore

extension SMTPSession {
    /// Verbs relayed although the session does not interpret them. Everything else that is not a
    /// typed command (AUTH, BDAT, XCLIENT, XFORWARD, ETRN, ...) is refused here: the VM must not
    /// reach upstream extensions that the EHLO filter does not advertise.
    static let relayedOtherVerbs: Set<String> = ["VRFY", "EXPN", "HELP"]

    mutating func commandInput(_ line: SMTPInboundLine) {
        switch line {
        case .commandTooLong:
            reply(.lineTooLong)
        case .commandBareLineEnding:
            reply(.bareLineEndingInCommand)
        case .command(let bytes):
            do {
                let parsed = try SMTPCommandLine(parsing: bytes.readableBytesView)
                if phase == .upstreamAborted {
                    afterAbort(parsed)
                } else {
                    command(parsed)
                }
            } catch {
                switch error {
                case .unrecognized: reply(.unrecognized)
                case .badArguments: reply(.badArguments)
                }
            }
        case .text, .endOfData, .textTooLong, .textBareLineEnding:
            // The handler frames in the mode the session asked for; anything else is a wiring bug.
            fail(with: .serviceUnavailable("Internal error, closing connection"))
        }
    }

    private mutating func relay(_ line: SMTPCommandLine, as relayed: Relayed) {
        sendUpstream(line.text)
        pending.append(.relayed(relayed))
    }

    private mutating func command(_ line: SMTPCommandLine) {
        switch line.command {
        case .ehlo(let domain):
            endTransaction(.aborted)  // RFC 5321 4.1.4: EHLO resets the transaction
            relay(line, as: .ehlo(domain))
        case .helo(let domain):
            endTransaction(.aborted)
            relay(line, as: .helo(domain))
        case .mail(let sender, let parameters):
            guard clientGreeted else { return reply(.badSequence) }
            guard transaction == nil else { return reply(.badSequence) }
            if let size = parameters.declaredSize, size > configuration.limits.maxMessageBytes {
                // RFC 1870 6.1: refuse a declared size over the limit at MAIL, 552 5.3.4.
                record(SMTPTransactionRecord(ehloName: ehloName, sender: sender, verdict: .sizeExceeded,
                                             startedAt: now, endedAt: now))
                return reply(.messageTooBig)
            }
            mailAwaitingRate = line
            actions.append(.checkRate(SMTPRateQuery(sender: sender, ehloName: ehloName)))
        case .rcpt(let mailbox, _):
            if var current = transaction {
                guard current.recipientsRelayed < configuration.limits.recipientsPerMessage else {
                    current.recipientsRefusedByLimit += 1
                    transaction = current
                    return reply(.tooManyRecipients)
                }
                current.recipientsRelayed += 1
                transaction = current
            }
            // Without a transaction the upstream answers 503 itself; the VM learns the real sequence rules.
            relay(line, as: .rcpt(mailbox))
        case .data:
            relay(line, as: .data)
        case .rset:
            endTransaction(.aborted)
            relay(line, as: .rset)
        case .noop:
            relay(line, as: .noop)
        case .quit:
            endTransaction(.aborted)
            relay(line, as: .quit)
        case .startTLS:
            startTLS(line)
        case .other(let verb, _):
            guard Self.relayedOtherVerbs.contains(verb) else { return reply(.notImplemented) }
            relay(line, as: .other)
        }
    }

    private mutating func startTLS(_ line: SMTPCommandLine) {
        switch configuration.tlsMode {
        case .off:
            reply(.notImplemented)
        case .splice:
            relay(line, as: .startTLSSplice)
        case .terminate:
            guard clientTLS == nil, transaction == nil else { return reply(.badSequence) }
            if pending.isEmpty {
                beginClientTLS()
            } else {
                // The 220 must follow the replies still owed; the handler reads nothing more meanwhile,
                // and whatever arrives before the handshake is discarded with the 220.
                clientStartTLSHeld = true
            }
        }
    }

    /// After we closed the upstream to stop a message, the session can only end.
    private mutating func afterAbort(_ line: SMTPCommandLine) {
        if line.command == .quit {
            send(.closing)
            closeBoth()
        } else {
            fail(with: .serviceUnavailable("Upstream session ended after the rejected message, closing connection"))
        }
    }

    mutating func rateDecided(_ decision: SMTPRateDecision) {
        guard let line = mailAwaitingRate, case .mail(let sender, _) = line.command else {
            return fail(with: .serviceUnavailable("Internal error, closing connection"))
        }
        mailAwaitingRate = nil
        switch decision {
        case .allow:
            transaction = Transaction(sender: sender, startedAt: now)
            relay(line, as: .mail)
        case .deny(let reason):
            record(SMTPTransactionRecord(ehloName: ehloName, sender: sender, clientTLS: clientTLS, upstreamTLS: upstreamTLS,
                                         verdict: .rateLimited, startedAt: now, endedAt: now))
            reply(.rateLimited(reason))
        }
    }
}
