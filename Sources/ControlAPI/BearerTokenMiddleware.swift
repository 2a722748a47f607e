import HTTPTypes
import Hummingbird
import PortcullisCore

/// Guards the TCP listener of the control API: every request needs `Authorization: Bearer
/// TOKEN` with a token from `api.tcp.tokens_file`. The audit actor becomes `token:NAME`,
/// whatever `X-Portcullis-Actor` the request carried: over TCP that header is not trusted.
public struct BearerTokenMiddleware<Context: RequestContext>: RouterMiddleware {
    let tokens: APITokens

    public init(tokens: APITokens) {
        self.tokens = tokens
    }

    public func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let header = request.headers[.authorization] ?? ""
        guard header.hasPrefix("Bearer "), let name = tokens.name(of: String(header.dropFirst("Bearer ".count))) else {
            var response = json(.unauthorized, APIErrorBody(
                error: "a bearer token from api.tcp.tokens_file is required (Authorization: Bearer TOKEN)", field: nil))
            response.headers[.wwwAuthenticate] = "Bearer"
            return response
        }
        var head = request.head
        head.headerFields[actorHeader] = "token:\(name)"
        return try await next(Request(head: head, body: request.body), context)
    }
}
