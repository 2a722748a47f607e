import ControlAPI
import Foundation
import Logging
import Netfilter
import PortcullisCore
import ServiceLifecycle
import Store

/// Turns what the kernel and the SMTP relay see into filters, cases and notices. Three sources:
/// - the port-scan detector's NFLOG events (at most two a second per VM, read with
///   libnetfilter_log),
/// - the kernel's per-VM counters, read every `abuse.counter_interval`: anti-spoofing drops
///   (spoofing) and refused restricted-port attempts, and
/// - the relay's transaction records (spam signals, `SMTPAbuseDetector`), in the log writer's
///   batches (every 100 ms).
/// Each offence goes to the `AbuseResponder`, which climbs the ladder, places filters through
/// the policy engine and records the case. If the NFLOG group cannot be bound, scan detection
/// is off and the daemon says so; enforcement is not affected.
struct AbuseService: Service {
    let engine: PolicyEngine
    let store: SQLiteStore
    let settings: AbuseSettings
    let notices: NoticeSettings
    /// The relay's finished transactions, in the log writer's batches (nil: the relay is not running).
    let smtpRecords: AsyncStream<[SMTPLogEntry]>?
    let logger: Logger

    func run() async throws {
        let histories: [VMID: [AbuseSignal: OffenceHistory]]
        do {
            histories = try store.offenceHistories()
        } catch {
            logger.error("could not read the abuse offence histories; every VM starts as a first offender: \(error)")
            histories = [:]
        }
        let responder = AbuseResponder(engine: engine, store: store, ladder: settings.ladder, notices: notices,
                                       histories: histories, logger: logger)
        try await cancelWhenGracefulShutdown {
            await withDiscardingTaskGroup { group in
                if let scan = settings.scanDetection {
                    group.addTask { await readScanEvents(scan, responder: responder) }
                }
                if let records = smtpRecords, let thresholds = settings.smtp {
                    group.addTask { await watchMail(records, thresholds: thresholds, responder: responder) }
                }
                group.addTask { await watchCounters(responder: responder) }
            }
        }
    }

    private func readScanEvents(_ scan: ScanDetection, responder: AbuseResponder) async {
        let reader: NflogReader
        do {
            reader = try NflogReader(group: scan.nflogGroup)
        } catch {
            logger.error("port-scan detection is off: \(error)")
            return
        }
        reader.start()
        logger.info("port-scan detection listening", metadata: ["nflog_group": "\(scan.nflogGroup)"])
        await withTaskCancellationHandler {
            for await event in reader.events {
                engine.abuseCounters.scanOverflows(total: reader.lost)
                let isSpoofSample = event.prefix.hasPrefix(ScanDetection.spoofPrefix + ":")
                if !isSpoofSample { engine.abuseCounters.scanEventRead() }
                guard let interface = event.interface, let vm = engine.directory.vm(interface: interface) else { continue }
                if isSpoofSample {
                    let kind = event.prefix.dropFirst(ScanDetection.spoofPrefix.count + 1)
                    let when = event.time.formatted(Date.ISO8601FormatStyle(includingFractionalSeconds: true))
                    await responder.sampleSpoofing(vm.id, at: event.time, "\(when) \(kind): \(event.summary)")
                    continue
                }
                if event.prefix == ScanDetection.synFloodPrefix {
                    guard await !responder.isFiltered(vm.id, for: .synFlood) else { continue }
                    await responder.offence(.synFlood, vm: vm, at: event.time,
                                            summary: "SYN flood: TCP SYNs at over \(scan.synFloodPerSecond) a second, e.g. to \(event.destination ?? "?")",
                                            details: ["\(event.time.formatted(.iso8601)) TCP SYN to \(event.destination ?? "?") over the rate budget"])
                    continue
                }
                guard event.prefix == ScanDetection.logPrefix else { continue }
                guard await !responder.isFiltered(vm.id, for: .portScan) else { continue }
                // The kernel's first-contact sets are the evidence: every host and port tried
                // in the window, with when.
                let contacts = await engine.firstContacts(of: vm)
                let hosts = Set(contacts.map(\.address)).count
                let ports = Set(contacts.map(\.port)).count
                var details = ["\(contacts.count) first contacts to \(hosts) host(s) on \(ports) port(s) in the last \(scan.window)"
                               + " (budget: \(scan.portsPerHost) ports of one host, \(scan.hostsPerPort) hosts on one port)"]
                details += contacts.suffix(20).map { "\($0.lastSeen.formatted(.iso8601)) TCP SYN to \($0.address) port \($0.port)" }
                if contacts.count > 20 { details.append("(\(contacts.count - 20) earlier first contacts not listed)") }
                await responder.offence(.portScan, vm: vm, at: event.time,
                                        summary: "port scan: first contacts over the site's budget, e.g. TCP SYN to \(event.destination ?? "?")",
                                        details: details)
            }
        } onCancel: {
            reader.stop()
        }
    }

