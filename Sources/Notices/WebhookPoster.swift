import Foundation
import Logging
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOSSL
import PortcullisCore

/// Posts notices as signed JSON to a receiver the provider runs (a ticketing system, a chat
/// bridge, the tenant's own endpoint), one connection per notice.
///
/// Each request carries `X-Portcullis-Timestamp` and `X-Portcullis-Signature` (see
/// `signature(secret:timestamp:body:)`), so the receiver can tell a notice from us from a forged
/// or replayed one without any other credentials.
public struct WebhookPoster: Sendable {
    /// Most receivers answer at once; a slow one is retried later rather than waited for.
    public static let defaultConnectTimeout = TimeAmount.seconds(10)
    public static let defaultResponseTimeout = TimeAmount.seconds(30)
    /// How much of a refusing receiver's answer goes into the error, for the operator.
    static let excerptLength = 300

    let url: WebhookURL
    private let secret: String
    private let connectTimeout: TimeAmount
    private let responseTimeout: TimeAmount
    private let group: any EventLoopGroup
    private let logger: Logger
    let tls: TLSClient

    /// The receiver as scheme, host and port, for logs and the audit (the full URL may hold a token).
    public var receiver: String { url.origin }

    /// `verify` applies to https URLs: whether the receiver's certificate must chain to a trusted
    /// root and name its host. `responseTimeout` bounds everything after the TCP connect: TLS, the
    /// request and the whole response.
    public init(url: String, secret: String, verify: Bool = true, connectTimeout: TimeAmount = defaultConnectTimeout,
                responseTimeout: TimeAmount = defaultResponseTimeout,
                eventLoopGroup: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
                logger: Logger = Logger(label: "portcullis.notices.webhook")) throws(ValidationError) {
        try self.init(url: url, secret: secret, connectTimeout: connectTimeout, responseTimeout: responseTimeout,
                      eventLoopGroup: eventLoopGroup, logger: logger, tls: TLSClient(verify: verify))
    }

    /// Tests give their own trust roots here.
    init(url: String, secret: String, connectTimeout: TimeAmount, responseTimeout: TimeAmount,
         eventLoopGroup: any EventLoopGroup, logger: Logger, tls: TLSClient) throws(ValidationError) {
        self.url = try WebhookURL(parsing: url)
        guard !secret.isEmpty else {
            throw ValidationError(field: "webhook secret", value: "", problem: "must not be empty: the receiver "
                + "authenticates notices with it; generate one with e.g. `openssl rand -hex 32`")
        }
        self.secret = secret
        self.connectTimeout = connectTimeout
        self.responseTimeout = responseTimeout
        self.group = eventLoopGroup
        var logger = logger
        logger[metadataKey: "receiver"] = "\(self.url.origin)"
        self.logger = logger
        self.tls = tls
    }

    /// POSTs `body` (JSON, sent byte for byte as signed) and returns the receiver's status line,
    /// `200 OK`, for the audit. Redirects are not followed.
    public func post(json body: [UInt8], at date: Date = Date()) async throws(WebhookDeliveryError) -> String {
        let timestamp = Int(date.timeIntervalSince1970.rounded(.down))
        var headers = HTTPHeaders()
        headers.add(name: "Host", value: url.hostHeader)
        headers.add(name: "Content-Type", value: "application/json")
        headers.add(name: "Content-Length", value: "\(body.count)")
        headers.add(name: "User-Agent", value: "portcullis")
        headers.add(name: "X-Portcullis-Timestamp", value: "\(timestamp)")
        headers.add(name: "X-Portcullis-Signature", value: Self.signature(secret: secret, timestamp: timestamp, body: body))
        headers.add(name: "Connection", value: "close")
        let head = HTTPRequestHead(version: .http1_1, method: .POST, uri: url.target, headers: headers)

        let response = try await exchange(head, body: body)
        logger.debug("webhook answered \(response.status.code) \(response.status.reasonPhrase)")
        let status = Int(response.status.code)
        guard (200..<300).contains(status) else {
            throw .refused(receiver: url.origin, status: status, reason: response.status.reasonPhrase,
                           bodyExcerpt: response.excerpt, location: response.location)
        }
        return "\(status) \(response.status.reasonPhrase)"
    }

