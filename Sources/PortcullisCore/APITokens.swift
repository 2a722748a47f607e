import Foundation

/// The bearer tokens that may use the control API over TCP, read from `api.tcp.tokens_file`:
/// one `NAME TOKEN` pair a line (`#` comments and blank lines allowed). The name is what the
/// audit log records as the actor, `token:NAME`, whatever a request claims.
public struct APITokens: Sendable {
    /// token → name
    public let names: [String: String]

    /// Tokens shorter than this are refused: the TCP API can change the firewall.
    public static let minimumLength = 32

    public init(parsing text: String, file: String) throws(ValidationError) {
        var names: [String: String] = [:]
        for (number, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = raw.trimmingCharacters(in: .whitespaces)
            guard !line.isEmpty, !line.hasPrefix("#") else { continue }
            let field = "\(file):\(number + 1)"
            let words = line.split(separator: " ", omittingEmptySubsequences: true)
            guard words.count == 2 else {
                throw ValidationError(field: field, value: "", problem: "expected NAME TOKEN")
            }
            let name = try parseIdentifier(String(words[0]), field: field)
            let token = String(words[1])
            guard token.utf8.count >= Self.minimumLength, token.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7f }) else {
                throw ValidationError(field: field, value: name,
                                      problem: "token must be at least \(Self.minimumLength) printable characters (e.g. `openssl rand -hex 32`)")
            }
            guard names[token] == nil else {
                throw ValidationError(field: field, value: name, problem: "same token as \(names[token]!)")
            }
            names[token] = name
        }
        guard !names.isEmpty else {
            throw ValidationError(field: file, value: "", problem: "holds no token; the TCP API would refuse every request")
        }
        self.names = names
    }

    /// The name of the token presented, comparing every byte of every token so that the time
    /// taken does not tell how much of a guess was right.
    public func name(of presented: String) -> String? {
        var found: String?
        let given = Array(presented.utf8)
        for (token, name) in names {
            let expected = Array(token.utf8)
            var difference = UInt8(expected.count == given.count ? 0 : 1)
            for i in 0..<expected.count {
                difference |= expected[i] ^ (i < given.count ? given[i] : 0)
            }
            if difference == 0 { found = name }
        }
        return found
    }
}
