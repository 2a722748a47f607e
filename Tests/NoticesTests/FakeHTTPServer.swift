import Crypto
import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix

/// One request as the fake receiver saw it.
struct FakeHTTPRequest: Sendable {
    var method: HTTPMethod
    var uri: String
    var headers: HTTPHeaders
    var body: [UInt8]
    /// The receiver's own check of X-Portcullis-Signature, computed here with CryptoKit's HMAC
    /// directly, not with the code under test.
    var signatureValid: Bool
}

/// What the fake receiver answers.
struct FakeHTTPScript: Sendable {
    var status: HTTPResponseStatus = .ok
    var body = ""
    var headers: [(String, String)] = []
    /// Read the request, never answer: a hung receiver.
    var silent = false
    var secret = "whsec_portcullis_test"
    /// Given: the receiver speaks TLS with this handler installer.
    var tls: (@Sendable (any Channel) throws -> Void)?
}

/// A tiny HTTP/1.1 receiver on 127.0.0.1, ephemeral port, that records each request, checks
/// its signature the way a receiver would, and answers as scripted.
struct FakeHTTPServer: FakeServer {
    let listener: any Channel
    let requests: AsyncStream<FakeHTTPRequest>

    var port: Int { listener.localAddress!.port! }

    static func start(on group: any EventLoopGroup, script: FakeHTTPScript) async throws -> FakeHTTPServer {
        let (requests, continuation) = AsyncStream<FakeHTTPRequest>.makeStream()
        let listener = try await ServerBootstrap(group: group)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try script.tls?(channel)
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline(withErrorHandling: true)
                    try channel.pipeline.syncOperations.addHandler(FakeHTTPHandler(script: script, requests: continuation))
                }
            }
            .bind(host: "127.0.0.1", port: 0).get()
        listener.closeFuture.whenComplete { _ in continuation.finish() }
        return FakeHTTPServer(listener: listener, requests: requests)
    }

    func stop() async {
        listener.close(promise: nil)
        try? await listener.closeFuture.get()
    }
}

func withFakeHTTPServer<T>(on group: any EventLoopGroup, script: FakeHTTPScript = FakeHTTPScript(),
                           _ body: (FakeHTTPServer) async throws -> T) async throws -> T {
    try await withServer(try await FakeHTTPServer.start(on: group, script: script), body)
}

final class FakeHTTPHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    private let script: FakeHTTPScript
    private let requests: AsyncStream<FakeHTTPRequest>.Continuation
    private var head: HTTPRequestHead?
    private var body: [UInt8] = []

    init(script: FakeHTTPScript, requests: AsyncStream<FakeHTTPRequest>.Continuation) {
        self.script = script
        self.requests = requests
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch Self.unwrapInboundIn(data) {
        case .head(let head):
            self.head = head
            body = []
        case .body(let bytes):
            body += bytes.readableBytesView
        case .end:
            guard let head else { return }
            requests.yield(FakeHTTPRequest(method: head.method, uri: head.uri, headers: head.headers, body: body,
                                           signatureValid: Self.verify(head.headers, body: body, secret: script.secret)))
            guard !script.silent else { return }
            var headers = HTTPHeaders(script.headers)
            headers.add(name: "Content-Length", value: "\(script.body.utf8.count)")
            headers.add(name: "Connection", value: "close")
            context.write(Self.wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: script.status,
                                                                      headers: headers))), promise: nil)
            context.write(Self.wrapOutboundOut(.body(.byteBuffer(ByteBuffer(string: script.body)))), promise: nil)
            context.writeAndFlush(Self.wrapOutboundOut(.end(nil))).assumeIsolated().whenComplete { _ in
                context.close(promise: nil)
            }
        }
    }

    /// What a receiver does: recompute the HMAC over "<timestamp>.<raw body>" and compare.
    static func verify(_ headers: HTTPHeaders, body: [UInt8], secret: String) -> Bool {
        guard let timestamp = headers.first(name: "X-Portcullis-Timestamp"),
              let signature = headers.first(name: "X-Portcullis-Signature"), signature.hasPrefix("sha256=") else {
            return false
        }
        let key = SymmetricKey(data: Array(secret.utf8))
        let expected = HMAC<SHA256>.authenticationCode(for: Array((timestamp + ".").utf8) + body, using: key)
        let hex = expected.map { String(format: "%02x", $0) }.joined()
        return signature == "sha256=" + hex
    }
}