    private func watchMail(_ batches: AsyncStream<[SMTPLogEntry]>, thresholds: SMTPAbuseThresholds, responder: AbuseResponder) async {
        var detector = SMTPAbuseDetector(thresholds: thresholds)
        var lastPrune = Date()
        for await batch in batches {
            for entry in batch {
                for finding in detector.observe(entry) {
                    guard let vm = engine.directory.vm(finding.vm) else { continue }
                    await responder.offence(finding.signal, vm: vm, at: entry.time, summary: "spam: \(finding.summary)",
                                            details: ["the VM's latest transactions through the relay:"] + finding.samples)
                }
                if entry.time.timeIntervalSince(lastPrune) > 600 {
                    detector.prune(at: entry.time)
                    lastPrune = entry.time
                }
            }
        }
    }

    /// Compares the counters with the previous reading; the first reading is only a baseline
    /// (counters from before a restart are not new offences), and a counter that went down was
    /// reset by a ruleset replace, so all of it is new.
    private func watchCounters(responder: AbuseResponder) async {
        var previousSpoof: [VMID: Int]?
        var previousRejected: [VMID: Int] = [:]
        while !Task.isCancelled {
            let (drops, rejected) = await engine.counters()
            let spoof = drops.mapValues { kinds in kinds.filter { AbuseSettings.spoofKinds.contains($0.key) }.values.reduce(0, +) }
            if let before = previousSpoof {
                let now = Date()
                for (id, count) in spoof {
                    let new = count >= (before[id] ?? 0) ? count - (before[id] ?? 0) : count
                    guard new >= settings.spoofedPackets, let vm = engine.directory.vm(id) else { continue }
                    let kinds = (drops[id] ?? [:]).filter { AbuseSettings.spoofKinds.contains($0.key) && $0.value > 0 }
                    let samples = await responder.takeSpoofSamples(id, since: now.addingTimeInterval(-max(60, 2 * settings.counterInterval.timeInterval)))
                    await responder.offence(.spoofing, vm: vm, at: now,
                                            summary: "IP spoofing: \(new) packets with source addresses the VM does not own in \(settings.counterInterval)",
                                            details: kinds.sorted { $0.key < $1.key }.map { "\($0.key): \($0.value) packets dropped since the ruleset was loaded" }
                                                + (samples.isEmpty ? [] : ["sampled spoofed packets (newest last):"] + samples))
                }
                for (id, count) in rejected {
                    let new = count >= (previousRejected[id] ?? 0) ? count - (previousRejected[id] ?? 0) : count
                    guard new >= settings.restrictedAttempts, let vm = engine.directory.vm(id) else { continue }
                    await responder.offence(.restrictedSMTPAttempts, vm: vm, at: now,
                                            summary: "\(new) refused attempts at restricted mail ports in \(settings.counterInterval)",
                                            details: ["\(count) refused attempts since the ruleset was loaded"])
                }
            }
            previousSpoof = spoof
            previousRejected = rejected
            do {
                try await Task.sleep(for: .seconds(settings.counterInterval.seconds))
            } catch {
                return
            }
        }
    }
}

