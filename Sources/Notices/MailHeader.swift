/// A header the caller adds to a notice, such as `X-Portcullis-Case`, so the tenant's and the
/// provider's mail systems can file and search notices without parsing the text.
///
/// Kept in an array, not a dictionary: headers go out in the order they were given.
public struct MailHeader: Hashable, Sendable, Codable {
    public let name: String
    public let value: String

    public init(_ name: String, _ value: String) {
        self.name = name
        self.value = value
    }
}
