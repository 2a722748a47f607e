import Logging
import NIOCore
import NIOPosix
import NIOSSL
import SMTPProxy

/// Hands notices to the provider's smarthost, one SMTP connection per notice.
///
/// One connection per notice keeps every attempt independent: the outbox retries a notice by
/// calling `send` again, and no half-used session carries state from one notice into another.
/// Notices are rare, so the handshake cost does not matter. The smarthost lets this host relay
/// by its address, as MTAs do for their own infrastructure, or, with credentials, after SMTP
/// AUTH over TLS.
public struct SMTPSubmitter: Sendable {
    public let smarthost: SMTPSmarthost
    private let group: any EventLoopGroup
    private let logger: Logger
    let tls: TLSClient

    public init(smarthost: SMTPSmarthost, eventLoopGroup: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
                logger: Logger = Logger(label: "portcullis.notices.smtp")) {
        self.init(smarthost: smarthost, eventLoopGroup: eventLoopGroup, logger: logger,
                  tls: TLSClient(verify: smarthost.verify, trustRoots: smarthost.caFile.map { .file($0) } ?? .default))
    }

    /// Tests give their own trust roots here.
    init(smarthost: SMTPSmarthost, eventLoopGroup: any EventLoopGroup, logger: Logger, tls: TLSClient) {
        self.smarthost = smarthost
        self.group = eventLoopGroup
        var logger = logger
        logger[metadataKey: "smarthost"] = "\(smarthost.endpoint)"
        self.logger = logger
        self.tls = tls
    }

    /// Delivers `mail` to the smarthost and returns its final reply on one line (`250 2.0.0 Ok:
    /// queued as 4Fx2`), the proof of hand-over the audit keeps.
    ///
    /// Every recipient must be accepted: a notice that reached only some of its addresses is
    /// reported as failed (naming the refused one) rather than silently incomplete.
    public func send(_ mail: OutgoingMail) async throws(SMTPSubmissionError) -> String {
        let message = SMTPDotStuffing.transmissionText(of: mail.rendered())
        let makeTLSHandler: SMTPClientCodec.MakeTLSHandler?
        switch smarthost.tls {
        case .off:
            makeTLSHandler = nil
        case .opportunistic, .required:
            let context: NIOSSLContext
            do {
                context = try tls.makeContext()
            } catch {
                throw .tlsFailed(smarthost: smarthost.endpoint, verify: smarthost.verify, reason: "\(error)")
            }
            let serverName = TLSClient.serverName(for: smarthost.host)
            makeTLSHandler = { try NIOSSLClientHandler(context: context, serverHostname: serverName) }
        }

        let channel: NIOAsyncChannel<SMTPReply, SMTPClientOutbound>
        do {
            let greetingTimeout = smarthost.timeouts.reply
            channel = try await ClientBootstrap(group: group)
                .connectTimeout(smarthost.timeouts.connect)
                .connect(host: smarthost.host, port: smarthost.port) { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.addHandler(
                            SMTPClientCodec(greetingTimeout: greetingTimeout, makeTLSHandler: makeTLSHandler))
                        return try NIOAsyncChannel<SMTPReply, SMTPClientOutbound>(wrappingChannelSynchronously: channel)
                    }
                }
        } catch {
            if Task.isCancelled { throw .cancelled }
            throw .connectFailed(smarthost: smarthost.endpoint, reason: ConnectFailure.describe(error))
        }

