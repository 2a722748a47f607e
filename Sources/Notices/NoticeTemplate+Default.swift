extension NoticeTemplate {
    /// The built-in text of the e-mail a tenant gets when one of their VMs is restricted.
    ///
    /// Written for a customer who may not be technical and reads it on a phone: what happened,
    /// the evidence, what we did and until when, what to do now, and how to keep sending mail
    /// legitimately (the most common reason a tenant's VM talks SMTP at all). `next_steps` holds
    /// the steps specific to the signal and may be empty.
    public static let defaultTenantNoticeText = """
        Subject: [{{provider_name}}] Network restriction on your VM {{vm}} (case {{case_id}})

        Hello,

        Our network monitoring detected {{signal}} from your VM {{vm}} (account {{tenant}}).

        Evidence:
          {{evidence}}

        What we did: {{response}}, until {{until}}. The restriction ends by itself at that time. If the \
        same activity happens again, the next restriction lasts longer.

        What you should do now:
        {{next_steps}}
        - Check the VM for compromise: unknown processes, new user accounts or SSH keys, changed cron jobs, \
        outdated web applications. A VM that sends this traffic without your knowledge has usually been broken into.
        - Stop the traffic at its source before the restriction ends.
        - Contact {{support_contact}} and quote case {{case_id}} when you have fixed the cause, or if you \
        believe this is a mistake.

        If this VM needs to send e-mail, send it through your mail provider's API over HTTPS, or from a \
        separate mail VM with its own public IPv4 address.

        This message was sent automatically by {{provider_name}}.
        """

    /// `defaultTenantNoticeText`, parsed.
    public static let defaultTenantNotice: NoticeTemplate = {
        do {
            return try NoticeTemplate(text: defaultTenantNoticeText, source: "built-in tenant notice")
        } catch {
            preconditionFailure("the built-in notice template does not parse: \(error)")
        }
    }()
}
