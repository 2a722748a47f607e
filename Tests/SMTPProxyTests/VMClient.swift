import Foundation
import NIOCore
import NIOPosix

/// The VM's side of a session over real TCP: send text, read whole SMTP replies.
final class VMClient {
    private var inbound: NIOAsyncChannelInboundStream<ByteBuffer>.AsyncIterator
    private let outbound: NIOAsyncChannelOutboundWriter<ByteBuffer>
    private var pending = ""
    /// The connection, for adding TLS and asking it what was negotiated.
    let channel: any Channel
    let localAddress: SocketAddress?

    private init(inbound: NIOAsyncChannelInboundStream<ByteBuffer>, outbound: NIOAsyncChannelOutboundWriter<ByteBuffer>,
                 channel: any Channel) {
        self.inbound = inbound.makeAsyncIterator()
        self.outbound = outbound
        self.channel = channel
        self.localAddress = channel.localAddress
    }

    /// Connects (from `source` if given) and runs `body`; the connection is closed afterwards.
    static func session<T>(to address: SocketAddress, from source: SocketAddress? = nil, group: any EventLoopGroup,
                           _ body: (VMClient) async throws -> T) async throws -> T {
        var bootstrap = ClientBootstrap(group: group)
        if let source { bootstrap = bootstrap.bind(to: source) }
        let channel = try await bootstrap.connect(to: address) { channel in
            channel.eventLoop.makeCompletedFuture {
                try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: channel)
            }
        }
        let raw = channel.channel
        return try await channel.executeThenClose { inbound, outbound in
            try await body(VMClient(inbound: inbound, outbound: outbound, channel: raw))
        }
    }

    func send(_ text: String) async throws {
        try await outbound.write(ByteBuffer(string: text))
    }

    /// After the server's 220 to STARTTLS: `install` adds a TLS client handler in front of the
    /// connection's handlers, on its event loop. Replies arrive decrypted from then on (and a
    /// failed handshake makes `reply()` throw). Plaintext already received after the 220 would have
    /// been injected, so there must be none.
    func startTLS(_ install: @escaping @Sendable (any Channel) throws -> Void) async throws {
        guard pending.isEmpty else { throw VMClientError.plaintextAfterSTARTTLS(pending) }
        let channel = self.channel
        try await channel.eventLoop.submit { try install(channel) }.get()
    }

    /// The next complete reply (all its lines, CRLFs included), or nil if the relay closed first.
    func reply() async throws -> String? {
        while true {
            if let reply = takeReply() { return reply }
            guard let bytes = try await inbound.next() else { return nil }
            pending += String(buffer: bytes)
        }
    }

    /// True once the relay has closed the connection, with nothing more sent.
    func closedWithoutMore() async throws -> Bool {
        while let bytes = try await inbound.next() {
            pending += String(buffer: bytes)
        }
        return pending.isEmpty
    }

    private func takeReply() -> String? {
        var consumed = ""
        var rest = Substring(pending)
        while let end = rest.range(of: "\r\n") {
            let line = rest[..<end.lowerBound]
            consumed += line + "\r\n"
            rest = rest[end.upperBound...]
            if line.count >= 4, line[line.index(line.startIndex, offsetBy: 3)] == " " {
                pending = String(rest)
                return consumed
            }
        }
        return nil
    }
}

enum VMClientError: Error {
    case plaintextAfterSTARTTLS(String)
}
