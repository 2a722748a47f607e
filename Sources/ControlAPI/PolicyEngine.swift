import Foundation
import PortcullisCore
import Store

/// The one place where desired state changes. Each change is checked, loaded into the
/// kernel as one transaction, and only then committed to the store, so the store never
/// claims a policy the kernel refused. Changes are serialised by the actor.
public actor PolicyEngine {
    public let policy: SitePolicy
    private let store: SQLiteStore
    private let kernel: any KernelEnforcing
    private let clock: @Sendable () -> Date
    private var lastProblem: String?
    private var lastReconcile: Date?
    /// Why the kernel refused the SMTP interception rules (e.g. no TPROXY support), while it
    /// does. Port 25 of the VMs the relay would take is then refused instead (the site's policy
    /// with `smtp.mode: block`): the rest of the policy must not fail open because one feature
    /// cannot load. Every deep reconcile round tries the configured policy again.
    public private(set) var interceptionRefused: String?
    /// The stored desired state, held in memory: the engine is its only writer, so it reads
    /// the store once at start and then writes through. A change costs no full read. VMs
    /// are kept sorted by id, the order `DesiredState` wants, so building one stays linear.
    private var registeredVMs: [VM] = []
    private var storedExemptions: [Exemption] = []
    private var storedFilters: [Filter] = []
    /// Reads a bridge's MAC address from the host (nil: no such bridge).
    private let bridgeAddress: @Sendable (InterfaceName) -> MACAddress?
    /// The bridges of registered VMs and their addresses, refreshed every reconcile round
    /// (an auto-assigned bridge address changes when ports come and go).
    private var bridgeMACs: [InterfaceName: MACAddress] = [:]
    /// Source address → VM, for the SMTP relay; follows every committed change.
    public nonisolated let directory: VMDirectory
    /// What the SMTP relay did per VM, for `/metrics`.
    public nonisolated let smtpCounters = SMTPCounters()
    /// Cases and notices are records, not desired state: read and annotated straight in the
    /// store (actions that change the kernel go through the engine and add to cases there).
    public nonisolated var caseStore: SQLiteStore { store }
    /// What abuse detection and response did, for `/metrics`.
    public nonisolated let abuseCounters = AbuseCounters()

    /// Where notices go when an operator asks for one with a filter.
    public let notices: NoticeSettings

    public init(policy: SitePolicy, store: SQLiteStore, kernel: any KernelEnforcing, notices: NoticeSettings = NoticeSettings(),
                clock: @escaping @Sendable () -> Date = { Date() },
                bridgeAddress: @escaping @Sendable (InterfaceName) -> MACAddress? = { _ in nil }) throws {
        self.policy = policy
        self.notices = notices
        self.store = store
        self.kernel = kernel
        self.clock = clock
        self.bridgeAddress = bridgeAddress
        registeredVMs = try store.vms().sorted { $0.id < $1.id }
        directory = VMDirectory(registeredVMs)
        storedExemptions = try store.exemptions()
        storedFilters = try store.filters()
    }

    /// `configured`: the site's policy even while the kernel refuses its SMTP interception (to
    /// try it again).
    func state(vms: [VM]? = nil, exemptions: [Exemption]? = nil, filters: [Filter]? = nil, configured: Bool = false) -> DesiredState {
        DesiredState(policy: interceptionRefused == nil || configured ? policy : policy.with(smtpMode: .block),
                     vms: vms ?? registeredVMs, exemptions: exemptions ?? storedExemptions,
                     filters: filters ?? storedFilters, now: clock(),
                     bridgeMACs: bridgeMACs)
    }

    /// Looks up the address of every bridge the VMs use; returns the VMs on bridges whose
    /// address changed (their divert elements must follow).
    private func refreshBridges(for vms: [VM]) -> Set<VMID> {
        var fresh: [InterfaceName: MACAddress] = [:]
        for bridge in Set(vms.compactMap(\.bridge)) { fresh[bridge] = bridgeAddress(bridge) }
        guard fresh != bridgeMACs else { return [] }
        let moved = Set(fresh.keys).union(bridgeMACs.keys).filter { fresh[$0] != bridgeMACs[$0] }
        bridgeMACs = fresh
        return Set(vms.filter { $0.bridge.map(moved.contains) ?? false }.map(\.id))
    }

    /// Changes wait for each other. The actor alone does not serialise them: a change
    /// suspends while the kernel applies it, and a second change computed from the same
    /// starting point would then undo the first in memory and in the kernel's books.
    private var changing = false
    private var waitingChanges: [CheckedContinuation<Void, Never>] = []

    private func exclusively<T: Sendable>(_ change: () async throws -> T) async throws -> T {
        while changing {
            await withCheckedContinuation { waitingChanges.append($0) }
        }
        changing = true
        defer {
            changing = false
            if !waitingChanges.isEmpty { waitingChanges.removeFirst().resume() }
        }
        return try await change()
    }

    /// Where `id` is, or would be inserted, in the sorted VM list.
    private func position(of id: VMID) -> (index: Int, found: Bool) {
        var low = 0
        var high = registeredVMs.count
        while low < high {
            let middle = (low + high) / 2
            if registeredVMs[middle].id < id { low = middle + 1 } else { high = middle }
        }
        return (low, low < registeredVMs.count && registeredVMs[low].id == id)
    }

    private func registered(_ id: VMID) -> VM? {
        let (index, found) = position(of: id)
        return found ? registeredVMs[index] : nil
    }

    /// The enforcer may no longer know exactly what the kernel holds (a rollback was
    /// refused); the next reconcile round recompiles everything instead of a delta.
    private var needsFullSync = false

    /// Brings the kernel back to the stored state after the store refused a change.
    private func rollback(_ changed: Set<VMID>) async {
        do {
            try await kernel.apply(state(), changed: changed)
        } catch {
            needsFullSync = true
        }
    }

    /// The one way a change reaches the kernel and the store: kernel first (the store never
    /// claims a policy the kernel refused), then `write`; if the store refuses, the kernel is
    /// brought back to the stored state.
    private func commit<T>(_ next: DesiredState, changed: Set<VMID>, write: () throws -> T) async throws -> T {
        try await kernel.apply(next, changed: changed)
        do {
            return try write()
        } catch {
            await rollback(changed)
            throw error
        }
    }

    /// Retires expired exemptions and filters in the store (audited; the kernel ended them
    /// already, by their timeouts) and returns the VMs they belonged to.
    private func retireExpired() throws -> Set<VMID> {
        let now = clock()
        let exemptions = try store.expireExemptions(at: now)
        let filters = try store.expireFilters(at: now)
        let goneExemptions = Set(exemptions.map(\.id))
        let goneFilters = Set(filters.map(\.id))
        storedExemptions.removeAll { goneExemptions.contains($0.id) }
        storedFilters.removeAll { goneFilters.contains($0.id) }
        return Set(exemptions.map(\.vm) + filters.map(\.vm))
    }

    /// Loads the stored policy into the kernel (daemon start: an atomic replace, no flush).
    public func start() async throws {
        try await exclusively { try await startNow() }
    }

    private func startNow() async throws {
        _ = try retireExpired()
        _ = refreshBridges(for: registeredVMs)
        do {
            do {
                try await kernel.apply(state(), changed: nil)
            } catch where policy.smtp.mode == .proxy {
                try await kernel.apply(state(), changed: nil)  // once more, in case it was passing trouble
            }
        } catch where policy.smtp.mode == .proxy && interceptionRefused == nil {
            // Perhaps only the interception rules were refused: load everything else, with port
            // 25 refused, rather than nothing. If that fails too, the problem is elsewhere.
            interceptionRefused = "\(error)"
            do {
                try await kernel.apply(state(), changed: nil)
            } catch let second {
                interceptionRefused = nil
                throw second
            }
        }
    }

    /// One reconciler round: retire expired exemptions, then compare and repair.
    @discardableResult
    public func reconcile(deep: Bool) async throws -> String? {
        try await exclusively { try await reconcileNow(deep: deep) }
    }

    private func reconcileNow(deep: Bool) async throws -> String? {
        let knownBridges = bridgeMACs
        let changed = try retireExpired().union(refreshBridges(for: registeredVMs))
        var problem: String?
        if deep, let refused = interceptionRefused {
            // Readers (status, metrics, explain) keep seeing the refusal until the kernel takes it.
            do {
                try await kernel.apply(state(configured: true), changed: nil)
                interceptionRefused = nil
                needsFullSync = false
                lastReconcile = clock()
                lastProblem = "SMTP interception loaded after the kernel had refused it (\(refused)); port 25 is relayed again"
                return lastProblem
            } catch {
                interceptionRefused = "\(error)"
                needsFullSync = true  // the kernel holds the block-mode ruleset; compare it in full below
            }
        }
        do {
            problem = try await kernel.reconcile(state(), changed: needsFullSync ? nil : changed, deep: deep)
            needsFullSync = false
        } catch {
            bridgeMACs = knownBridges  // the kernel did not take the new addresses: retry next round
            throw error
        }
        lastReconcile = clock()
        if let problem { lastProblem = problem }
        return problem
    }

    // MARK: VMs

    public func vms() -> [VMView] {
        let state = state()
        return state.vms.map { VMView($0, state: state) }
    }

    public func vm(_ id: VMID) throws -> VMView {
        guard let vm = registered(id) else { throw NotFound(kind: "VM", id: id.value) }
        return VMView(vm, state: state(vms: [vm]))
    }

    /// Checks the VM against every other, loads it into the kernel, then stores it. If the
    /// store fails, the kernel is brought back to the stored state.
    public func add(_ vm: VM, actor: String) async throws -> VMView {
        try await exclusively { try await addNow(vm, actor: actor) }
    }

    private func addNow(_ vm: VM, actor: String) async throws -> VMView {
        try checkConflicts(of: vm, with: registeredVMs)
        var next = registeredVMs
        next.insert(vm, at: position(of: vm.id).index)
        // A bridge seen for the first time, or whose address moved, changes the divert
        // elements of every VM on it, not only the new one's.
        let knownBridges = bridgeMACs
        let changed = refreshBridges(for: next).union([vm.id])
        do {
            try await commit(state(vms: next), changed: changed) { try store.add(vm, actor: actor, at: clock()) }
        } catch {
            bridgeMACs = knownBridges  // the next round reads the bridges again
            throw error
        }
        registeredVMs = next
        directory.insert(vm)
        return VMView(vm, state: state(vms: [vm]))
    }

    public func remove(_ id: VMID, actor: String) async throws -> VM {
        try await exclusively { try await removeNow(id, actor: actor) }
    }

    private func removeNow(_ id: VMID, actor: String) async throws -> VM {
        let (index, found) = position(of: id)
        guard found else { throw NotFound(kind: "VM", id: id.value) }
        var next = registeredVMs
        let leaving = next.remove(at: index)
        let remaining = storedExemptions.filter { $0.vm != id }
        let remainingFilters = storedFilters.filter { $0.vm != id }
        let removed = try await commit(state(vms: next, exemptions: remaining, filters: remainingFilters), changed: [id]) {
            try store.removeVM(id, actor: actor, at: clock())
        }
        registeredVMs = next
        storedExemptions = remaining
        storedFilters = remainingFilters
        directory.remove(leaving)
        return removed
    }

    // MARK: Exemptions

    public func exemptions() -> [Exemption] {
        let now = clock()
        return storedExemptions.filter { $0.isActive(at: now) }.sorted { $0.id < $1.id }
    }

    public func grant(_ request: ExemptionRequest, actor: String) async throws -> Exemption {
        try await exclusively { try await grantNow(request, actor: actor) }
    }

    private func grantNow(_ request: ExemptionRequest, actor: String) async throws -> Exemption {
        let now = clock()
        guard let vm = registered(request.vm) else { throw NotFound(kind: "VM", id: request.vm.value) }
        let id = "ex-" + UUID().uuidString.prefix(8).lowercased()
        let exemption = try request.grant(to: vm, policy: policy, by: actor, id: id, now: now)
        let next = storedExemptions + [exemption]
        try await commit(state(exemptions: next), changed: [vm.id]) { try store.add(exemption, actor: actor, at: now) }
        storedExemptions = next
        return exemption
    }

    public func revoke(_ id: String, actor: String) async throws -> Exemption {
        try await exclusively { try await revokeNow(id, actor: actor) }
    }

    private func revokeNow(_ id: String, actor: String) async throws -> Exemption {
        guard let exemption = storedExemptions.first(where: { $0.id == id }) else { throw NotFound(kind: "exemption", id: id) }
        let next = storedExemptions.filter { $0.id != id }
        let revoked = try await commit(state(exemptions: next), changed: [exemption.vm]) {
            try store.revokeExemption(id, actor: actor, at: clock())
        }
        storedExemptions = next
        return revoked
    }

    // MARK: Filters

    public func filters() -> [Filter] {
        let now = clock()
        return storedFilters.filter { $0.isActive(at: now) }.sorted { $0.id < $1.id }
    }

    /// Places a filter for an operator: in the kernel first (a set element with its timeout),
    /// then the store, with an entry in the VM's abuse case; with `notify`, the tenant (and the
    /// webhook) are sent a notice about it.
    public func place(_ request: FilterRequest, actor: String, notify: Bool = false) async throws -> Filter {
        try await exclusively {
            guard let vm = registered(request.vm) else { throw NotFound(kind: "VM", id: request.vm.value) }
            var report = CaseReport(vm: vm.id, tenant: vm.tenant, entries: [])
            if notify {
                let now = clock()
                let until = now.addingTimeInterval(request.expires.timeInterval)
                let content = NoticeContent(vm: vm.id, tenant: vm.tenant, signal: "operator", response: "filter", detectedAt: now,
                                            until: until, summary: request.reason, evidence: [],
                                            actions: ["\(request.scope) until \(until.formatted(.iso8601))"])
                report.notices = notices.drafts(for: vm, content: content)
            }
            return try await placeNow([request], actor: actor, report: report).filters[0]
        }
    }

    /// Places filters on one VM in one kernel transaction, and appends `report` (with a
    /// `filter_placed` entry per filter) to the VM's case in the same store transaction.
    public func place(_ requests: [FilterRequest], actor: String, report: CaseReport) async throws -> (filters: [Filter], case: AbuseCase?) {
        try await exclusively { try await placeNow(requests, actor: actor, report: report) }
    }

    private func placeNow(_ requests: [FilterRequest], actor: String, report: CaseReport) async throws -> (filters: [Filter], case: AbuseCase?) {
        let now = clock()
        guard let vm = registered(report.vm), requests.allSatisfy({ $0.vm == vm.id }) else {
            throw NotFound(kind: "VM", id: report.vm.value)
        }
        var placed: [Filter] = []
        for request in requests {
            placed.append(try request.place(by: actor, id: "flt-" + UUID().uuidString.prefix(8).lowercased(), now: now))
        }
        var report = report
        report.entries += placed.map { filter in
            CaseEvidence(at: now, kind: .filterPlaced, actor: actor,
                         summary: "\(filter.id): \(filter.scope) until \(filter.expiresAt.formatted(.iso8601))",
                         details: ["reason: \(filter.reason)"])
        }
        let next = storedFilters + placed
        let recorded = try await commit(state(filters: next), changed: [vm.id]) {
            try store.add(placed, report: report, actor: actor, at: now)
        }
        storedFilters = next
        return (placed, recorded)
    }

    public func lift(_ id: String, actor: String) async throws -> Filter {
        try await exclusively { try await liftNow(id, actor: actor) }
    }

    private func liftNow(_ id: String, actor: String) async throws -> Filter {
        guard let filter = storedFilters.first(where: { $0.id == id }) else { throw NotFound(kind: "filter", id: id) }
        let next = storedFilters.filter { $0.id != id }
        // The scan detector's meters may still be over budget from the offence, so the VM's next
        // ordinary connections would be reported as a scan again. Lifting a scan or flood filter
        // starts the VM afresh, unless another one stays in force. Cleared before the lift: while
        // the filter holds, the VM's traffic cannot refill the sets (the filter chain runs first).
        let detectors = [AbuseSignal.portScan, .synFlood].map(\.detector)
        if detectors.contains(filter.placedBy), !next.contains(where: { $0.vm == filter.vm && detectors.contains($0.placedBy) }),
           let vm = registeredVMs.first(where: { $0.id == filter.vm }) {
            _ = await kernel.forgetDetectorState(interface: vm.interface.name)
        }
        let lifted = try await commit(state(filters: next), changed: [filter.vm]) {
            try store.liftFilter(id, actor: actor, at: clock())
        }
        storedFilters = next
        return lifted
    }

    // MARK: Questions

    public func explain(vm id: VMID, flow: Flow) throws -> Explanation {
        let state = state()
        guard let vm = state.vm(id) else { throw NotFound(kind: "VM", id: id.value) }
        return PortcullisCore.explain(vm: vm, flow: flow, in: state)
    }

    public func plan(needs: [Need]) -> DeploymentPlan {
        PortcullisCore.plan(needs: needs, policy: policy)
    }

    public func audit(limit: Int) throws -> [AuditEntry] {
        try store.auditLog(limit: limit)
    }

    /// The SMTP relay's transaction log, newest first. Not isolated to the actor: the log is
    /// a record of traffic, not desired state, so a large read neither waits for a change
    /// nor holds one up.
    public nonisolated func smtpLog(_ query: SMTPLogQuery) throws -> [SMTPLogEntry] {
        try store.smtpLog(query)
    }

    /// The engine's time, for routes that turn a look-back such as `1h` into a time.
    nonisolated var now: Date { clock() }

    public func ruleset() async -> String? {
        await kernel.listing()
    }

    public func status() async throws -> StatusReport {
        let state = state()
        let samples = await kernel.samples()
        return StatusReport(
            site: policy.site,
            vms: state.vms.count,
            restrictedVMs: state.vms.filter { policy.accessType(of: $0) == .restricted }.count,
            activeExemptions: state.exemptions.count,
            restrictedPorts: policy.restrictedTCPPorts,
            lastReconcile: lastReconcile,
            lastDrift: lastProblem,
            repairs: samples.repairs,
            failedTransactions: samples.failures,
            smtpInterceptionRefused: interceptionRefused
        )
    }

    /// The kernel's per-VM counters, for the abuse detectors: drops by kind and refused
    /// restricted-port attempts, keyed by VM (interfaces of no registered VM are left out).
    public func counters() async -> (drops: [VMID: [String: Int]], rejected: [VMID: Int]) {
        let samples = await kernel.samples()
        var drops: [VMID: [String: Int]] = [:]
        var rejected: [VMID: Int] = [:]
        for drop in samples.drops {
            guard let vm = directory.vm(interface: drop.interface) else { continue }
            drops[vm.id, default: [:]][drop.kind, default: 0] += drop.packets
        }
        for refusal in samples.rejected {
            guard let vm = directory.vm(interface: refusal.interface) else { continue }
            rejected[vm.id, default: 0] += refusal.packets
        }
        return (drops, rejected)
    }

    static func setFillText(_ fill: [SetFill]) -> String {
        guard !fill.isEmpty else { return "" }
        var out = "# HELP portcullis_set_elements Elements in the abuse detector's dynamic sets (a full set stops adding).\n"
        out += "# TYPE portcullis_set_elements gauge\n"
        for item in fill {
            out += "portcullis_set_elements{family=\"\(item.family)\",set=\"\(item.set)\"} \(item.elements)\n"
        }
        out += "# HELP portcullis_set_size The size each of those sets was created with.\n# TYPE portcullis_set_size gauge\n"
        for item in fill {
            out += "portcullis_set_size{family=\"\(item.family)\",set=\"\(item.set)\"} \(item.size)\n"
        }
        return out
    }

    /// The scan detector's first contacts of one VM (evidence for its case).
    public func firstContacts(of vm: VM) async -> [FirstContact] {
        await kernel.firstContacts(interface: vm.interface.name)
    }

    /// Prometheus text exposition.
    public func metrics() async throws -> String {
        let state = state()
        let samples = await kernel.samples()
        return MetricsRenderer.render(state: state, samples: samples) + smtpCounters.prometheusText()
            + abuseCounters.prometheusText() + Self.setFillText(await kernel.dynamicSetFill())
            + """
            # HELP portcullis_smtp_interception_refused 1 while the kernel refuses the SMTP interception rules (port 25 is refused instead of relayed).
            # TYPE portcullis_smtp_interception_refused gauge
            portcullis_smtp_interception_refused \(interceptionRefused == nil ? 0 : 1)

            """
    }
}

