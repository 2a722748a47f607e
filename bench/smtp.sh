#!/usr/bin/env bash
# SMTP relay benchmark (release build; not a timed test). In throwaway network namespaces:
#
#   PFX-vm   eth0 02:00:00:00:01:01 203.0.113.10/24: smtp-source, bench/smtp_latency.py, bench/smtp_idle.py
#     |  vmb0, a port of br0
#   PFX-hv   br0 02:00:00:00:00:fe 203.0.113.2/24 (br_netfilter off): `portcullis serve`, the VM registered
#     |  up0, a port of br0
#   PFX-net  eth0 203.0.113.1/24 198.51.100.1/24; smtp-sink on 198.51.100.25:25,
#            a private Postfix relay on 198.51.100.26:25 (relayhost [198.51.100.25]:25)
#
# Three paths, the same run, interleaved cell by cell:
#   relay    VM -> 198.51.100.25:25 with smtp.mode proxy: intercepted, relayed by the daemon to the sink
#   direct   VM -> 198.51.100.25:25 with smtp.mode allow: bridged untouched to the sink
#   postfix  VM -> 198.51.100.26:25 with smtp.mode allow: Postfix queues (on disk) and relays to the sink
# across sessions x message sizes x (new connection per message | one connection reused).
#
# Per cell: smtp-source runs for WARMUP + SECONDS; msgs/s = messages counted by smtp-sink during
# the SECONDS window, minus the latency probe's; CPU over the same window (the daemon's
# utime+stime; Postfix: its master and every descendant, reaped ones included); memory at the end
# of the window (daemon VmRSS; Postfix: PSS summed over its processes). During the window
# bench/smtp_latency.py, one extra session on the same path with the same size and connection
# mode and a pause between messages, times its messages: p50/p99. Finally N concurrent idle
# sessions through the relay (all greeted with 220) and the daemon's RSS.
#
# Root. Documentation addresses only; nothing outside the namespaces is touched (no /etc/postfix,
# nothing started in the root namespace). Usage: bench/smtp.sh
# Environment: PORTCULLIS_BIN (default .build-bench/release/portcullis, built if missing),
#   SMTP_BENCH_SECONDS (5), SMTP_BENCH_WARMUP (1), SMTP_BENCH_PROBE_PAUSE_MS (10),
#   SMTP_BENCH_SESSIONS ("1 10 50"), SMTP_BENCH_SIZES ("1024 102400"), SMTP_BENCH_CONN ("new reuse"),
#   SMTP_BENCH_PATHS ("relay direct postfix"), SMTP_BENCH_IDLE (10000; 0 skips), SMTP_BENCH_KEEP=1 keeps the run
#   directory, SMTP_BENCH_RESULTS=FILE copies the per-cell results (JSON lines) there,
#   SMTP_BENCH_PIN=1 pins the load (smtp-source, the probe, smtp-sink, Postfix) to CPU 0 and the
#   daemon to CPU 1, as on a hypervisor where the VM and the MX do not run on the relay's cores
#   (the targets are read on shared cores; this shows what the relay alone can carry).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
BIN=${PORTCULLIS_BIN:-$root/.build-bench/release/portcullis}
SECS=${SMTP_BENCH_SECONDS:-5}
WARM=${SMTP_BENCH_WARMUP:-1}
PROBE_PAUSE_MS=${SMTP_BENCH_PROBE_PAUSE_MS:-10}
SESSIONS=${SMTP_BENCH_SESSIONS-"1 10 50"}
SIZES=${SMTP_BENCH_SIZES-"1024 102400"}
CONNS=${SMTP_BENCH_CONN-"new reuse"}
PATHS=${SMTP_BENCH_PATHS-"relay direct postfix"}
IDLE=${SMTP_BENCH_IDLE:-10000}
LOAD_CPU=() DAEMON_CPU=()
if [ "${SMTP_BENCH_PIN:-0}" = 1 ]; then LOAD_CPU=(taskset -c 0) DAEMON_CPU=(taskset -c 1); fi
PY=/usr/bin/python3
proc() { "$PY" "$root/bench/smtp_proc.py" "$@"; }

