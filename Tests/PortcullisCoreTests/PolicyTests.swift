import Foundation
import Testing
@testable import PortcullisCore

enum Fixtures {
    static let policy = SitePolicy(
        site: "lab-1",
        publicIPv4: [try! IPv4Network(parsing: "203.0.113.0/24")],
        restrictedTCPPorts: PortSet([25, 465, 587].compactMap { Port($0) })
    )
    static let publicVM = try! VM(id: "pub", tenant: "t1", contact: nil, interface: "vmpub0", mac: "02:00:00:00:01:01",
                                  ipv4: ["203.0.113.10"], ipv6: ["2001:db8:1::10"], allowedSources: [])
    static let privateVM = try! VM(id: "priv", tenant: "t1", contact: "ops@example.com", interface: "vmpriv0",
                                   mac: "02:00:00:00:02:01", ipv4: ["100.64.0.10"], ipv6: ["2001:db8:2::10"], allowedSources: [])
    static let now = Date(timeIntervalSince1970: 1_800_000_000)
    static func state(exemptions: [Exemption] = []) -> DesiredState {
        DesiredState(policy: policy, vms: [publicVM, privateVM], exemptions: exemptions, now: now)
    }
    static func flow(_ port: Int, _ transport: TransportProtocol = .tcp) -> Flow { Flow(transport: transport, port: Port(port)!) }
}

@Suite struct PolicyTests {
    @Test func accessTypeFollowsPublicIPv4Only() throws {
        #expect(Fixtures.policy.accessType(of: Fixtures.publicVM) == .publicIPv4)
        #expect(Fixtures.policy.accessType(of: Fixtures.privateVM) == .restricted)
        // A public IPv6 address does not make a VM public.
        let v6only = try VM(id: "v6", tenant: "t", contact: nil, interface: "tap9", mac: "02:00:00:00:09:09",
                            ipv4: [], ipv6: ["2001:db8:9::1"], allowedSources: [])
        #expect(Fixtures.policy.accessType(of: v6only) == .restricted)
    }

    @Test(arguments: [(25, Verdict.Decision.rejected), (465, .rejected), (587, .rejected), (443, .allowed), (2525, .allowed)])
    func restrictedVMVerdicts(port: Int, expected: Verdict.Decision) {
        #expect(verdict(for: Fixtures.privateVM, flow: Fixtures.flow(port), in: Fixtures.state()).decision == expected)
    }

    @Test(arguments: [(25, Verdict.Decision.proxied), (465, .allowed), (587, .allowed), (443, .allowed)])
    func publicVMIsNeverRestricted(port: Int, expected: Verdict.Decision) {
        #expect(verdict(for: Fixtures.publicVM, flow: Fixtures.flow(port), in: Fixtures.state()).decision == expected)
    }

    /// `smtp.mode` decides port 25 of unrestricted VMs only; restricted ones stay refused.
    @Test(arguments: [(SMTPMode.proxy, Verdict.Decision.proxied), (.block, .rejected), (.allow, .allowed)])
    func smtpModeDecidesPort25OfPublicVMs(mode: SMTPMode, expected: Verdict.Decision) {
        let policy = SitePolicy(site: "s", publicIPv4: Fixtures.policy.publicIPv4, restrictedTCPPorts: Fixtures.policy.restrictedTCPPorts,
                                smtp: SMTPInterception(mode: mode))
        let state = DesiredState(policy: policy, vms: [Fixtures.publicVM, Fixtures.privateVM], exemptions: [], now: Fixtures.now)
        #expect(verdict(for: Fixtures.publicVM, flow: Fixtures.flow(25), in: state).decision == expected)
        #expect(verdict(for: Fixtures.privateVM, flow: Fixtures.flow(25), in: state).decision == .rejected)
        #expect(verdict(for: Fixtures.publicVM, flow: Fixtures.flow(587), in: state).decision == .allowed)
    }

