"""STARTTLS through the relay with real peers: swaks in the VMs, the lab MX (which offers
STARTTLS with its own throwaway certificate) in the internet."""
import json, secrets, time

import pytest

MX = {"v4": "203.0.113.1", "v6": "2001:db8:1::1"}


def fingerprint(pem_path):
    """The certificate's fingerprint (the PEM files may differ in layout, not in content)."""
    from conftest import run
    return run("openssl", "x509", "-in", pem_path, "-noout", "-fingerprint", "-sha256").stdout.strip()


def peer_cert(lab, vm, host, *extra):
    path = lab.run_dir / f"peer-{secrets.token_hex(4)}.pem"
    out = lab.swaks(vm, "--server", host, "--tls", "--tls-get-peer-cert", path, "--from", "tls@tenant.example",
                    "--to", "sink@example.org", *extra).stdout
    return out, path


def log_entries(lab, vm, ehlo):
    for _ in range(20):
        entries = [e for e in json.loads(lab.cli("smtp", "log", "--vm", vm, "--since", "1h", "--json").stdout)
                   if e.get("ehlo_name") == ehlo]
        if entries:
            return entries
        time.sleep(0.1)
    return []


@pytest.mark.parametrize("family", ["v4", "v6"])
def test_terminate_mode_is_tls_on_both_legs(lab, family):
    ehlo = f"tls-{secrets.token_hex(3)}.tenant.example"
    sessions = len(lab.mx_sessions())
    out, cert = peer_cert(lab, "pub", MX[family], "--helo", ehlo)
    assert "250 2.0.0 queued" in out
    # The VM spoke TLS with the relay's certificate, not the MX's.
    assert fingerprint(cert) != fingerprint(lab.run_dir / "mx.pem")
    new = lab.mx_sessions()[sessions:]
    assert any(s["tls"] and s["ehlo"] == ehlo for s in new), new
    entry = log_entries(lab, "pub", ehlo)[0]
    assert entry["client_tls"]["version"].startswith("TLSv1.")
    assert entry["upstream_tls"]["version"].startswith("TLSv1.") and entry["upstream_tls"]["cipher"]


def test_starttls_command_injection_is_discarded(lab):
    sessions = len(lab.mx_sessions())
    out = lab.smtp_client("pub", "inject", MX["v4"])
    assert out["starttls"].startswith("220") and out["tls"], out
    assert out["after_tls"].startswith("250"), out     # the answer to EHLO, not to the injected MAIL
    assert out["mail"].startswith("250") and out["final"].startswith("250"), out
    # The session is logged when it ends: wait for it, so the check below has something to check.
    deadline = time.time() + 5
    while not any("EHLO inject.lab.example" in c for s in lab.mx_sessions()[sessions:] for c in s["commands"]):
        assert time.time() < deadline, "the injection session never reached the MX"
        time.sleep(0.1)
    commands = [c for s in lab.mx_sessions()[sessions:] for c in s["commands"]]
    assert any(c == "MAIL FROM:<legit@tenant.example>" for c in commands), commands
    assert not any("injected@attacker.example" in c for c in commands), commands


@pytest.fixture
def splice_mode(lab):
    lab.restart_daemon("{ mode: proxy, listen_port: 10025, tls: { mode: splice } }")
    yield
    lab.restart_daemon()


def test_splice_mode_keeps_tls_end_to_end(lab, splice_mode):
    sessions = len(lab.mx_sessions())
    out, cert = peer_cert(lab, "pub", MX["v4"], "--helo", "splice.tenant.example")
    assert "250 2.0.0 queued" in out
    # The VM's TLS peer is the MX itself: the relay only copied bytes.
    assert fingerprint(cert) == fingerprint(lab.run_dir / "mx.pem")
    new = lab.mx_sessions()[sessions:]
    assert any(s["tls"] and s["peer"].removeprefix("::ffff:") == "203.0.113.10" for s in new), new
