import Foundation
import NIOCore
import NIOSSL
import Testing
@testable import SMTPProxy
import SMTPTLS

/// Splice mode over real loopback TCP: the VM's STARTTLS goes to the MX, and the TLS session is
/// between the VM and the MX, with the relay copying bytes it cannot read.
@Suite(.timeLimit(.minutes(1)))
struct SpliceModeTests {
    static let stuffed = "Subject: spliced\r\n\r\n..dot\r\nend\r\n"

    @Test func theVMNegotiatesTLSWithTheMXItself() async throws {
        try await withTemporaryDirectory { directory in
            let certificates = try TestCertificates(in: directory)
            try await withEventLoopGroup { group in
                try await withFakeMX(on: group, startTLS: try mxTLS(certificates.mx)) { mx in
                    try await withRelay(on: group, destination: mx.address, tls: .splicing()) { relay in
                        try await VMClient.session(to: relay.address, group: group) { (vm: VMClient) async throws in
                            #expect(try await vm.reply() == "220 mx.test.example ESMTP FakeMX\r\n")
                            try await vm.send("EHLO vm1.test\r\n")
                            #expect(try await vm.reply()
                                    == "250-mx.test.example\r\n250-PIPELINING\r\n250-SIZE 10240000\r\n250-8BITMIME\r\n250 STARTTLS\r\n",
                                    "the MX's STARTTLS passed on, AUTH and XCLIENT still stripped")
                            try await vm.send("STARTTLS\r\n")
                            #expect(try await vm.reply() == "220 2.0.0 Ready to start TLS\r\n", "the MX's own 220")
                            // Verifies the MX's certificate and name: the relay could not present them.
                            try await vm.startTLS(vmTLS(trusting: certificates.mx, serverName: TestCertificates.mxName))
                            try await vm.send("EHLO vm1.test\r\n")
                            #expect(try await vm.reply() == FakeMX.ehloReply,
                                    "the MX's reply unfiltered (AUTH, XCLIENT): the relay no longer reads the session")
                            #expect(try await vm.channel.nioSSL_tlsVersion().get() == .tlsv13)
                            try await vm.send("MAIL FROM:<alice@vm1.test>\r\nRCPT TO:<bob@example.com>\r\nDATA\r\n")
                            #expect(try await vm.reply() == "250 2.1.0 Ok\r\n")
                            #expect(try await vm.reply() == "250 2.1.5 Ok\r\n")
                            #expect(try await vm.reply() == "354 End data with <CR><LF>.<CR><LF>\r\n")
                            try await vm.send(Self.stuffed + ".\r\n")
                            #expect(try await vm.reply() == "250 2.0.0 Ok: queued as FAKE1\r\n")
                            try await vm.send("QUIT\r\n")
                            #expect(try await vm.reply() == "221 2.0.0 Bye\r\n")
                        }
                        let seen = await MXSession(mx.events)
                        #expect(seen.plaintextCommands == ["EHLO vm1.test", "STARTTLS"], "the VM's STARTTLS, relayed")
                        #expect(seen.commandsOverTLS == ["EHLO vm1.test", "MAIL FROM:<alice@vm1.test>", "RCPT TO:<bob@example.com>",
                                                         "DATA", "QUIT"])
                        #expect(seen.messagesOverTLS == [Array(Self.stuffed.utf8)])
                    }
                }
            }
        }
    }

    /// CVE-2011-0411 in splice mode: a MAIL pipelined after STARTTLS must not reach the MX at
    /// all, neither with the STARTTLS (the MX would drop it, but the relay must not rely on that)
    /// nor after the 220, inside what the MX takes for the VM's TLS session.
    @Test func commandsPipelinedAfterSTARTTLSNeverReachTheMX() async throws {
        try await withTemporaryDirectory { directory in
            let certificates = try TestCertificates(in: directory)
            try await withEventLoopGroup { group in
                try await withFakeMX(on: group, startTLS: try mxTLS(certificates.mx)) { mx in
                    try await withRelay(on: group, destination: mx.address, tls: .splicing()) { relay in
                        try await VMClient.session(to: relay.address, group: group) { (vm: VMClient) async throws in
                            _ = try await vm.reply()
                            try await vm.send("EHLO vm1.test\r\n")
                            _ = try await vm.reply()
                            try await vm.send("STARTTLS\r\nMAIL FROM:<x@y>\r\n")
                            #expect(try await vm.reply() == "220 2.0.0 Ready to start TLS\r\n")
                            try await vm.startTLS(vmTLS(trusting: certificates.mx, serverName: TestCertificates.mxName))
                            try await vm.send("EHLO vm1.test\r\n")
                            #expect(try await vm.reply() == FakeMX.ehloReply, "the handshake with the MX succeeded")
                            try await vm.send("QUIT\r\n")
                            #expect(try await vm.reply() == "221 2.0.0 Bye\r\n")
                        }
                        let seen = await MXSession(mx.events)
                        #expect(seen.discardedAfterSTARTTLS.isEmpty, "\(String(decoding: seen.discardedAfterSTARTTLS, as: UTF8.self))")
                        #expect(seen.allCommands == ["EHLO vm1.test", "STARTTLS", "EHLO vm1.test", "QUIT"])
                    }
                }
            }
        }
    }

    /// The same session, but the VM trusts only the relay's certificate: the handshake fails,
    /// because the certificate it gets is the MX's. The relay is not a TLS peer in splice mode.
    @Test func theCertificateTheVMSeesIsTheMXs() async throws {
        try await withTemporaryDirectory { directory in
            let certificates = try TestCertificates(in: directory)
            try await withEventLoopGroup { group in
                try await withFakeMX(on: group, startTLS: try mxTLS(certificates.mx)) { mx in
                    try await withRelay(on: group, destination: mx.address, tls: .splicing()) { relay in
                        try await VMClient.session(to: relay.address, group: group) { (vm: VMClient) async throws in
                            _ = try await vm.reply()
                            try await vm.send("EHLO vm1.test\r\nSTARTTLS\r\n")
                            _ = try await vm.reply()
                            #expect(try await vm.reply() == "220 2.0.0 Ready to start TLS\r\n")
                            try await vm.startTLS(vmTLS(trusting: certificates.relay, serverName: TestCertificates.relayName))
                            // The handshake runs without a command to send: its failure ends the reply stream.
                            await #expect(throws: NIOSSLError.self) { try await vm.reply() }
                        }
                        let seen = await MXSession(mx.events)
                        #expect(seen.commandsOverTLS.isEmpty)
                    }
                }
            }
        }
    }
}
