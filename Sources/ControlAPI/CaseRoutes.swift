import Foundation
import HTTPTypes
import Hummingbird
import PortcullisCore
import Store

/// Turns a notice into the exact text it is (or would be) sent as: the RFC 5322 message for
/// e-mail, the JSON body for the webhook. Given by the daemon, which holds the templates.
public typealias NoticeRendering = @Sendable (Notice) throws -> String

/// `POST /v1/cases/:id/close`.
public struct CaseCloseBody: Codable, Sendable {
    /// What the operator found and did; kept in the case and the audit log.
    public var resolution: String
    public init(resolution: String) { self.resolution = resolution }
}

/// `POST /v1/cases/:id/notes`.
public struct CaseNoteBody: Codable, Sendable {
    public var text: String
    public init(text: String) { self.text = text }
}

/// The abuse desk's routes: cases with their evidence, and the notice outbox.
func addCaseRoutes(to router: Router<BasicRequestContext>, engine: PolicyEngine, render: NoticeRendering?) {
    let store = engine.caseStore
    router.get("/v1/cases") { request, _ in
        try await respond {
            let query = request.uri.queryParameters
            let status = try query["status"].map { try choice(AbuseCase.Status.self, String($0), field: "status") }
            let vm = try query["vm"].map { text throws(ValidationError) in try VMID(parsing: String(text)) }
            return try store.cases(status: status, vm: vm)
        }
    }
    router.get("/v1/cases/:id") { _, context in
        try await respond { try store.abuseCase(try context.parameters.require("id")) }
    }
    router.post("/v1/cases/:id/close") { request, context in
        try await respond {
            let body = try await decode(CaseCloseBody.self, from: request, context: context)
            return try store.closeCase(try context.parameters.require("id"), resolution: try parseReason(body.resolution),
                                       actor: actor(request), at: engine.now)
        }
    }
    router.post("/v1/cases/:id/notes") { request, context in
        try await respond(status: .created) {
            let body = try await decode(CaseNoteBody.self, from: request, context: context)
            return try store.addNote(to: try context.parameters.require("id"), text: try parseReason(body.text),
                                     actor: actor(request), at: engine.now)
        }
    }
    router.get("/v1/notices") { request, _ in
        try await respond {
            let query = request.uri.queryParameters
            let status = try query["status"].map { try choice(Notice.Status.self, String($0), field: "status") }
            return try store.notices(caseID: query["case"].map(String.init), status: status)
        }
    }
    router.get("/v1/notices/:id") { _, context in
        try await respond { try store.notice(try context.parameters.require("id")) }
    }
    router.get("/v1/notices/:id/preview") { _, context in
        do {
            let notice = try store.notice(try context.parameters.require("id"))
            guard let render else {
                return json(.conflict, APIErrorBody(error: "notices are not configured on this host (see `notices:` in docs/configuration.md)", field: nil))
            }
            return Response(status: .ok, headers: [.contentType: "text/plain; charset=utf-8"],
                            body: .init(byteBuffer: ByteBuffer(string: try render(notice))))
        } catch {
            return errorResponse(error)
        }
    }
}

/// One of an enum's raw values, or an error listing them.
func choice<T: RawRepresentable & CaseIterable>(_ type: T.Type, _ text: String, field: String) throws(ValidationError) -> T
where T.RawValue == String {
    guard let value = T(rawValue: text) else {
        throw ValidationError(field: field, value: text, problem: "use one of " + T.allCases.map(\.rawValue).joined(separator: ", "))
    }
    return value
}
