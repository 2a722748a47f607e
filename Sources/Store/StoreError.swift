/// Lookups that found nothing; the API maps this to 404.
public struct NotFound: Error, CustomStringConvertible, Sendable {
    public let kind: String
    public let id: String
    public init(kind: String, id: String) {
        self.kind = kind
        self.id = id
    }
    public var description: String { "no \(kind) '\(id)' is registered" }
}
