import CNetfilterLog
import Foundation
import Glibc

/// One packet the ruleset logged to an NFLOG group: its prefix (which detector), the VM's
/// interface, and the first bytes of the packet (the evidence).
public struct NflogEvent: Sendable, Hashable {
    public let prefix: String
    /// The bridge port for bridged frames (physical input device), else the input interface.
    public let interface: String?
    /// The network-layer packet (IPv4 or IPv6 header onwards), cut to what the rule copied.
    public let packet: [UInt8]
    /// The frame's source MAC address, when the kernel reported one (bridged and VM-port input).
    public let sourceMAC: String?
    public let time: Date

    public init(prefix: String, interface: String?, packet: [UInt8], sourceMAC: String? = nil, time: Date) {
        self.prefix = prefix
        self.interface = interface
        self.packet = packet
        self.sourceMAC = sourceMAC
        self.time = time
    }

    /// One line describing the packet for a case: who it claimed to be and where it went, e.g.
    /// `MAC 02:00:00:00:02:01, IPv4 TCP 198.51.100.66:1234 -> 198.51.100.1:443` or `ARP reply: 203.0.113.7 is at
    /// 02:00:00:00:02:01`. Only header fields, never payload.
    public var summary: String {
        let frame = sourceMAC.map { "MAC \($0), " } ?? ""
        guard let first = packet.first else { return frame + "(no packet bytes)" }
        if first >> 4 == 4, packet.count >= 20 {
            // Ports only where the header says they are: a valid header length, and the first
            // fragment (a later fragment's bytes there are payload).
            let headerLength = Int(first & 0x0f) * 4
            let fragmentOffset = (UInt16(packet[6]) << 8 | UInt16(packet[7])) & 0x1fff
            return frame + "IPv4 " + Self.transport(protocol: packet[9], source: Self.ipv4(packet[12..<16]),
                                                     destination: Self.ipv4(packet[16..<20]),
                                                     at: headerLength >= 20 && fragmentOffset == 0 ? headerLength : nil)(packet)
        }
        if first >> 4 == 6, packet.count >= 40 {
            return frame + "IPv6 " + Self.transport(protocol: packet[6], source: "[\(Self.ipv6(packet[8..<24]))]",
                                                     destination: "[\(Self.ipv6(packet[24..<40]))]", at: 40)(packet)
        }
        // ARP for IPv4 over Ethernet: htype 1, ptype 0x0800, hlen 6, plen 4.
        if packet.count >= 28, packet[0..<6].elementsEqual([0, 1, 8, 0, 6, 4]) {
            let operation = UInt16(packet[6]) << 8 | UInt16(packet[7])
            let senderMAC = packet[8..<14].map { String(format: "%02x", $0) }.joined(separator: ":")
            let senderIP = Self.ipv4(packet[14..<18])
            let targetIP = Self.ipv4(packet[24..<28])
            return frame + (operation == 2 ? "ARP reply: \(senderIP) is at \(senderMAC)"
                                           : "ARP request: who has \(targetIP), tell \(senderIP) at \(senderMAC)")
        }
        return frame + "a frame of \(packet.count)+ bytes that is not IPv4, IPv6 or ARP"
    }

    private static func transport(protocol number: UInt8, source: String, destination: String, at offset: Int?) -> ([UInt8]) -> String {
        { packet in
            let name: String = switch number {
            case 6: "TCP"
            case 17: "UDP"
            case 1: "ICMP"
            case 58: "ICMPv6"
            default: "protocol \(number)"
            }
            guard number == 6 || number == 17, let offset, packet.count >= offset + 4 else { return "\(name) \(source) -> \(destination)" }
            let sourcePort = UInt16(packet[offset]) << 8 | UInt16(packet[offset + 1])
            let destinationPort = UInt16(packet[offset + 2]) << 8 | UInt16(packet[offset + 3])
            return "\(name) \(source):\(sourcePort) -> \(destination):\(destinationPort)"
        }
    }

    private static func ipv4(_ bytes: ArraySlice<UInt8>) -> String {
        bytes.map(String.init).joined(separator: ".")
    }

    private static func ipv6(_ bytes: ArraySlice<UInt8>) -> String {
        var raw = in6_addr()
        withUnsafeMutableBytes(of: &raw) { $0.copyBytes(from: bytes) }
        var text = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN))
        return inet_ntop(AF_INET6, &raw, &text, socklen_t(text.count)) != nil ? String(cString: text) : "?"
    }

    /// Destination address and TCP/UDP port of the logged packet, for evidence ("203.0.113.1:22").
    public var destination: String? {
        guard let version = packet.first.map({ $0 >> 4 }) else { return nil }
        if version == 4, packet.count >= 24 {
            let headerLength = Int(packet[0] & 0x0f) * 4
            let address = packet[16..<20].map(String.init).joined(separator: ".")
            guard packet.count >= headerLength + 4 else { return address }
            return "\(address):\(UInt16(packet[headerLength + 2]) << 8 | UInt16(packet[headerLength + 3]))"
        }
        if version == 6, packet.count >= 44 {
            return "[\(Self.ipv6(packet[24..<40]))]:\(UInt16(packet[42]) << 8 | UInt16(packet[43]))"
        }
        return nil
    }
}

