import Foundation

/// A compiled desired state: the table skeleton (chains, rules, set declarations) and the
/// elements of every set. The skeleton depends only on the site policy; VMs and exemptions
/// live entirely in set elements, so changing one VM is an element change, never a reload.
public struct Ruleset: Sendable, Equatable {
    /// Table definitions without elements, one per family, in apply order.
    public let skeleton: [NftFamily: String]
    /// Elements per set. The value is the element's expiry (nil: until removed).
    public let elements: [SetRef: [String: Date?]]
    /// A fingerprint of the skeleton, stored as the tables' comment so the reconciler can
    /// tell a current table from a stale or foreign one without parsing rules.
    public let fingerprint: String
    /// The instant the timeouts were computed against.
    public let now: Date

    /// Sets whose content is checked by counting (every set except the packet-filled ones).
    public var staticSets: [SetRef] { elements.keys.sorted() }

    /// One nft script that atomically replaces our tables with this ruleset: it creates each
    /// table if missing, deletes it and defines it anew in the same transaction, so the
    /// kernel never sees a moment without the restrictions, and no other table is touched.
    public func replaceScript() -> String {
        var out = ""
        for family in NftFamily.allCases {
            guard let skeleton = skeleton[family] else { continue }
            out += "table \(family.rawValue) \(tableName)\n"
            out += "delete table \(family.rawValue) \(tableName)\n"
            out += skeleton
        }
        for set in staticSets {
            let items = elements[set] ?? [:]
            guard !items.isEmpty else { continue }
            out += "add element \(set.family.rawValue) \(tableName) \(set.name) { "
            out += items.keys.sorted().map { render($0, expiry: items[$0] ?? nil) }.joined(separator: ", ")
            out += " }\n"
        }
        return out
    }

    /// The element changes that turn `old` into this ruleset, as one nft script (one
    /// transaction), or nil when nothing changed or the skeletons differ (then replace).
    public func changes(from old: Ruleset) -> String? {
        guard old.fingerprint == fingerprint else { return nil }
        var deletes = ""
        var adds = ""
        for set in Set(elements.keys).union(old.elements.keys).sorted() {
            let before = old.elements[set] ?? [:]
            let after = elements[set] ?? [:]
            // A timed element the kernel has expired (or will within a second) is not deleted:
            // deleting an element that is already gone makes the whole transaction fail.
            let removed = before.keys.filter { key in
                guard after[key] == nil || after[key]! != before[key]! else { return false }
                if let expiry = before[key]!, expiry <= now.addingTimeInterval(1) { return false }
                return true
            }.sorted()
            let added = after.keys.filter { key in before[key] == nil || before[key]! != after[key]! }.sorted()
            if !removed.isEmpty {
                deletes += "delete element \(set.family.rawValue) \(tableName) \(set.name) { \(removed.joined(separator: ", ")) }\n"
            }
            if !added.isEmpty {
                adds += "add element \(set.family.rawValue) \(tableName) \(set.name) { "
                adds += added.map { render($0, expiry: after[$0] ?? nil) }.joined(separator: ", ")
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

    private func render(_ key: String, expiry: Date?) -> String {
        guard let expiry else { return key }
        let seconds = max(1, Int((expiry.timeIntervalSince(now)).rounded(.up)))
        return "\(key) timeout \(seconds)s"
    }
}
