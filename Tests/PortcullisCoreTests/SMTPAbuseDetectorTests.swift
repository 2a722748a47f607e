import Foundation
import Testing
@testable import PortcullisCore

/// The spam detector driven by records with their own times: each signal fires once when its
/// threshold is crossed, not again within the window, and old records leave the window.
@Suite struct SMTPAbuseDetectorTests {
    let t0 = Date(timeIntervalSince1970: 1_800_000_000)
    let thresholds = SMTPAbuseThresholds(window: .init(seconds: 3600), recipients: 10, rejectedRatio: 0.5, minimumRejected: 4,
                                         domains: 5, destinations: 3)

    func entry(_ vm: String = "web1", at seconds: Double, accepted: Int = 1, refused: Int = 0, domains: [String] = ["example.org"],
               destination: String = "203.0.113.1") -> SMTPLogEntry {
        SMTPLogEntry(time: t0.addingTimeInterval(seconds), vm: try! VMID(parsing: vm), tenant: try! TenantID(parsing: "acme"),
                     client: try! IPAddress(parsing: "203.0.113.10"), destination: try! IPAddress(parsing: destination),
                     destinationPort: Port(25)!, sender: "news@acme.example", recipientCount: accepted, recipientDomains: domains,
                     recipientsRefusedByUpstream: refused, verdict: .relayed, durationMilliseconds: 5)
    }

    @Test func recipientsOverTheThresholdFireOncePerWindow() {
        var detector = SMTPAbuseDetector(thresholds: thresholds)
        var fired: [[AbuseSignal]] = []
        for i in 0..<8 { fired.append(detector.observe(entry(at: Double(i), accepted: 2)).map(\.signal)) }
        // 2 recipients a message: the 6th message makes 12 > 10; later ones do not fire again.
        #expect(fired == [[], [], [], [], [], [.smtpRecipients], [], []])
    }

    @Test func theWindowForgetsOldRecordsAndFiresAgainAfterIt() {
        var detector = SMTPAbuseDetector(thresholds: thresholds)
        #expect(detector.observe(entry(at: 0, accepted: 11)).map(\.signal) == [.smtpRecipients])
        // An hour later the first record has left the window: 5 recipients are not too many.
        #expect(detector.observe(entry(at: 3601, accepted: 5)).isEmpty)
        #expect(detector.observe(entry(at: 3602, accepted: 6)).map(\.signal) == [.smtpRecipients])
    }

    @Test(arguments: [
        (3, 0, false),  // 3 refused of 3: under the minimum of 4
        (4, 0, true),   // 4 of 4
        (4, 5, false),  // 4 of 9: under half
        (5, 5, true),   // 5 of 10: half
    ])
    func rejectionsNeedTheMinimumAndTheRatio(refused: Int, accepted: Int, fires: Bool) {
        var detector = SMTPAbuseDetector(thresholds: thresholds)
        let signals = detector.observe(entry(at: 0, accepted: accepted, refused: refused)).map(\.signal)
        #expect(signals.contains(.smtpRejections) == fires)
    }

    @Test func distinctDomainsAndServersAreCounted() {
        var detector = SMTPAbuseDetector(thresholds: thresholds)
        var signals: [AbuseSignal] = []
        for i in 0..<6 {
            signals += detector.observe(entry(at: Double(i), domains: ["d\(i).example", "same.example"],
                                              destination: "203.0.113.\(i + 1)")).map(\.signal)
        }
        // Domains: d0..d3 + same = 5 (not over), d4 makes 6. Servers: the 4th is over 3.
        #expect(signals == [.smtpDestinations, .smtpDomains])
    }

