#!/usr/bin/env bash
# Benchmark: single-stream TCP throughput (iperf3) over one L2TPv2 PPP call between two network namespaces, with
# Isthmus as the LNS on each of its two PPP data planes, and xl2tpd as the LNS for reference. The LAC is always
# xl2tpd (Debian's 1.3.18, pppd 2.4.9 with its pppol2tp plugin: the kernel's PPPoL2TP data plane). Cases:
#   isthmus-kernel     `isthmus l2tp run` LNS, data_plane = "kernel": pppd's pppol2tp channel, the kernel moves the
#                      data between the tunnel's UDP socket and ppp0 (the agent sees no data packet).
#   isthmus-userspace  the same LNS, data_plane = "userspace": pppd on the slave of a pty the agent opens itself
#                      (the kernel's ppp_async line discipline there; no `notty`), the agent moves every frame
#                      between the pty's master (async HDLC, RFC 1662) and L2TPv2 data messages on the tunnel's
#                      socket (Sources/L2TPAgent/PPP/PPPCalls.swift).
#   xl2tpd             xl2tpd as the LNS too (the kernel data plane at both ends): the reference.
#   isthmus-userspace-base  (only when named) isthmus-userspace with the binary $ISTHMUS_BASE, another build to
#                      compare with, interleaved with the others like every case.
# Meant to run inside the QEMU guest (Tools/vm), which has the modules the host lacks:
#
#   Tools/vm/isthmus-vm --timeout 600 -- sh -c \
#     "modprobe -a l2tp_ppp l2tp_netlink ppp_generic ppp_async veth && Tools/bench/ppp-throughput.sh"
#
# (add `--env ISTHMUS=/work/main/.build/release/isthmus` to measure a release build; the default is the debug one).
# Under TCG every instruction is emulated, so the absolute numbers are far below a real host's, and they move with
# the host's load; compare the cases with each other (the ÷ xl2tpd columns), not with other machines.
#
# Setup: every case gets its own call, all set up first and kept for the whole run, each in its own pair of
# namespaces isth-pt-PID-N-lns / -lac joined by a veth pair (MTU 1500; LNS 10.79.0.1, LAC 10.79.0.2, the same in
# every pair): the LNS listens on 10.79.0.1:1701 (tunnel secret, Challenge/Challenge Response), requires CHAP from
# "alice", is 10.79.9.1 on its ppp0 and gives the LAC 10.79.9.10 (pool 10.79.9.10-10.79.9.20). The LAC's xl2tpd
# has one [lac] with `autodial = yes`: it opens the tunnel and places the call at start. PPP MTU and MRU 1400 on
# both ends (so that a full-size PPP frame, with the L2TPv2, UDP and IPv4 headers, fits the 1500-byte veth
# unfragmented: 1400 + 4 + 8 + 8 + 20), no compression, LCP echoes every 10 s. A call is up when both ppp0s have
# their addresses and a ping crosses.
# Measurement: RUNS rounds; in each, every case in turn gets one iperf3 run of SECONDS in each direction (the cases
# interleaved, so that a change in the host's load lands on all of them rather than on one):
#   LAC->LNS  client in the LAC's namespace sending to 10.79.9.1 (the Isthmus userspace LNS then HDLC-encodes every
#             data message to its pppd: `deliver`; pppd's TCP ACKs come back through `readable`),
#   LNS->LAC  `iperf3 -R`: the server at the LNS sends (pppd's frames HDLC-decoded into data messages: `readable`).
# Only one call carries traffic at a time; the others are idle (LCP echoes). Throughput: the receiver's
# sum_received; retransmissions: the sender's. CPU: utime + stime of the LNS process ("agent": isthmus or xl2tpd)
# and of its descendants ("pppd": pppd alone; with the agent's pty there is no `notty` character-shunt child), as %
# of one CPU over the client's run, for the median run. The kernel's softirq work (the whole data path of the
# kernel cases) is in no process and so not in these numbers. Median of RUNS runs per direction (the
# lower middle one when RUNS is even). A case whose setup fails, or whose call or daemons die, is reported FAILED
# and dropped; the others go on.
# The xl2tpd auth file takes the tunnel secret unquoted (the rest of the line). Each xl2tpd runs in a mount
# namespace of its own (unshare -m) with a tmpfs over /etc/ppp holding an empty options file (Debian's has
# `auth`, which a LAC cannot satisfy) and alice's chap-secrets, and a tmpfs over /run (pppd's pid files and tdb);
# Isthmus gives its pppd a private /etc/ppp itself. Nothing outside the namespaces and the work directory is
# touched: at the end (or on a case's failure) the script stops the processes it started, by pid (SIGTERM, SIGKILL
# after 5 s), then any pppd left in its namespaces (children of a stopped daemon), and deletes its namespaces by
# name.
# usage: Tools/bench/ppp-throughput.sh [ISTHMUS_BINARY] [SECONDS=5] [RUNS=3] [CASES...]
#   ISTHMUS_BINARY defaults to $ISTHMUS, else .build/debug/isthmus; CASES default to the first three, in the order
#   above.
set -euo pipefail
cmdline=$(printf '%q ' "$0" "$@")
I=${1:-${ISTHMUS:-}}
case $I in /*|'') ;; */*) I=$PWD/$I ;; *) I=$(command -v "$I" || echo "$I") ;; esac
cd "$(dirname "$0")/../.."
I=${I:-$PWD/.build/debug/isthmus}
DUR=${2:-5}
RUNS=${3:-3}
shift $(($# < 3 ? $# : 3))
ALL=(isthmus-kernel isthmus-userspace xl2tpd isthmus-userspace-base)
if (($#)); then CASES=("$@"); else CASES=("${ALL[@]:0:3}"); fi
BASE=${ISTHMUS_BASE:-}
[[ $DUR =~ ^[0-9]+$ ]] && ((DUR >= 2)) || { echo "bench: SECONDS must be a whole number >= 2" >&2; exit 1; }
[[ $RUNS =~ ^[0-9]+$ ]] && ((RUNS >= 1)) || { echo "bench: RUNS must be a whole number >= 1" >&2; exit 1; }
for c in "${CASES[@]}"; do
  [[ " ${ALL[*]} " == *" $c "* ]] || { echo "bench: unknown case '$c' (cases: ${ALL[*]})" >&2; exit 1; }
done
[ "$(id -u)" = 0 ] || { echo "bench: must run as root (it creates network namespaces)" >&2; exit 1; }
for t in ip ss ping iperf3 python3 xl2tpd pppd unshare; do
  command -v $t > /dev/null || { echo "bench: $t not found" >&2; exit 1; }
done
modules="modprobe -a l2tp_ppp l2tp_netlink ppp_generic ppp_async veth"
[ -e /dev/ppp ] || { echo "bench: no /dev/ppp ($modules)" >&2; exit 1; }
for m in l2tp_ppp ppp_async; do
  [ -d "/sys/module/$m" ] || { echo "bench: module $m is not loaded ($modules)" >&2; exit 1; }
done

pfx=isth-pt-$$
UL=(10.79.0.1 10.79.0.2)   # veth addresses: LNS, LAC
PL=10.79.9.1 PP=10.79.9.10 # PPP: the LNS's address, the LAC's (the pool's first)
SECRET=tunnel-s3cret CHAP=alicepw
HZ=$(getconf CLK_TCK)
tmp=$(mktemp -d "${TMPDIR:-/tmp}/isth-pt.XXXXXX")
child= # the subshell running the current step

alive() { [ -e "/proc/$1" ] && ! grep -qs '^State:[[:space:]]*Z' "/proc/$1/status"; }
stop() { # stop PID [GRACE_SECONDS=5]: SIGTERM, SIGKILL if still there after the grace period, then reap it if ours
  local pid=$1 n=$((${2:-5} * 10))
  if alive "$pid"; then
    kill -TERM "$pid" 2> /dev/null || true
    while alive "$pid" && ((n-- > 0)); do sleep 0.1; done
    if alive "$pid"; then kill -KILL "$pid" 2> /dev/null || true; fi
  fi
  wait "$pid" 2> /dev/null || true
}
starttime() { local f; f=$(cat "/proc/$1/stat" 2> /dev/null) || return 0; f=${f##*) }; set -- $f; echo "${20}"; }
ns_pppds() { # ns_pppds NS: the pids of the pppds in network namespace NS (children of a daemon that was stopped)
  local p
  for p in $(ip netns pids "$1" 2> /dev/null); do
    if [ "$(cat "/proc/$p/comm" 2> /dev/null)" = pppd ]; then echo "$p"; fi
  done
}
# Every case's state is in $tmp/CASE/: pids (what was started, in order: "PID STARTTIME", so that a pid the
# kernel has since given to another process is left alone), netns (its namespaces), lns.pid,
# lac.pid, lns/ and lac/ (configs and logs), up and down (one line per run), reason (why it failed).
teardown_case() { # teardown_case CASE: stops what the case started (in reverse order), then deletes its namespaces
  local d=$tmp/$1 p n ns
  [ -d "$d" ] || return 0
  if [ -f "$d/pids" ]; then
    tac "$d/pids" | while read -r p n; do if [ "$(starttime "$p")" = "$n" ]; then stop "$p"; fi; done
    rm -f "$d/pids"
  fi
  if [ -f "$d/netns" ]; then
    while read -r ns; do # pppds outlive a daemon that was killed: SIGTERM, then SIGKILL after 3 s
      for p in $(ns_pppds "$ns"); do kill -TERM "$p" 2> /dev/null || true; done
      for ((n = 0; n < 30; n++)); do [ -n "$(ns_pppds "$ns")" ] || break; sleep 0.1; done
      for p in $(ns_pppds "$ns"); do kill -KILL "$p" 2> /dev/null || true; done
      ip netns del "$ns" 2> /dev/null || true
    done < "$d/netns"
    rm -f "$d/netns"
  fi
}
cleanup() {
  trap '' INT TERM
  if [ -n "$child" ]; then stop "$child" 30; fi
  local c
  for c in "${CASES[@]}"; do teardown_case "$c"; done
  rm -rf "$tmp"
}
trap cleanup EXIT
trap 'echo "bench: interrupted" >&2; exit 130' INT
trap 'exit 143' TERM

# --- steps: each runs in a subshell of its own (errexit applies; `fail` ends it with the reason in CASE/reason) --
CASE= D= NSL= NSC= LNS= LAC=
use_case() { # use_case CASE: the case's directory, namespaces and daemons, for the functions below
  CASE=$1 D=$tmp/$1
  NSL=$(sed -n 1p "$D/netns" 2> /dev/null || true) NSC=$(sed -n 2p "$D/netns" 2> /dev/null || true)
  LNS=$(cat "$D/lns.pid" 2> /dev/null || true) LAC=$(cat "$D/lac.pid" 2> /dev/null || true)
}
step_traps() {
  trap '' INT # Ctrl-C reaches the main script, which then stops this subshell with SIGTERM
  trap 'exit 143' TERM
  trap 'echo "command failed (line $LINENO): $BASH_COMMAND" > "$D/reason"' ERR
  set -E
}
spawned=
spawn() { local log=$1; shift; "$@" > "$log" 2>&1 & spawned=$!; echo "$spawned $(starttime "$spawned")" >> "$D/pids"; }
fail() { echo "$*" > "$D/reason"; exit 1; }
# tree_ticks PID: "SELF DESCENDANTS", utime + stime in clock ticks of PID and of every live descendant of it
tree_ticks() {
  { cat /proc/[0-9]*/stat 2> /dev/null || true; } | awk -v root="$1" '
    { match($0, /.*\) /); n = split(substr($0, RLENGTH + 1), f, " ")
      pid = $1; pp[pid] = f[2]; t[pid] = f[12] + f[13] }
    END { self = t[root]; d = 0
          for (p in pp) { q = pp[p]; for (k = 0; k < 64 && q != root && (q in pp); k++) q = pp[q]; if (q == root && p != root) d += t[p] }
          print self + 0, d }'
}
now_us() { echo "${EPOCHREALTIME/./}"; }
# start_xl2tpd NS NAME: an xl2tpd in namespace NS, in a mount namespace of its own with a tmpfs /etc/ppp (alice's
# secret, empty options) and a tmpfs /run; its config, secrets and log are in $D/NAME
start_xl2tpd() {
  local w=$D/$2
  spawn "$w/xl2tpd.log" ip netns exec "$1" unshare -m sh -c "mount -t tmpfs none /etc/ppp && mount -t tmpfs none /run &&
    printf 'alice * \"$CHAP\" *\n' > /etc/ppp/chap-secrets && chmod 600 /etc/ppp/chap-secrets && : > /etc/ppp/pap-secrets &&
    : > /etc/ppp/options && exec xl2tpd -D -c $w/xl2tpd.conf -s $w/l2tp-secrets -p $w/xl2tpd.pid -C $w/control"
}
start_lns_isthmus() { # start_lns_isthmus DATA_PLANE [BINARY]
  local w=$D/lns
  printf 'alice * "%s" *\n' "$CHAP" > "$w/chap"
  chmod 600 "$w/chap"
  cat > "$w/lns.toml" << EOF
[l2tp]
version = 2
name = "bench-lns"
host_name = "isthmus-lns"
listen = "${UL[0]}"
secret = "$SECRET"
hello = 60
status = "$w/lns.json"
data_plane = "$1"
[l2tp.ppp]
auth = "chap"
local_address = "$PL"
pool = "$PP-10.79.9.20"
secrets = "$w/chap"
mtu = 1400
mru = 1400
EOF
  spawn "$w/lns.log" ip netns exec "$NSL" "${2:-$I}" l2tp run --config "$w/lns.toml"
}
start_lns_xl2tpd() {
  local w=$D/lns
  cat > "$w/xl2tpd.conf" << EOF
[global]
port = 1701
listen-addr = ${UL[0]}
auth file = $w/l2tp-secrets
[lns default]
ip range = $PP-10.79.9.20
local ip = $PL
require chap = yes
refuse pap = yes
require authentication = yes
challenge = yes
name = xl2tpd-lns
pppoptfile = $w/ppp.opts
EOF
  printf '* * %s\n' "$SECRET" > "$w/l2tp-secrets"
  printf 'nodefaultroute\nmtu 1400\nmru 1400\nnoccp\nlcp-echo-interval 10\nlcp-echo-failure 3\nlogfd 2\n' > "$w/ppp.opts"
  start_xl2tpd "$NSL" lns
}
start_lac() {
  local w=$D/lac
  cat > "$w/xl2tpd.conf" << EOF
[global]
port = 1701
listen-addr = ${UL[1]}
auth file = $w/l2tp-secrets
[lac lns]
lns = ${UL[0]}
challenge = yes
pppoptfile = $w/ppp.opts
name = alice
require authentication = no
autodial = yes
EOF
  printf '* * %s\n' "$SECRET" > "$w/l2tp-secrets"
  printf 'noauth\nname alice\nuser alice\nnodefaultroute\nmtu 1400\nmru 1400\nnoccp\nlcp-echo-interval 10\nlcp-echo-failure 3\nlogfd 2\n' > "$w/ppp.opts"
  start_xl2tpd "$NSC" lac
}
lns_log() { cat "$D/lns/"*.log 2> /dev/null || true; }
daemons_alive() {
  alive "$LNS" || fail "the LNS exited: $(lns_log | tail -n 3 | tr '\n' ' ')"
  alive "$LAC" || fail "the LAC's xl2tpd exited: $(tail -n 3 "$D/lac/xl2tpd.log" | tr '\n' ' ')"
}
# has_addr NS ADDRESS: some interface of that namespace has ADDRESS (a ppp0 IPCP configured)
has_addr() { ip -n "$1" -4 -o addr show 2> /dev/null | grep -q " inet $2 peer "; }

setup_case() { # setup_case CASE N: namespaces, LNS, LAC, until the call is up
  use_case "$1"
  step_traps
  local t start
  mkdir -p "$D/lns" "$D/lac"
  echo "$pfx-$2-lns" >> "$D/netns"; ip netns add "$pfx-$2-lns"
  echo "$pfx-$2-lac" >> "$D/netns"; ip netns add "$pfx-$2-lac"
  use_case "$1"
  ip -n "$NSL" link add veth0 mtu 1500 type veth peer name veth0 mtu 1500 netns "$NSC"
  ip -n "$NSL" addr add "${UL[0]}/24" dev veth0
  ip -n "$NSC" addr add "${UL[1]}/24" dev veth0
  for t in "$NSL" "$NSC"; do ip -n "$t" link set lo up; ip -n "$t" link set veth0 up; done
  start=$(now_us)
  case $CASE in
    isthmus-kernel) start_lns_isthmus kernel ;;
    isthmus-userspace) start_lns_isthmus userspace ;;
    isthmus-userspace-base) start_lns_isthmus userspace "$BASE" ;;
    xl2tpd) start_lns_xl2tpd ;;
  esac
  LNS=$spawned
  echo "$LNS" > "$D/lns.pid"
  for ((t = 0; t < 300; t++)); do # the LNS listens (up to 30 s: a debug binary loads slowly under TCG)
    [ -z "$(ip netns exec "$NSL" ss -Hlun "sport = :1701")" ] || break
    alive "$LNS" || fail "the LNS exited before listening: $(lns_log | tail -n 3 | tr '\n' ' ')"
    sleep 0.1
  done
  ((t < 300)) || fail "the LNS does not listen on ${UL[0]}:1701 after 30 s"
  start_lac
  LAC=$spawned
  echo "$LAC" > "$D/lac.pid"
  for ((t = 0; ; t++)); do # the call is up: IPCP gave both ppp0s their addresses (up to 60 s)
    if has_addr "$NSC" "$PP" && has_addr "$NSL" "$PL"; then break; fi
    daemons_alive
    ((t < 600)) || fail "no PPP link after 60 s"
    sleep 0.1
  done
  ip netns exec "$NSC" ping -c 2 -W 3 "$PL" > "$D/ping.log" 2>&1 ||
    fail "ping $PL across the call failed: $(grep -m1 -E 'transmitted|rror|nreachable' "$D/ping.log")"
  echo "  $CASE: PPP up after $(awk -v s="$start" -v e="$(now_us)" 'BEGIN { printf "%.1f", (e - s) / 1e6 }') s" \
    "($(lns_log | grep -o -m1 'data plane [^,]*' || echo 'xl2tpd, kernel'))"
}

measure() { # measure CASE DIRECTION RUN: one iperf3 run; appends "Mbit/s retransmits agent% pppd%" to CASE/DIRECTION
  use_case "$1"
  step_traps
  local dir=$2 server rc=0 t t0 t1 a0 a1 w0 w1 m r a p reverse=()
  if [ "$dir" = down ]; then reverse=(-R); fi
  daemons_alive
  # the server is this step's child (not in CASE/pids): stopped and reaped here, whatever happens
  ip netns exec "$NSL" iperf3 -s -1 -B "$PL" > "$D/iperf3-server.log" 2>&1 &
  server=$!
  trap 'stop "$server" 1' EXIT
  for ((t = 0; t < 100; t++)); do
    [ -z "$(ip netns exec "$NSL" ss -Hltn "sport = :5201")" ] || break
    alive "$server" || fail "iperf3 -s exited: $(tail -n 1 "$D/iperf3-server.log")"
    sleep 0.1
  done
  read -r a0 t0 <<< "$(tree_ticks "$LNS")"
  w0=$(now_us)
  ip netns exec "$NSC" iperf3 -c "$PL" -t "$DUR" -J "${reverse[@]}" > "$D/iperf3.json" 2> "$D/iperf3-client.log" || rc=$?
  w1=$(now_us)
  read -r a1 t1 <<< "$(tree_ticks "$LNS")"
  python3 - "$D/iperf3.json" "$rc" > "$D/result" 2> "$D/reason" << 'EOF' || fail "iperf3 ($dir): $(cat "$D/reason")"
import json, sys
try:
    d = json.load(open(sys.argv[1]))
except ValueError:
    sys.exit("no JSON output (client exit status %s)" % sys.argv[2])
if d.get("error"):
    sys.exit(d["error"])
print("%.3f %d" % (d["end"]["sum_received"]["bits_per_second"] / 1e6, d["end"]["sum_sent"].get("retransmits", -1)))
EOF
  for ((t = 0; t < 50; t++)); do alive "$server" || break; sleep 0.1; done # -1: it exits after the one test
  stop "$server" 1
  echo "$(cat "$D/result") $(awk -v a=$((a1 - a0)) -v p=$((t1 - t0)) -v w=$((w1 - w0)) -v hz="$HZ" \
    'BEGIN { printf "%.0f %.0f", 100 * a / hz / (w / 1e6), 100 * p / hz / (w / 1e6) }')" >> "$D/$dir"
  read -r m r a p <<< "$(tail -n 1 "$D/$dir")"
  printf '  %-18s %-8s run %d: %9.2f Mbit/s  retr %-5s CPU agent %3s%%  pppd %3s%%\n' "$CASE" \
    "$([ "$dir" = up ] && echo 'LAC->LNS' || echo 'LNS->LAC')" "$3" "$m" "$r" "$a" "$p"
  daemons_alive
}

counters() { # counters CASE: the Isthmus LNS's status entries for the call (userspace: what its data path moved)
  use_case "$1"
  [ -f "$D/lns/lns.json" ] || return 0
  python3 - "$D/lns/lns.json" "$CASE" << 'EOF' || true
import json, sys
d = json.load(open(sys.argv[1]))
for t in d.get("tunnels", []):
    for s in t.get("sessions", []):
        keys = ("rx_packets", "rx_bytes", "tx_packets", "tx_bytes")
        drops = {k: v for k, v in s.get("drops", {}).items() if v}
        print("  %s LNS call counters: %s, drops %s" % (sys.argv[2], ", ".join("%s %s" % (k, s[k]) for k in keys if k in s), drops or "none"))
EOF
}

# --- main --------------------------------------------------------------------------------------------------------
echo "command: ${cmdline% }"
echo "host: Linux $(uname -r), $(nproc) CPUs ($(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo))$([ -n "${ISTHMUS_IN_VM:-}" ] && echo ', QEMU guest (TCG)')"
echo "tools: $(iperf3 --version | head -n 1 | cut -d' ' -f1-2), $(xl2tpd -v 2>&1 | grep -o 'xl2tpd-[0-9.]*'), pppd $(pppd --version 2>&1 | grep -o '[0-9][0-9.]*' | head -n 1)"
echo "isthmus: $I"
[ -z "$BASE" ] || echo "isthmus (isthmus-userspace-base): $BASE"
declare -A state
run_step() { # run_step CASE FUNCTION ARGS...: runs the step in a subshell; a failure marks the case and tears it down
  local rc=0
  "${@:2}" &
  child=$!
  wait "$child" || rc=$?
  child=
  if ((rc != 0)); then
    state[$1]=FAILED
    echo "$1: FAILED: $(cat "$tmp/$1/reason" 2> /dev/null || echo "exit status $rc")" >&2
    for f in "$tmp/$1/lns/"*.log "$tmp/$1/lac/xl2tpd.log"; do
      if [ -f "$f" ]; then echo "--- tail of $f" >&2; tail -n 15 "$f" >&2; fi
    done
    teardown_case "$1"
  fi
}
n=0
for c in "${CASES[@]}"; do
  mkdir -p "$tmp/$c"
  : > "$tmp/$c/up"
  : > "$tmp/$c/down"
  state[$c]=ok
  case $c in
    isthmus-userspace-base) [ -n "$BASE" ] && [ -x "$BASE" ] || { state[$c]=skipped; echo "$c: skipped: ISTHMUS_BASE is not an executable: '$BASE'"; continue; } ;;
    isthmus-*) [ -x "$I" ] || { state[$c]=skipped; echo "$c: skipped: isthmus binary not found: $I"; continue; } ;;
  esac
  n=$((n + 1))
  run_step "$c" setup_case "$c" "$n"
