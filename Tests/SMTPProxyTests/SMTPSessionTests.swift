import NIOCore
import PortcullisCore
import Testing
@testable import SMTPProxy

@Suite struct SMTPSessionTests {
    @Test func greetingAndEHLOAreRelayedAndFiltered() {
        var d = SessionDriver(mode: .off, limits: SMTPLimits(maxMessageBytes: 1000))
        #expect(!d.session.acceptsClientInput, "nothing is read from the VM before the upstream greets")
        #expect(d.on(.upstreamConnected).isEmpty)
        #expect(d.mx("220 mx.example.com ESMTP") == [vmGets("220 mx.example.com ESMTP")])
        #expect(d.vm("EHLO vm1") == [up("EHLO vm1")])
        #expect(!d.session.acceptsClientInput, "EHLO is a sync point")
        #expect(d.mx("250-mx.example.com\r\n250-AUTH PLAIN\r\n250-XCLIENT NAME\r\n250-CHUNKING\r\n250 PIPELINING")
            == [vmGets("250-mx.example.com\r\n250-PIPELINING\r\n250 SIZE 1000")])
        #expect(d.session.acceptsClientInput)
        #expect(d.vm("HELO vm1") == [up("HELO vm1")])
        #expect(d.mx("250 mx.example.com") == [vmGets("250 mx.example.com")])
    }

    @Test func pipelinedRepliesComeBackInOrderWithLocalRepliesInTheirPlace() {
        var d = SessionDriver(limits: SMTPLimits(recipientsPerMessage: 1))
        d.ready()
        #expect(d.vm("MAIL FROM:<a@vm.example> SIZE=10") == [.checkRate(SMTPRateQuery(
            sender: .mailbox(try! #require({ if case .mail(.mailbox(let m), _) = try! SMTPCommandLine(text: "MAIL FROM:<a@vm.example>").command { m } else { nil } }())),
            ehloName: "vm1.example.org"))])
        #expect(!d.session.acceptsClientInput, "no input while the rate policy decides")
        #expect(d.on(.rateDecision(.allow)) == [up("MAIL FROM:<a@vm.example> SIZE=10")])
        #expect(d.vm("RCPT TO:<b@one.example>") == [up("RCPT TO:<b@one.example>")])
        #expect(d.vm("RCPT TO:<c@two.example>").isEmpty, "452 must wait for the replies before it")
        #expect(d.vm("DATA") == [up("DATA")])
        #expect(!d.session.acceptsClientInput, "DATA is a sync point: nothing after it is read before the 354")
        #expect(d.mx("250 2.1.0 Ok") == [vmGets("250 2.1.0 Ok")])
        #expect(d.mx("250 2.1.5 Ok") == [vmGets("250 2.1.5 Ok"), .sendToClient(.tooManyRecipients)])
        #expect(d.mx("354 End data with <CR><LF>.<CR><LF>") == [vmGets("354 End data with <CR><LF>.<CR><LF>"), .enterDataMode])
        #expect(d.text("Subject: hi\r\n") == [up("Subject: hi")])
        #expect(d.text(".\r\n") == [.leaveDataMode, up(".")])
        let done = d.mx("250 2.0.0 Ok: queued as ABC")
        #expect(done.last == vmGets("250 2.0.0 Ok: queued as ABC"))
        let record = try! #require(d.records.last)
        #expect(record.verdict == .relayed)
        #expect(record.recipientCount == 1)
        #expect(record.recipientsRefusedByLimit == 1)
        #expect(record.recipientDomains == ["one.example"])
        #expect(record.sizeBytes == 13)
        #expect(record.ehloName == "vm1.example.org")
        #expect(record.upstreamReply?.code == 250)
        #expect(record.startedAt < record.endedAt)
    }

    @Test func dataRefusedLeavesCommandMode() {
        var d = SessionDriver()
        d.ready()
        d.mail()
        d.vm("RCPT TO:<x@y.example>")
        d.vm("DATA")
        d.mx("250 Ok")
        d.mx("550 5.1.1 No such user")
        #expect(d.mx("554 5.5.1 No valid recipients") == [vmGets("554 5.5.1 No valid recipients")])
        #expect(d.session.acceptsClientInput)
        #expect(d.vm("RSET") == [.recordTransaction(d.records.last!), up("RSET")])
        #expect(d.records.last?.verdict == .aborted)
    }

    @Test func tooManyRecipientsRecordedWhenTransactionEndsWithoutMessage() {
        var d = SessionDriver(limits: SMTPLimits(recipientsPerMessage: 2))
        d.ready()
        d.mail()
        for n in 0..<3 { d.vm("RCPT TO:<r\(n)@example.com>") }
        d.mx("250 Ok")
        d.mx("250 Ok")
        #expect(d.mx("250 Ok") == [vmGets("250 Ok"), .sendToClient(.tooManyRecipients)])
        d.vm("QUIT")
        #expect(d.records.last?.verdict == .tooManyRecipients)
        #expect(d.mx("221 Bye") == [vmGets("221 Bye"), .closeClient, .closeUpstream])
    }

    @Test func declaredSizeOverLimitIsRefusedLocally() {
        var d = SessionDriver(limits: SMTPLimits(maxMessageBytes: 1000))
        d.ready()
        let actions = d.vm("MAIL FROM:<a@b.example> SIZE=1001")
        #expect(actions.contains(.sendToClient(.messageTooBig)))
        #expect(!actions.contains { if case .sendToUpstream = $0 { true } else { false } })
        #expect(d.records.last?.verdict == .sizeExceeded)
        #expect(d.mail("MAIL FROM:<a@b.example> SIZE=1000") == [up("MAIL FROM:<a@b.example> SIZE=1000")])
    }

    @Test func rateLimitRefusesWith451() {
        var d = SessionDriver()
        d.ready()
        #expect(d.vm("MAIL FROM:<a@b.example>").count == 1)
        let actions = d.on(.rateDecision(.deny(reason: "Too many messages from this VM, try later")))
        #expect(actions.last == .sendToClient(SMTPReply(code: 451, SMTPEnhancedStatus(4, 7, 1), "Too many messages from this VM, try later")))
        #expect(d.records.last?.verdict == .rateLimited)
        #expect(!actions.contains { if case .sendToUpstream = $0 { true } else { false } })
        #expect(d.session.acceptsClientInput)
    }

    @Test func mailBeforeEHLOIsABadSequence() {
        var d = SessionDriver()
        d.on(.upstreamConnected)
        d.mx("220 mx")
        #expect(d.vm("MAIL FROM:<a@b.example>") == [.sendToClient(.badSequence)])
    }

    @Test func lineErrorsAndUnknownVerbs() {
        var d = SessionDriver()
        d.ready()
        #expect(d.on(.clientInput(.commandTooLong)) == [.sendToClient(.lineTooLong)])
        #expect(d.on(.clientInput(.commandBareLineEnding(.lf))) == [.sendToClient(.bareLineEndingInCommand)])
        #expect(d.vm("MAIL FROM:<broken") == [.sendToClient(.badArguments)])
        #expect(d.vm("\u{7F}") == [.sendToClient(.unrecognized)])
        for verb in ["AUTH PLAIN xyz", "BDAT 100 LAST", "XCLIENT ADDR=1.2.3.4", "XFORWARD NAME=x", "ETRN example.com"] {
            #expect(d.vm(verb) == [.sendToClient(.notImplemented)], "\(verb)")
        }
        #expect(d.vm("VRFY bob") == [up("VRFY bob")])
    }

    @Test(arguments: [
        SMTPInboundLine.text(ByteBuffer(string: String(repeating: "x", count: 200) + "\r\n")),
        .textTooLong, .textBareLineEnding(.lf), .textBareLineEnding(.cr),
    ])
    func brokenMessageIsAbortedUpstreamAndRejected(_ offending: SMTPInboundLine) {
        var d = SessionDriver(limits: SMTPLimits(maxMessageBytes: 100))
        d.ready()
        d.mail()
        d.vm("RCPT TO:<x@y.example>")
        d.vm("DATA")
        d.mx("250 Ok")
        d.mx("250 Ok")
        d.mx("354 Go ahead")
        #expect(d.text("first\r\n") == [up("first")])
        #expect(d.on(.clientInput(offending)) == [.closeUpstream], "the upstream never gets to complete the message")
        #expect(d.text("MAIL FROM:<evil@x.example>\r\n").isEmpty, "nothing after the offence is relayed")
        #expect(d.on(.upstreamClosed).isEmpty, "our own close is not a failure")
        let end = d.text(".\r\n")
        let expected: (SMTPReply, SMTPTransactionRecord.Verdict) = switch offending {
        case .text: (.messageTooBig, .sizeExceeded)
        case .textTooLong: (.textLineTooLong, .lineTooLong)
        default: (.bareLineEndingInMessage, .bareLineEnding)
        }
        #expect(end == [.leaveDataMode, .recordTransaction(d.records.last!), .sendToClient(expected.0)])
        #expect(!end.contains(up(".")), "the final dot is never sent upstream")
        #expect(d.records.last?.verdict == expected.1)
        #expect(d.vm("QUIT") == [.sendToClient(.closing), .closeClient, .closeUpstream])
    }

    @Test func commandAfterAbortEndsTheSessionWith421() {
        var d = SessionDriver(limits: SMTPLimits(maxMessageBytes: 5))
        d.ready()
        d.mail()
        d.vm("RCPT TO:<x@y.example>")
        d.vm("DATA")
        d.mx("250 Ok"); d.mx("250 Ok"); d.mx("354 Go ahead")
        d.text("123456\r\n")
        d.text(".\r\n")
        let actions = d.vm("MAIL FROM:<a@b.example>")
        #expect(actions.count == 3)
        if case .sendToClient(let reply) = actions.first { #expect(reply.code == 421) } else { Issue.record("no 421") }
        #expect(Array(actions.dropFirst()) == [.closeClient, .closeUpstream])
    }

    @Test func upstreamFailuresBecome4xxNeverSilence() {
        var unreachable = SessionDriver()
        #expect(unreachable.on(.upstreamConnectFailed) == [.sendToClient(.upstreamUnreachable), .closeClient, .closeUpstream])

        var lost = SessionDriver()
        lost.ready()
        lost.mail()
        let actions = lost.on(.upstreamClosed)
        #expect(actions.contains(.sendToClient(.upstreamLost)))
        #expect(actions.suffix(2) == [.closeClient, .closeUpstream])
        #expect(lost.records.last?.verdict == .aborted)

        var garbled = SessionDriver()
        garbled.ready()
        #expect(garbled.on(.upstreamProtocolError) == [.sendToClient(.upstreamProtocolError), .closeClient, .closeUpstream])

        var unasked = SessionDriver()
        unasked.ready()
        #expect(unasked.mx("250 surprise") == [.sendToClient(.upstreamProtocolError), .closeClient, .closeUpstream])

        var shutdown = SessionDriver()
        shutdown.ready()
        #expect(shutdown.mx("421 4.3.2 Shutting down") == [vmGets("421 4.3.2 Shutting down"), .closeClient, .closeUpstream])

        var refusedGreeting = SessionDriver()
        refusedGreeting.on(.upstreamConnected)
        #expect(refusedGreeting.mx("421 mx busy") == [vmGets("421 mx busy"), .closeClient, .closeUpstream])
    }

    @Test func timeoutsFollowRFC5321() {
        var d = SessionDriver()
        d.on(.upstreamConnected)
        #expect(d.lastTimeout?.0 == .initialGreeting && d.lastTimeout?.1 == .minutes(5))
        d.mx("220 mx")
        #expect(d.lastTimeout?.0 == .serverCommand && d.lastTimeout?.1 == .minutes(5))
        d.vm("EHLO vm")
        d.mx("250 mx")
        d.vm("MAIL FROM:<a@b.example>")
        d.on(.rateDecision(.allow))
        #expect(d.lastTimeout?.0 == .mail && d.lastTimeout?.1 == .minutes(5))
        d.mx("250 ok")
        d.vm("RCPT TO:<c@d.example>")
        #expect(d.lastTimeout?.0 == .rcpt && d.lastTimeout?.1 == .minutes(5))
        d.mx("250 ok")
        d.vm("DATA")
        #expect(d.lastTimeout?.0 == .dataInitiation && d.lastTimeout?.1 == .minutes(2))
        d.mx("354 go")
        #expect(d.lastTimeout?.0 == .dataBlock && d.lastTimeout?.1 == .minutes(3))
        d.text(".\r\n")
        #expect(d.lastTimeout?.0 == .dataTermination && d.lastTimeout?.1 == .minutes(10))
        d.mx("250 queued")
        let actions = d.on(.timeout)
        #expect(actions == [.sendToClient(.timeout), .closeClient, .closeUpstream])
        #expect(d.lastTimeout == nil, "a closed session cancels its timer")
        #expect(d.on(.clientInput(.command(ByteBuffer(string: "NOOP")))).isEmpty)
    }

    @Test func clientCloseClosesUpstreamAndRecordsAbort() {
        var d = SessionDriver()
        d.ready()
        d.mail()
        #expect(d.on(.clientClosed) == [.recordTransaction(d.records.last!), .closeUpstream])
        #expect(d.records.last?.verdict == .aborted)
    }
    @Test func mailRefusedByUpstreamIsRecorded() {
        var d = SessionDriver()
        d.ready()
        d.mail("MAIL FROM:<spammer@vm.example>")
        #expect(d.vm("RCPT TO:<x@y.example>") == [up("RCPT TO:<x@y.example>")])
        #expect(d.mx("550 5.7.1 Sender rejected").last == vmGets("550 5.7.1 Sender rejected"))
        let record = d.records.last
        #expect(record?.verdict == .rejectedByUpstream)
        #expect(record?.upstreamReply?.enhancedStatus == SMTPEnhancedStatus(5, 7, 1))
        #expect(record?.sender.description == "<spammer@vm.example>")
        #expect(d.mx("503 5.5.1 Need MAIL first") == [vmGets("503 5.5.1 Need MAIL first")])
        #expect(d.records.count == 1)
    }
}
