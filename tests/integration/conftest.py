"""The namespace lab as pytest fixtures: one lab per test session, the daemon on SQLite in
the hypervisor namespace, the lab VMs registered. Everything is torn down even on failure."""
import contextlib, json, os, secrets, signal, subprocess, time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LAB = ROOT / "tests" / "lab"
BIN = Path(os.environ.get("PORTCULLIS_BIN", ROOT / ".build" / "debug" / "portcullis"))
PY = "/usr/bin/python3"

VMS = {
    "pub": ["--tenant", "acme", "--interface", "vmpub0", "--mac", "02:00:00:00:01:01", "--bridge", "br0",
            "--ipv4", "203.0.113.10", "--ipv6", "2001:db8:1::10", "--contact", "noc@acme.example"],
    "priv": ["--tenant", "acme", "--interface", "vmpriv0", "--mac", "02:00:00:00:02:01", "--routed",
             "--ipv4", "100.64.0.10", "--ipv6", "2001:db8:2::10", "--contact", "noc@acme.example"],
    "brpriv": ["--tenant", "globex", "--interface", "vmbrp0", "--mac", "02:00:00:00:04:01", "--bridge", "br0",
               "--ipv4", "198.51.100.10", "--ipv6", "2001:db8:1::40"],
}
INTERFACES = {"pub": "vmpub0", "priv": "vmpriv0", "brpriv": "vmbrp0"}


def run(*args, check=True, timeout=30, **kw):
    return subprocess.run([str(a) for a in args], capture_output=True, text=True, check=check, timeout=timeout, **kw)


class Lab:
    def __init__(self, prefix):
        self.prefix = prefix
        self.hv, self.net, self.pub, self.priv, self.brpriv = (f"{prefix}-{n}" for n in ("hv", "net", "pub", "priv", "brpriv"))
        self.run_dir = Path(f"/run/portcullis-lab/{prefix}")
        self.socket = self.run_dir / "api.sock"
        self.config = self.run_dir / "site.yaml"
        self.daemon = None
        self.token = secrets.token_hex(32)
        tokens = self.run_dir / "api-tokens"
        tokens.write_text(f"lab-orchestrator {self.token}\n")
        tokens.chmod(0o600)
        self.config.write_text(f"""site: lab-1
public_ipv4: [203.0.113.0/24]
restricted_ports: {{ tcp: [25, 465, 587] }}
exemptions: {{ allowed: true, default_duration: 30d, max_duration: 90d }}
store: {{ sqlite: {self.run_dir}/state.db }}
api: {{ socket: {self.socket}, tcp: {{ listen: "127.0.0.1:8787", tokens_file: {tokens} }} }}
reconcile: {{ interval: 1s }}
smtp: {self.SMTP}
abuse: {self.ABUSE}
notices: {self.notices_config()}
""")

    # --- the daemon -------------------------------------------------------
    def start_daemon(self):
        log = open(self.run_dir / "daemon.log", "a")
        self.daemon = subprocess.Popen(["ip", "netns", "exec", self.hv, str(BIN), "serve", "--config", str(self.config)],
                                       stdout=log, stderr=subprocess.STDOUT)
        for _ in range(100):
            if self.socket.exists() and self.cli("status", check=False).returncode == 0 and self.relay_listening():
                return
            if self.daemon.poll() is not None:
                raise RuntimeError("daemon exited: " + (self.run_dir / "daemon.log").read_text()[-2000:])
            time.sleep(0.1)
        raise RuntimeError("daemon did not open its socket")

    def relay_listening(self):
        """True when the SMTP relay listens, or when the lab runs it in another mode."""
        if "mode: proxy" not in self.config.read_text():
            return True
        out = run("ip", "netns", "exec", self.hv, "ss", "-Hltn", "sport = :10025", check=False).stdout
        return "10025" in out

    def kill_daemon(self, sig=signal.SIGKILL):
        if self.daemon and self.daemon.poll() is None:
            self.daemon.send_signal(sig)
            self.daemon.wait(timeout=10)
        self.daemon = None

    def cli(self, *args, check=True):
        return run(BIN, *args, "--socket", self.socket, check=check)

    def metrics(self):
        out = run("curl", "-s", "--unix-socket", self.socket, "http://portcullis/metrics").stdout
        samples = {}
        for line in out.splitlines():
            if line and not line.startswith("#"):
                name, value = line.rsplit(" ", 1)
                samples[name] = float(value)
        return samples

    def drops(self, vm, kind):
        return self.metrics().get(f'portcullis_dropped_packets_total{{vm="{vm}",interface="{INTERFACES[vm]}",kind="{kind}"}}', 0)

    def restart_daemon(self, smtp=None, abuse=None):
        """Restarts the daemon, with other `smtp:`/`abuse:` sections when given (None: the lab's)."""
        self.kill_daemon(signal.SIGTERM)
        text = self.config.read_text()
        lines = [l for l in text.splitlines() if not l.startswith(("smtp:", "abuse:"))]
        lines.append("smtp: " + (smtp or self.SMTP))
        lines.append("abuse: " + (abuse or self.ABUSE))
        self.config.write_text("\n".join(lines) + "\n")
        self.start_daemon()

    # --- notices ------------------------------------------------------------
    WEBHOOK_SECRET = "lab-webhook-secret-0123456789abcdef"
    SMARTHOST_PASSWORD = "lab smarthost password"  # tests/lab/lab.sh starts the smarthost with it

    def notices_config(self):
        secret = self.run_dir / "webhook.secret"
        secret.write_text(self.WEBHOOK_SECRET + "\n")
        secret.chmod(0o600)
        password = self.run_dir / "smarthost.password"
        password.write_text(self.SMARTHOST_PASSWORD + "\n")
        password.chmod(0o600)
        return ("{ provider_name: Lab Hosting, support_contact: abuse@lab.example, "
                f"email: {{ relay: \"203.0.113.1:2525\", from: abuse@lab.example, tls: required, ca_file: {self.run_dir / 'mx.pem'}, "
                f"auth: {{ username: notices, password_file: {password} }} }}, "
                f"webhook: {{ url: \"http://203.0.113.1:8088/hook\", secret_file: {secret} }}, "
                "retry: { first: 1s, max: 2s, give_up: 1h } }")

    def notice_mails(self):
        """Every notice e-mail the lab's smarthost (a second mx.py) accepted."""
        return self.mx_messages(self.run_dir / "notices")

    def webhook_calls(self):
        return [json.loads(p.read_text()) for p in sorted((self.run_dir / "webhook").glob("*.json"), key=lambda p: int(p.stem))]

    # --- SMTP ---------------------------------------------------------------
    SMTP = "{ mode: proxy, listen_port: 10025 }"
    # Port-scan filters start at 6 s so that expiry fits in a test. Spoofing never suspends in
    # the lab's ordinary runs (its spoofing tests send spoofed frames on purpose); the
    # suspension test lowers the threshold.
    ABUSE = ("{ spoofed_packets: 100000, responses: { port_scan: { base: 6s, max: 1h, decay: 1d } }, "
             "quarantine_allow: [\"203.0.113.1 tcp 443\", \"2001:db8:1::1 tcp 443\"], "
             "throttle: { connections_per_minute: 10, udp_packets_per_second: 50 } }")

    @property
    def mx_store(self):
        return self.run_dir / "mx"

    def mx_messages(self, store=None):
        """Every message the lab MX (or the mx.py storing in `store`) accepted: its envelope plus
        the stored text as 'data'."""
        found = []
        for envelope in sorted((store or self.mx_store).glob("*.json"), key=lambda p: int(p.stem)):
            item = json.loads(envelope.read_text())
            item["data"] = envelope.with_suffix(".eml").read_bytes()
            item["id"] = int(envelope.stem)
            found.append(item)
        return found

    def mx_sessions(self):
        path = self.mx_store / "sessions.log"
        return [json.loads(l) for l in path.read_text().splitlines()] if path.exists() else []

    def smtp_client(self, vm, mode, host, *args, timeout=60):
        out = run("ip", "netns", "exec", self.ns(vm), PY, LAB / "smtpclient.py", mode, host, *args, timeout=timeout)
        return json.loads(out.stdout)

    def swaks(self, vm, *args, check=True, timeout=60):
        return run("ip", "netns", "exec", self.ns(vm), "swaks", *args, check=check, timeout=timeout)

    # --- the network ------------------------------------------------------
    def ns(self, name):
        return getattr(self, name)

    def probe(self, vm, host, port, timeout=1.5):
        return run("ip", "netns", "exec", self.ns(vm), PY, LAB / "peer.py", "probe", host, port, "--timeout", timeout).stdout.strip()

    def nft(self, *args, check=True):
        return run("ip", "netns", "exec", self.hv, "nft", *args, check=check)

    def mac_of(self, ns, iface):
        return json.loads(run("ip", "-n", self.ns(ns), "-j", "link", "show", iface).stdout)[0]["address"]

    def sent_frames_seen(self, vm, kind, sniff_ns, sniff_if, dst_mac=None, seconds=1.5):
        """Sends one crafted frame kind from `vm` and counts how many reach `sniff_ns`."""
        marker = f"PC{secrets.token_hex(6)}"
        sniffer = subprocess.Popen(["ip", "netns", "exec", self.ns(sniff_ns), PY, LAB / "peer.py", "sniff", "--iface", sniff_if,
                                    "--marker", marker, "--seconds", str(seconds)], stdout=subprocess.PIPE, text=True)
        assert sniffer.stdout.readline().strip() == "ready"
        spoof = ["ip", "netns", "exec", self.ns(vm), PY, LAB / "peer.py", "spoof", kind, "--marker", marker]
        if dst_mac:
            spoof += ["--dst-mac", dst_mac]
        run(*spoof)
        out, _ = sniffer.communicate(timeout=seconds + 10)
        return int(out.strip().splitlines()[-1])


