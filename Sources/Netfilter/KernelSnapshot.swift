import Foundation
import PortcullisCore
import RulesetCompiler

/// What the kernel holds in our tables, read back through libnftables' JSON output.
struct KernelSnapshot {
    /// Table comment per family that exists.
    var tables: [NftFamily: String] = [:]
    /// Rule count per chain, keyed "family/chain".
    var rulesPerChain: [String: Int] = [:]
    /// Element count per set (only filled by a deep read).
    var elementCounts: [SetRef: Int] = [:]
    /// Keys of the exempt sets, "ifname . port" (only filled by a deep read).
    var exemptKeys: [NftFamily: Set<String>] = [:]
    /// Elements of the per-VM identity sets (those with an `ElementLayout`), written as the
    /// compiler writes them, so that a swapped element is drift even when the count is right
    /// (only filled by a deep read). An element that cannot be read back is kept as
    /// `unreadableElement`, which no compiled element equals.
    var identityElements: [SetRef: Set<String>] = [:]

    static let unreadableElement = "<unreadable>"

    /// Parses `nft -j list table ...` output (several documents may be concatenated).
    mutating func absorb(json text: String) {
        for object in Self.objects(in: text) {
            if let table = object["table"] as? [String: Any], let family = (table["family"] as? String).flatMap(NftFamily.init) {
                tables[family] = table["comment"] as? String ?? ""
            } else if let chain = object["chain"] as? [String: Any], let family = chain["family"] as? String, let name = chain["name"] as? String {
                rulesPerChain["\(family)/\(name)", default: 0] += 0
            } else if let rule = object["rule"] as? [String: Any], let family = rule["family"] as? String, let name = rule["chain"] as? String {
                rulesPerChain["\(family)/\(name)", default: 0] += 1
            } else if let set = (object["set"] ?? object["map"]) as? [String: Any], let family = (set["family"] as? String).flatMap(NftFamily.init),
                      let name = set["name"] as? String {
                let elements = set["elem"] as? [Any] ?? []
                let ref = SetRef(family, name)
                elementCounts[ref] = elements.count
                if let layout = ElementLayout.of(ref) {
                    identityElements[ref] = Set(elements.map { Self.element($0, layout: layout) ?? Self.unreadableElement })
                }
                if name == "exempt" {
                    // An element about to expire may outlive the store's record by a second
                    // (timeouts are rounded up); it is no drift.
                    exemptKeys[family] = Set(elements.filter { Self.expires($0).map { $0 > 3 } ?? true }.compactMap(Self.concatKey))
                }
            }
        }
    }

    /// The `"ifname" . port` key of an element such as {"elem": {"val": {"concat": ["tap1", 25]}, ...}}.
    static func concatKey(_ element: Any) -> String? {
        var value: Any? = element
        if let wrapped = (element as? [String: Any])?["elem"] as? [String: Any] { value = wrapped["val"] }
        guard let parts = (value as? [String: Any])?["concat"] as? [Any], parts.count == 2,
              let name = parts[0] as? String, let port = parts[1] as? Int else { return nil }
        return "\"\(name)\" . \(port)"
    }

    /// An identity set's element from the JSON listing, as the compiler writes it: `"tap1"`,
    /// `"tap1" . 02:00:00:00:00:01`, `"tap1" . 0x2001…` (raw-payload integers, which the
    /// listing gives as a hex string, or as a signed 64-bit number when they fit), and for a
    /// map `key : value`. Nil when the element is not of the layout's form.
    static func element(_ element: Any, layout: ElementLayout) -> String? {
        var key = element
        var value: Any?
        if layout.data != nil {
            guard let pair = element as? [Any], pair.count == 2 else { return nil }
            (key, value) = (pair[0], pair[1])
        }
        if let wrapped = (key as? [String: Any])?["elem"] as? [String: Any], let inner = wrapped["val"] { key = inner }
        let parts: [Any] = layout.key.count == 1 ? [key] : ((key as? [String: Any])?["concat"] as? [Any] ?? [])
        guard parts.count == layout.key.count else { return nil }
        var fields: [String] = []
        for (field, part) in zip(layout.key, parts) {
            guard let text = Self.field(field, part) else { return nil }
            fields.append(text)
        }
        var text = fields.joined(separator: " . ")
        if let data = layout.data {
            guard let value, let rendered = Self.field(data, value) else { return nil }
            text += " : " + rendered
        }
        return text
    }