[ "$(id -u)" = 0 ] || { echo "bench/smtp.sh: needs root (network namespaces, nftables)" >&2; exit 1; }
for tool in smtp-source smtp-sink postfix; do
  command -v "$tool" >/dev/null || [ -x "/usr/sbin/$tool" ] || { echo "bench/smtp.sh: $tool is missing (apt-get install postfix)" >&2; exit 1; }
done
export PATH=$PATH:/usr/sbin
if [ ! -x "$BIN" ]; then
  [ -z "${PORTCULLIS_BIN:-}" ] || { echo "bench/smtp.sh: $BIN is missing" >&2; exit 1; }
  swift build -c release --product portcullis --scratch-path "$root/.build-bench" 2>&1 | tail -1
fi

p=pcb$(od -An -N2 -tx2 /dev/urandom | tr -d ' ')
hv=$p-hv vm=$p-vm net=$p-net
run=/tmp/$p
SINK=198.51.100.25 MTA=198.51.100.26 VMADDR=203.0.113.10
daemon_pid='' daemon_mode='' sink_pid='' postfix_started='' idle_pids=()

cleanup() {
  local rc=$?
  set +e
  for pid in "${idle_pids[@]}"; do kill "$pid" 2>/dev/null; done
  [ -n "$postfix_started" ] && ip netns exec "$net" postfix -c "$run/postfix/conf" stop >/dev/null 2>&1
  if [ -n "$daemon_pid" ]; then kill "$daemon_pid" 2>/dev/null; wait "$daemon_pid" 2>/dev/null; fi
  if [ -n "$sink_pid" ]; then kill "$sink_pid" 2>/dev/null; wait "$sink_pid" 2>/dev/null; fi
  for ns in "$vm" "$net" "$hv"; do
    if ip netns list | grep -qw "$ns"; then
      for pid in $(ip netns pids "$ns" 2>/dev/null); do kill -9 "$pid" 2>/dev/null; done
      ip netns del "$ns" 2>/dev/null
    fi
  done
  if [ "${SMTP_BENCH_KEEP:-0}" = 1 ]; then echo "run directory kept: $run" >&2; else rm -rf "$run"; fi
  exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

mkdir -m 755 "$run"
now() { date +%s.%N; }
calc() { "$PY" -c "import sys; print($1)"; }

# --- the network --------------------------------------------------------------------------
for ns in "$hv" "$vm" "$net"; do
  ip netns add "$ns"
  ip -n "$ns" link set lo up
  # Load generator hygiene, in our namespaces only: thousands of short connections a second.
  ip netns exec "$ns" sysctl -qw net.ipv4.ip_local_port_range="1024 65000" net.ipv4.tcp_tw_reuse=1 net.core.somaxconn=8192
done
ip netns exec "$hv" sysctl -qw net.ipv4.ip_forward=1
# br_netfilter off in the hypervisor (new namespaces start with it on when the module is loaded).
ip netns exec "$hv" sh -c '[ ! -d /proc/sys/net/bridge ] || sysctl -qw net.bridge.bridge-nf-call-iptables=0 \
  net.bridge.bridge-nf-call-ip6tables=0 net.bridge.bridge-nf-call-arptables=0'
ip -n "$hv" link add br0 type bridge
ip -n "$hv" link set br0 address 02:00:00:00:00:fe up
ip -n "$hv" addr add 203.0.113.2/24 dev br0
ip -n "$hv" route add default via 203.0.113.1
ip link add up0 netns "$hv" type veth peer name eth0 netns "$net"
ip -n "$hv" link set up0 master br0 up
ip -n "$net" link set eth0 up
ip -n "$net" addr add 203.0.113.1/24 dev eth0
ip -n "$net" addr add 198.51.100.1/24 dev eth0
ip -n "$net" addr add $SINK/32 dev lo
ip -n "$net" addr add $MTA/32 dev lo
ip link add vmb0 netns "$hv" type veth peer name eth0 netns "$vm"
ip -n "$vm" link set eth0 address 02:00:00:00:01:01 up
ip -n "$vm" addr add $VMADDR/24 dev eth0
ip -n "$vm" route add default via 203.0.113.1
ip -n "$hv" link set vmb0 master br0 up

# --- the sink ---------------------------------------------------------------------------------
# Discards everything; -c prints its counters (sess=, quit=, mesg=) after every message and
# session end. Appending, so the file can be truncated between cells.
ip netns exec "$net" "${LOAD_CPU[@]}" smtp-sink -u nobody -c -m 20000 -t 600 $SINK:25 8192 >>"$run/sink.out" 2>"$run/sink.err" &
sink_pid=$!
sink_count() { tail -c 300 "$run/sink.out" | tr '\r' '\n' | grep -o 'mesg=[0-9]*' | tail -1 | cut -d= -f2 || true; }

# --- the Postfix relay baseline ---------------------------------------------------------------
pf=$run/postfix
mkdir -p "$pf/conf" "$pf/queue" "$pf/data"
chown postfix "$pf/data"
cat >"$pf/conf/main.cf" <<CF
compatibility_level = 3.6
queue_directory = $pf/queue
data_directory = $pf/data
mail_owner = postfix
setgid_group = postdrop
maillog_file = $pf/maillog
maillog_file_prefixes = $pf
inet_interfaces = $MTA
inet_protocols = ipv4
myhostname = relay.bench.example
mydomain = bench.example
myorigin = \$myhostname
mydestination =
local_recipient_maps =
local_transport = error:no local delivery here
alias_maps =
alias_database =
relayhost = [$SINK]:25
mynetworks = 203.0.113.0/24 127.0.0.0/8
smtpd_relay_restrictions = permit_mynetworks, reject
smtpd_peername_lookup = no
smtpd_tls_security_level = none
smtp_tls_security_level = none
message_size_limit = 52428800
default_process_limit = 150
default_destination_concurrency_limit = 50
biff = no
CF
# Debian's master.cf without chroot (the queue is not a prepared chroot) and without the pipes.
cat >"$pf/conf/master.cf" <<'CF'
smtp      inet  n       -       n       -       -       smtpd
pickup    unix  n       -       n       60      1       pickup
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
flush     unix  n       -       n       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
smtp      unix  -       -       n       -       -       smtp
relay     unix  -       -       n       -       -       smtp
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
CF
if [[ " $PATHS " == *" postfix "* ]]; then
  if ! ip netns exec "$net" "${LOAD_CPU[@]}" postfix -c "$pf/conf" start >/dev/null 2>&1; then
    echo "bench/smtp.sh: the private Postfix did not start:" >&2; tail -5 "$pf/maillog" >&2; exit 1
  fi
  postfix_started=1
fi
postfix_master() { read -r pid <"$pf/queue/pid/master.pid" && echo "$pid"; }
postfix_queued() { find "$pf/queue/maildrop" "$pf/queue/incoming" "$pf/queue/active" "$pf/queue/deferred" -type f 2>/dev/null | wc -l; }

# --- the daemon -------------------------------------------------------------------------------
cat >"$run/site.head" <<YAML
site: bench-1
public_ipv4: [203.0.113.0/24]
restricted_ports: { tcp: [25, 465, 587] }
store: { sqlite: $run/state.db }
api: { socket: $run/api.sock }
reconcile: { interval: 1s }
# The load is one VM sending far more mail than the abuse thresholds allow: the detector still
# reads every record (its cost is part of the relay's), but only observes.
abuse: { allowlist: { vms: [benchvm] } }
YAML
LIMITS="limits: { sessions: 20000, connections_per_minute: 1000000, messages_per_hour: 100000000, recipients_per_message: 100, max_message_bytes: 26214400 }"
cli() { "$BIN" "$@" --socket "$run/api.sock"; }

# A greeting through port 25 from the VM: the path is up (relayed in proxy mode).
greeted() {
  ip netns exec "$vm" "$PY" -c "
import socket, sys
s = socket.create_connection(('$1', 25), timeout=1)
sys.exit(0 if s.recv(100).startswith(b'220') else 1)" 2>/dev/null
}

stop_daemon() {
  if [ -n "$daemon_pid" ]; then
    kill "$daemon_pid" 2>/dev/null || true
    wait "$daemon_pid" 2>/dev/null || true
  fi
  daemon_pid='' daemon_mode=''
}

start_daemon() {  # MODE: proxy | allow
  [ "$daemon_mode" = "$1" ] && return 0
  stop_daemon
  { cat "$run/site.head"; echo "smtp: { mode: $1, listen_port: 10025, tls: { mode: off }, $LIMITS }"; } >"$run/site.yaml"
  ip netns exec "$hv" "${DAEMON_CPU[@]}" "$BIN" serve --config "$run/site.yaml" >>"$run/daemon.log" 2>&1 &
  daemon_pid=$!
  local i
  for i in $(seq 1 200); do
    if [ -S "$run/api.sock" ] && cli status >/dev/null 2>&1; then break; fi
    kill -0 "$daemon_pid" 2>/dev/null || { echo "bench/smtp.sh: the daemon exited:" >&2; tail -20 "$run/daemon.log" >&2; exit 1; }
    sleep 0.05
  done
  if ! cli vm show benchvm >/dev/null 2>&1; then
    cli vm add benchvm --tenant bench --interface vmb0 --mac 02:00:00:00:01:01 --bridge br0 --ipv4 $VMADDR >/dev/null
  fi
  for i in $(seq 1 200); do
    if [ "$1" != proxy ] || ip netns exec "$hv" ss -ltnH 'sport = :10025' | grep -q .; then
      greeted $SINK && { daemon_mode=$1; return 0; }
    fi
    sleep 0.05
  done
  echo "bench/smtp.sh: no greeting through the $1 path" >&2; tail -20 "$run/daemon.log" >&2; exit 1
}

# --- one cell ---------------------------------------------------------------------------------
results=$run/results.tsv
: >"$results"
relayed_count() {  # transactions the relay reports as relayed (its /metrics; reset when the daemon restarts)
  curl -s --unix-socket "$run/api.sock" http://portcullis/metrics |
    awk '/^portcullis_smtp_transactions_total\{.*verdict="relayed"/ { n += $NF } END { printf "%d", n }'
}

wait_quiet() {  # until the sink count stops moving (and Postfix's queue is empty)
  local last=-1 same=0 c i
  for i in $(seq 1 600); do
    c=$(sink_count)
    if [ "$c" = "$last" ] && { [ "$1" != postfix ] || [ "$(postfix_queued)" = 0 ]; }; then
      same=$((same + 1)); [ $same -ge 5 ] && return 0
    else
      same=0
    fi
    last=$c
    sleep 0.1
  done
  echo "  (still moving after 60 s)" >&2
  [ "$1" != postfix ] || ip netns exec "$net" postsuper -c "$pf/conf" -d ALL >/dev/null 2>&1 || true
}

cpu_of() {  # the relaying process(es) of PATH
  case $1 in
    postfix) proc cpu "$(postfix_master)" ;;
    *) proc cpu "$daemon_pid" ;;
  esac
}
mem_of() {  # MiB: daemon VmRSS, or Postfix's PSS summed
  case $1 in
    postfix) proc mem "$(postfix_master)" | awk '{printf "%.1f", $3/1024}' ;;
    *) proc mem "$daemon_pid" | awk '{printf "%.1f", $1/1024}' ;;
  esac
}

