#!/usr/bin/env bash
# The namespace lab: a hypervisor, "the internet" and two VMs, in network namespaces
# named after a per-run PREFIX. Documentation address ranges only; nothing leaves the
# namespaces. Usage: lab.sh up PREFIX | lab.sh down PREFIX
#
#   PREFIX-pub  (public VM, bridged)   eth0 02:00:00:00:01:01 203.0.113.10/24 2001:db8:1::10/64
#        |  vmpub0 (port of br0)
#   PREFIX-brpriv (restricted VM, bridged) eth0 02:00:00:00:04:01 198.51.100.10/24 2001:db8:1::40/64
#        |  vmbrp0 (port of br0)
#   PREFIX-hv   br0 02:00:00:00:00:fe 203.0.113.2/24 198.51.100.2/24 2001:db8:1::2/64, uplink up0 on br0
#        |  vmpriv0 (routed: 100.64.0.1/24, 2001:db8:2::1/64; NAT to 203.0.113.2 via table ip labnat)
#   PREFIX-priv (private VM, routed)   eth0 02:00:00:00:02:01 100.64.0.10/24 2001:db8:2::10/64
#   PREFIX-net  eth0 203.0.113.1/24 198.51.100.1/24 2001:db8:1::1/64; an SMTP sink (mx.py, STARTTLS) on 25,
#               the notice smarthost (mx.py, AUTH required) on 2525, a webhook receiver (webhook.py) on 8088
#               and listeners on 465, 587, 443 (v4+v6)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
action=${1:?usage: lab.sh up|down PREFIX}
prefix=${2:?usage: lab.sh up|down PREFIX}
hv=$prefix-hv net=$prefix-net pub=$prefix-pub priv=$prefix-priv brpriv=$prefix-brpriv
run=/run/portcullis-lab/$prefix
PY=/usr/bin/python3

down() {
  for ns in "$pub" "$priv" "$brpriv" "$net" "$hv"; do
    if ip netns list | grep -qw "$ns"; then
      for pid in $(ip netns pids "$ns" 2>/dev/null); do kill -9 "$pid" 2>/dev/null || true; done
      ip netns del "$ns" 2>/dev/null || true
    fi
  done
  rm -rf "$run"
}

# A VM: veth HOSTIF in the hypervisor, eth0 in namespace NS with its MAC, addresses and gateways.
vm_link() {
  local ns=$1 hostif=$2 mac=$3 v4=$4 v6=$5 gw4=$6 gw6=$7
  ip link add "$hostif" netns "$hv" type veth peer name eth0 netns "$ns"
  ip -n "$ns" link set eth0 address "$mac" up
  ip -n "$ns" addr add "$v4" dev eth0
  ip -n "$ns" addr add "$v6" dev eth0 nodad
  ip -n "$ns" route add default via "$gw4"
  ip -n "$ns" -6 route add default via "$gw6"
}

