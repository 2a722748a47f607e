import NIOCore
import PortcullisCore

extension SMTPSession {
    /// One line of message text from the VM.
    ///
    /// Text is relayed line by line as it arrives, still dot-stuffed. Once a line breaks a rule
    /// (size, length, bare CR/LF) nothing more is relayed and the upstream connection is closed
    /// without the final dot: closing is the only way to make an SMTP server drop a message in
    /// DATA (RFC 5321 4.1.1.4 has no "cancel"; RSET is only read as text there). The VM gets its
    /// 5xx once it has sent its own final dot, as RFC 5321 4.2.5 expects.
    mutating func dataInput(_ line: SMTPInboundLine) {
        guard case .data(let abortedBecause) = phase, var current = transaction else {
            return fail(with: .serviceUnavailable("Internal error, closing connection"))
        }
        switch line {
        case .text(let bytes):
            current.sizeBytes += bytes.readableBytes
            transaction = current
            guard abortedBecause == nil else { return }
            if current.sizeBytes > configuration.limits.maxMessageBytes {
                abortMessage(.sizeExceeded)
            } else {
                actions.append(.sendToUpstream(bytes))
            }
        case .textTooLong:
            if abortedBecause == nil { abortMessage(.lineTooLong) }
        case .textBareLineEnding:
            if abortedBecause == nil { abortMessage(.bareLineEnding) }
        case .endOfData:
            actions.append(.leaveDataMode)
            if let verdict = abortedBecause {
                phase = .upstreamAborted
                endTransaction(verdict)
                send(Self.rejection(for: verdict))
            } else {
                phase = .commands
                actions.append(.sendToUpstream(ByteBuffer(string: ".\r\n")))
                pending.append(.relayed(.endOfData))
            }
        case .command, .commandTooLong, .commandBareLineEnding:
            fail(with: .serviceUnavailable("Internal error, closing connection"))
        }
    }

    private mutating func abortMessage(_ verdict: SMTPTransactionRecord.Verdict) {
        phase = .data(abortedBecause: verdict)
        upstreamClosedByUs = true
        actions.append(.closeUpstream)
    }

    static func rejection(for verdict: SMTPTransactionRecord.Verdict) -> SMTPReply {
        switch verdict {
        case .sizeExceeded: .messageTooBig
        case .lineTooLong: .textLineTooLong
        case .bareLineEnding: .bareLineEndingInMessage
        default: .serviceUnavailable("Message not relayed")
        }
    }

    /// Emits the record of the transaction in progress, if any, and forgets it.
    mutating func endTransaction(_ verdict: SMTPTransactionRecord.Verdict, upstreamReply: SMTPReply? = nil) {
        guard let current = transaction else { return }
        transaction = nil
        let finalVerdict = verdict == .aborted && current.recipientsRefusedByLimit > 0 ? .tooManyRecipients : verdict
        record(SMTPTransactionRecord(
            ehloName: ehloName, sender: current.sender, recipientCount: current.recipientsAccepted,
            recipientDomains: current.recipientDomains, recipientsRefusedByLimit: current.recipientsRefusedByLimit,
            recipientsRefusedByUpstream: max(0, current.recipientsRelayed - current.recipientsAccepted),
            sizeBytes: current.sizeBytes, clientTLS: clientTLS, upstreamTLS: upstreamTLS, upstreamReply: upstreamReply,
            verdict: finalVerdict, startedAt: current.startedAt, endedAt: now
        ))
    }

    mutating func record(_ record: SMTPTransactionRecord) {
        var record = record
        record.upstreamGreetingDomain = upstreamGreetingDomain
        actions.append(.recordTransaction(record))
    }
}
