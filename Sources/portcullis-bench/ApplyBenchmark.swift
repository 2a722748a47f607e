import Foundation
import Netfilter
import PortcullisCore
import RulesetCompiler

/// Full apply and one-VM change, ours against the one-process-per-rule baseline, in the
/// same run. Prints figures and ratios; asserts nothing (targets are read by a person).
enum ApplyBenchmark {
    static func seconds(_ body: () throws -> Void) rethrows -> Double {
        let start = ContinuousClock.now
        try body()
        return elapsed(since: start)
    }

    static func seconds(_ body: () async throws -> Void) async rethrows -> Double {
        let start = ContinuousClock.now
        try await body()
        return elapsed(since: start)
    }

    static func elapsed(since start: ContinuousClock.Instant) -> Double {
        let d = ContinuousClock.now - start
        return Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18
    }

    static func median(_ values: [Double]) -> Double { values.sorted()[values.count / 2] }
    static func p95(_ values: [Double]) -> Double { values.sorted()[min(values.count - 1, Int(Double(values.count) * 0.95))] }
    static func ms(_ s: Double) -> String { String(format: "%.2f ms", s * 1000) }

    static func run() {
        var nft = Nftables()
        print("portcullis-bench: nftables apply (median of 5 unless noted)")
        var ours: [Int: Double] = [:]
        for count in [1_000, 10_000] {
            let state = SyntheticFleet.state(count: count)
            var compile: [Double] = []
            var ruleset: Ruleset?
            for _ in 0..<5 { compile.append(seconds { ruleset = RulesetCompiler.compile(state) }) }
            let script = ruleset!.replaceScript()
            var apply: [Double] = []
            var text: [Double] = []
            var path: ReplacePath?
            for _ in 0..<5 {
                apply.append(seconds { path = try! nft.replace(with: ruleset!) })
                text.append(seconds { try! nft.run(script) })
            }
            let elements = ruleset!.elements.values.reduce(0) { $0 + $1.count }
            ours[count] = median(apply)
            print("  ours    full apply   \(count) VMs: \(ms(median(apply))) (compile \(ms(median(compile))), \(elements) set elements, one transaction, \(path!))")
            print("  ours    full apply   \(count) VMs, all as libnftables text: \(ms(median(text)))")
        }
        let undeclared = RulesetCompiler.compile(SyntheticFleet.state(count: 10_000, declared: false))
        var undeclaredApply: [Double] = []
        for _ in 0..<5 { undeclaredApply.append(seconds { _ = try! nft.replace(with: undeclared) }) }
        print("  ours    full apply   10000 VMs, attachment not declared: \(ms(median(undeclaredApply))) (\(undeclared.elements.values.reduce(0) { $0 + $1.count }) set elements)")

        // One VM added to / removed from a 10,000-VM host: an element diff.
        let base = RulesetCompiler.compile(SyntheticFleet.state(count: 10_000))
        _ = try! nft.replace(with: base)
        var adds: [Double] = []
        var removes: [Double] = []
        for i in 0..<20 {
            let extra = SyntheticFleet.vm(20_000 + i)
            let grown = RulesetCompiler.compile(SyntheticFleet.state(count: 10_000, extra: [extra]))
            let add = grown.changes(from: base)!
            let remove = base.changes(from: grown)!
            adds.append(seconds { try! nft.run(add) })
            removes.append(seconds { try! nft.run(remove) })
        }
        print("  ours    one-VM add    at 10000 VMs: median \(ms(median(adds))), p95 \(ms(p95(adds))) (20 runs)")
        print("  ours    one-VM remove at 10000 VMs: median \(ms(median(removes))), p95 \(ms(p95(removes)))")
        try! nft.run(NftFamily.allCases.map { "delete table \($0.rawValue) \(tableName)" }.joined(separator: "\n"))

        // Baseline: one nft process per rule, one jump rule per VM.
        let vms = (0..<1_000).map(SyntheticFleet.vm)
        var commands = LinearBaseline.prologue
        for vm in vms { commands += LinearBaseline.commands(for: vm, policy: SyntheticFleet.policy) }
        let baseline = seconds { LinearBaseline.run(commands) }
        let oneVM = LinearBaseline.commands(for: SyntheticFleet.vm(20_000), policy: SyntheticFleet.policy)
        let baselineAdd = seconds { LinearBaseline.run(oneVM) }
        try! nft.run("delete table inet \(LinearBaseline.table)")
        print("  baseline full apply    1000 VMs: \(ms(baseline)) (\(commands.count) nft processes, one run)")
        print("  baseline one-VM add at 1000 VMs: \(ms(baselineAdd)) (\(oneVM.count) nft processes)")
        print(String(format: "  ratio   full apply at 1000 VMs: ours is %.0fx faster than the baseline", baseline / ours[1_000]!))
        print(String(format: "  ratio   one-VM add: ours (10000 VMs) is %.0fx faster than the baseline (1000 VMs)", baselineAdd / median(adds)))
        print("  targets: 10000-VM apply <= 300 ms, one-VM change <= 5 ms, >= 300x the baseline at 1000 VMs")
    }
}
