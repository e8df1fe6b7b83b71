#!/usr/bin/env bash
# PPP over L2TP between two Isthmus agents (isthmus l2tp run) in two namespaces, inside the QEMU guest:
#  1. L2TPv2: the LNS on the userspace PPP data plane (pppd on a pty, HDLC in the agent), the LAC on the kernel's
#     PPPoL2TP socket with the tunnel made by the old API (a PPPoL2TP tunnel management socket, no netlink);
#     CHAP, an address from the pool, ping both ways, 1400-byte pings; the LNS asks for an outgoing call (OCRQ) on
#     the same tunnel, which gets the next pool address and passes traffic; `isthmus l2tp show` lists both calls.
#  2. L2TPv3 PPP pseudowire (type = "ppp", pseudowire type 7): the kernel's v3 PPPoL2TP socket, CHAP, ping.
#  3. SIGTERM: StopCCN, every pppd, interface and kernel tunnel gone, and the agents' status files and sockets.
#  `l2tp show` lists the LAC's first link as up within 1 s of the agent noticing IPCP (Tools/scenarios/l2tp-show-watch.py).
# Prints one "ok"/"FAIL" line per check; exits non-zero if anything failed.
#
#   Tools/vm/isthmus-vm --timeout 300 -- sh -c 'modprobe -a l2tp_ppp l2tp_netlink l2tp_eth ppp_generic ppp_async veth &&
#       Tools/scenarios/l2tp-ppp-isthmus.sh'
set -u
here=$(cd "$(dirname "$0")/../.." && pwd)
isthmus=${ISTHMUS:-$here/.build/debug/isthmus}
work=$(mktemp -d /tmp/l2tp-ppp-i.XXXXXX 2>/dev/null || mktemp -d "$here/.build/l2tp-ppp-i.XXXXXX")
a=l2pi$$a b=l2pi$$b
fails=0
ok() { echo "ok   $*"; }
fail() { echo "FAIL $*"; fails=$((fails + 1)); }
check() { local what=$1; shift; if "$@" >"$work/out" 2>&1; then ok "$what"; else fail "$what"; sed 's/^/     /' "$work/out" | tail -20; fi; }
waitfor() { local n=$1; shift; for _ in $(seq "$n"); do "$@" >/dev/null 2>&1 && return 0; sleep 0.2; done; return 1; }
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null; done
  ip netns del "$a" 2>/dev/null; ip netns del "$b" 2>/dev/null
  [ -n "${KEEP:-}" ] || rm -rf "$work"
}
trap cleanup EXIT

ip netns add "$a" && ip netns add "$b" &&
ip link add va netns "$a" type veth peer name vb netns "$b" &&
ip -n "$a" addr add 10.96.0.1/24 dev va && ip -n "$b" addr add 10.96.0.2/24 dev vb &&
ip -n "$a" link set va up && ip -n "$b" link set vb up && ip -n "$a" link set lo up && ip -n "$b" link set lo up || { echo "FAIL setup"; exit 1; }
inet() { ip -n "$1" -4 -o addr show dev "$2" 2>/dev/null | awk '$3 == "inet" { print $4 " " $6 }'; }
printf 'lac-a * "a password" *\n' >"$work/secrets"; chmod 600 "$work/secrets"

# 1. L2TPv2. b is the LNS (userspace data plane) and also dials a tunnel to a for the outgoing call.
cat >"$work/lns.toml" <<EOF
[l2tp]
version = 2
host_name = "lns-b"
listen = "10.96.0.2"
secret = "tunnel s3cret"
hello = 2
data_plane = "userspace"
status = "$work/lns.json"

[[l2tp.tunnel]]
name = "to-lac"
peer = "10.96.0.1"
local = "10.96.0.2:1702"

[[l2tp.call]]
tunnel = "to-lac"
outgoing = true
number = "555"

[l2tp.ppp]
auth = "chap"
local_address = "10.7.0.1"
pool = "10.7.0.10-10.7.0.20"
secrets = "$work/secrets"
EOF
cat >"$work/lac.toml" <<EOF
[l2tp]
version = 2
host_name = "lac-a"
listen = "10.96.0.1"
secret = "tunnel s3cret"
hello = 2
data_plane = "kernel"
status = "$work/lac.json"

