import ControlAPI
import Foundation
import Logging
import Netfilter
import PortcullisCore
import ServiceLifecycle
import Store

/// Turns what the kernel sees into filters. Two sources:
/// - the port-scan detector's NFLOG events (at most two a second per VM, read with
///   libnetfilter_log), and
/// - the kernel's per-VM counters, read every `abuse.counter_interval`: anti-spoofing drops
///   (spoofing) and refused restricted-port attempts.
/// Each offence goes to the `AbuseResponder`, which climbs the ladder and places filters
/// through the policy engine. If the NFLOG group cannot be bound, scan detection is off and the
/// daemon says so; enforcement is not affected.
struct AbuseService: Service {
    let engine: PolicyEngine
    let store: SQLiteStore
    let settings: AbuseSettings
    let logger: Logger

    func run() async throws {
        let histories: [VMID: [AbuseSignal: OffenceHistory]]
        do {
            histories = try store.offenceHistories()
        } catch {
            logger.error("could not read the abuse offence histories; every VM starts as a first offender: \(error)")
            histories = [:]
        }
        let responder = AbuseResponder(engine: engine, store: store, ladder: settings.ladder, histories: histories, logger: logger)
        try await cancelWhenGracefulShutdown {
            await withDiscardingTaskGroup { group in
                if let scan = settings.scanDetection {
                    group.addTask { await readScanEvents(scan, responder: responder) }
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
            for await event in reader.events where event.prefix == ScanDetection.logPrefix {
                engine.abuseCounters.scanEventRead()
                engine.abuseCounters.scanOverflows(total: reader.lost)
                guard let interface = event.interface, let vm = engine.directory.vm(interface: interface) else { continue }
                await responder.offence(.portScan, vm: vm, at: event.time,
                                        evidence: "first contacts over the site's budget, e.g. TCP SYN to \(event.destination ?? "?")")
            }
        } onCancel: {
            reader.stop()
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
                    let kinds = (drops[id] ?? [:]).filter { AbuseSettings.spoofKinds.contains($0.key) && $0.value > 0 }.keys.sorted()
                    await responder.offence(.spoofing, vm: vm, at: now,
                                            evidence: "\(new) spoofed packets in \(settings.counterInterval) (\(kinds.joined(separator: ", ")))")
                }
                for (id, count) in rejected {
                    let new = count >= (previousRejected[id] ?? 0) ? count - (previousRejected[id] ?? 0) : count
                    guard new >= settings.restrictedAttempts, let vm = engine.directory.vm(id) else { continue }
                    await responder.offence(.restrictedSMTPAttempts, vm: vm, at: now,
                                            evidence: "\(new) refused attempts at restricted ports in \(settings.counterInterval)")
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

/// Climbs the ladder for each offence and places its filters, one offence at a time. The
/// histories are kept in the store as well, so a restart remembers repeat offenders.
actor AbuseResponder {
    let engine: PolicyEngine
    let store: SQLiteStore
    let ladder: AbuseLadder
    let logger: Logger
    private var histories: [VMID: [AbuseSignal: OffenceHistory]]

    init(engine: PolicyEngine, store: SQLiteStore, ladder: AbuseLadder, histories: [VMID: [AbuseSignal: OffenceHistory]],
         logger: Logger) {
        self.engine = engine
        self.store = store
        self.ladder = ladder
        self.histories = histories
        self.logger = logger
    }

    func offence(_ signal: AbuseSignal, vm: VM, at time: Date, evidence: String) async {
        let actor = "detector:\(signal.rawValue)"
        // Reports already queued when the filter went in: the offence is being dealt with.
        if await engine.filters().contains(where: { $0.vm == vm.id && $0.placedBy == actor }) { return }
        let decision = ladder.decide(signal, vm: vm.id, tenant: vm.tenant, history: histories[vm.id]?[signal], now: time)
        histories[vm.id, default: [:]][signal] = decision.history
        engine.abuseCounters.offence(signal, response: decision.response)
        do {
            try store.recordOffence(vm: vm.id, signal: signal, history: decision.history)
        } catch {
            logger.error("could not store the offence history: \(error)", metadata: ["vm": "\(vm.id)"])
        }
        let text = "\(signal.rawValue) detected \(time.formatted(.iso8601)): \(evidence); offence \(decision.offence)"
        guard let duration = decision.duration, decision.response != .observe else {
            logger.notice("abuse observed", metadata: ["vm": "\(vm.id)", "evidence": "\(text)",
                                                       "held_back": "\(decision.heldBack ?? "observe only")"])
            return
        }
        var directions: [Filter.Direction] = [.outbound]
        if decision.response == .suspend { directions.append(.inbound) }
        for direction in directions {
            let request = FilterRequest(vm: vm.id, direction: direction, port: nil, remote: nil,
                                        reason: "\(decision.response.rawValue): \(text)", expires: duration)
            do {
                let filter = try await engine.place(request, actor: actor)
                logger.warning("abuse filter placed", metadata: [
                    "vm": "\(vm.id)", "filter": "\(filter.id)", "scope": "\(filter.scope)",
                    "until": "\(filter.expiresAt.formatted(.iso8601))", "evidence": "\(text)"])
            } catch {
                logger.error("could not place an abuse filter: \(error)", metadata: ["vm": "\(vm.id)"])
            }
        }
    }
}
