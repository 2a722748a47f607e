import Foundation
import HTTPTypes
import Hummingbird
import PortcullisCore
import Store

/// The request bodies the API accepts.
public struct VMRequest: Codable, Sendable {
    public var id: String
    public var tenant: String
    public var contact: String?
    public var interface: String
    public var mac: String
    public var ipv4: [String]?
    public var ipv6: [String]?
    public var allow_source: [String]?
    public var bridge: String?
    public var routed: Bool?

    public init(id: String, tenant: String, contact: String?, interface: String, mac: String,
                ipv4: [String], ipv6: [String], allowSource: [String], bridge: String? = nil, routed: Bool = false) {
        self.id = id
        self.tenant = tenant
        self.contact = contact
        self.interface = interface
        self.mac = mac
        self.ipv4 = ipv4
        self.ipv6 = ipv6
        self.allow_source = allowSource
        self.bridge = bridge
        self.routed = routed
    }

    /// Parses every field into typed values; the first bad field is named in the error.
    func parse() throws(ValidationError) -> VM {
        try VM(id: id, tenant: tenant, contact: contact, interface: interface, mac: mac,
               ipv4: ipv4 ?? [], ipv6: ipv6 ?? [], allowedSources: allow_source ?? [], bridge: bridge,
               routed: routed ?? false)
    }
}

public struct ExemptionBody: Codable, Sendable {
    public var vm: String
    public var ports: String
    public var reason: String
    public var expires: String?

    public init(vm: String, ports: String, reason: String, expires: String?) {
        self.vm = vm
        self.ports = ports
        self.reason = reason
        self.expires = expires
    }

    func parse() throws(ValidationError) -> ExemptionRequest {
        ExemptionRequest(
            vm: try VMID(parsing: vm),
            ports: try PortSet(parsing: ports),
            reason: reason,
            expires: try expires.map { text throws(ValidationError) in try PolicyDuration(parsing: text, field: "expires") }
        )
    }
}

public struct FilterBody: Codable, Sendable {
    public var vm: String
    /// "in" or "out".
    public var direction: String
    public var port: Int?
    /// The far side's prefix: the source of inbound traffic, the destination of outbound.
    public var remote: String?
    /// "block" (the default), "throttle" or "quarantine" (outbound, no port or prefix).
    public var effect: String?
    /// Send the tenant (and the webhook) a notice about the filter.
    public var notify: Bool?
    public var reason: String
    public var expires: String

    public init(vm: String, direction: String, port: Int?, remote: String?, effect: String? = nil, notify: Bool? = nil, reason: String,
                expires: String) {
        self.notify = notify
        self.vm = vm
        self.direction = direction
        self.port = port
        self.remote = remote
        self.effect = effect
        self.reason = reason
        self.expires = expires
    }

    func parse() throws(ValidationError) -> FilterRequest {
        guard let direction = Filter.Direction(rawValue: direction) else {
            throw ValidationError(field: "direction", value: direction, problem: "use in or out")
        }
        return FilterRequest(
            vm: try VMID(parsing: vm), direction: direction,
            port: try port.map { number throws(ValidationError) in try PortcullisCore.Port(parsing: String(number), field: "port") },
            remote: try remote.map { text throws(ValidationError) in try IPNetwork(parsing: text, field: "remote") },
            effect: try effect.map { text throws(ValidationError) in try choice(Filter.Effect.self, text, field: "effect") } ?? .block,
            reason: reason, expires: try PolicyDuration(parsing: expires, field: "expires"))
    }
}

/// A refusal as the API returns it: always JSON with the field at fault when there is one.
public struct APIErrorBody: Codable, Sendable {
    public let error: String
    public let field: String?
}

public enum JSON {
    public static let encoder: JSONEncoder = {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes]
        encoder.dateEncodingStrategy = .iso8601
        return encoder
    }()

    public static let decoder: JSONDecoder = {
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        return decoder
    }()
}

