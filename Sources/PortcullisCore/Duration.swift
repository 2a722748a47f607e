import Foundation

/// A length of time written the way operators type it: `45s`, `90m`, `2h`, `30d`, `1w`.
public struct PolicyDuration: Hashable, Sendable, CustomStringConvertible, Codable {
    public let seconds: Int

    public init(seconds: Int) { self.seconds = seconds }

    public init(parsing text: String, field: String = "duration") throws(ValidationError) {
        let units: [Character: Int] = ["s": 1, "m": 60, "h": 3600, "d": 86_400, "w": 604_800]
        guard let unit = text.last, let multiplier = units[unit],
              let count = Int(text.dropLast()), text.dropLast().allSatisfy({ $0.isASCII && $0.isNumber }),
              count > 0, count <= 3650 * 86_400 / multiplier else {
            throw ValidationError(field: field, value: text, problem: "expected a positive number with a unit s, m, h, d or w, e.g. 30d")
        }
        seconds = count * multiplier
    }

    public var timeInterval: TimeInterval { TimeInterval(seconds) }

    public var description: String {
        for (unit, size) in [("w", 604_800), ("d", 86_400), ("h", 3600), ("m", 60)] where seconds % size == 0 {
            return "\(seconds / size)\(unit)"
        }
        return "\(seconds)s"
    }

    public init(from decoder: any Decoder) throws {
        self = try PolicyDuration(parsing: try decoder.singleValueContainer().decode(String.self))
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(description)
    }
}
