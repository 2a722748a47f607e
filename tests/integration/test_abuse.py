"""Abuse detection with real tools: nmap from a VM gets an outbound filter within 2 s, the
filter expires on time, a repeat offence gets a longer one. The lab's ladder starts at 6 s
(conftest's `abuse.responses.port_scan.base`) so expiry fits in a test."""
import email, hashlib, hmac, json, subprocess, time

import pytest

MX = "203.0.113.1"
OTHER_HOST = "198.51.100.1"  # the same "internet" namespace, another address
SCAN_TARGET = "198.51.100.99"  # scanned only here, so other tests' first contacts stay within budget


def detector_filters(lab, vm):
    return [f for f in json.loads(lab.cli("filter", "list", "--json").stdout)
            if f["vm"] == vm and f["placed_by"] == "detector:port_scan"]


def scan_until_filtered(lab, vm, target):
    scanner = subprocess.Popen(["ip", "netns", "exec", lab.ns(vm), "nmap", "-n", "-Pn", "-sS", "-T4", "--max-retries", "0",
                                "--host-timeout", "8s", "-p", "1-400", target], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    started = time.monotonic()
    try:
        while time.monotonic() - started < 5:
            found = detector_filters(lab, vm)
            if found:
                return found[0], time.monotonic() - started
            time.sleep(0.05)
        raise AssertionError(f"no filter for {vm} within 5 s of the scan")
    finally:
        scanner.wait(timeout=30)


def duration(f):
    from datetime import datetime
    return (datetime.fromisoformat(f["expires_at"].replace("Z", "+00:00"))
            - datetime.fromisoformat(f["placed_at"].replace("Z", "+00:00"))).total_seconds()


@pytest.mark.parametrize("vm", ["priv", "pub"])
def test_port_scan_gets_a_filter_that_expires_and_grows_on_repeat(lab, vm):
    first, latency = scan_until_filtered(lab, vm, SCAN_TARGET)
    print(f"{vm}: scan to filter in {latency:.2f} s")
    assert latency < 2.0
    assert duration(first) == 6
    assert first["direction"] == "out" and "port scan" in first["reason"] and f"TCP SYN to {SCAN_TARGET}:" in first["reason"]
    # A case with the kernel's first contacts as evidence, and the tenant told by e-mail.
    case = open_case(lab, vm)
    shown = lab.cli("case", "show", case["id"]).stdout
    assert "port_scan" in case["signals"] and "first contacts to 1 host(s)" in shown and f"TCP SYN to {SCAN_TARGET} port" in shown, shown
    mail = wait_for_notice_mail(lab, case["id"], "port scan")
    assert mail["rcpts"] == ["<noc@acme.example>"] and f"VM {vm}" in mail["text"]
    assert lab.probe(vm, MX, 443) == "timeout"
    # The kernel lifts it on time. (Probed at another host: a new port of the scanned one is
    # still over its budget for the window, and rightly reported again.)
    time.sleep(max(0, duration(first) + 0.5 - latency))
    assert lab.probe(vm, OTHER_HOST, 443) == "open"
    # A repeat offence, even across a restart of the daemon (histories are stored): twice as long.
    lab.restart_daemon()
    second, _ = scan_until_filtered(lab, vm, SCAN_TARGET)
    assert duration(second) == 12
    lab.cli("filter", "lift", second["id"])
    assert lab.probe(vm, OTHER_HOST, 443) == "open"


def test_a_lifted_scan_filter_starts_the_vm_afresh(lab):
    # A short scan of new ports: the scanned host's budget (15 first contacts per 5 minutes,
    # refilled at one per 20 s) is spent when the filter goes in.
    subprocess.run(["ip", "netns", "exec", lab.ns("priv"), "nmap", "-n", "-Pn", "-sS", "-T5", "--max-retries", "0",
                    "--host-timeout", "3s", "-p", "1000-1040", SCAN_TARGET], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                   timeout=30, check=False)
    deadline = time.monotonic() + 3
    while not detector_filters(lab, "priv") and time.monotonic() < deadline:
        time.sleep(0.05)
    placed = detector_filters(lab, "priv")
    assert placed, "the scan was not filtered"
    for f in placed:
        lab.cli("filter", "lift", f["id"])
    # A second later (the event log's own 2/s limit has a token again) one new port of that host,
    # which is still over its budget in the kernel's meter, is an ordinary first contact now.
    time.sleep(1)
    lab.probe("priv", SCAN_TARGET, 4443)
    time.sleep(1)
    assert detector_filters(lab, "priv") == [], "a lifted scan filter came back on the VM's next connection"


def test_ordinary_traffic_is_not_a_scan(lab):
    # A burst of connections to the same few services, as a package manager or a web client makes.
    for _ in range(30):
        for port in (443, 465, 587):
            lab.probe("pub", MX, port)
    assert detector_filters(lab, "pub") == []


@pytest.fixture
def spoofing_suspends(lab):
    # peer.py sends 3 frames 50 ms apart; a counter reading may fall between them, so the
    # threshold is 2 (one of the two readings then sees at least 2).
    lab.restart_daemon(abuse="{ spoofed_packets: 2, counter_interval: 1s, responses: { spoofing: { base: 20s, max: 1h, decay: 7d } } }")
    time.sleep(1.5)  # the first counter reading is the baseline
    yield
    for f in json.loads(lab.cli("filter", "list", "--json").stdout):
        if f["placed_by"] == "detector:spoofing":
            lab.cli("filter", "lift", f["id"])
    lab.restart_daemon()


def test_spoofing_suspends_the_vm_both_ways(lab, spoofing_suspends):
    gateway = lab.mac_of("hv", "vmpriv0")
    assert lab.sent_frames_seen("priv", "ipv4", "net", "eth0", dst_mac=gateway) == 0
    deadline = time.monotonic() + 5
    while True:
        filters = [f for f in json.loads(lab.cli("filter", "list", "--json").stdout)
                   if f["vm"] == "priv" and f["placed_by"] == "detector:spoofing"]
        if len(filters) == 2 or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert sorted(f["direction"] for f in filters) == ["in", "out"], (
        filters, {k: v for k, v in lab.metrics().items() if 'vm="priv"' in k and "dropped" in k},
        (lab.run_dir / "daemon.log").read_text()[-3000:])
    assert all("suspend" in f["reason"] and "spoofing" in f["reason"] for f in filters)
    assert lab.probe("priv", MX, 443) == "timeout"
    assert lab.probe("pub", MX, 443) == "open"  # only the spoofing VM
    # The case holds the counters; the owner gets an e-mail naming the VM and the evidence, and
    # the abuse desk's webhook gets the same notice, signed.
    case = open_case(lab, "priv")
    shown = lab.cli("case", "show", case["id"]).stdout
    assert "spoofing" in case["signals"] and "ipv4_source" in shown, shown
    # ...and the spoofed packets the kernel sampled: what the VM claimed to be, and where it sent.
    assert "ipv4_source: MAC 02:" in shown and "IPv4 UDP 203.0.113.99:40000 -> 203.0.113.1:9" in shown, shown
    mail = wait_for_notice_mail(lab, case["id"], "IP spoofing")
    text = mail["text"]
    assert mail["rcpts"] == ["<noc@acme.example>"] and mail["tls"], mail
    assert mail["auth"] == "notices", "the smarthost requires a login, over TLS"
    assert "VM priv" in text and "ipv4_source" in text and "suspended" in text, text
    call = wait_for_webhook(lab, case["id"], '"signal":"spoofing"')
    timestamp = call["headers"]["X-Portcullis-Timestamp"]
    expected = hmac.new(lab.WEBHOOK_SECRET.encode(), f"{timestamp}.{call['body']}".encode(), hashlib.sha256).hexdigest()
    assert call["headers"]["X-Portcullis-Signature"] == f"sha256={expected}"
    body = json.loads(call["body"])
    assert body["vm"] == "priv" and body["signal"] == "spoofing" and body["response"] == "suspend"
    # The case also holds the port-scan tests' notices (one open case per VM): these two are the spoofing ones.
    notices = [n for n in json.loads(lab.cli("notice", "list", "--case", case["id"], "--json").stdout)
               if n["content"]["signal"] == "spoofing"]
    assert sorted(n["channel"] for n in notices) == ["email", "webhook"]
    assert all(n["status"] == "delivered" for n in notices), notices


def open_case(lab, vm):
    cases = json.loads(lab.cli("case", "list", "--vm", vm, "--status", "open", "--json").stdout)
    assert cases, f"no open case for {vm}"
    return cases[0]


def wait_for_notice_mail(lab, case_id, containing, seconds=10):
    """The notice e-mail about `case_id` whose (decoded) text contains `containing`."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        for mail in lab.notice_mails():
            message = email.message_from_bytes(mail["data"])
            mail["text"] = message.get_payload(decode=True).decode()
            if message["X-Portcullis-Case"] == case_id and containing in mail["text"]:
                return mail
        time.sleep(0.2)
    raise AssertionError(f"no notice e-mail for {case_id} reached the lab smarthost; notices: "
                         + lab.cli("notice", "list", "--case", case_id).stdout)


def wait_for_webhook(lab, case_id, containing, seconds=10):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        for call in lab.webhook_calls():
            if case_id in call["body"] and containing in call["body"]:
                return call
        time.sleep(0.2)
    raise AssertionError(f"no webhook call for {case_id}")


@pytest.fixture
def fast_syn_flood(lab):
    lab.restart_daemon(abuse="{ spoofed_packets: 100000, port_scan: { syn_flood_per_second: 200 }, "
                             "responses: { syn_flood: { base: 10s, max: 1h, decay: 1d } } }")
    yield
    for f in json.loads(lab.cli("filter", "list", "--json").stdout):
        if f["placed_by"] == "detector:syn_flood":
            lab.cli("filter", "lift", f["id"])
    lab.restart_daemon()


def test_a_syn_flood_at_one_port_is_stopped(lab, fast_syn_flood):
    """hping3 floods one host and port: no new first contacts after the first, so the scan
    budgets never see it; the SYN rate does."""
    flood = subprocess.Popen(["ip", "netns", "exec", lab.ns("priv"), "hping3", "-S", "-p", "443", "-i", "u1000", MX],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 5
        found = []
        while time.monotonic() < deadline and not found:
            found = [f for f in json.loads(lab.cli("filter", "list", "--json").stdout)
                     if f["vm"] == "priv" and f["placed_by"] == "detector:syn_flood"]
            time.sleep(0.1)
        assert found and found[0]["direction"] == "out" and "SYN flood" in found[0]["reason"], found
        assert detector_filters(lab, "priv") == []  # not mistaken for a scan
    finally:
        flood.kill()
        flood.wait()
    assert lab.probe("priv", MX, 443) == "timeout"
    assert lab.probe("pub", MX, 443) == "open"
