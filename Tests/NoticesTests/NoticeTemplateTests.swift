import Foundation
import Testing
import Notices

struct NoticeTemplateTests {
    static let values: [String: String] = [
        "vm": "vm-1", "tenant": "acme", "case_id": "c-42", "signal": "an outbound port scan",
        "response": "new outbound connections blocked", "until": "2026-01-01 12:00 UTC",
        "evidence": "10:00:01 vm-1 -> 203.0.113.7: 1,200 ports in 60 s\n10:00:02 vm-1 -> 203.0.113.8: 900 ports in 60 s",
        "next_steps": "- Find the process that scans: `ss -tnp` lists its connections.",
        "provider_name": "Example Hosting", "support_contact": "abuse@hosting.example",
    ]

    @Test func theBuiltInTemplateUsesEveryPlaceholder() {
        #expect(NoticeTemplate.defaultTenantNotice.usedNames == Set(NoticeTemplate.placeholderNames))
    }

    @Test func rendersTheBuiltInTemplate() throws {
        let notice = try NoticeTemplate.defaultTenantNotice.render(Self.values)
        #expect(notice.subject == "[Example Hosting] Network restriction on your VM vm-1 (case c-42)")
        #expect(!notice.body.contains("{{"))
        #expect(notice.body.contains("detected an outbound port scan from your VM vm-1 (account acme)"))
        #expect(notice.body.contains("What we did: new outbound connections blocked, until 2026-01-01 12:00 UTC."))
        #expect(notice.body.contains("Evidence:\n  10:00:01 vm-1 -> 203.0.113.7: 1,200 ports in 60 s\n"
            + "  10:00:02 vm-1 -> 203.0.113.8: 900 ports in 60 s\n"), "continuation lines keep the indentation")
        #expect(notice.body.contains("What you should do now:\n- Find the process that scans"))
        #expect(notice.body.contains("quote case c-42"))
        #expect(notice.body.contains("mail provider's API over HTTPS"))
        #expect(notice.body.contains("separate mail VM with its own public IPv4 address"))
        // It must fit in a mail: the rendered notice is accepted as an OutgoingMail.
        _ = try OutgoingMail(from: address("abuse@hosting.example"), to: [address("ops@acme.example")],
                             subject: notice.subject, body: notice.body)
    }

    @Test func anEmptyValueAloneOnItsLineRemovesTheLine() throws {
        var values = Self.values
        values["next_steps"] = ""
        let notice = try NoticeTemplate.defaultTenantNotice.render(values)
        #expect(notice.body.contains("What you should do now:\n- Check the VM for compromise"))
    }

    @Test func lineBreaksInASubjectValueBecomeSpaces() throws {
        let template = try NoticeTemplate(text: "Subject: Case {{case_id}}: {{signal}}\n\n{{signal}}\n", source: "test")
        let notice = try template.render(["case_id": "c-1", "signal": "first\r\nsecond"])
        #expect(notice.subject == "Case c-1: first second")
        #expect(notice.body == "first\nsecond")
    }

    @Test func acceptsSpacesInsidePlaceholdersAndIgnoresUnusedValues() throws {
        let template = try NoticeTemplate(text: "subject: VM {{ vm }}\r\n\r\nHello {{tenant}}.\r\n", source: "test")
        #expect(template.usedNames == ["vm", "tenant"])
        let notice = try template.render(["vm": "vm-9", "tenant": "acme", "case_id": "unused"])
        #expect(notice == RenderedNotice(subject: "VM vm-9", body: "Hello acme."))
    }

    /// A typo is caught when the template is loaded, with its line, and the message lists the
    /// names the operator can use.
    @Test(arguments: [
        ("Subject: Notice for {{vm_id}}\n\nbody\n", "vm_id", 1),
        ("Subject: Notice\n\nHello {{tenant}},\nyour VM {{VM}} was blocked\n", "VM", 4),
        ("Subject: Notice\n\n{{evidence}} {{evidance}}\n", "evidance", 3),
    ])
    func refusesUnknownPlaceholders(text: String, name: String, line: Int) throws {
        let error = try #require(throws: NoticeTemplateError.self) { try NoticeTemplate(text: text, source: "notice.txt") }
        #expect(error == .unknownPlaceholder(name: name, line: line, source: "notice.txt"))
        #expect(error.description.contains("line \(line)"))
        for known in NoticeTemplate.placeholderNames {
            #expect(error.description.contains("{{\(known)}}"))
        }
    }

    @Test(arguments: ["Subject: x\n\nHello {{tenant\n", "Subject: x\n\nHello {{}}\n", "Subject: {{ \n\nbody"])
    func refusesMalformedPlaceholders(text: String) {
        #expect {
            try NoticeTemplate(text: text, source: "t")
        } throws: { error in
            if case NoticeTemplateError.malformedPlaceholder = error { return true }
            return false
        }
    }

    @Test(arguments: ["Hello {{tenant}}\n", "Subject: x\nno empty line\n", "Subject: x"])
    func requiresASubjectLineThenAnEmptyLine(text: String) {
        #expect(throws: NoticeTemplateError.missingSubject(source: "t")) { try NoticeTemplate(text: text, source: "t") }
    }

    @Test func renderingWithoutAUsedValueIsAnError() throws {
        var values = Self.values
        values["until"] = nil
        values["vm"] = nil
        #expect(throws: NoticeTemplateError.missingValues(["until", "vm"])) {
            try NoticeTemplate.defaultTenantNotice.render(values)
        }
    }

    @Test func loadsATemplateFile() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("notice-\(UUID().uuidString).txt").path
        try "Subject: {{case_id}}\n\nBlocked {{vm}}.\n".write(toFile: path, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: path) }
        let notice = try NoticeTemplate(contentsOfFile: path).render(["case_id": "c-7", "vm": "vm-3"])
        #expect(notice == RenderedNotice(subject: "c-7", body: "Blocked vm-3."))

        try "Subject: {{case}}\n\nx\n".write(toFile: path, atomically: true, encoding: .utf8)
        #expect(throws: NoticeTemplateError.unknownPlaceholder(name: "case", line: 1, source: path)) {
            try NoticeTemplate(contentsOfFile: path)
        }
    }

    @Test func aMissingFileSaysWhichOne() throws {
        let error = try #require(throws: NoticeTemplateError.self) {
            try NoticeTemplate(contentsOfFile: "/nonexistent/portcullis-notice.txt")
        }
        guard case .unreadable(let path, _) = error else {
            Issue.record("expected unreadable, got \(error)")
            return
        }
        #expect(path == "/nonexistent/portcullis-notice.txt")
    }
}
