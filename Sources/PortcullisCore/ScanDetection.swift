/// How the kernel spots a VM scanning others: it remembers each VM's first contacts (a new
/// TCP connection to a host and port it has not tried within `window`) and counts them per
/// host (many ports of one host: vertical) and per port (one port of many hosts: horizontal).
/// Past either budget, the kernel logs one event per VM at most twice a second to NFLOG, which
/// the daemon reads: it never sees the other packets.
public struct ScanDetection: Hashable, Sendable, Codable {
    /// Distinct ports of one host within `window` (Zeek, Snort and CrowdSec all use 15).
    public let portsPerHost: Int
    /// Distinct hosts on one port within `window` (Zeek: 25 in 5 minutes).
    public let hostsPerPort: Int
    public let window: PolicyDuration
    /// The NFLOG group the events go to.
    public let nflogGroup: UInt16
    /// TCP SYNs a second (any destination, repeats included) past which a VM is flooding: a
    /// SYN flood at one host and port makes no new first contacts, so the scan budgets miss it.
    public let synFloodPerSecond: Int

    public init(portsPerHost: Int = 15, hostsPerPort: Int = 25, window: PolicyDuration = .init(seconds: 300),
                nflogGroup: UInt16 = 2525, synFloodPerSecond: Int = 1000) {
        self.synFloodPerSecond = synFloodPerSecond
        self.portsPerHost = portsPerHost
        self.hostsPerPort = hostsPerPort
        self.window = window
        self.nflogGroup = nflogGroup
    }

    /// A budget as an nft token bucket: the whole count at once, refilled over the window.
    public static func perMinute(_ count: Int, window: PolicyDuration) -> Int {
        max(1, Int((Double(count) * 60 / window.timeInterval).rounded()))
    }

    /// Each VM's share of the first-contact memory: past this many first contacts a minute a
    /// VM is reported as scanning (far above the per-host and per-port budgets anyway) and
    /// its further first contacts are not remembered, so one VM holds at most about
    /// `firstContactsPerMinute × window` elements and cannot fill the sets for the others.
    public static let firstContactsPerMinute = 300

    /// The dynamic sets of the detector and their size, for the fill-level metrics.
    public static let setSize = 65_536
    public static let setNames = ["scan_seen4", "scan_seen6", "scan_ports4", "scan_ports6", "scan_hosts", "scan_budget", "scan_logged",
                                  "syn_rate", "syn_logged", "spoof_logged"]

    /// The NFLOG prefix of scan events (the daemon matches it).
    public static let logPrefix = "portcullis:port_scan"
    /// The NFLOG prefix of SYN flood events.
    public static let synFloodPrefix = "portcullis:syn_flood"
    /// The NFLOG prefix of sampled anti-spoofing drops, followed by `:` and the drop kind. The
    /// samples (at most `spoofSamplesPerSecond` a second per VM, on the same group) are the
    /// evidence of a spoofing case; the decision stays with the drop counters.
    public static let spoofPrefix = "portcullis:spoof"
    public static let spoofSamplesPerSecond = 5
    /// ...and at most this many a second per drop kind for the whole host, so that many VMs
    /// spoofing at once cannot crowd the scan events out of the NFLOG queue.
    public static let spoofSamplesPerSecondInAll = 50
}
