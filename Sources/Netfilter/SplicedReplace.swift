import RulesetCompiler

/// A full replace in the form the enforcer loads it: the script libnftables parses (tables,
/// chains, rules, and the elements of the small or timed sets) and the netlink messages for
/// the elements of the per-VM identity sets, which are most of a large host's ruleset.
/// Both go to the kernel in one transaction (`Nftables.run(_:splicing:)`).
struct SplicedReplace {
    let script: String
    let messages: SetElementMessages

    init(_ ruleset: Ruleset) {
        var messages = SetElementMessages()
        var spliced: Set<SetRef> = []
        for set in ruleset.staticSets {
            guard let layout = ElementLayout.of(set), let items = ruleset.elements[set], !items.isEmpty,
                  items.values.allSatisfy({ $0 == nil }) else { continue }
            if messages.append(set, layout: layout, items: items.keys) { spliced.insert(set) }
        }
        script = ruleset.replaceScript(leavingOut: spliced)
        self.messages = messages
    }
}

/// How a full replace reached the kernel.
public enum ReplacePath: Sendable, Equatable {
    /// Script and element messages in one transaction.
    case spliced(messages: Int, elements: Int)
    /// The whole ruleset as text, because splicing failed for `reason` (nothing of the
    /// spliced attempt was committed, unless libnftables committed without the messages,
    /// which the text load then repaired at once).
    case text(reason: String)
}

extension Nftables {
    /// Atomically replaces our tables with `ruleset`: spliced when possible, else as text.
    /// Throws `NftError` only when the text load is refused too; then nothing changed.
    public mutating func replace(with ruleset: Ruleset) throws(NftError) -> ReplacePath {
        let load = SplicedReplace(ruleset)
        do throws(SpliceFailure) {
            try run(load.script, splicing: load.messages)
            return .spliced(messages: Int(load.messages.count), elements: load.messages.elements)
        } catch {
            try run(ruleset.replaceScript())
            let reason = error.committedWithoutMessages ? "\(error) (the text load replaced that commit)" : "\(error)"
            return .text(reason: reason)
        }
    }
}