/// Climbs the ladder for each offence, places its filters and records the case (with its
/// notices), one offence at a time. The histories are kept in the store as well, so a restart
/// remembers repeat offenders.
actor AbuseResponder {
    let engine: PolicyEngine
    let store: SQLiteStore
    let ladder: AbuseLadder
    let notices: NoticeSettings
    let logger: Logger
    private var histories: [VMID: [AbuseSignal: OffenceHistory]]
    /// When each VM's signal was last only observed: a VM that keeps on (a flood under an
    /// observe-only rung, an allowlisted tenant) makes one offence a minute, not one per event.
    private var observed: [VMID: [AbuseSignal: Date]] = [:]
    static let observeQuiet: TimeInterval = 60
    /// The latest spoofed packets the kernel sampled per VM (newest last): the evidence a spoofing
    /// case gets besides the counters. A few per VM, so memory stays bounded by the fleet.
    private var spoofSamples: [VMID: [(time: Date, line: String)]] = [:]
    static let spoofSamplesKept = 10

    init(engine: PolicyEngine, store: SQLiteStore, ladder: AbuseLadder, notices: NoticeSettings,
         histories: [VMID: [AbuseSignal: OffenceHistory]], logger: Logger) {
        self.engine = engine
        self.store = store
        self.ladder = ladder
        self.notices = notices
        self.histories = histories
        self.logger = logger
    }

    /// Whether the detector for `signal` already has a filter in force on the VM: reports
    /// queued before the filter went in are about the offence being dealt with.
    func isFiltered(_ vm: VMID, for signal: AbuseSignal) async -> Bool {
        await engine.filters().contains { $0.vm == vm && $0.placedBy == signal.detector }
    }

    func sampleSpoofing(_ vm: VMID, at time: Date, _ line: String) {
        var samples = spoofSamples[vm, default: []]
        samples.append((time, line))
        spoofSamples[vm] = Array(samples.suffix(Self.spoofSamplesKept))
        if spoofSamples.count > 1_000 {  // VMs that spoofed a little long ago (or are gone) are forgotten
            let recent = time.addingTimeInterval(-600)
            spoofSamples = spoofSamples.filter { $0.value.last.map { $0.time > recent } ?? false }
        }
    }

    /// The samples taken since `since` (older ones are another episode, or another VM that had
    /// the id), and forgets the VM's samples: the next case gets the next ones.
    func takeSpoofSamples(_ vm: VMID, since: Date) -> [String] {
        (spoofSamples.removeValue(forKey: vm) ?? []).filter { $0.time >= since }.map(\.line)
    }

    /// What a response blocks, for this signal: mail ports for the mail signals, everything
    /// outbound for the others; suspension cuts both directions.
    static func requests(_ response: AbuseResponse, signal: AbuseSignal, vm: VMID, reason: String,
                         duration: PolicyDuration) -> [FilterRequest] {
        func filter(_ direction: Filter.Direction, _ port: PortcullisCore.Port? = nil) -> FilterRequest {
            FilterRequest(vm: vm, direction: direction, port: port, remote: nil, reason: reason, expires: duration)
        }
        switch response {
        case .observe:
            return []
        case .blockPort where signal.isAboutMail:
            return AbuseSignal.mailPorts.map { filter(.outbound, $0) }
        case .blockPort:
            return [filter(.outbound)]
        case .throttle:
            return [FilterRequest(vm: vm, direction: .outbound, port: nil, remote: nil, effect: .throttle, reason: reason, expires: duration)]
        case .quarantine:
            return [FilterRequest(vm: vm, direction: .outbound, port: nil, remote: nil, effect: .quarantine, reason: reason, expires: duration)]
        case .suspend:
            return [filter(.outbound), filter(.inbound)]
        }
    }

    func offence(_ signal: AbuseSignal, vm: VM, at time: Date, summary: String, details: [String]) async {
        let actor = signal.detector
        if await isFiltered(vm.id, for: signal) { return }
        if let last = observed[vm.id]?[signal], time.timeIntervalSince(last) < Self.observeQuiet { return }
        let decision = ladder.decide(signal, vm: vm.id, tenant: vm.tenant, history: histories[vm.id]?[signal], now: time)
        histories[vm.id, default: [:]][signal] = decision.history
        engine.abuseCounters.offence(signal, response: decision.response)
        do {
            try store.recordOffence(vm: vm.id, signal: signal, history: decision.history)
        } catch {
            logger.error("could not store the offence history: \(error)", metadata: ["vm": "\(vm.id)"])
        }
        let detected = "\(summary) (offence \(decision.offence) for \(signal.rawValue), response \(decision.response.rawValue)"
            + (decision.heldBack.map { ", held back: \($0)" } ?? "") + ")"
        let entry = CaseEvidence(at: time, kind: .detection, actor: actor, summary: detected, details: details)
        let duration = decision.duration ?? .init(seconds: 0)
        let requests = Self.requests(decision.response, signal: signal, vm: vm.id,
                                     reason: "\(decision.response.rawValue): \(summary)", duration: duration)
        if requests.isEmpty { observed[vm.id, default: [:]][signal] = time }
        let until = requests.isEmpty ? nil : time.addingTimeInterval(duration.timeInterval)
        let content = NoticeContent(vm: vm.id, tenant: vm.tenant, signal: signal.rawValue, response: decision.response.rawValue,
                                    detectedAt: time, until: until, summary: summary, evidence: details,
                                    actions: requests.map { "\($0.scope) until \(until?.formatted(.iso8601) ?? "")" })
        let report = CaseReport(vm: vm.id, tenant: vm.tenant, signal: signal, entries: [entry],
                                notices: notices.drafts(for: vm, response: decision.response, content: content))
        do {
            let recorded: AbuseCase?
            if requests.isEmpty {
                recorded = try store.record(report, actor: actor, at: time).0
                logger.notice("abuse observed", metadata: ["vm": "\(vm.id)", "case": "\(recorded?.id ?? "")", "evidence": "\(detected)"])
            } else {
                let (filters, placedCase) = try await engine.place(requests, actor: actor, report: report)
                recorded = placedCase
                logger.warning("abuse filter placed", metadata: [
                    "vm": "\(vm.id)", "case": "\(recorded?.id ?? "")", "filters": "\(filters.map(\.id).joined(separator: ","))",
                    "scope": "\(filters.map(\.scope).joined(separator: "; "))", "until": "\(until?.formatted(.iso8601) ?? "")",
                    "evidence": "\(detected)"])
            }
        } catch {
            logger.error("could not act on an abuse offence: \(error)", metadata: ["vm": "\(vm.id)", "signal": "\(signal.rawValue)"])
        }
    }
}
