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

/// A row whose stored value does not parse: the database was damaged or written by another
/// version. The API maps this to 500; the message names the table and column to inspect.
public struct StoredRecordError: Error, CustomStringConvertible, Sendable {
    public let table: String
    public let column: String
    public let value: String
    public let problem: String
    public init(table: String, column: String, value: String, problem: String) {
        self.table = table
        self.column = column
        self.value = value
        self.problem = problem
    }
    public var description: String {
        "the store's \(table).\(column) holds '\(value)': \(problem). Inspect the database with sqlite3; restore it from a backup if it is damaged"
    }
}

/// A change that contradicts the stored state (closing a closed case); the API maps this to 409.
public struct StoreConflict: Error, CustomStringConvertible, Sendable {
    public let problem: String
    public init(problem: String) { self.problem = problem }
    public var description: String { problem }
}
