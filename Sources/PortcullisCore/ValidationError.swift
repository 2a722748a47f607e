/// An input that was refused at the edge, naming the field so the operator knows what to fix.
///
/// Every parser in Portcullis throws this type; the API turns it into a 400 and the CLI
/// into a non-zero exit, and nothing is applied.
public struct ValidationError: Error, Equatable, Sendable, CustomStringConvertible {
    public let field: String
    public let value: String
    public let problem: String

    public init(field: String, value: String, problem: String) {
        self.field = field
        self.value = value
        self.problem = problem
    }

    public var description: String {
        "invalid \(field) '\(value)': \(problem)"
    }
}
