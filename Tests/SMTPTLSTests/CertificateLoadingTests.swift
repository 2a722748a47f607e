import Foundation
import NIOCore
import SMTPProxy
import Testing
import X509
@testable import SMTPTLS

/// The operator's files: each mistake is refused at start with a message naming the file.
@Suite struct CertificateLoadingTests {
    static let now = Date()

    /// Writes a generated pair (or the given PEM texts) and returns their paths.
    static func write(in directory: String, certificate: String? = nil, key: String? = nil,
                      keyMode: Int = 0o600) throws -> (certificate: String, key: String) {
        let generated = try SMTPSelfSignedCertificate.generate(hostName: "mail.example.org", now: now)
        let paths = (certificate: directory + "/cert.pem", key: directory + "/key.pem")
        try (certificate ?? generated.certificate).write(toFile: paths.certificate, atomically: false, encoding: .utf8)
        try (key ?? generated.key).write(toFile: paths.key, atomically: false, encoding: .utf8)
        try FileManager.default.setAttributes([.posixPermissions: keyMode], ofItemAtPath: paths.key)
        return paths
    }

    static func loadingError(_ paths: (certificate: String, key: String)) -> SMTPTLSCertificateError? {
        do {
            _ = try SMTPTLSCertificate(certificatePath: paths.certificate, keyPath: paths.key, now: now)
            return nil
        } catch {
            return error
        }
    }

    @Test func aGoodPairLoads() async throws {
        try await withTemporaryDirectory { directory in
            let paths = try Self.write(in: directory, keyMode: 0o640)
            let loaded = try SMTPTLSCertificate(certificatePath: paths.certificate, keyPath: paths.key)
            #expect(loaded.origin == .provided)
            #expect(loaded.chain.count == 1)
            #expect(try loaded.leaf.extensions.subjectAlternativeNames == SubjectAlternativeNames([.dnsName("mail.example.org")]))
        }
    }

    @Test func missingFilesAreNamed() async throws {
        try await withTemporaryDirectory { directory in
            let paths = try Self.write(in: directory)
            let noCertificate = Self.loadingError((directory + "/missing.pem", paths.key))
            #expect(noCertificate == .fileMissing(.certificate, path: directory + "/missing.pem"))
            #expect(noCertificate?.description.contains("\(directory)/missing.pem does not exist") == true)
            #expect(Self.loadingError((paths.certificate, directory + "/nokey.pem")) == .fileMissing(.privateKey, path: directory + "/nokey.pem"))
        }
    }

    @Test func aDirectoryIsUnreadable() async throws {
        try await withTemporaryDirectory { directory in
            let paths = try Self.write(in: directory)
            let error = Self.loadingError((directory, paths.key))
            #expect(error == .fileUnreadable(.certificate, path: directory, reason: "not a regular file"))
            #expect(error?.description.contains("make it readable") == true)
        }
    }

    @Test func aKeyFromAnotherPairIsRefused() async throws {
        try await withTemporaryDirectory { directory in
            let other = try SMTPSelfSignedCertificate.generate(hostName: "mail.example.org").key
            let paths = try Self.write(in: directory, key: other)
            let error = Self.loadingError(paths)
            #expect(error == .keyDoesNotMatchCertificate(certificatePath: paths.certificate, keyPath: paths.key))
            #expect(error?.description.contains(paths.certificate) == true)
            #expect(error?.description.contains(paths.key) == true)
        }
    }

    @Test func anExpiredCertificateIsRefused() async throws {
        try await withTemporaryDirectory { directory in
            let twoYearsAgo = Self.now.addingTimeInterval(-2 * 365 * 24 * 3600)
            let old = try SMTPSelfSignedCertificate.generate(hostName: "mail.example.org", now: twoYearsAgo)
            let paths = try Self.write(in: directory, certificate: old.certificate, key: old.key)
            let error = Self.loadingError(paths)
            guard case .certificateExpired(let path, let notValidAfter) = error else {
                Issue.record("\(String(describing: error))")
                return
            }
            #expect(path == paths.certificate)
            #expect(notValidAfter < Self.now)
            #expect(error?.description.contains("expired on") == true)
        }
    }

