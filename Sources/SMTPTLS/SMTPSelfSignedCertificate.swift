import Crypto
import Foundation
import NIOCore
import SwiftASN1
import X509

/// The certificate the relay uses when the operator gives none: generated at first start,
/// reused on later starts, and replaced when it is within `renewalMargin` of expiring.
///
/// Self-signed is enough here: the VMs' MTAs do opportunistic STARTTLS (RFC 7435) and do not
/// verify the relay's certificate, so what matters is that TLS is offered at all. An operator who
/// wants verifiable TLS configures a real certificate.
///
/// The key is ECDSA P-256 rather than RSA-2048: generating it takes microseconds (RSA key
/// generation can take a noticeable fraction of a second on a loaded start), it is the key type
/// every TLS 1.2+ stack supports (ECDHE-ECDSA suites, TLS 1.3), and its handshakes are cheaper
/// for the relay, which terminates every VM's TLS.
public enum SMTPSelfSignedCertificate {
    public static let certificateFileName = "smtp-relay-cert.pem"
    public static let keyFileName = "smtp-relay-key.pem"
    /// How long a generated certificate is valid.
    public static let validity: TimeInterval = 365 * 24 * 3600
    /// A certificate this close to expiry (or past it) is replaced at start.
    public static let renewalMargin: TimeInterval = 7 * 24 * 3600
    /// Backdating against VMs whose clocks run a little behind.
    static let backdating: TimeInterval = 3600

    /// The pair in `directory` (created with mode 0700 if missing), reused or generated.
    public static func loadOrCreate(directory: String, hostName: String,
                                    now: Date = Date()) throws(SMTPTLSCertificateError) -> SMTPTLSCertificate {
        try PEMFiles.makeDirectory(directory)
        let base = directory.hasSuffix("/") ? directory : directory + "/"
        return try loadOrCreate(certificatePath: base + certificateFileName, keyPath: base + keyFileName,
                                hostName: hostName, now: now)
    }

    /// Reuses the pair at these paths when it loads cleanly and is valid for more than
    /// `renewalMargin`; otherwise (missing, expiring, mismatched after a crash, key mode widened)
    /// writes a new one: the key with mode 0600 first, then the certificate with 0644. Only
    /// failing to write throws.
    public static func loadOrCreate(certificatePath: String, keyPath: String, hostName: String,
                                    now: Date = Date()) throws(SMTPTLSCertificateError) -> SMTPTLSCertificate {
        let reason: String
        if !PEMFiles.exists(certificatePath) && !PEMFiles.exists(keyPath) {
            reason = "none yet"
        } else {
            do {
                let existing = try SMTPTLSCertificate(certificatePath: certificatePath, keyPath: keyPath, now: now,
                                                      origin: .selfSignedReused)
                if existing.notValidAfter > now.addingTimeInterval(renewalMargin) { return existing }
                reason = "the previous one expires on \(SMTPTLSCertificateError.format(existing.notValidAfter))"
            } catch {
                reason = "the previous one is unusable: \(error)"
            }
        }
        let (certificatePEM, keyPEM) = try generate(hostName: hostName, now: now)
        try PEMFiles.write(keyPEM, to: keyPath, mode: 0o600)
        try PEMFiles.write(certificatePEM, to: certificatePath, mode: 0o644)
        return try SMTPTLSCertificate(certificatePath: certificatePath, keyPath: keyPath, now: now,
                                      origin: .selfSignedGenerated(reason: reason))
    }

    /// A new P-256 key and a certificate for `hostName` signed by it, both in PEM.
    ///
    /// No KeyUsage extension: one without keyCertSign makes OpenSSL-family verifiers treat the
    /// certificate as not self-signed, so a client that pins it as its trust anchor (as our tests
    /// and a cautious operator's MTA would) could not verify it. BasicConstraints says it is no CA.
    public static func generate(hostName: String, now: Date = Date(),
                                validity: TimeInterval = validity) throws(SMTPTLSCertificateError) -> (certificate: String, key: String) {
        do {
            let key = P256.Signing.PrivateKey()
            let signingKey = Certificate.PrivateKey(key)
            let name = try DistinguishedName {
                CommonName(hostName)
                OrganizationName("Portcullis SMTP relay (self-signed)")
            }
            let alternativeName: GeneralName
            if let address = try? SocketAddress(ipAddress: hostName, port: 0) {
                alternativeName = .ipAddress(ASN1OctetString(contentBytes: address.addressBytes[...]))
            } else {
                alternativeName = .dnsName(hostName)
            }
            let extensions = try Certificate.Extensions {
                Critical(BasicConstraints.notCertificateAuthority)
                try ExtendedKeyUsage([.serverAuth])
                SubjectAlternativeNames([alternativeName])
            }
            let certificate = try Certificate(
                version: .v3, serialNumber: Certificate.SerialNumber(), publicKey: signingKey.publicKey,
                notValidBefore: now.addingTimeInterval(-backdating), notValidAfter: now.addingTimeInterval(validity),
                issuer: name, subject: name, signatureAlgorithm: .ecdsaWithSHA256, extensions: extensions,
                issuerPrivateKey: signingKey)
            return (try certificate.serializeAsPEM().pemString, key.pemRepresentation)
        } catch {
            throw .generationFailed(reason: "\(error)")
        }
    }
}

extension SocketAddress {
    /// The raw 4 or 16 address bytes.
    var addressBytes: [UInt8] {
        switch self {
        case .v4(let address):
            withUnsafeBytes(of: address.address.sin_addr) { Array($0) }
        case .v6(let address):
            withUnsafeBytes(of: address.address.sin6_addr) { Array($0) }
        case .unixDomainSocket:
            []
        }
    }
}
