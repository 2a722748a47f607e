import Foundation
import Logging
import PortcullisCore
import RulesetCompiler

/// The only component that talks to netfilter. It keeps the kernel equal to the desired
/// state: element diffs for ordinary changes, an atomic replace of our own tables when the
/// skeleton changed or the kernel drifted. Never a flush, never another table.
public actor Enforcer {
    private var nft: Nftables
    private let logger: Logger
    /// The last ruleset the kernel accepted, and the state it was compiled from.
    private var applied: Ruleset?
    private var appliedState: DesiredState?
    /// Rule counts per chain of the last replace.
    private var expectedChains: [String: Int] = [:]
    /// Reads the kernel's ruleset generation; nil if it cannot be read (then every
    /// reconcile round compares, as if someone else had committed).
    private var generation: RulesetGeneration?
    /// The generation at which the kernel was last known to match `applied`: after our own
    /// commit (when no other commit came between) or after a comparison found no drift.
    private var matchedGeneration: UInt32?
    public private(set) var stats = EnforcerStats()

    public init(logger: Logger, dryRun: Bool = false) {
        self.nft = Nftables(dryRun: dryRun)
        self.logger = logger
        do {
            generation = try RulesetGeneration()
        } catch {
            generation = nil
            logger.warning("cannot read the nftables ruleset generation; the reconciler will compare the kernel every round",
                           metadata: ["error": "\(error.message)"])
        }
    }

    private func currentGeneration() -> UInt32? {
        try? generation?.current()
    }

    /// Runs a script that changes the kernel, keeping track of whether the kernel still
    /// matches what we loaded: only if the generation moved by exactly our own commit.
    private func commit(_ kind: String, _ script: String) throws(NftError) {
        try commit(kind) { () throws(NftError) in try nft.run(script) }
    }

    private func commit(_ kind: String, _ load: () throws(NftError) -> Void) throws(NftError) {
        let before = currentGeneration()
        try timed(kind, load)
        let after = currentGeneration()
        if let before, let after, matchedGeneration == before, after == before &+ 1 {
            matchedGeneration = after
        } else {
            matchedGeneration = nil
        }
    }

    /// Brings the kernel to `state`: an element diff when possible, else an atomic replace.
    /// With `changed`, only those VMs are recompiled (see `KernelEnforcing`). Throws
    /// `NftError` when the kernel refuses; then nothing changed.
    public func enforce(_ state: DesiredState, changed: Set<VMID>?) throws(NftError) {
        if applied != nil, let appliedState, let changed,
           let delta = RulesetCompiler.delta(from: appliedState, to: state, changed: changed) {
            if let script = delta.script { try commit("diff", script) }
            applied?.apply(delta)
            self.appliedState = state
            return
        }
        let ruleset = RulesetCompiler.compile(state)
        if let applied, ruleset.fingerprint == applied.fingerprint {
            if let script = ruleset.changes(from: applied) { try commit("diff", script) }
            self.applied = ruleset
        } else {
            try replace(with: ruleset)
        }
        self.appliedState = state
    }

    /// Atomically replaces our tables with `ruleset`.
    ///
    /// The per-VM identity sets go to the kernel as netlink messages spliced into
    /// libnftables' transaction (less than half the time at 10,000 VMs). If that cannot be
    /// done, the whole ruleset is loaded as text instead (`Nftables.replace(with:)`).
    private func replace(with ruleset: Ruleset) throws(NftError) {
        var path: ReplacePath?
        try commit("replace") { () throws(NftError) in path = try nft.replace(with: ruleset) }
        if case .text(let reason) = path {
            stats.spliceFallbacks += 1
            logger.warning("loaded the ruleset as text: the set elements could not be spliced into libnftables' transaction",
                           metadata: ["reason": "\(reason)"])
        }
        applied = ruleset
        expectedChains = ruleset.rulesPerChain
    }

    /// Compares the kernel with the last applied ruleset and repairs any drift (a foreign
    /// `nft flush ruleset`, a deleted rule or element). Returns the problem found, or nil.
    ///
    /// While the ruleset generation shows no commit but ours, the kernel cannot have
    /// drifted and nothing is listed. Once it moved, the comparison covers set contents
    /// too. `deep` forces a full comparison regardless (a periodic belt-and-braces check).
    @discardableResult
    public func repairDrift(_ state: DesiredState, changed: Set<VMID>?, deep: Bool) throws(NftError) -> String? {
        do {
            // A full round also recompiles everything, so that whatever the enforcer believes
            // it loaded is brought back to the desired state itself.
            try enforce(state, changed: deep ? nil : changed)
        } catch {
            // An element change the kernel refuses (our tables flushed, an element deleted
            // under us) must not stop the repair: replace the tables from the desired state.
            logger.warning("a change was refused; replacing our tables", metadata: ["error": "\(error.message)"])
            try replace(with: RulesetCompiler.compile(state))
            appliedState = state
            stats.repairs += 1
            return "a change was refused by the kernel: \(error.message.trimmingCharacters(in: .whitespacesAndNewlines))"
        }
        guard let applied else { return nil }
        let generationNow = currentGeneration()
        if !deep, let generationNow, generationNow == matchedGeneration { return nil }
        let full = deep || generationNow != nil
        var snapshot = KernelSnapshot()
        do {
            snapshot.absorb(json: try readTables(terse: !full))
        } catch {
            // A missing table makes the whole listing fail; that is drift too.
        }
        if let problem = drift(snapshot, against: applied, deep: full) {
            logger.warning("kernel drifted from the desired state; replacing our tables", metadata: ["problem": "\(problem)"])
            try replace(with: RulesetCompiler.compile(state))
            appliedState = state
            stats.repairs += 1
            return problem
        }
        matchedGeneration = generationNow
        return nil
    }

    private func drift(_ snapshot: KernelSnapshot, against ruleset: Ruleset, deep: Bool) -> String? {
        for family in NftFamily.allCases {
            guard snapshot.tables[family] != nil else { return "table \(family.rawValue) \(tableName) is missing" }
            guard snapshot.rulesPerChain["\(family.rawValue)/fingerprint_\(ruleset.fingerprint)"] != nil else {
                return "table \(family.rawValue) \(tableName) was not made from the current policy (fingerprint chain missing)"
            }
        }
        for (chain, count) in expectedChains where snapshot.rulesPerChain[chain] != count {
            return "chain \(chain) has \(snapshot.rulesPerChain[chain].map(String.init) ?? "no") rules, expected \(count)"
        }
        guard deep else { return nil }
        for (set, elements) in ruleset.elements where set.name != "exempt" {
            let found = snapshot.elementCounts[set] ?? -1
            if found != elements.count { return "set \(set) holds \(found) elements, expected \(elements.count)" }
        }
        // The identity sets by content: a swapped element keeps the count.
        for (set, kernel) in snapshot.identityElements {
            let wanted = ruleset.elements[set] ?? [:]
            if let stray = kernel.first(where: { wanted[$0] == nil }) {
                return "set \(set) holds \(stray), which no VM has"
            }
        }
        // Exemptions expire in the kernel by themselves; allow for a couple of seconds of skew.
        let now = Date()
        for family in [NftFamily.bridge, .inet] {
            let kernel = snapshot.exemptKeys[family] ?? []
            let wanted = ruleset.elements[SetRef(family, "exempt")] ?? [:]
            for key in kernel where wanted[key] == nil {
                return "set \(family.rawValue) \(tableName) exempt holds \(key), which no exemption grants"
            }
            for (key, expiry) in wanted where !kernel.contains(key) && (expiry ?? .distantFuture) > now.addingTimeInterval(2) {
                return "set \(family.rawValue) \(tableName) exempt lacks \(key)"
            }
        }
        return nil
    }

    private func readTables(terse: Bool) throws(NftError) -> String {
        // One command per run: libnftables 1.0.6 builds its cache for the first `list`
        // only, so several in one buffer fail with ENOENT.
        var output = ""
        for family in NftFamily.allCases {
            output += try nft.run("list table \(family.rawValue) \(tableName)", json: true, terse: terse) + "\n"
        }
        return output
    }

    /// The script a full replace would load (for `portcullis ruleset`).
    public func currentListing() -> String? { applied?.at(Date()).listing() }

    /// Per-interface drop counters by kind, and rejected connection attempts by port.
    public func counters() -> KernelCounters {
        var counters = KernelCounters()
        for family in NftFamily.allCases {
            if let text = try? nft.run("list set \(family.rawValue) \(tableName) drops", json: true) {
                for (name, code, packets) in KernelSnapshot.counters(in: text) {
                    guard let kind = DropKind(rawValue: code) else { continue }
                    counters.drops[DropKey(interface: name, kind: kind), default: 0] += packets
                }
            }
            if family != .arp, let text = try? nft.run("list set \(family.rawValue) \(tableName) rejected", json: true) {
                for (name, port, packets) in KernelSnapshot.counters(in: text) {
                    counters.rejected[RejectKey(interface: name, port: port), default: 0] += packets
                }
            }
        }
        return counters
    }

    @discardableResult
    private func timed<T>(_ kind: String, _ body: () throws(NftError) -> T) throws(NftError) -> T {
        let start = ContinuousClock.now
        do {
            let result = try body()
            let elapsed = ContinuousClock.now - start
            let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
            stats.record(kind: kind, seconds: seconds)
            logger.debug("applied ruleset change", metadata: ["kind": "\(kind)", "seconds": "\(seconds)"])
            return result
        } catch {
            stats.failures += 1
            logger.error("nftables refused a transaction; the previous ruleset stays in force",
                         metadata: ["error": "\(error.message)"])
            throw error
        }
    }
}

