/// The nftables families Portcullis owns one table in. Each table is named
/// `portcullis`; nothing outside these tables is ever created, changed or flushed.
public enum NftFamily: String, Hashable, Sendable, CaseIterable, Comparable {
    /// Frames crossing a bridge: anti-spoofing for bridged VM ports.
    case bridge
    /// IPv4 and IPv6 at the IP layer: anti-spoofing for routed VM ports and the port restrictions.
    case inet
    /// ARP to the host itself: ARP anti-spoofing for routed VM ports.
    case arp

    public static func < (lhs: Self, rhs: Self) -> Bool { lhs.rawValue < rhs.rawValue }
}

/// The table name used in every family.
public let tableName = "portcullis"

/// A named set in one of our tables.
public struct SetRef: Hashable, Sendable, Comparable, CustomStringConvertible {
    public let family: NftFamily
    public let name: String

    public init(_ family: NftFamily, _ name: String) {
        self.family = family
        self.name = name
    }

    public var description: String { "\(family.rawValue) \(tableName) \(name)" }

    public static func < (lhs: Self, rhs: Self) -> Bool {
        (lhs.family, lhs.name) < (rhs.family, rhs.name)
    }
}

/// Why a frame from a VM was dropped. The raw value is the number stored in the kernel's
/// `drops` set next to the interface name, so it must never change for an existing kind.
public enum DropKind: Int, Hashable, Sendable, CaseIterable, Codable, CustomStringConvertible {
    case macSource = 1
    case ethertype = 2
    case dhcp4Server = 3
    case ipv4Source = 4
    case routerAdvertisement = 5
    case redirect = 6
    case dhcp6Server = 7
    case ipv6Source = 8
    case ndTarget = 9
    case arpMAC = 10
    case arpIP = 11
    /// Traffic from an interface in a table that, by the VM's declared attachment, should
    /// never see it (a "routed" VM's interface on a bridge, a bridge port seen as routed).
    case wrongAttachment = 12
    /// Port 25 from a bridge port whose bridge address is unknown: it cannot be handed to
    /// the SMTP relay, and is never passed through.
    case smtpUndiverted = 13
    /// Traffic from the VM matching an outbound filter (`filter add --direction out`).
    case filteredOut = 14
    /// Traffic to the VM matching an inbound filter; counted by the outgoing interface.
    case filteredIn = 15
    /// Traffic from a quarantined VM to a destination outside `abuse.quarantine_allow`.
    case quarantined = 16
    /// New connections or UDP packets from a throttled VM over the site's rates.
    case throttled = 17

    public var description: String {
        switch self {
        case .macSource: "mac_source"
        case .ethertype: "ethertype"
        case .dhcp4Server: "dhcp4_server"
        case .ipv4Source: "ipv4_source"
        case .routerAdvertisement: "router_advertisement"
        case .redirect: "redirect"
        case .dhcp6Server: "dhcp6_server"
        case .ipv6Source: "ipv6_source"
        case .ndTarget: "nd_target"
        case .arpMAC: "arp_mac"
        case .arpIP: "arp_ip"
        case .wrongAttachment: "wrong_attachment"
        case .smtpUndiverted: "smtp_undiverted"
        case .filteredOut: "filtered_out"
        case .filteredIn: "filtered_in"
        case .quarantined: "quarantined"
        case .throttled: "throttled"
        }
    }
}