    @Test func blockModeOffersSubmissionNotAPublicIPv4() {
        let policy = SitePolicy(site: "s", publicIPv4: Fixtures.policy.publicIPv4, restrictedTCPPorts: Fixtures.policy.restrictedTCPPorts,
                                smtp: SMTPInterception(mode: .block))
        let state = DesiredState(policy: policy, vms: [Fixtures.publicVM], exemptions: [], now: Fixtures.now)
        let answer = explain(vm: Fixtures.publicVM, flow: Fixtures.flow(25), in: state)
        #expect(answer.remedies.map(\.title) == ["Submit mail to a mail provider", "Use an e-mail API over HTTPS"])
        #expect(answer.remedies.first?.detail.contains("465 or 587") == true)
    }

    @Test func udpIsNotRestricted() {
        #expect(verdict(for: Fixtures.privateVM, flow: Fixtures.flow(25, .udp), in: Fixtures.state()).decision == .allowed)
    }

    @Test func exemptionOpensOnlyItsPortsUntilExpiry() throws {
        let request = ExemptionRequest(vm: Fixtures.privateVM.id, ports: try PortSet(parsing: "25"), reason: "newsletter", expires: try PolicyDuration(parsing: "2h"))
        let exemption = try request.grant(to: Fixtures.privateVM, policy: Fixtures.policy, by: "cli:alice", id: "ex-1", now: Fixtures.now)
        #expect(exemption.expiresAt == Fixtures.now.addingTimeInterval(7200))
        let state = Fixtures.state(exemptions: [exemption])
        let open = verdict(for: Fixtures.privateVM, flow: Fixtures.flow(25), in: state)
        #expect(open.decision == .proxied)
        #expect(open.exemption?.id == "ex-1")
        #expect(verdict(for: Fixtures.privateVM, flow: Fixtures.flow(587), in: state).decision == .rejected)
        let later = DesiredState(policy: Fixtures.policy, vms: state.vms, exemptions: [exemption], now: Fixtures.now.addingTimeInterval(7201))
        #expect(verdict(for: Fixtures.privateVM, flow: Fixtures.flow(25), in: later).decision == .rejected)
    }

    @Test func exemptionRequestsAreChecked() throws {
        func grant(_ vm: VM, ports: String, reason: String = "why", expires: String? = nil, policy: SitePolicy = Fixtures.policy) throws {
            _ = try ExemptionRequest(vm: vm.id, ports: try PortSet(parsing: ports), reason: reason,
                                     expires: try expires.map { try PolicyDuration(parsing: $0) })
                .grant(to: vm, policy: policy, by: "x", id: "ex", now: Fixtures.now)
        }
        #expect((#expect(throws: ValidationError.self) { try grant(Fixtures.privateVM, ports: "443") })?.field == "ports")
        #expect((#expect(throws: ValidationError.self) { try grant(Fixtures.publicVM, ports: "25") })?.field == "vm")
        #expect((#expect(throws: ValidationError.self) { try grant(Fixtures.privateVM, ports: "25", reason: "  ") })?.field == "reason")
        #expect((#expect(throws: ValidationError.self) { try grant(Fixtures.privateVM, ports: "25", expires: "400d") })?.field == "expires")
        let closed = SitePolicy(site: "s", publicIPv4: [], restrictedTCPPorts: Fixtures.policy.restrictedTCPPorts,
                                exemptions: ExemptionPolicy(allowed: false))
        #expect(throws: ValidationError.self) { try grant(Fixtures.privateVM, ports: "25", policy: closed) }
    }