    /// The running totals against a count over the records themselves, as the window slides
    /// across many records with repeating domains and servers.
    @Test func runningTotalsMatchARecount() {
        let wide = SMTPAbuseThresholds(window: .init(seconds: 100), recipients: 1_000_000, rejectedRatio: 1, minimumRejected: 1_000_000,
                                       domains: 1_000_000, destinations: 1_000_000)
        var detector = SMTPAbuseDetector(thresholds: wide)
        var sent: [SMTPLogEntry] = []
        for i in 0..<2_000 {
            let record = entry(at: Double(i) * 0.37, accepted: i % 3, refused: i % 2, domains: ["d\(i % 17).example", "d\(i % 5).example"],
                               destination: "203.0.113.\(i % 11 + 1)")
            sent.append(record)
            _ = detector.observe(record)
            let inWindow = sent.filter { $0.time > record.time.addingTimeInterval(-100) }
            let window = detector.window(of: record.vm)
            #expect(window?.accepted == inWindow.reduce(0) { $0 + $1.recipientCount })
            #expect(window?.refused == inWindow.reduce(0) { $0 + $1.recipientsRefusedByUpstream })
            #expect(window?.domains.count == Set(inWindow.flatMap(\.recipientDomains)).count)
            #expect(window?.destinations.count == Set(inWindow.map(\.destination)).count)
            if i % 500 == 0 { #expect(window.map { $0.entries.count - $0.head } == inWindow.count) }
        }
    }

    @Test func vmsAreCountedSeparately() {
        var detector = SMTPAbuseDetector(thresholds: thresholds)
        #expect(detector.observe(entry("web1", at: 0, accepted: 6)).isEmpty)
        #expect(detector.observe(entry("web2", at: 1, accepted: 6)).isEmpty)
        let finding = detector.observe(entry("web1", at: 2, accepted: 6)).first
        #expect(finding?.vm.value == "web1")
        #expect(finding?.samples.count == 2)
        #expect(finding?.summary.contains("12 recipients") == true)
    }

    @Test func pruneForgetsQuietVMs() {
        var detector = SMTPAbuseDetector(thresholds: thresholds)
        _ = detector.observe(entry(at: 0, accepted: 9))
        detector.prune(at: t0.addingTimeInterval(3601))
        // Forgotten: 9 + 2 would have been over 10 within the window if kept (the record is outside it anyway).
        #expect(detector.observe(entry(at: 3602, accepted: 2)).isEmpty)
    }
}

/// The `notices:` section and the outbox's retry schedule.
@Suite struct NoticeSettingsTests {
    let t0 = Date(timeIntervalSince1970: 1_800_000_000)

    @Test func retriesDoubleUpToTheMaximumAndGiveUp() {
        let settings = NoticeSettings(retryFirst: .init(seconds: 30), retryMax: .init(seconds: 120), giveUpAfter: .init(seconds: 400))
        let delays = (1...4).map { settings.nextAttempt(after: $0, createdAt: t0, now: t0)?.timeIntervalSince(t0) }
        #expect(delays == [30, 60, 120, 120])
        #expect(settings.nextAttempt(after: 5, createdAt: t0, now: t0.addingTimeInterval(300)) == nil)
    }

    @Test(arguments: [
        ("smtp.example.net:587", "smtp.example.net", 587),
        ("203.0.113.1", "203.0.113.1", 25),
        ("[2001:db8::25]:2525", "2001:db8::25", 2525),
    ])
    func relayAddresses(text: String, host: String, port: Int) throws {
        let (h, p) = try NoticeSettings.EmailSection.hostAndPort(text)
        #expect(h == host && p == port)
    }

    @Test(arguments: ["", "smtp:0", "a:b:c", "[2001:db8::1", "host:99999"])
    func badRelayAddressesAreRefused(text: String) {
        #expect(throws: ValidationError.self) { try NoticeSettings.EmailSection.hostAndPort(text) }
    }

