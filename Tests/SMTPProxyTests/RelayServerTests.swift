import Foundation
import NIOCore
import NIOPosix
import PortcullisCore
import Testing
@testable import SMTPProxy

/// The relay over real loopback TCP, with a fake MX behind it. Non-transparent listeners with a
/// destination override, so no root and no namespaces are needed.
@Suite(.timeLimit(.minutes(1)))
struct RelayServerTests {
    static let content = ["Subject: dots", "", ".hidden line", "..two dots", ".", "plain", ". space", ""]
    static let stuffed = content.map { ($0.hasPrefix(".") ? "." + $0 : $0) + "\r\n" }.joined()

    @Test(arguments: loopbackHosts)
    func relaysAFullSessionByteForByte(host: String) async throws {
        try await withEventLoopGroup { group in
            try await withFakeMX(on: group, host: host) { mx in
                try await withRelay(on: group, host: host, destination: mx.address) { relay in
                    let vmAddress = try await VMClient.session(to: relay.address, group: group) { (vm: VMClient) async throws in
                        #expect(try await vm.reply() == "220 mx.test.example ESMTP FakeMX\r\n")
                        try await vm.send("EHLO vm1.test\r\n")
                        #expect(try await vm.reply() == "250-mx.test.example\r\n250-PIPELINING\r\n250-SIZE 10240000\r\n250 8BITMIME\r\n",
                                "AUTH and XCLIENT are stripped")
                        try await vm.send("AUTH PLAIN AGFsaWNlAHNlY3JldA==\r\n")
                        #expect(try await vm.reply() == "502 5.5.1 Command not implemented\r\n")
                        try await vm.send("MAIL FROM:<alice@vm1.test>\r\nRCPT TO:<bob@example.com>\r\nRCPT TO:<carol@Example.NET>\r\nDATA\r\n")
                        #expect(try await vm.reply() == "250 2.1.0 Ok\r\n")
                        #expect(try await vm.reply() == "250 2.1.5 Ok\r\n")
                        #expect(try await vm.reply() == "250 2.1.5 Ok\r\n")
                        #expect(try await vm.reply() == "354 End data with <CR><LF>.<CR><LF>\r\n")
                        try await vm.send(Self.stuffed + ".\r\n")
                        #expect(try await vm.reply() == "250 2.0.0 Ok: queued as FAKE1\r\n")
                        try await vm.send("QUIT\r\n")
                        #expect(try await vm.reply() == "221 2.0.0 Bye\r\n")
                        #expect(try await vm.closedWithoutMore())
                        return vm.localAddress
                    }

                    var commands: [String] = []
                    let message = await mx.events.first { event -> [UInt8]? in
                        if case .command(let line) = event { commands.append(line) }
                        if case .message(let bytes) = event { return bytes }
                        return nil
                    }
                    #expect(message == Array(Self.stuffed.utf8), "the MX got the text still stuffed, byte for byte")
                    #expect(commands == ["EHLO vm1.test", "MAIL FROM:<alice@vm1.test>", "RCPT TO:<bob@example.com>",
                                         "RCPT TO:<carol@Example.NET>", "DATA"], "AUTH never reached the MX")

                    let relayed = try #require(await relay.records.first { $0 })
                    #expect(relayed.vm == testVM)
                    #expect(relayed.destination == mx.address)
                    #expect(relayed.client == vmAddress)
                    #expect(relayed.record.sender.description == "<alice@vm1.test>")
                    #expect(relayed.record.ehloName == "vm1.test")
                    #expect(relayed.record.recipientCount == 2)
                    #expect(relayed.record.recipientDomains == ["example.com", "example.net"])
                    #expect(relayed.record.sizeBytes == Self.stuffed.utf8.count)
                    #expect(relayed.record.upstreamReply?.description == "250 2.0.0 Ok: queued as FAKE1\r\n")
                    #expect(relayed.record.upstreamGreetingDomain == "mx.test.example")
                    #expect(relayed.record.verdict == .relayed)
                }
            }
        }
    }

    @Test func refusedUpstreamIs421() async throws {
        try await withEventLoopGroup { group in
            let nowhere = try await closedPort(on: group)
            try await withRelay(on: group, destination: nowhere) { relay in
                try await VMClient.session(to: relay.address, group: group) { (vm: VMClient) async throws in
                    #expect(try await vm.reply() == "421 4.4.2 Upstream mail server unreachable, try again later\r\n")
                    #expect(try await vm.closedWithoutMore())
                }
            }
        }
    }

    @Test func sessionLimitIs421WithoutDialling() async throws {
        try await withEventLoopGroup { group in
            try await withFakeMX(on: group) { mx in
                try await withRelay(on: group, destination: mx.address,
                                    configure: { $0.vmLimits = SMTPVMLimits(sessions: 1, connectionsPerMinute: 100) }) { relay in
                    try await VMClient.session(to: relay.address, group: group) { (first: VMClient) async throws in
                        #expect(try await first.reply() == "220 mx.test.example ESMTP FakeMX\r\n")
                        try await VMClient.session(to: relay.address, group: group) { (second: VMClient) async throws in
                            #expect(try await second.reply() == "421 4.7.0 Too many concurrent sessions from this VM, try again later\r\n")
                            #expect(try await second.closedWithoutMore())
                        }
                        try await first.send("QUIT\r\n")
                        #expect(try await first.reply() == "221 2.0.0 Bye\r\n")
                    }
                    // The first session's upstream leg is gone once the MX reports its close.
                    var seen = await mx.events.collect(through: { $0 == .closed })
                    try await VMClient.session(to: relay.address, group: group) { (third: VMClient) async throws in
                        #expect(try await third.reply() == "220 mx.test.example ESMTP FakeMX\r\n", "the slot was given back")
                    }
                    await mx.stop()
                    seen += await mx.events.collect(through: { _ in false })
                    let accepted = seen.filter { if case .accepted = $0 { true } else { false } }
                    #expect(accepted.count == 2, "the refused session never dialled: two upstream connections for three VM connections")
                }
            }
        }
    }
}