        do {
            return try await channel.executeThenClose { inbound, outbound in
                var conversation = SMTPClientConversation(inbound: inbound, outbound: outbound,
                                                          smarthost: smarthost, logger: logger)
                do {
                    let reply = try await transact(mail, message: message, over: &conversation)
                    await conversation.quit()
                    return reply.oneLine
                } catch let error as SMTPSubmissionError {
                    // The smarthost said no but is still listening: say goodbye. Otherwise just close.
                    if case .refused = error { await conversation.quit() }
                    throw error
                }
            }
        } catch let error as SMTPSubmissionError {
            throw error
        } catch {
            throw Task.isCancelled ? .cancelled : .connectionLost(smarthost: smarthost.endpoint, step: .greeting)
        }
    }

    /// Greeting to the reply to the final dot.
    private func transact(_ mail: OutgoingMail, message: [UInt8],
                          over conversation: inout SMTPClientConversation) async throws(SMTPSubmissionError) -> SMTPReply {
        let reply = smarthost.timeouts.reply
        _ = try await conversation.expect([220], after: nil, step: .greeting)
        var extensions = try await hello(&conversation)
        var secured = false
        if smarthost.tls != .off {
            if extensions["STARTTLS"] != nil {
                let answer = try await conversation.exchange(.startTLS(replyTimeout: reply), step: .startTLS)
                if answer.code == 220 {
                    // RFC 3207 4.2: forget what was learnt in plaintext and greet again over TLS.
                    extensions = try await hello(&conversation)
                    secured = true
                    logger.debug("smarthost: TLS is up")
                } else if smarthost.tls == .required || !(answer.isTransientFailure || answer.isPermanentFailure) {
                    throw conversation.unexpected(answer, step: .startTLS)
                } else {
                    logger.notice("smarthost refused STARTTLS, sending the notice without TLS",
                                  metadata: ["reply": "\(answer.oneLine)"])
                }
            } else if smarthost.tls == .required {
                throw .tlsNotOffered(smarthost: smarthost.endpoint)
            }
        }
        if let credentials = smarthost.credentials {
            try await authenticate(credentials, mechanisms: extensions["AUTH"], secured: secured, over: &conversation)
        }
        _ = try await conversation.expect([250], after: .command("MAIL FROM:<\(mail.from)>", replyTimeout: reply),
                                          step: .mailFrom(mail.from))
        for recipient in mail.to {
            _ = try await conversation.expect([250, 251], after: .command("RCPT TO:<\(recipient)>", replyTimeout: reply),
                                              step: .rcptTo(recipient))
        }
        _ = try await conversation.expect([354], after: .command("DATA", replyTimeout: reply), step: .data)
        return try await conversation.expect([250], after: .messageText(message, replyTimeout: smarthost.timeouts.messageAccepted),
                                             step: .messageText)
    }

    /// SMTP AUTH (RFC 4954) with PLAIN (RFC 4616) where offered, else LOGIN; only over TLS.
    private func authenticate(_ credentials: SMTPCredentials, mechanisms: [String]?, secured: Bool,
                              over conversation: inout SMTPClientConversation) async throws(SMTPSubmissionError) {
        guard secured else {
            throw .authNotPossible(smarthost: smarthost.endpoint, reason: "the connection has no TLS (STARTTLS not offered or "
                + "refused) and credentials are never sent in plaintext; set notices.email.tls to required")
        }
        let offered = Set((mechanisms ?? []).map { $0.uppercased() })
        let timeout = smarthost.timeouts.reply
        if offered.contains("PLAIN") {
            _ = try await conversation.expect([235], after: .secret("AUTH PLAIN \(credentials.plainResponse)", replyTimeout: timeout),
                                              step: .auth)
        } else if offered.contains("LOGIN") {
            _ = try await conversation.expect([334], after: .command("AUTH LOGIN", replyTimeout: timeout), step: .auth)
            let (user, password) = (credentials.loginResponses[0], credentials.loginResponses[1])
            _ = try await conversation.expect([334], after: .secret(user, replyTimeout: timeout), step: .auth)
            _ = try await conversation.expect([235], after: .secret(password, replyTimeout: timeout), step: .auth)
        } else {
            throw .authNotPossible(smarthost: smarthost.endpoint, reason: mechanisms == nil
                ? "it offers no AUTH after STARTTLS (is this the submission port, usually 587?)"
                : "it offers AUTH \(mechanisms!.joined(separator: " ")), none of which is PLAIN or LOGIN")
        }
        logger.debug("smarthost: logged in", metadata: ["user": "\(credentials.username)"])
    }

    /// EHLO, or HELO when the smarthost does not know EHLO (a 5xx to it, RFC 5321 4.1.4), and the
    /// extensions it announced, keyword (upper case) to parameters (none after HELO).
    private func hello(_ conversation: inout SMTPClientConversation) async throws(SMTPSubmissionError) -> [String: [String]] {
        let timeout = smarthost.timeouts.reply
        let ehlo = try await conversation.exchange(.command("EHLO \(smarthost.heloName)", replyTimeout: timeout), step: .ehlo)
        if ehlo.code == 250 {
            var extensions: [String: [String]] = [:]
            for line in ehlo.lines.dropFirst() {
                let words = line.split(separator: " ").map(String.init)
                if let keyword = words.first { extensions[keyword.uppercased()] = Array(words.dropFirst()) }
            }
            return extensions
        }
        guard ehlo.isPermanentFailure else { throw conversation.unexpected(ehlo, step: .ehlo) }
        _ = try await conversation.expect([250], after: .command("HELO \(smarthost.heloName)", replyTimeout: timeout),
                                          step: .helo)
        return [:]
    }
}
