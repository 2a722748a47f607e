import Foundation
import NIOCore
import PortcullisCore

/// The relay's protocol logic for one VM connection, as a plain value.
///
/// Handlers report events; the session answers with actions and holds no channel, clock or
/// policy object, so every protocol decision is testable without a network (the style of
/// NIOTypedHTTPServerUpgraderStateMachine). The relay forwards the VM's commands one by one and
/// matches the upstream's replies to them in order (RFC 2920 pipelining), answering some
/// commands itself (limits, STARTTLS in terminate mode, syntax errors) without giving up that order.
public struct SMTPSession: Sendable {
    public struct Configuration: Hashable, Sendable {
        public var tlsMode: SMTPTLSMode
        public var limits: SMTPLimits
        public var timeouts: SMTPTimeouts

        public init(tlsMode: SMTPTLSMode, limits: SMTPLimits = SMTPLimits(), timeouts: SMTPTimeouts = .rfc5321) {
            self.tlsMode = tlsMode
            self.limits = limits
            self.timeouts = timeouts
        }
    }

    enum Phase: Hashable, Sendable {
        case connecting
        case awaitingGreeting
        case commands
        /// Between the upstream's 354 and the VM's final dot.
        case data(abortedBecause: SMTPTransactionRecord.Verdict?)
        /// The VM's 220 for STARTTLS is out; waiting for its handshake.
        case clientTLSHandshake
        /// We closed the upstream to stop a message; only QUIT gets a friendly answer now.
        case upstreamAborted
        case spliced
        case closed
    }

    /// A reply the VM is owed, in the order the VM asked.
    enum Pending: Hashable, Sendable {
        /// A VM command relayed upstream; its reply goes back to the VM.
        case relayed(Relayed)
        /// A reply we made ourselves, waiting for the replies before it.
        case local(SMTPReply)
        /// Our own STARTTLS/EHLO upstream, made while the VM waits for its EHLO reply.
        case upstreamStartTLS(ehloName: String, heldReply: SMTPReply)
        case upstreamHandshake(ehloName: String)
        case upstreamReEHLO(ehloName: String)

        var blocksClientInput: Bool {
            switch self {
            case .relayed(let relayed): relayed.isSyncPoint
            case .local: false
            case .upstreamStartTLS, .upstreamHandshake, .upstreamReEHLO: true
            }
        }

        var timeoutKind: SMTPTimeoutKind {
            switch self {
            case .relayed(.mail): .mail
            case .relayed(.rcpt): .rcpt
            case .relayed(.data): .dataInitiation
            case .relayed(.endOfData): .dataTermination
            default: .otherReply
            }
        }
    }

    enum Relayed: Hashable, Sendable {
        case ehlo(String), helo(String), mail, rcpt(SMTPMailbox), data, endOfData, rset, noop, quit, startTLSSplice, other

        var isSyncPoint: Bool {
            switch self {
            case .mail, .rcpt, .rset: false
            default: true
            }
        }
    }

    /// What we know about the mail transaction in progress.
    struct Transaction: Hashable, Sendable {
        var sender: SMTPReversePath
        var startedAt: Date
        var recipientsRelayed = 0
        var recipientsAccepted = 0
        var recipientDomains: [String] = []
        var recipientsRefusedByLimit = 0
        var sizeBytes = 0
    }

    public let configuration: Configuration
    var phase: Phase = .connecting
    var pending: [Pending] = []
    var actions: [SMTPSessionAction] = []
    var now = Date(timeIntervalSince1970: 0)

    var clientGreeted = false
    var ehloName: String?
    var clientTLS: SMTPTLSInfo?
    var upstreamTLS: SMTPTLSInfo?
    /// The upstream refused our STARTTLS once; do not ask again in this session.
    var upstreamRefusedTLS = false
    /// A VM STARTTLS waiting for earlier replies to go out first.
    var clientStartTLSHeld = false
    /// A MAIL FROM waiting for the rate policy's answer.
    var mailAwaitingRate: SMTPCommandLine?
    var transaction: Transaction?
    /// We closed the upstream to stop a message; its closure is no news.
    var upstreamClosedByUs = false
    /// The domain the upstream named in its 220 greeting, for the transaction records.
    var upstreamGreetingDomain: String?

    public init(configuration: Configuration) {
        self.configuration = configuration
    }

    /// Whether the handler may frame and report the next VM line. False while a sync-point
    /// command (RFC 2920 3.1: EHLO, DATA, STARTTLS, QUIT, NOOP...) awaits its reply, so later
    /// bytes are read as commands or as text only once that reply has decided which.
    public var acceptsClientInput: Bool {
        switch phase {
        case .commands, .data, .upstreamAborted:
            mailAwaitingRate == nil && !clientStartTLSHeld && !pending.contains(where: \.blocksClientInput)
        case .connecting, .awaitingGreeting, .clientTLSHandshake, .spliced, .closed:
            false
        }
    }

