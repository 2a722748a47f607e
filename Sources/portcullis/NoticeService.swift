import Foundation
import Logging
import Notices
import PortcullisCore
import ServiceLifecycle
import Store

/// Delivers the outbox: every second, the notices that are due, one at a time. A delivered
/// notice is marked so; a refusal for good (a 5xx, a webhook's 4xx) marks it failed; anything
/// else is retried on the site's schedule until `notices.retry.give_up`. Delivery is at least
/// once: a crash between sending and marking sends the notice again on restart, with the same
/// Message-ID and `notice_id`, so receivers can recognise the repeat.
struct NoticeService: Service {
    let store: SQLiteStore
    let settings: NoticeSettings
    let composer: NoticeComposer
    let submitter: SMTPSubmitter?
    let poster: WebhookPoster?
    /// Why e-mail cannot be sent yet (its password file), when it cannot: notices wait.
    let emailProblem: String?
    /// Why the webhook cannot be used (its secret file), when it cannot.
    let webhookProblem: String?
    let counters: AbuseCounters
    let logger: Logger

    func run() async throws {
        // Notices attempted whose outcome the store did not take (disk full, locked): they are not
        // sent again while they wait here, and saving their outcome is retried every round.
        var unsaved: [String: Notice] = [:]
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            for notice in unsaved.values where save(notice) { unsaved[notice.id] = nil }
            do {
                for notice in try store.dueNotices(at: Date(), limit: 20 + unsaved.count) where unsaved[notice.id] == nil {
                    if Task.isShuttingDownGracefully { break }
                    let outcome = await attempt(notice)
                    if !save(outcome) { unsaved[outcome.id] = outcome }
                }
            } catch {
                logger.error("could not read the notice outbox: \(error)")
            }
            try? await Task.sleep(for: .seconds(1))
        }
    }

    private func save(_ notice: Notice) -> Bool {
        do {
            try store.updateNotice(notice, at: Date())
            return true
        } catch {
            logger.error("could not record a notice's delivery; it is not sent again meanwhile: \(error)",
                         metadata: ["notice": "\(notice.id)"])
            return false
        }
    }

    private func deliver(_ notice: Notice) async throws -> String {
        switch notice.channel {
        case .email:
            guard let submitter else {
                throw emailProblem.map { ChannelUnavailable(problem: $0) as any Error } ?? NoticeChannelOff(channel: .email)
            }
            return try await submitter.send(try composer.mail(notice))
        case .webhook:
            guard let poster else {
                throw webhookProblem.map { ChannelUnavailable(problem: $0) as any Error } ?? NoticeChannelOff(channel: .webhook)
            }
            return try await poster.post(json: try composer.webhookBody(notice))
        }
    }

    /// One delivery attempt; returns the notice with its outcome, for the store.
    private func attempt(_ notice: Notice) async -> Notice {
        var notice = notice
        notice.attempts += 1
        let now = Date()
        do {
            notice.lastResult = try await deliver(notice)
            notice.status = .delivered
            notice.deliveredAt = Date()
            counters.notice(channel: notice.channel.rawValue, outcome: "delivered")
            logger.info("notice delivered", metadata: ["notice": "\(notice.id)", "case": "\(notice.caseID)",
                                                       "channel": "\(notice.channel.rawValue)", "reply": "\(notice.lastResult ?? "")"])
        } catch {
            notice.lastResult = "\(error)"
            let next = Self.isPermanent(error) ? nil : settings.nextAttempt(after: notice.attempts, createdAt: notice.createdAt, now: now)
            if let next {
                notice.nextAttemptAt = next
                counters.notice(channel: notice.channel.rawValue, outcome: "retry")
                logger.warning("notice not delivered, will retry", metadata: [
                    "notice": "\(notice.id)", "attempt": "\(notice.attempts)", "next": "\(next.formatted(.iso8601))", "error": "\(error)"])
            } else {
                notice.status = .failed
                counters.notice(channel: notice.channel.rawValue, outcome: "failed")
                logger.error("notice given up: the tenant was not told; send it by hand (`portcullis notice preview \(notice.id)`)",
                             metadata: ["notice": "\(notice.id)", "case": "\(notice.caseID)", "attempts": "\(notice.attempts)",
                                        "error": "\(error)"])
            }
        }
        return notice
    }

    static func isPermanent(_ error: any Error) -> Bool {
        switch error {
        case let error as any NoticeDeliveryFailure: error.isPermanent
        case is NoticeChannelOff, is MailComposeError, is NoticeTemplateError, is ValidationError: true
        default: false
        }
    }
}

/// A channel is configured but its secret (the webhook's key, the smarthost password) cannot be
/// read: retried, so fixing the file and restarting delivers what waited.
struct ChannelUnavailable: Error, CustomStringConvertible {
    let problem: String
    var description: String { problem }
}