class LabSetupFailed(Exception):
    pass


@contextlib.contextmanager
def running_lab(stem):
    """A lab under a fresh prefix (`stem` + 4 hex digits) with the daemon running and the VMs
    registered; torn down (daemon log tail printed) however the block ends. For the tests and
    the benchmarks alike."""
    prefix = stem + secrets.token_hex(2)
    up = run(LAB / "lab.sh", "up", prefix, check=False, timeout=120)
    if up.returncode != 0:
        run(LAB / "lab.sh", "down", prefix, check=False)
        raise LabSetupFailed(up.stdout + up.stderr)
    the_lab = Lab(prefix)
    try:
        the_lab.start_daemon()
        for vm, args in VMS.items():
            the_lab.cli("vm", "add", vm, *args)
        yield the_lab
    finally:
        the_lab.kill_daemon(signal.SIGTERM)
        log = the_lab.run_dir / "daemon.log"
        if log.exists():
            print("---- daemon log (tail) ----\n" + log.read_text()[-3000:])
        run(LAB / "lab.sh", "down", prefix, check=False)


@pytest.fixture(scope="session")
def lab():
    if os.geteuid() != 0:
        pytest.fail("the lab integration tests need root (network namespaces, nftables); run them as root", pytrace=False)
    if not BIN.exists():
        pytest.fail(f"{BIN} is missing: run `swift build` first", pytrace=False)
    try:
        with running_lab("pc") as the_lab:
            yield the_lab
    except LabSetupFailed as failure:
        pytest.fail(f"lab set-up failed:\n{failure}", pytrace=False)
