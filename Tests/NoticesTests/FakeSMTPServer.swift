import Foundation
import NIOCore
import NIOPosix

/// What the fake smarthost does; by default a well-behaved ESMTP server without STARTTLS.
struct FakeSMTPScript: Sendable {
    var greeting = "220 smarthost.test ESMTP Fake\r\n"
    var ehlo = "250-smarthost.test Hello\r\n250-PIPELINING\r\n250-SIZE 10240000\r\n250-ENHANCEDSTATUSCODES\r\n250 8BITMIME\r\n"
    /// Replies that replace the normal one for a verb (`MAIL`, `RCPT`, `DATA`, `EHLO`, `STARTTLS`),
    /// or for the message text (`.`).
    var replies: [String: String] = [:]
    /// Given: STARTTLS is offered in the EHLO reply (until TLS is up) and answered with 220,
    /// then this puts TLS on the connection.
    var startTLS: (@Sendable (any Channel) throws -> Void)?
    /// Never send anything: a hung smarthost.
    var silent = false
    /// Close the connection, without a reply, on receiving this verb.
    var hangUpOn: String?
    /// Write every reply in 3-byte pieces a few milliseconds apart, so the client has to
    /// reassemble replies (and multi-line replies) across reads. Not with `startTLS`.
    var trickle = false
    /// SMTP AUTH: offered (with these mechanisms, e.g. "PLAIN LOGIN") once TLS is up, or also in
    /// plaintext with `authInPlaintext`; accepts exactly this user and password.
    var auth: (mechanisms: String, user: String, password: String)?
    var authInPlaintext = false
}

/// What the fake smarthost saw, in order.
enum FakeSMTPEvent: Hashable, Sendable {
    case command(String, overTLS: Bool)
    /// The message text exactly as received (still dot-stuffed), without the final `.` CRLF.
    case message([UInt8], overTLS: Bool)
    case closed
}

/// One session's transcript, read from the events through the first close.
struct FakeSMTPSession {
    var commands: [String] = []
    var commandsOverTLS: [String] = []
    var messages: [[UInt8]] = []
    var messagesOverTLS: [[UInt8]] = []

    init(_ events: AsyncStream<FakeSMTPEvent>) async {
        for await event in events {
            switch event {
            case .command(let line, let overTLS):
                commands.append(line)
                if overTLS { commandsOverTLS.append(line) }
            case .message(let bytes, let overTLS):
                messages.append(bytes)
                if overTLS { messagesOverTLS.append(bytes) }
            case .closed:
                return
            }
        }
    }
}

/// A tiny smarthost on 127.0.0.1, ephemeral port: greets, answers EHLO/HELO, MAIL, RCPT, DATA,
/// QUIT as scripted, and records each command and message.
struct FakeSMTPServer: FakeServer {
    let listener: any Channel
    let events: AsyncStream<FakeSMTPEvent>

    var port: Int { listener.localAddress!.port! }

    static func start(on group: any EventLoopGroup, script: FakeSMTPScript = FakeSMTPScript()) async throws -> FakeSMTPServer {
        let (events, continuation) = AsyncStream<FakeSMTPEvent>.makeStream()
        let listener = try await ServerBootstrap(group: group)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(FakeSMTPHandler(script: script, events: continuation))
                }
            }
            .bind(host: "127.0.0.1", port: 0).get()
        listener.closeFuture.whenComplete { _ in continuation.finish() }
        return FakeSMTPServer(listener: listener, events: events)
    }

    func stop() async {
        listener.close(promise: nil)
        try? await listener.closeFuture.get()
    }
}

func withFakeSMTPServer<T>(on group: any EventLoopGroup, script: FakeSMTPScript = FakeSMTPScript(),
                           _ body: (FakeSMTPServer) async throws -> T) async throws -> T {
    try await withServer(try await FakeSMTPServer.start(on: group, script: script), body)
}

