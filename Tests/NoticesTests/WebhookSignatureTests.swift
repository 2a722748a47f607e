import Testing
import Notices

struct WebhookSignatureTests {
    /// Expected values computed independently with Python's hmac module:
    /// `hmac.new(secret.encode(), f"{ts}.".encode() + body, hashlib.sha256).hexdigest()`.
    @Test(arguments: [
        ("whsec_portcullis_test", 1_767_225_600, #"{"case_id":"c-42","vm":"vm-1"}"#,
         "sha256=3d7ce39d99753db6374ebfa385371b176d506934a5cd7b3e9c54056013e4ccd4"),
        ("s\u{e9}cret", 0, "", "sha256=087cb86dd4c53ddf4df37d1dce7c3898210826ebcc0b02777fe4da5601e1dc0c"),
    ])
    func matchesAnIndependentlyComputedHMAC(secret: String, timestamp: Int, body: String, expected: String) {
        #expect(WebhookPoster.signature(secret: secret, timestamp: timestamp, body: Array(body.utf8)) == expected)
    }

    /// The timestamp is signed with the body: replaying a body under a new timestamp breaks the signature.
    @Test func theTimestampIsPartOfTheSignature() {
        let body = Array("{}".utf8)
        #expect(WebhookPoster.signature(secret: "k", timestamp: 1, body: body)
            != WebhookPoster.signature(secret: "k", timestamp: 2, body: body))
        #expect(WebhookPoster.signature(secret: "k", timestamp: 1, body: body)
            != WebhookPoster.signature(secret: "l", timestamp: 1, body: body))
    }
}