    @Test func draftsFollowTheConfigurationAndTheContact() throws {
        let url = try #require(URL(string: "https://desk.example.net/hook"))
        let settings = NoticeSettings(
            email: .init(relayHost: "smtp.example.net", relayPort: 25, from: try EmailAddress(parsing: "abuse@example.net"),
                         tls: .opportunistic, verifyCertificate: true, heloName: nil, templatePath: nil, auth: nil,
                         caFile: nil),
            webhook: .init(url: url, secretFile: "/etc/portcullis/hook.secret", verifyCertificate: true))
        let withContact = try VM(id: "a", tenant: "t", contact: "ops@acme.example", interface: "tap1", mac: "02:00:00:00:00:01",
                                 ipv4: [], ipv6: [], allowedSources: [])
        let without = try VM(id: "b", tenant: "t", contact: nil, interface: "tap2", mac: "02:00:00:00:00:02",
                             ipv4: [], ipv6: [], allowedSources: [])
        let content = NoticeContent(vm: withContact.id, tenant: withContact.tenant, signal: "spoofing", response: "suspend",
                                    detectedAt: t0, until: nil, summary: "s", evidence: [], actions: [])
        #expect(settings.drafts(for: withContact, response: .suspend, content: content).map(\.channel) == [.email, .webhook])
        #expect(settings.drafts(for: without, response: .suspend, content: content).map(\.channel) == [.webhook])
        #expect(settings.drafts(for: withContact, response: .observe, content: content).isEmpty)
    }
}

/// The configuration sections of this work, decoded from JSON (YAML's data model).
@Suite struct AbuseAndNoticeConfigTests {
    @Test func noticesDecodeWithDefaults() throws {
        let settings = try JSONDecoder().decode(NoticeSettings.self, from: Data("""
            {"provider_name": "Example Hosting", "email": {"relay": "203.0.113.1:25", "from": "abuse@example.net", "tls": "required",
             "verify_certificate": false}, "webhook": {"url": "http://192.0.2.80:8080/hook", "secret_file": "/run/secret"},
             "notify": ["suspend"], "retry": {"first": "10s", "max": "5m", "give_up": "1d"}}
            """.utf8))
        #expect(settings.email?.relayHost == "203.0.113.1" && settings.email?.relayPort == 25)
        #expect(settings.email?.tls == .required && settings.email?.verifyCertificate == false)
        #expect(settings.webhook?.url.absoluteString == "http://192.0.2.80:8080/hook")
        #expect(settings.notify == [.suspend])
        #expect(settings.retryFirst.seconds == 10 && settings.retryMax.seconds == 300 && settings.giveUpAfter.seconds == 86_400)
        #expect(settings.providerName == "Example Hosting" && settings.supportContact == NoticeSettings().supportContact)
        #expect(settings.email?.auth == nil)
    }

    @Test func smarthostLoginDecodes() throws {
        let settings = try JSONDecoder().decode(NoticeSettings.self, from: Data("""
            {"email": {"relay": "smtp.example.net:587", "from": "abuse@example.net", "tls": "required",
             "auth": {"username": "notices", "password_file": "/etc/portcullis/smtp.password"}}}
            """.utf8))
        #expect(settings.email?.auth == NoticeSettings.Auth(username: "notices", passwordFile: "/etc/portcullis/smtp.password"))
        #expect(settings.email?.caFile == nil && settings.email?.verifyCertificate == true)
    }

    @Test(arguments: [
        (#"{"email": {"relay": "x:25", "from": "abuse@example.net", "tls": "sometimes"}}"#, "notices.email.tls"),
        (#"{"webhook": {"url": "ftp://x/", "secret_file": "/s"}}"#, "notices.webhook.url"),
        (#"{"notify": ["ban"]}"#, "notices.notify"),
        (#"{"email": {"relay": "x:587", "from": "a@example.net", "auth": {"username": "u", "password_file": "/p"}}}"#, "notices.email.tls"),
        (#"{"email": {"relay": "x:587", "from": "a@example.net", "tls": "required", "verify_certificate": false, "#
            + #""auth": {"username": "u", "password_file": "/p"}}}"#, "notices.email.verify_certificate"),
        (#"{"email": {"relay": "x:587", "from": "a@example.net", "tls": "required", "auth": {"username": "u", "password": "p"}}}"#,
         "email.auth.password"),  // the path below notices: (a whole site file says notices.email.auth.password)
        (#"{"retry": {"first": "2h", "max": "1h"}}"#, "notices.retry.max"),
    ])
    func badNoticeSettingsNameTheKey(json: String, field: String) {
        let error = #expect(throws: ValidationError.self) { try JSONDecoder().decode(NoticeSettings.self, from: Data(json.utf8)) }
        #expect(error?.field == field)
    }

    @Test func smtpThresholdsDecode() throws {
        let settings = try JSONDecoder().decode(AbuseSettings.self, from: Data("""
            {"smtp": {"window": "30m", "recipients": 50, "rejected_ratio": 0.2, "minimum_rejected": 5, "domains": 7, "destinations": 9}}
            """.utf8))
        #expect(settings.smtp == SMTPAbuseThresholds(window: .init(seconds: 1800), recipients: 50, rejectedRatio: 0.2,
                                                      minimumRejected: 5, domains: 7, destinations: 9))
        let off = try JSONDecoder().decode(AbuseSettings.self, from: Data(#"{"smtp": {"enabled": false}}"#.utf8))
        #expect(off.smtp == nil)
        #expect(throws: ValidationError.self) {
            try JSONDecoder().decode(AbuseSettings.self, from: Data(#"{"smtp": {"rejected_ratio": 1.5}}"#.utf8))
        }
    }
}
