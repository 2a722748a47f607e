import Foundation

/// Where terminate mode gets its certificate: the operator's files, or a self-signed pair the
/// relay keeps in a directory of its own.
public enum SMTPTLSCertificateSource: Hashable, Sendable {
    /// PEM chain (server certificate first) and PEM private key, as configured.
    case files(certificatePath: String, keyPath: String)
    /// `SMTPSelfSignedCertificate` in `directory`: generated at first start, reused afterwards,
    /// replaced within a week of expiry. `hostName` goes into its subject and SAN.
    case selfSigned(directory: String, hostName: String)
}

extension SMTPTLSCertificate {
    /// Reads (or, for `.selfSigned`, reuses or generates) the certificate `source` names.
    public init(source: SMTPTLSCertificateSource, now: Date = Date()) throws(SMTPTLSCertificateError) {
        switch source {
        case .files(let certificatePath, let keyPath):
            try self.init(certificatePath: certificatePath, keyPath: keyPath, now: now)
        case .selfSigned(let directory, let hostName):
            self = try SMTPSelfSignedCertificate.loadOrCreate(directory: directory, hostName: hostName, now: now)
        }
    }
}
