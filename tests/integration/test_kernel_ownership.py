"""Portcullis owns its tables and nothing else; it repairs drift and never leaves a gap."""
import json, subprocess, time

from conftest import LAB, PY, run

FOREIGN = """table inet provider_fw {
  chain input { type filter hook input priority 10; policy accept; tcp dport 2222 counter accept; }
}
"""


def foreign_tables(lab):
    tables = json.loads(lab.nft("-j", "list", "tables").stdout)["nftables"]
    return {(t["table"]["family"], t["table"]["name"]) for t in tables if "table" in t} - {
        ("bridge", "portcullis"), ("inet", "portcullis"), ("arp", "portcullis")}


def test_foreign_tables_survive_every_operation(lab):
    subprocess.run(["ip", "netns", "exec", lab.hv, "nft", "-f", "-"], input=FOREIGN, text=True, check=True)
    before = lab.nft("list", "table", "inet", "provider_fw").stdout
    assert foreign_tables(lab) == {("ip", "labnat"), ("inet", "provider_fw")}
    lab.cli("vm", "add", "tmp1", "--tenant", "t", "--interface", "vmtmp1", "--mac", "02:00:00:00:09:01", "--ipv4", "100.64.0.99")
    lab.cli("exemption", "grant", "tmp1", "--ports", "25", "--reason", "x", "--expires", "1h")
    lab.cli("vm", "remove", "tmp1")
    lab.kill_daemon()
    lab.start_daemon()
    assert lab.nft("list", "table", "inet", "provider_fw").stdout == before
    assert foreign_tables(lab) == {("ip", "labnat"), ("inet", "provider_fw")}
    lab.nft("delete", "table", "inet", "provider_fw")


def test_repair_after_foreign_flush_ruleset(lab):
    try:
        lab.nft("flush", "ruleset")
        flushed = time.monotonic()
        while lab.nft("list", "table", "inet", "portcullis", check=False).returncode != 0:
            assert time.monotonic() - flushed < 2.0, "not repaired within 2 s"
            time.sleep(0.05)
        repaired = time.monotonic() - flushed
        print(f"repaired after {repaired:.2f} s")
        assert repaired < 2.0
    finally:
        run(LAB / "lab.sh", "nat", lab.prefix)  # the lab's own NAT table went with the flush
    assert lab.probe("priv", "203.0.113.1", 25) == "reset"
    assert lab.probe("priv", "203.0.113.1", 443) == "open"
    metrics = lab.metrics()
    assert metrics["portcullis_reconcile_repairs_total"] >= 1
    # Start and repair both replaced the tables with the set elements spliced into
    # libnftables' transaction, not through the slower all-text fallback.
    assert metrics["portcullis_apply_total{kind=\"replace\"}"] >= 2
    assert metrics["portcullis_replace_text_fallbacks_total"] == 0


def test_deleted_rule_and_element_are_repaired(lab):
    lab.nft("flush", "chain", "inet", "portcullis", "restricted_port")
    lab.nft("delete", "element", "bridge", "portcullis", "vm_bridge_mac", '{ "vmpub0" }')
    # Any foreign commit moves the ruleset generation; the next round compares everything.
    deadline = time.monotonic() + 3
    while time.monotonic() < deadline:
        rules = lab.nft("list", "chain", "inet", "portcullis", "restricted_port").stdout
        ports = lab.nft("list", "map", "bridge", "portcullis", "vm_bridge_mac").stdout
        if "reject with tcp reset" in rules and "vmpub0" in ports:
            break
        time.sleep(0.2)
    else:
        raise AssertionError("drift not repaired within 3 s")
    assert lab.probe("priv", "203.0.113.1", 587) == "reset"


def test_a_swapped_element_is_repaired(lab):
    # One transaction that keeps the count: the private VM leaves the restricted set and a
    # made-up interface takes its place. Only a comparison by content notices.
    run("ip", "netns", "exec", lab.hv, "nft", "-f", "-",
        input='delete element inet portcullis restricted { "vmpriv0" }\nadd element inet portcullis restricted { "bogus0" }\n')
    deadline = time.monotonic() + 3
    while time.monotonic() < deadline:
        restricted = lab.nft("list", "set", "inet", "portcullis", "restricted").stdout
        if "vmpriv0" in restricted and "bogus0" not in restricted:
            break
        time.sleep(0.2)
    else:
        raise AssertionError("swapped element not repaired within 3 s")
    assert lab.probe("priv", "203.0.113.1", 25) == "reset"


