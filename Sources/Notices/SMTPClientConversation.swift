import Logging
import NIOCore
import SMTPProxy

/// One SMTP conversation with the smarthost, command by command, from the async side: sends,
/// waits for the reply, and turns whatever went wrong into an `SMTPSubmissionError` naming the step.
struct SMTPClientConversation {
    private var replies: NIOAsyncChannelInboundStream<SMTPReply>.AsyncIterator
    private let outbound: NIOAsyncChannelOutboundWriter<SMTPClientOutbound>
    private let smarthost: SMTPSmarthost
    private let logger: Logger

    init(inbound: NIOAsyncChannelInboundStream<SMTPReply>, outbound: NIOAsyncChannelOutboundWriter<SMTPClientOutbound>,
         smarthost: SMTPSmarthost, logger: Logger) {
        self.replies = inbound.makeAsyncIterator()
        self.outbound = outbound
        self.smarthost = smarthost
        self.logger = logger
    }

    /// Sends `command` (nothing for the greeting) and returns the reply, whatever its code.
    mutating func exchange(_ command: SMTPClientOutbound?, step: SMTPSubmissionStep) async throws(SMTPSubmissionError) -> SMTPReply {
        if let command {
            switch command {
            case .command(let line, _): logger.debug("smarthost <- \(line)")
            case .secret: logger.debug("smarthost <- (credentials, not logged)")
            case .startTLS: logger.debug("smarthost <- STARTTLS")
            case .messageText(let text, _): logger.debug("smarthost <- message text, \(text.count) bytes")
            }
            do {
                try await outbound.write(command)
            } catch {
                // The connection is gone. What is left to read says why: a TLS alert, a timeout,
                // or a last reply such as a 421 before the smarthost hung up.
                logger.debug("smarthost: cannot send (\(error)), reading what is left")
            }
        }
        let reply: SMTPReply?
        do {
            reply = try await replies.next()
        } catch {
            throw translate(error, step: step)
        }
        guard let reply else {
            throw Task.isCancelled ? .cancelled : .connectionLost(smarthost: smarthost.endpoint, step: step)
        }
        logger.debug("smarthost -> \(reply.oneLine)")
        return reply
    }

    /// Like `exchange`, and the reply must have one of `codes`: a 4xx or 5xx is the smarthost
    /// refusing the step, anything else a protocol violation.
    mutating func expect(_ codes: Set<Int>, after command: SMTPClientOutbound?,
                         step: SMTPSubmissionStep) async throws(SMTPSubmissionError) -> SMTPReply {
        let reply = try await exchange(command, step: step)
        guard codes.contains(reply.code) else { throw unexpected(reply, step: step) }
        return reply
    }

    func unexpected(_ reply: SMTPReply, step: SMTPSubmissionStep) -> SMTPSubmissionError {
        if reply.isTransientFailure || reply.isPermanentFailure {
            return .refused(smarthost: smarthost.endpoint, step: step, reply: reply)
        }
        return .protocolViolation(smarthost: smarthost.endpoint, step: step, detail: "unexpected reply \(reply.oneLine)")
    }

    /// QUIT, without caring how it goes: it is a courtesy to the smarthost, and the outcome of
    /// the notice is already decided.
    mutating func quit() async {
        _ = try? await exchange(.command("QUIT", replyTimeout: smarthost.timeouts.reply), step: .quit)
    }

    private func translate(_ error: any Error, step: SMTPSubmissionStep) -> SMTPSubmissionError {
        if Task.isCancelled || error is CancellationError { return .cancelled }
        switch error {
        case SMTPClientCodecError.timedOut:
            let after = step == .messageText ? smarthost.timeouts.messageAccepted : smarthost.timeouts.reply
            return .timedOut(smarthost: smarthost.endpoint, step: step, after: after)
        case SMTPClientCodecError.lineTooLong:
            return .protocolViolation(smarthost: smarthost.endpoint, step: step,
                                      detail: "a reply line longer than \(SMTPClientCodec.maxLineLength) bytes")
        case SMTPClientCodecError.malformedReply:
            return .protocolViolation(smarthost: smarthost.endpoint, step: step, detail: "a line that is not an SMTP reply")
        case SMTPClientCodecError.plaintextAfterSTARTTLS:
            return .tlsFailed(smarthost: smarthost.endpoint, verify: smarthost.verify,
                              reason: "the smarthost sent plaintext after agreeing to STARTTLS, which would be taken "
                                + "for replies over TLS (an injection attempt on the path, or a broken server)")
        case SMTPClientCodecError.tlsNotConfigured:
            return .tlsFailed(smarthost: smarthost.endpoint, verify: smarthost.verify,
                              reason: "STARTTLS was sent on a connection set up without TLS")
        case let error where TLSFailure.isTLSError(error):
            return .tlsFailed(smarthost: smarthost.endpoint, verify: smarthost.verify, reason: TLSFailure.describe(error))
        default:
            return .connectionLost(smarthost: smarthost.endpoint, step: step)
        }
    }
}