    private static func field(_ field: ElementLayout.Field, _ value: Any) -> String? {
        switch field {
        case .ifname:
            return (value as? String).map { "\"\($0)\"" }
        case .etherAddress, .ipv4Address:
            return value as? String
        case .integer(let bytes):
            var digits: String
            if let text = value as? String, text.hasPrefix("0x") {
                digits = String(text.dropFirst(2)).lowercased()
            } else if let number = value as? Int {
                digits = String(UInt64(bitPattern: Int64(number)), radix: 16)
            } else {
                return nil
            }
            guard digits.count <= bytes * 2, digits.allSatisfy(\.isHexDigit) else { return nil }
            digits = String(repeating: "0", count: bytes * 2 - digits.count) + digits
            return "0x" + digits
        }
    }

    /// Seconds until a timed element expires, when the listing says.
    static func expires(_ element: Any) -> Double? {
        guard let elem = (element as? [String: Any])?["elem"] as? [String: Any] else { return nil }
        return (elem["expires"] as? Double) ?? (elem["expires"] as? Int).map(Double.init)
    }

    /// Counters of a dynamic counting set: key parts -> packets.
    static func counters(in text: String) -> [(name: String, code: Int, packets: Int)] {
        var result: [(String, Int, Int)] = []
        for object in objects(in: text) {
            guard let set = object["set"] as? [String: Any], let elements = set["elem"] as? [Any] else { continue }
            for element in elements {
                guard let elem = (element as? [String: Any])?["elem"] as? [String: Any],
                      let parts = (elem["val"] as? [String: Any])?["concat"] as? [Any], parts.count == 2,
                      let name = parts[0] as? String, let code = parts[1] as? Int,
                      let packets = (elem["counter"] as? [String: Any])?["packets"] as? Int else { continue }
                result.append((name, code, packets))
            }
        }
        return result
    }

    /// Elements of a first-contact set: interface, address, port, and the element's timeout
    /// and seconds left (so the last packet was `timeout - expires` seconds ago).
    static func contacts(in text: String) -> [(name: String, address: String, port: Int, timeout: Double, expires: Double)] {
        var result: [(String, String, Int, Double, Double)] = []
        for object in objects(in: text) {
            guard let set = object["set"] as? [String: Any], let elements = set["elem"] as? [Any] else { continue }
            let setTimeout = (set["timeout"] as? Double) ?? (set["timeout"] as? Int).map(Double.init) ?? 0
            for element in elements {
                guard let elem = (element as? [String: Any])?["elem"] as? [String: Any],
                      let parts = (elem["val"] as? [String: Any])?["concat"] as? [Any], parts.count == 3,
                      let name = parts[0] as? String, let address = parts[1] as? String, let port = parts[2] as? Int else { continue }
                let timeout = (elem["timeout"] as? Double) ?? (elem["timeout"] as? Int).map(Double.init) ?? setTimeout
                result.append((name, address, port, timeout, expires(element) ?? timeout))
            }
        }
        return result
    }

    /// The keys of a set listing's elements whose first part is `interface`, written as nft
    /// takes them in `delete element` (the interface quoted; addresses and ports as listed, and
    /// only if they are what they claim to be). Elements due to expire within `soon` seconds are
    /// left out: they go by themselves, and deleting one that is gone fails the whole batch.
    static func keys(in text: String, interface: String, soon: Double) -> [String] {
        var keys: [String] = []
        for object in objects(in: text) {
            guard let set = object["set"] as? [String: Any], let elements = set["elem"] as? [Any] else { continue }
            for element in elements {
                guard let elem = (element as? [String: Any])?["elem"] as? [String: Any] else { continue }
                if let left = expires(element), left < soon { continue }
                let parts: [Any] = ((elem["val"] as? [String: Any])?["concat"] as? [Any]) ?? [elem["val"] as Any]
                guard parts.first as? String == interface else { continue }
                var rendered = ["\"\(interface)\""]
                for part in parts.dropFirst() {
                    if let port = part as? Int, (0...65_535).contains(port) {
                        rendered.append(String(port))
                    } else if let text = part as? String, let address = try? IPAddress(parsing: text) {
                        rendered.append(address.description)
                    } else {
                        rendered = []
                        break
                    }
                }
                if !rendered.isEmpty { keys.append(rendered.joined(separator: " . ")) }
            }
        }
        return keys
    }

    static func objects(in text: String) -> [[String: Any]] {
        var result: [[String: Any]] = []
        for line in text.split(separator: "\n") where line.hasPrefix("{") {
            guard let document = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any],
                  let items = document["nftables"] as? [[String: Any]] else { continue }
            result.append(contentsOf: items)
        }
        return result
    }
}
