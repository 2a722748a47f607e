import Foundation
import NIOCore
import NIOSSL
import PortcullisCore
import Testing
@testable import SMTPProxy
import SMTPTLS

/// The relay in terminate mode over real loopback TCP and real TLS: a VM that verifies the relay's
/// certificate, and a fake MX with its own certificate that the relay does not verify.
@Suite(.timeLimit(.minutes(1)))
struct TerminateModeTests {
    static let content = ["Subject: over TLS", "", ".hidden line", "..two dots", ".", "caf\u{e9}", ""]
    static let stuffed = content.map { ($0.hasPrefix(".") ? "." + $0 : $0) + "\r\n" }.joined()
    static let tls13Suites: Set = ["TLS_AES_128_GCM_SHA256", "TLS_AES_256_GCM_SHA384", "TLS_CHACHA20_POLY1305_SHA256"]
    /// What BoringSSL may pick with a P-256 certificate and TLS 1.2.
    static let tls12Suites: Set = ["TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256", "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
                                   "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256"]

    /// The VM's EHLO reply: the MX's, filtered, with the relay's STARTTLS.
    static let ehloBeforeTLS = "250-mx.test.example\r\n250-PIPELINING\r\n250-SIZE 10240000\r\n250-8BITMIME\r\n250 STARTTLS\r\n"
    static let ehloAfterTLS = "250-mx.test.example\r\n250-PIPELINING\r\n250-SIZE 10240000\r\n250 8BITMIME\r\n"