final class FakeSMTPHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private let script: FakeSMTPScript
    private let events: AsyncStream<FakeSMTPEvent>.Continuation
    private var buffer: [UInt8] = []
    private var inData = false
    private var tls = false
    /// Inside AUTH LOGIN: the user name is next (1), then the password (2).
    private var loginStage = 0
    private var loginUser = ""

    init(script: FakeSMTPScript, events: AsyncStream<FakeSMTPEvent>.Continuation) {
        self.script = script
        self.events = events
    }

    func channelActive(context: ChannelHandlerContext) {
        if !script.silent { send(script.greeting, context: context) }
    }

    func channelInactive(context: ChannelHandlerContext) {
        events.yield(.closed)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        buffer += Self.unwrapInboundIn(data).readableBytesView
        while step(context: context) {}
    }

    /// Handles one complete command or message from the buffer; false when more bytes are needed.
    private func step(context: ChannelHandlerContext) -> Bool {
        if inData {
            if buffer.starts(with: Array(".\r\n".utf8)) {
                buffer.removeFirst(3)
                return endMessage([], context: context)
            }
            guard let end = buffer.firstRange(of: Array("\r\n.\r\n".utf8)) else { return false }
            let text = Array(buffer[..<(end.lowerBound + 2)])
            buffer.removeSubrange(..<end.upperBound)
            return endMessage(text, context: context)
        }
        guard let end = buffer.firstRange(of: Array("\r\n".utf8)) else { return false }
        let line = String(decoding: buffer[..<end.lowerBound], as: UTF8.self)
        buffer.removeSubrange(..<end.upperBound)
        events.yield(.command(line, overTLS: tls))
        if loginStage > 0, let auth = script.auth {
            let decoded = Data(base64Encoded: line).map { String(decoding: $0, as: UTF8.self) } ?? ""
            if loginStage == 1 {
                loginUser = decoded
                loginStage = 2
                send("334 UGFzc3dvcmQ6\r\n", context: context)
            } else {
                loginStage = 0
                send(loginUser == auth.user && decoded == auth.password ? "235 2.7.0 Authentication successful\r\n"
                                                                        : "535 5.7.8 Authentication credentials invalid\r\n",
                     context: context)
            }
            return true
        }
        let verb = String(line.prefix(while: { $0 != " " && $0 != ":" }).uppercased())
        if verb == script.hangUpOn {
            context.close(promise: nil)
            return false
        }
        if let reply = script.replies[verb] {
            send(reply, context: context)
            if verb == "STARTTLS" && reply.hasPrefix("220") { startTLS(context: context) }
            return !(verb == "STARTTLS" && reply.hasPrefix("220"))
        }
        switch verb {
        case "EHLO":
            var lines = script.ehlo.components(separatedBy: "\r\n").filter { !$0.isEmpty }
            if script.startTLS != nil && !tls {
                // Offer STARTTLS among the other extensions, on a line in the middle.
                lines.insert("250-STARTTLS", at: 1)
            }
            if let auth = script.auth, tls || script.authInPlaintext {
                lines.insert("250-AUTH \(auth.mechanisms)", at: 1)
            }
            send(lines.joined(separator: "\r\n") + "\r\n", context: context)
        case "AUTH" where script.auth != nil:
            let words = line.split(separator: " ").map(String.init)
            let auth = script.auth!
            if words.count == 3, words[1].uppercased() == "PLAIN" {
                let fields = (Data(base64Encoded: words[2]) ?? Data()).split(separator: 0, omittingEmptySubsequences: false)
                    .map { String(decoding: $0, as: UTF8.self) }
                send(fields == ["", auth.user, auth.password] ? "235 2.7.0 Authentication successful\r\n"
                                                              : "535 5.7.8 Authentication credentials invalid\r\n", context: context)
            } else if words.count == 2, words[1].uppercased() == "LOGIN" {
                loginStage = 1
                send("334 VXNlcm5hbWU6\r\n", context: context)
            } else {
                send("504 5.5.4 Unrecognized authentication type\r\n", context: context)
            }
        case "HELO": send("250 smarthost.test\r\n", context: context)
        case "STARTTLS" where script.startTLS != nil && !tls:
            send("220 2.0.0 Ready to start TLS\r\n", context: context)
            startTLS(context: context)
            return false
        case "MAIL": send("250 2.1.0 Ok\r\n", context: context)
        case "RCPT": send("250 2.1.5 Ok\r\n", context: context)
        case "DATA":
            inData = true
            send("354 End data with <CR><LF>.<CR><LF>\r\n", context: context)
        case "QUIT":
            send("221 2.0.0 Bye\r\n", context: context, thenClose: true)
            return false
        default: send("502 5.5.1 Command not implemented\r\n", context: context)
        }
        return true
    }

    private func startTLS(context: ChannelHandlerContext) {
        buffer.removeAll()
        tls = true
        do {
            try script.startTLS?(context.channel)
        } catch {
            context.close(promise: nil)
        }
    }

    private func endMessage(_ text: [UInt8], context: ChannelHandlerContext) -> Bool {
        inData = false
        events.yield(.message(text, overTLS: tls))
        send(script.replies["."] ?? "250 2.0.0 Ok: queued as FAKE1\r\n", context: context)
        return true
    }

    private func send(_ text: String, context: ChannelHandlerContext, thenClose: Bool = false) {
        guard script.trickle else {
            context.writeAndFlush(Self.wrapOutboundOut(ByteBuffer(string: text)), promise: nil)
            if thenClose { context.close(promise: nil) }
            return
        }
        let bytes = Array(text.utf8)
        let pieces = stride(from: 0, to: bytes.count, by: 3).map { bytes[$0..<min($0 + 3, bytes.count)] }
        let loop = context.eventLoop.assumeIsolated()
        for (index, piece) in pieces.enumerated() {
            loop.scheduleTask(in: .milliseconds(Int64(index) * 2)) {
                context.writeAndFlush(Self.wrapOutboundOut(ByteBuffer(bytes: piece)), promise: nil)
            }
        }
        if thenClose {
            loop.scheduleTask(in: .milliseconds(Int64(pieces.count) * 2 + 2)) { context.close(promise: nil) }
        }
    }
}
