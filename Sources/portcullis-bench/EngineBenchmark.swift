import ControlAPI
import Foundation
import Netfilter
import Logging
import PortcullisCore
import Store

/// The daemon's own paths at 10,000 VMs, end to end below HTTP: the policy engine on a
/// SQLite file, the libnftables enforcer in the benchmark's namespace. Start (read the
/// store, compile, one replace), one VM added and removed (conflict check, element diff,
/// store write), exemption grant, and reconciler rounds.
enum EngineBenchmark {
    static func run(count: Int = 10_000) async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("pc-bench-\(getpid())")
        defer { try? FileManager.default.removeItem(at: directory) }
        let store = try SQLiteStore(path: directory.appendingPathComponent("state.db").path)
        try store.add((0..<count).map(SyntheticFleet.vm), actor: "bench")
        var logger = Logger(label: "bench")
        logger.logLevel = .error
        let enforcer = Enforcer(logger: logger)

        print("portcullis-bench: policy engine at \(count) VMs (SQLite file, libnftables)")
        var engine: PolicyEngine?
        let start = try await ApplyBenchmark.seconds {
            let created = try PolicyEngine(policy: SyntheticFleet.policy, store: store, kernel: enforcer)
            try await created.start()
            engine = created
        }
        guard let engine else { return }
        print("  start (read store, compile, one replace): \(ApplyBenchmark.ms(start))")

        var adds: [Double] = []
        var removes: [Double] = []
        for i in 0..<20 {
            let vm = SyntheticFleet.vm(30_000 + i)
            adds.append(try await ApplyBenchmark.seconds { _ = try await engine.add(vm, actor: "bench") })
            removes.append(try await ApplyBenchmark.seconds { _ = try await engine.remove(vm.id, actor: "bench") })
        }
        print("  one-VM add    (check, kernel diff, store): median \(ApplyBenchmark.ms(ApplyBenchmark.median(adds))), p95 \(ApplyBenchmark.ms(ApplyBenchmark.p95(adds)))")
        print("  one-VM remove (kernel diff, store):        median \(ApplyBenchmark.ms(ApplyBenchmark.median(removes))), p95 \(ApplyBenchmark.ms(ApplyBenchmark.p95(removes)))")

        var grants: [Double] = []
        let request = ExemptionRequest(vm: SyntheticFleet.vm(1).id, ports: PortSet([Port(25)!]), reason: "bench", expires: nil)
        for _ in 0..<10 {
            var granted: Exemption?
            grants.append(try await ApplyBenchmark.seconds { granted = try await engine.grant(request, actor: "bench") })
            _ = try await engine.revoke(granted!.id, actor: "bench")
        }
        print("  exemption grant: median \(ApplyBenchmark.ms(ApplyBenchmark.median(grants)))")

        var shallow: [Double] = []
        for _ in 0..<5 { shallow.append(try await ApplyBenchmark.seconds { _ = try await engine.reconcile(deep: false) }) }
        var deep: [Double] = []
        for _ in 0..<3 { deep.append(try await ApplyBenchmark.seconds { _ = try await engine.reconcile(deep: true) }) }
        print("  reconcile round: nobody else committed \(ApplyBenchmark.ms(ApplyBenchmark.median(shallow))), full comparison (all set contents) \(ApplyBenchmark.ms(ApplyBenchmark.median(deep)))")
    }
}
