"""A filter outlives the daemon: SIGKILL it while filters are in force and the kernel keeps
enforcing them, and lifts them at their expiry on its own (the set elements carry their
timeouts); the restarted daemon then retires the expired filters from its list. One routed
(inet table) and one bridged (bridge table) VM at once, so the test waits for one expiry."""
import json, time

import pytest

from conftest import INTERFACES

MX = "203.0.113.1"
EXPIRES = 20
TABLE = {"priv": "inet", "pub": "bridge"}


def out_all_timeouts(lab, vm):
    """The VM's element in the kernel's `out_all` set: (timeout, expires in) in seconds, or None."""
    doc = json.loads(lab.nft("-j", "list", "set", TABLE[vm], "portcullis", "out_all").stdout)
    for item in doc["nftables"]:
        for elem in item.get("set", {}).get("elem", []):
            if isinstance(elem, dict) and elem["elem"]["val"] == INTERFACES[vm]:
                return elem["elem"].get("timeout"), elem["elem"].get("expires")
    return None


@pytest.fixture
def daemon_back(lab):
    """Whatever happens, the session's daemon runs again afterwards, with no filter of ours left."""
    placed = []
    yield placed
    if lab.daemon is None or lab.daemon.poll() is not None:
        lab.start_daemon()
    for f in placed:
        lab.cli("filter", "lift", f, check=False)


def test_killed_daemon_leaves_filters_enforced_until_they_expire(lab, daemon_back):
    filters = {}
    for vm in TABLE:
        assert lab.probe(vm, MX, 443) == "open"
        out = lab.cli("filter", "add", vm, "--direction", "out", "--reason", "lab: abuse, daemon to be killed",
                      "--expires", f"{EXPIRES}s", "--json").stdout
        filters[vm] = json.loads(out)["id"]
        daemon_back.append(filters[vm])
    placed = time.monotonic()
    lab.kill_daemon()  # SIGKILL: no clean-up of any kind

    for vm in TABLE:
        # The kernel still drops the VM's traffic, and knows when to stop.
        assert lab.probe(vm, MX, 443) == "timeout", vm
        timeout, expires = out_all_timeouts(lab, vm)
        assert timeout == EXPIRES, (vm, timeout)
        assert 0 < expires <= EXPIRES - (time.monotonic() - placed) + 1, (vm, expires)
    assert lab.probe("brpriv", MX, 443) == "open"  # only the filtered VMs

    time.sleep(max(0, EXPIRES + 1 - (time.monotonic() - placed)))
    for vm in TABLE:
        assert out_all_timeouts(lab, vm) is None, vm
        assert lab.probe(vm, MX, 443) == "open", vm
    assert lab.daemon is None  # all of that without the daemon

    lab.start_daemon()
    deadline = time.monotonic() + 5
    while True:
        listed = {f["id"] for f in json.loads(lab.cli("filter", "list", "--json").stdout)}
        if not listed & set(filters.values()) or time.monotonic() > deadline:
            break
        time.sleep(0.3)
    assert not listed & set(filters.values()), listed
    expired = {e["subject"] for e in json.loads(lab.cli("audit", "--limit", "50", "--json").stdout)
               if e["action"] == "filter.expire" and e["actor"] == "portcullis"}
    for vm, f in filters.items():
        assert f"filter/{f}" in expired, (vm, expired)
        assert out_all_timeouts(lab, vm) is None, vm  # the restart did not put it back
        assert lab.probe(vm, MX, 443) == "open", vm
