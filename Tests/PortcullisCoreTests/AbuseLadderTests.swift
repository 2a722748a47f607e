import Foundation
import Testing
@testable import PortcullisCore

/// The ladder with a fixed clock: escalation, cap, decay, allowlists.
@Suite struct AbuseLadderTests {
    let vm = try! VMID(parsing: "web1")
    let tenant = try! TenantID(parsing: "acme")
    let t0 = Date(timeIntervalSince1970: 1_800_000_000)
    let ladder = AbuseLadder(rungs: [
        .portScan: AbuseRung(response: .blockPort, baseDuration: .init(seconds: 900), maxDuration: .init(seconds: 7200),
                             decay: .init(seconds: 86_400)),
        .spoofing: AbuseRung(response: .suspend, baseDuration: .init(seconds: 3600), maxDuration: .init(seconds: 86_400),
                             decay: .init(seconds: 86_400)),
    ])

    /// Repeats an offence every `gap` seconds; returns the durations given.
    func durations(_ count: Int, gap: Double, ladder: AbuseLadder? = nil) -> [Int?] {
        var history: OffenceHistory?
        var result: [Int?] = []
        for i in 0..<count {
            let decision = (ladder ?? self.ladder).decide(.portScan, vm: vm, tenant: tenant, history: history,
                                                          now: t0.addingTimeInterval(Double(i) * gap))
            result.append(decision.duration?.seconds)
            history = decision.history
        }
        return result
    }

    @Test func repeatsDoubleUpToTheCap() {
        #expect(durations(5, gap: 60) == [900, 1800, 3600, 7200, 7200])
    }

    @Test func offencesDecayOnePerPeriod() {
        // A day and a bit between offences: each finds the previous one forgiven.
        #expect(durations(3, gap: 86_400 + 1) == [900, 900, 900])
        // Two offences an hour apart, then one after a day: one of the two is forgiven.
        var history = ladder.decide(.portScan, vm: vm, tenant: tenant, history: nil, now: t0).history
        history = ladder.decide(.portScan, vm: vm, tenant: tenant, history: history, now: t0.addingTimeInterval(3600)).history
        let third = ladder.decide(.portScan, vm: vm, tenant: tenant, history: history, now: t0.addingTimeInterval(3600 + 86_400 + 5))
        #expect(third.offence == 2 && third.duration?.seconds == 1800)
    }

    @Test func spoofingSuspends() {
        let decision = ladder.decide(.spoofing, vm: vm, tenant: tenant, history: nil, now: t0)
        #expect(decision.response == .suspend && decision.duration?.seconds == 3600 && decision.heldBack == nil)
    }

    @Test(arguments: [true, false])
    func allowlistedNeverFilteredButStillCounted(byVM: Bool) {
        let allowed = AbuseLadder(rungs: ladder.rungs, allowedVMs: byVM ? [vm] : [], allowedTenants: byVM ? [] : [tenant])
        let decision = allowed.decide(.spoofing, vm: vm, tenant: tenant, history: nil, now: t0)
        #expect(decision.response == .observe && decision.duration == nil)
        #expect(decision.heldBack?.contains("allowlisted") == true)
        #expect(decision.history.count == 1)
    }

    @Test func observeOnlySignalsNeverFilter() {
        let decision = AbuseLadder().decide(.restrictedSMTPAttempts, vm: vm, tenant: tenant, history: nil, now: t0)
        #expect(decision.response == .observe && decision.duration == nil)
    }

    @Test func responsesAreOrderedMildestFirst() {
        #expect(AbuseResponse.observe < .blockPort && .blockPort < .quarantine && .quarantine < .suspend)
    }

    @Test func hugeHistoriesDoNotOverflow() {
        let history = OffenceHistory(count: 10_000, lastAt: t0)
        #expect(ladder.decide(.portScan, vm: vm, tenant: tenant, history: history, now: t0).duration?.seconds == 7200)
    }
}