public struct DropKey: Hashable, Sendable {
    public let interface: String
    public let kind: DropKind
}

public struct RejectKey: Hashable, Sendable {
    public let interface: String
    public let port: Int
}

public struct KernelCounters: Sendable {
    public var drops: [DropKey: Int] = [:]
    public var rejected: [RejectKey: Int] = [:]
}

/// Apply latency and reconcile figures for /metrics.
public struct EnforcerStats: Sendable {
    public var applies: [String: Int] = [:]
    public var applySeconds: [String: Double] = [:]
    public var lastApplySeconds: Double = 0
    public var failures = 0
    public var repairs = 0
    public var spliceFallbacks = 0

    mutating func record(kind: String, seconds: Double) {
        applies[kind, default: 0] += 1
        applySeconds[kind, default: 0] += seconds
        lastApplySeconds = seconds
    }
}

extension Enforcer: KernelEnforcing {
    public func apply(_ state: DesiredState, changed: Set<VMID>?) async throws {
        try enforce(state, changed: changed)
    }

    public func reconcile(_ state: DesiredState, changed: Set<VMID>?, deep: Bool) async throws -> String? {
        try repairDrift(state, changed: changed, deep: deep)
    }

    public func listing() async -> String? { currentListing() }

    /// Counts the scan detector's set elements (a listing of at most 65,536 elements per set:
    /// done when metrics are scraped, not per packet or per offence).
    public func dynamicSetFill() async -> [SetFill] {
        var fill: [SetFill] = []
        for family in [NftFamily.bridge, .inet] {
            for set in ScanDetection.setNames {
                guard let text = try? nft.run("list set \(family.rawValue) \(tableName) \(set)", json: true) else { continue }
                var snapshot = KernelSnapshot()
                snapshot.absorb(json: text)
                fill.append(SetFill(family: family.rawValue, set: set, elements: snapshot.elementCounts[SetRef(family, set)] ?? 0,
                                    size: ScanDetection.setSize))
            }
        }
        return fill
    }

