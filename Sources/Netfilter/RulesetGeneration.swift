import Glibc

/// Reads the kernel's nftables ruleset generation: a counter the kernel bumps on every
/// committed transaction, whoever made it (NFT_MSG_GETGEN over NETLINK_NETFILTER).
///
/// It lets the reconciler skip the comparison of the kernel with the desired state while
/// nobody else has committed anything: listing our tables costs a second at 10,000 VMs,
/// reading the generation a few microseconds. libnftables has no call for it, so this is
/// the one place where Portcullis speaks netlink itself.
struct RulesetGeneration: ~Copyable {
    private let socketFD: Int32
    private var sequence: UInt32 = 0

    /// Netlink and nfnetlink constants from <linux/netlink.h>, <linux/netfilter/nfnetlink.h>
    /// and <linux/netfilter/nf_tables.h>.
    private static let netlinkNetfilter: Int32 = 12
    private static let subsystemNftables: UInt16 = 10
    private static let messageGetGeneration: UInt16 = 16
    private static let messageNewGeneration: UInt16 = 15
    private static let messageError: UInt16 = 2
    private static let flagRequest: UInt16 = 1
    private static let attributeGenerationID: UInt16 = 1

    init() throws(NftError) {
        let fd = socket(AF_NETLINK, Int32(SOCK_RAW.rawValue) | Int32(SOCK_CLOEXEC.rawValue), Self.netlinkNetfilter)
        guard fd >= 0 else { throw Self.failure("socket") }
        var timeout = timeval(tv_sec: 1, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        socketFD = fd
    }

    deinit { close(socketFD) }

    /// The current generation of the ruleset in this network namespace.
    mutating func current() throws(NftError) -> UInt32 {
        sequence &+= 1
        // nlmsghdr (16 bytes, host order) + nfgenmsg (family AF_UNSPEC, version 0, res_id 0).
        var request = [UInt8](repeating: 0, count: 20)
        Self.put(UInt32(20), into: &request, at: 0)
        Self.put(UInt16(Self.subsystemNftables << 8 | Self.messageGetGeneration), into: &request, at: 4)
        Self.put(Self.flagRequest, into: &request, at: 6)
        Self.put(sequence, into: &request, at: 8)
        guard send(socketFD, request, request.count, 0) == request.count else { throw Self.failure("send") }
        var reply = [UInt8](repeating: 0, count: 8192)
        while true {
            let count = recv(socketFD, &reply, reply.count, 0)
            guard count >= 0 else { throw Self.failure("recv") }
            guard count >= 20 else {
                throw NftError(message: "reading the ruleset generation failed: a \(count)-byte netlink reply", script: "")
            }
            let type = Self.read16(reply, at: 4)
            guard Self.read32(reply, at: 8) == sequence else { continue }  // a stale answer
            if type == Self.messageError {
                let code = Int32(bitPattern: Self.read32(reply, at: 16))
                throw NftError(message: "reading the ruleset generation failed: \(String(cString: strerror(-code)))", script: "")
            }
            guard type == Self.subsystemNftables << 8 | Self.messageNewGeneration else { continue }
            // Attributes after the 4-byte nfgenmsg: {len u16, type u16, value}, 4-byte aligned.
            var offset = 20
            let end = min(count, Int(Self.read32(reply, at: 0)))
            while offset + 4 <= end {
                let length = Int(Self.read16(reply, at: offset))
                guard length >= 4 else { break }
                if Self.read16(reply, at: offset + 2) & 0x3fff == Self.attributeGenerationID, length >= 8 {
                    return UInt32(bigEndian: Self.read32(reply, at: offset + 4))
                }
                offset += (length + 3) & ~3
            }
            throw NftError(message: "the kernel's generation message had no generation id", script: "")
        }
    }

    private static func failure(_ call: String) -> NftError {
        NftError(message: "reading the ruleset generation failed: \(call): \(String(cString: strerror(errno)))", script: "")
    }

    private static func put<T: FixedWidthInteger>(_ value: T, into bytes: inout [UInt8], at offset: Int) {
        withUnsafeBytes(of: value) { raw in
            for (i, byte) in raw.enumerated() { bytes[offset + i] = byte }
        }
    }

    /// Host byte order, as netlink headers are.
    private static func read16(_ bytes: [UInt8], at offset: Int) -> UInt16 {
        bytes.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: offset, as: UInt16.self) }
    }

    private static func read32(_ bytes: [UInt8], at offset: Int) -> UInt32 {
        bytes.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: offset, as: UInt32.self) }
    }
}
