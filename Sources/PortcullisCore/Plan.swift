/// What a tenant needs from a VM, in the words of the "before you deploy" checklist.
public enum Need: Hashable, Sendable, Codable, CustomStringConvertible {
    /// Send e-mail directly over SMTP.
    case smtp
    /// Run an e-mail server.
    case mailServer
    case web
    case database
    case development
    /// A specific TCP port.
    case tcpPort(Port)

    public init(parsing text: String) throws(ValidationError) {
        switch text.lowercased() {
        case "smtp", "email", "mail", "send-mail": self = .smtp
        case "mail-server", "mailserver", "mx": self = .mailServer
        case "web", "http", "https": self = .web
        case "database", "db": self = .database
        case "dev", "development": self = .development
        default:
            if text.lowercased().hasPrefix("port:") || text.lowercased().hasPrefix("tcp:") {
                let number = String(text.split(separator: ":").last ?? "")
                self = .tcpPort(try Port(parsing: number, field: "needs"))
            } else {
                throw ValidationError(field: "needs", value: text,
                                      problem: "known needs: smtp, mail-server, web, database, dev, port:N")
            }
        }
    }

    public var description: String {
        switch self {
        case .smtp: "smtp"
        case .mailServer: "mail-server"
        case .web: "web"
        case .database: "database"
        case .development: "dev"
        case .tcpPort(let port): "port:\(port)"
        }
    }

    public init(from decoder: any Decoder) throws {
        self = try Need(parsing: try decoder.singleValueContainer().decode(String.self))
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(description)
    }
}

/// The checklist answered: which access type fits the needs, and why.
public struct DeploymentPlan: Hashable, Sendable, Codable {
    public struct Finding: Hashable, Sendable, Codable {
        public let need: Need
        public let requiresPublicIPv4: Bool
        public let why: String
        enum CodingKeys: String, CodingKey {
            case need, why
            case requiresPublicIPv4 = "requires_public_ipv4"
        }
    }

    public let recommendation: AccessType
    public let findings: [Finding]
    public let notes: [String]
    public let alternatives: [Remedy]

    public var text: String {
        var lines = [recommendation == .publicIPv4
            ? "Recommended: deploy WITH a public IPv4 address."
            : "Recommended: a VM WITHOUT a public IPv4 is sufficient (and usually cheaper)."]
        for finding in findings {
            lines.append("  - \(finding.need): \(finding.why)")
        }
        for note in notes { lines.append("  note: \(note)") }
        if !alternatives.isEmpty {
            lines.append("  if you would rather not pay for IPv4:")
            for (i, remedy) in alternatives.enumerated() { lines.append("   \(i + 1). \(remedy.title): \(remedy.detail)") }
        }
        return lines.joined(separator: "\n")
    }
}

public func plan(needs: [Need], policy: SitePolicy) -> DeploymentPlan {
    let ports = policy.restrictedTCPPorts
    let findings = needs.map { need -> DeploymentPlan.Finding in
        switch need {
        case .smtp:
            .init(need: need, requiresPublicIPv4: true,
                  why: "sending e-mail over SMTP uses ports \(ports), which are closed without a public IPv4; deploy with IPv4")
        case .mailServer:
            .init(need: need, requiresPublicIPv4: true,
                  why: "a mail server must reach other servers on port 25; deploy with IPv4")
        case .web:
            .init(need: need, requiresPublicIPv4: false, why: "web traffic (80/443) is not restricted")
        case .database:
            .init(need: need, requiresPublicIPv4: false, why: "database ports are not restricted")
        case .development:
            .init(need: need, requiresPublicIPv4: false, why: "development environments rarely need the restricted ports")
        case .tcpPort(let port):
            ports.contains(port)
                ? .init(need: need, requiresPublicIPv4: true, why: "outbound TCP port \(port) is restricted without a public IPv4")
                : .init(need: need, requiresPublicIPv4: false, why: "TCP port \(port) is not restricted")
        }
    }
    let needsIPv4 = findings.contains { $0.requiresPublicIPv4 }
    var notes = ["VMs without IPv4 are typically more cost-effective; IPv4 addresses may cost extra."]
    if needsIPv4 {
        notes.append("A public IPv6 address alone does not lift the restriction: it applies to IPv4 and IPv6 alike.")
    }
    return DeploymentPlan(
        recommendation: needsIPv4 ? .publicIPv4 : .restricted,
        findings: findings,
        notes: notes,
        alternatives: needsIPv4 && !needs.contains(.mailServer) ? Array(mailRemedies(policy: policy).dropFirst()) : []
    )
}
