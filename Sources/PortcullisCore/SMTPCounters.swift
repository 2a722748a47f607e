import Foundation

/// Per-VM totals of what the SMTP relay did, for `/metrics` (and the abuse detection that
/// watches them). Fed once per finished transaction from the relay's event loops, read by the
/// API; a lock, because neither side should wait for an actor hop.
public final class SMTPCounters: @unchecked Sendable {
    public struct Totals: Hashable, Sendable {
        public var transactions: [String: Int] = [:]
        public var recipients = 0
        public var bytes = 0
    }

    private let lock = NSLock()
    private var byVM: [String: Totals] = [:]

    public init() {}

    /// One transaction of `vm` ended with `verdict`, having `recipients` accepted recipients
    /// and `bytes` of message text.
    public func count(vm: String, verdict: String, recipients: Int, bytes: Int) {
        lock.withLock {
            byVM[vm, default: Totals()].transactions[verdict, default: 0] += 1
            byVM[vm, default: Totals()].recipients += recipients
            byVM[vm, default: Totals()].bytes += bytes
        }
    }

    public func totals(vm: String) -> Totals? {
        lock.withLock { byVM[vm] }
    }

    /// The Prometheus text for these counters.
    public func prometheusText() -> String {
        let snapshot = lock.withLock { byVM }
        var out = "# HELP portcullis_smtp_transactions_total Mail transactions through the SMTP relay, per VM and verdict.\n"
        out += "# TYPE portcullis_smtp_transactions_total counter\n"
        for vm in snapshot.keys.sorted() {
            for (verdict, count) in snapshot[vm]!.transactions.sorted(by: { $0.key < $1.key }) {
                out += "portcullis_smtp_transactions_total{vm=\"\(vm)\",verdict=\"\(verdict)\"} \(count)\n"
            }
        }
        out += "# HELP portcullis_smtp_recipients_total Recipients the upstream accepted through the relay, per VM.\n"
        out += "# TYPE portcullis_smtp_recipients_total counter\n"
        for vm in snapshot.keys.sorted() {
            out += "portcullis_smtp_recipients_total{vm=\"\(vm)\"} \(snapshot[vm]!.recipients)\n"
        }
        out += "# HELP portcullis_smtp_message_bytes_total Message text the relay received from each VM.\n"
        out += "# TYPE portcullis_smtp_message_bytes_total counter\n"
        for vm in snapshot.keys.sorted() {
            out += "portcullis_smtp_message_bytes_total{vm=\"\(vm)\"} \(snapshot[vm]!.bytes)\n"
        }
        return out
    }
}