[[l2tp.tunnel]]
name = "to-lns"
peer = "10.96.0.2"
local = "10.96.0.1"

[[l2tp.call]]
tunnel = "to-lns"

[l2tp.ppp]
user = "lac-a"
password = "a password"
interface = "pppa"
kernel_api = "socket"
EOF
ip netns exec "$a" "$isthmus" l2tp run --config "$work/lac.toml" >"$work/lac.log" 2>&1 & pids+=($!); lacpid=$!
ip netns exec "$b" "$isthmus" l2tp run --config "$work/lns.toml" >"$work/lns.log" 2>&1 & pids+=($!); lnspid=$!
# When IPCP completes on the LAC's first call, and when its `l2tp show` first says so.
ip netns exec "$a" python3 "$here/Tools/scenarios/l2tp-show-watch.py" "$work/lac.json" pppa0 "$work/watch" 120 & pids+=($!)
check "the LNS runs its calls on the userspace PPP data plane" waitfor 50 grep -q "data plane userspace (pppd over HDLC)" "$work/lns.log"
check "the LAC on the kernel's, tunnel made with L2TPv2's tunnel management socket (kernel_api = \"socket\")" \
  waitfor 50 grep -q "data plane kernel (PPPoL2TP tunnel socket)" "$work/lac.log"
check "two calls up on the LAC (incoming and outgoing), with addresses from the pool" \
  waitfor 200 sh -c "[ \$(ip -n $a -4 -o addr show | grep -c 'inet 10.7.0.1[0-9] peer 10.7.0.1/32') = 2 ]"
echo "== LAC addresses"; ip -n "$a" -4 -o addr show | grep pppa | sed 's/^/   /'
# `show` must say what the agent knows, at once: the first show listing pppa0 as up started within 1 s of the agent
# logging it up (its own notice; a status file written every few seconds would fail this). How long the agent took
# to notice IPCP (it polls every 0.2 s while negotiating) is printed, not bounded: in a TCG guest sharing two cores
# with another guest and the host's tests, the agent itself may not run for seconds (seen: 4.4 s, while it forked
# the second call's pppd), which says nothing about `show`.
shown_within() { waitfor 100 test -s "$work/watch" && read -r ipcp shown shown_wall <"$work/watch" &&
  logged=$(grep -m1 "ppp pppa0 up" "$work/lac.log" | cut -d' ' -f1) && [ -n "$logged" ] &&
  logged_s=$(date -d "$logged" +%s.%N) && echo "agent logged pppa0 up at $logged_s, first show listing it started at $shown_wall" &&
  [ "$shown_wall" != - ] && awk "BEGIN { exit !($shown_wall - $logged_s <= $1) }"; }
check "show lists the LAC's PPP (pppa0) as up within 1 s of the agent noticing it" shown_within 1
[ -s "$work/watch" ] && echo "   IPCP, shown (monotonic s), shown (wall): $(cat "$work/watch")"
check "the outgoing call was an OCRQ answered by the LAC" grep -q "session outgoing call from peer up" "$work/lac.log"
check "the LAC's calls are pppa0 and pppa1" sh -c "ip -n $a link show pppa0 && ip -n $a link show pppa1"
for dev in pppa0 pppa1; do
  peer=$(inet "$a" "$dev" | awk '{ print $1 }')
  check "ping LAC → LNS over $dev" ip netns exec "$a" ping -c 2 -i 0.3 -W 3 -I "$dev" 10.7.0.1
  check "ping LNS → LAC's $dev ($peer), 1400 bytes" ip netns exec "$b" ping -c 2 -i 0.3 -W 3 -s 1400 "$peer"
done
echo "== isthmus l2tp show (LNS)"; "$isthmus" l2tp show --status "$work/lns.json" | sed 's/^/   /'
check "show: the LNS's two calls are up with their pppd, and the pool has 9 of 11 free" \
  sh -c "[ \$($isthmus l2tp show --status $work/lns.json | grep -cE ' up 10\.7\.0\.1 peer 10\.7\.0\.1[0-9] +[0-9]+ ') = 2 ] && $isthmus l2tp show --status $work/lns.json | grep -q 'pool 10.7.0.10-10.7.0.20: 9 free'"
