import CNftablesBatch
import RulesetCompiler

/// `NFT_MSG_NEWSETELEM` netlink messages adding elements to our sets: what libnftables would
/// send for `add element …`, without parsing the text. They are spliced into libnftables'
/// own batch (see `Nftables.run(_:splicing:)`), so they commit with the tables they fill.
struct SetElementMessages {
    /// The messages, back to back, in host byte order as netlink wants.
    private(set) var bytes: [UInt8] = []
    /// How many messages `bytes` holds (their sequence numbers follow one another from
    /// `PORTCULLIS_SPLICE_SEQ_BASE`).
    private(set) var count: UInt32 = 0
    /// How many elements they add.
    private(set) var elements = 0

    /// The `nla_len` of the elements list is 16 bits: a message carries at most this many
    /// bytes of elements, then the set continues in the next message.
    static let maxElementBytes = 60_000

    /// Adds messages for `items` in `set`. Returns false, adding nothing, when an element
    /// does not have the layout's form (then the caller loads the set as text).
    mutating func append(_ set: SetRef, layout: ElementLayout, items: some Collection<String>) -> Bool {
        var keys: [UInt8] = []
        var values: [UInt8] = []
        keys.reserveCapacity(items.count * layout.keyLength)
        if let data = layout.data { values.reserveCapacity(items.count * data.length) }
        for item in items {
            guard layout.encode(item, key: &keys, data: &values) else { return false }
        }
        let keyLength = layout.keyLength
        let valueLength = layout.data?.length ?? 0
        let perElement = 4 + 4 + 4 + ElementLayout.paddedLength(keyLength)
            + (layout.data == nil ? 0 : 4 + 4 + ElementLayout.paddedLength(valueLength))
        let perMessage = max(1, Self.maxElementBytes / perElement)
        var index = 0
        while index < items.count {
            let end = min(items.count, index + perMessage)
            let message = beginMessage(family: set.family)
            putString(UInt16(NFTA_SET_ELEM_LIST_TABLE.rawValue), tableName)
            putString(UInt16(NFTA_SET_ELEM_LIST_SET.rawValue), set.name)
            let list = beginNest(UInt16(NFTA_SET_ELEM_LIST_ELEMENTS.rawValue))
            for i in index..<end {
                let element = beginNest(UInt16(NFTA_LIST_ELEM.rawValue))
                let key = beginNest(UInt16(NFTA_SET_ELEM_KEY.rawValue))
                putBytes(UInt16(NFTA_DATA_VALUE.rawValue), keys[(i * keyLength)..<((i + 1) * keyLength)])
                endNest(key)
                if valueLength > 0 {
                    let data = beginNest(UInt16(NFTA_SET_ELEM_DATA.rawValue))
                    putBytes(UInt16(NFTA_DATA_VALUE.rawValue), values[(i * valueLength)..<((i + 1) * valueLength)])
                    endNest(data)
                }
                endNest(element)
            }
            endNest(list)
            endMessage(message)
            index = end
        }
        elements += items.count
        return true
    }

    // MARK: - Netlink encoding

    private mutating func putU16(_ value: UInt16) {
        withUnsafeBytes(of: value) { bytes.append(contentsOf: $0) }
    }

    private mutating func putU32(_ value: UInt32) {
        withUnsafeBytes(of: value) { bytes.append(contentsOf: $0) }
    }

    private mutating func pad() {
        while bytes.count % 4 != 0 { bytes.append(0) }
    }

    private mutating func beginMessage(family: NftFamily) -> Int {
        let start = bytes.count
        putU32(0)  // nlmsg_len, set by endMessage
        putU16(UInt16(NFNL_SUBSYS_NFTABLES) << 8 | UInt16(NFT_MSG_NEWSETELEM.rawValue))
        putU16(UInt16(NLM_F_REQUEST | NLM_F_CREATE))
        putU32(PORTCULLIS_SPLICE_SEQ_BASE + count)
        putU32(0)  // nlmsg_pid: the kernel
        bytes.append(Self.protocolFamily(family))
        bytes.append(UInt8(NFNETLINK_V0))
        putU16(0)  // res_id
        count += 1
        return start
    }

    private mutating func endMessage(_ start: Int) {
        pad()
        setU32(UInt32(bytes.count - start), at: start)
    }

    private mutating func beginNest(_ type: UInt16) -> Int {
        let start = bytes.count
        putU16(0)
        putU16(type | UInt16(NLA_F_NESTED))
        return start
    }

    private mutating func endNest(_ start: Int) {
        setU16(UInt16(bytes.count - start), at: start)
    }

    private mutating func putString(_ type: UInt16, _ value: String) {
        let utf8 = Array(value.utf8) + [0]
        putU16(UInt16(4 + utf8.count))
        putU16(type)
        bytes.append(contentsOf: utf8)
        pad()
    }

    private mutating func putBytes(_ type: UInt16, _ value: ArraySlice<UInt8>) {
        putU16(UInt16(4 + value.count))
        putU16(type)
        bytes.append(contentsOf: value)
        pad()
    }

    private mutating func setU16(_ value: UInt16, at offset: Int) {
        withUnsafeBytes(of: value) { raw in
            for (i, byte) in raw.enumerated() { bytes[offset + i] = byte }
        }
    }

    private mutating func setU32(_ value: UInt32, at offset: Int) {
        withUnsafeBytes(of: value) { raw in
            for (i, byte) in raw.enumerated() { bytes[offset + i] = byte }
        }
    }

    static func protocolFamily(_ family: NftFamily) -> UInt8 {
        switch family {
        case .bridge: UInt8(PORTCULLIS_NFPROTO_BRIDGE)
        case .inet: UInt8(PORTCULLIS_NFPROTO_INET)
        case .arp: UInt8(PORTCULLIS_NFPROTO_ARP)
        }
    }
}
