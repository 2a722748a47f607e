import NIOCore

/// Finds the cipher suite the server chose by reading its ServerHello off the wire.
///
/// NIOSSL 2.37 reports the negotiated protocol version but has no public accessor for the
/// negotiated cipher suite, which the transaction records need. The ServerHello is sent in the
/// clear in every TLS version (RFC 5246 7.4.1.3, RFC 8446 4.1.3) and carries the suite, so this
/// reads the handshake records as they pass, never changing a byte. A TLS 1.3 HelloRetryRequest
/// has the ServerHello's form and must name the same suite as the ServerHello that follows it
/// (RFC 8446 4.1.4), so the first one is enough.
struct TLSServerHelloParser {
    enum Outcome: Hashable {
        case cipherSuite(UInt16)
        /// Not a ServerHello where one belongs (an alert, a protocol error, too many bytes).
        case notFound
    }

    /// Records are at most 2^14 + 256 bytes; a ServerHello does not need more than a few of them.
    static let byteLimit = 64 * 1024

    private(set) var outcome: Outcome?
    private var records = ByteBuffer()
    /// Handshake-protocol bytes collected from the records so far.
    private var handshake: [UInt8] = []
    private var seen = 0

    /// Feeds bytes sent by the server, in order. Returns the outcome once there is one.
    @discardableResult
    mutating func feed(_ bytes: ByteBuffer) -> Outcome? {
        guard outcome == nil else { return outcome }
        seen += bytes.readableBytes
        var bytes = bytes
        records.writeBuffer(&bytes)
        while outcome == nil, let (contentType, payload) = nextRecord() {
            // 22: handshake. Anything else before the ServerHello (an alert) means there is none.
            guard contentType == 22 else { return finish(.notFound) }
            handshake += payload
            parseServerHello()
        }
        if outcome == nil, seen > Self.byteLimit { finish(.notFound) }
        return outcome
    }

    private mutating func nextRecord() -> (UInt8, [UInt8])? {
        guard let header = records.getBytes(at: records.readerIndex, length: 5) else { return nil }
        let length = Int(header[3]) << 8 | Int(header[4])
        guard records.readableBytes >= 5 + length else { return nil }
        records.moveReaderIndex(forwardBy: 5)
        let payload = records.readBytes(length: length) ?? []
        records.discardReadBytes()
        return (header[0], payload)
    }

    /// ServerHello: type 2, 3-byte length, legacy_version (2), random (32), session id
    /// (1-byte length + id), cipher_suite (2).
    private mutating func parseServerHello() {
        guard let type = handshake.first else { return }
        guard type == 2 else {
            finish(.notFound)
            return
        }
        let sessionIDLengthAt = 4 + 2 + 32
        guard handshake.count > sessionIDLengthAt else { return }
        let cipherAt = sessionIDLengthAt + 1 + Int(handshake[sessionIDLengthAt])
        guard handshake.count >= cipherAt + 2 else { return }
        finish(.cipherSuite(UInt16(handshake[cipherAt]) << 8 | UInt16(handshake[cipherAt + 1])))
    }

    @discardableResult
    private mutating func finish(_ outcome: Outcome) -> Outcome {
        self.outcome = outcome
        records = ByteBuffer()
        handshake = []
        return outcome
    }
}
