import Testing
@testable import SMTPProxy

@Suite struct EHLOFilterTests {
    static let upstream = SMTPReply(code: 250, lines: [
        "mx.example.com Hello vm1", "PIPELINING", "SIZE 52428800", "VRFY", "ETRN", "STARTTLS",
        "AUTH PLAIN LOGIN", "AUTH=PLAIN", "XCLIENT NAME ADDR", "XFORWARD NAME ADDR", "ENHANCEDSTATUSCODES",
        "8BITMIME", "DSN", "SMTPUTF8", "CHUNKING", "BINARYMIME", "X-UNKNOWN-THING",
    ])

    @Test func stripsWhatWeDoNotImplement() {
        let filtered = EHLOFilter(tlsMode: .off, clientLegIsTLS: false, maxMessageBytes: 10_485_760).filter(Self.upstream)
        #expect(filtered.code == 250)
        #expect(filtered.lines == ["mx.example.com Hello vm1", "PIPELINING", "SIZE 10485760", "ENHANCEDSTATUSCODES",
                                   "8BITMIME", "SMTPUTF8"])
    }

    @Test(arguments: [("SIZE 1000", 1000), ("SIZE 0", 5000), ("SIZE", 5000), ("size 99999", 5000), ("SIZE junk", 5000)])
    func sizeCapped(_ sizeLine: String, _ advertised: Int) {
        let reply = SMTPReply(code: 250, lines: ["mx", sizeLine])
        let filtered = EHLOFilter(tlsMode: .off, clientLegIsTLS: false, maxMessageBytes: 5000).filter(reply)
        #expect(filtered.lines == ["mx", "SIZE \(advertised)"])
    }

    @Test func sizeAdvertisedWhenUpstreamHasNone() {
        let filtered = EHLOFilter(tlsMode: .off, clientLegIsTLS: false, maxMessageBytes: 777).filter(SMTPReply(code: 250, lines: ["mx"]))
        #expect(filtered.lines == ["mx", "SIZE 777"])
        #expect(filtered.description == "250-mx\r\n250 SIZE 777\r\n")
    }

    @Test func extensionsPassOnlyWhenUpstreamHasThem() {
        let bare = SMTPReply(code: 250, lines: ["mx", "PIPELINING"])
        let filtered = EHLOFilter(tlsMode: .off, clientLegIsTLS: false, maxMessageBytes: 1).filter(bare)
        #expect(!filtered.lines.contains("8BITMIME"))
        #expect(!filtered.lines.contains("SMTPUTF8"))
        #expect(!filtered.lines.contains("ENHANCEDSTATUSCODES"))
        #expect(filtered.lines.contains("PIPELINING"))
    }

    @Test(arguments: [
        // mode, upstream offers, client leg already TLS, we advertise
        (SMTPTLSMode.off, true, false, false),
        (.off, false, false, false),
        (.terminate, true, false, true),
        (.terminate, false, false, true),
        (.terminate, true, true, false),
        (.splice, true, false, true),
        (.splice, false, false, false),
    ])
    func startTLSPerMode(_ mode: SMTPTLSMode, _ upstreamOffers: Bool, _ clientIsTLS: Bool, _ advertised: Bool) {
        let reply = SMTPReply(code: 250, lines: ["mx", "PIPELINING"] + (upstreamOffers ? ["STARTTLS"] : []))
        let filtered = EHLOFilter(tlsMode: mode, clientLegIsTLS: clientIsTLS, maxMessageBytes: 100).filter(reply)
        #expect(filtered.lines.filter { $0 == "STARTTLS" }.count == (advertised ? 1 : 0))
    }

    @Test func failuresPassUnchanged() {
        let refusal = SMTPReply(code: 554, lines: ["5.7.1 go away", "really"])
        #expect(EHLOFilter(tlsMode: .terminate, clientLegIsTLS: false, maxMessageBytes: 1).filter(refusal) == refusal)
    }

    @Test func offersStartTLS() {
        #expect(EHLOFilter.offersStartTLS(Self.upstream))
        #expect(!EHLOFilter.offersStartTLS(SMTPReply(code: 250, lines: ["STARTTLS"])), "the first line is the greeting, not a keyword")
        #expect(!EHLOFilter.offersStartTLS(SMTPReply(code: 502, lines: ["x", "STARTTLS"])))
    }
}
