"""The transparent SMTP relay with real peers: swaks and raw clients in the VMs, the lab MX
(tests/lab/mx.py) in the internet. Port 25 of every VM that is not refused goes through the
relay in the daemon; the MX must see the VM's own address and the VM's exact bytes."""
import json, secrets, time

import pytest

MX = {"v4": "203.0.113.1", "v6": "2001:db8:1::1"}
# What the MX must see as the source: the VM's own address; the routed VM's IPv4 is NATed
# by the lab (table ip labnat), so the MX sees the NAT address for it, as without the relay.
SOURCE = {("pub", "v4"): "203.0.113.10", ("pub", "v6"): "2001:db8:1::10",
          ("brpriv", "v4"): "198.51.100.10", ("brpriv", "v6"): "2001:db8:1::40",
          ("priv", "v4"): "203.0.113.2", ("priv", "v6"): "2001:db8:2::10"}


@pytest.fixture(scope="module")
def exempted(lab):
    """The restricted VMs with port 25 opened: their mail goes through the relay too."""
    ids = []
    for vm in ("priv", "brpriv"):
        out = lab.cli("exemption", "grant", vm, "--ports", "25", "--reason", "lab: relay tests", "--expires", "2h", "--json").stdout
        ids.append(__import__("json").loads(out)["id"])
    yield
    for exemption in ids:
        lab.cli("exemption", "revoke", exemption, check=False)


def new_messages(lab, before):
    return [m for m in lab.mx_messages() if m["id"] > before]


def last_id(lab):
    messages = lab.mx_messages()
    return messages[-1]["id"] if messages else 0


def message_file(lab, text):
    path = lab.run_dir / f"msg-{secrets.token_hex(4)}.eml"
    path.write_bytes(text)
    return path


def unique_message(extra=b""):
    marker = secrets.token_hex(8).encode()
    return marker, (b"From: vm@tenant.example\r\nTo: sink@example.org\r\nSubject: lab " + marker + b"\r\n\r\n"
                    b"first line\r\n.a line that starts with a dot\r\n..two dots\r\n" + extra + b"last line " + marker + b"\r\n")


@pytest.mark.parametrize("family", ["v4", "v6"])
@pytest.mark.parametrize("vm", ["pub", "brpriv", "priv"])
def test_mail_arrives_byte_identical_from_the_vms_address(lab, exempted, vm, family):
    before = last_id(lab)
    marker, text = unique_message()
    path = message_file(lab, text)
    lab.swaks(vm, "--server", MX[family], "--from", "vm@tenant.example", "--to", "sink@example.org",
              "--helo", f"{vm}.tenant.example", "--data", path)
    arrived = new_messages(lab, before)
    assert len(arrived) == 1, arrived
    message = arrived[0]
    # swaks ends DATA with <CRLF>.<CRLF> after the file's own final CRLF: one empty line more.
    assert message["data"] == text + b"\r\n"
    assert message["peer"].removeprefix("::ffff:") == SOURCE[(vm, family)]
    assert message["ehlo"] == f"{vm}.tenant.example"


def test_pipelining_keeps_the_order(lab):
    before = last_id(lab)
    marker, text = unique_message()
    out = lab.swaks("pub", "--server", MX["v4"], "--pipeline", "--from", "a@tenant.example",
                    "--to", "one@example.org,reject-me@example.org,two@example.org", "--data", message_file(lab, text)).stdout
    assert "250 2.0.0 queued" in out
    arrived = new_messages(lab, before)
    assert len(arrived) == 1
    assert arrived[0]["rcpts"] == ["<one@example.org>", "<two@example.org>"]
    assert arrived[0]["data"] == text + b"\r\n"


def test_8bitmime_passes_through(lab):
    before = last_id(lab)
    marker, text = unique_message("Grüße aus dem Labor: ünïcödé\r\n".encode())
    out = lab.smtp_client("pub", "send", MX["v6"], "--file", message_file(lab, text), "--8bitmime")
    assert "8BITMIME" in out["ehlo"] and out["final"].startswith("250"), out
    arrived = new_messages(lab, before)
    assert [m["data"] for m in arrived] == [text]


def test_large_message_arrives_intact(lab):
    before = last_id(lab)
    line = b"x" * 998 + b"\r\n"
    marker, text = unique_message(line * 5000)  # about 5 MB
    out = lab.smtp_client("pub", "send", MX["v4"], "--file", message_file(lab, text), "--size-param", timeout=120)
    assert out["final"].startswith("250"), out
    arrived = new_messages(lab, before)
    assert len(arrived) == 1 and arrived[0]["data"] == text


def test_ehlo_hides_what_the_relay_does_not_relay(lab):
    out = lab.swaks("pub", "--server", MX["v4"], "--quit-after", "EHLO").stdout
    assert "PIPELINING" in out and "8BITMIME" in out
    for hidden in ("XCLIENT", "XFORWARD", "AUTH"):
        assert hidden not in out


