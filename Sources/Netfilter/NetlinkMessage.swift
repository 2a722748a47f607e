import Glibc

/// One netlink request, built by hand: libnftables has no call for the ruleset generation and
/// the policy routing the SMTP relay needs is rtnetlink, so these are the two places where
/// Portcullis speaks netlink itself. Headers are in host byte order; attributes are
/// {length u16, type u16, value}, each padded to 4 bytes.
struct NetlinkMessage {
    static let flagRequest: UInt16 = 0x1
    static let flagAck: UInt16 = 0x4
    static let flagExclusive: UInt16 = 0x200
    static let flagCreate: UInt16 = 0x400
    static let flagReplace: UInt16 = 0x100
    static let typeError: UInt16 = 2

    private(set) var bytes: [UInt8]

    /// A message of `type` whose family header (rtmsg, fib_rule_hdr, nfgenmsg...) is `header`.
    init(type: UInt16, flags: UInt16, sequence: UInt32, header: [UInt8]) {
        bytes = [UInt8](repeating: 0, count: 16)
        Self.put(type, into: &bytes, at: 4)
        Self.put(flags, into: &bytes, at: 6)
        Self.put(sequence, into: &bytes, at: 8)
        bytes += header
        bytes += [UInt8](repeating: 0, count: (4 - bytes.count % 4) % 4)
        Self.put(UInt32(bytes.count), into: &bytes, at: 0)
    }

    mutating func append(attribute type: UInt16, _ value: UInt32) {
        var attribute = [UInt8](repeating: 0, count: 8)
        Self.put(UInt16(8), into: &attribute, at: 0)
        Self.put(type, into: &attribute, at: 2)
        Self.put(value, into: &attribute, at: 4)
        bytes += attribute
        Self.put(UInt32(bytes.count), into: &bytes, at: 0)
    }

    static func put<T: FixedWidthInteger>(_ value: T, into bytes: inout [UInt8], at offset: Int) {
        withUnsafeBytes(of: value) { raw in
            for (i, byte) in raw.enumerated() { bytes[offset + i] = byte }
        }
    }

    static func read16(_ bytes: [UInt8], at offset: Int) -> UInt16 {
        bytes.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: offset, as: UInt16.self) }
    }

    static func read32(_ bytes: [UInt8], at offset: Int) -> UInt32 {
        bytes.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: offset, as: UInt32.self) }
    }
}

/// A netlink socket that sends one request at a time and waits for its answer.
struct NetlinkSocket: ~Copyable {
    let fd: Int32
    private(set) var sequence: UInt32 = 0

    /// `protocol`: NETLINK_ROUTE (0), NETLINK_NETFILTER (12).
    init(protocol: Int32) throws(NetlinkError) {
        let fd = socket(AF_NETLINK, Int32(SOCK_RAW.rawValue) | Int32(SOCK_CLOEXEC.rawValue), `protocol`)
        guard fd >= 0 else { throw NetlinkError(call: "socket", code: errno) }
        var timeout = timeval(tv_sec: 1, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        self.fd = fd
    }

    deinit { close(fd) }

    mutating func nextSequence() -> UInt32 {
        sequence &+= 1
        return sequence
    }

    func send(_ message: NetlinkMessage) throws(NetlinkError) {
        guard Glibc.send(fd, message.bytes, message.bytes.count, 0) == message.bytes.count else {
            throw NetlinkError(call: "send", code: errno)
        }
    }

    /// Reads answers until one carries `sequence`; returns it (errors included: the caller
    /// decides what an error code means).
    func reply(to sequence: UInt32) throws(NetlinkError) -> [UInt8] {
        var buffer = [UInt8](repeating: 0, count: 8192)
        while true {
            let count = recv(fd, &buffer, buffer.count, 0)
            guard count >= 0 else { throw NetlinkError(call: "recv", code: errno) }
            guard count >= 16 else { throw NetlinkError(call: "recv", code: EPROTO) }
            if NetlinkMessage.read32(buffer, at: 8) == sequence { return Array(buffer[..<count]) }
        }
    }

    /// Sends a request with NLM_F_ACK and returns the kernel's answer code (0 or -errno).
    mutating func acknowledged(_ build: (UInt32) -> NetlinkMessage) throws(NetlinkError) -> Int32 {
        let sequence = nextSequence()
        try send(build(sequence))
        let answer = try reply(to: sequence)
        guard NetlinkMessage.read16(answer, at: 4) == NetlinkMessage.typeError, answer.count >= 20 else { return 0 }
        return Int32(bitPattern: NetlinkMessage.read32(answer, at: 16))
    }
}

/// A netlink call that failed, with the errno the kernel or libc gave.
struct NetlinkError: Error, CustomStringConvertible {
    let call: String
    let code: Int32
    var description: String { "\(call): \(String(cString: strerror(code)))" }
}
