#!/usr/bin/python3
"""Port-scan detection latency: nmap from the lab's routed VM at timings -T2..-T5, time from
the scan's start (nmap's process start, which includes its own start-up of about a second)
to the detector's filter being listed by the daemon (the filter is in the kernel before the
API lists it). Usage (root, after `swift build`): bench/abuse_latency.py [ROUNDS]"""
import json, subprocess, sys, time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "integration"))
from conftest import running_lab  # noqa: E402

rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 3
with running_lab("pcab") as lab:
    print(f"{'timing':8} {'round':6} {'seconds to filter':>18}")
    # Each round scans ports the VM has not tried yet: the kernel counts first contacts only, and
    # remembers them for abuse.port_scan.window (5 minutes), so a rescan of the same ports is
    # invisible until then (by design: a real scanner moves on to new targets).
    block = 0
    for timing in (2, 3, 4, 5):
        for r in range(rounds):
            ports = f"{1 + 1000 * block}-{1000 * (block + 1)}"
            block += 1
            scan = subprocess.Popen(["ip", "netns", "exec", lab.priv, "nmap", "-n", "-Pn", "-sS", f"-T{timing}",
                                     "--max-retries", "0", "-p", ports, "203.0.113.1"],
                                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            start = time.monotonic()
            found = None
            while time.monotonic() - start < 60 and not found:
                found = [f for f in json.loads(lab.cli("filter", "list", "--json").stdout) if f["placed_by"] == "detector:port_scan"]
                if not found:
                    time.sleep(0.02)
            elapsed = time.monotonic() - start
            scan.kill()
            scan.wait()
            print(f"-T{timing:<6} {r + 1:<6} {elapsed:18.2f}" if found else f"-T{timing:<6} {r + 1:<6} {'not detected in 60 s':>18}",
                  flush=True)
            for f in found or []:
                lab.cli("filter", "lift", f["id"])
            time.sleep(1)
