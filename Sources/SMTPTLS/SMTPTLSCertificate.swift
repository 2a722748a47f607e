import Foundation
import NIOSSL
import SwiftASN1
import X509

/// The relay's own certificate chain and private key, read from PEM files and checked before the
/// relay starts: a bad certificate must stop the daemon with a message naming the file, not fail
/// every VM's handshake later.
public struct SMTPTLSCertificate: Sendable {
    /// Where the files came from, for the daemon's start-up log line.
    public enum Origin: Hashable, Sendable {
        /// The operator's files.
        case provided
        /// A self-signed pair generated earlier and still valid for a while.
        case selfSignedReused
        /// A self-signed pair generated just now, and why (none yet, expiring, unusable).
        case selfSignedGenerated(reason: String)
    }

    public let certificatePath: String
    public let keyPath: String
    public let origin: Origin
    /// The server certificate (the chain's first), for logging what the VMs will see.
    public let leaf: Certificate
    /// Server certificate first, then intermediates, as NIOSSL sends them.
    public let chain: [NIOSSLCertificate]
    public let privateKey: NIOSSLPrivateKey

    public var notValidAfter: Date { leaf.notValidAfter }

    /// Reads and checks the pair: both files readable, the key not open to every user, the first
    /// certificate valid at `now`, and the key the one it was issued for.
    public init(certificatePath: String, keyPath: String, now: Date = Date(),
                origin: Origin = .provided) throws(SMTPTLSCertificateError) {
        let certificateFile = try PEMFiles.read(certificatePath, as: .certificate)
        let keyFile = try PEMFiles.read(keyPath, as: .privateKey)
        guard keyFile.mode & 0o007 == 0 else {
            throw .privateKeyReadableByOthers(path: keyPath, mode: keyFile.mode)
        }

        let certificates = try Self.parseChain(certificateFile.text, path: certificatePath)
        let (key, keyDocument) = try Self.parseKey(keyFile.text, path: keyPath)
        let leaf = certificates[0]
        guard key.publicKey == leaf.publicKey else {
            throw .keyDoesNotMatchCertificate(certificatePath: certificatePath, keyPath: keyPath)
        }
        guard leaf.notValidAfter > now else {
            throw .certificateExpired(path: certificatePath, notValidAfter: leaf.notValidAfter)
        }
        guard leaf.notValidBefore <= now else {
            throw .certificateNotYetValid(path: certificatePath, notValidBefore: leaf.notValidBefore)
        }

        do {
            self.chain = try certificates.map { certificate in
                var serializer = DER.Serializer()
                try serializer.serialize(certificate)
                return try NIOSSLCertificate(bytes: serializer.serializedBytes, format: .der)
            }
            self.privateKey = try NIOSSLPrivateKey(bytes: Array(keyDocument.pemString.utf8), format: .pem)
        } catch {
            throw .rejectedByTLSLibrary(certificatePath: certificatePath, keyPath: keyPath, reason: "\(error)")
        }
        self.certificatePath = certificatePath
        self.keyPath = keyPath
        self.origin = origin
        self.leaf = leaf
    }

    /// Every CERTIFICATE block in order; other blocks (a bundled key, parameters) are ignored.
    private static func parseChain(_ text: String, path: String) throws(SMTPTLSCertificateError) -> [Certificate] {
        let documents: [PEMDocument]
        do {
            documents = try PEMDocument.parseMultiple(pemString: text)
        } catch {
            throw .certificateUnparsable(path: path, reason: "\(error)")
        }
        var certificates: [Certificate] = []
        for document in documents where document.discriminator == "CERTIFICATE" {
            do {
                certificates.append(try Certificate(pemDocument: document))
            } catch {
                throw .certificateUnparsable(path: path, reason: "certificate \(certificates.count + 1): \(error)")
            }
        }
        guard !certificates.isEmpty else { throw .noCertificateInFile(path: path) }
        return certificates
    }

    /// The first private key block; `openssl ecparam -genkey` puts EC PARAMETERS before it.
    private static func parseKey(_ text: String,
                                 path: String) throws(SMTPTLSCertificateError) -> (Certificate.PrivateKey, PEMDocument) {
        let keyKinds: Set<String> = ["PRIVATE KEY", "EC PRIVATE KEY", "RSA PRIVATE KEY"]
        let documents: [PEMDocument]
        do {
            documents = try PEMDocument.parseMultiple(pemString: text)
        } catch {
            throw .privateKeyUnparsable(path: path, reason: "\(error)")
        }
        guard let document = documents.first(where: { keyKinds.contains($0.discriminator) }) else {
            let found = documents.map(\.discriminator)
            throw .privateKeyUnparsable(path: path, reason: found.isEmpty ? "no PEM block"
                                            : "found only \(found.joined(separator: ", "))")
        }
        do {
            return (try Certificate.PrivateKey(pemDocument: document), document)
        } catch {
            throw .privateKeyUnparsable(path: path, reason: "\(error)")
        }
    }
}
