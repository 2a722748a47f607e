/// Why a notice template cannot be used, worded so the operator can fix the template file.
public enum NoticeTemplateError: Error, Hashable, Sendable, CustomStringConvertible {
    case unreadable(path: String, reason: String)
    /// The text does not start with a `Subject:` line followed by an empty line.
    case missingSubject(source: String)
    /// `{{name}}` with a name the renderer does not fill in (usually a typo).
    case unknownPlaceholder(name: String, line: Int, source: String)
    /// `{{` without a matching `}}` on the same line, or `{{}}`.
    case malformedPlaceholder(line: Int, source: String)
    /// The caller gave no value for placeholders the template uses: a bug in the caller, not the template.
    case missingValues([String])

    public var description: String {
        switch self {
        case .unreadable(let path, let reason):
            "cannot read the notice template \(path) (\(reason)): make it readable by the user portcullis runs as, "
                + "or remove the setting to use the built-in template"
        case .missingSubject(let source):
            "the notice template \(source) must start with a 'Subject: ...' line, then an empty line, then the body"
        case .unknownPlaceholder(let name, let line, let source):
            "the notice template \(source), line \(line), uses the unknown placeholder {{\(name)}}: the known ones are "
                + NoticeTemplate.placeholderNames.map { "{{\($0)}}" }.joined(separator: ", ")
        case .malformedPlaceholder(let line, let source):
            "the notice template \(source), line \(line), has '{{' without a name and a closing '}}' on the same line: "
                + "write placeholders as {{name}}"
        case .missingValues(let names):
            "no value was given for the template's placeholders " + names.map { "{{\($0)}}" }.joined(separator: ", ")
        }
    }
}
