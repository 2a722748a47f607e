import Foundation

/// The subject and body of a notice with `{{name}}` placeholders, checked when it is loaded so a
/// typo in an operator's template stops the daemon at start rather than mangling the first notice
/// of the night.
///
/// The text has the shape of an e-mail: a `Subject:` line, an empty line, the body. Values are
/// inserted as they are (no escaping: the result is plain text). A multi-line value placed after
/// indentation continues at that indentation, and a placeholder alone on its line with an empty
/// value removes the line, so optional parts leave no gaps.
public struct NoticeTemplate: Hashable, Sendable {
    /// Every placeholder a template may use; the notice sender fills in each of them:
    ///
    /// - `vm`, `tenant`, `case_id`: the VM's and tenant's ids and the abuse case's id, for the
    ///   tenant to quote to support.
    /// - `signal`: what was detected, as a phrase ("an outbound port scan").
    /// - `response`: what was done, as a phrase ("new outbound connections blocked").
    /// - `until`: when the restriction ends, with its time zone.
    /// - `evidence`: the log lines behind the decision, one per line.
    /// - `next_steps`: steps specific to this signal, as list lines ("- ..."); may be empty.
    /// - `provider_name`, `support_contact`: who sends the notice and how to reach support.
    public static let placeholderNames: [String] = [
        "vm", "tenant", "case_id", "signal", "response", "until", "evidence", "next_steps",
        "provider_name", "support_contact",
    ]

    public let subject: String
    public let body: String
    /// The placeholders this template uses, for checking that a caller fills them all.
    public let usedNames: Set<String>

    /// Parses `text`; `source` names it in errors (a path, or "built-in").
    public init(text: String, source: String) throws(NoticeTemplateError) {
        let lines = TextLines.split(text)
        guard let first = lines.first, first.lowercased().hasPrefix("subject:"), lines.count >= 2,
              lines[1].allSatisfy(\.isWhitespace) else {
            throw .missingSubject(source: source)
        }
        var used = Set<String>()
        for (index, line) in lines.enumerated() {
            for segment in try Self.segments(of: line, lineNumber: index + 1, source: source) {
                if case .placeholder(let name) = segment { used.insert(name) }
            }
        }
        subject = String(first.dropFirst("subject:".count)).trimmingCharacters(in: .whitespaces)
        body = lines.dropFirst(2).joined(separator: "\n")
        usedNames = used
    }

    /// The template in the file at `path`, for an operator who words notices differently.
    public init(contentsOfFile path: String) throws(NoticeTemplateError) {
        let text: String
        do {
            text = try String(contentsOfFile: path, encoding: .utf8)
        } catch {
            throw .unreadable(path: path, reason: (error as NSError).localizedDescription)
        }
        try self.init(text: text, source: path)
    }

    /// The subject and body with `values` filled in. Names the template does not use are ignored;
    /// a used name without a value is an error (an empty string is a value). Line breaks in a
    /// subject value become spaces: a subject is one header line.
    public func render(_ values: [String: String]) throws(NoticeTemplateError) -> RenderedNotice {
        let missing = usedNames.filter { values[$0] == nil }.sorted()
        guard missing.isEmpty else { throw .missingValues(missing) }
        let subjectValues = values.mapValues { value in
            value.split(whereSeparator: \.isNewline).joined(separator: " ")
        }
        return RenderedNotice(subject: Self.fill(subject, with: subjectValues),
                              body: Self.fill(body, with: values))
    }

    private enum Segment: Equatable {
        case text(Substring)
        case placeholder(String)

        var isBlank: Bool {
            if case .text(let text) = self { return text.allSatisfy { $0 == " " || $0 == "\t" } }
            return false
        }
    }

    /// `line` cut into literal text and placeholders; unknown names and stray `{{` are errors.
    private static func segments(of line: Substring, lineNumber: Int, source: String) throws(NoticeTemplateError) -> [Segment] {
        var segments: [Segment] = []
        var rest = line
        while let open = rest.range(of: "{{") {
            if open.lowerBound > rest.startIndex { segments.append(.text(rest[..<open.lowerBound])) }
            guard let close = rest[open.upperBound...].range(of: "}}") else {
                throw .malformedPlaceholder(line: lineNumber, source: source)
            }
            let name = rest[open.upperBound..<close.lowerBound].trimmingCharacters(in: .whitespaces)
            guard !name.isEmpty else { throw .malformedPlaceholder(line: lineNumber, source: source) }
            guard placeholderNames.contains(name) else {
                throw .unknownPlaceholder(name: name, line: lineNumber, source: source)
            }
            segments.append(.placeholder(name))
            rest = rest[close.upperBound...]
        }
        if !rest.isEmpty { segments.append(.text(rest)) }
        return segments
    }

    /// Fills placeholders line by line. Parsing already succeeded, so `segments` cannot fail here.
    private static func fill(_ text: String, with values: [String: String]) -> String {
        var output: [String] = []
        for line in TextLines.split(text) {
            guard let segments = try? Self.segments(of: line, lineNumber: 0, source: "") else {
                output.append(String(line))
                continue
            }
            if segments.count == 1 || (segments.count == 2 && segments[0].isBlank),
               case .placeholder(let name) = segments.last, values[name, default: ""].isEmpty {
                continue
            }
            var rendered = ""
            for segment in segments {
                switch segment {
                case .text(let text):
                    rendered += text
                case .placeholder(let name):
                    let value = values[name, default: ""]
                    // Continuation lines of a multi-line value line up under its first line when
                    // the placeholder follows only indentation.
                    let indent = rendered.allSatisfy({ $0 == " " || $0 == "\t" }) ? rendered : ""
                    rendered += TextLines.split(value).joined(separator: "\n" + indent)
                }
            }
            output.append(rendered)
        }
        return output.joined(separator: "\n")
    }
}