    @Test(arguments: [TLSVersion.tlsv13, .tlsv12])
    func relaysAMessageOverTLSOnBothLegs(version: TLSVersion) async throws {
        try await withTemporaryDirectory { directory in
            let certificates = try TestCertificates(in: directory)
            let tls = try SMTPRelayTLS.terminating(certificate: certificates.relay)
            try await withEventLoopGroup { group in
                try await withFakeMX(on: group, startTLS: try mxTLS(certificates.mx, maximumVersion: version)) { mx in
                    try await withRelay(on: group, destination: mx.address, tls: tls) { relay in
                        let vmVersion = try await VMClient.session(to: relay.address, group: group) { (vm: VMClient) async throws in
                            #expect(try await vm.reply() == "220 mx.test.example ESMTP FakeMX\r\n")
                            try await vm.send("EHLO vm1.test\r\n")
                            #expect(try await vm.reply() == Self.ehloBeforeTLS)
                            try await vm.send("STARTTLS\r\n")
                            #expect(try await vm.reply() == "220 2.0.0 Ready to start TLS\r\n")
                            try await vm.startTLS(vmTLS(trusting: certificates.relay, serverName: TestCertificates.relayName,
                                                        maximumVersion: version))
                            try await vm.send("EHLO vm1.test\r\n")
                            #expect(try await vm.reply() == Self.ehloAfterTLS, "no STARTTLS once TLS is up")
                            let negotiated = try await vm.channel.nioSSL_tlsVersion().get()
                            try await vm.send("MAIL FROM:<alice@vm1.test>\r\nRCPT TO:<bob@example.com>\r\nDATA\r\n")
                            #expect(try await vm.reply() == "250 2.1.0 Ok\r\n")
                            #expect(try await vm.reply() == "250 2.1.5 Ok\r\n")
                            #expect(try await vm.reply() == "354 End data with <CR><LF>.<CR><LF>\r\n")
                            try await vm.send(Self.stuffed + ".\r\n")
                            #expect(try await vm.reply() == "250 2.0.0 Ok: queued as FAKE1\r\n")
                            try await vm.send("QUIT\r\n")
                            #expect(try await vm.reply() == "221 2.0.0 Bye\r\n")
                            return negotiated
                        }
                        #expect(vmVersion == version)

                        let seen = await MXSession(mx.events)
                        #expect(seen.plaintextCommands == ["EHLO vm1.test", "STARTTLS"],
                                "the relay's own STARTTLS, before the VM's EHLO reply and any MAIL")
                        #expect(seen.commandsOverTLS == ["EHLO vm1.test", "EHLO vm1.test", "MAIL FROM:<alice@vm1.test>",
                                                         "RCPT TO:<bob@example.com>", "DATA", "QUIT"])
                        #expect(seen.messagesOverTLS == [Array(Self.stuffed.utf8)], "byte for byte, over TLS")
                        #expect(seen.plaintextMessages.isEmpty)

                        let relayed = try #require(await relay.records.first { $0 })
                        #expect(relayed.record.verdict == .relayed)
                        #expect(relayed.record.sizeBytes == Self.stuffed.utf8.count)
                        let suites = version == .tlsv13 ? Self.tls13Suites : Self.tls12Suites
                        let name = version == .tlsv13 ? "TLSv1.3" : "TLSv1.2"
                        let client = try #require(relayed.record.clientTLS)
                        let upstream = try #require(relayed.record.upstreamTLS)
                        #expect(client.version == name)
                        #expect(suites.contains(client.cipher), "\(client.cipher)")
                        #expect(upstream.version == name)
                        #expect(suites.contains(upstream.cipher), "\(upstream.cipher)")
                    }
                }
            }
        }
    }

    @Test func anMXWithoutSTARTTLSGetsThePlaintextMessage() async throws {
        try await withTemporaryDirectory { directory in
            let certificates = try TestCertificates(in: directory)
            let tls = try SMTPRelayTLS.terminating(certificate: certificates.relay)
            try await withEventLoopGroup { group in
                try await withFakeMX(on: group) { mx in
                    try await withRelay(on: group, destination: mx.address, tls: tls) { relay in
                        try await VMClient.session(to: relay.address, group: group) { (vm: VMClient) async throws in
                            _ = try await vm.reply()
                            try await vm.send("EHLO vm1.test\r\n")
                            #expect(try await vm.reply() == Self.ehloBeforeTLS, "the relay offers TLS to the VM anyway")
                            try await vm.send("STARTTLS\r\n")
                            #expect(try await vm.reply() == "220 2.0.0 Ready to start TLS\r\n")
                            try await vm.startTLS(vmTLS(trusting: certificates.relay, serverName: TestCertificates.relayName))
                            try await vm.send("EHLO vm1.test\r\nMAIL FROM:<alice@vm1.test>\r\nRCPT TO:<bob@example.com>\r\nDATA\r\n")
                            #expect(try await vm.reply() == Self.ehloAfterTLS)
                            #expect(try await vm.reply() == "250 2.1.0 Ok\r\n")
                            #expect(try await vm.reply() == "250 2.1.5 Ok\r\n")
                            #expect(try await vm.reply() == "354 End data with <CR><LF>.<CR><LF>\r\n")
                            try await vm.send(Self.stuffed + ".\r\n")
                            #expect(try await vm.reply() == "250 2.0.0 Ok: queued as FAKE1\r\n")
                            try await vm.send("QUIT\r\n")
                            #expect(try await vm.reply() == "221 2.0.0 Bye\r\n")
                        }
                        let seen = await MXSession(mx.events)
                        #expect(!seen.startedTLS)
                        #expect(!seen.allCommands.contains("STARTTLS"))
                        #expect(seen.plaintextMessages == [Array(Self.stuffed.utf8)])

                        let relayed = try #require(await relay.records.first { $0 })
                        #expect(relayed.record.verdict == .relayed)
                        #expect(relayed.record.clientTLS?.version == "TLSv1.3")
                        #expect(relayed.record.upstreamTLS == nil, "the record says the upstream leg was plaintext")
                    }
                }
            }
        }
    }

    /// The transparent relay knows only the MX's address and sends no SNI; a name it is told
    /// (a smarthost) goes into SNI, an address literal never does.
    @Test(arguments: [(nil, nil), ("mx.test.example", "mx.test.example"), ("127.0.0.1", nil)] as [(String?, String?)])
    func sendsSNIOnlyForAKnownName(known: String?, sent: String?) async throws {
        try await withTemporaryDirectory { directory in
            let certificates = try TestCertificates(in: directory)
            let tls = try SMTPRelayTLS.terminating(certificate: certificates.relay, upstreamServerName: { _ in known })
            let (names, seen) = AsyncStream<String?>.makeStream()
            try await withEventLoopGroup { group in
                try await withFakeMX(on: group, startTLS: try mxTLS(certificates.mx, onClientHello: { seen.yield($0) })) { mx in
                    try await withRelay(on: group, destination: mx.address, tls: tls) { relay in
                        try await VMClient.session(to: relay.address, group: group) { (vm: VMClient) async throws in
                            _ = try await vm.reply()
                            try await vm.send("EHLO vm1.test\r\n")
                            #expect(try await vm.reply() == Self.ehloBeforeTLS, "after the upstream handshake")
                            try await vm.send("QUIT\r\n")
                            #expect(try await vm.reply() == "221 2.0.0 Bye\r\n")
                        }
                        let seenByMX = await MXSession(mx.events)
                        #expect(seenByMX.startedTLS)
                        seen.finish()
                        #expect(await names.collect(through: { _ in false }) == [sent])
                    }
                }
            }
        }
    }

    /// CVE-2011-0411: commands pipelined after STARTTLS in the same packet must not survive into the
    /// TLS session, where they would look like the VM's own.
    @Test func commandsPipelinedAfterSTARTTLSAreDiscarded() async throws {
        try await withTemporaryDirectory { directory in
            let certificates = try TestCertificates(in: directory)
            let tls = try SMTPRelayTLS.terminating(certificate: certificates.relay)
            try await withEventLoopGroup { group in
                try await withFakeMX(on: group, startTLS: try mxTLS(certificates.mx)) { mx in
                    try await withRelay(on: group, destination: mx.address, tls: tls) { relay in
                        try await VMClient.session(to: relay.address, group: group) { (vm: VMClient) async throws in
                            _ = try await vm.reply()
                            try await vm.send("EHLO vm1.test\r\n")
                            _ = try await vm.reply()
                            try await vm.send("STARTTLS\r\nMAIL FROM:<x@y>\r\n")
                            #expect(try await vm.reply() == "220 2.0.0 Ready to start TLS\r\n")
                            // Throws if anything (a reply to the MAIL) followed the 220 in plaintext.
                            try await vm.startTLS(vmTLS(trusting: certificates.relay, serverName: TestCertificates.relayName))
                            try await vm.send("EHLO vm1.test\r\n")
                            #expect(try await vm.reply() == Self.ehloAfterTLS, "the first reply over TLS is the EHLO's")
                            // Had the injected MAIL opened a transaction, this one would get 503.
                            try await vm.send("MAIL FROM:<alice@vm1.test>\r\n")
                            #expect(try await vm.reply() == "250 2.1.0 Ok\r\n")
                            try await vm.send("RSET\r\nQUIT\r\n")
                            #expect(try await vm.reply() == "250 2.0.0 Ok\r\n")
                            #expect(try await vm.reply() == "221 2.0.0 Bye\r\n")
                        }
                        let seen = await MXSession(mx.events)
                        #expect(!seen.allCommands.contains("MAIL FROM:<x@y>"), "\(seen.allCommands)")
                        #expect(seen.commandsOverTLS == ["EHLO vm1.test", "EHLO vm1.test", "MAIL FROM:<alice@vm1.test>", "RSET", "QUIT"])
                        let record = try #require(await relay.records.first { $0 })
                        #expect(record.record.sender.description == "<alice@vm1.test>", "no transaction for <x@y>")
                        #expect(record.record.verdict == .aborted)
                    }
                }
            }
        }
    }

    /// Plaintext sent after the 220 (instead of a ClientHello) is a failed handshake: the relay
    /// closes without answering it and relays nothing.
    @Test func plaintextAfterThe220EndsTheSession() async throws {
        try await withTemporaryDirectory { directory in
            let certificates = try TestCertificates(in: directory)
            let tls = try SMTPRelayTLS.terminating(certificate: certificates.relay)
            try await withEventLoopGroup { group in
                try await withFakeMX(on: group) { mx in
                    try await withRelay(on: group, destination: mx.address, tls: tls) { relay in
                        try await VMClient.session(to: relay.address, group: group) { (vm: VMClient) async throws in
                            _ = try await vm.reply()
                            try await vm.send("EHLO vm1.test\r\n")
                            _ = try await vm.reply()
                            try await vm.send("STARTTLS\r\n")
                            #expect(try await vm.reply() == "220 2.0.0 Ready to start TLS\r\n")
                            try await vm.send("MAIL FROM:<x@y>\r\nRCPT TO:<victim@example.com>\r\n")
                            // NIOSSL may answer with a TLS alert; never with an SMTP reply.
                            let after = try? await vm.reply()
                            #expect(after == nil)
                        }
                        let seen = await MXSession(mx.events)
                        #expect(seen.allCommands == ["EHLO vm1.test"], "nothing after the STARTTLS reached the MX")
                    }
                }
            }
        }
    }

    /// An MX that offers STARTTLS but cannot complete the handshake: the VM gets a 421 instead of
    /// its EHLO reply, so it retries later rather than sending in plaintext what it meant to encrypt.
    @Test func aFailedUpstreamHandshakeIs421() async throws {
        try await withTemporaryDirectory { directory in
            let certificates = try TestCertificates(in: directory)
            let tls = try SMTPRelayTLS.terminating(certificate: certificates.relay)
            let garbage: FakeMXStartTLS = { channel in
                try channel.pipeline.syncOperations.addHandler(NotTLS(), position: .first)
            }
            try await withEventLoopGroup { group in
                try await withFakeMX(on: group, startTLS: garbage) { mx in
                    try await withRelay(on: group, destination: mx.address, tls: tls) { relay in
                        try await VMClient.session(to: relay.address, group: group) { (vm: VMClient) async throws in
                            _ = try await vm.reply()
                            try await vm.send("EHLO vm1.test\r\n")
                            #expect(try await vm.reply() == "421 4.7.0 TLS with upstream mail server failed, try again later\r\n")
                            #expect(try await vm.closedWithoutMore())
                        }
                    }
                }
            }
        }
    }
}

/// Answers the ClientHello with plaintext. (Plaintext sent right after the 220, before the
/// ClientHello, would not do: the relay discards it as injected, then waits for a ServerHello.)
final class NotTLS: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        context.writeAndFlush(Self.wrapOutboundOut(ByteBuffer(string: "554 5.0.0 this is not TLS\r\n")), promise: nil)
    }
}