    private struct Response: Sendable {
        var status: HTTPResponseStatus
        var excerpt: String
        var location: String?
    }

    private func exchange(_ head: HTTPRequestHead, body: [UInt8]) async throws(WebhookDeliveryError) -> Response {
        let tlsHandler: (@Sendable () throws -> NIOSSLClientHandler)?
        if url.isHTTPS {
            let context: NIOSSLContext
            do {
                context = try tls.makeContext()
            } catch {
                throw .tlsFailed(receiver: url.origin, verify: tls.verify, reason: "\(error)")
            }
            let serverName = TLSClient.serverName(for: url.host)
            tlsHandler = { try NIOSSLClientHandler(context: context, serverHostname: serverName) }
        } else {
            tlsHandler = nil
        }

        let channel: NIOAsyncChannel<HTTPClientResponsePart, HTTPClientRequestPart>
        do {
            let responseTimeout = self.responseTimeout
            channel = try await ClientBootstrap(group: group)
                .connectTimeout(connectTimeout)
                .connect(host: url.host, port: url.port) { channel in
                    channel.eventLoop.makeCompletedFuture {
                        let pipeline = channel.pipeline.syncOperations
                        if let tlsHandler { try pipeline.addHandler(tlsHandler()) }
                        try pipeline.addHTTPClientHandlers()
                        try pipeline.addHandler(ChannelDeadlineHandler(timeout: responseTimeout))
                        return try NIOAsyncChannel<HTTPClientResponsePart, HTTPClientRequestPart>(
                            wrappingChannelSynchronously: channel)
                    }
                }
        } catch {
            if Task.isCancelled { throw .cancelled }
            throw .connectFailed(receiver: url.origin, reason: ConnectFailure.describe(error))
        }

        do {
            return try await channel.executeThenClose { inbound, outbound in
                do {
                    try await outbound.write(contentsOf: [.head(head), .body(.byteBuffer(ByteBuffer(bytes: body))), .end(nil)])
                } catch {
                    // The connection is already gone; reading says why (a TLS alert, the deadline).
                    logger.debug("webhook: cannot send (\(error)), reading what is left")
                }
                var response: Response?
                reading: for try await part in inbound {
                    switch part {
                    case .head(let head):
                        // 1xx are interim (we send no Expect, but a receiver may still say 102): the real one follows.
                        guard head.status.code >= 200 else { continue }
                        response = Response(status: head.status, excerpt: "", location: head.headers.first(name: "Location"))
                    case .body(let bytes):
                        if var current = response, current.excerpt.utf8.count < Self.excerptLength {
                            current.excerpt += String(decoding: bytes.readableBytesView.prefix(Self.excerptLength), as: UTF8.self)
                            response = current
                        }
                    case .end:
                        if response != nil { break reading }
                    }
                }
                guard var response else { throw WebhookDeliveryError.connectionLost(receiver: url.origin) }
                response.excerpt = Self.oneLine(response.excerpt)
                return response
            }
        } catch let error as WebhookDeliveryError {
            throw error
        } catch {
            throw translate(error)
        }
    }

    private func translate(_ error: any Error) -> WebhookDeliveryError {
        if Task.isCancelled || error is CancellationError { return .cancelled }
        switch error {
        case is ChannelDeadlineExceeded:
            return .timedOut(receiver: url.origin, after: responseTimeout)
        case let error as HTTPParserError:
            return .malformedResponse(receiver: url.origin, detail: "\(error)")
        case let error where TLSFailure.isTLSError(error):
            return .tlsFailed(receiver: url.origin, verify: tls.verify, reason: TLSFailure.describe(error))
        default:
            return .connectionLost(receiver: url.origin)
        }
    }

    /// The excerpt on one line, at most `excerptLength` characters: it goes into a log line.
    private static func oneLine(_ text: String) -> String {
        String(text.split(whereSeparator: \.isWhitespace).joined(separator: " ").prefix(excerptLength))
    }
}
