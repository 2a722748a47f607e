"""The notice outbox and cases, end to end: a notice the receiver refuses stays queued across a
daemon crash and is delivered once the receiver is back (exactly once); operators preview the
exact text; closing a case makes the next action open a new one."""
import json, signal, time


REASON = "lab: notice outbox check"


def notices_for(lab, case_id):
    """This test's notices by channel (the VM's open case may hold other tests' notices too)."""
    return {n["channel"]: n for n in json.loads(lab.cli("notice", "list", "--case", case_id, "--json").stdout)
            if n["content"]["summary"] == REASON}


def wait(predicate, seconds=10, step=0.2):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(step)
    return predicate()


def test_a_refused_notice_survives_a_crash_and_is_delivered_once(lab):
    status = lab.run_dir / "webhook" / "status"
    status.write_text("503")
    placed = json.loads(lab.cli("filter", "add", "pub", "--direction", "in", "--port", "9", "--reason",
                                REASON, "--expires", "2m", "--notify", "--json").stdout)
    try:
        case = json.loads(lab.cli("case", "list", "--vm", "pub", "--status", "open", "--json").stdout)[0]
        # The e-mail goes; the webhook is refused and retried.
        assert wait(lambda: notices_for(lab, case["id"]).get("email", {}).get("status") == "delivered")
        assert wait(lambda: notices_for(lab, case["id"])["webhook"]["attempts"] >= 2)
        webhook = notices_for(lab, case["id"])["webhook"]
        assert webhook["status"] == "pending" and "503" in webhook["last_result"], webhook
        # The daemon dies with the notice still queued; the receiver recovers meanwhile.
        lab.kill_daemon(signal.SIGKILL)
        status.unlink()
        lab.start_daemon()
        assert wait(lambda: notices_for(lab, case["id"])["webhook"]["status"] == "delivered"), notices_for(lab, case["id"])
        calls = [c for c in lab.webhook_calls() if case["id"] in c["body"] and REASON in c["body"]]
        assert len(calls) == 1, calls
        assert json.loads(calls[0]["body"])["summary"] == REASON
        # The operator's preview is the exact text: the e-mail with its headers.
        preview = lab.cli("notice", "preview", notices_for(lab, case["id"])["email"]["id"]).stdout
        assert "Subject:" in preview and "To: noc@acme.example" in preview and case["id"] in preview, preview
        mail = [m for m in lab.notice_mails() if case["id"].encode() in m["data"] and REASON.encode() in m["data"]]
        assert len(mail) == 1
    finally:
        if status.exists():
            status.unlink()
        lab.cli("filter", "lift", placed["id"], check=False)


def test_closing_a_case_makes_the_next_action_open_a_new_one(lab):
    placed = json.loads(lab.cli("filter", "add", "brpriv", "--direction", "out", "--port", "9", "--reason",
                                "lab: case lifecycle", "--expires", "1m", "--json").stdout)
    case = json.loads(lab.cli("case", "list", "--vm", "brpriv", "--status", "open", "--json").stdout)[0]
    lab.cli("case", "note", case["id"], "called the tenant")
    lab.cli("filter", "lift", placed["id"])
    shown = lab.cli("case", "show", case["id"]).stdout
    assert "filter_placed" in shown and "called the tenant" in shown and "filter_lifted" in shown, shown
    lab.cli("case", "close", case["id"], "--resolution", "tenant fixed the VM")
    again = lab.cli("case", "close", case["id"], "--resolution", "twice", check=False)
    assert again.returncode != 0 and "already closed" in again.stderr
    second = json.loads(lab.cli("filter", "add", "brpriv", "--direction", "out", "--port", "9", "--reason",
                                "lab: after the close", "--expires", "1m", "--json").stdout)
    try:
        reopened = json.loads(lab.cli("case", "list", "--vm", "brpriv", "--status", "open", "--json").stdout)
        assert len(reopened) == 1 and reopened[0]["id"] != case["id"]
    finally:
        lab.cli("filter", "lift", second["id"])
