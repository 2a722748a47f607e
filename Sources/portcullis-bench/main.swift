import Foundation
import Netfilter
import PortcullisCore
import RulesetCompiler

// Benchmark of the kernel side, run by bench/run inside a throwaway network namespace.
//   portcullis-bench apply              full apply at 1,000/10,000 VMs, one-VM change, baseline, ratios
//   portcullis-bench engine             the policy engine end to end at 10,000 VMs (add, remove, reconcile)
//   portcullis-bench emit N [--linear]  print the ruleset for N VMs (bench/forwarding.sh loads it)

let args = Array(CommandLine.arguments.dropFirst())

switch args.first {
case "emit":
    guard args.count >= 2, let count = Int(args[1]) else { fatalError("usage: portcullis-bench emit N [--linear]") }
    let labVM = try! VM(id: "lab", tenant: "t", contact: nil, interface: "vmbench0", mac: "02:00:00:00:bb:01",
                        ipv4: ["100.127.0.10"], ipv6: [], allowedSources: [], routed: true)
    if args.contains("--linear") {
        print(LinearBaseline.script(vms: (0..<(count - 1)).map(SyntheticFleet.vm) + [labVM], policy: SyntheticFleet.policy))
    } else {
        print(RulesetCompiler.compile(SyntheticFleet.state(count: count - 1, extra: [labVM])).replaceScript())
    }
case "apply":
    ApplyBenchmark.run()
case "engine":
    try await EngineBenchmark.run()
case nil:
    ApplyBenchmark.run()
    try await EngineBenchmark.run()
default:
    fatalError("usage: portcullis-bench [apply | engine | emit N [--linear]]")
}
