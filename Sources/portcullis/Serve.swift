import ArgumentParser
import ControlAPI
import Foundation
import Hummingbird
import Logging
import Netfilter
import Notices
import PortcullisCore
import RulesetCompiler
import SMTPProxy
import SMTPTLS
import ServiceLifecycle
import UnixSignals
import Store
import Yams

struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Run the daemon: load the policy into the kernel, keep it there, serve the control API.")

    @Option(help: "Site configuration file (YAML).") var config: String
    @Option(help: "Log level: trace, debug, info, notice, warning, error.") var logLevel: String = "info"

    func run() async throws {
        let site = try loadConfig(path: config)
        var logger = Logger(label: "portcullis")
        logger.logLevel = Logger.Level(rawValue: logLevel) ?? .info

        raiseOpenFileLimit(logger: logger)
        let store = try SQLiteStore(path: site.storePath)
        let enforcer = Enforcer(logger: logger)
        let engine = try PolicyEngine(policy: site.policy, store: store, kernel: enforcer, notices: site.notices,
                                      bridgeAddress: bridgeAddress)
        do {
            try await engine.start()
        } catch {
            logger.critical("could not load the policy into the kernel", metadata: ["error": "\(error)"])
            throw error
        }
        logger.info("policy loaded", metadata: ["site": "\(site.policy.site)", "store": "\(site.storePath)"])
        if let refused = await engine.interceptionRefused {
            logger.critical("""
                the kernel refused the SMTP interception rules; port 25 of the VMs the relay would take is refused \
                instead (fail closed) until they load. Check that the kernel has nft_tproxy and nf_socket \
                (docs/troubleshooting.md); the daemon retries every deep reconcile round
                """, metadata: ["error": "\(refused)"])
        }

        try FileManager.default.createDirectory(
            atPath: URL(fileURLWithPath: site.apiSocket).deletingLastPathComponent().path, withIntermediateDirectories: true)
        let socketPath = site.apiSocket
        let notices = noticeService(site: site, store: store, counters: engine.abuseCounters, logger: logger)
        let composer = notices.composer
        let preview: NoticeRendering = { notice in try composer.preview(notice) }
        let app = Application(
            router: buildRouter(engine: engine, renderNotice: preview),
            configuration: .init(address: .unixDomainSocket(path: socketPath), serverName: "portcullis"),
            onServerRunning: { _ in
                // Root only: the socket can change the firewall.
                chmod(socketPath, 0o600)
            },
            logger: logger
        )
        let reconciler = Reconciler(engine: engine, interval: site.reconcileInterval, logger: logger)
        var services: [ServiceGroupConfiguration.ServiceConfiguration] = [.init(service: reconciler), .init(service: app)]
        if let tcp = site.apiTCP {
            let tcpApp = Application(
                router: buildRouter(engine: engine, tokens: try loadTokens(path: tcp.tokensFile), renderNotice: preview),
                configuration: .init(address: .hostname(tcp.host, port: tcp.port), serverName: "portcullis"),
                logger: logger
            )
            services.append(.init(service: tcpApp))
            logger.info("control API also on TCP, bearer tokens required", metadata: ["listen": "\(tcp.host):\(tcp.port)"])
        }
        // The relay's records feed the spam detector in the log writer's batches, through a bounded
        // stream: the relay's event loops never wait for either (under a flood the oldest batches
        // are dropped, not the relay).
        let relaying = site.policy.smtp.mode == .proxy
        let (mail, mailFeed) = AsyncStream<[SMTPLogEntry]>.makeStream(bufferingPolicy: .bufferingNewest(100))
        services.append(.init(service: AbuseService(engine: engine, store: store, settings: site.abuse, notices: site.notices,
                                                    smtpRecords: relaying ? mail : nil, logger: logger)))
        services.append(.init(service: notices))
        // Always running, so the log's retention holds after a switch away from proxy mode too.
        // Registered before the relay: services stop in reverse order, so it flushes last.
        let feedDetector: (@Sendable ([SMTPLogEntry]) -> Void)? = relaying ? { @Sendable batch in _ = mailFeed.yield(batch) } : nil
        let log = SMTPLogWriter(store: store, retention: site.smtp.logRetention, logger: logger, onBatch: feedDetector)
        services.append(.init(service: log))
        if relaying {
            // A certificate problem must not take the firewall down: the relay runs without TLS.
            let tls: SMTPRelayTLS?
            do {
                tls = try relayTLS(site: site, logger: logger)
            } catch {
                logger.critical("SMTP relay TLS disabled: \(error). Fix the certificate and restart; STARTTLS is not offered meanwhile")
                tls = nil
            }
            warnIfBridgeNetfilterIsOn(logger: logger)
            let counters = engine.smtpCounters
            services.append(.init(service: SMTPRelayService(
                settings: site.smtp, directory: engine.directory, tls: tls, recheckInterval: site.reconcileInterval,
                record: { transaction in
                    counters.count(vm: transaction.vm.vmID, verdict: transaction.record.verdict.rawValue,
                                   recipients: transaction.record.recipientCount, bytes: transaction.record.sizeBytes)
                    log.submit(transaction)
                },
                logger: logger)))
        }
        let group = ServiceGroup(
            configuration: .init(services: services, gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
        try await group.run()
    }
}

/// The notice outbox's sender as configured. A bad template or an unreadable webhook secret
/// must not take the firewall down: the built-in template is used, and webhook notices wait
/// (retried) until the secret is fixed and the daemon restarted.
func noticeService(site: SiteConfig, store: SQLiteStore, counters: AbuseCounters, logger: Logger) -> NoticeService {
    let settings = site.notices
    var template = NoticeTemplate.defaultTenantNotice
    if let path = settings.email?.templatePath {
        do {
            template = try NoticeTemplate(contentsOfFile: path)
        } catch {
            logger.critical("notice template not usable, the built-in text is sent instead: \(error)")
        }
    }
    var submitter: SMTPSubmitter?
    var emailProblem: String?
    if let email = settings.email {
        do {
            let tls: SMTPSubmissionTLS = switch email.tls {
            case .off: .off
            case .opportunistic: .opportunistic
            case .required: .required
            }
            var credentials: SMTPCredentials?
            if let auth = email.auth {
                do {
                    let text = try String(contentsOfFile: auth.passwordFile, encoding: .utf8)
                    let firstLine = text.split(omittingEmptySubsequences: false, whereSeparator: { $0 == "\n" || $0 == "\r\n" })
                    let password = firstLine.first.map { String($0).trimmingCharacters(in: CharacterSet(charactersIn: "\r")) } ?? ""
                    credentials = try SMTPCredentials(username: auth.username, password: password)
                } catch {
                    emailProblem = "the smarthost password file \(auth.passwordFile) cannot be used (\(error)); "
                        + "fix it and restart the daemon"
                    logger.critical("notice e-mails wait: \(emailProblem!)")
                }
            }
            if emailProblem == nil {
                submitter = SMTPSubmitter(smarthost: try SMTPSmarthost(
                    host: email.relayHost, port: email.relayPort, tls: tls, verify: email.verifyCertificate,
                    heloName: email.heloName ?? ProcessInfo.processInfo.hostName, credentials: credentials,
                    caFile: email.caFile))
            }
        } catch {
            logger.critical("notice e-mail is off: \(error)")
        }
    }
    var poster: WebhookPoster?
    var problem: String?
    if let webhook = settings.webhook {
        do {
            let secret = try String(contentsOfFile: webhook.secretFile, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
            poster = try WebhookPoster(url: webhook.url.absoluteString, secret: secret, verify: webhook.verifyCertificate)
        } catch {
            problem = "the webhook secret \(webhook.secretFile) cannot be used (\(error)); fix it and restart the daemon"
            logger.critical("webhook notices wait: \(problem!)")
        }
    }
    return NoticeService(store: store, settings: settings, composer: NoticeComposer(settings: settings, template: template),
                         submitter: submitter, poster: poster, emailProblem: emailProblem, webhookProblem: problem,
                         counters: counters, logger: logger)
}

/// The relay's STARTTLS as configured: nil for `off`; for `terminate`, the operator's PEM pair or
/// a self-signed one kept next to the store (generated at first start, renewed near expiry). A bad
/// certificate stops the daemon at start, with an error naming the file.
func relayTLS(site: SiteConfig, logger: Logger) throws -> SMTPRelayTLS? {
    switch site.smtp.tls.mode {
    case .off:
        return nil
    case .splice:
        return .splicing()
    case .terminate:
        let source: SMTPTLSCertificateSource
        if let certificate = site.smtp.tls.certificate, let key = site.smtp.tls.key {
            source = .files(certificatePath: certificate, keyPath: key)
        } else {
            let directory = URL(fileURLWithPath: site.storePath).deletingLastPathComponent().appendingPathComponent("smtp-tls").path
            source = .selfSigned(directory: directory, hostName: ProcessInfo.processInfo.hostName)
        }
        let certificate = try SMTPTLSCertificate(source: source)
        logger.info("SMTP relay certificate", metadata: [
            "certificate": "\(certificate.certificatePath)", "origin": "\(certificate.origin)",
            "valid_until": "\(certificate.notValidAfter.formatted(.iso8601))"])
        return try .terminating(certificate: certificate)
    }
}

/// The bridged half of the relay needs br_netfilter off in this namespace (docs/interception.md);
/// with it on, bridged VMs' mail is refused (fail closed), so say so at start.
func warnIfBridgeNetfilterIsOn(logger: Logger) {
    for key in ["bridge-nf-call-iptables", "bridge-nf-call-ip6tables"] {
        let path = "/proc/sys/net/bridge/\(key)"
        if let text = try? String(contentsOfFile: path, encoding: .utf8), text.trimmingCharacters(in: .whitespacesAndNewlines) == "1" {
            logger.warning("net.bridge.\(key)=1: bridged VMs' port 25 cannot reach the SMTP relay and is refused; set it to 0 (docs/interception.md)")
        }
    }
}

/// Every relayed SMTP session holds two sockets: take the hard limit on open files as the soft
/// one (systemd's default soft limit of 1024 would cap the relay near 500 sessions).
func raiseOpenFileLimit(logger: Logger) {
    var limit = rlimit()
    guard getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0, limit.rlim_cur < limit.rlim_max else { return }
    limit.rlim_cur = limit.rlim_max
    if setrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0 {
        logger.info("open-file limit raised", metadata: ["limit": "\(limit.rlim_cur)"])
    }
    if limit.rlim_cur < 20_100 {
        logger.warning("open-file limit \(limit.rlim_cur) caps the SMTP relay at about \(limit.rlim_cur / 2) sessions; set LimitNOFILE=65536 in the unit")
    }
}

/// Reads the TCP API's tokens. The file must be readable by its owner only: its tokens
/// can change the firewall.
func loadTokens(path: String) throws -> APITokens {
    let attributes = try? FileManager.default.attributesOfItem(atPath: path)
    guard let data = FileManager.default.contents(atPath: path),
          let mode = (attributes?[.posixPermissions] as? NSNumber)?.intValue else {
        throw PortcullisCore.ValidationError(field: "api.tcp.tokens_file", value: path, problem: "cannot read the file")
    }
    guard mode & 0o077 == 0 else {
        throw PortcullisCore.ValidationError(field: "api.tcp.tokens_file", value: path,
                                             problem: "is readable by others (mode \(String(mode, radix: 8))); chmod 600 it")
    }
    return try APITokens(parsing: String(decoding: data, as: UTF8.self), file: path)
}

/// Reads and validates the site YAML; errors name the file and the key.
func loadConfig(path: String) throws -> SiteConfig {
    guard let text = FileManager.default.contents(atPath: path).map({ String(decoding: $0, as: UTF8.self) }) else {
        throw PortcullisCore.ValidationError(field: "config", value: path, problem: "cannot read the file")
    }
    do {
        return try YAMLDecoder().decode(SiteConfig.self, from: text)
    } catch let error as PortcullisCore.ValidationError {
        throw PortcullisCore.ValidationError(field: "\(path): \(error.field)", value: error.value, problem: error.problem)
    } catch let DecodingError.keyNotFound(key, context) {
        let where_ = (context.codingPath.map(\.stringValue) + [key.stringValue]).joined(separator: ".")
        throw PortcullisCore.ValidationError(field: "\(path): \(where_)", value: "", problem: "required key is missing")
    } catch let DecodingError.typeMismatch(_, context), let DecodingError.dataCorrupted(context) {
        throw PortcullisCore.ValidationError(field: "\(path): \(context.codingPath.map(\.stringValue).joined(separator: "."))", value: "",
                              problem: context.debugDescription)
    }
}

/// Keeps the kernel equal to the desired state. Every interval: exemption expiry
/// bookkeeping, and a comparison of the kernel with the desired state whenever someone
/// else committed to the ruleset (the enforcer watches the ruleset generation). Every
/// sixtieth round a full comparison regardless, in case the generation could not be read.
struct Reconciler: Service {
    let engine: PolicyEngine
    let interval: PolicyDuration
    let logger: Logger

    func run() async throws {
        var round = 0
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            do {
                try await Task.sleep(for: .seconds(interval.seconds))
            } catch {
                return
            }
            round += 1
            do {
                if let problem = try await engine.reconcile(deep: round % 60 == 0) {
                    logger.warning("repaired kernel drift", metadata: ["problem": "\(problem)"])
                }
            } catch {
                logger.error("reconcile failed; will retry", metadata: ["error": "\(error)"])
            }
        }
    }
}

/// A bridge's MAC address as the kernel reports it in sysfs (of this network namespace);
/// nil when there is no such interface or it is not a bridge.
@Sendable func bridgeAddress(_ bridge: InterfaceName) -> MACAddress? {
    let directory = "/sys/class/net/\(bridge.name)"
    guard FileManager.default.fileExists(atPath: directory + "/bridge"),
          let text = try? String(contentsOfFile: directory + "/address", encoding: .utf8) else { return nil }
    return try? MACAddress(parsing: text.trimmingCharacters(in: .whitespacesAndNewlines))
}
