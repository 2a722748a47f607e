import Foundation
import PortcullisCore

/// A user name and password for SMTP AUTH (RFC 4954) at the smarthost, for providers whose
/// outbound relay wants a login rather than trusting the hypervisor's address.
///
/// Only ever sent over TLS: a submitter with credentials refuses to authenticate on a plaintext
/// connection. The password never appears in descriptions or logs.
public struct SMTPCredentials: Hashable, Sendable, CustomStringConvertible {
    public let username: String
    let password: String

    public init(username: String, password: String) throws(ValidationError) {
        // PLAIN separates the fields with NUL; a line end would end the command line.
        func usable(_ text: String) -> Bool {
            !text.isEmpty && text.utf8.count <= 255 && !text.utf8.contains { $0 == 0 || $0 == 10 || $0 == 13 }
        }
        guard usable(username) else {
            throw ValidationError(field: "notices.email.auth.username", value: username,
                                  problem: "expected 1-255 bytes without NUL, CR or LF")
        }
        guard usable(password) else {
            throw ValidationError(field: "notices.email.auth.password_file", value: "(the password)",
                                  problem: "expected 1-255 bytes on the file's first line, without NUL, CR or LF")
        }
        self.username = username
        self.password = password
    }

    public var description: String { "\(username) (password not shown)" }

    /// `AUTH LOGIN` answers: the user name, then the password, each in base64.
    var loginResponses: [String] {
        [Data(username.utf8).base64EncodedString(), Data(password.utf8).base64EncodedString()]
    }

    /// `AUTH PLAIN` initial response (RFC 4616): no authorisation identity, NUL, user, NUL, password.
    var plainResponse: String {
        Data(("\0" + username + "\0" + password).utf8).base64EncodedString()
    }
}