    @Test func conflictsNameTheField() throws {
        func candidate(id: String = "new", interface: String = "tapnew", mac: String = "02:00:00:00:0a:0a",
                       ipv4: [String] = [], ipv6: [String] = []) throws -> VM {
            try VM(id: id, tenant: "t", contact: nil, interface: interface, mac: mac, ipv4: ipv4, ipv6: ipv6, allowedSources: [])
        }
        let existing = [Fixtures.publicVM, Fixtures.privateVM]
        let cases: [(VM, String)] = [
            (try candidate(id: "pub"), "vm id"),
            (try candidate(interface: "vmpub0"), "interface"),
            (try candidate(mac: "02:00:00:00:01:01"), "mac"),
            (try candidate(ipv4: ["100.64.0.10"]), "ipv4"),
            (try candidate(ipv6: ["2001:db8:2::/64"]), "ipv6"),
        ]
        for (vm, field) in cases {
            let error = #expect(throws: ValidationError.self) { try checkConflicts(of: vm, with: existing) }
            #expect(error?.field == field)
        }
        try checkConflicts(of: try candidate(ipv4: ["100.64.0.11"]), with: existing)
    }

    @Test(arguments: [
        (["2001:db8:3::/56", "2001:db8:3::/60"], [String](), "ipv6"),
        (["2001:db8:3::/56"], ["2001:db8:3:10::/60"], "allow-source"),
        ([String](), ["192.0.2.0/24", "192.0.2.128/25"], "allow-source"),
    ])
    func overlappingRangesNameTheField(ipv6: [String], allow: [String], field: String) {
        let error = #expect(throws: ValidationError.self) {
            try VM(id: "v", tenant: "t", contact: nil, interface: "tapv", mac: "02:00:00:00:06:01", ipv4: [],
                   ipv6: ipv6, allowedSources: allow)
        }
        #expect(error?.field == field)
    }

    @Test func rangesThatBecomeHashKeysMayNest() throws {
        // A /64 and a /128 inside it go to different hash sets; a /56 range holds no /64.
        _ = try VM(id: "v", tenant: "t", contact: nil, interface: "tapv", mac: "02:00:00:00:06:01", ipv4: [],
                   ipv6: ["2001:db8:3::/64", "2001:db8:3::10", "2001:db8:4::/56"], allowedSources: ["2001:db8:4:1::/64"])
    }

    @Test func vmRefusesBadAddresses() {
        #expect(throws: ValidationError.self) {
            try VM(id: "x", tenant: "t", contact: nil, interface: "tap1", mac: "02:00:00:00:00:01", ipv4: ["224.0.0.1"], ipv6: [], allowedSources: [])
        }
        #expect(throws: ValidationError.self) {
            try VM(id: "x", tenant: "t", contact: nil, interface: "tap1", mac: "02:00:00:00:00:01", ipv4: ["1.2.3.4", "1.2.3.4"], ipv6: [], allowedSources: [])
        }
        #expect(throws: ValidationError.self) {
            try VM(id: "x y", tenant: "t", contact: nil, interface: "tap1", mac: "02:00:00:00:00:01", ipv4: [], ipv6: [], allowedSources: [])
        }
        #expect(throws: ValidationError.self) {
            try VM(id: "x", tenant: "t", contact: "not-an-address", interface: "tap1", mac: "02:00:00:00:00:01", ipv4: [], ipv6: [], allowedSources: [])
        }
    }
}

@Suite struct ExplainAndPlanTests {
    @Test func explainRejectedGivesTheSeedRemedies() {
        let explanation = explain(vm: Fixtures.privateVM, flow: Fixtures.flow(25), in: Fixtures.state())
        #expect(explanation.verdict.decision == .rejected)
        #expect(explanation.verdict.rule.contains("reject with tcp reset"))
        let titles = explanation.remedies.map(\.title)
        #expect(titles.contains("Deploy with a public IPv4"))
        #expect(titles.contains("Run mail on a separate VM with a public IPv4"))
        #expect(titles.contains("Use an e-mail API over HTTPS"))
        #expect(titles.contains("Request an exemption"))
        #expect(explanation.text.contains("REJECTED"))
    }

