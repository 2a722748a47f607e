import Foundation
import Logging
import NIOCore
import NIOHTTP1
import NIOSSL
import PortcullisCore
import Testing
@testable import Notices

/// The poster against a fake receiver over real loopback TCP (and TLS).
@Suite(.timeLimit(.minutes(1)))
struct WebhookPosterTests {
    static let body = Array(#"{"case_id":"c-42","vm":"vm-1","signal":"port_scan"}"#.utf8)
    static let sentAt = Date(timeIntervalSince1970: 1_767_225_600)

    static func poster(_ url: String, secret: String = FakeHTTPScript().secret, verify: Bool = true,
                       trusting: NIOSSLCertificate? = nil, responseTimeout: TimeAmount = .seconds(5),
                       group: any EventLoopGroup) throws -> WebhookPoster {
        var tls = TLSClient(verify: verify)
        if let trusting { tls.trustRoots = .certificates([trusting]) }
        return try WebhookPoster(url: url, secret: secret, connectTimeout: .seconds(5), responseTimeout: responseTimeout,
                                 eventLoopGroup: group, logger: Logger(label: "test"), tls: tls)
    }

    @Test func postsSignedJSON() async throws {
        try await withEventLoopGroup { group in
            try await withFakeHTTPServer(on: group) { server in
                let poster = try Self.poster("http://127.0.0.1:\(server.port)/hooks/notice?source=portcullis", group: group)
                #expect(try await poster.post(json: Self.body, at: Self.sentAt) == "200 OK")

                var requests = server.requests.makeAsyncIterator()
                let request = try #require(await requests.next())
                #expect(request.method == .POST)
                #expect(request.uri == "/hooks/notice?source=portcullis")
                #expect(request.body == Self.body)
                #expect(request.headers.first(name: "Host") == "127.0.0.1:\(server.port)")
                #expect(request.headers.first(name: "Content-Type") == "application/json")
                #expect(request.headers.first(name: "User-Agent") == "portcullis")
                #expect(request.headers.first(name: "Content-Length") == "\(Self.body.count)")
                #expect(request.headers.first(name: "X-Portcullis-Timestamp") == "1767225600")
                #expect(request.headers.first(name: "X-Portcullis-Signature")
                    == WebhookPoster.signature(secret: FakeHTTPScript().secret, timestamp: 1_767_225_600, body: Self.body))
                #expect(request.signatureValid, "the receiver's own HMAC check passes")
            }
        }
    }

