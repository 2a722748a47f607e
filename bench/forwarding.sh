#!/usr/bin/env bash
# Forwarding benchmark: iperf3 from a lab "VM" through the hypervisor namespace to a peer,
# with 1 VM and with 10,000 VMs configured, for Portcullis's ruleset (one set lookup per
# check) and for the linear baseline (one jump rule per VM, the lab VM last). Prints the
# throughput of each and the 10,000/1 ratios. Root; throwaway namespaces; documentation
# and shared address ranges only. Usage: bench/forwarding.sh [SECONDS]
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-5}
bench=.build/release/portcullis-bench
[ -x "$bench" ] || swift build -c release --product portcullis-bench 2>&1 | tail -1
p=pcfwd$$
hv=$p-hv vm=$p-vm peer=$p-peer
cleanup() {
  for ns in "$vm" "$peer" "$hv"; do
    for pid in $(ip netns pids "$ns" 2>/dev/null); do kill "$pid" 2>/dev/null || true; done  # the iperf3 daemon
    ip netns del "$ns" 2>/dev/null || true
  done
}
trap cleanup EXIT
for ns in "$hv" "$vm" "$peer"; do ip netns add "$ns"; ip -n "$ns" link set lo up; done
ip netns exec "$hv" sysctl -qw net.ipv4.ip_forward=1 net.bridge.bridge-nf-call-iptables=0
ip link add vmbench0 netns "$hv" type veth peer name eth0 netns "$vm"
ip link add up0 netns "$hv" type veth peer name eth0 netns "$peer"
ip -n "$vm" link set eth0 address 02:00:00:00:bb:01 up
ip -n "$vm" addr add 100.127.0.10/24 dev eth0
ip -n "$vm" route add default via 100.127.0.1
ip -n "$hv" link set vmbench0 up; ip -n "$hv" addr add 100.127.0.1/24 dev vmbench0
ip -n "$hv" link set up0 up;      ip -n "$hv" addr add 198.51.100.1/24 dev up0
ip -n "$peer" link set eth0 up;   ip -n "$peer" addr add 198.51.100.2/24 dev eth0
ip -n "$peer" route add 100.127.0.0/24 via 198.51.100.1
ip netns exec "$peer" sh -c 'iperf3 -s -D' >/dev/null
sleep 0.5

# One measurement: TCP bulk and small-packet UDP (where per-packet cost shows).
measure() {
  local tcp udp
  tcp=$(ip netns exec "$vm" iperf3 -c 198.51.100.2 -t "$secs" -J | /usr/bin/python3 -c 'import json,sys; print("%.0f" % (json.load(sys.stdin)["end"]["sum_received"]["bits_per_second"]/1e6))')
  udp=$(ip netns exec "$vm" iperf3 -c 198.51.100.2 -u -l 64 -b 0 -t "$secs" -J | /usr/bin/python3 -c 'import json,sys; d=json.load(sys.stdin)["end"]["sum"]; print("%.0f" % (d["packets"]*(1-d["lost_percent"]/100)/d["seconds"]/1e3))')
  echo "$tcp $udp"
}
load() { ip netns exec "$hv" nft -f -; }
clear() { ip netns exec "$hv" nft flush ruleset; }

# Three interleaved rounds; the median of each configuration is reported.
declare -A R
for round in 1 2 3; do
  for kind in ours linear; do
    for n in 1 10000; do
      clear
      if [ "$kind" = linear ]; then "$bench" emit "$n" --linear | load; else "$bench" emit "$n" | load; fi
      read -r tcp udp < <(measure)
      R[$kind-$n-tcp]="${R[$kind-$n-tcp]:-} $tcp" R[$kind-$n-udp]="${R[$kind-$n-udp]:-} $udp"
      printf 'round %s  %-7s %6s VMs: TCP %6s Mbit/s   UDP 64 B %6s kpps\n' "$round" "$kind" "$n" "$tcp" "$udp"
    done
  done
done
clear
median() { /usr/bin/python3 -c "import statistics,sys; print('%.0f' % statistics.median(map(float, sys.argv[1:])))" $1; }
ratio() { /usr/bin/python3 -c "print('%.2f' % ($1/$2))"; }
for kind in ours linear; do
  for n in 1 10000; do
    for t in tcp udp; do R[$kind-$n-$t]=$(median "${R[$kind-$n-$t]}"); done
    printf 'median  %-7s %6s VMs: TCP %6s Mbit/s   UDP 64 B %6s kpps\n' "$kind" "$n" "${R[$kind-$n-tcp]}" "${R[$kind-$n-udp]}"
  done
done
echo "ratio 10000/1 VMs  ours:   TCP $(ratio "${R[ours-10000-tcp]}" "${R[ours-1-tcp]}")  UDP $(ratio "${R[ours-10000-udp]}" "${R[ours-1-udp]}")   (target >= 0.95)"
echo "ratio 10000/1 VMs  linear: TCP $(ratio "${R[linear-10000-tcp]}" "${R[linear-1-tcp]}")  UDP $(ratio "${R[linear-10000-udp]}" "${R[linear-1-udp]}")"
