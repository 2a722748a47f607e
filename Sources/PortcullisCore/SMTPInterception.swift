/// What the site does with outbound TCP port 25 of the VMs it does not restrict (those with a
/// public IPv4, and restricted VMs with an exemption for port 25). Restricted VMs without an
/// exemption are refused whatever the mode.
public enum SMTPMode: String, Hashable, Sendable, Codable, CaseIterable {
    /// Refused with a TCP reset, like a restricted port.
    case block
    /// Handed to the transparent SMTP relay in the daemon, which connects to the original
    /// destination with the VM's own address and applies the per-VM limits. If the relay is
    /// not listening the connection is refused: never passed through.
    case proxy
    /// Forwarded untouched.
    case allow
}

/// The part of the `smtp:` section that shapes the ruleset: which mode, and where the relay
/// listens (the `tproxy` statement names the port).
public struct SMTPInterception: Hashable, Sendable, Codable {
    public let mode: SMTPMode
    public let listenPort: Port

    public static let defaultListenPort = Port(10025)!

    public init(mode: SMTPMode = .proxy, listenPort: Port = SMTPInterception.defaultListenPort) {
        self.mode = mode
        self.listenPort = listenPort
    }

    /// The destination port the relay intercepts. SMTP submission (465, 587) is not relayed:
    /// it is authenticated client traffic to the tenant's own provider.
    public static let port = Port(25)!
}
