/// A mailbox as written between angle brackets in MAIL FROM / RCPT TO (RFC 5321 4.1.2).
///
/// The relay forwards the command line byte for byte; it parses the path only to enforce
/// limits and to record who sent what to which domains, so the parse is deliberately loose
/// about the local part and strict about the brackets.
public struct SMTPMailbox: Hashable, Sendable, CustomStringConvertible {
    /// Everything before the last `@` (a quoted local part may itself contain `@`).
    public let localPart: String
    /// The domain or address literal after the last `@`, lowercased; nil for `<postmaster>`.
    public let domain: String?

    /// Parses the text between the brackets, source route (`@a,@b:`) already removed.
    init?(parsing text: Substring) {
        guard !text.isEmpty else { return nil }
        if let at = text.lastIndex(of: "@") {
            let local = text[..<at]
            let domain = text[text.index(after: at)...]
            guard !local.isEmpty, !domain.isEmpty, !domain.contains(" ") else { return nil }
            localPart = String(local)
            self.domain = domain.lowercased()
        } else {
            // RFC 5321 4.1.1.3: "<Postmaster>" without a domain is the only mailbox allowed bare.
            guard text.lowercased() == "postmaster" else { return nil }
            localPart = String(text)
            domain = nil
        }
    }

    public var description: String {
        domain.map { "\(localPart)@\($0)" } ?? localPart
    }
}

/// The reverse-path of MAIL FROM: a mailbox, or `<>` for bounces.
public enum SMTPReversePath: Hashable, Sendable, CustomStringConvertible {
    case null
    case mailbox(SMTPMailbox)

    public var description: String {
        switch self {
        case .null: "<>"
        case .mailbox(let mailbox): "<\(mailbox)>"
        }
    }
}

/// One `KEYWORD[=value]` parameter after the path (RFC 5321 4.1.2 Mail-parameters).
public struct SMTPParameter: Hashable, Sendable {
    /// Uppercased, so comparisons need not care how the VM spelled it.
    public let keyword: String
    public let value: String?

    public init(keyword: String, value: String?) {
        self.keyword = keyword.uppercased()
        self.value = value
    }
}

extension Array where Element == SMTPParameter {
    /// The value of a parameter, `""` when it is present without a value, nil when absent.
    public func value(of keyword: String) -> String? {
        guard let parameter = first(where: { $0.keyword == keyword.uppercased() }) else { return nil }
        return parameter.value ?? ""
    }

    /// The `SIZE=` declaration (RFC 1870), if present and numeric.
    public var declaredSize: Int? {
        value(of: "SIZE").flatMap { Int($0) }
    }
}
