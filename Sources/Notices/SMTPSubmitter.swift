import Logging
import NIOCore
import NIOPosix
import NIOSSL
import SMTPProxy

/// Hands notices to the provider's smarthost, one SMTP connection per notice.
///
/// One connection per notice keeps every attempt independent: the outbox retries a notice by
/// calling `send` again, and no half-used session carries state from one notice into another.
/// Notices are rare, so the handshake cost does not matter. No authentication: the smarthost is
/// expected to let this host relay by its address, as MTAs do for their own infrastructure.
public struct SMTPSubmitter: Sendable {
    public let smarthost: SMTPSmarthost
    private let group: any EventLoopGroup
    private let logger: Logger
    let tls: TLSClient

    public init(smarthost: SMTPSmarthost, eventLoopGroup: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
                logger: Logger = Logger(label: "portcullis.notices.smtp")) {
        self.init(smarthost: smarthost, eventLoopGroup: eventLoopGroup, logger: logger,
                  tls: TLSClient(verify: smarthost.verify))
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
        let extensions = try await hello(&conversation)
        if smarthost.tls != .off {
            if extensions.contains("STARTTLS") {
                let answer = try await conversation.exchange(.startTLS(replyTimeout: reply), step: .startTLS)
                if answer.code == 220 {
                    // RFC 3207 4.2: forget what was learnt in plaintext and greet again over TLS.
                    _ = try await hello(&conversation)
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

    /// EHLO, or HELO when the smarthost does not know EHLO (a 5xx to it, RFC 5321 4.1.4), and the
    /// extension keywords it announced (none after HELO).
    private func hello(_ conversation: inout SMTPClientConversation) async throws(SMTPSubmissionError) -> Set<String> {
        let timeout = smarthost.timeouts.reply
        let ehlo = try await conversation.exchange(.command("EHLO \(smarthost.heloName)", replyTimeout: timeout), step: .ehlo)
        if ehlo.code == 250 {
            return Set(ehlo.lines.dropFirst().compactMap { line in
                line.split(separator: " ", maxSplits: 1).first.map { $0.uppercased() }
            })
        }
        guard ehlo.isPermanentFailure else { throw conversation.unexpected(ehlo, step: .ehlo) }
        _ = try await conversation.expect([250], after: .command("HELO \(smarthost.heloName)", replyTimeout: timeout),
                                          step: .helo)
        return []
    }
}
