"""Filters placed by hand: outbound and inbound, by port and far-side prefix, lifted by hand or
by the kernel at expiry, even while the daemon is down."""
import json, subprocess, time

import pytest

from conftest import LAB, PY, run

MX = {"v4": "203.0.113.1", "v6": "2001:db8:1::1"}


def place(lab, vm, *args):
    return json.loads(lab.cli("filter", "add", vm, *args, "--json").stdout)


@pytest.mark.parametrize("vm", ["priv", "brpriv", "pub"])
def test_outbound_port_filter_blocks_that_port_only(lab, vm):
    f = place(lab, vm, "--direction", "out", "--port", "443", "--reason", "lab: abuse from this VM", "--expires", "1h")
    try:
        for family in ("v4", "v6"):
            assert lab.probe(vm, MX[family], 443) == "timeout"
        # Other ports keep their usual answer: open for the public VM, the restriction's reset for the others.
        assert lab.probe(vm, MX["v4"], 465) == ("open" if vm == "pub" else "reset")
        key = f'portcullis_dropped_packets_total{{vm="{vm}",interface="{lab_interface(vm)}",kind="filtered_out"}}'
        assert lab.metrics().get(key, 0) > 0
        assert f["id"] in lab.cli("filter", "list").stdout
    finally:
        lab.cli("filter", "lift", f["id"])
    assert lab.probe(vm, MX["v4"], 443) == "open"


def lab_interface(vm):
    from conftest import INTERFACES
    return INTERFACES[vm]


def test_outbound_prefix_filter_spares_other_destinations(lab):
    f = place(lab, "pub", "--direction", "out", "--source", "2001:db8:1::1", "--reason", "lab", "--expires", "1h")
    try:
        assert lab.probe("pub", MX["v6"], 443) == "timeout"
        assert lab.probe("pub", MX["v4"], 443) == "open"
    finally:
        lab.cli("filter", "lift", f["id"])


@pytest.fixture
def pub_service(lab):
    server = subprocess.Popen(["ip", "netns", "exec", lab.pub, PY, str(LAB / "peer.py"), "listen", "--ports", "8080",
                               "--log", str(lab.run_dir / "pub-listener.log")], stdout=subprocess.PIPE, text=True)
    assert server.stdout.readline().strip() == "listening"
    yield
    server.kill()
    server.wait()


def probe_from_internet(lab, host, port):
    return run("ip", "netns", "exec", lab.net, PY, LAB / "peer.py", "probe", host, port, "--timeout", "1.5").stdout.strip()


def test_inbound_filter_blocks_traffic_to_the_vm(lab, pub_service):
    assert probe_from_internet(lab, "203.0.113.10", 8080) == "open"
    f = place(lab, "pub", "--direction", "in", "--port", "8080", "--source", "203.0.113.0/24", "--reason", "lab: attack on the VM",
              "--expires", "1h")
    try:
        assert probe_from_internet(lab, "203.0.113.10", 8080) == "timeout"
        assert probe_from_internet(lab, "2001:db8:1::10", 8080) == "open"  # another source prefix
        key = 'portcullis_dropped_packets_total{vm="pub",interface="vmpub0",kind="filtered_in"}'
        assert lab.metrics().get(key, 0) > 0
    finally:
        lab.cli("filter", "lift", f["id"])
    assert probe_from_internet(lab, "203.0.113.10", 8080) == "open"


def test_filter_holds_and_expires_while_the_daemon_is_down(lab):
    place(lab, "brpriv", "--direction", "out", "--reason", "lab: suspended", "--expires", "5s")
    placed = time.monotonic()
    lab.kill_daemon()
    try:
        assert lab.probe("brpriv", MX["v4"], 443) == "timeout"
        time.sleep(max(0, 5.5 - (time.monotonic() - placed)))
        assert lab.probe("brpriv", MX["v4"], 443) == "open"
    finally:
        lab.start_daemon()
    deadline = time.monotonic() + 5
    while "no filters in force" not in lab.cli("filter", "list").stdout:
        assert time.monotonic() < deadline
        time.sleep(0.3)
    assert "filter.expire" in lab.cli("audit", "--limit", "20").stdout


def test_bad_filter_names_the_field(lab):
    result = lab.cli("filter", "add", "pub", "--direction", "sideways", "--reason", "x", "--expires", "1h", check=False)
    assert result.returncode != 0 and "direction" in result.stderr


@pytest.mark.parametrize("vm", ["priv", "brpriv", "pub"])
def test_quarantine_leaves_only_the_allowlist_open(lab, vm):
    """The lab's abuse.quarantine_allow is 203.0.113.1 tcp 443 and 2001:db8:1::1 tcp 443 (the
    "support portal"); everything else from the VM is dropped, pings included."""
    f = place(lab, vm, "--direction", "out", "--quarantine", "--reason", "lab: quarantine", "--expires", "1h")
    try:
        assert f["effect"] == "quarantine"
        for family in ("v4", "v6"):
            assert lab.probe(vm, MX[family], 443) == "open"
        assert lab.probe(vm, "198.51.100.1", 443) == "timeout"  # the same service elsewhere
        assert lab.probe(vm, MX["v4"], 465) == "timeout"
        ping = run("ip", "netns", "exec", lab.ns(vm), "ping", "-c", "1", "-W", "1", MX["v4"], check=False)
        assert ping.returncode == 1, ping.stderr  # 1: no reply (2 would be an error such as a missing ping)
        key = f'portcullis_dropped_packets_total{{vm="{vm}",interface="{lab_interface(vm)}",kind="quarantined"}}'
        assert lab.metrics().get(key, 0) > 0
    finally:
        lab.cli("filter", "lift", f["id"])
    assert lab.probe(vm, MX["v4"], 465) == ("open" if vm == "pub" else "reset")
    assert run("ip", "netns", "exec", lab.ns(vm), "ping", "-c", "1", "-W", "1", MX["v4"], check=False).returncode == 0


def test_quarantine_needs_an_outbound_filter_without_port(lab):
    result = lab.cli("filter", "add", "priv", "--direction", "in", "--quarantine", "--reason", "x", "--expires", "1h", check=False)
    assert result.returncode != 0 and "quarantine" in result.stderr


@pytest.mark.parametrize("vm", ["priv", "pub"])
def test_throttle_lets_a_few_connections_through(lab, vm):
    """The lab's abuse.throttle allows 10 new connections a minute (burst 10): a VM keeps
    working slowly; a scan or a flood does not get far."""
    f = place(lab, vm, "--direction", "out", "--throttle", "--reason", "lab: throttle", "--expires", "1h")
    try:
        assert f["effect"] == "throttle"
        results = [lab.probe(vm, MX["v4"], 443, timeout=0.5) for _ in range(16)]
        assert results[:8] == ["open"] * 8, results
        assert results.count("timeout") >= 4, results
        key = f'portcullis_dropped_packets_total{{vm="{vm}",interface="{lab_interface(vm)}",kind="throttled"}}'
        assert lab.metrics().get(key, 0) > 0
    finally:
        lab.cli("filter", "lift", f["id"])
    assert lab.probe(vm, MX["v4"], 443) == "open"
