import Foundation
import Logging
import PortcullisCore
import ServiceLifecycle
import SMTPProxy
import Store

/// Moves the relay's transaction records into the store, and keeps the log within its retention.
///
/// The relay produces records on its event loops, which must never wait for SQLite: `submit`
/// only appends to a queue. A task writes whatever has queued every 100 ms, in one transaction,
/// so a busy relay costs at most ten writes a second and a record is queryable within a fraction
/// of a second. If the store falls 100,000 records behind, new records are dropped and the loss is
/// logged: the relay never blocks.
final class SMTPLogWriter: Service, @unchecked Sendable {
    private let store: SQLiteStore
    private let retention: PolicyDuration
    private let logger: Logger
    /// Each flushed batch, for the spam detector: one hand-over per interval rather than one
    /// wake-up per message (which cost the relay a tenth of its CPU at thousands a second).
    private let onBatch: (@Sendable ([SMTPLogEntry]) -> Void)?
    private let lock = NSLock()
    private var queue: [SMTPLogEntry] = []
    private var dropped = 0

    static let backlog = 100_000
    static let interval: Duration = .milliseconds(100)

    init(store: SQLiteStore, retention: PolicyDuration, logger: Logger, onBatch: (@Sendable ([SMTPLogEntry]) -> Void)? = nil) {
        self.store = store
        self.retention = retention
        self.logger = logger
        self.onBatch = onBatch
    }

    /// Queues one finished transaction (any thread; never waits for the store) and returns its
    /// record (nil if it could not be made, which is logged).
    @discardableResult
    func submit(_ transaction: SMTPRelayedTransaction) -> SMTPLogEntry? {
        let entry: SMTPLogEntry
        do {
            entry = try transaction.logEntry()
        } catch {
            logger.error("SMTP transaction not logged: \(error)", metadata: ["vm": "\(transaction.vm)"])
            return nil
        }
        lock.withLock {
            if queue.count < Self.backlog { queue.append(entry) } else { dropped += 1 }
        }
        return entry
    }

    func run() async throws {
        var lastPrune: ContinuousClock.Instant?
        while true {
            if lastPrune.map({ ContinuousClock.now - $0 >= .seconds(3600) }) ?? true {
                prune()
                lastPrune = .now
            }
            flush()
            if Task.isShuttingDownGracefully || Task.isCancelled { break }
            try? await Task.sleep(for: Self.interval)
        }
        flush()  // what queued while shutting down
    }

    private func flush() {
        let (batch, lost) = lock.withLock {
            defer { queue.removeAll(keepingCapacity: true); dropped = 0 }
            return (queue, dropped)
        }
        if lost > 0 {
            logger.error("SMTP log backlog was full (\(Self.backlog) records): \(lost) records dropped; is the store's disk slow or full?")
        }
        guard !batch.isEmpty else { return }
        do {
            try store.appendSMTPLog(batch)
        } catch {
            logger.error("could not store \(batch.count) SMTP log records: \(error)")
        }
        onBatch?(batch)
    }

    /// Removes records older than the retention.
    private func prune() {
        do {
            let removed = try store.pruneSMTPLog(olderThan: Date().addingTimeInterval(-retention.timeInterval))
            if removed > 0 { logger.info("SMTP log: removed \(removed) records older than \(retention)") }
        } catch {
            logger.error("SMTP log retention failed: \(error)")
        }
    }
}
