import Foundation

/// A compiled desired state: the table skeleton (chains, rules, set declarations) and the
/// elements of every set. The skeleton depends only on the site policy; VMs and exemptions
/// live entirely in set elements, so changing one VM is an element change, never a reload.
public struct Ruleset: Sendable, Equatable {
    /// Table definitions without elements, one per family, in apply order.
    public let skeleton: [NftFamily: String]
    /// Elements per set. The value is the element's expiry (nil: until removed).
    public private(set) var elements: [SetRef: [String: Date?]]
    /// A fingerprint of the skeleton, stored as the tables' comment so the reconciler can
    /// tell a current table from a stale or foreign one without parsing rules.
    public let fingerprint: String
    /// The instant the timeouts were computed against.
    public private(set) var now: Date

    /// Sets whose content is checked by counting (every set except the packet-filled ones).
    public var staticSets: [SetRef] { elements.keys.sorted() }

    /// Rules per chain, keyed "family/chain", as the kernel holds them after a replace: one
    /// per rule line of the skeleton (hook declarations are not rules). The reconciler
    /// compares the kernel's counts with these to notice a flushed chain or a deleted rule.
    public var rulesPerChain: [String: Int] {
        var counts: [String: Int] = [:]
        for (family, text) in skeleton {
            var chain: String?
            for line in text.split(separator: "\n") {
                let words = line.split(separator: " ")
                if words.count == 3, words[0] == "chain", words[2] == "{" {
                    chain = "\(family.rawValue)/\(words[1])"
                    counts[chain!] = 0
                } else if words == ["}"] {
                    chain = nil
                } else if let chain, let first = words.first, first != "type" {
                    counts[chain, default: 0] += 1
                }
            }
        }
        return counts
    }

    /// Applies `delta` in place (the elements are not copied when this value holds the
    /// only reference, which is what keeps a one-VM change cheap at 10,000 VMs).
    public mutating func apply(_ delta: RulesetDelta) {
        for (set, items) in delta.before {
            for key in items.keys { elements[set]?[key] = nil }
        }
        for (set, items) in delta.after {
            elements[set, default: [:]].merge(items) { _, new in new }
        }
        now = delta.now
    }

    /// The same ruleset with its timeouts counted from `now`, and without the timed
    /// elements that have expired by then (the kernel has dropped them already). A replace
    /// long after compiling must not hand an exemption its original length again.
    public func at(_ now: Date) -> Ruleset {
        var current = elements
        for (set, items) in elements where items.values.contains(where: { $0 != nil }) {
            current[set] = items.filter { _, expiry in expiry.map { $0 > now } ?? true }
        }
        return Ruleset(skeleton: skeleton, elements: current, fingerprint: fingerprint, now: now)
    }

    /// One nft script that atomically replaces our tables with this ruleset: it creates each
    /// table if missing, deletes it and defines it anew in the same transaction, so the
    /// kernel never sees a moment without the restrictions, and no other table is touched.
    /// `leavingOut` names sets whose elements the caller loads by other means in the same
    /// transaction (see `ElementLayout`).
    public func replaceScript(leavingOut: Set<SetRef> = []) -> String {
        var out = ""
        for family in NftFamily.allCases {
            guard let skeleton = skeleton[family] else { continue }
            out += "table \(family.rawValue) \(tableName)\n"
            out += "delete table \(family.rawValue) \(tableName)\n"
            out += skeleton
        }
        for set in staticSets where !leavingOut.contains(set) {
            let items = elements[set] ?? [:]
            guard !items.isEmpty else { continue }
            out += "add element \(set.family.rawValue) \(tableName) \(set.name) { "
            out += items.keys.sorted().map { Self.render($0, expiry: items[$0] ?? nil, now: now) }.joined(separator: ", ")
            out += " }\n"
        }
        return out
    }

    /// The element changes that turn `old` into this ruleset, as one nft script (one
    /// transaction), or nil when nothing changed or the skeletons differ (then replace).
    public func changes(from old: Ruleset) -> String? {
        guard old.fingerprint == fingerprint else { return nil }
        return Self.diffScript(before: old.elements, after: elements, now: now)
    }

    /// One nft script (one transaction) that turns the elements `before` into `after`,
    /// or nil when they are equal. Deletions come first, so a changed key is re-added.
    static func diffScript(before: [SetRef: [String: Date?]], after: [SetRef: [String: Date?]], now: Date) -> String? {
        var deletes = ""
        var adds = ""
        for set in Set(before.keys).union(after.keys).sorted() {
            let old = before[set] ?? [:]
            let new = after[set] ?? [:]
            // A timed element the kernel has expired (or will within a second) is not deleted:
            // deleting an element that is already gone makes the whole transaction fail.
            let removed = old.keys.filter { key in
                guard new[key] == nil || new[key]! != old[key]! else { return false }
                if let expiry = old[key]!, expiry <= now.addingTimeInterval(1) { return false }
                return true
            }.sorted()
            let added = new.keys.filter { key in old[key] == nil || old[key]! != new[key]! }.sorted()
            if !removed.isEmpty {
                deletes += "delete element \(set.family.rawValue) \(tableName) \(set.name) { \(removed.joined(separator: ", ")) }\n"
            }
            if !added.isEmpty {
                adds += "add element \(set.family.rawValue) \(tableName) \(set.name) { "
                adds += added.map { render($0, expiry: new[$0] ?? nil, now: now) }.joined(separator: ", ")
                adds += " }\n"
            }
        }
        let script = deletes + adds
        return script.isEmpty ? nil : script
    }

    /// Human-readable ruleset for `portcullis ruleset`: skeleton and elements together.
    public func listing() -> String {
        replaceScript()
    }

    private static func render(_ key: String, expiry: Date?, now: Date) -> String {
        guard let expiry else { return key }
        let seconds = max(1, Int((expiry.timeIntervalSince(now)).rounded(.up)))
        return "\(key) timeout \(seconds)s"
    }
}

/// The elements some VMs had and have: what a change of those VMs does to a ruleset.
public struct RulesetDelta: Sendable, Equatable {
    var before: [SetRef: [String: Date?]] = [:]
    var after: [SetRef: [String: Date?]] = [:]
    let now: Date

    init(now: Date) { self.now = now }

    /// The nft script for this change (one transaction), or nil when nothing changes.
    public var script: String? { Ruleset.diffScript(before: before, after: after, now: now) }
}
