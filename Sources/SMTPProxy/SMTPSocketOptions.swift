import NIOCore

/// The Linux socket options the transparent relay needs that NIO has no names for.
/// Values from <linux/in.h>, <linux/in6.h> and <asm-generic/socket.h>.
enum SMTPSocketOptions {
    /// SOL_IP (0) / IP_TRANSPARENT (19): accept tproxy'd connections and bind foreign IPv4 addresses.
    static let ipTransparent = ChannelOptions.Types.SocketOption(level: .ip, name: .init(rawValue: 19))
    /// SOL_IPV6 (41) / IPV6_TRANSPARENT (75): the same for IPv6.
    static let ipv6Transparent = ChannelOptions.Types.SocketOption(level: .ipv6, name: .init(rawValue: 75))
    /// SOL_SOCKET / SO_MARK (36): the fwmark policy routing and nft rules match on.
    static let mark = ChannelOptions.Types.SocketOption(level: .socket, name: .init(rawValue: 36))
    /// IPPROTO_IPV6 / IPV6_V6ONLY: keeps `::` from also taking IPv4 (which has its own listener).
    static let ipv6Only = ChannelOptions.Types.SocketOption(level: .ipv6, name: .ipv6_v6only)

    /// The transparent option matching the address family of `address`.
    static func transparent(for address: SocketAddress) -> ChannelOptions.Types.SocketOption {
        if case .v6 = address { ipv6Transparent } else { ipTransparent }
    }
}