done
for ((r = 1; r <= RUNS; r++)); do
  for c in "${CASES[@]}"; do
    for d in up down; do
      if [ "${state[$c]}" = ok ]; then run_step "$c" measure "$c" "$d" "$r"; fi
    done
  done
done
for c in "${CASES[@]}"; do if [ "${state[$c]}" = ok ]; then counters "$c"; fi; done

median_row() { sort -n "$1" | awk '{a[NR] = $0} END {if (NR) print a[int((NR + 1) / 2)]}'; }
declare -A med
for c in "${CASES[@]}"; do
  for d in up down; do
    if [ "${state[$c]}" = ok ] && [ -s "$tmp/$c/$d" ]; then med[$c.$d]=$(median_row "$tmp/$c/$d"); fi
  done
done
ratio() { # ratio CASE.DIR REFERENCE.DIR
  if [ -n "${med[$1]:-}" ] && [ -n "${med[$2]:-}" ]; then
    awk -v a="${med[$1]%% *}" -v b="${med[$2]%% *}" 'BEGIN { if (b <= 0) print "-"; else printf "%.2f", a / b }'
  else echo -; fi
}
col() { # col CASE.DIR FIELD(1-4)
  if [ -n "${med[$1]:-}" ]; then echo "${med[$1]}" | awk -v f="$2" '{print $f}'; else echo -; fi
}
echo
printf 'iperf3 TCP, one stream, %d s per run, over one L2TPv2 PPP call (PPP MTU 1400, veth MTU 1500); median of %d run(s) per direction\n' "$DUR" "$RUNS"
echo
echo '| case (LNS) | LAC→LNS Mbit/s | ÷ xl2tpd | LNS→LAC Mbit/s | ÷ xl2tpd | retr. ↑ / ↓ | LNS CPU ↑ agent / pppd | LNS CPU ↓ agent / pppd |'
echo '|---|---:|---:|---:|---:|---:|---:|---:|'
for c in "${CASES[@]}"; do
  if [ "${state[$c]}" = ok ]; then
    printf '| %s | %s | %s | %s | %s | %s / %s | %s%% / %s%% | %s%% / %s%% |\n' "$c" "$(col "$c.up" 1)" "$(ratio "$c.up" xl2tpd.up)" \
      "$(col "$c.down" 1)" "$(ratio "$c.down" xl2tpd.down)" "$(col "$c.up" 2)" "$(col "$c.down" 2)" \
      "$(col "$c.up" 3)" "$(col "$c.up" 4)" "$(col "$c.down" 3)" "$(col "$c.down" 4)"
  else
    printf '| %s | %s | - | - | - | - | - | - |\n' "$c" "${state[$c]}"
  fi
done
echo
for c in "${CASES[@]}"; do
  for d in up down; do
    if [ -s "$tmp/$c/$d" ]; then
      echo "runs $c $([ $d = up ] && echo 'LAC->LNS' || echo 'LNS->LAC') (Mbit/s): $(awk '{printf "%s%s", (NR > 1 ? " / " : ""), $1}' "$tmp/$c/$d")"
    fi
  done
done
for c in "${CASES[@]}"; do [ "${state[$c]}" = ok ] || exit 1; done
