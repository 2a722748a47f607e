import Foundation
import Notices
import PortcullisCore

/// Turns a queued notice into what is sent: the tenant's e-mail (from the site's template) or
/// the webhook's JSON. The same code renders the operator's preview, so the preview is exactly
/// what goes out.
struct NoticeComposer: Sendable {
    let settings: NoticeSettings
    let template: NoticeTemplate

    /// The e-mail for `notice`. The Message-ID is derived from the notice id, so a notice sent
    /// twice (a crash between delivery and bookkeeping) is recognisable as one message.
    func mail(_ notice: Notice) throws -> OutgoingMail {
        guard let email = settings.email else { throw NoticeChannelOff(channel: .email) }
        let rendered = try template.render(values(notice))
        return try OutgoingMail(from: email.from, fromName: settings.providerName,
                                to: [try EmailAddress(parsing: notice.recipient)], subject: rendered.subject, body: rendered.body,
                                headers: [MailHeader("X-Portcullis-Case", notice.caseID), MailHeader("X-Portcullis-Notice", notice.id)],
                                messageID: "<\(notice.id)@\(email.from.value.split(separator: "@").last ?? "portcullis.invalid")>",
                                date: notice.createdAt)
    }

    /// The webhook's body: the notice as data, for the provider's systems to file.
    func webhookBody(_ notice: Notice) throws -> [UInt8] {
        let body = WebhookNotice(noticeID: notice.id, caseID: notice.caseID, vm: notice.content.vm.value,
                                 tenant: notice.content.tenant.value, signal: notice.content.signal,
                                 response: notice.content.response, detectedAt: notice.content.detectedAt,
                                 until: notice.content.until, summary: notice.content.summary,
                                 evidence: notice.content.evidence, actions: notice.content.actions,
                                 provider: settings.providerName)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        encoder.dateEncodingStrategy = .iso8601
        return Array(try encoder.encode(body))
    }

    /// Exactly the text that is (or was) sent.
    func preview(_ notice: Notice) throws -> String {
        switch notice.channel {
        case .email: try mail(notice).rendered()
        case .webhook: String(decoding: try webhookBody(notice), as: UTF8.self)
        }
    }

    func values(_ notice: Notice) -> [String: String] {
        let content = notice.content
        return [
            "vm": content.vm.value,
            "tenant": content.tenant.value,
            "case_id": notice.caseID,
            "signal": Self.signalText[content.signal] ?? content.signal,
            "response": content.actions.isEmpty ? "nothing was blocked; we recorded the activity"
                : (Self.responseText[content.response] ?? content.response) + " (" + content.actions.joined(separator: "; ") + ")",
            "until": content.until.map { $0.formatted(.iso8601) } ?? "-",
            "evidence": ([content.summary] + content.evidence).joined(separator: "\n"),
            "next_steps": Self.nextSteps[content.signal] ?? "",
            "provider_name": settings.providerName,
            "support_contact": settings.supportContact,
        ]
    }

    static let signalText: [String: String] = [
        "port_scan": "a port scan (connection attempts to many ports or hosts)",
        "syn_flood": "a SYN flood (TCP connection attempts at a rate no ordinary client makes)",
        "spoofing": "IP spoofing (packets with source addresses that do not belong to the VM)",
        "smtp_recipients": "bulk e-mail: more recipients than a mail server of this size sends",
        "smtp_rejections": "e-mail to many addresses that the receiving servers refused",
        "smtp_domains": "e-mail to an unusually large number of recipient domains",
        "smtp_destinations": "e-mail to an unusually large number of mail servers",
        "restricted_smtp_attempts": "repeated attempts to send e-mail on ports that are closed for this VM",
        "operator": "activity our abuse team reviewed",
    ]

    static let responseText: [String: String] = [
        "throttle": "we limited the rate of the VM's new outbound connections",
        "block_port": "we blocked the traffic concerned",
        "quarantine": "we blocked the VM's outbound traffic except to our support and DNS services",
        "suspend": "we suspended the VM's network traffic in both directions",
        "filter": "we placed a network filter",
    ]

    static let nextSteps: [String: String] = [
        "port_scan": "- Find the process that opens the connections (e.g. `ss -tnp`) and stop it.",
        "syn_flood": "- Find the process that opens the connections (e.g. `ss -tnp`) and stop it.",
        "spoofing": "- Make sure the VM sends only from its own addresses: check its network configuration, "
            + "VPN or container set-ups, and any tool that crafts packets.",
        "smtp_recipients": "- Check the mail queue and the web applications that send mail (contact forms, newsletters).",
        "smtp_rejections": "- Check the mail queue and the web applications that send mail (contact forms, newsletters).",
        "smtp_domains": "- Check the mail queue and the web applications that send mail (contact forms, newsletters).",
        "smtp_destinations": "- Check the mail queue and the web applications that send mail (contact forms, newsletters).",
    ]
}

/// What the webhook receives.
struct WebhookNotice: Encodable {
    let noticeID: String
    let caseID: String
    let vm: String
    let tenant: String
    let signal: String
    let response: String
    let detectedAt: Date
    let until: Date?
    let summary: String
    let evidence: [String]
    let actions: [String]
    let provider: String

    enum CodingKeys: String, CodingKey {
        case vm, tenant, signal, response, until, summary, evidence, actions, provider
        case noticeID = "notice_id"
        case caseID = "case_id"
        case detectedAt = "detected_at"
    }
}

/// A notice queued for a channel the configuration no longer has.
struct NoticeChannelOff: Error, CustomStringConvertible {
    let channel: Notice.Channel
    var description: String {
        "notices.\(channel.rawValue) is not configured on this host; configure it and restart, or the notice is given up"
    }
}