def test_kill_9_and_restart_never_lets_port_25_through(lab):
    hammer = subprocess.Popen(["ip", "netns", "exec", lab.priv, PY, str(LAB / "peer.py"), "hammer", "203.0.113.1", "25",
                               "--seconds", "6", "--interval", "0.01"], stdout=subprocess.PIPE, text=True)
    time.sleep(1)
    lab.kill_daemon()  # SIGKILL: no clean-up code runs
    time.sleep(1.5)
    lab.start_daemon()  # reconciles without flushing first
    out, _ = hammer.communicate(timeout=30)
    tally = json.loads(out)
    print("attempts during kill -9 and restart:", tally)
    assert tally.get("open", 0) == 0 and tally.get("closed", 0) == 0
    assert tally.get("reset", 0) > 100


def test_daemon_restart_keeps_exemption_timeouts(lab):
    out = lab.cli("exemption", "grant", "priv", "--ports", "587", "--reason", "x", "--expires", "1h").stdout
    exemption_id = out.split()[1]
    lab.kill_daemon()
    assert lab.probe("priv", "203.0.113.1", 587) == "open"  # rules live in the kernel, not in the daemon
    lab.start_daemon()
    assert lab.probe("priv", "203.0.113.1", 587) == "open"
    lab.cli("exemption", "revoke", exemption_id)
    assert lab.probe("priv", "203.0.113.1", 587) == "reset"


def test_idle_daemon_finds_no_drift(lab):
    """The reconciler's idea of the kernel (rule counts, set contents) matches what the
    kernel really holds: left alone, it never repairs anything."""
    before = lab.metrics()["portcullis_reconcile_repairs_total"]
    lab.nft("add", "table", "inet", "someone_else")  # a foreign commit: the next round compares everything
    time.sleep(3)
    lab.nft("delete", "table", "inet", "someone_else")
    time.sleep(2)
    assert lab.metrics()["portcullis_reconcile_repairs_total"] == before


def test_wrong_attachment_fails_closed(lab):
    """A routed VM registered as a bridge port: its identities are only in the bridge table,
    so the inet table must drop everything from its interface, not let it through unchecked."""
    ns = f"{lab.prefix}-mis"
    args = ["--tenant", "t", "--interface", "vmmis0", "--mac", "02:00:00:00:07:01", "--ipv4", "100.64.7.10"]
    try:
        run("ip", "netns", "add", ns)
        run("ip", "link", "add", "vmmis0", "netns", lab.hv, "type", "veth", "peer", "name", "eth0", "netns", ns)
        run("ip", "-n", lab.hv, "addr", "add", "100.64.7.1/24", "dev", "vmmis0")
        run("ip", "-n", lab.hv, "link", "set", "vmmis0", "up")
        run("ip", "-n", ns, "link", "set", "eth0", "address", "02:00:00:00:07:01", "up")
        run("ip", "-n", ns, "addr", "add", "100.64.7.10/24", "dev", "eth0")
        run("ip", "-n", ns, "route", "add", "default", "via", "100.64.7.1")
        probe = lambda: run("ip", "netns", "exec", ns, PY, LAB / "peer.py", "probe", "203.0.113.1", "443",
                            "--timeout", "1").stdout.strip()
        lab.cli("vm", "add", "mis", *args, "--bridge", "br0")
        counter = 'portcullis_dropped_packets_total{vm="mis",interface="vmmis0",kind="wrong_attachment"}'
        before = lab.metrics().get(counter, 0)
        assert probe() != "open"
        assert lab.metrics().get(counter, 0) > before
        lab.cli("vm", "remove", "mis")
        lab.cli("vm", "add", "mis", *args, "--routed")
        assert probe() == "open"
    finally:
        lab.cli("vm", "remove", "mis", check=False)
        run("ip", "netns", "del", ns, check=False)
