import Foundation

/// Why the relay's TLS certificate could not be used, worded for the operator: each case names
/// the file and says what to do about it. The daemon should refuse to start on any of them rather
/// than run `terminate` mode without a usable certificate.
public enum SMTPTLSCertificateError: Error, Hashable, Sendable, CustomStringConvertible {
    /// Which of the two files a problem is about.
    public enum File: String, Hashable, Sendable {
        case certificate = "certificate"
        case privateKey = "private key"
    }

    case fileMissing(File, path: String)
    case fileUnreadable(File, path: String, reason: String)
    case noCertificateInFile(path: String)
    case certificateUnparsable(path: String, reason: String)
    case privateKeyUnparsable(path: String, reason: String)
    /// The key file grants access to other users (its mode has bits in 0o007).
    case privateKeyReadableByOthers(path: String, mode: Int)
    case keyDoesNotMatchCertificate(certificatePath: String, keyPath: String)
    case certificateExpired(path: String, notValidAfter: Date)
    case certificateNotYetValid(path: String, notValidBefore: Date)
    /// Both files parsed, but the TLS library would not build a context from them.
    case rejectedByTLSLibrary(certificatePath: String, keyPath: String, reason: String)
    /// Generating the self-signed certificate failed (creating the directory or writing a file).
    case cannotWrite(path: String, reason: String)
    case generationFailed(reason: String)

    public var description: String {
        switch self {
        case .fileMissing(let file, let path):
            "TLS \(file.rawValue) file \(path) does not exist: give the path of an existing PEM file, "
                + "or leave both certificate and key unset to use a generated self-signed certificate"
        case .fileUnreadable(let file, let path, let reason):
            "cannot read TLS \(file.rawValue) file \(path) (\(reason)): make it readable by the user portcullis runs as"
        case .noCertificateInFile(let path):
            "TLS certificate file \(path) holds no PEM CERTIFICATE block: it must hold the certificate chain "
                + "in PEM, the server's certificate first, then its intermediates"
        case .certificateUnparsable(let path, let reason):
            "TLS certificate file \(path) is not a valid PEM certificate chain (\(reason)): "
                + "replace it with the PEM chain your CA issued, server certificate first"
        case .privateKeyUnparsable(let path, let reason):
            "TLS private key file \(path) is not a usable PEM private key (\(reason)): give an unencrypted "
                + "PKCS#8 (PRIVATE KEY), EC PRIVATE KEY or RSA PRIVATE KEY file; decrypt it first if it has a passphrase"
        case .privateKeyReadableByOthers(let path, let mode):
            "TLS private key file \(path) is readable by every user (mode \(String(mode, radix: 8))): "
                + "chmod 600 it (or 640 with a trusted group) and consider the key leaked"
        case .keyDoesNotMatchCertificate(let certificatePath, let keyPath):
            "TLS private key \(keyPath) does not belong to the certificate in \(certificatePath) (their public keys differ): "
                + "give the key the certificate was issued for, or reissue the certificate for this key"
        case .certificateExpired(let path, let notValidAfter):
            "TLS certificate \(path) expired on \(Self.format(notValidAfter)): renew it, "
                + "or leave both certificate and key unset to use a generated self-signed certificate"
        case .certificateNotYetValid(let path, let notValidBefore):
            "TLS certificate \(path) is not valid before \(Self.format(notValidBefore)): check the system clock, "
                + "or use a certificate that is valid now"
        case .rejectedByTLSLibrary(let certificatePath, let keyPath, let reason):
            "the TLS library refused the certificate \(certificatePath) with key \(keyPath) (\(reason)): "
                + "check that both are in PEM and that the key type is RSA or ECDSA P-256/P-384/P-521"
        case .cannotWrite(let path, let reason):
            "cannot write the self-signed TLS certificate to \(path) (\(reason)): make its directory writable "
                + "by the user portcullis runs as, or configure a certificate and key"
        case .generationFailed(let reason):
            "generating the self-signed TLS certificate failed (\(reason)): configure a certificate and key instead"
        }
    }

    static func format(_ date: Date) -> String {
        date.formatted(.iso8601)
    }
}
