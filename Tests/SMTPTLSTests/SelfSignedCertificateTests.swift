import Crypto
import Foundation
import SwiftASN1
import Testing
import X509
@testable import SMTPTLS

@Suite struct SelfSignedCertificateTests {
    static let day: TimeInterval = 24 * 3600
    static let start = Date(timeIntervalSince1970: 1_800_000_000)

    @Test func firstStartWritesAValidPairWithAPrivateKey() async throws {
        try await withTemporaryDirectory { root in
            let directory = root + "/not/yet/there"
            let made = try SMTPSelfSignedCertificate.loadOrCreate(directory: directory, hostName: "relay.test.example",
                                                                  now: Self.start)
            #expect(made.origin == .selfSignedGenerated(reason: "none yet"))
            #expect(made.certificatePath == directory + "/smtp-relay-cert.pem")
            #expect(made.keyPath == directory + "/smtp-relay-key.pem")
            #expect(try mode(of: made.keyPath) == 0o600)
            #expect(try mode(of: made.certificatePath) == 0o644)
            #expect(try mode(of: directory) == 0o700)

            let certificatePEM = try String(contentsOfFile: made.certificatePath, encoding: .utf8)
            let keyPEM = try String(contentsOfFile: made.keyPath, encoding: .utf8)
            #expect(certificatePEM.hasPrefix("-----BEGIN CERTIFICATE-----\n"))
            #expect(keyPEM.hasPrefix("-----BEGIN PRIVATE KEY-----\n"))
            let certificate = try Certificate(pemEncoded: certificatePEM)
            let key = try P256.Signing.PrivateKey(pemRepresentation: keyPEM)
            #expect(certificate.publicKey == Certificate.PublicKey(key.publicKey), "the key is the certificate's")
            #expect(certificate.issuer == certificate.subject)
            #expect(certificate.notValidBefore <= Self.start)
            #expect(certificate.notValidAfter == Self.start.addingTimeInterval(365 * Self.day))
            #expect(try certificate.extensions.subjectAlternativeNames == SubjectAlternativeNames([.dnsName("relay.test.example")]))
            #expect(try certificate.extensions.basicConstraints == .notCertificateAuthority)
            #expect(try certificate.extensions.extendedKeyUsage == ExtendedKeyUsage([.serverAuth]))
            #expect(made.chain.count == 1)
        }
    }

    @Test func laterStartsReuseThePair() async throws {
        try await withTemporaryDirectory { directory in
            let first = try SMTPSelfSignedCertificate.loadOrCreate(directory: directory, hostName: "relay.test.example",
                                                                   now: Self.start)
            let files = try contents(of: first)
            let second = try SMTPSelfSignedCertificate.loadOrCreate(directory: directory, hostName: "relay.test.example",
                                                                    now: Self.start.addingTimeInterval(300 * Self.day))
            #expect(second.origin == .selfSignedReused)
            #expect(second.leaf == first.leaf)
            #expect(try contents(of: second) == files, "nothing rewritten")
        }
    }

    /// Valid for 365 days; replaced once fewer than 7 remain (or none).
    @Test(arguments: [(357.0, false), (359, true), (365, true), (400, true)])
    func aPairNearExpiryIsReplaced(daysLater: Double, replaced: Bool) async throws {
        try await withTemporaryDirectory { directory in
            let first = try SMTPSelfSignedCertificate.loadOrCreate(directory: directory, hostName: "relay.test.example",
                                                                   now: Self.start)
            let later = Self.start.addingTimeInterval(daysLater * Self.day)
            let second = try SMTPSelfSignedCertificate.loadOrCreate(directory: directory, hostName: "relay.test.example",
                                                                    now: later)
            #expect((second.leaf != first.leaf) == replaced)
            if replaced {
                guard case .selfSignedGenerated(let reason) = second.origin else {
                    Issue.record("origin \(second.origin)")
                    return
                }
                #expect(reason.contains("expire"), "\(reason)")
                #expect(second.notValidAfter == later.addingTimeInterval(365 * Self.day))
                #expect(try mode(of: second.keyPath) == 0o600)
                #expect(second.leaf.publicKey != first.leaf.publicKey, "a new key, not only a new certificate")
            } else {
                #expect(second.origin == .selfSignedReused)
            }
        }
    }

    /// A crash between writing the new key and the new certificate leaves a pair that does not match.
    @Test func aMismatchedPairIsReplaced() async throws {
        try await withTemporaryDirectory { directory in
            let first = try SMTPSelfSignedCertificate.loadOrCreate(directory: directory, hostName: "relay.test.example",
                                                                   now: Self.start)
            try SMTPSelfSignedCertificate.generate(hostName: "other", now: Self.start).key
                .write(toFile: first.keyPath, atomically: false, encoding: .utf8)
            let second = try SMTPSelfSignedCertificate.loadOrCreate(directory: directory, hostName: "relay.test.example",
                                                                    now: Self.start)
            guard case .selfSignedGenerated(let reason) = second.origin else {
                Issue.record("origin \(second.origin)")
                return
            }
            #expect(reason.contains("does not belong"), "\(reason)")
            #expect(try mode(of: second.keyPath) == 0o600, "rewritten with the private mode")
        }
    }

    @Test func anAddressGetsAnIPAddressName() throws {
        let pem = try SMTPSelfSignedCertificate.generate(hostName: "192.0.2.7").certificate
        let certificate = try Certificate(pemEncoded: pem)
        #expect(try certificate.extensions.subjectAlternativeNames
                == SubjectAlternativeNames([.ipAddress(ASN1OctetString(contentBytes: [192, 0, 2, 7]))]))
    }

    @Test func anUnwritableDirectoryIsAnOperatorError() async throws {
        try await withTemporaryDirectory { root in
            let file = root + "/a-file"
            try "x".write(toFile: file, atomically: false, encoding: .utf8)
            #expect {
                try SMTPSelfSignedCertificate.loadOrCreate(directory: file + "/tls", hostName: "relay.test.example")
            } throws: { error in
                guard let error = error as? SMTPTLSCertificateError, case .cannotWrite(let path, _) = error else { return false }
                return path == file + "/tls" && error.description.contains("writable")
            }
        }
    }
}

func mode(of path: String) throws -> Int {
    let attributes = try FileManager.default.attributesOfItem(atPath: path)
    return (attributes[.posixPermissions] as? NSNumber)?.intValue ?? -1
}

func contents(of certificate: SMTPTLSCertificate) throws -> [Data] {
    [try Data(contentsOf: URL(fileURLWithPath: certificate.certificatePath)),
     try Data(contentsOf: URL(fileURLWithPath: certificate.keyPath))]
}