/// Builds the control API. Routes are thin: parse into typed values, call the engine,
/// encode the answer; all policy lives in the engine and in PortcullisCore.
public func buildRouter(engine: PolicyEngine, tokens: APITokens? = nil, renderNotice: NoticeRendering? = nil) -> Router<BasicRequestContext> {
    let router = Router(context: BasicRequestContext.self)
    if let tokens { router.add(middleware: BearerTokenMiddleware(tokens: tokens)) }
    addCaseRoutes(to: router, engine: engine, render: renderNotice)

    router.get("/v1/status") { _, _ in try await respond { try await engine.status() } }
    router.get("/v1/vms") { _, _ in try await respond { await engine.vms() } }
    router.get("/v1/vms/:id") { _, context in
        try await respond { try await engine.vm(try VMID(parsing: context.parameters.require("id"))) }
    }
    router.post("/v1/vms") { request, context in
        try await respond(status: .created) {
            let body = try await decode(VMRequest.self, from: request, context: context)
            return try await engine.add(try body.parse(), actor: actor(request))
        }
    }
    router.delete("/v1/vms/:id") { request, context in
        try await respond { try await engine.remove(try VMID(parsing: context.parameters.require("id")), actor: actor(request)) }
    }
    router.get("/v1/exemptions") { _, _ in try await respond { await engine.exemptions() } }
    router.post("/v1/exemptions") { request, context in
        try await respond(status: .created) {
            let body = try await decode(ExemptionBody.self, from: request, context: context)
            return try await engine.grant(try body.parse(), actor: actor(request))
        }
    }
    router.delete("/v1/exemptions/:id") { request, context in
        try await respond { try await engine.revoke(try context.parameters.require("id"), actor: actor(request)) }
    }
    router.get("/v1/filters") { _, _ in try await respond { await engine.filters() } }
    router.post("/v1/filters") { request, context in
        try await respond(status: .created) {
            let body = try await decode(FilterBody.self, from: request, context: context)
            return try await engine.place(try body.parse(), actor: actor(request), notify: body.notify ?? false)
        }
    }
    router.delete("/v1/filters/:id") { request, context in
        try await respond { try await engine.lift(try context.parameters.require("id"), actor: actor(request)) }
    }
    router.get("/v1/explain") { request, _ in
        try await respond {
            let query = request.uri.queryParameters
            let vm = try VMID(parsing: String(query["vm"] ?? ""))
            let port = try Port(parsing: String(query["port"] ?? ""))
            let protocolText = String(query["protocol"] ?? "tcp")
            guard let transport = TransportProtocol(rawValue: protocolText) else {
                throw ValidationError(field: "protocol", value: protocolText, problem: "use tcp or udp")
            }
            return try await engine.explain(vm: vm, flow: Flow(transport: transport, port: port))
        }
    }
    router.get("/v1/plan") { request, _ in
        try await respond {
            let text = String(request.uri.queryParameters["needs"] ?? "")
            var needs: [Need] = []
            for item in text.split(separator: ",") { needs.append(try Need(parsing: String(item))) }
            guard !needs.isEmpty else {
                throw ValidationError(field: "needs", value: text, problem: "give at least one need, e.g. smtp,web")
            }
            return await engine.plan(needs: needs)
        }
    }
    router.get("/v1/audit") { request, _ in
        try await respond {
            let limit = Int(String(request.uri.queryParameters["limit"] ?? "100")) ?? 100
            return try await engine.audit(limit: min(max(limit, 1), 10_000))
        }
    }
    router.get("/v1/smtp/log") { request, _ in
        try await respond {
            let parameters = request.uri.queryParameters
            let query = try SMTPLogQuery(vm: parameters["vm"].map(String.init), since: parameters["since"].map(String.init),
                                         limit: parameters["limit"].map(String.init), now: engine.now)
            return try engine.smtpLog(query)
        }
    }
    router.get("/v1/ruleset") { _, _ in
        let text = await engine.ruleset() ?? "# no ruleset loaded yet\n"
        return Response(status: .ok, headers: [.contentType: "text/plain; charset=utf-8"],
                        body: .init(byteBuffer: ByteBuffer(string: text)))
    }
    router.get("/metrics") { _, _ in
        let text = (try? await engine.metrics()) ?? ""
        return Response(status: .ok, headers: [.contentType: "text/plain; version=0.0.4"],
                        body: .init(byteBuffer: ByteBuffer(string: text)))
    }
    router.get("/openapi.json") { _, _ in
        Response(status: .ok, headers: [.contentType: "application/json"],
                 body: .init(byteBuffer: ByteBuffer(string: openAPIDocument)))
    }
    return router
}

/// The header that names who made a change.
let actorHeader = HTTPField.Name("X-Portcullis-Actor")!

/// Who made a change, for the audit log. The CLI sends the invoking user; the unix socket
/// is root-only (mode 0600), so the header is trusted there.
func actor(_ request: Request) -> String {
    let value = request.headers[actorHeader] ?? "api"
    let cleaned = value.unicodeScalars.filter { $0.isASCII && $0.value >= 32 && $0.value < 127 }
    return String(String.UnicodeScalarView(cleaned.prefix(128)))
}

func decode<T: Decodable>(_ type: T.Type, from request: Request, context: BasicRequestContext) async throws -> T {
    let buffer = try await request.body.collect(upTo: 1 << 20)
    do {
        return try JSON.decoder.decode(T.self, from: Data(buffer.readableBytesView))
    } catch let error as ValidationError {
        throw error
    } catch {
        throw ValidationError(field: "body", value: "", problem: "not the expected JSON document: \(error)")
    }
}

func respond<T: Encodable>(status: HTTPResponse.Status = .ok, _ body: () async throws -> T) async throws -> Response {
    do {
        return json(status, try await body())
    } catch {
        return errorResponse(error)
    }
}

/// The one mapping of errors to statuses, for JSON and text routes alike.
func errorResponse(_ error: any Error) -> Response {
    switch error {
    case let error as ValidationError: json(.badRequest, APIErrorBody(error: error.description, field: error.field))
    case let error as NotFound: json(.notFound, APIErrorBody(error: error.description, field: nil))
    case let error as StoreConflict: json(.conflict, APIErrorBody(error: error.description, field: nil))
    default: json(.internalServerError, APIErrorBody(error: "\(error)", field: nil))
    }
}

func json(_ status: HTTPResponse.Status, _ value: some Encodable) -> Response {
    let data = (try? JSON.encoder.encode(value)) ?? Data("{}".utf8)
    return Response(status: status, headers: [.contentType: "application/json"],
                    body: .init(byteBuffer: ByteBuffer(bytes: data)))
}