    @Test func aCertificateNotYetValidIsRefused() async throws {
        try await withTemporaryDirectory { directory in
            let future = try SMTPSelfSignedCertificate.generate(hostName: "mail.example.org", now: Self.now.addingTimeInterval(86400))
            let paths = try Self.write(in: directory, certificate: future.certificate, key: future.key)
            guard case .certificateNotYetValid = Self.loadingError(paths) else {
                Issue.record("loaded a certificate valid only from tomorrow")
                return
            }
        }
    }

    @Test func aKeyEveryoneCanReadIsRefused() async throws {
        try await withTemporaryDirectory { directory in
            let paths = try Self.write(in: directory, keyMode: 0o644)
            let error = Self.loadingError(paths)
            #expect(error == .privateKeyReadableByOthers(path: paths.key, mode: 0o644))
            #expect(error?.description.contains("chmod 600") == true)
        }
    }

    @Test func filesThatAreNotPEMAreRefused() async throws {
        try await withTemporaryDirectory { directory in
            let noBlock = try Self.write(in: directory, certificate: "not a certificate\n")
            #expect(Self.loadingError(noBlock) == .noCertificateInFile(path: noBlock.certificate))

            let badKey = try Self.write(in: directory, key: "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n")
            guard case .privateKeyUnparsable(let path, let reason) = Self.loadingError(badKey) else {
                Issue.record("a certificate block taken for a key")
                return
            }
            #expect(path == badKey.key)
            #expect(reason == "found only CERTIFICATE")
        }
    }

    /// Server certificate first, then an intermediate; a key file from `openssl ecparam -genkey`
    /// starts with EC PARAMETERS.
    @Test func chainsAndParameterBlocksAreRead() async throws {
        try await withTemporaryDirectory { directory in
            let leaf = try SMTPSelfSignedCertificate.generate(hostName: "mail.example.org", now: Self.now)
            let intermediate = try SMTPSelfSignedCertificate.generate(hostName: "ca.example.org", now: Self.now).certificate
            let parameters = "-----BEGIN EC PARAMETERS-----\nBggqhkjOPQMBBw==\n-----END EC PARAMETERS-----\n"
            let paths = try Self.write(in: directory, certificate: leaf.certificate + intermediate, key: parameters + leaf.key)
            let loaded = try SMTPTLSCertificate(certificatePath: paths.certificate, keyPath: paths.key, now: Self.now)
            #expect(loaded.chain.count == 2)
            #expect(try loaded.leaf.extensions.subjectAlternativeNames == SubjectAlternativeNames([.dnsName("mail.example.org")]))
        }
    }

    @Test func onlyTerminateModeNeedsACertificate() async throws {
        try await withTemporaryDirectory { directory in
            let source = SMTPTLSCertificateSource.selfSigned(directory: directory + "/tls", hostName: "relay.test.example")
            let off = try SMTPRelayTLS.make(mode: .off, certificate: source)
            #expect(off == nil)
            let splice = try SMTPRelayTLS.make(mode: .splice, certificate: source)
            #expect(splice?.mode == .splice)
            #expect(!FileManager.default.fileExists(atPath: directory + "/tls"), "splice mode writes no key")
            let terminate = try SMTPRelayTLS.make(mode: .terminate, certificate: source)
            #expect(terminate?.mode == .terminate)
            #expect(FileManager.default.fileExists(atPath: directory + "/tls/smtp-relay-key.pem"))

            #expect(throws: SMTPTLSCertificateError.fileMissing(.certificate, path: directory + "/none.pem")) {
                try SMTPRelayTLS.make(mode: .terminate, certificate: .files(certificatePath: directory + "/none.pem",
                                                                            keyPath: directory + "/none.key"))
            }
        }
    }
}