/// Reads one NFLOG group with libnetfilter_log on a thread of its own (the socket is blocking)
/// and hands the events to async code. Events the kernel could not queue because the reader was
/// slow are lost (ENOBUFS), counted in `lost`: the ruleset rate-limits what it logs, per VM.
public final class NflogReader: @unchecked Sendable {
    public let group: UInt16
    public let events: AsyncStream<NflogEvent>
    private let continuation: AsyncStream<NflogEvent>.Continuation
    private let handle: OpaquePointer
    private let groupHandle: OpaquePointer
    private let lock = NSLock()
    private var lostCount = 0
    private var stopped = false

    /// Binds the group (needs CAP_NET_ADMIN). Throws if another process owns it.
    public init(group: UInt16) throws {
        self.group = group
        (events, continuation) = AsyncStream.makeStream(of: NflogEvent.self, bufferingPolicy: .bufferingNewest(10_000))
        guard let handle = nflog_open() else { throw NflogError("nflog_open", errno) }
        // Older kernels want the protocol families bound; newer ones ignore it.
        _ = nflog_unbind_pf(handle, UInt16(AF_INET))
        _ = nflog_bind_pf(handle, UInt16(AF_INET))
        _ = nflog_unbind_pf(handle, UInt16(AF_INET6))
        _ = nflog_bind_pf(handle, UInt16(AF_INET6))
        _ = nflog_unbind_pf(handle, UInt16(AF_BRIDGE))
        _ = nflog_bind_pf(handle, UInt16(AF_BRIDGE))
        guard let groupHandle = nflog_bind_group(handle, group) else {
            let code = errno
            nflog_close(handle)
            throw NflogError("binding NFLOG group \(group) (is another program reading it?)", code)
        }
        nflog_set_mode(groupHandle, UInt8(NFULNL_COPY_PACKET), 128)
        // Deliver each event at once. The kernel's default batches up to 100 messages or a
        // second, and at two events a second per VM the batch never fills: every first event
        // waited for the one-second timer (bench/abuse_flood.py nflog: 1,006 ms vs 0.1 ms).
        // The ruleset already caps events at two a second per VM, so one message each is cheap.
        _ = nflog_set_qthresh(groupHandle, 1)
        self.handle = handle
        self.groupHandle = groupHandle
    }

    public var lost: Int { lock.withLock { lostCount } }

    /// Starts the reading thread; it runs until `stop()`.
    public func start() {
        let context = Unmanaged.passRetained(self).toOpaque()
        nflog_callback_register(groupHandle, { _, _, data, context in
            guard let data, let context else { return 0 }
            let reader = Unmanaged<NflogReader>.fromOpaque(context).takeUnretainedValue()
            reader.deliver(data)
            return 0
        }, context)
        let fd = nflog_fd(handle)
        let thread = Thread { [self] in
            var buffer = [CChar](repeating: 0, count: 65_536)
            var pending = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            // poll with a timeout, so that `stop()` is noticed within a quarter of a second.
            while !lock.withLock({ stopped }) {
                guard poll(&pending, 1, 250) > 0 else { continue }
                let count = recv(fd, &buffer, buffer.count, 0)
                if count > 0 {
                    _ = nflog_handle_packet(handle, &buffer, Int32(count))
                } else if count < 0 && errno == ENOBUFS {
                    lock.withLock { lostCount += 1 }
                } else if count < 0 && (errno == EINTR || errno == EAGAIN) {
                    continue
                } else {
                    break
                }
            }
            nflog_unbind_group(groupHandle)
            nflog_close(handle)
            continuation.finish()
            Unmanaged.passUnretained(self).release()  // the reference the callback context held
        }
        thread.name = "nflog-\(group)"
        thread.start()
    }

    /// Ends reading: the thread unbinds the group and finishes the event stream within 250 ms.
    public func stop() {
        lock.withLock { stopped = true }
        continuation.finish()
    }

    private func deliver(_ data: OpaquePointer) {
        let prefix = nflog_get_prefix(data).map { String(cString: $0) } ?? ""
        let index = nflog_get_physindev(data) != 0 ? nflog_get_physindev(data) : nflog_get_indev(data)
        var name = [CChar](repeating: 0, count: Int(IF_NAMESIZE) + 1)
        let interface = index != 0 && if_indextoname(index, &name) != nil ? String(cString: name) : nil
        var payload: UnsafeMutablePointer<CChar>?
        let length = nflog_get_payload(data, &payload)
        let packet = length > 0 && payload != nil
            ? Array(UnsafeRawBufferPointer(start: payload, count: Int(length)).bindMemory(to: UInt8.self)) : []
        var sourceMAC: String?
        if let hardware = nflog_get_packet_hw(data), UInt16(bigEndian: hardware.pointee.hw_addrlen) == 6 {
            sourceMAC = withUnsafeBytes(of: hardware.pointee.hw_addr) { $0.prefix(6).map { String(format: "%02x", $0) }.joined(separator: ":") }
        }
        continuation.yield(NflogEvent(prefix: prefix.trimmingCharacters(in: .whitespaces), interface: interface, packet: packet,
                                      sourceMAC: sourceMAC, time: Date()))
    }
}

public struct NflogError: Error, CustomStringConvertible {
    public let step: String
    public let code: Int32
    init(_ step: String, _ code: Int32) {
        self.step = step
        self.code = code
    }
    public var description: String { "NFLOG: \(step) failed: \(String(cString: strerror(code)))" }
}
