"""The published restrictions, proven with real connections from both lab VMs."""
import pytest

MX = {"v4": "203.0.113.1", "v6": "2001:db8:1::1"}


@pytest.mark.parametrize("family", ["v4", "v6"])
@pytest.mark.parametrize("port", [25, 465, 587])
def test_private_vm_is_refused_with_reset(lab, family, port):
    assert lab.probe("priv", MX[family], port) == "reset"


@pytest.mark.parametrize("family", ["v4", "v6"])
def test_private_vm_reaches_https(lab, family):
    assert lab.probe("priv", MX[family], 443) == "open"


@pytest.mark.parametrize("family", ["v4", "v6"])
@pytest.mark.parametrize("port", [25, 465, 587, 443])
def test_public_vm_has_no_restrictions(lab, family, port):
    assert lab.probe("pub", MX[family], port) == "open"


@pytest.mark.parametrize("family", ["v4", "v6"])
@pytest.mark.parametrize("port", [25, 465, 587])
def test_bridged_restricted_vm_is_refused_with_reset(lab, family, port):
    """No bridge `reject` on this kernel: the frame is handed to the host, which resets it."""
    assert lab.probe("brpriv", MX[family], port) == "reset"


@pytest.mark.parametrize("family", ["v4", "v6"])
def test_bridged_restricted_vm_reaches_https(lab, family):
    assert lab.probe("brpriv", MX[family], 443) == "open"


def test_bridged_restricted_vm_refusals_are_counted(lab):
    key = 'portcullis_rejected_packets_total{vm="brpriv",interface="vmbrp0",port="587"}'
    before = lab.metrics().get(key, 0)
    assert lab.probe("brpriv", MX["v6"], 587) == "reset"
    assert lab.metrics()[key] > before


def test_refusals_are_counted_per_vm_and_port(lab):
    before = lab.metrics().get('portcullis_rejected_packets_total{vm="priv",interface="vmpriv0",port="465"}', 0)
    assert lab.probe("priv", MX["v4"], 465) == "reset"
    after = lab.metrics()['portcullis_rejected_packets_total{vm="priv",interface="vmpriv0",port="465"}']
    assert after > before


def test_explain_names_rule_and_remedies(lab):
    out = lab.cli("explain", "priv", "--port", "25").stdout
    assert "REJECTED" in out and "reject with tcp reset" in out
    assert "separate VM with a public IPv4" in out and "HTTPS" in out
    assert "ALLOWED" in lab.cli("explain", "pub", "--port", "25").stdout


def test_ruleset_verb_prints_the_loaded_rules(lab):
    out = lab.cli("ruleset").stdout
    assert "table inet portcullis" in out and '"vmpriv0"' in out
