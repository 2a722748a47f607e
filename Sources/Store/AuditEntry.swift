import Foundation

/// One recorded change: who did what to which object, and the object before and after.
public struct AuditEntry: Sendable, Codable, Hashable {
    public let id: Int64
    public let at: Date
    public let actor: String
    public let action: String
    public let subject: String
    /// JSON of the object before the change (nil for creations).
    public let before: String?
    /// JSON of the object after the change (nil for removals).
    public let after: String?
}
