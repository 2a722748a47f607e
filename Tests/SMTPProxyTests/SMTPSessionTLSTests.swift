import NIOCore
import Testing
@testable import SMTPProxy

@Suite struct SMTPSessionTLSTests {
    static let clientTLS = SMTPTLSInfo(version: "TLSv1.3", cipher: "TLS_AES_256_GCM_SHA384")
    static let upstreamTLS = SMTPTLSInfo(version: "TLSv1.2", cipher: "ECDHE-RSA-AES128-GCM-SHA256")

    @Test func terminateModeAnswersSTARTTLSItselfAndForgetsTheEHLO() {
        var d = SessionDriver(mode: .terminate, limits: SMTPLimits(maxMessageBytes: 50))
        d.ready(ehlo: "250-mx\r\n250 PIPELINING")
        #expect(d.vm("STARTTLS") == [.sendToClient(.readyToStartTLS), .discardClientBuffer, .startClientTLS],
                "not forwarded; buffered plaintext dropped before the handshake")
        #expect(!d.session.acceptsClientInput)
        #expect(d.on(.clientTLSEstablished(Self.clientTLS)).isEmpty)
        #expect(d.session.acceptsClientInput)
        #expect(d.vm("MAIL FROM:<a@b.example>") == [.sendToClient(.badSequence)], "RFC 3207 4.2: EHLO again first")
        #expect(d.vm("EHLO vm1") == [up("EHLO vm1")])
        #expect(d.mx("250-mx\r\n250 PIPELINING") == [vmGets("250-mx\r\n250-PIPELINING\r\n250 SIZE 50")],
                "no STARTTLS offered once TLS is up")
        #expect(d.vm("STARTTLS") == [.sendToClient(.badSequence)])
        d.mail()
        d.vm("QUIT")
        #expect(d.records.last?.clientTLS == Self.clientTLS)
    }

    @Test func heldSTARTTLSWaitsForEarlierReplies() {
        var d = SessionDriver(mode: .terminate)
        d.ready(ehlo: "250 mx")
        #expect(d.vm("RSET") == [up("RSET")])
        #expect(d.vm("STARTTLS").isEmpty, "the 220 may not overtake the RSET reply")
        #expect(!d.session.acceptsClientInput)
        #expect(d.mx("250 2.0.0 Ok") == [vmGets("250 2.0.0 Ok"), .sendToClient(.readyToStartTLS), .discardClientBuffer, .startClientTLS])
    }

    @Test func opportunisticUpstreamTLSHappensBeforeTheVMSeesItsEHLOReply() {
        var d = SessionDriver(mode: .terminate, limits: SMTPLimits(maxMessageBytes: 100))
        d.on(.upstreamConnected)
        d.mx("220 mx")
        d.vm("EHLO vm1")
        #expect(d.mx("250-mx\r\n250-STARTTLS\r\n250 SIZE 10") == [up("STARTTLS")], "VM's EHLO reply held back")
        #expect(!d.session.acceptsClientInput, "so no MAIL can be relayed before upstream TLS")
        #expect(d.mx("220 2.0.0 Ready") == [.discardUpstreamBuffer, .startUpstreamTLS])
        #expect(d.on(.upstreamTLSEstablished(Self.upstreamTLS)) == [up("EHLO vm1")])
        #expect(d.mx("250-mx\r\n250-PIPELINING\r\n250 SIZE 10") == [vmGets("250-mx\r\n250-PIPELINING\r\n250-SIZE 10\r\n250 STARTTLS")])
        #expect(d.session.acceptsClientInput)
        d.mail()
        d.vm("RSET")
        #expect(d.records.last?.upstreamTLS == Self.upstreamTLS)
    }

    @Test func upstreamRefusingSTARTTLSFallsBackToPlaintext() {
        var d = SessionDriver(mode: .terminate, limits: SMTPLimits(maxMessageBytes: 100))
        d.on(.upstreamConnected)
        d.mx("220 mx")
        d.vm("EHLO vm1")
        d.mx("250-mx\r\n250 STARTTLS")
        #expect(d.mx("454 4.7.0 TLS not available") == [vmGets("250-mx\r\n250-SIZE 100\r\n250 STARTTLS")])
        d.vm("EHLO vm1")
        #expect(d.mx("250-mx\r\n250 STARTTLS") == [vmGets("250-mx\r\n250-SIZE 100\r\n250 STARTTLS")], "asked only once")
    }

    @Test func upstreamTLSFailureIs421() {
        var d = SessionDriver(mode: .terminate)
        d.on(.upstreamConnected)
        d.mx("220 mx")
        d.vm("EHLO vm1")
        d.mx("250-mx\r\n250 STARTTLS")
        d.mx("220 go")
        #expect(d.on(.upstreamTLSFailed) == [.sendToClient(.upstreamTLSFailed), .closeClient, .closeUpstream])
    }

    @Test func spliceModeForwardsSTARTTLSAndThenGetsOutOfTheWay() {
        var d = SessionDriver(mode: .splice)
        d.ready(ehlo: "250-mx\r\n250 STARTTLS")
        #expect(d.vm("STARTTLS") == [up("STARTTLS")])
        #expect(!d.session.acceptsClientInput)
        #expect(d.mx("220 2.0.0 Ready to start TLS") == [vmGets("220 2.0.0 Ready to start TLS"), .discardClientBuffer,
                                                          .discardUpstreamBuffer, .splice])
        #expect(d.session.isSpliced)
        #expect(d.on(.upstreamReply(SMTPReply(code: 250, lines: ["x"]))).isEmpty)
        #expect(d.on(.clientClosed) == [.closeClient, .closeUpstream])
    }

    @Test func spliceModeRelaysARefusal() {
        var d = SessionDriver(mode: .splice)
        d.ready(ehlo: "250 mx")
        d.vm("STARTTLS")
        #expect(d.mx("502 5.5.1 No") == [vmGets("502 5.5.1 No")])
        #expect(!d.session.isSpliced && d.session.acceptsClientInput)
    }

    @Test func offModeRefusesSTARTTLS() {
        var d = SessionDriver(mode: .off)
        d.ready(ehlo: "250-mx\r\n250 STARTTLS")
        #expect(d.vm("STARTTLS") == [.sendToClient(.notImplemented)])
    }
}
