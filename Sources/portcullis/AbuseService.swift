import Foundation
import Logging
import Netfilter
import PortcullisCore
import ServiceLifecycle
import ControlAPI

/// Turns the kernel's abuse events into filters: reads the detectors' NFLOG group, finds the
/// VM by interface, asks the ladder what the offence earns and places the filter through the
/// policy engine (audited, with the evidence in its reason, lifted by the kernel at expiry).
///
/// The kernel sends at most two events a second per VM, and a filtered VM's traffic is dropped
/// before the detectors see it, so a VM under a filter sends no more events. If the group cannot
/// be bound, detection is off and the daemon says so; enforcement is not affected.
struct AbuseService: Service {
    let engine: PolicyEngine
    let ladder: AbuseLadder
    let scan: ScanDetection
    let logger: Logger

    func run() async throws {
        let reader: NflogReader
        do {
            reader = try NflogReader(group: scan.nflogGroup)
        } catch {
            logger.error("abuse detection is off: \(error)")
            try? await gracefulShutdown()
            return
        }
        reader.start()
        logger.info("abuse detection listening", metadata: ["nflog_group": "\(scan.nflogGroup)"])
        var histories: [VMID: [AbuseSignal: OffenceHistory]] = [:]
        await withGracefulShutdownHandler {
            for await event in reader.events {
                await handle(event, histories: &histories)
            }
        } onGracefulShutdown: {
            reader.stop()
        }
    }

    static let signalsByPrefix: [String: AbuseSignal] = [ScanDetection.logPrefix: .portScan]

    private func handle(_ event: NflogEvent, histories: inout [VMID: [AbuseSignal: OffenceHistory]]) async {
        guard let signal = Self.signalsByPrefix[event.prefix] else { return }
        guard let interface = event.interface, let vm = engine.directory.vm(interface: interface) else {
            logger.debug("abuse event from an interface of no registered VM", metadata: ["interface": "\(event.interface ?? "?")"])
            return
        }
        let actor = "detector:\(signal.rawValue)"
        // Events already queued when the filter went in: the offence is being dealt with.
        if await engine.filters().contains(where: { $0.vm == vm.id && $0.placedBy == actor }) { return }
        let decision = ladder.decide(signal, vm: vm.id, tenant: vm.tenant, history: histories[vm.id]?[signal], now: event.time)
        histories[vm.id, default: [:]][signal] = decision.history
        let evidence = "\(signal.rawValue) detected \(event.time.formatted(.iso8601)): first contacts over the site's budget, e.g. TCP SYN to \(event.destination ?? "?"); offence \(decision.offence)"
        guard let duration = decision.duration, decision.response != .observe else {
            logger.notice("abuse observed", metadata: ["vm": "\(vm.id)", "evidence": "\(evidence)",
                                                       "held_back": "\(decision.heldBack ?? "observe only")"])
            return
        }
        var directions: [Filter.Direction] = [.outbound]
        if decision.response == .suspend { directions.append(.inbound) }
        for direction in directions {
            let request = FilterRequest(vm: vm.id, direction: direction, port: nil, remote: nil,
                                        reason: "\(decision.response.rawValue): \(evidence)", expires: duration)
            do {
                let filter = try await engine.place(request, actor: actor)
                logger.warning("abuse filter placed", metadata: [
                    "vm": "\(vm.id)", "filter": "\(filter.id)", "scope": "\(filter.scope)", "until": "\(filter.expiresAt.formatted(.iso8601))",
                    "evidence": "\(evidence)"])
            } catch {
                logger.error("could not place an abuse filter: \(error)", metadata: ["vm": "\(vm.id)"])
            }
        }
    }
}
