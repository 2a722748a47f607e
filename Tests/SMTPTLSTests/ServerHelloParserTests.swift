import NIOCore
import NIOSSL
import Testing
@testable import SMTPTLS

@Suite struct ServerHelloParserTests {
    /// A ServerHello handshake message naming `suite`, with a session id of `sessionID` bytes.
    static func serverHello(suite: UInt16, sessionID: Int = 32) -> [UInt8] {
        var body: [UInt8] = [0x03, 0x03] + Array(repeating: 0xAB, count: 32)
        body += [UInt8(sessionID)] + Array(repeating: 0x11, count: sessionID)
        body += [UInt8(suite >> 8), UInt8(suite & 0xFF), 0x00]  // suite, compression
        body += [0x00, 0x00]  // no extensions
        return [0x02, 0x00, UInt8(body.count >> 8), UInt8(body.count & 0xFF)] + body
    }

    static func record(_ type: UInt8, _ payload: [UInt8]) -> [UInt8] {
        [type, 0x03, 0x03, UInt8(payload.count >> 8), UInt8(payload.count & 0xFF)] + payload
    }

    @Test func readsTheSuiteFromOneRecord() {
        var parser = TLSServerHelloParser()
        let bytes = Self.record(22, Self.serverHello(suite: 0x1301)) + Self.record(20, [1])
        #expect(parser.feed(ByteBuffer(bytes: bytes)) == .cipherSuite(0x1301))
    }

    @Test(arguments: [1, 3, 7])
    func readsTheSuiteAnyHoweverTheBytesArrive(chunk: Int) {
        var parser = TLSServerHelloParser()
        // The handshake message split over two records as well, right inside the session id.
        let hello = Self.serverHello(suite: 0xC02B, sessionID: 0)
        let bytes = Self.record(22, Array(hello[..<30])) + Self.record(22, Array(hello[30...]))
        var outcomes: [TLSServerHelloParser.Outcome?] = []
        for start in stride(from: 0, to: bytes.count, by: chunk) {
            outcomes.append(parser.feed(ByteBuffer(bytes: bytes[start..<min(start + chunk, bytes.count)])))
        }
        #expect(outcomes.last == .cipherSuite(0xC02B))
        #expect(outcomes.dropLast().allSatisfy { $0 == nil }, "no answer before the suite's last byte")
    }

    @Test func anAlertOrAnotherMessageFirstMeansNone() {
        var alert = TLSServerHelloParser()
        #expect(alert.feed(ByteBuffer(bytes: Self.record(21, [2, 40]))) == .notFound)
        var clientHello = TLSServerHelloParser()
        #expect(clientHello.feed(ByteBuffer(bytes: Self.record(22, [0x01, 0, 0, 4, 3, 3, 0, 0]))) == .notFound)
    }

    @Test func givesUpAfterTheLimit() {
        var parser = TLSServerHelloParser()
        // A record header announcing more than ever arrives.
        #expect(parser.feed(ByteBuffer(bytes: [22, 3, 3, 0xFF, 0xFF])) == nil)
        #expect(parser.feed(ByteBuffer(bytes: Array(repeating: 0, count: TLSServerHelloParser.byteLimit))) == .notFound)
    }

    @Test func names() {
        #expect(TLSNames.version(.tlsv13) == "TLSv1.3")
        #expect(TLSNames.version(.tlsv12) == "TLSv1.2")
        #expect(TLSNames.cipherSuite(0x1302) == "TLS_AES_256_GCM_SHA384")
        #expect(TLSNames.cipherSuite(0xC02F) == "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256")
        #expect(TLSNames.cipherSuite(0x00AD) == "0x00AD")
        #expect(TLSNames.cipherSuite(nil) == "unknown")
    }

    @Test func sniCarriesHostNamesOnly() {
        #expect(SMTPTLSInstaller.sniName("mx1.example.com.") == "mx1.example.com")
        #expect(SMTPTLSInstaller.sniName("192.0.2.25") == nil)
        #expect(SMTPTLSInstaller.sniName("2001:db8::25") == nil)
        #expect(SMTPTLSInstaller.sniName("") == nil)
    }
}
