import Foundation
import RulesetCompiler

let args = CommandLine.arguments
if args.count == 3, args[1] == "--dump", let n = Int(args[2]) {
    print(RulesetCompiler.compile(SyntheticFleet.state(count: n)).replaceScript())
    exit(0)
}
