#!/usr/bin/python3
"""The port-scan and SYN-flood detectors under real scanners and floods, each mode in its own namespace lab
(root; PORTCULLIS_BIN, default .build/debug/portcullis; masscan and hping3 from scripts/setup):

  bench/abuse_flood.py masscan [ROUNDS]    # masscan at 100/1,000/10,000 pps from the routed VM:
                                           # seconds to the detector's filter, probes that got past
  bench/abuse_flood.py flood [SECONDS]     # hping3 SYN floods (one port after another; random hosts)
                                           # from the routed and the bridged VM, the detector blocking
                                           # and observe-only: NFLOG events the kernel logged (port_scan
                                           # and syn_flood) vs the
                                           # daemon read, overflows, the daemon's CPU flood vs idle,
                                           # and whether another VM's ordinary traffic is then flagged
  bench/abuse_flood.py nflog [ROUNDS]      # the kernel's NFLOG batching: the 16th new port's SYN
                                           # to its event reaching a listener, kernel defaults vs a
                                           # queue threshold of 1 (what the daemon sets since d84003a)
  bench/abuse_flood.py benign [SECONDS]    # the benign mix (tests/integration/test_abuse_benign.py)
                                           # for SECONDS (600): false positives, expected 0

CPU figures are utime+stime of the daemon's process from /proc, over the same length of time
idle and under the flood in the same run; the machine has 2 cores shared with the scanner
(hping3 --flood takes one) and anything else running, so take them as indicative."""
import json, os, signal, subprocess, sys, time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "integration"))
from conftest import BIN, LAB, PY, run, running_lab  # noqa: E402

MX = "203.0.113.1"
# The lab's abuse section with the site's default rungs for the two SYN signals (15 minutes: the
# flood stays blocked for the whole measurement), and the same detectors answering with observe
# only, so that the flood keeps reaching the scan rules (a filter drops it before them: priority
# -340 vs -330).
RUNGS = "port_scan: {{ response: {r}, base: 15m, max: 1d, decay: 1d }}, syn_flood: {{ response: {r}, base: 15m, max: 1d, decay: 1d }}"
ABUSE = {name: "{ spoofed_packets: 100000, responses: { " + RUNGS.format(r=response) + " } }"
         for name, response in (("block", "block_port"), ("observe", "observe"))}
SIGNALS = ("detector:port_scan", "detector:syn_flood")
TABLE = {"priv": "inet", "pub": "bridge", "brpriv": "bridge"}
HZ = os.sysconf("SC_CLK_TCK")


def filters(lab, vm=None):
    return [f for f in json.loads(lab.cli("filter", "list", "--json").stdout)
            if f["placed_by"] in SIGNALS and vm in (None, f["vm"])]


def lift_all(lab):
    for f in json.loads(lab.cli("filter", "list", "--json").stdout):
        lab.cli("filter", "lift", f["id"])


def set_elements(lab, family, name):
    doc = json.loads(lab.nft("-j", "list", "set", family, "portcullis", name, check=False).stdout or '{"nftables": []}')
    for item in doc["nftables"]:
        if "set" in item:
            return [e["elem"]["val"] if isinstance(e, dict) and "elem" in e else e for e in item["set"].get("elem", [])]
    return []


def kernel_logged(lab, chain):
    """Packets a logging chain's rule (scan_event, syn_flood_event) sent to NFLOG: its counter,
    inet + bridge."""
    total = 0
    for family in ("inet", "bridge"):
        listing = lab.nft("-j", "list", "chain", family, "portcullis", chain, check=False).stdout
        for item in json.loads(listing or '{"nftables": []}')["nftables"]:
            for expr in item.get("rule", {}).get("expr", []):
                if "counter" in expr:
                    total += expr["counter"]["packets"]
    return total


def cpu_ticks(pid):
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15 of the whole line)


def counters(lab):
    m = lab.metrics()
    return {"logged_scan": kernel_logged(lab, "scan_event"), "logged_syn": kernel_logged(lab, "syn_flood_event"),
            "read": m.get("portcullis_scan_events_total", 0),
            "overflows": m.get("portcullis_scan_event_overflows_total", 0),
            "offences": sum(v for k, v in m.items() if k.startswith("portcullis_abuse_offences_total")),
            "dropped": sum(v for k, v in m.items() if k.startswith("portcullis_dropped_packets_total") and 'kind="filtered_out"' in k)}


