"""An exemption opens port 25 at once and closes it by itself at expiry."""
import time


def test_exemption_opens_then_expires(lab):
    assert lab.probe("priv", "203.0.113.1", 25) == "reset"
    out = lab.cli("exemption", "grant", "priv", "--ports", "25", "--reason", "lab: transactional mail", "--expires", "6s").stdout
    granted = time.monotonic()
    exemption_id = out.split()[1]
    assert lab.probe("priv", "203.0.113.1", 25) == "open"
    assert lab.probe("priv", "2001:db8:1::1", 25) == "open"
    assert lab.probe("priv", "203.0.113.1", 587) == "reset"  # only the exempted port
    assert exemption_id in lab.cli("exemption", "list").stdout
    time.sleep(max(0, 6.5 - (time.monotonic() - granted)))
    assert lab.probe("priv", "203.0.113.1", 25) == "reset"
    assert lab.probe("priv", "2001:db8:1::1", 25) == "reset"
    assert exemption_id not in lab.cli("exemption", "list").stdout
    # The reconciler retires the stored record (and audits it) on its next round.
    deadline = time.monotonic() + 5
    while True:
        audit = lab.cli("audit", "--limit", "20").stdout
        if f"exemption.expire  exemption/{exemption_id}" in audit or time.monotonic() > deadline:
            break
        time.sleep(0.3)
    assert f"exemption.grant  exemption/{exemption_id}" in audit
    assert f"exemption.expire  exemption/{exemption_id}" in audit


def test_revoke_closes_immediately(lab):
    out = lab.cli("exemption", "grant", "priv", "--ports", "465", "--reason", "lab", "--expires", "1h").stdout
    exemption_id = out.split()[1]
    assert lab.probe("priv", "203.0.113.1", 465) == "open"
    lab.cli("exemption", "revoke", exemption_id)
    assert lab.probe("priv", "203.0.113.1", 465) == "reset"


def test_exemption_for_public_vm_is_refused(lab):
    result = lab.cli("exemption", "grant", "pub", "--ports", "25", "--reason", "x", check=False)
    assert result.returncode != 0 and "public IPv4" in result.stderr


def test_exemption_opens_a_bridged_restricted_vm(lab):
    assert lab.probe("brpriv", "203.0.113.1", 25) == "reset"
    out = lab.cli("exemption", "grant", "brpriv", "--ports", "25", "--reason", "lab", "--expires", "1h").stdout
    exemption_id = out.split()[1]
    assert lab.probe("brpriv", "203.0.113.1", 25) == "open"
    assert lab.probe("brpriv", "2001:db8:1::1", 25) == "open"
    assert lab.probe("brpriv", "203.0.113.1", 465) == "reset"
    lab.cli("exemption", "revoke", exemption_id)
    assert lab.probe("brpriv", "203.0.113.1", 25) == "reset"
