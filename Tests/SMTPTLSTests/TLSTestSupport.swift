import Foundation
import NIOCore
import NIOSSL
import SMTPTLS

/// A new directory under the system's temporary directory, removed after `body`.
func withTemporaryDirectory<T>(_ body: (String) async throws -> T) async throws -> T {
    let path = FileManager.default.temporaryDirectory.appendingPathComponent("portcullis-tls-\(UUID().uuidString)").path
    try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(atPath: path) }
    return try await body(path)
}

/// The two certificates a relay test needs, self-signed, each in its own directory.
struct TestCertificates {
    static let relayName = "relay.test.example"
    static let mxName = "mx.test.example"

    let relay: SMTPTLSCertificate
    let mx: SMTPTLSCertificate

    init(in directory: String) throws {
        relay = try SMTPSelfSignedCertificate.loadOrCreate(directory: directory + "/relay", hostName: Self.relayName)
        mx = try SMTPSelfSignedCertificate.loadOrCreate(directory: directory + "/mx", hostName: Self.mxName)
    }
}

/// The fake MX's side of STARTTLS: a TLS server with `certificate`, at most `maximumVersion`.
/// `onClientHello` learns the SNI name each client sent (nil: none).
func mxTLS(_ certificate: SMTPTLSCertificate, maximumVersion: TLSVersion? = nil,
           onClientHello: (@Sendable (String?) -> Void)? = nil) throws -> FakeMXStartTLS {
    var configuration = TLSConfiguration.makeServerConfiguration(
        certificateChain: certificate.chain.map { .certificate($0) }, privateKey: .privateKey(certificate.privateKey))
    configuration.maximumTLSVersion = maximumVersion
    if let onClientHello {
        configuration.sslContextCallback = { values, promise in
            onClientHello(values.serverHostname)
            promise.succeed(.noChanges)
        }
    }
    let context = try NIOSSLContext(configuration: configuration)
    return { channel in
        try channel.pipeline.syncOperations.addHandler(NIOSSLServerHandler(context: context), position: .first)
    }
}

/// A VM's side of STARTTLS that verifies its peer: the certificate must chain to `trusting` and
/// name `serverName`. At most `maximumVersion`.
func vmTLS(trusting certificate: SMTPTLSCertificate, serverName: String,
           maximumVersion: TLSVersion? = nil) throws -> @Sendable (any Channel) throws -> Void {
    var configuration = TLSConfiguration.makeClientConfiguration()
    configuration.trustRoots = .certificates(certificate.chain)
    configuration.maximumTLSVersion = maximumVersion
    let context = try NIOSSLContext(configuration: configuration)
    return { channel in
        let handler = try NIOSSLClientHandler(context: context, serverHostname: serverName)
        try channel.pipeline.syncOperations.addHandler(handler, position: .first)
    }
}

/// What the fake MX saw of one session, split at its STARTTLS.
struct MXSession {
    var plaintextCommands: [String] = []
    var commandsOverTLS: [String] = []
    var plaintextMessages: [[UInt8]] = []
    var messagesOverTLS: [[UInt8]] = []
    var startedTLS = false
    /// Pipelined after STARTTLS and dropped by the MX: must be empty when the relay is correct.
    var discardedAfterSTARTTLS: [UInt8] = []

    /// Reads the MX's events through the first close.
    init(_ events: AsyncStream<FakeMXEvent>) async {
        for await event in events {
            switch event {
            case .command(let line):
                if startedTLS { commandsOverTLS.append(line) } else { plaintextCommands.append(line) }
            case .message(let bytes):
                if startedTLS { messagesOverTLS.append(bytes) } else { plaintextMessages.append(bytes) }
            case .startedTLS: startedTLS = true
            case .discardedAfterSTARTTLS(let bytes): discardedAfterSTARTTLS += bytes
            case .closed: return
            case .accepted: break
            }
        }
    }

    var allCommands: [String] { plaintextCommands + commandsOverTLS }
}