show_row=$(cat <<'PYEOF'
import json, sys
r = json.loads(sys.stdin.read())
line = (f"{r['path']:8} s={r['sessions']:<3} {r['size'] // 1024:>4} KB {r['conn']:6} {r['msgs_s']:>9.1f} msg/s"
        f"  p50 {r['p50_ms']} ms  p99 {r['p99_ms']} ms (n={r['lat_n']}, err={r['lat_err']})"
        f"  cpu {r['cpu_pct']} % ({r['cpu_us_msg']} us/msg)  mem {r['mem_mib']} MiB  host {r['host_pct']} %")
if r["relayed"] is not None:
    line += f"  relayed {r['relayed']} of {r['delivered']} at the sink"
if r["note"]:
    line += "  NOTE " + r["note"]
print(line, flush=True)
PYEOF
)

cell() {  # PATH SESSIONS SIZE CONN
  local path=$1 s=$2 size=$3 conn=$4 target=$SINK flags=()
  if [ "$path" = relay ]; then start_daemon proxy; else start_daemon allow; fi
  [ "$path" = postfix ] && target=$MTA
  [ "$conn" = reuse ] && flags+=(-d)
  wait_quiet "$path"
  local c0; c0=$(sink_count)
  : >"$run/sink.out"
  local logged0=0
  [ "$path" != relay ] || logged0=$(relayed_count)
  ip netns exec "$vm" "${LOAD_CPU[@]}" smtp-source -s "$s" -m 100000000 -l "$size" -f bench@vm.example -t rcpt@sink.example \
    -M vm.bench.example "${flags[@]}" "$target:25" >"$run/source.out" 2>&1 &
  local src=$!
  sleep "$WARM"
  # The latency probe: one more session, same path, size and connection mode, during the window.
  local lat_flags=(--size "$size" --seconds "$SECS" --pause-ms "$PROBE_PAUSE_MS")
  [ "$conn" = new ] && lat_flags+=(--new-connection)
  ip netns exec "$vm" "${LOAD_CPU[@]}" "$PY" "$root/bench/smtp_latency.py" "$target" 25 "${lat_flags[@]}" >"$run/probe.out" 2>&1 &
  local probe=$!
  local t1 c1 u1 h1 t2 c2 u2 h2 mem alive=1
  t1=$(now); c1=$(sink_count); u1=$(cpu_of "$path"); h1=$(proc host)
  sleep "$SECS"
  t2=$(now); c2=$(sink_count); u2=$(cpu_of "$path"); h2=$(proc host)
  mem=$(mem_of "$path")
  wait "$probe" || true
  kill -0 "$src" 2>/dev/null || alive=0
  kill "$src" 2>/dev/null || true
  wait "$src" 2>/dev/null || true
  local note='' lat
  [ $alive = 1 ] || note="smtp-source ended early: $(tail -c 200 "$run/source.out" | tr '\n' ' ')"
  lat=$(tail -1 "$run/probe.out")
  wait_quiet "$path"
  local relayed='' delivered=$(( $(sink_count) - ${c0:-0} ))
  [ "$path" != relay ] || relayed=$(( $(relayed_count) - logged0 ))
  read -r h1b h1t <<<"$h1"; read -r h2b h2t <<<"$h2"
  "$PY" - "$path" "$s" "$size" "$conn" "$t1" "$t2" "${c1:-0}" "${c2:-0}" "$u1" "$u2" "$h1b" "$h1t" "$h2b" "$h2t" \
    "$mem" "$lat" "$relayed" "$delivered" "$note" >>"$results" <<'PYEOF'
import json, os, sys
(path, s, size, conn, t1, t2, c1, c2, u1, u2, h1b, h1t, h2b, h2t, mem, lat, relayed, delivered, note) = sys.argv[1:]
secs = float(t2) - float(t1)
try:
    l = json.loads(lat)
except ValueError:
    l = {"p50_ms": None, "p99_ms": None, "count": 0, "errors": lat[:80]}
sink = int(c2) - int(c1)
msgs = sink - l.get("count", 0)  # the probe's messages are not smtp-source's load
rate = msgs / secs
cpu = float(u2) - float(u1)
host = (int(h2b) - int(h1b)) / max(1, int(h2t) - int(h1t)) * os.cpu_count() * 100
row = dict(path=path, sessions=int(s), size=int(size), conn=conn, msgs_s=round(rate, 1), msgs=msgs,
           cpu_pct=round(cpu / secs * 100, 1), cpu_us_msg=round(cpu / sink * 1e6) if sink > 0 else None,
           mem_mib=float(mem), host_pct=round(host), p50_ms=l.get("p50_ms"), p99_ms=l.get("p99_ms"),
           lat_n=l.get("count"), lat_err=l.get("errors"), relayed=int(relayed) if relayed else None,
           delivered=int(delivered), note=note)
print(json.dumps(row))
PYEOF
  tail -1 "$results" | "$PY" -c "$show_row"
}

