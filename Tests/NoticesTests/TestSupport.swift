import Foundation
import NIOCore
import NIOPosix
import NIOSSL
import PortcullisCore
import SMTPTLS

func withEventLoopGroup<T>(_ body: (any EventLoopGroup) async throws -> T) async throws -> T {
    let group = MultiThreadedEventLoopGroup(numberOfThreads: 2)
    do {
        let result = try await body(group)
        try await group.shutdownGracefully()
        return result
    } catch {
        try? await group.shutdownGracefully()
        throw error
    }
}

func address(_ text: String) throws -> EmailAddress {
    try EmailAddress(parsing: text)
}

/// A port on 127.0.0.1 that nothing listens on: bound, then closed again.
func closedPort(on group: any EventLoopGroup) async throws -> Int {
    let channel = try await ServerBootstrap(group: group).bind(host: "127.0.0.1", port: 0).get()
    let port = channel.localAddress!.port!
    try await channel.close()
    return port
}

/// A throwaway self-signed certificate for `127.0.0.1` (an IP address SAN, which is what a
/// verifying client checks when it dialled an address), like the lab's.
struct TestCertificate: Sendable {
    let certificate: NIOSSLCertificate
    let key: NIOSSLPrivateKey
    let certificatePEM: String

    static let loopback: TestCertificate = {
        do {
            let (certificatePEM, keyPEM) = try SMTPSelfSignedCertificate.generate(hostName: "127.0.0.1")
            return TestCertificate(certificate: try NIOSSLCertificate(bytes: Array(certificatePEM.utf8), format: .pem),
                                   key: try NIOSSLPrivateKey(bytes: Array(keyPEM.utf8), format: .pem),
                                   certificatePEM: certificatePEM)
        } catch {
            fatalError("cannot make the test certificate: \(error)")
        }
    }()

    /// The certificate in a PEM file, as an operator names a private CA (`ca_file`).
    func certificateFile() throws -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("portcullis-test-ca-\(getpid()).pem").path
        try certificatePEM.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    /// Installs a TLS server handler at the front of a fake server's pipeline.
    func serverTLS() throws -> @Sendable (any Channel) throws -> Void {
        let configuration = TLSConfiguration.makeServerConfiguration(certificateChain: [.certificate(certificate)],
                                                                     privateKey: .privateKey(key))
        let context = try NIOSSLContext(configuration: configuration)
        return { channel in
            try channel.pipeline.syncOperations.addHandler(NIOSSLServerHandler(context: context), position: .first)
        }
    }
}

/// A fake peer a test runs for its duration.
protocol FakeServer {
    func stop() async
}

/// Runs `body` with `server`, and stops the server however `body` ends.
func withServer<S: FakeServer, T>(_ server: S, _ body: (S) async throws -> T) async throws -> T {
    do {
        let result = try await body(server)
        await server.stop()
        return result
    } catch {
        await server.stop()
        throw error
    }
}
