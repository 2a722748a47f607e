"""Anti-spoofing with crafted frames (scapy) from each VM. For the bridged VM the oracle is
a sniffer in the internet namespace on the same L2 segment; for the routed VM, frames the
hypervisor would forward are sniffed in the internet too, and the per-VM drop counters
prove every drop was counted under its kind."""
import pytest

# kind sent by peer.py -> drop kind reported in metrics
SPOOFS = {
    "mac": "mac_source",
    "ipv4": "ipv4_source",
    "ipv6": "ipv6_source",
    "ll6": "ipv6_source",
    "arp-ip": "arp_ip",
    "arp-mac": "arp_mac",
    "na": "nd_target",
    "dad-foreign": "nd_target",
    "ra": "router_advertisement",
    "redirect": "redirect",
    "dhcp4-server": "dhcp4_server",
    "dhcp6-server": "dhcp6_server",
    "vlan": "ethertype",
}
LEGIT = ["legit4", "legit6", "arp-legit", "na-legit", "dad", "dhcp4-client"]


@pytest.mark.parametrize("kind", sorted(SPOOFS))
def test_bridged_vm_spoof_is_dropped_and_counted(lab, kind):
    before = lab.drops("pub", SPOOFS[kind])
    assert lab.sent_frames_seen("pub", kind, "net", "eth0") == 0
    assert lab.drops("pub", SPOOFS[kind]) >= before + 3


@pytest.mark.parametrize("kind", LEGIT)
def test_bridged_vm_legitimate_frames_pass(lab, kind):
    assert lab.sent_frames_seen("pub", kind, "net", "eth0") >= 3


@pytest.mark.parametrize("kind", ["mac", "ipv4", "ipv6", "ll6"])
def test_routed_vm_spoofed_sources_are_not_forwarded(lab, kind):
    gateway = lab.mac_of("hv", "vmpriv0")
    before = lab.drops("priv", SPOOFS[kind])
    assert lab.sent_frames_seen("priv", kind, "net", "eth0", dst_mac=gateway) == 0
    assert lab.drops("priv", SPOOFS[kind]) >= before + 3


@pytest.mark.parametrize("kind", ["legit4", "legit6"])
def test_routed_vm_legitimate_packets_are_forwarded(lab, kind):
    gateway = lab.mac_of("hv", "vmpriv0")
    assert lab.sent_frames_seen("priv", kind, "net", "eth0", dst_mac=gateway) >= 3


@pytest.mark.parametrize("kind", ["arp-ip", "arp-mac", "na", "dad-foreign", "ra", "redirect", "dhcp4-server", "dhcp6-server"])
def test_routed_vm_link_local_spoofs_are_dropped_at_the_host(lab, kind):
    before = lab.drops("priv", SPOOFS[kind])
    lab.sent_frames_seen("priv", kind, "hv", "vmpriv0", seconds=0.5)
    assert lab.drops("priv", SPOOFS[kind]) >= before + 3