/// A VM as the API shows it: the registration plus what follows from the policy.
public struct VMView: Sendable, Codable, Hashable {
    public let vm: VM
    public let accessType: AccessType
    public let exemptions: [Exemption]

    init(_ vm: VM, state: DesiredState) {
        self.vm = vm
        self.accessType = state.policy.accessType(of: vm)
        self.exemptions = state.exemptions(for: vm.id)
    }

    enum CodingKeys: String, CodingKey {
        case vm, exemptions
        case accessType = "access_type"
    }
}

public struct StatusReport: Sendable, Codable {
    public let site: String
    public let vms: Int
    public let restrictedVMs: Int
    public let activeExemptions: Int
    public let restrictedPorts: PortSet
    public let lastReconcile: Date?
    public let lastDrift: String?
    public let repairs: Int
    public let failedTransactions: Int
    /// Set while the kernel refuses the SMTP interception rules: port 25 is refused instead.
    public let smtpInterceptionRefused: String?

    enum CodingKeys: String, CodingKey {
        case site, vms, repairs
        case smtpInterceptionRefused = "smtp_interception_refused"
        case restrictedVMs = "restricted_vms"
        case activeExemptions = "active_exemptions"
        case restrictedPorts = "restricted_tcp_ports"
        case lastReconcile = "last_reconcile"
        case lastDrift = "last_drift"
        case failedTransactions = "failed_transactions"
    }
}
