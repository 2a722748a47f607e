import NIOCore
import Testing
@testable import SMTPProxy

@Suite struct SMTPRateLedgerTests {
    let vm = SMTPVMIdentity(vmID: "vm-1", tenant: "t1")
    let other = SMTPVMIdentity(vmID: "vm-2", tenant: "t1")
    let start = NIODeadline.uptimeNanoseconds(1_000_000_000_000)

    @Test func concurrentSessionsAreCappedAndFreedOnClose() {
        var ledger = SMTPRateLedger<SMTPVMIdentity>(limits: SMTPVMLimits(sessions: 2, connectionsPerMinute: 100))
        #expect(ledger.openSession(for: vm, now: start) == .admitted)
        #expect(ledger.openSession(for: vm, now: start) == .admitted)
        #expect(ledger.openSession(for: vm, now: start) == .tooManySessions)
        #expect(ledger.openSession(for: other, now: start) == .admitted, "limits are per VM")
        ledger.closeSession(for: vm, now: start + .seconds(1))
        #expect(ledger.openSessions(for: vm) == 1)
        #expect(ledger.openSession(for: vm, now: start + .seconds(1)) == .admitted)
    }

    @Test func connectionsPerMinuteIsASlidingWindow() {
        var ledger = SMTPRateLedger<SMTPVMIdentity>(limits: SMTPVMLimits(sessions: 100, connectionsPerMinute: 3))
        for second in [0, 20, 40] {
            #expect(ledger.openSession(for: vm, now: start + .seconds(Int64(second))) == .admitted)
        }
        #expect(ledger.openSession(for: vm, now: start + .seconds(59)) == .tooManyConnections)
        // The first admission leaves the window at 60 s; refused attempts were never counted.
        #expect(ledger.openSession(for: vm, now: start + .seconds(60)) == .admitted)
        #expect(ledger.openSession(for: vm, now: start + .seconds(61)) == .tooManyConnections)
        #expect(ledger.openSession(for: vm, now: start + .seconds(80)) == .admitted)
        #expect(ledger.openSessions(for: vm) == 5, "closing is separate from the per-minute window")
    }

    @Test func sessionLimitIsCheckedBeforeTheMinuteWindowAndRefusalsDoNotCount() {
        var ledger = SMTPRateLedger<SMTPVMIdentity>(limits: SMTPVMLimits(sessions: 1, connectionsPerMinute: 2))
        #expect(ledger.openSession(for: vm, now: start) == .admitted)
        #expect(ledger.openSession(for: vm, now: start) == .tooManySessions)
        #expect(ledger.openSession(for: vm, now: start) == .tooManySessions)
        ledger.closeSession(for: vm, now: start)
        #expect(ledger.openSession(for: vm, now: start) == .admitted, "the refused attempts used no per-minute quota")
        ledger.closeSession(for: vm, now: start)
        #expect(ledger.openSession(for: vm, now: start) == .tooManyConnections)
    }

    @Test func messagesPerHourIsASlidingWindow() {
        var ledger = SMTPRateLedger<SMTPVMIdentity>(limits: SMTPVMLimits(messagesPerHour: 2))
        // (VM, minutes after start) in order, and whether each MAIL FROM is admitted.
        let steps: [(SMTPVMIdentity, Int64, Bool)] = [
            (vm, 0, true), (vm, 30, true), (vm, 59, false), (other, 59, true),
            (vm, 60, true), (vm, 89, false), (vm, 90, true),
        ]
        let answers = steps.map { ledger.admitMessage(for: $0.0, now: start + .minutes($0.1)) }
        #expect(answers == steps.map(\.2))
    }

    @Test func idleVMsAreForgotten() {
        var ledger = SMTPRateLedger<SMTPVMIdentity>(limits: SMTPVMLimits(connectionsPerMinute: 5, messagesPerHour: 5))
        #expect(ledger.openSession(for: vm, now: start) == .admitted)
        let admitted = ledger.admitMessage(for: vm, now: start)
        #expect(admitted)
        ledger.closeSession(for: vm, now: start + .seconds(10))
        #expect(ledger.trackedKeys == 1, "its windows still hold times")
        #expect(ledger.openSession(for: vm, now: start + .minutes(61)) == .admitted)
        ledger.closeSession(for: vm, now: start + .minutes(61) + .seconds(10))
        #expect(ledger.trackedKeys == 1, "the new connection is still in its minute")
        let otherAdmitted = ledger.admitMessage(for: other, now: start + .minutes(70))
        #expect(otherAdmitted)
        #expect(ledger.trackedKeys == 2)
        #expect(ledger.openSession(for: vm, now: start + .minutes(70)) == .admitted)
        ledger.closeSession(for: vm, now: start + .minutes(200))
        #expect(ledger.trackedKeys == 1, "no open session and empty windows: the VM is forgotten")
    }

    @Test func sharedLedgerUsesItsClock() {
        final class Clock: @unchecked Sendable { var now = NIODeadline.uptimeNanoseconds(5_000_000_000) }
        let clock = Clock()
        let shared = SMTPSharedRateLedger(limits: SMTPVMLimits(sessions: 5, connectionsPerMinute: 1)) { clock.now }
        #expect(shared.openSession(for: vm) == .admitted)
        shared.closeSession(for: vm)
        #expect(shared.openSession(for: vm) == .tooManyConnections)
        clock.now = clock.now + .seconds(60)
        #expect(shared.openSession(for: vm) == .admitted)
        #expect(shared.openSessions(for: vm) == 1)
    }
}