# --- masscan --------------------------------------------------------------------------------

FIRST_SYN = r"""
import socket, sys, time
host = socket.inet_aton(sys.argv[2])
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(3))
s.bind((sys.argv[1], 0))
s.settimeout(30)
print("ready", flush=True)
first = last = None
count = 0
while first is None or time.monotonic() - first < 0.5:
    try:
        frame = s.recv(128)
    except socket.timeout:
        break
    ip = frame[14:]
    if frame[12:14] == b"\x08\x00" and ip[9] == 6 and ip[16:20] == host:
        tcp = ip[(ip[0] & 15) * 4:]
        if tcp[13] & 0x12 == 0x02:
            last = time.monotonic()
            first = first or last
            count += 1
            s.settimeout(0.2)  # the scanner may be stopped within the half second
print(first, (count - 1) / (last - first) if count > 1 and last > first else float("nan"), flush=True)
"""


def in_kernel(lab, family, interface):
    return any(v == interface for v in set_elements(lab, family, "out_all"))


def masscan(rounds):
    """Each round scans a host the VM never contacted (a fresh per-host budget, as a scanner
    moving through a network meets): the first 15 new ports are free, the 16th is an event.
    Times from the first SYN on the wire (a packet socket on the VM's port in the hypervisor)
    to the filter in the kernel (its set element) and to the filter listed by the daemon."""
    with running_lab("pcaf") as lab:
        gateway = lab.mac_of("hv", "vmpriv0")
        print(f"{'rate pps':>9} {'sent pps':>9} {'round':>5} {'start→listed s':>14} {'SYN→kernel s':>12} "
              f"{'SYN→listed s':>12} {'ports past':>10}  detector")
        n = 0
        for rate in (100, 1000, 10000):
            for r in range(rounds):
                n += 1
                host = f"198.51.100.{200 + n}"
                run("ip", "-n", lab.net, "addr", "add", host + "/32", "dev", "lo")
                sniffer = subprocess.Popen(["ip", "netns", "exec", lab.hv, PY, "-c", FIRST_SYN, "vmpriv0", host],
                                           stdout=subprocess.PIPE, text=True)
                assert sniffer.stdout.readline().strip() == "ready"
                scan = subprocess.Popen(["ip", "netns", "exec", lab.priv, "masscan", host, "-p1-30000", "--rate", str(rate),
                                         "--adapter", "eth0", "--adapter-ip", "100.64.0.10", "--router-mac", gateway,
                                         "--wait", "0"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                start = time.monotonic()
                kernel = listed = None
                placed = []
                while time.monotonic() - start < 60 and not listed:
                    if not kernel and in_kernel(lab, "inet", "vmpriv0"):
                        kernel = time.monotonic()
                    placed = filters(lab, "priv")
                    if placed:
                        listed = time.monotonic()
                    time.sleep(0.01)
                scan.kill()
                scan.wait()
                # Events logged before the filter went in arrive up to a second later (the
                # kernel's NFLOG flush): lifting before then would let them place a new filter.
                time.sleep(2)
                try:
                    first, sent = (float(x) for x in sniffer.communicate(timeout=5)[0].split())
                except (subprocess.TimeoutExpired, ValueError):
                    sniffer.kill()
                    first, sent = float("nan"), float("nan")
                # First contacts the kernel remembered for that host: probes that reached the
                # scan rules before the filter went in (the filter drops the rest before them).
                past = sum(1 for v in set_elements(lab, "inet", "scan_seen4") if v["concat"][1] == host)
                if listed:
                    kernel = kernel or listed
                    print(f"{rate:>9} {sent:>9.0f} {r + 1:>5} {listed - start:14.2f} {kernel - first:12.2f} {listed - first:12.2f} "
                          f"{past:>10}  {','.join(f['placed_by'].split(':')[1] for f in placed)}", flush=True)
                else:
                    print(f"{rate:>9} {sent:>9.0f} {r + 1:>5} {'not detected in 60 s':>40} {past:>10}", flush=True)
                lift_all(lab)
                time.sleep(1)


# --- NFLOG delivery ---------------------------------------------------------------------------

NFLOG_LISTENER = r"""
import socket, struct, sys, time
group, qthresh = int(sys.argv[1]), int(sys.argv[2])
def config(attr, data):
    payload = struct.pack("!BBH", 0, 0, group) + struct.pack("=HH", 4 + len(data), attr) + data
    payload += b"\0" * (-len(payload) % 4)
    s.send(struct.pack("=IHHII", 16 + len(payload), (4 << 8) | 1, 0x5, 1, 0) + payload)  # NFULNL_MSG_CONFIG, ack
    assert s.recv(1000)[16:20] == b"\0\0\0\0", "NFLOG config refused (is the group bound already?)"
s = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, 12)  # NETLINK_NETFILTER
s.bind((0, 0))
config(1, b"\x01")                         # NFULA_CFG_CMD: bind the group
config(2, struct.pack("!IBB", 128, 2, 0))  # NFULA_CFG_MODE: copy 128 bytes, as the daemon does
if qthresh:
    config(5, struct.pack("!I", qthresh))  # NFULA_CFG_QTHRESH
print("ready", flush=True)
s.settimeout(10)
s.recv(65536)
print(time.monotonic(), flush=True)
"""

SYNS = r"""
import socket, sys, time
for port in range(1, 21):
    s = socket.socket(); s.setblocking(False)
    try: s.connect((sys.argv[1], port))
    except BlockingIOError: pass
    if port == 16: print(time.monotonic(), flush=True)
    time.sleep(0.001)
"""


def nflog(rounds):
    """The detection pipeline's first leg alone, with the daemon stopped (an NFLOG group has one
    listener): 20 SYNs to new ports of a new host 1 ms apart from the routed VM; the 16th is
    over the budget and logged; when does a listener bound like the daemon get it?"""
    with running_lab("pcaf") as lab:
        lab.kill_daemon(signal.SIGTERM)  # its tables and their rules stay in the kernel
        print(f"{'listener':26} {'round':>5} {'16th SYN→event ms':>18}")
        n = 0
        for qthresh, label in ((0, "kernel defaults"), (1, "queue threshold 1 (daemon)")):
            for r in range(rounds):
                n += 1
                host = f"198.51.100.{100 + n}"
                listener = subprocess.Popen(["ip", "netns", "exec", lab.hv, PY, "-c", NFLOG_LISTENER, "2525", str(qthresh)],
                                            stdout=subprocess.PIPE, text=True)
                assert listener.stdout.readline().strip() == "ready"
                over = float(run("ip", "netns", "exec", lab.priv, PY, "-c", SYNS, host).stdout)
                arrived = float(listener.communicate(timeout=15)[0])
                print(f"{label:26} {r + 1:>5} {1000 * (arrived - over):18.1f}", flush=True)
                time.sleep(1.5)  # the per-VM log limit (2/s, burst 5) refills


# --- floods ---------------------------------------------------------------------------------

FLOODS = {"ports": ["-p", "++1", MX],                                 # one host, one port after another
          "random": ["--rand-dest", "-I", "eth0", "-p", "++1", "198.51.100.x"]}  # random hosts in a /24


def hammer(lab, vm, host, seconds=5):
    """Ordinary client behaviour: ~10 connections a second to one web server for `seconds`."""
    out = run("ip", "netns", "exec", lab.ns(vm), PY, LAB / "peer.py", "hammer", host, 443, "--seconds", seconds,
              "--interval", 0.1, timeout=seconds + 30).stdout
    return json.loads(out)


def neighbour_flagged(lab, host):
    """The bridged neighbour (brpriv) makes ~50 connections to one web server it has not contacted
    before; flagged if that is an offence (a filter, or only a count when observing)."""
    before = counters(lab)["offences"]
    tally = hammer(lab, "brpriv", host)
    time.sleep(1.5)  # the kernel's NFLOG flush
    return {"flagged": bool(filters(lab, "brpriv")) or counters(lab)["offences"] > before, "tally": tally}


def flood(seconds):
    with running_lab("pcaf") as lab:
        rows = []
        for response in ("block", "observe"):
            for vm in ("priv", "pub"):
                for variant in FLOODS:
                    lift_all(lab)
                    lab.restart_daemon(abuse=ABUSE[response])  # also empties the kernel's scan sets
                    pid = lab.daemon.pid
                    time.sleep(2)
                    # Control: the bridged neighbour's ordinary burst before any flood.
                    control = None
                    if vm == "pub":
                        control = neighbour_flagged(lab, "198.51.100.1")
                    before = counters(lab)
                    c0, t0 = cpu_ticks(pid), time.monotonic()
                    time.sleep(seconds)
                    c1, t1 = cpu_ticks(pid), time.monotonic()
                    out = subprocess.run(["timeout", "-s", "INT", str(seconds), "ip", "netns", "exec", lab.ns(vm), "hping3",
                                          "-S", "--flood", *FLOODS[variant]], capture_output=True, text=True)
                    c2, t2 = cpu_ticks(pid), time.monotonic()
                    time.sleep(1)  # events still queued
                    during = counters(lab)
                    c3, t3 = cpu_ticks(pid), time.monotonic()
                    time.sleep(seconds)
                    c4, t4 = cpu_ticks(pid), time.monotonic()
                    sent = next((int(l.split()[0]) for l in (out.stdout + out.stderr).splitlines() if "packets transmitted" in l), 0)
                    family = TABLE[vm]
                    seen = len(set_elements(lab, family, "scan_seen4"))
                    # The neighbour again, at a host it has not contacted yet: is it now a scanner?
                    victim = None
                    if vm == "pub":
                        victim = neighbour_flagged(lab, "198.51.100.25")
                    row = {"response": response, "vm": vm, "variant": variant, "seconds": round(t2 - t1, 1),
                           "sent": sent, "pps": round(sent / (t2 - t1)),
                           "logged_scan": during["logged_scan"] - before["logged_scan"],
                           "logged_syn": during["logged_syn"] - before["logged_syn"], "read": during["read"] - before["read"],
                           "overflows": during["overflows"] - before["overflows"],
                           "offences": during["offences"] - before["offences"],
                           "dropped_by_filter": during["dropped"] - before["dropped"],
                           "filters": sorted(f["placed_by"].split(":")[1] for f in filters(lab, vm)), "scan_seen4": seen,
                           "cpu_idle": (c1 - c0) / HZ / (t1 - t0), "cpu_flood": (c2 - c1) / HZ / (t2 - t1),
                           "cpu_after": (c4 - c3) / HZ / (t4 - t3), "neighbour_before": control, "neighbour_after": victim}
                    rows.append(row)
                    print(json.dumps(row), flush=True)
        print()
        print(f"{'response':8} {'vm':5} {'flood':6} {'pps':>7} {'logged scan+syn':>15} {'read':>5} {'ovf':>3} {'offences':>8} "
              f"{'filters':18} {'dropped':>8} {'seen4':>6} {'CPU idle':>8} {'flood':>6} {'after':>6} {'flood/idle':>10}  neighbour flagged")
        for r in rows:
            ratio = f"{r['cpu_flood'] / r['cpu_idle']:.1f}x" if r["cpu_idle"] else "-"
            neighbour = "" if r["neighbour_after"] is None else \
                f"before: {r['neighbour_before']['flagged']}, after: {r['neighbour_after']['flagged']}"
            logged = f"{r['logged_scan']}+{r['logged_syn']}"
            print(f"{r['response']:8} {r['vm']:5} {r['variant']:6} {r['pps']:>7} {logged:>15} {r['read']:>5.0f} {r['overflows']:>3.0f} "
                  f"{r['offences']:>8.0f} {','.join(r['filters']) or '-':18} {r['dropped_by_filter']:>8.0f} {r['scan_seen4']:>6} "
                  f"{100 * r['cpu_idle']:7.1f}% {100 * r['cpu_flood']:5.1f}% {100 * r['cpu_after']:5.1f}% {ratio:>10}  {neighbour}")


# --- the benign mix ---------------------------------------------------------------------------

def benign(seconds):
    env = dict(os.environ, PORTCULLIS_BENIGN_SECONDS=str(seconds), PORTCULLIS_BIN=str(BIN))
    result = subprocess.run([PY, "-m", "pytest", "-q", "-s", "-p", "no:cacheprovider",
                             str(ROOT / "tests" / "integration" / "test_abuse_benign.py")], env=env, capture_output=True, text=True)
    for line in result.stdout.splitlines():
        if line.startswith(("benign mix", "FAILED", "E ")) or " passed" in line or " failed" in line:
            print(line)
    sys.exit(result.returncode)


if __name__ == "__main__":
    mode = sys.argv[1] if len(sys.argv) > 1 else ""
    arg = sys.argv[2] if len(sys.argv) > 2 else None
    if mode == "masscan":
        masscan(int(arg or 3))
    elif mode == "flood":
        flood(float(arg or 15))
    elif mode == "nflog":
        nflog(int(arg or 3))
    elif mode == "benign":
        benign(float(arg or 600))
    else:
        sys.exit(__doc__)