echo "SMTP benchmark $p: $(nproc) CPUs, ${SECS}s windows after ${WARM}s warm-up, latency probe pausing ${PROBE_PAUSE_MS} ms; binary $BIN"
for conn in $CONNS; do
  for size in $SIZES; do
    for s in $SESSIONS; do
      for path in $PATHS; do
        cell "$path" "$s" "$size" "$conn"
      done
    done
  done
done

# --- concurrent idle sessions through the relay ---------------------------------------------
idle_line=''
if [ "$IDLE" -gt 0 ]; then
  stop_daemon
  start_daemon proxy
  sleep 1
  read -r fds limit <<<"$(proc fds "$daemon_pid")"
  # Two sockets per relayed session (the VM's and the upstream one); RLIMIT_NOFILE caps the count.
  room=$(( (limit - fds - 20) / 2 ))
  n=$IDLE
  [ "$n" -le "$room" ] || n=$room
  half=$(( n / 2 ))
  read -r rss0 _ <<<"$(proc mem "$daemon_pid")"
  echo "idle sessions: daemon RLIMIT_NOFILE $limit, $fds fds open, room for $room sessions; opening $half, then $((n - half)) more"
  # Each client holds its sessions until its stdin (a fifo we keep open) closes.
  rss=() opened=()
  for part in 1 2; do
    want=$half; [ $part = 2 ] && want=$((n - half))
    fifo=$run/idle$part.in
    mkfifo "$fifo"
    ip netns exec "$vm" "$PY" "$root/bench/smtp_idle.py" $SINK 25 --sessions "$want" <"$fifo" >"$run/idle$part.out" 2>&1 &
    idle_pids+=($!)
    exec {hold}>"$fifo"
    eval "hold$part=$hold"
    for i in $(seq 1 1800); do
      [ -s "$run/idle$part.out" ] && break
      kill -0 "${idle_pids[-1]}" 2>/dev/null || break
      sleep 0.1
    done
    cat "$run/idle$part.out"
    sleep 2
    read -r r hwm _ <<<"$(proc mem "$daemon_pid")"
    rss+=("$r"); opened+=("$(grep -o '"open": [0-9]*' "$run/idle$part.out" | grep -o '[0-9]*$' || echo 0)")
    echo "  after part $part: daemon VmRSS $((r / 1024)) MiB, VmHWM $((hwm / 1024)) MiB, fds $(proc fds "$daemon_pid" | cut -d' ' -f1), sink sessions $(ip netns exec "$net" ss -tnH state established "( sport = :25 )" | wc -l)"
  done
  total=$(( opened[0] + opened[1] ))
  per=$(calc "round(($((rss[1])) - $((rss[0])))/max(1, ${opened[1]}) , 2)")
  ext=$(calc "round(($((rss[1])) + (10000 - $total) * $per) / 1024, 1)")
  idle_line=$(printf 'idle: %s sessions open through the relay (greeted): daemon VmRSS %s MiB (%s MiB before); %s KiB per added session; at 10,000: %s MiB (%s) vs 512 MiB' \
    "$total" "$((rss[1] / 1024))" "$((rss0 / 1024))" "$per" "$ext" "$([ "$total" -ge 10000 ] && echo measured || echo extrapolated)")
  exec {hold1}>&- {hold2}>&-
  for pid in "${idle_pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  idle_pids=()
