import NIOCore

/// How the relay server listens, reaches the original destinations and limits each VM.
public struct SMTPRelayConfiguration: Sendable {
    /// Addresses to listen on. The wildcard by default: nft `tproxy to :port` looks the listener
    /// up on the ingress interface's address, which only a wildcard bind is sure to match.
    /// IPv6 listeners are IPv6-only, so each family has its own socket.
    public var listenHosts: [String]
    /// 0 picks an ephemeral port (tests); every host then shares the port the first one got.
    public var listenPort: Int
    /// TPROXY mode: IP_TRANSPARENT/IPV6_TRANSPARENT on the listeners (so tproxy can hand them
    /// connections for foreign addresses) and on the upstream sockets, which are bound to the
    /// VM's address so the MX sees the VM as the sender. Needs CAP_NET_ADMIN or CAP_NET_RAW.
    public var transparent: Bool
    /// SO_MARK on upstream sockets, e.g. 2 so policy routing sends them through the tenant table.
    /// Needs CAP_NET_ADMIN.
    public var upstreamMark: UInt32?
    /// How long to wait for the TCP connection to the original destination. Much shorter than the
    /// RFC 5321 greeting timeout (5 minutes, in `session.timeouts`): a VM's MTA retries on a 421.
    public var connectTimeout: TimeAmount
    /// Where to relay instead of the accepted socket's local address. For tests and for
    /// non-transparent deployments that relay to one smarthost; a transparent relay leaves it nil.
    public var destinationOverride: SocketAddress?
    public var vmLimits: SMTPVMLimits
    /// Per-message limits and RFC 5321 timeouts, for every session.
    public var limits: SMTPLimits
    public var timeouts: SMTPTimeouts

    public init(listenHosts: [String] = ["0.0.0.0", "::"], listenPort: Int = 10025, transparent: Bool = true,
                upstreamMark: UInt32? = nil, connectTimeout: TimeAmount = .seconds(30),
                destinationOverride: SocketAddress? = nil, vmLimits: SMTPVMLimits = SMTPVMLimits(),
                limits: SMTPLimits = SMTPLimits(), timeouts: SMTPTimeouts = .rfc5321) {
        self.listenHosts = listenHosts
        self.listenPort = listenPort
        self.transparent = transparent
        self.upstreamMark = upstreamMark
        self.connectTimeout = connectTimeout
        self.destinationOverride = destinationOverride
        self.vmLimits = vmLimits
        self.limits = limits
        self.timeouts = timeouts
    }
}
