import NIOConcurrencyHelpers
import NIOCore

/// The one `SMTPRateLedger` all event loops consult, behind a lock.
///
/// A lock, not an actor: the ledger is asked on the event loop (at accept and at each MAIL FROM)
/// and must answer synchronously there; each call holds the lock only for a few array operations.
public final class SMTPSharedRateLedger: Sendable {
    private let ledger: NIOLockedValueBox<SMTPRateLedger<SMTPVMIdentity>>
    private let clock: @Sendable () -> NIODeadline

    public init(limits: SMTPVMLimits, clock: @escaping @Sendable () -> NIODeadline = { .now() }) {
        ledger = NIOLockedValueBox(SMTPRateLedger(limits: limits))
        self.clock = clock
    }

    public func openSession(for vm: SMTPVMIdentity) -> SMTPRateLedger<SMTPVMIdentity>.Admission {
        let now = clock()
        return ledger.withLockedValue { $0.openSession(for: vm, now: now) }
    }

    public func closeSession(for vm: SMTPVMIdentity) {
        let now = clock()
        ledger.withLockedValue { $0.closeSession(for: vm, now: now) }
    }

    public func admitMessage(for vm: SMTPVMIdentity) -> Bool {
        let now = clock()
        return ledger.withLockedValue { $0.admitMessage(for: vm, now: now) }
    }

    public func openSessions(for vm: SMTPVMIdentity) -> Int {
        ledger.withLockedValue { $0.openSessions(for: vm) }
    }
}