    /// Reads the scan detector's first-contact sets (bridge and inet, both address families)
    /// for one interface. The sets hold at most 65,536 elements each, so this is a bounded
    /// read, done once per scan offence, never per packet.
    public func firstContacts(interface: String) async -> [FirstContact] {
        let now = Date()
        var contacts: [FirstContact] = []
        for family in [NftFamily.bridge, .inet] {
            for set in ["scan_seen4", "scan_seen6"] {
                guard let text = try? nft.run("list set \(family.rawValue) \(tableName) \(set)", json: true) else { continue }
                for (name, address, port, timeout, expires) in KernelSnapshot.contacts(in: text) where name == interface {
                    contacts.append(FirstContact(address: address, port: port,
                                                 lastSeen: Date(timeIntervalSince1970: (now.timeIntervalSince1970 - (timeout - expires)).rounded())))
                }
            }
        }
        return contacts.sorted { ($0.lastSeen, $0.address, $0.port) < ($1.lastSeen, $1.address, $1.port) }
    }

    public func forgetDetectorState(interface: String) async -> Int {
        // An element can still expire between the listing and the delete (which then fails as a
        // whole): list again, a few times.
        for _ in 0..<3 {
            var commands: [String] = []
            var count = 0
            for family in [NftFamily.bridge, .inet] {
                for set in ScanDetection.setNames {
                    guard let text = try? nft.run("list set \(family.rawValue) \(tableName) \(set)", json: true) else { continue }
                    let keys = KernelSnapshot.keys(in: text, interface: interface, soon: 2)
                    guard !keys.isEmpty else { continue }
                    count += keys.count
                    commands.append("delete element \(family.rawValue) \(tableName) \(set) { \(keys.joined(separator: ", ")) }")
                }
            }
            guard !commands.isEmpty else { return 0 }
            let before = currentGeneration()
            do {
                _ = try nft.run(commands.joined(separator: "\n"))
            } catch {
                continue
            }
            // Our own commit: if the kernel matched the desired state before, it still does.
            if let before, matchedGeneration == before, currentGeneration() == before &+ 1 {
                matchedGeneration = before &+ 1
            }
            return count
        }
        logger.warning("could not clear the scan detector's memory of an interface", metadata: ["interface": "\(interface)"])
        return 0
    }

    public func samples() async -> KernelSamples {
        let counters = counters()
        return KernelSamples(
            drops: counters.drops.map { .init(interface: $0.key.interface, kind: $0.key.kind.description, packets: $0.value) },
            rejected: counters.rejected.map { .init(interface: $0.key.interface, port: $0.key.port, packets: $0.value) },
            applies: stats.applies, applySeconds: stats.applySeconds, failures: stats.failures, repairs: stats.repairs,
            textReplaces: stats.spliceFallbacks)
    }
}
