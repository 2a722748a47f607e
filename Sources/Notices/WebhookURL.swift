import Foundation
import PortcullisCore

/// A webhook receiver's address, taken apart once when the poster is configured.
struct WebhookURL: Hashable, Sendable {
    let isHTTPS: Bool
    /// Without brackets, for connecting.
    let host: String
    let port: Int
    /// Path and query, as sent in the request line; at least "/".
    let target: String

    init(parsing text: String) throws(ValidationError) {
        func invalid(_ problem: String) -> ValidationError {
            ValidationError(field: "webhook url", value: text, problem: problem)
        }
        guard let components = URLComponents(string: text), let scheme = components.scheme?.lowercased() else {
            throw invalid("expected a URL like https://hooks.example.com/portcullis")
        }
        guard scheme == "http" || scheme == "https" else {
            throw invalid("the scheme must be http or https")
        }
        guard var host = components.host, !host.isEmpty else {
            throw invalid("the URL has no host name")
        }
        guard components.user == nil && components.password == nil else {
            throw invalid("remove the user name and password: the receiver checks the X-Portcullis-Signature "
                + "header against the shared secret instead")
        }
        if host.hasPrefix("[") && host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        let port = components.port ?? (scheme == "https" ? 443 : 80)
        guard (1...65535).contains(port) else { throw invalid("the port must be 1-65535") }
        isHTTPS = scheme == "https"
        self.host = host
        self.port = port
        let path = components.percentEncodedPath.isEmpty ? "/" : components.percentEncodedPath
        target = path + (components.percentEncodedQuery.map { "?" + $0 } ?? "")
    }

    /// The Host header: brackets around an IPv6 address, the port only when not the scheme's default.
    var hostHeader: String {
        let name = host.contains(":") ? "[\(host)]" : host
        return port == (isHTTPS ? 443 : 80) ? name : "\(name):\(port)"
    }

    /// Scheme, host and port only, for messages and logs: webhook URLs often carry a token in
    /// their path or query, which has no business in a log file.
    var origin: String {
        (isHTTPS ? "https://" : "http://") + hostHeader
    }
}
