#!/usr/bin/env bash
# PPP over L2TP with an IPv6 underlay, between two Isthmus agents in two namespaces (inside the QEMU guest): an
# L2TPv2 call (sockaddr_pppol2tpin6) and an L2TPv3 PPP pseudowire (sockaddr_pppol2tpv3in6), each on the kernel's
# PPPoL2TP socket, with IPCP from the LNS's pool and ping across. Prints "ok"/"FAIL" per check.
#
#   Tools/vm/isthmus-vm -- sh -c 'modprobe -a l2tp_ppp l2tp_netlink ppp_generic veth && Tools/scenarios/l2tp-ppp-ipv6.sh'
set -u
here=$(cd "$(dirname "$0")/../.." && pwd)
isthmus=${ISTHMUS:-$here/.build/debug/isthmus}
work=$(mktemp -d /tmp/l2tp-ppp6.XXXXXX 2>/dev/null || mktemp -d "$here/.build/l2tp-ppp6.XXXXXX")
a=l2p6$$a b=l2p6$$b
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
ip -n "$a" addr add fd00:98::1/64 dev va nodad && ip -n "$b" addr add fd00:98::2/64 dev vb nodad &&
ip -n "$a" link set va up && ip -n "$b" link set vb up && ip -n "$a" link set lo up && ip -n "$b" link set lo up || { echo "FAIL setup"; exit 1; }

for v in 2 3; do
  { echo '[l2tp]'; echo "version = $v"; echo 'host_name = "lns6"'; echo 'listen = "[fd00:98::1]"'; echo "status = \"$work/lns$v.json\""
    if [ "$v" = 3 ]; then echo '[[l2tp.pseudowire]]'; echo 'name = "p"'; echo 'type = "ppp"'; echo 'interface = "pppv3"'; fi
    echo '[l2tp.ppp]'; echo 'local_address = "10.5.0.1"'; echo 'pool = "10.5.0.2-10.5.0.5"'
  } >"$work/lns$v.toml"
  { echo '[l2tp]'; echo "version = $v"; echo 'host_name = "lac6"'; echo "status = \"$work/lac$v.json\""
    echo '[[l2tp.tunnel]]'; echo 'name = "t"'; echo 'peer = "fd00:98::1"'; echo 'local = "[fd00:98::2]"'
    if [ "$v" = 3 ]; then echo '[[l2tp.pseudowire]]'; echo 'name = "p"'; echo 'type = "ppp"'; echo 'interface = "pppv3"'; echo 'tunnel = "t"'
    else echo '[[l2tp.call]]'; echo 'tunnel = "t"'; fi
    echo '[l2tp.ppp]'
  } >"$work/lac$v.toml"
  ip netns exec "$a" "$isthmus" l2tp run --config "$work/lns$v.toml" >"$work/lns$v.log" 2>&1 & pids+=($!); l=$!
  waitfor 50 grep -q "listening on" "$work/lns$v.log"
  ip netns exec "$b" "$isthmus" l2tp run --config "$work/lac$v.toml" >"$work/lac$v.log" 2>&1 & pids+=($!); c=$!
  check "L2TPv$v over IPv6: PPP up, the LAC has 10.5.0.2 from the pool" \
    waitfor 200 sh -c "ip -n $b -4 -o addr show | grep -q 'inet 10.5.0.2 peer 10.5.0.1/32'"
  check "L2TPv$v over IPv6: ping across" ip netns exec "$b" ping -c 2 -i 0.3 -W 3 10.5.0.1
  check "L2TPv$v over IPv6: the kernel's tunnel is UDP over IPv6" sh -c "ip netns exec $a ip l2tp show tunnel | grep -q 'From fd00:98::1 to fd00:98::2'"
  kill "$c" "$l"
  check "L2TPv$v: both exit, nothing left" waitfor 60 sh -c "! kill -0 $c && ! kill -0 $l && [ -z \"\$(ip netns exec $a ip l2tp show tunnel)\" ] && ! ip -n $b -o link show | grep -q ': ppp'"
done
if [ "$fails" = 0 ]; then echo "every check passed"; else
  for f in "$work"/*.log; do echo "== $f"; grep -v -E '^(rcvd|sent) \[' "$f" | tail -12 | sed 's/^/   /'; done
  echo "$fails check(s) FAILED"; exit 1
fi
