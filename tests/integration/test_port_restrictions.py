"""The published restrictions, proven with real connections from the lab VMs."""
import pytest

MX = {"v4": "203.0.113.1", "v6": "2001:db8:1::1"}


# Both VMs without a public IPv4: one routed/NAT (the inet table resets), one bridged (no
# bridge `reject` on this kernel: the frame is handed to the host, which resets it).
RESTRICTED = {"priv": "vmpriv0", "brpriv": "vmbrp0"}


@pytest.mark.parametrize("family", ["v4", "v6"])
@pytest.mark.parametrize("port", [25, 465, 587])
@pytest.mark.parametrize("vm", sorted(RESTRICTED))
def test_restricted_vm_is_refused_with_reset(lab, vm, family, port):
    assert lab.probe(vm, MX[family], port) == "reset"


@pytest.mark.parametrize("family", ["v4", "v6"])
@pytest.mark.parametrize("vm", sorted(RESTRICTED))
def test_restricted_vm_reaches_https(lab, vm, family):
    assert lab.probe(vm, MX[family], 443) == "open"


@pytest.mark.parametrize("family", ["v4", "v6"])
@pytest.mark.parametrize("port", [25, 465, 587, 443])
def test_public_vm_has_no_restrictions(lab, family, port):
    assert lab.probe("pub", MX[family], port) == "open"


@pytest.mark.parametrize("vm", sorted(RESTRICTED))
def test_refusals_are_counted_per_vm_and_port(lab, vm):
    key = f'portcullis_rejected_packets_total{{vm="{vm}",interface="{RESTRICTED[vm]}",port="465"}}'
    before = lab.metrics().get(key, 0)
    assert lab.probe(vm, MX["v6"], 465) == "reset"
    assert lab.metrics()[key] > before


def test_explain_names_rule_and_remedies(lab):
    out = lab.cli("explain", "priv", "--port", "25").stdout
    assert "REJECTED" in out and "reject with tcp reset" in out
    assert "separate VM with a public IPv4" in out and "HTTPS" in out
    assert "ALLOWED" in lab.cli("explain", "pub", "--port", "443").stdout


def test_ruleset_verb_prints_the_loaded_rules(lab):
    out = lab.cli("ruleset").stdout
    assert "table inet portcullis" in out and '"vmpriv0"' in out
