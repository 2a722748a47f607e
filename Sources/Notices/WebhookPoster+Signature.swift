import Crypto

extension WebhookPoster {
    /// The `X-Portcullis-Signature` value for `body` sent at `timestamp`:
    /// `sha256=` and the lowercase hex HMAC-SHA256, keyed with the shared secret's UTF-8 bytes,
    /// of the timestamp in decimal, a '.', and the body's exact bytes.
    ///
    /// The timestamp is signed with the body (as Stripe and GitHub do) so a receiver can reject a
    /// captured request replayed later: it recomputes this over the raw body it received and the
    /// `X-Portcullis-Timestamp` header, compares in constant time, and refuses timestamps more
    /// than a few minutes from its own clock. In Python:
    ///
    ///     expected = "sha256=" + hmac.new(secret.encode(), f"{ts}.".encode() + raw_body,
    ///                                     hashlib.sha256).hexdigest()
    ///     ok = hmac.compare_digest(expected, signature_header) and abs(time.time() - int(ts)) < 300
    public static func signature(secret: String, timestamp: Int, body: [UInt8]) -> String {
        var message = Array("\(timestamp).".utf8)
        message += body
        let code = HMAC<SHA256>.authenticationCode(for: message, using: SymmetricKey(data: Array(secret.utf8)))
        let digits = Array("0123456789abcdef".utf8)
        var hex: [UInt8] = []
        for byte in code {
            hex.append(digits[Int(byte >> 4)])
            hex.append(digits[Int(byte & 0x0F)])
        }
        return "sha256=" + String(decoding: hex, as: UTF8.self)
    }
}