# Every end-of-data variant an MTA has been tricked with (SMTP smuggling, 2023): a lenient MX
# ends the message at the first of these, and takes what follows as new commands. The relay
# must refuse the message, so the second message never exists.
SMUGGLING = {
    "lf-dot-lf": b"\n.\n",
    "cr-dot-cr": b"\r.\r",
    "lf-dot-crlf": b"\n.\r\n",
    "crlf-dot-lf": b"\r\n.\n",
    "cr-dot-crlf": b"\r.\r\n",
    "crlf-dot-cr": b"\r\n.\r",
    "lf-dot-cr": b"\n.\r",
    "cr-dot-lf": b"\r.\n",
    "crlf-lf-dot-crlf": b"\r\n\n.\r\n",
    "crlf-cr-dot-crlf": b"\r\n\r.\r\n",
    "crlf-dot-cr-crlf": b"\r\n.\r\r\n",
    "crlf-dot-lf-crlf": b"\r\n.\n\r\n",
    "cr-crlf-dot-cr-crlf": b"\r\r\n.\r\r\n",
    "lf-crlf-dot-lf": b"\n\r\n.\n",
    "crlf-dot-nul-crlf": b"\r\n.\x00\r\n",
    "crlf-nul-dot-crlf": b"\r\n\x00.\r\n",
}


@pytest.mark.parametrize("variant", sorted(SMUGGLING))
def test_smuggled_end_of_data_never_makes_a_second_message(lab, variant):
    before = last_id(lab)
    smuggled = secrets.token_hex(6)
    wire = (b"EHLO vm.lab.example\r\nMAIL FROM:<a@tenant.example>\r\nRCPT TO:<sink@example.org>\r\nDATA\r\n"
            b"Subject: carrier\r\n\r\nhello" + SMUGGLING[variant] +
            b"MAIL FROM:<ceo@bank.example>\r\nRCPT TO:<victim-" + smuggled.encode() + b"@example.org>\r\nDATA\r\n"
            b"Subject: smuggled\r\n\r\nsmuggled\r\n.\r\nQUIT\r\n")
    out = lab.smtp_client("pub", "raw", MX["v4"], "--file", message_file(lab, wire))
    arrived = new_messages(lab, before)
    assert not any(smuggled in r for m in arrived for r in m["rcpts"]), arrived
    assert not any(b"smuggled" in m["data"] and b"carrier" not in m["data"] for m in arrived)
    # Nothing of it is completed upstream: the relay refuses the whole message.
    assert arrived == [], (out, arrived)
    assert any(r.startswith("550 5.6.0") or r.startswith("500") for r in out["replies"]), out


def test_proxy_down_means_refused_never_passed_through(lab):
    before = last_id(lab)
    sessions = len(lab.mx_sessions())
    lab.kill_daemon()
    try:
        for family in ("v4", "v6"):
            assert lab.probe("pub", MX[family], 25) == "reset"
            assert lab.probe("pub", MX[family], 443) == "open"
        time.sleep(0.5)
        assert len(lab.mx_sessions()) == sessions
        assert new_messages(lab, before) == []
    finally:
        lab.start_daemon()
    assert lab.probe("pub", MX["v4"], 25) == "open"


def test_policy_routing_is_repaired(lab):
    lab_ns = ["ip", "netns", "exec", lab.hv]
    from conftest import run
    run(*lab_ns, "ip", "rule", "del", "fwmark", "0x50430004", "lookup", "2525")
    deadline = time.time() + 3
    while time.time() < deadline:
        if "fwmark 0x50430004 lookup 2525" in run(*lab_ns, "ip", "rule").stdout:
            break
        time.sleep(0.2)
    assert "fwmark 0x50430004 lookup 2525" in run(*lab_ns, "ip", "rule").stdout
    assert lab.probe("pub", MX["v4"], 25) == "open"


def test_explain_says_proxied(lab):
    out = lab.cli("explain", "pub", "--port", "25").stdout
    assert "PROXIED" in out and "tproxy to :10025" in out


def test_transactions_are_counted_per_vm(lab):
    key = 'portcullis_smtp_transactions_total{vm="pub",verdict="relayed"}'
    before = lab.metrics().get(key, 0)
    lab.swaks("pub", "--server", MX["v4"], "--from", "a@tenant.example", "--to", "sink@example.org")
    assert lab.metrics()[key] == before + 1
    assert lab.metrics()['portcullis_smtp_recipients_total{vm="pub"}'] >= 1


@pytest.fixture
def refusing_mx(lab):
    """An address in the internet whose port 25 answers every SYN with a reset."""
    from conftest import run
    net = ["ip", "netns", "exec", lab.net]
    run(*net, "ip", "addr", "add", "203.0.113.77/32", "dev", "eth0")
    run(*net, "nft", "add table inet refuse; add chain inet refuse input { type filter hook input priority -10; }; "
                     "add rule inet refuse input ip daddr 203.0.113.77 tcp dport 25 reject with tcp reset")
    yield "203.0.113.77"
    run(*net, "nft", "delete", "table", "inet", "refuse", check=False)
    run(*net, "ip", "addr", "del", "203.0.113.77/32", "dev", "eth0", check=False)