    @Test func explainAllowedHasNoRemedies() {
        #expect(explain(vm: Fixtures.publicVM, flow: Fixtures.flow(25), in: Fixtures.state()).remedies.isEmpty)
        #expect(explain(vm: Fixtures.privateVM, flow: Fixtures.flow(443), in: Fixtures.state()).remedies.isEmpty)
    }

    @Test(arguments: [
        (["smtp"], AccessType.publicIPv4), (["mail-server"], .publicIPv4), (["web"], .restricted),
        (["web", "database", "dev"], .restricted), (["web", "smtp"], .publicIPv4), (["port:587"], .publicIPv4), (["port:8080"], .restricted),
    ])
    func planRecommendation(needs: [String], expected: AccessType) throws {
        let parsed = try needs.map { try Need(parsing: $0) }
        #expect(plan(needs: parsed, policy: Fixtures.policy).recommendation == expected)
    }

    @Test func planRejectsUnknownNeeds() {
        #expect(throws: ValidationError.self) { try Need(parsing: "teleport") }
    }
}

@Suite struct SiteConfigTests {
    @Test func decodesAndDefaults() throws {
        let json = #"{"site": "lab-1", "public_ipv4": ["203.0.113.0/24"], "restricted_ports": {"tcp": [25, 465]}, "store": {"sqlite": "/tmp/x.db"}, "api": {"socket": "/tmp/a.sock"}}"#
        let config = try JSONDecoder().decode(SiteConfig.self, from: Data(json.utf8))
        #expect(config.policy.restrictedTCPPorts.description == "25,465")
        #expect(config.storePath == "/tmp/x.db")
        #expect(config.reconcileInterval.seconds == 1)
        #expect(config.policy.exemptions.allowed)
    }