    public var isSpliced: Bool { phase == .spliced }
    public var isClosed: Bool { phase == .closed }

    public mutating func handle(_ event: SMTPSessionEvent, now: Date) -> [SMTPSessionAction] {
        self.now = now
        actions = []
        switch (phase, event) {
        case (.closed, _):
            return []
        case (.spliced, .clientClosed), (.spliced, .upstreamClosed):
            phase = .closed
            return [.closeClient, .closeUpstream]
        case (.spliced, .shutdown):
            // The bytes are TLS we cannot speak into; closing is all that is left.
            phase = .closed
            return [.closeClient, .closeUpstream]
        case (.spliced, _):
            return []
        case (_, .clientClosed):
            endTransaction(.aborted)
            phase = .closed
            actions += [.closeUpstream, .cancelTimeout]
            return actions
        case (_, .timeout):
            fail(with: .timeout)
        case (_, .shutdown):
            fail(with: .shuttingDown)
        case (.connecting, .upstreamConnected):
            phase = .awaitingGreeting
        case (.connecting, .upstreamConnectFailed), (.awaitingGreeting, .upstreamClosed):
            fail(with: .upstreamUnreachable)
        case (.awaitingGreeting, .upstreamReply(let reply)):
            upstreamGreetingDomain = Self.greetingDomain(of: reply)
            send(reply)
            phase = .commands
            if reply.code == 421 || !reply.isPositiveCompletion && !reply.isPermanentFailure {
                closeBoth()
            }
        case (_, .upstreamClosed) where upstreamClosedByUs:
            break  // we closed it ourselves to stop a message
        case (_, .upstreamClosed):
            fail(with: .upstreamLost)
        case (_, .upstreamProtocolError):
            fail(with: .upstreamProtocolError)
        case (_, .upstreamTLSFailed):
            fail(with: .upstreamTLSFailed)
        case (_, .upstreamReply(let reply)):
            upstreamReplied(reply)
        case (.clientTLSHandshake, .clientTLSEstablished(let info)):
            // RFC 3207 4.2: forget everything learned before TLS; the VM must EHLO again.
            clientTLS = info
            clientGreeted = false
            ehloName = nil
            phase = .commands
        case (_, .upstreamTLSEstablished(let info)):
            upstreamTLSEstablished(info)
        case (_, .rateDecision(let decision)):
            rateDecided(decision)
        case (.data, .clientInput(let line)):
            dataInput(line)
        case (_, .clientInput(let line)):
            commandInput(line)
        case (_, .upstreamConnected), (_, .upstreamConnectFailed), (_, .clientTLSEstablished):
            fail(with: .upstreamProtocolError)
        }
        armTimer()
        return actions
    }

    // MARK: Replies to the VM, in order

    /// A reply of our own: sent now if nothing is owed before it, else queued behind.
    mutating func reply(_ reply: SMTPReply) {
        if pending.isEmpty {
            send(reply)
        } else {
            pending.append(.local(reply))
        }
    }

    mutating func send(_ reply: SMTPReply) {
        actions.append(.sendToClient(reply))
    }

    mutating func sendUpstream(_ text: String) {
        actions.append(.sendToUpstream(ByteBuffer(string: text + "\r\n")))
    }

    /// After a reply went out: send the local replies now at the head, then act on a held STARTTLS.
    mutating func flushLocalReplies() {
        while case .local(let reply) = pending.first {
            pending.removeFirst()
            send(reply)
        }
        if pending.isEmpty, clientStartTLSHeld {
            clientStartTLSHeld = false
            beginClientTLS()
        }
    }

    mutating func beginClientTLS() {
        send(.readyToStartTLS)
        actions += [.discardClientBuffer, .startClientTLS]
        phase = .clientTLSHandshake
    }

    /// Ends the session with a 421-style reply: never a silent close.
    mutating func fail(with reply: SMTPReply) {
        endTransaction(.aborted)
        send(reply)
        closeBoth()
    }

    mutating func closeBoth() {
        endTransaction(.aborted)
        pending = []
        phase = .closed
        actions += [.closeClient, .closeUpstream]
    }

    // MARK: Upstream replies

