import Foundation
import NIOCore
import NIOPosix
import PortcullisCore
import Testing
@testable import SMTPProxy

extension RelayServerTests {
    @Test func connectionsPerMinuteIs421() async throws {
        try await withEventLoopGroup { group in
            try await withFakeMX(on: group) { mx in
                try await withRelay(on: group, destination: mx.address,
                                    configure: { $0.vmLimits = SMTPVMLimits(sessions: 10, connectionsPerMinute: 2) }) { relay in
                    for _ in 0..<2 {
                        try await VMClient.session(to: relay.address, group: group) { (vm: VMClient) async throws in
                            #expect(try await vm.reply() == "220 mx.test.example ESMTP FakeMX\r\n")
                            try await vm.send("QUIT\r\n")
                            #expect(try await vm.reply() == "221 2.0.0 Bye\r\n")
                        }
                    }
                    try await VMClient.session(to: relay.address, group: group) { (vm: VMClient) async throws in
                        #expect(try await vm.reply() == "421 4.7.0 Too many connections from this VM, try again later\r\n")
                        #expect(try await vm.closedWithoutMore())
                    }
                }
            }
        }
    }

    @Test func messagesPerHourIs451OnMail() async throws {
        try await withEventLoopGroup { group in
            try await withFakeMX(on: group) { mx in
                try await withRelay(on: group, destination: mx.address,
                                    configure: { $0.vmLimits = SMTPVMLimits(messagesPerHour: 1) }) { relay in
                    try await VMClient.session(to: relay.address, group: group) { (vm: VMClient) async throws in
                        _ = try await vm.reply()
                        try await vm.send("EHLO vm1.test\r\n")
                        _ = try await vm.reply()
                        try await vm.send("MAIL FROM:<a@vm1.test>\r\nRCPT TO:<b@example.com>\r\nDATA\r\n")
                        #expect(try await vm.reply() == "250 2.1.0 Ok\r\n")
                        #expect(try await vm.reply() == "250 2.1.5 Ok\r\n")
                        #expect(try await vm.reply() == "354 End data with <CR><LF>.<CR><LF>\r\n")
                        try await vm.send("hello\r\n.\r\n")
                        #expect(try await vm.reply() == "250 2.0.0 Ok: queued as FAKE1\r\n")
                        try await vm.send("MAIL FROM:<a@vm1.test>\r\n")
                        #expect(try await vm.reply() == "451 4.7.1 Too many messages from this VM, try again later\r\n")
                        try await vm.send("QUIT\r\n")
                        #expect(try await vm.reply() == "221 2.0.0 Bye\r\n")
                    }
                    let events = await mx.events.collect(through: { $0 == .command("QUIT") })
                    let mails = events.filter { $0 == .command("MAIL FROM:<a@vm1.test>") }
                    #expect(mails.count == 1, "the refused MAIL never reached the MX")
                    let records = await relay.records.collect(through: { $0.record.verdict == .rateLimited })
                    let verdicts = records.map { $0.record.verdict }
                    #expect(verdicts == [.relayed, .rateLimited])
                }
            }
        }
    }

    @Test func silentUpstreamTimesOutWith421() async throws {
        try await withEventLoopGroup { group in
            // Accepts the TCP connection and never greets.
            let silent = try await ServerBootstrap(group: group).bind(host: "127.0.0.1", port: 0).get()
            try await withRelay(on: group, destination: silent.localAddress!,
                                configure: { $0.timeouts.initialGreeting = .milliseconds(300) }) { relay in
                try await VMClient.session(to: relay.address, group: group) { (vm: VMClient) async throws in
                    #expect(try await vm.reply() == "421 4.4.2 Timeout, closing connection\r\n")
                    #expect(try await vm.closedWithoutMore())
                }
            }
            try await silent.close()
        }
    }

    @Test func unknownVMIs554() async throws {
        try await withEventLoopGroup { group in
            try await withFakeMX(on: group) { mx in
                try await withRelay(on: group, destination: mx.address, identify: { _ in nil }) { relay in
                    try await VMClient.session(to: relay.address, group: group) { (vm: VMClient) async throws in
                        #expect(try await vm.reply() == "554 5.7.1 Relay access denied: unknown source address\r\n")
                        #expect(try await vm.closedWithoutMore())
                    }
                }
                await mx.stop()
                #expect(await mx.events.collect(through: { _ in false }).isEmpty, "nothing was dialled for it")
            }
        }
    }

    @Test func identifyGetsTheVMsAddress() async throws {
        try await withEventLoopGroup { group in
            try await withFakeMX(on: group) { mx in
                let (asked, ask) = AsyncStream<SocketAddress>.makeStream()
                try await withRelay(on: group, destination: mx.address,
                                    identify: { ask.yield($0); return testVM }) { relay in
                    let local = try await VMClient.session(to: relay.address, group: group) { (vm: VMClient) async throws in
                        #expect(try await vm.reply() == "220 mx.test.example ESMTP FakeMX\r\n")
                        return vm.localAddress
                    }
                    #expect(await asked.first { $0 } == local)
                }
            }
        }
    }

    @Test func shutdownEndsOpenSessionsWith421() async throws {
        try await withEventLoopGroup { group in
            try await withFakeMX(on: group) { mx in
                try await withRelay(on: group, destination: mx.address) { relay in
                    try await VMClient.session(to: relay.address, group: group) { (vm: VMClient) async throws in
                        #expect(try await vm.reply() == "220 mx.test.example ESMTP FakeMX\r\n")
                        relay.task.cancel()
                        #expect(try await vm.reply() == "421 4.3.2 Relay shutting down, try again later\r\n")
                        #expect(try await vm.closedWithoutMore())
                    }
                    try await relay.task.value
                    await #expect(throws: (any Error).self, "the listener is closed") {
                        try await VMClient.session(to: relay.address, group: group) { (_: VMClient) async throws in }
                    }
                }
            }
        }
    }

    @Test func nonTransparentWithoutADestinationRefusesToStart() async throws {
        try await withEventLoopGroup { group in
            let server = SMTPRelayServer(configuration: SMTPRelayConfiguration(listenHosts: ["127.0.0.1"], listenPort: 0,
                                                                               transparent: false),
                                         group: group, identify: { _ in testVM }, record: { _ in })
            await #expect(throws: SMTPRelayServerError.noDestinationSource) { try await server.run() }
        }
    }

    /// IP_TRANSPARENT and SO_MARK need CAP_NET_ADMIN; CI runs as root. Without it the test
    /// fails, loudly, rather than being skipped.
    @Test func transparentUpstreamLegUsesTheVMsAddress() async throws {
        try #require(geteuid() == 0, "run the tests as root: IP_TRANSPARENT and SO_MARK need CAP_NET_ADMIN")
        try await withEventLoopGroup { group in
            try await withFakeMX(on: group) { mx in
                try await withRelay(on: group, destination: mx.address, configure: {
                    $0.transparent = true
                    $0.upstreamMark = 2
                }) { relay in
                    let vmSource = try SocketAddress(ipAddress: "127.0.0.2", port: 0)
                    try await VMClient.session(to: relay.address, from: vmSource, group: group) { (vm: VMClient) async throws in
                        #expect(try await vm.reply() == "220 mx.test.example ESMTP FakeMX\r\n")
                    }
                    let peer = await mx.events.first { event -> SocketAddress? in
                        if case .accepted(let from) = event { return from }
                        return nil
                    }
                    #expect(peer?.ipAddress == "127.0.0.2", "the MX sees the VM's address, not the relay's")
                }
            }
        }
    }
}
