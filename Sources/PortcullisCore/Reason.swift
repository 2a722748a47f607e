import Foundation

/// Why an operator (or a detector) opened or closed something: required, kept in the audit log.
public func parseReason(_ text: String) throws(ValidationError) -> String {
    let reason = text.trimmingCharacters(in: .whitespacesAndNewlines)
    guard !reason.isEmpty, reason.count <= 500 else {
        throw ValidationError(field: "reason", value: text, problem: "give a reason of 1-500 characters; it is kept in the audit log")
    }
    return reason
}
