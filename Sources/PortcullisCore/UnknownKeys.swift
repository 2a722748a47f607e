/// A configuration key Portcullis does not know is refused, not ignored: a typo such as
/// `restricted_port:` would otherwise leave the site on its defaults without a word.
struct AnyCodingKey: CodingKey {
    let stringValue: String
    var intValue: Int? { nil }
    init(stringValue: String) { self.stringValue = stringValue }
    init?(intValue: Int) { nil }
}

/// Throws for the first key of `decoder`'s mapping that is not among `known`.
func refuseUnknownKeys<Key: CodingKey & CaseIterable>(in decoder: any Decoder, known: Key.Type, section: String?) throws {
    let names = Set(Key.allCases.map(\.stringValue))
    let found = try decoder.container(keyedBy: AnyCodingKey.self).allKeys.map(\.stringValue).sorted()
    for key in found where !names.contains(key) {
        let path = (decoder.codingPath.map(\.stringValue) + [key]).joined(separator: ".")
        throw ValidationError(field: path, value: key,
                              problem: "unknown key\(section.map { " in \($0)" } ?? ""); known keys: \(names.sorted().joined(separator: ", "))")
    }
}
