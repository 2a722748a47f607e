import Foundation

/// What abuse detection and response did since the daemon started, for `/metrics`: events read
/// from the kernel (and lost on the way), offences per signal, filters placed per response, and
/// notices per channel and outcome. Fed from the detectors' tasks and read by the API; a lock,
/// because neither side should wait for an actor hop.
public final class AbuseCounters: @unchecked Sendable {
    private let lock = NSLock()
    private var scanEvents = 0
    private var scanOverflows = 0
    private var offences: [String: Int] = [:]
    private var responses: [String: Int] = [:]
    private var notices: [String: Int] = [:]

    public init() {}

    /// One port-scan event read from NFLOG.
    public func scanEventRead() { lock.withLock { scanEvents += 1 } }

    /// The NFLOG socket's receive buffer overflowed (ENOBUFS): the kernel dropped events.
    /// The reader's running total, so the metric survives nothing but a restart.
    public func scanOverflows(total: Int) { lock.withLock { scanOverflows = total } }

    public func offence(_ signal: AbuseSignal, response: AbuseResponse) {
        lock.withLock {
            offences[signal.rawValue, default: 0] += 1
            responses["\(signal.rawValue)\u{0}\(response.rawValue)", default: 0] += 1
        }
    }

    /// A notice left the outbox: `outcome` is delivered, retry or failed.
    public func notice(channel: String, outcome: String) {
        lock.withLock { notices["\(channel)\u{0}\(outcome)", default: 0] += 1 }
    }

    /// The Prometheus text for these counters.
    public func prometheusText() -> String {
        let (events, overflows, offences, responses, notices) = lock.withLock {
            (scanEvents, scanOverflows, self.offences, self.responses, self.notices)
        }
        var out = "# HELP portcullis_scan_events_total Port-scan events read from the kernel (NFLOG).\n"
        out += "# TYPE portcullis_scan_events_total counter\nportcullis_scan_events_total \(events)\n"
        out += "# HELP portcullis_scan_event_overflows_total Times the NFLOG receive buffer overflowed and the kernel dropped events.\n"
        out += "# TYPE portcullis_scan_event_overflows_total counter\nportcullis_scan_event_overflows_total \(overflows)\n"
        out += "# HELP portcullis_abuse_offences_total Offences detected, per signal.\n# TYPE portcullis_abuse_offences_total counter\n"
        for (signal, count) in offences.sorted(by: { $0.key < $1.key }) {
            out += "portcullis_abuse_offences_total{signal=\"\(signal)\"} \(count)\n"
        }
        out += "# HELP portcullis_abuse_responses_total What the ladder decided, per signal and response.\n"
        out += "# TYPE portcullis_abuse_responses_total counter\n"
        for (key, count) in responses.sorted(by: { $0.key < $1.key }) {
            let parts = key.split(separator: "\u{0}")
            out += "portcullis_abuse_responses_total{signal=\"\(parts[0])\",response=\"\(parts[1])\"} \(count)\n"
        }
        out += "# HELP portcullis_notices_total Notice delivery attempts, per channel and outcome (delivered, retry, failed).\n"
        out += "# TYPE portcullis_notices_total counter\n"
        for (key, count) in notices.sorted(by: { $0.key < $1.key }) {
            let parts = key.split(separator: "\u{0}")
            out += "portcullis_notices_total{channel=\"\(parts[0])\",outcome=\"\(parts[1])\"} \(count)\n"
        }
        return out
    }
}
