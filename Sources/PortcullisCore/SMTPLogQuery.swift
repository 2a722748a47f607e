import Foundation

/// Which SMTP transaction log records to read: optionally one VM, optionally only those
/// since a time, newest first, at most `limit`.
public struct SMTPLogQuery: Hashable, Sendable {
    public static let defaultLimit = 100
    /// A bound on one answer, so that a careless query cannot make the daemon build a
    /// response of millions of records; narrow with `vm` and `since` instead.
    public static let maximumLimit = 10_000

    public var vm: VMID?
    public var since: Date?
    public var limit: Int

    public init(vm: VMID? = nil, since: Date? = nil, limit: Int = SMTPLogQuery.defaultLimit) {
        self.vm = vm
        self.since = since
        self.limit = limit
    }

    /// Parses the query parameters of `GET /v1/smtp/log`; each error names the parameter.
    /// `since` is a look-back (`3600` seconds, or a duration such as `30m`, `1h`, `2d`)
    /// counted back from `now`, or an ISO 8601 time such as `2025-01-31T12:00:00Z`.
    public init(vm: String?, since: String?, limit: String?, now: Date) throws(ValidationError) {
        do {
            self.vm = try vm.map { text throws(ValidationError) in try VMID(parsing: text) }
        } catch {
            throw ValidationError(field: "vm", value: error.value, problem: error.problem)
        }
        self.since = try since.map { text throws(ValidationError) in try Self.parseSince(text, now: now) }
        if let limit {
            guard limit.allSatisfy({ $0.isASCII && $0.isNumber }), let number = Int(limit),
                  (1...Self.maximumLimit).contains(number) else {
                throw ValidationError(field: "limit", value: limit,
                                      problem: "expected a number of records from 1 to \(Self.maximumLimit)")
            }
            self.limit = number
        } else {
            self.limit = Self.defaultLimit
        }
    }

    /// A look-back in seconds or with a unit, or an ISO 8601 time.
    public static func parseSince(_ text: String, now: Date) throws(ValidationError) -> Date {
        if text.contains("T"), let time = try? Date(text, strategy: .iso8601) {
            return time
        }
        let spelled = !text.isEmpty && text.allSatisfy({ $0.isASCII && $0.isNumber }) ? text + "s" : text
        guard let lookBack = try? PolicyDuration(parsing: spelled) else {
            throw ValidationError(field: "since", value: text,
                                  problem: "expected seconds (3600), a duration with a unit s, m, h, d or w (1h, 2d), or an ISO 8601 time (2025-01-31T12:00:00Z)")
        }
        return now.addingTimeInterval(-lookBack.timeInterval)
    }
}