def test_unreachable_upstream_is_a_421_never_a_silent_close(lab, refusing_mx):
    out = lab.smtp_client("pub", "connect", refusing_mx, "--count", "1")
    assert out["greetings"][0].startswith("421 4.4.2"), out


def test_every_message_is_in_the_transaction_log(lab):
    import json
    marker = secrets.token_hex(4)
    lab.swaks("pub", "--server", MX["v6"], "--from", f"log-{marker}@tenant.example", "--to", "a@example.org,b@example.net",
              "--helo", f"log-{marker}.tenant.example")
    entries = []
    for _ in range(20):
        entries = [e for e in json.loads(lab.cli("smtp", "log", "--vm", "pub", "--since", "1h", "--json").stdout)
                   if e.get("ehlo_name") == f"log-{marker}.tenant.example"]
        if entries:
            break
        time.sleep(0.1)
    assert len(entries) == 1, entries
    entry = entries[0]
    assert entry["verdict"] == "relayed" and entry["tenant"] == "acme"
    assert entry["destination"] == "2001:db8:1::1" and entry["destination_port"] == 25
    assert entry["client"] == "2001:db8:1::10"
    assert entry["recipient_count"] == 2 and sorted(entry["recipient_domains"]) == ["example.net", "example.org"]
    assert entry["sender"] == f"log-{marker}@tenant.example"
    assert entry["upstream_greeting_domain"] == "lab-mx.example"
    assert entry["upstream_reply"]["code"] == 250
    human = lab.cli("smtp", "log", "--vm", "pub", "--since", "1h").stdout
    assert f"log-{marker}@tenant.example" in human


def test_a_smuggling_attempt_is_logged_with_its_verdict(lab):
    import json
    wire = (b"EHLO smuggle-log.example\r\nMAIL FROM:<a@tenant.example>\r\nRCPT TO:<sink@example.org>\r\nDATA\r\n"
            b"x\n.\nMAIL FROM:<b@x>\r\n.\r\nQUIT\r\n")
    lab.smtp_client("pub", "raw", MX["v4"], "--file", message_file(lab, wire))
    time.sleep(0.5)
    entries = [e for e in json.loads(lab.cli("smtp", "log", "--vm", "pub", "--since", "1h", "--json").stdout)
               if e.get("ehlo_name") == "smuggle-log.example"]
    assert entries and entries[0]["verdict"] == "bareLineEnding", entries


@pytest.fixture
def mx_on_pub(lab):
    """The public VM runs a mail server of its own on port 25."""
    import subprocess
    from conftest import LAB, PY
    store = lab.run_dir / "pub-mx"
    server = subprocess.Popen(["ip", "netns", "exec", lab.pub, PY, str(LAB / "mx.py"), "--store", str(store)],
                              stdout=subprocess.PIPE, text=True)
    assert server.stdout.readline().strip() == "listening"
    yield store
    server.kill()
    server.wait()


def test_mail_between_two_vms_on_the_same_bridge(lab, exempted, mx_on_pub):
    """brpriv and pub share 2001:db8:1::/64 on br0: the MX's answers to the relay come in on a
    VM port (pub's), not the uplink, and must still reach the relay."""
    out = lab.swaks("brpriv", "--server", "2001:db8:1::10", "--from", "a@globex.example", "--to", "b@acme.example").stdout
    assert "250 2.0.0 queued" in out
    envelopes = [json.loads(p.read_text()) for p in mx_on_pub.glob("*.json")]
    assert [e["peer"] for e in envelopes] == ["2001:db8:1::40"], envelopes


def test_the_relay_never_dials_the_host_itself(lab, exempted):
    # 203.0.113.2 is the hypervisor's own address on br0.
    assert lab.probe("pub", "203.0.113.2", 25) == "reset"
    assert lab.probe("pub", "203.0.113.2", 10025) == "timeout"  # dropped: never reaches the relay


@pytest.mark.parametrize("kind,reaches_vm", [("icmp-frag-25", False), ("icmp-frag-80", True),
                                             ("icmp6-toobig-25", False), ("icmp6-toobig-80", True)])
def test_icmp_errors_about_the_relays_connections_go_to_the_host(lab, kind, reaches_vm):
    # The bridged public VM's port 25 is relayed from its own address, so a router's "fragmentation
    # needed" about VM-address -> MX:25 is about the relay's upstream connection: the host takes it
    # (where the relay's socket learns the path MTU). About any other port it is the VM's business.
    vm_mac = lab.mac_of("pub", "eth0")
    assert lab.sent_frames_seen("net", kind, "pub", "eth0", dst_mac=vm_mac) == (3 if reaches_vm else 0)