fi

# --- the table --------------------------------------------------------------------------------
echo
[ -s "$results" ] || { [ -z "$idle_line" ] || echo "$idle_line"; exit 0; }
"$PY" - "$results" "$idle_line" <<'PYEOF'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
by = {(r["path"], r["sessions"], r["size"], r["conn"]): r for r in rows}
print("| conn | size | sessions | relay msg/s | direct msg/s | Postfix msg/s | relay/direct | relay/Postfix "
      "| p99 ms relay / direct / Postfix | relay CPU % (µs/msg) | Postfix CPU % (µs/msg) | relay RSS MiB | Postfix PSS MiB |")
print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
ratios_d, ratios_p = [], []
seen = []
for r in rows:
    key = (r["sessions"], r["size"], r["conn"])
    if key not in seen:
        seen.append(key)
for s, size, conn in seen:
    g = lambda path: by.get((path, s, size, conn))
    rl, d, pf = g("relay"), g("direct"), g("postfix")
    f = lambda r, k: "–" if not r or r.get(k) is None else (f"{r[k]:,.0f}" if isinstance(r[k], float) and r[k] >= 100 else f"{r[k]}")
    rd = rl["msgs_s"] / d["msgs_s"] if rl and d and d["msgs_s"] else None
    rp = rl["msgs_s"] / pf["msgs_s"] if rl and pf and pf["msgs_s"] else None
    if rd is not None: ratios_d.append(rd)
    if rp is not None: ratios_p.append(rp)
    cpu = lambda r: "–" if not r else f"{r['cpu_pct']} ({r['cpu_us_msg']})"
    print(f"| {conn} | {size // 1024} KB | {s} | {f(rl, 'msgs_s')} | {f(d, 'msgs_s')} | {f(pf, 'msgs_s')} | "
          f"{'–' if rd is None else f'{rd:.2f}×'} | {'–' if rp is None else f'{rp:.1f}×'} | "
          f"{f(rl, 'p99_ms')} / {f(d, 'p99_ms')} / {f(pf, 'p99_ms')} | {cpu(rl)} | {cpu(pf)} | {f(rl, 'mem_mib')} | {f(pf, 'mem_mib')} |")
print()
if ratios_d:
    print(f"relay/direct: min {min(ratios_d):.2f}×, max {max(ratios_d):.2f}× (target ≥ 0.9×: {'met' if min(ratios_d) >= 0.9 else 'NOT met in ' + str(sum(r < 0.9 for r in ratios_d)) + ' of ' + str(len(ratios_d)) + ' cells'})")
if ratios_p:
    print(f"relay/Postfix: min {min(ratios_p):.1f}×, max {max(ratios_p):.1f}× (target ≥ 5×: {'met' if min(ratios_p) >= 5 else 'NOT met in ' + str(sum(r < 5 for r in ratios_p)) + ' of ' + str(len(ratios_p)) + ' cells'})")
notes = [r for r in rows if r.get("note") or r.get("lat_err")]
for r in notes:
    print(f"note: {r['path']} s={r['sessions']} {r['size']} {r['conn']}: {r.get('note') or ''} latency errors {r.get('lat_err')}")
if sys.argv[2]:
    print(sys.argv[2])
PYEOF
[ -z "${SMTP_BENCH_RESULTS:-}" ] || cp "$results" "$SMTP_BENCH_RESULTS"
