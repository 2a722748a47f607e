"""Bad input: a clear error naming the field, exit code != 0, nothing applied."""
import pytest

from conftest import run

BASE = ["vm", "add", "new", "--tenant", "t"]
CASES = [
    (["--interface", "vmnew0", "--mac", "02:00:00:00:0z:01"], "mac"),
    (["--interface", "vmnew0", "--mac", "ff:ff:ff:ff:ff:ff"], "mac"),
    (["--interface", "a-very-long-name0", "--mac", "02:00:00:00:0a:01"], "interface"),
    (["--interface", "vm new", "--mac", "02:00:00:00:0a:01"], "interface"),
    (["--interface", "vmnew0", "--mac", "02:00:00:00:0a:01", "--ipv4", "203.0.113.300"], "ipv4"),
    (["--interface", "vmnew0", "--mac", "02:00:00:00:0a:01", "--ipv6", "2001:db8::zz"], "ipv6"),
    (["--interface", "vmnew0", "--mac", "02:00:00:00:0a:01", "--allow-source", "10.1.1.1/8"], "allow-source"),
    (["--interface", "vmpub0", "--mac", "02:00:00:00:0a:01"], "interface"),
    (["--interface", "vmnew0", "--mac", "02:00:00:00:01:01"], "mac"),
    (["--interface", "vmnew0", "--mac", "02:00:00:00:0a:01", "--ipv4", "100.64.0.10"], "ipv4"),
    (["--interface", "vmnew0", "--mac", "02:00:00:00:0a:01", "--ipv6", "2001:db8:1::10"], "ipv6"),
]


@pytest.mark.parametrize("args,field", CASES)
def test_bad_vm_is_refused_naming_the_field(lab, args, field):
    before = lab.nft("list", "set", "inet", "portcullis", "vm_ports").stdout
    result = lab.cli(*BASE, *args, check=False)
    assert result.returncode != 0
    assert f"invalid {field}" in result.stderr
    assert "new" not in [line.split()[0] for line in lab.cli("vm", "list").stdout.splitlines() if line]
    assert lab.nft("list", "set", "inet", "portcullis", "vm_ports").stdout == before


def test_unknown_vm(lab):
    result = lab.cli("vm", "show", "ghost", check=False)
    assert result.returncode == 3 and "no VM 'ghost'" in result.stderr


def test_json_output_and_plan(lab):
    import json
    vms = json.loads(lab.cli("vm", "list", "--json").stdout)
    kinds = {v["vm"]["id"]: v["access_type"] for v in vms}
    assert kinds["pub"] == "public" and kinds["priv"] == "restricted"
    plan = lab.cli("plan", "--needs", "smtp,web").stdout
    assert "WITH a public IPv4" in plan
    assert "WITHOUT a public IPv4" in lab.cli("plan", "--needs", "web,database").stdout


def test_tcp_api_needs_a_bearer_token(lab):
    """The TCP listener (api.tcp) answers only with a token from the tokens file."""
    def get(*headers):
        args = ["ip", "netns", "exec", lab.hv, "curl", "-s", "-o", "/dev/null", "-w", "%{http_code}"]
        for header in headers:
            args += ["-H", header]
        return run(*args, "http://127.0.0.1:8787/v1/status").stdout
    assert get() == "401"
    assert get("Authorization: Bearer " + "0" * 64) == "401"
    assert get(f"Authorization: Bearer {lab.token}") == "200"