    @Test(arguments: [
        (#"{"site": "s", "restricted_port": {"tcp": [25]}}"#, "restricted_port"),
        (#"{"site": "s", "restricted_ports": {"tpc": [25]}}"#, "restricted_ports.tpc"),
        (#"{"site": "s", "exemptions": {"max": "1d"}}"#, "exemptions.max"),
        (#"{"site": "s", "store": {"sqlite": "/x", "postgres": "y"}}"#, "store.postgres"),
        (#"{"site": "s", "api": {"sock": "/x"}}"#, "api.sock"),
        (#"{"site": "s", "reconcile": {"every": "1s"}}"#, "reconcile.every"),
    ])
    func refusesUnknownKeysNamingThem(json: String, path: String) {
        let error = #expect(throws: ValidationError.self) { try JSONDecoder().decode(SiteConfig.self, from: Data(json.utf8)) }
        #expect(error?.field == path)
        #expect(error?.problem.contains("known keys:") == true)
    }

    @Test func refusesBadPrefix() {
        let json = #"{"site": "lab-1", "public_ipv4": ["203.0.113.1/24"]}"#
        #expect(throws: (any Error).self) { try JSONDecoder().decode(SiteConfig.self, from: Data(json.utf8)) }
    }
}

@Suite struct APITokensTests {
    static let token = String(repeating: "a1", count: 16)

    @Test func parsesNamesAndTokens() throws {
        let tokens = try APITokens(parsing: "# orchestrators\n\norch-1 \(Self.token)\nbackup \(Self.token)b\n", file: "t")
        #expect(tokens.name(of: Self.token) == "orch-1")
        #expect(tokens.name(of: Self.token + "b") == "backup")
        #expect(tokens.name(of: String(Self.token.dropLast())) == nil)
        #expect(tokens.name(of: "") == nil)
    }

    @Test(arguments: [
        ("orch short", "token must be at least"),
        ("orch", "expected NAME TOKEN"),
        ("-bad \(token)", "use letters"),
        ("a \(token)\nb \(token)", "same token as a"),
        ("# nothing\n", "holds no token"),
    ])
    func refusesBadFiles(text: String, problem: String) {
        let error = #expect(throws: ValidationError.self) { try APITokens(parsing: text, file: "tokens") }
        #expect(error?.problem.contains(problem) == true)
    }
}

@Suite struct SMTPSettingsTests {
    static func decode(_ yaml: String) throws -> SMTPSettings {
        try JSONDecoder().decode(SMTPSettings.self, from: Data(yaml.utf8))
    }

    @Test func defaultsAreTheIssuesFigures() throws {
        let settings = try Self.decode("{}")
        #expect(settings.interception == SMTPInterception(mode: .proxy, listenPort: Port(10025)!))
        #expect(settings.tls.mode == .terminate && settings.tls.certificate == nil)
        #expect(settings.limits == SMTPLimitSettings(sessions: 20, connectionsPerMinute: 60, messagesPerHour: 200,
                                                     recipientsPerMessage: 100, maxMessageBytes: 26_214_400))
        #expect(settings.routingTable == 2525 && settings.upstreamMark == nil)
    }

    @Test func everyKeyIsRead() throws {
        let settings = try Self.decode("""
            {"mode": "block", "listen_port": 2525, "upstream_mark": 2, "routing_table": 100, "routing_priority": 90,
             "log_retention": "7d", "tls": {"mode": "splice", "cert": "/c.pem", "key": "/k.pem"},
             "limits": {"sessions": 5, "connections_per_minute": 6, "messages_per_hour": 7, "recipients_per_message": 150,
                        "max_message_bytes": 1000}}
            """)
        #expect(settings.interception == SMTPInterception(mode: .block, listenPort: Port(2525)!))
        #expect(settings.upstreamMark == 2 && settings.routingTable == 100 && settings.routingPriority == 90)
        #expect(settings.logRetention.seconds == 7 * 86_400)
        #expect(settings.tls == SMTPTLSSettings(mode: .splice, certificate: "/c.pem", key: "/k.pem"))
        #expect(settings.limits == SMTPLimitSettings(sessions: 5, connectionsPerMinute: 6, messagesPerHour: 7,
                                                     recipientsPerMessage: 150, maxMessageBytes: 1000))
    }

    @Test(arguments: [
        (#"{"mode": "relay"}"#, "smtp.mode"),
        (#"{"tls": {"cert": "/c.pem"}}"#, "smtp.tls.key"),
        (#"{"tls": {"mode": "on"}}"#, "smtp.tls.mode"),
        (#"{"limits": {"sessions": 0}}"#, "smtp.limits.sessions"),
        (#"{"limits": {"recipients_per_message": 10}}"#, "smtp.limits.recipients_per_message"),
        (#"{"routing_table": 254}"#, "smtp.routing_table"),
        (#"{"upstream_mark": 0}"#, "smtp.upstream_mark"),
        (#"{"routing_priority": 32766}"#, "smtp.routing_priority"),
    ])
    func badValuesNameTheirKey(json: String, field: String) {
        #expect { try Self.decode(json) } throws: { ($0 as? ValidationError)?.field == field }
    }

    @Test func unknownKeysAreRefused() {
        #expect { try Self.decode(#"{"listen": 25}"#) } throws: { ($0 as? ValidationError)?.problem.contains("unknown key") == true }
    }
}

@Suite struct SMTPCountersTests {
    @Test func countsPerVMAndVerdict() {
        let counters = SMTPCounters()
        counters.count(vm: "a", verdict: "relayed", recipients: 2, bytes: 100)
        counters.count(vm: "a", verdict: "relayed", recipients: 1, bytes: 50)
        counters.count(vm: "a", verdict: "rateLimited", recipients: 0, bytes: 0)
        #expect(counters.totals(vm: "a")?.transactions == ["relayed": 2, "rateLimited": 1])
        #expect(counters.totals(vm: "a")?.recipients == 3)
        let text = counters.prometheusText()
        #expect(text.contains(#"portcullis_smtp_transactions_total{vm="a",verdict="relayed"} 2"#))
        #expect(text.contains(#"portcullis_smtp_message_bytes_total{vm="a"} 150"#))
        #expect(counters.totals(vm: "b") == nil)
    }
}

@Suite struct FilterRequestTests {
    static func request(reason: String = "port scan", expires: String = "2h") -> FilterRequest {
        FilterRequest(vm: Fixtures.privateVM.id, direction: .outbound, port: Port(25), remote: nil, reason: reason,
                      expires: try! PolicyDuration(parsing: expires))
    }

    @Test func placedFilterEndsOnTime() throws {
        let filter = try Self.request().place(by: "cli:alice", id: "flt-1", now: Fixtures.now)
        #expect(filter.expiresAt == Fixtures.now.addingTimeInterval(7200))
        #expect(filter.scope == "out tcp/udp port 25")
        #expect(filter.isActive(at: Fixtures.now.addingTimeInterval(7199)) && !filter.isActive(at: Fixtures.now.addingTimeInterval(7200)))
    }

    @Test(arguments: [("", "2h", "reason"), ("ok", "91d", "expires")])
    func badRequestsNameTheField(reason: String, expires: String, field: String) {
        #expect { try Self.request(reason: reason, expires: expires).place(by: "a", id: "f", now: Fixtures.now) }
            throws: { ($0 as? ValidationError)?.field == field }
    }
}

@Suite struct VMDirectoryTests {
    static func vm(_ id: String, _ mac: String, ipv4: [String] = [], ipv6: [String] = [], allow: [String] = []) -> VM {
        try! VM(id: id, tenant: "t", contact: nil, interface: "tap-\(id)", mac: mac, ipv4: ipv4, ipv6: ipv6, allowedSources: allow)
    }

    @Test func findsVMsByEveryAddressTheyMaySendFrom() throws {
        let a = Self.vm("a", "02:00:00:00:00:01", ipv4: ["198.51.100.10"], ipv6: ["2001:db8:1::/64"], allow: ["192.0.2.0/28"])
        let directory = VMDirectory([a])
        #expect(directory.vm(for: try IPv4Address(parsing: "198.51.100.10"))?.id == a.id)
        #expect(directory.vm(for: try IPv4Address(parsing: "192.0.2.7"))?.id == a.id)
        #expect(directory.vm(for: try IPv6Address(parsing: "2001:db8:1::abcd"))?.id == a.id)
        #expect(directory.vm(for: a.mac.eui64LinkLocal)?.id == a.id)
        #expect(directory.vm(for: try IPv4Address(parsing: "198.51.100.11")) == nil)
    }

    /// A shared allowed source (a VIP) keeps working for the VM that stays, and the owner by its
    /// own address wins over an allowed-source claim whatever the order of insertion.
    @Test func sharedKeysSurviveRemovalAndPreferTheOwner() throws {
        let vip = try IPv4Address(parsing: "198.51.100.50")
        let owner = Self.vm("z-owner", "02:00:00:00:00:02", ipv4: ["198.51.100.50"])
        let pairA = Self.vm("a-pair", "02:00:00:00:00:03", ipv4: ["198.51.100.60"], allow: ["198.51.100.50"])
        let pairB = Self.vm("b-pair", "02:00:00:00:00:04", ipv4: ["198.51.100.61"], allow: ["198.51.100.50", "203.0.113.0/24"])
        for order in [[owner, pairA, pairB], [pairB, pairA, owner]] {
            let directory = VMDirectory(order)
            #expect(directory.vm(for: vip)?.id == owner.id)
            directory.remove(owner)
            #expect(directory.vm(for: vip)?.id == pairA.id, "lowest id among equal claims")
            directory.remove(pairA)
            #expect(directory.vm(for: vip)?.id == pairB.id)
            #expect(directory.vm(for: try IPv4Address(parsing: "198.51.100.61"))?.id == pairB.id)
            directory.remove(pairB)
            #expect(directory.vm(for: vip) == nil)
        }
    }
}