    /// A receiver with another secret rejects the signature (and says 401, which is permanent).
    @Test func aReceiverWithAnotherSecretRejectsTheSignature() async throws {
        try await withEventLoopGroup { group in
            var script = FakeHTTPScript()
            script.status = .unauthorized
            script.body = "bad signature"
            try await withFakeHTTPServer(on: group, script: script) { server in
                let poster = try Self.poster("http://127.0.0.1:\(server.port)/", secret: "another secret", group: group)
                let error = try await #require(throws: WebhookDeliveryError.self) {
                    try await poster.post(json: Self.body, at: Self.sentAt)
                }
                #expect(error.isPermanent)
                #expect(error.description.contains("same shared secret"))
                var requests = server.requests.makeAsyncIterator()
                #expect(try #require(await requests.next()).signatureValid == false)
            }
        }
    }

    @Test(arguments: [
        (HTTPResponseStatus.created, nil as Bool?),
        (.noContent, nil),
        (.internalServerError, false),
        (.badGateway, false),
        (.serviceUnavailable, false),
        (.requestTimeout, false),
        (.tooManyRequests, false),
        (.badRequest, true),
        (.unauthorized, true),
        (.forbidden, true),
        (.notFound, true),
        (.payloadTooLarge, true),
        (.movedPermanently, true),
    ])
    func classifiesTheStatus(status: HTTPResponseStatus, permanent: Bool?) async throws {
        try await withEventLoopGroup { group in
            var script = FakeHTTPScript()
            script.status = status
            script.body = "{\"error\": \"scripted\",\n \"detail\": \"line two\"}"
            if status == .movedPermanently { script.headers = [("Location", "https://new.example/hooks")] }
            try await withFakeHTTPServer(on: group, script: script) { server in
                let poster = try Self.poster("http://127.0.0.1:\(server.port)/hooks", group: group)
                guard let permanent else {
                    #expect(try await poster.post(json: Self.body) == "\(status.code) \(status.reasonPhrase)")
                    return
                }
                let error = try await #require(throws: WebhookDeliveryError.self) {
                    try await poster.post(json: Self.body)
                }
                #expect(error == .refused(receiver: "http://127.0.0.1:\(server.port)", status: Int(status.code),
                                          reason: status.reasonPhrase,
                                          bodyExcerpt: "{\"error\": \"scripted\", \"detail\": \"line two\"}",
                                          location: status == .movedPermanently ? "https://new.example/hooks" : nil))
                #expect(error.isPermanent == permanent)
                #expect(error.description.contains(permanent ? "will not be retried" : "will be retried"))
                #expect(!error.description.contains("/hooks\""), "the URL's path stays out of messages")
            }
        }
    }

    @Test func connectionRefusedIsTransient() async throws {
        try await withEventLoopGroup { group in
            let port = try await closedPort(on: group)
            let error = try await #require(throws: WebhookDeliveryError.self) {
                try await Self.poster("http://127.0.0.1:\(port)/hooks", group: group).post(json: Self.body)
            }
            guard case .connectFailed(_, let reason) = error else {
                Issue.record("expected a connect failure, got \(error)")
                return
            }
            #expect(reason.contains("connection refused"), "\(reason)")
            #expect(!error.isPermanent)
        }
    }

    @Test func aReceiverThatNeverAnswersTimesOut() async throws {
        try await withEventLoopGroup { group in
            var script = FakeHTTPScript()
            script.silent = true
            try await withFakeHTTPServer(on: group, script: script) { server in
                let poster = try Self.poster("http://127.0.0.1:\(server.port)/", responseTimeout: .milliseconds(300),
                                             group: group)
                let error = try await #require(throws: WebhookDeliveryError.self) { try await poster.post(json: Self.body) }
                #expect(error == .timedOut(receiver: "http://127.0.0.1:\(server.port)", after: .milliseconds(300)))
                #expect(!error.isPermanent)
            }
        }
    }

    /// https: unverified (the lab), verified against the certificate as trust root, and verified
    /// against the system's roots, which a self-signed certificate fails (transient: the
    /// operator fixes the certificate or the setting, and the notice goes out then).
    @Test(arguments: [(false, false), (true, true), (true, false)])
    func postsOverHTTPS(verify: Bool, trusted: Bool) async throws {
        try await withEventLoopGroup { group in
            var script = FakeHTTPScript()
            script.tls = try TestCertificate.loopback.serverTLS()
            try await withFakeHTTPServer(on: group, script: script) { server in
                let poster = try Self.poster("https://127.0.0.1:\(server.port)/hooks", verify: verify,
                                             trusting: trusted ? TestCertificate.loopback.certificate : nil, group: group)
                if verify && !trusted {
                    let error = try await #require(throws: WebhookDeliveryError.self) { try await poster.post(json: Self.body) }
                    guard case .tlsFailed(_, true, let reason) = error else {
                        Issue.record("expected a TLS failure, got \(error)")
                        return
                    }
                    #expect(reason.contains("did not verify"), "\(reason)")
                    #expect(!error.isPermanent)
                } else {
                    #expect(try await poster.post(json: Self.body) == "200 OK")
                    var requests = server.requests.makeAsyncIterator()
                    #expect(try #require(await requests.next()).signatureValid)
                }
            }
        }
    }

    @Test(arguments: [
        ("ftp://hooks.example/x", "the scheme must be http or https"),
        ("hooks.example/x", "expected a URL"),
        ("https://user:pw@hooks.example/x", "remove the user name and password"),
        ("https:///x", "no host name"),
    ])
    func refusesUnusableURLs(url: String, problem: String) {
        #expect {
            try WebhookPoster(url: url, secret: "s")
        } throws: { error in
            (error as? ValidationError).map { $0.field == "webhook url" && $0.problem.contains(problem) } ?? false
        }
    }

    @Test func namesTheReceiverWithoutItsPath() throws {
        let poster = try WebhookPoster(url: "https://hooks.example:8443/T0KEN/secret?key=abc", secret: "s")
        #expect(poster.receiver == "https://hooks.example:8443")
    }

    @Test func refusesAnEmptySecret() {
        #expect(throws: ValidationError.self) { try WebhookPoster(url: "https://hooks.example/x", secret: "") }
    }

    @Test(arguments: [
        ("https://hooks.example/x", "hooks.example", 443, "/x?", "hooks.example"),
        ("https://hooks.example", "hooks.example", 443, "/", "hooks.example"),
        ("http://hooks.example:8080/a/b?c=d&e=f", "hooks.example", 8080, "/a/b?c=d&e=f", "hooks.example:8080"),
        ("http://[::1]:8080/x", "::1", 8080, "/x", "[::1]:8080"),
        ("HTTP://192.0.2.1/%7Euser", "192.0.2.1", 80, "/%7Euser", "192.0.2.1"),
    ])
    func takesTheURLApart(url: String, host: String, port: Int, target: String, hostHeader: String) throws {
        let parsed = try WebhookURL(parsing: url)
        #expect(parsed.host == host)
        #expect(parsed.port == port)
        #expect(parsed.target == target.replacingOccurrences(of: "/x?", with: "/x"))
        #expect(parsed.hostHeader == hostHeader)
    }
}
