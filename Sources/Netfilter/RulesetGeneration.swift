import Glibc

/// Reads the kernel's nftables ruleset generation: a counter the kernel bumps on every
/// committed transaction, whoever made it (NFT_MSG_GETGEN over NETLINK_NETFILTER).
///
/// It lets the reconciler skip the comparison of the kernel with the desired state while
/// nobody else has committed anything: listing our tables costs a second at 10,000 VMs,
/// reading the generation a few microseconds. libnftables has no call for it.
struct RulesetGeneration: ~Copyable {
    private var socket: NetlinkSocket

    /// Constants from <linux/netfilter/nfnetlink.h> and <linux/netfilter/nf_tables.h>.
    private static let netlinkNetfilter: Int32 = 12
    private static let subsystemNftables: UInt16 = 10
    private static let messageGetGeneration: UInt16 = 16
    private static let messageNewGeneration: UInt16 = 15
    private static let attributeGenerationID: UInt16 = 1

    init() throws(NftError) {
        do {
            socket = try NetlinkSocket(protocol: Self.netlinkNetfilter)
        } catch {
            throw Self.failure(error)
        }
    }

    /// The current generation of the ruleset in this network namespace.
    mutating func current() throws(NftError) -> UInt32 {
        let sequence = socket.nextSequence()
        // nfgenmsg: family AF_UNSPEC, version 0, res_id 0.
        let request = NetlinkMessage(type: Self.subsystemNftables << 8 | Self.messageGetGeneration,
                                     flags: NetlinkMessage.flagRequest, sequence: sequence, header: [0, 0, 0, 0])
        let reply: [UInt8]
        do {
            try socket.send(request)
            reply = try socket.reply(to: sequence)
        } catch {
            throw Self.failure(error)
        }
        guard reply.count >= 20 else {
            throw NftError(message: "reading the ruleset generation failed: a \(reply.count)-byte netlink reply", script: "")
        }
        let type = NetlinkMessage.read16(reply, at: 4)
        if type == NetlinkMessage.typeError {
            let code = Int32(bitPattern: NetlinkMessage.read32(reply, at: 16))
            throw NftError(message: "reading the ruleset generation failed: \(String(cString: strerror(-code)))", script: "")
        }
        guard type == Self.subsystemNftables << 8 | Self.messageNewGeneration else {
            throw NftError(message: "reading the ruleset generation failed: unexpected netlink message type \(type)", script: "")
        }
        // Attributes after the 4-byte nfgenmsg.
        var offset = 20
        let end = min(reply.count, Int(NetlinkMessage.read32(reply, at: 0)))
        while offset + 4 <= end {
            let length = Int(NetlinkMessage.read16(reply, at: offset))
            guard length >= 4 else { break }
            if NetlinkMessage.read16(reply, at: offset + 2) & 0x3fff == Self.attributeGenerationID, length >= 8 {
                return UInt32(bigEndian: NetlinkMessage.read32(reply, at: offset + 4))
            }
            offset += (length + 3) & ~3
        }
        throw NftError(message: "the kernel's generation message had no generation id", script: "")
    }

    private static func failure(_ error: NetlinkError) -> NftError {
        NftError(message: "reading the ruleset generation failed: \(error)", script: "")
    }
}
