"""False positives: a benign traffic mix from every lab VM must not look like a port scan.
Web fetches to a handful of hosts, DNS every second, package-manager bursts of parallel
downloads from one mirror (tests/lab/benign.py) and one mail a minute through the relay, for
PORTCULLIS_BENIGN_SECONDS (default 180; `bench/abuse_flood.py benign` runs it for 600). The detector
counts first contacts to a (host, port), so repeated connections to the same services must cost
nothing however many there are; every flow must also succeed."""
import json, os, secrets, subprocess, time

import pytest

from conftest import LAB, PY, VMS, run

SECONDS = float(os.environ.get("PORTCULLIS_BENIGN_SECONDS", "180"))
# The internet's extra hosts, on the lab internet's loopback (documentation ranges; 2001:db8:25::/64
# is routed to it already). The lab's listener answers on 443 on every address of the namespace.
EXTRA_HOSTS = ["198.51.100.80", "198.51.100.81", "198.51.100.82", "198.51.100.90", "2001:db8:25::80"]
WEB = ["203.0.113.1", "198.51.100.80", "198.51.100.81", "198.51.100.82", "2001:db8:1::1", "2001:db8:25::80"]
MIRROR = "198.51.100.90"
RESOLVER = {"pub": "203.0.113.1", "priv": "203.0.113.1", "brpriv": "2001:db8:1::1"}
MX = "203.0.113.1"


@pytest.fixture
def internet_services(lab):
    """Extra web hosts, a mirror and a resolver in the lab's internet; all removed afterwards."""
    added, server = [], None
    try:
        for host in EXTRA_HOSTS:
            run("ip", "-n", lab.net, "addr", "add", host + ("/128" if ":" in host else "/32"), "dev", "lo")
            added.append(host)
        server = subprocess.Popen(["ip", "netns", "exec", lab.net, PY, str(LAB / "benign.py"), "serve",
                                   "--dns", "203.0.113.1,2001:db8:1::1"], stdout=subprocess.PIPE, text=True)
        assert server.stdout.readline().strip() == "serving"
        yield
    finally:
        if server:
            server.kill()
            server.wait()
        for host in added:
            run("ip", "-n", lab.net, "addr", "del", host + ("/128" if ":" in host else "/32"), "dev", "lo", check=False)


def abuse_counters(lab):
    m = lab.metrics()
    offences = {k: v for k, v in m.items() if k.startswith("portcullis_abuse_offences_total")}
    return offences, m.get("portcullis_scan_events_total", 0)


def audit(lab):
    return json.loads(lab.cli("audit", "--limit", "1000", "--json").stdout)


def detector_placements(lab, after_id):
    """Filters a detector placed since audit entry `after_id`, including any that already expired
    (the lab's port-scan filters last 6 s, so the filter list alone would miss them)."""
    return [e for e in audit(lab) if e["id"] > after_id and e["action"] == "filter.place" and e["actor"].startswith("detector:")]


def mx_last_id(lab):
    messages = lab.mx_messages()
    return messages[-1]["id"] if messages else 0


def test_benign_mix_gets_no_filter_and_no_offence(lab, internet_services):
    offences_before, events_before = abuse_counters(lab)
    audit_before = max((e["id"] for e in audit(lab)), default=0)
    mail_before = mx_last_id(lab)
    mixes = {vm: subprocess.Popen(["ip", "netns", "exec", lab.ns(vm), PY, str(LAB / "benign.py"), "mix",
                                   "--seconds", str(SECONDS), "--https", ",".join(WEB), "--dns", RESOLVER[vm],
                                   "--mirror", MIRROR, "--burst-every", "30", "--parallel", "16", "--size", "300000"],
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for vm in VMS}
    mails, markers = 0, []
    try:
        started = time.monotonic()
        # One mail a minute from the public VM through the relay, while the mix runs.
        while time.monotonic() - started < SECONDS:
            marker = secrets.token_hex(6)
            lab.swaks("pub", "--server", MX, "--from", "app@tenant.example", "--to", "user@example.org",
                      "--header", f"Subject: benign {marker}", "--body", "a notification a minute")
            mails += 1
            markers.append(marker)
            time.sleep(max(0, min(60 * mails, SECONDS) - (time.monotonic() - started)))
        counts = {}
        for vm, mix in mixes.items():
            out, err = mix.communicate(timeout=120)
            assert mix.returncode == 0, f"{vm}: {err[-2000:]}"
            counts[vm] = json.loads(out)
    finally:
        for mix in mixes.values():
            if mix.poll() is None:
                mix.kill()
                mix.wait()

    offences_after, events_after = abuse_counters(lab)
    delivered = [m for m in lab.mx_messages() if m["id"] > mail_before and any(k.encode() in m["data"] for k in markers)]
    totals = {"seconds": SECONDS, "mails": mails, "mails_delivered": len(delivered),
              **{key: sum(c[kind][field] for c in counts.values()) for key, kind, field in [
                  ("https_connections", "https", "ok"), ("dns_queries", "dns", "sent"), ("dns_answered", "dns", "answered"),
                  ("downloads", "downloads", "ok"), ("download_bursts", "downloads", "bursts"),
                  ("download_bytes", "downloads", "bytes")]},
              "scan_events": events_after - events_before, "false_positives": len(detector_placements(lab, audit_before))}
    print(f"benign mix per VM: {json.dumps(counts)}")
    print(f"benign mix totals: {json.dumps(totals)}")

    assert detector_placements(lab, audit_before) == []
    assert offences_after == offences_before
    # Not even one event: the mix never came near a budget.
    assert events_after == events_before
    # The mix really ran, and Portcullis broke none of it.
    for vm, c in counts.items():
        assert c["errors"] == {}, (vm, c["errors"])
        assert c["https"]["ok"] >= SECONDS / 0.5 * 0.9, (vm, c["https"])
        assert c["dns"]["answered"] == c["dns"]["sent"] >= 2 * SECONDS * 0.9, (vm, c["dns"])
        assert c["downloads"]["ok"] == 16 * c["downloads"]["bursts"] and c["downloads"]["bursts"] >= SECONDS // 30, (vm, c["downloads"])
    assert len(delivered) == mails
