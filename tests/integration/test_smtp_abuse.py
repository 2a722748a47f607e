"""Spam through the relay: a burst of recipients from one VM gets its mail ports blocked (a
kernel filter from the spam detector, with a case holding the VM's transaction records),
while another VM's mail still goes through."""
import json, time

import pytest

MX = "203.0.113.1"


@pytest.fixture
def low_spam_threshold(lab):
    lab.restart_daemon(abuse="{ spoofed_packets: 100000, smtp: { recipients: 5, window: 1h }, "
                             "responses: { smtp_recipients: { base: 30s, max: 1h, decay: 1d } } }")
    yield
    for f in json.loads(lab.cli("filter", "list", "--json").stdout):
        if f["placed_by"].startswith("detector:smtp"):
            lab.cli("filter", "lift", f["id"])
    lab.restart_daemon()


def send(lab, vm, recipients, check=True):
    return lab.swaks(vm, "--server", MX, "--from", "news@tenant.example", "--to", ",".join(recipients),
                     "--header", "Subject: offer", "--body", "buy now", check=check, timeout=30)


def test_a_spam_burst_blocks_that_vms_mail_only(lab, low_spam_threshold):
    exemption = lab.cli("exemption", "grant", "brpriv", "--ports", "25", "--reason", "lab: a second mail sender",
                        "--expires", "10m").stdout.split()[1]
    try:
        # 3 + 3 recipients: the second message crosses 5 in the hour.
        send(lab, "pub", [f"user{i}@one.example" for i in range(3)])
        send(lab, "pub", [f"user{i}@two.example" for i in range(3)])
        deadline = time.monotonic() + 5
        filters = []
        while time.monotonic() < deadline and len(filters) < 3:
            filters = [f for f in json.loads(lab.cli("filter", "list", "--json").stdout)
                       if f["vm"] == "pub" and f["placed_by"] == "detector:smtp_recipients"]
            time.sleep(0.2)
        assert sorted(f["port"] for f in filters) == [25, 465, 587], filters
        assert all(f["direction"] == "out" for f in filters)
        # The kernel blocks the VM's mail before the relay sees it; its other traffic flows.
        assert lab.probe("pub", MX, 25) == "timeout"
        assert lab.probe("pub", MX, 587) == "timeout"
        assert lab.probe("pub", MX, 443) == "open"
        # Another VM's mail still goes through the relay.
        before = len(lab.mx_messages())
        send(lab, "brpriv", ["ops@example.org"])
        assert len(lab.mx_messages()) == before + 1
        # The case holds the detection with the VM's transactions as evidence.
        cases = json.loads(lab.cli("case", "list", "--vm", "pub", "--status", "open", "--json").stdout)
        assert cases and "smtp_recipients" in cases[0]["signals"]
        shown = lab.cli("case", "show", cases[0]["id"]).stdout
        assert "6 recipients accepted" in shown and "one.example" in shown and "two.example" in shown, shown
        assert "filter_placed" in shown
    finally:
        lab.cli("exemption", "revoke", exemption, check=False)
