extension KeyedDecodingContainer {
    /// A whole number from the site configuration, within `range`; nil when the key is absent.
    /// Out of range, the error names the key as the operator wrote it (`section.key`).
    func decodeNumberIfPresent(_ key: Key, in range: ClosedRange<Int>, section: String) throws -> Int? {
        guard let value = try decodeIfPresent(Int.self, forKey: key) else { return nil }
        guard range.contains(value) else {
            let expected = range.upperBound == Int.max && range.lowerBound == 1
                ? "must be a positive number" : "expected a number \(range.lowerBound)-\(range.upperBound)"
            throw ValidationError(field: "\(section).\(key.stringValue)", value: String(value), problem: expected)
        }
        return value
    }

    /// A positive whole number, or `fallback` when the key is absent.
    func decodePositive(_ key: Key, section: String, default fallback: Int) throws -> Int {
        try decodeNumberIfPresent(key, in: 1...Int.max, section: section) ?? fallback
    }
}
