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

    public init(policy: SitePolicy, store: SQLiteStore, kernel: any KernelEnforcing,
                clock: @escaping @Sendable () -> Date = { Date() }) {
        self.policy = policy
        self.store = store
        self.kernel = kernel
        self.clock = clock
    }

    func state(vms: [VM]? = nil, exemptions: [Exemption]? = nil) throws -> DesiredState {
        DesiredState(policy: policy, vms: try vms ?? store.vms(), exemptions: try exemptions ?? store.exemptions(), now: clock())
    }

    /// Loads the stored policy into the kernel (daemon start: an atomic replace, no flush).
    public func start() async throws {
        try store.expireExemptions(at: clock())
        try await kernel.apply(try state())
    }

    /// One reconciler round: retire expired exemptions, then compare and repair.
    @discardableResult
    public func reconcile(deep: Bool) async throws -> String? {
        try store.expireExemptions(at: clock())
        let problem = try await kernel.reconcile(try state(), deep: deep)
        lastReconcile = clock()
        if let problem { lastProblem = problem }
        return problem
    }

    // MARK: VMs

    public func vms() throws -> [VMView] {
        let state = try state()
        return state.vms.map { VMView($0, state: state) }
    }

    public func vm(_ id: VMID) throws -> VMView {
        let state = try state()
        guard let vm = state.vm(id) else { throw NotFound(kind: "VM", id: id.value) }
        return VMView(vm, state: state)
    }

    public func add(_ vm: VM, actor: String) async throws -> VMView {
        let current = try store.vms()
        try checkConflicts(of: vm, with: current)
        let next = try state(vms: current + [vm])
        try await kernel.apply(next)
        do {
            try store.add(vm, actor: actor, at: clock())
        } catch {
            try? await kernel.apply(try state())
            throw error
        }
        return VMView(vm, state: next)
    }

    public func remove(_ id: VMID, actor: String) async throws -> VM {
        let current = try store.vms()
        guard current.contains(where: { $0.id == id }) else { throw NotFound(kind: "VM", id: id.value) }
        try await kernel.apply(try state(vms: current.filter { $0.id != id }))
        do {
            return try store.removeVM(id, actor: actor, at: clock())
        } catch {
            try? await kernel.apply(try state())
            throw error
        }
    }

    // MARK: Exemptions

    public func exemptions() throws -> [Exemption] {
        try store.exemptions().filter { $0.isActive(at: clock()) }
    }

    public func grant(_ request: ExemptionRequest, actor: String) async throws -> Exemption {
        let now = clock()
        guard let vm = try store.vm(request.vm) else { throw NotFound(kind: "VM", id: request.vm.value) }
        let id = "ex-" + UUID().uuidString.prefix(8).lowercased()
        let exemption = try request.grant(to: vm, policy: policy, by: actor, id: id, now: now)
        let current = try store.exemptions()
        try await kernel.apply(try state(exemptions: current + [exemption]))
        do {
            try store.add(exemption, actor: actor, at: now)
        } catch {
            try? await kernel.apply(try state())
            throw error
        }
        return exemption
    }

    public func revoke(_ id: String, actor: String) async throws -> Exemption {
        let current = try store.exemptions()
        guard current.contains(where: { $0.id == id }) else { throw NotFound(kind: "exemption", id: id) }
        try await kernel.apply(try state(exemptions: current.filter { $0.id != id }))
        do {
            return try store.revokeExemption(id, actor: actor, at: clock())
        } catch {
            try? await kernel.apply(try state())
            throw error
        }
    }

    // MARK: Questions

    public func explain(vm id: VMID, flow: Flow) throws -> Explanation {
        let state = try state()
        guard let vm = state.vm(id) else { throw NotFound(kind: "VM", id: id.value) }
        return PortcullisCore.explain(vm: vm, flow: flow, in: state)
    }

    public func plan(needs: [Need]) -> DeploymentPlan {
        PortcullisCore.plan(needs: needs, policy: policy)
    }

    public func audit(limit: Int) throws -> [AuditEntry] {
        try store.auditLog(limit: limit)
    }

    public func ruleset() async -> String? {
        await kernel.listing()
    }

    public func status() async throws -> StatusReport {
        let state = try state()
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
            failedTransactions: samples.failures
        )
    }

    /// Prometheus text exposition.
    public func metrics() async throws -> String {
        let state = try state()
        let samples = await kernel.samples()
        return MetricsRenderer.render(state: state, samples: samples)
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

    enum CodingKeys: String, CodingKey {
        case site, vms, repairs
        case restrictedVMs = "restricted_vms"
        case activeExemptions = "active_exemptions"
        case restrictedPorts = "restricted_tcp_ports"
        case lastReconcile = "last_reconcile"
        case lastDrift = "last_drift"
        case failedTransactions = "failed_transactions"
    }
}