up() {
  trap 'echo "lab.sh: set-up failed; tearing down" >&2; down' ERR
  mkdir -p "$run"
  for ns in "$hv" "$net" "$pub" "$priv" "$brpriv"; do
    ip netns add "$ns"
    ip -n "$ns" link set lo up
  done
  # Hypervisor: bridge with pinned MAC; br_netfilter off (new namespaces start with it on).
  ip netns exec "$hv" sysctl -qw net.bridge.bridge-nf-call-iptables=0 net.bridge.bridge-nf-call-ip6tables=0 \
    net.bridge.bridge-nf-call-arptables=0 net.ipv4.ip_forward=1 net.ipv6.conf.all.forwarding=1
  ip -n "$hv" link add br0 type bridge
  ip -n "$hv" link set br0 address 02:00:00:00:00:fe up
  ip -n "$hv" addr add 203.0.113.2/24 dev br0
  ip -n "$hv" addr add 198.51.100.2/24 dev br0
  ip -n "$hv" addr add 2001:db8:1::2/64 dev br0 nodad
  # Uplink to the internet.
  ip link add up0 netns "$hv" type veth peer name eth0 netns "$net"
  ip -n "$hv" link set up0 master br0 up
  ip -n "$net" link set eth0 up
  ip -n "$net" addr add 203.0.113.1/24 dev eth0
  ip -n "$net" addr add 198.51.100.1/24 dev eth0
  ip -n "$net" addr add 2001:db8:1::1/64 dev eth0 nodad
  ip -n "$net" addr add 198.51.100.25/32 dev lo
  ip -n "$net" addr add 2001:db8:25::25/128 dev lo
  # The port-scan tests' target: scanning it leaves the other hosts' scan budgets untouched.
  ip -n "$net" addr add 198.51.100.99/32 dev lo
  ip -n "$net" -6 route add 2001:db8:2::/64 via 2001:db8:1::2
  # Public VM, bridged.
  vm_link "$pub" vmpub0 02:00:00:00:01:01 203.0.113.10/24 2001:db8:1::10/64 203.0.113.1 2001:db8:1::1
  ip -n "$hv" link set vmpub0 master br0 up
  # Restricted VM, bridged: no public IPv4 (198.51.100.0/24 is not in the site's public_ipv4).
  vm_link "$brpriv" vmbrp0 02:00:00:00:04:01 198.51.100.10/24 2001:db8:1::40/64 198.51.100.1 2001:db8:1::1
  ip -n "$hv" link set vmbrp0 master br0 up
  # Private VM, routed with NAT for IPv4 and a routed public IPv6.
  vm_link "$priv" vmpriv0 02:00:00:00:02:01 100.64.0.10/24 2001:db8:2::10/64 100.64.0.1 2001:db8:2::1
  ip -n "$hv" link set vmpriv0 up
  ip -n "$hv" addr add 100.64.0.1/24 dev vmpriv0
  ip -n "$hv" addr add 2001:db8:2::1/64 dev vmpriv0 nodad
  ip -n "$hv" route add default via 203.0.113.1
  ip -n "$hv" -6 route add default via 2001:db8:1::1
  nat_table | ip netns exec "$hv" nft -f -
  # Listeners in the internet: the MX (with a throwaway certificate, valid for the address the
  # daemon's notices dial, which verify it against this file as their private CA) and the other ports.
  openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=lab-mx.example" \
    -addext "subjectAltName=DNS:lab-mx.example,IP:203.0.113.1" -keyout "$run/mx.key" -out "$run/mx.pem" >/dev/null 2>&1
  ip netns exec "$net" "$PY" "$here/mx.py" --store "$run/mx" --cert "$run/mx.pem" --key "$run/mx.key" \
    > "$run/mx.out" 2>&1 &
  ip netns exec "$net" "$PY" "$here/peer.py" listen --ports 465,587,443 --log "$run/listener.log" \
    > "$run/listener.out" 2>&1 &
  # The provider's smarthost for abuse notices (a second sink, so notices never mix with the
  # VMs' mail) and the abuse desk's webhook receiver.
  ip netns exec "$net" "$PY" "$here/mx.py" --store "$run/notices" --port 2525 --cert "$run/mx.pem" --key "$run/mx.key" \
    --auth "notices:lab smarthost password" > "$run/notices.out" 2>&1 &
  ip netns exec "$net" "$PY" "$here/webhook.py" --store "$run/webhook" --port 8088 > "$run/webhook.out" 2>&1 &
  cat > "$run/env" <<ENV
LAB_PREFIX=$prefix
LAB_HV=$hv
LAB_NET=$net
LAB_PUB=$pub
LAB_PRIV=$priv
LAB_BRPRIV=$brpriv
LAB_RUN=$run
LAB_MX_STORE=$run/mx
ENV
  # Wait until every VM reaches the internet on v4 and v6 (link-local and NDP settle).
  for i in $(seq 1 50); do
    if ip netns exec "$pub" "$PY" "$here/peer.py" probe 203.0.113.1 443 --timeout 0.5 | grep -q open &&
       ip netns exec "$pub" "$PY" "$here/peer.py" probe 203.0.113.1 25 --timeout 0.5 | grep -q open &&
       ip netns exec "$pub" "$PY" "$here/peer.py" probe 2001:db8:1::1 443 --timeout 0.5 | grep -q open &&
       ip netns exec "$priv" "$PY" "$here/peer.py" probe 203.0.113.1 443 --timeout 0.5 | grep -q open &&
       ip netns exec "$priv" "$PY" "$here/peer.py" probe 2001:db8:1::1 443 --timeout 0.5 | grep -q open &&
       ip netns exec "$brpriv" "$PY" "$here/peer.py" probe 203.0.113.1 443 --timeout 0.5 | grep -q open &&
       ip netns exec "$brpriv" "$PY" "$here/peer.py" probe 2001:db8:1::1 443 --timeout 0.5 | grep -q open; then
      trap - ERR
      return 0
    fi
    sleep 0.2
  done
  echo "lab.sh: the lab network did not come up" >&2
  down
  exit 1
}

# The lab's own NAT: also the "foreign" table that Portcullis must never touch.
nat_table() {
  cat <<'NFT'
table ip labnat {
  chain post {
    type nat hook postrouting priority srcnat; policy accept;
    ip saddr 100.64.0.0/10 oifname "br0" masquerade
  }
}
NFT
}

case "$action" in
  up) up ;;
  down) down ;;
  nat) nat_table | ip netns exec "$hv" nft -f - ;;
  *) echo "usage: lab.sh up|down|nat PREFIX" >&2; exit 2 ;;
esac