    mutating func upstreamReplied(_ reply: SMTPReply) {
        guard let head = pending.first else {
            // RFC 5321 3.8: a server may send 421 at any time before closing; anything else unasked is broken.
            fail(with: reply.code == 421 ? reply : .upstreamProtocolError)
            return
        }
        pending.removeFirst()
        switch head {
        case .local:
            preconditionFailure("local replies never stay at the head of the queue")
        case .upstreamHandshake:
            fail(with: .upstreamProtocolError)
            return
        case .upstreamStartTLS(let name, let held):
            if reply.code == 220 {
                // Bytes after the 220 and before the handshake are injected (CVE-2011-0411, upstream side).
                actions += [.discardUpstreamBuffer, .startUpstreamTLS]
                pending.insert(.upstreamHandshake(ehloName: name), at: 0)
                return
            }
            upstreamRefusedTLS = true
            completeClientEHLO(name, held)
        case .upstreamReEHLO(let name):
            completeClientEHLO(name, reply)
        case .relayed(let relayed):
            if reply.code == 421 {
                // The upstream is shutting the session down; pass that on and end both legs.
                send(reply)
                closeBoth()
                return
            }
            if relayedReplied(relayed, reply) { return }
        }
        flushLocalReplies()
    }

    /// Returns true when it has already taken care of the queue and phase.
    mutating func relayedReplied(_ relayed: Relayed, _ reply: SMTPReply) -> Bool {
        switch relayed {
        case .ehlo(let name):
            if reply.isPositiveCompletion, configuration.tlsMode == .terminate, upstreamTLS == nil,
               !upstreamRefusedTLS, EHLOFilter.offersStartTLS(reply) {
                // Opportunistic TLS upstream, before the VM sees its EHLO reply and so before any MAIL.
                sendUpstream("STARTTLS")
                pending.insert(.upstreamStartTLS(ehloName: name, heldReply: reply), at: 0)
                return true
            }
            completeClientEHLO(name, reply)
        case .helo(let name):
            if reply.isPositiveCompletion {
                clientGreeted = true
                ehloName = name
            }
            send(reply)
        case .mail:
            if !reply.isPositiveCompletion {
                endTransaction(.rejectedByUpstream, upstreamReply: reply)
            }
            send(reply)
        case .rcpt(let mailbox):
            if reply.isPositiveCompletion, var current = transaction {
                current.recipientsAccepted += 1
                if let domain = mailbox.domain, !current.recipientDomains.contains(domain) {
                    current.recipientDomains.append(domain)
                }
                transaction = current
            }
            send(reply)
        case .data:
            send(reply)
            if reply.code == 354 {
                guard transaction != nil else {
                    fail(with: .upstreamProtocolError)
                    return true
                }
                phase = .data(abortedBecause: nil)
                actions.append(.enterDataMode)
            }
        case .endOfData:
            endTransaction(reply.isPositiveCompletion ? .relayed : .rejectedByUpstream, upstreamReply: reply)
            send(reply)
        case .quit:
            send(reply)
            closeBoth()
            return true
        case .startTLSSplice:
            send(reply)
            if reply.code == 220 {
                // From here the VM and the upstream talk TLS to each other; plaintext either side
                // sent after STARTTLS/220 is injected and must not reach the other end.
                actions += [.discardClientBuffer, .discardUpstreamBuffer, .splice, .cancelTimeout]
                pending = []
                phase = .spliced
                return true
            }
        case .rset, .noop, .other:
            send(reply)
        }
        return false
    }

    mutating func completeClientEHLO(_ name: String, _ reply: SMTPReply) {
        if reply.isPositiveCompletion {
            clientGreeted = true
            ehloName = name
        }
        let filter = EHLOFilter(tlsMode: configuration.tlsMode, clientLegIsTLS: clientTLS != nil,
                                maxMessageBytes: configuration.limits.maxMessageBytes)
        send(filter.filter(reply))
    }

    mutating func upstreamTLSEstablished(_ info: SMTPTLSInfo) {
        guard case .upstreamHandshake(let name) = pending.first else {
            fail(with: .upstreamProtocolError)
            return
        }
        pending.removeFirst()
        upstreamTLS = info
        // RFC 3207 4.2: the upstream forgot our EHLO; say it again before the VM gets its reply.
        sendUpstream("EHLO \(name)")
        pending.insert(.upstreamReEHLO(ehloName: name), at: 0)
    }

    /// RFC 5321 4.3.1: the greeting's first word is the server's domain (or address literal).
    static func greetingDomain(of greeting: SMTPReply) -> String? {
        let word = greeting.lines[0].prefix(while: { $0 != " " })
        return word.isEmpty ? nil : String(word)
    }

    // MARK: Timers

    mutating func armTimer() {
        let kind: SMTPTimeoutKind
        switch phase {
        case .closed, .spliced:
            if actions.last != .cancelTimeout { actions.append(.cancelTimeout) }
            return
        case .connecting, .awaitingGreeting:
            kind = .initialGreeting
        case .data:
            kind = .dataBlock
        case .commands, .clientTLSHandshake, .upstreamAborted:
            if let waiting = pending.first(where: { if case .local = $0 { false } else { true } }) {
                kind = waiting.timeoutKind
            } else {
                kind = mailAwaitingRate != nil ? .otherReply : .serverCommand
            }
        }
        actions.append(.setTimeout(kind, after: kind.duration(in: configuration.timeouts)))
    }
}
