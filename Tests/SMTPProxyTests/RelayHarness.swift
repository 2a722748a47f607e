import Foundation
import NIOCore
import NIOEmbedded
@testable import SMTPProxy

/// Both legs on EmbeddedChannels sharing one loop: VM bytes in, upstream bytes out, and back.
final class RelayHarness {
    final class Log {
        var records: [SMTPTransactionRecord] = []
        var clientTLSStarts = 0
        var upstreamTLSStarts = 0
        var rateQueries: [SMTPRateQuery] = []
    }

    let loop = EmbeddedEventLoop()
    let client: EmbeddedChannel
    let upstream: EmbeddedChannel
    let log = Log()

    init(mode: SMTPTLSMode = .off, limits: SMTPLimits = SMTPLimits(), rate: SMTPRateDecision = .allow) throws {
        client = EmbeddedChannel(loop: loop)
        upstream = EmbeddedChannel(loop: loop)
        let log = self.log
        let hooks = SMTPRelayHooks(
            now: { Date(timeIntervalSince1970: 1_800_000_000) },
            checkRate: { log.rateQueries.append($0); return rate },
            record: { log.records.append($0) },
            startClientTLS: { _ in log.clientTLSStarts += 1 },
            startUpstreamTLS: { _ in log.upstreamTLSStarts += 1 }
        )
        let upstreamHandler = SMTPUpstreamLegHandler()
        let clientHandler = SMTPClientLegHandler(configuration: .init(tlsMode: mode, limits: limits),
                                                 upstream: upstreamHandler, hooks: hooks)
        try client.pipeline.syncOperations.addHandler(clientHandler)
        try upstream.pipeline.syncOperations.addHandler(upstreamHandler)
        try client.connect(to: SocketAddress(ipAddress: "192.0.2.10", port: 40000)).wait()
        try upstream.connect(to: SocketAddress(ipAddress: "198.51.100.25", port: 25)).wait()
    }

    func vm(_ text: String) throws { try client.writeInbound(ByteBuffer(string: text)) }
    func vm(bytes: [UInt8]) throws { try client.writeInbound(ByteBuffer(bytes: bytes)) }
    func mx(_ text: String) throws { try upstream.writeInbound(ByteBuffer(string: text)) }

    /// Everything written to the upstream since the last call.
    func sentUpstream() throws -> [UInt8] { try drain(upstream) }
    /// Everything written to the VM since the last call.
    func sentToVM() throws -> String { String(decoding: try drain(client), as: UTF8.self) }

    private func drain(_ channel: EmbeddedChannel) throws -> [UInt8] {
        var bytes: [UInt8] = []
        while let buffer = try channel.readOutbound(as: ByteBuffer.self) { bytes += buffer.readableBytesView }
        return bytes
    }

    /// Greeting and EHLO exchanged; the upstream offers PIPELINING and 8BITMIME.
    func ready() throws {
        try mx("220 mx.example.com ESMTP\r\n")
        try vm("EHLO vm1.example.org\r\n")
        try mx("250-mx.example.com\r\n250-PIPELINING\r\n250 8BITMIME\r\n")
        _ = try sentUpstream()
        _ = try sentToVM()
    }

    /// Up to the 354.
    func openData() throws {
        try ready()
        try vm("MAIL FROM:<alice@vm1.example.org>\r\nRCPT TO:<bob@example.com>\r\nDATA\r\n")
        try mx("250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n354 End data with <CR><LF>.<CR><LF>\r\n")
        _ = try sentUpstream()
        _ = try sentToVM()
    }
}

extension Array where Element == UInt8 {
    var text: String { String(decoding: self, as: UTF8.self) }
    func occurrences(of needle: String) -> Int {
        let n = Array(needle.utf8)
        guard count >= n.count else { return 0 }
        return (0...(count - n.count)).filter { self[$0..<($0 + n.count)].elementsEqual(n) }.count
    }
}
