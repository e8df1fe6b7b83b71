#!/usr/bin/env bash
# Benchmark: single-stream TCP throughput (iperf3) through Ethernet tunnels between two network namespaces joined
# by a veth pair (MTU 1500; underlay 10.77.0.1 <-> 10.77.0.2, overlay 192.168.77.1/24 <-> 192.168.77.2/24), and the
# resident memory (VmRSS) of the userspace tunnel processes while they carry that traffic. Cases:
#   kernel-vxlan    the kernel's VXLAN device (id 42, dstport 4789, dev veth0); the kernel picks MTU 1450.
#   isthmus-vxlan   `isthmus -n NS tunnel run tap0 type vxlan ...`: the userspace data plane on a TAP, MTU 1450.
#   isthmus-l2tpv3  `isthmus -n NS tunnel run tap0 type l2tpv3 ... encap udp ...`, MTU 1446.
#   openvpn-tap     OpenVPN 2.6, point-to-point, --dev-type tap over UDP, no TLS.
#   tinc-switch     tinc 1.0, Mode = switch, over UDP.
# The kernel and isthmus tunnels neither encrypt nor authenticate, so OpenVPN and tinc run with both switched off
# too (OpenVPN: no TLS, no --secret, --cipher none --auth none; tinc: Cipher = none, Digest = none). The numbers
# compare the cost of the data planes, not of cryptography; never deploy either of them configured like this.
# (OpenVPN 2.6 still runs without TLS but logs that 2.7 will drop that mode: on 2.7 this case will need a TLS
# control channel, e.g. with --peer-fingerprint as that warning suggests.)
# MTU: the kernel and isthmus tunnels get the largest overlay MTU that fits the 1500-byte underlay unfragmented
# (1450 for VXLAN, 1446 for L2TPv3 over UDP). OpenVPN and tinc keep their stock MTU handling, which is how they
# are deployed: a 1500-byte TAP whose TCP traffic is kept from fragmenting by MSS clamping. For OpenVPN that is
# --tun-mtu 1500 with the default --mssfix (1492 mtu: encapsulated packets of at most 1492 bytes on the wire). For
# tinc it is PMTUDiscovery plus ClampMSS (both default on); tinc also answers oversized frames with ICMP
# fragmentation-needed, after which the kernel uses a path MTU of 1454 towards the peer. Neither lets the TCP
# stream fragment on the underlay (checked with nstat: no IpFragCreates). An exact-fit OpenVPN TAP
# (--tun-mtu 1458 --mssfix 0) measured within run-to-run noise of the default, so the default stays. OpenVPN also
# gets --fast-io (skips a poll before each UDP/TAP write; it measured slightly faster). Larger socket buffers
# (--sndbuf/--rcvbuf 1 MiB) were ~15% faster for OpenVPN on the test host but are capped by net.core.[rw]mem_max
# and no other case gets such tuning, so every tunnel keeps the OS default buffers.
# Each run of each case uses freshly created namespaces (isth-tb-PID-N-a/-b) and ends by stopping what it started
# (SIGTERM by pid, then waiting for it) and deleting them; the iperf3 server runs as a background child with -1
# rather than with -D so that its pid is ours to stop and reap. The throughput is the receiver's sum_received.
# VmRSS is sampled from /proc about 2 s before the iperf3 run ends, on both ends, and the larger is reported, for
# the median run (median by throughput over RUNS runs; the lower middle one when RUNS is even). Ratios are this
# case's median over the kernel-vxlan and over the openvpn-tap median.
# usage: Tools/bench/tunnels.sh [ISTHMUS_BINARY] [SECONDS=10] [RUNS=3] [CASES...]
#   ISTHMUS_BINARY defaults to .build/release/isthmus; CASES default to all five, in the order above.
set -euo pipefail
cmdline=$(printf '%q ' "$0" "$@")
I=${1:-}
case $I in /*|'') ;; */*) I=$PWD/$I ;; *) I=$(command -v "$I" || echo "$I") ;; esac
cd "$(dirname "$0")/../.."
I=${I:-$PWD/.build/release/isthmus}
DUR=${2:-10}
RUNS=${3:-3}
shift $(($# < 3 ? $# : 3))
ALL=(kernel-vxlan isthmus-vxlan isthmus-l2tpv3 openvpn-tap tinc-switch)
if (($#)); then CASES=("$@"); else CASES=("${ALL[@]}"); fi
[[ $DUR =~ ^[0-9]+$ ]] && ((DUR >= 3)) || { echo "bench: SECONDS must be a whole number >= 3" >&2; exit 1; }
[[ $RUNS =~ ^[0-9]+$ ]] && ((RUNS >= 1)) || { echo "bench: RUNS must be a whole number >= 1" >&2; exit 1; }
for c in "${CASES[@]}"; do
  [[ " ${ALL[*]} " == *" $c "* ]] || { echo "bench: unknown case '$c' (cases: ${ALL[*]})" >&2; exit 1; }
done
[ "$(id -u)" = 0 ] || { echo "bench: must run as root (it creates network namespaces)" >&2; exit 1; }
for t in ip ss ping iperf3 python3; do
  command -v $t >/dev/null || { echo "bench: $t not found (Tools/setup installs it)" >&2; exit 1; }
done

pfx=isth-tb-$$
UL=(10.77.0.1 10.77.0.2)       # underlay (veth0) addresses of side 0 (namespace ...-a) and side 1 (...-b)
OL=(192.168.77.1 192.168.77.2) # overlay addresses
TN=(a b)                       # tinc node names
tmp=$(mktemp -d "${TMPDIR:-/tmp}/isth-tb.XXXXXX")
: > "$tmp/netns" # every namespace name this script creates, so that the final cleanup can sweep them
child=           # the subshell running the current measurement

alive() { [ -e "/proc/$1" ] && ! grep -qs '^State:[[:space:]]*Z' "/proc/$1/status"; }
stop() { # stop PID [GRACE_SECONDS=5]: SIGTERM, SIGKILL if still there after the grace period, then reap it
  local pid=$1 n=$((${2:-5} * 10))
  if alive "$pid"; then
    kill -TERM "$pid" 2>/dev/null || true
    while alive "$pid" && ((n-- > 0)); do sleep 0.1; done
    if alive "$pid"; then kill -KILL "$pid" 2>/dev/null || true; fi
  fi
  wait "$pid" 2>/dev/null || true
}
cleanup() {
  trap '' INT TERM
  if [ -n "$child" ]; then stop "$child" 30; fi # its own EXIT trap stops its processes and deletes its namespaces
  local ns
  while read -r ns; do ip netns del "$ns" 2>/dev/null || true; done < "$tmp/netns"
  rm -rf "$tmp"
}
trap cleanup EXIT
trap 'echo "bench: interrupted" >&2; exit 130' INT
trap 'exit 143' TERM

# --- one measurement; runs in a subshell of its own, so errexit applies and its EXIT trap tears it down ---------
PIDS=()  # every process started, in order (stopped in reverse)
TPIDS=() # the tunnel processes among them (RSS is sampled from these)
NS=()    # the two namespaces
spawned=
spawn() { local log=$1; shift; "$@" > "$log" 2>&1 & spawned=$!; PIDS+=("$spawned"); }
reap() { # reap PID: waits for a child that has ended (or will) and forgets it, so teardown never signals its pid
  local p rc=0 keep=()
  wait "$1" || rc=$?
  for p in "${PIDS[@]}"; do if [ "$p" != "$1" ]; then keep+=("$p"); fi; done
  PIDS=("${keep[@]}")
  return $rc
}
skip() { echo "$*" > "$tmp/reason"; exit 77; }
fail() { echo "$*" > "$tmp/reason"; exit 1; }
teardown() {
  local i
  trap '' INT TERM # finish the teardown even if signalled again
  for ((i = ${#PIDS[@]} - 1; i >= 0; i--)); do stop "${PIDS[i]}"; done
  for i in "${NS[@]}"; do ip netns del "$i" 2>/dev/null || true; done
}
mkns() { echo "$1" >> "$tmp/netns"; NS+=("$1"); ip netns add "$1"; }
wait_listen() { # wait_listen SIDE PORT PID LOG: until something listens on TCP PORT in that side's namespace (5 s)
  local t
  for ((t = 0; t < 50; t++)); do
    if [ -n "$(ip netns exec "${NS[$1]}" ss -Hltn "sport = :$2")" ]; then return 0; fi
    alive "$3" || fail "$(basename "$4" .log) in ${NS[$1]} exited before listening on port $2: $(tail -n 1 "$4")"
    sleep 0.1
  done
  fail "nothing listens on TCP port $2 in ${NS[$1]} after 5 s"
}
tunnels_alive() {
  local i
  for i in 0 1; do
    alive "${TPIDS[i]}" || fail "tunnel process in ${NS[i]} exited: $(tail -n 1 "$tmp/tunnel-$i.log")"
  done
}

setup_kernel_vxlan() {
  local i
  for i in 0 1; do
    ip -n "${NS[i]}" link add vx0 type vxlan id 42 remote "${UL[1 - i]}" local "${UL[i]}" dstport 4789 dev veth0
    ip -n "${NS[i]}" addr add "${OL[i]}/24" dev vx0
    ip -n "${NS[i]}" link set vx0 up
  done
}

start_isthmus() { # start_isthmus SIDE TYPE-ARGUMENTS...
  spawn "$tmp/tunnel-$1.log" "$I" -n "${NS[$1]}" tunnel run tap0 "${@:2}"
  TPIDS+=("$spawned")
}
isthmus_tap_up() { # isthmus_tap_up MTU: waits up to 5 s for both ends to create tap0, then addresses it
  local t i rc
  for ((t = 0; ; t++)); do
    for i in 0 1; do
      if ! alive "${TPIDS[i]}"; then
        rc=0; reap "${TPIDS[i]}" || rc=$?
        skip "isthmus tunnel run exited with status $rc within 5 s in ${NS[i]}$(tail -n 1 "$tmp/tunnel-$i.log" | sed 's/^/: /')"
      fi
    done
    if ip -n "${NS[0]}" link show tap0 > /dev/null 2>&1 && ip -n "${NS[1]}" link show tap0 > /dev/null 2>&1; then break; fi
    ((t < 50)) || fail "isthmus did not create tap0 in both namespaces within 5 s"
    sleep 0.1
  done
  for i in 0 1; do
    ip -n "${NS[i]}" link set tap0 mtu "$1"
    ip -n "${NS[i]}" addr add "${OL[i]}/24" dev tap0
    ip -n "${NS[i]}" link set tap0 up
  done
}
setup_isthmus_vxlan() {
  local i
  for i in 0 1; do start_isthmus $i type vxlan id 42 remote "${UL[1 - i]}" local "${UL[i]}" dstport 4789; done
  isthmus_tap_up 1450
}
setup_isthmus_l2tpv3() {
  local i
  for i in 0 1; do # side 0 is tunnel 1 / session 1, side 1 is tunnel 2 / session 2
    start_isthmus $i type l2tpv3 tunnel_id $((i + 1)) peer_tunnel_id $((2 - i)) session_id $((i + 1)) \
      peer_session_id $((2 - i)) encap udp local "${UL[i]}" remote "${UL[1 - i]}" udp_sport 1701 udp_dport 1701
  done
  isthmus_tap_up 1446
}

setup_openvpn_tap() {
  local i t
  for i in 0 1; do
    spawn "$tmp/tunnel-$i.log" ip netns exec "${NS[i]}" openvpn --dev tb0 --dev-type tap --proto udp \
      --local "${UL[i]}" --lport 1194 --remote "${UL[1 - i]}" --rport 1194 --ifconfig "${OL[i]}" 255.255.255.0 \
      --tun-mtu 1500 --cipher none --auth none --disable-dco --fast-io --verb 3
    TPIDS+=("$spawned")
  done
  for i in 0 1; do
    for ((t = 0; t < 100; t++)); do
      if grep -q 'Initialization Sequence Completed' "$tmp/tunnel-$i.log"; then break; fi
      tunnels_alive
      sleep 0.1
    done
    ((t < 100)) || fail "openvpn in ${NS[i]} did not complete initialisation within 10 s"
  done
}

tinc_config() { # tinc_config: two node directories under $tmp/tinc, made once and reused by every run
  local i d
  [ ! -e "$tmp/tinc/done" ] || return 0
  for i in 0 1; do
    d=$tmp/tinc/${TN[i]}
    mkdir -p "$d/hosts"
    { echo "Name = ${TN[i]}"
      echo "Mode = switch"
      echo "Interface = tb0"
      echo "AddressFamily = ipv4"
      echo "BindToAddress = ${UL[i]}"
      if ((i == 0)); then echo "ConnectTo = ${TN[1]}"; fi
    } > "$d/tinc.conf"
    # Cipher and Digest are host variables: what the peers use for UDP packets sent to this node
    printf 'Address = %s\nPort = 655\nCipher = none\nDigest = none\n' "${UL[i]}" > "$d/hosts/${TN[i]}"
    printf '#!/bin/sh\nip link set "$INTERFACE" up\nip addr add %s/24 dev "$INTERFACE"\n' "${OL[i]}" > "$d/tinc-up"
    chmod +x "$d/tinc-up"
    tincd -c "$d" -K 2048 < /dev/null > "$d/keygen.log" 2>&1 # not a terminal: the key files take default names
  done
  cp "$tmp/tinc/a/hosts/a" "$tmp/tinc/b/hosts/"
  cp "$tmp/tinc/b/hosts/b" "$tmp/tinc/a/hosts/"
  touch "$tmp/tinc/done"
}
setup_tinc_switch() {
  local i
  tinc_config
  for i in 1 0; do # b (the one that only listens) first, so that a's first ConnectTo attempt succeeds
    spawn "$tmp/tunnel-$i.log" ip netns exec "${NS[i]}" tincd -c "$tmp/tinc/${TN[i]}" -D --pidfile="$tmp/tinc/${TN[i]}.pid"
    TPIDS[i]=$spawned
    wait_listen $i 655 "$spawned" "$tmp/tunnel-$i.log"
  done
}

run_one() { # run_one CASE N RUN: one measurement in fresh namespaces N; appends "Gbit/s RSS_kB" to $tmp/CASE.runs
  local c=$1 t k rss=0 rc=0 server client
  trap teardown EXIT
  trap '' INT # Ctrl-C reaches the main script, which then stops this subshell with SIGTERM
  trap 'exit 143' TERM
  trap 'echo "command failed (line $LINENO): $BASH_COMMAND" > "$tmp/reason"' ERR
  set -E
  mkns "$pfx-$2-a"
  mkns "$pfx-$2-b"
  ip -n "${NS[0]}" link add veth0 mtu 1500 type veth peer name veth0 mtu 1500 netns "${NS[1]}"
  for t in 0 1; do
    ip -n "${NS[t]}" addr add "${UL[t]}/24" dev veth0
    ip -n "${NS[t]}" link set lo up
    ip -n "${NS[t]}" link set veth0 up
  done
  "setup_${c//-/_}"

  # the tunnel is up when a ping crosses it (tinc needs a moment to exchange keys); then check it as documented
  for ((t = 0; t < 15; t++)); do
    if ip netns exec "${NS[0]}" ping -c 1 -W 1 -q "${OL[1]}" > /dev/null 2>&1; then break; fi
    sleep 0.3
  done
  if ((${#TPIDS[@]})); then tunnels_alive; fi
  ip netns exec "${NS[0]}" ping -c 2 -W 2 "${OL[1]}" > "$tmp/ping.log" 2>&1 ||
    fail "ping ${OL[1]} across the overlay failed: $(grep -m1 -E 'transmitted|rror|nreachable' "$tmp/ping.log")"

  spawn "$tmp/iperf3-server.log" ip netns exec "${NS[1]}" iperf3 -s -1
  server=$spawned
  wait_listen 1 5201 "$server" "$tmp/iperf3-server.log"
  ip netns exec "${NS[0]}" iperf3 -c "${OL[1]}" -t "$DUR" -J > "$tmp/iperf3.json" 2> "$tmp/iperf3-client.log" &
  client=$!
  PIDS+=("$client")
  sleep $((DUR - 2)) &
  PIDS+=("$!")
  reap $!
  for t in "${TPIDS[@]}"; do # steady state: the larger VmRSS of the two ends
    k=$(awk '/^VmRSS:/ {print $2}' "/proc/$t/status" 2> /dev/null || true)
    [ -n "$k" ] || fail "tunnel process $t was gone 2 s before the end of the run"
    if ((k > rss)); then rss=$k; fi
  done
  reap "$client" || rc=$?
  python3 - "$tmp/iperf3.json" "$rc" > "$tmp/gbps" 2> "$tmp/reason" <<'EOF' || fail "iperf3: $(cat "$tmp/reason")"
import json, sys
try:
    d = json.load(open(sys.argv[1]))
except ValueError:
    sys.exit("no JSON output (client exit status %s)" % sys.argv[2])
if d.get("error"):
    sys.exit(d["error"])
print("%.4f" % (d["end"]["sum_received"]["bits_per_second"] / 1e9))
EOF
  for ((t = 0; t < 50; t++)); do alive "$server" || break; sleep 0.1; done # -1: it exits after the one test
  if ((${#TPIDS[@]} == 0)); then rss=-; fi
  echo "$(cat "$tmp/gbps") $rss" >> "$tmp/$c.runs"
  printf '  %-16s run %d: %8.3f Gbit/s  RSS %s\n' "$c" "$3" "$(cat "$tmp/gbps")" \
    "$(if [ "$rss" = - ]; then echo -; else awk -v k="$rss" 'BEGIN {printf "%.1f MiB", k / 1024}'; fi)"
}

# --- main --------------------------------------------------------------------------------------------------------
echo "command: ${cmdline% }"
echo "host: Linux $(uname -r), $(nproc) CPUs ($(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo))"
echo "tools: $(iperf3 --version | head -n 1 | cut -d' ' -f1-2)$(command -v openvpn > /dev/null &&
  openvpn --version | head -n 1 | cut -d' ' -f1-2 | sed 's/^/, /')$(command -v tincd > /dev/null &&
  tincd --version | head -n 1 | cut -d' ' -f1,3 | sed 's/^/, /')"
echo "isthmus: $I"
declare -A state reason
n=0
for c in "${CASES[@]}"; do
  state[$c]=ok
  case $c in
    isthmus-*) [ -x "$I" ] || { state[$c]=skipped; reason[$c]="isthmus binary not found: $I"; } ;;
    openvpn-tap) command -v openvpn > /dev/null || { state[$c]=skipped; reason[$c]="openvpn is not installed (Tools/setup)"; } ;;
    tinc-switch) command -v tincd > /dev/null || { state[$c]=skipped; reason[$c]="tincd is not installed (Tools/setup)"; } ;;
  esac
  : > "$tmp/$c.runs"
  for ((r = 1; r <= RUNS; r++)); do
    [ "${state[$c]}" = ok ] || break
    n=$((n + 1))
    rm -f "$tmp/reason"
    run_one "$c" "$n" "$r" &
    child=$!
    rc=0
    wait "$child" || rc=$?
    child=
    if ((rc != 0)); then
      if ((rc == 77)); then state[$c]=skipped; else state[$c]=FAILED; fi
      reason[$c]=$(cat "$tmp/reason" 2> /dev/null || echo "exit status $rc")
      break
    fi
  done
  case ${state[$c]} in
    skipped) echo "$c: skipped: ${reason[$c]}" ;;
    FAILED) echo "$c: FAILED (run $r of $RUNS): ${reason[$c]}" >&2 ;;
  esac
done

median_row() { sort -n "$1" | awk '{a[NR] = $0} END {print a[int((NR + 1) / 2)]}'; }
declare -A med
for c in "${CASES[@]}"; do
  if [ "${state[$c]}" = ok ]; then med[$c]=$(median_row "$tmp/$c.runs"); fi
done
ratio() { # ratio CASE REFERENCE
  if [ -n "${med[$1]:-}" ] && [ -n "${med[$2]:-}" ]; then
    awk -v a="${med[$1]%% *}" -v b="${med[$2]%% *}" 'BEGIN {
      if (b <= 0) print "-"; else { r = a / b; printf(r >= 10 ? "%.1f" : r >= 1 ? "%.2f" : "%.3f", r) } }'
  else echo -; fi
}
echo
printf 'iperf3 TCP, one stream, %d s, veth MTU 1500; median of %d run(s)\n' "$DUR" "$RUNS"
printf '%-16s %9s %10s %15s %14s\n' case Gbit/s "RSS (MiB)" "/kernel-vxlan" "/openvpn-tap"
for c in "${CASES[@]}"; do
  if [ -n "${med[$c]:-}" ]; then
    g=${med[$c]%% *}
    k=${med[$c]##* }
    if [ "$k" = - ]; then m=-; else m=$(awk -v k="$k" 'BEGIN {printf "%.1f", k / 1024}'); fi
    printf '%-16s %9.3f %10s %15s %14s\n' "$c" "$g" "$m" "$(ratio "$c" kernel-vxlan)" "$(ratio "$c" openvpn-tap)"
  else
    printf '%-16s %9s %10s %15s %14s\n' "$c" "${state[$c]}" - - -
  fi
done