check "show -j: the userspace counters moved" sh -c "$isthmus l2tp show --status $work/lns.json -j | grep -q '\"rx_packets\" : [1-9]'"
check "the LAC's kernel has both sessions (and the management socket's session 0)" sh -c "[ \$(ip netns exec $a ip l2tp show session | grep -c '^Session [1-9]') = 2 ]"

# 3 (for v2). SIGTERM both: StopCCN, pppds and interfaces gone.
kill "$lacpid" "$lnspid"
check "both agents exit on SIGTERM" waitfor 60 sh -c "! kill -0 $lacpid && ! kill -0 $lnspid"
check "no ppp interface, kernel tunnel or process left" \
  sh -c "! ip -n $a link show | grep -q ppp && ! ip -n $b link show | grep -q ppp && [ -z \"\$(ip netns exec $a ip l2tp show tunnel)\" ] && [ -z \"\$(ip netns pids $a)\$(ip netns pids $b)\" ]"
check "no secrets file left" sh -c "! ls $work/*.ppp-secrets"
check "no status file or socket left" sh -c "for f in lac.json lac.sock lns.json lns.sock; do [ ! -e $work/\$f ] || { echo \$f; exit 1; }; done"

# 2. L2TPv3 PPP pseudowire.
cat >"$work/a3.toml" <<EOF
[l2tp]
version = 3
host_name = "lcce-a"
secret = "v3 s3cret"
digest = "sha1"
status = "$work/a3.json"
[[l2tp.tunnel]]
name = "to-b"
peer = "10.96.0.2"
local = "10.96.0.1"
[[l2tp.pseudowire]]
name = "ppp-link"
type = "ppp"
interface = "pppw0"
tunnel = "to-b"
[l2tp.ppp]
user = "lac-a"
password = "a password"
EOF
cat >"$work/b3.toml" <<EOF
[l2tp]
version = 3
host_name = "lcce-b"
secret = "v3 s3cret"
digest = "sha1"
listen = "10.96.0.2"
status = "$work/b3.json"
[[l2tp.pseudowire]]
name = "ppp-link"
type = "ppp"
interface = "pppw0"
[l2tp.ppp]
auth = "chap"
local_address = "10.6.0.1"
pool = "10.6.0.2-10.6.0.9"
secrets = "$work/secrets"
EOF
ip netns exec "$b" "$isthmus" l2tp run --config "$work/b3.toml" >"$work/b3.log" 2>&1 & pids+=($!); bpid=$!
sleep 0.3
ip netns exec "$a" "$isthmus" l2tp run --config "$work/a3.toml" >"$work/a3.log" 2>&1 & pids+=($!); apid=$!
check "L2TPv3 PPP pseudowire: pppw0 up on a with 10.6.0.2" waitfor 150 sh -c "ip -n $a -4 -o addr show dev pppw0 | grep -q 'inet 10.6.0.2 peer 10.6.0.1/32'"
check "ping across the v3 PPP pseudowire" ip netns exec "$a" ping -c 2 -i 0.3 -W 3 10.6.0.1
check "the kernel has the v3 session" sh -c "ip netns exec $b ip l2tp show session | grep -q '^Session'"
kill "$apid" "$bpid"
check "both exit; nothing left" waitfor 60 sh -c "! kill -0 $apid && ! kill -0 $bpid && ! ip -n $a link show pppw0 && [ -z \"\$(ip netns exec $b ip l2tp show tunnel)\" ]"

echo "== lns.log"; grep -v -E '^(rcvd|sent) \[' "$work/lns.log" | sed 's/^/   /' | tail -25
if [ "$fails" = 0 ]; then echo "every check passed"; else
  echo "== lac.log"; grep -v -E '^(rcvd|sent) \[' "$work/lac.log" | sed 's/^/   /' | tail -30
  echo "== a3.log"; tail -20 "$work/a3.log" | sed 's/^/   /'
  echo "$fails check(s) FAILED"; exit 1
fi
