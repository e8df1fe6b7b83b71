#!/usr/bin/env bash
# Two sites joined by `isthmus up` through a router whose link to site b has MTU 1280, every box a network namespace
# this script creates and removes (by name). Checks what issue 5 asks of a site: one 192.168.50.0/24 segment at full
# 1500-byte MTU (ping -M do -s 1472 both ways), TCP across, DHCP and router advertisements kept local, SYN and SYN-ACK
# MSS equal to the clamp, `up` idempotent, `down` leaving nothing. Prints one "ok"/"FAIL" line per check and exits
# non-zero if any failed. Used by the integration tests inside the QEMU guest (kernel L2TPv3 and GRETAP).
#
#   Tools/scenarios/two-sites.sh KIND EXPECTED_DATAPLANE MSS [SEGMENT-LINE...]
#   e.g. Tools/scenarios/two-sites.sh gretap kernel 1202
#        Tools/scenarios/two-sites.sh l2tpv3 kernel 1190 'encap = "ip"'
#
#     a1 ─┐                                                    ┌─ b1
#         swa ── lan [gwa] wan ── ra [ r ] rb ══ wan [gwb] lan ── swb
#     a2 ─┘   10.0.1.2/24    10.0.1.1   10.0.2.1  10.0.2.2/24      └─ b2
set -u
kind=$1 plane=$2 mss=$3; shift 3
here=$(cd "$(dirname "$0")/../.." && pwd)
isthmus=${ISTHMUS:-$here/.build/debug/isthmus}
P=${PREFIX:-isth2s$$}
work=$(mktemp -d /tmp/two-sites.XXXXXX)
cfg=$work/segment.toml
fails=0
boxes="r gwa swa a1 a2 gwb swb b1 b2"

ok() { echo "ok   $*"; }
fail() { echo "FAIL $*"; fails=$((fails + 1)); }
check() { local what=$1; shift; if "$@" >"$work/out" 2>&1; then ok "$what"; else fail "$what"; sed 's/^/     /' "$work/out" | tail -20; fi; }
inns() { local n=$1; shift; ip netns exec "$P-$n" "$@"; }
isth() { local s=$1 verb=$2; shift 2; "$isthmus" -n "$P-gw$s" "$verb" --config "$cfg" --site "$s" "$@"; }
cleanup() {
  for s in a b; do isth "$s" down >/dev/null 2>&1; done
  for n in $boxes; do ip netns del "$P-$n" 2>/dev/null; done
  rm -rf "$work"
}
trap cleanup EXIT

# The world.
for n in $boxes; do
  ip netns add "$P-$n"; ip -n "$P-$n" link set lo up
  inns "$n" sysctl -qw net.ipv6.conf.default.accept_dad=0 net.ipv6.conf.all.accept_dad=0
done
ip -n "$P-r" link add ra type veth peer name wan netns "$P-gwa"
ip -n "$P-r" link add rb mtu 1280 type veth peer name wan mtu 1280 netns "$P-gwb"
ip -n "$P-r" addr add 10.0.1.1/24 dev ra; ip -n "$P-r" addr add 10.0.2.1/24 dev rb
ip -n "$P-r" link set ra up; ip -n "$P-r" link set rb up
inns r sysctl -qw net.ipv4.ip_forward=1
for s in a b; do
  n=1; [ "$s" = b ] && n=2
  ip -n "$P-gw$s" addr add "10.0.$n.2/24" dev wan; ip -n "$P-gw$s" link set wan up
  ip -n "$P-gw$s" route add default via "10.0.$n.1"
  ip -n "$P-sw$s" link add name sw type bridge; ip -n "$P-sw$s" link set sw up
  ip -n "$P-sw$s" link add p0 type veth peer name lan netns "$P-gw$s"
  ip -n "$P-sw$s" link set p0 master sw up; ip -n "$P-gw$s" link set lan up
  for h in 1 2; do
    ip -n "$P-sw$s" link add "p$h" type veth peer name eth0 netns "$P-$s$h"
    ip -n "$P-sw$s" link set "p$h" master sw up
    ip -n "$P-$s$h" link set eth0 up
    ip -n "$P-$s$h" addr add "192.168.50.$n$h/24" dev eth0
  done
done
for _ in $(seq 50); do inns gwa ping -c1 -W1 10.0.2.2 >/dev/null 2>&1 && break; sleep 0.2; done

{ echo '[segment]'; echo 'name = "lab"'; echo "tunnel = \"$kind\""; echo 'underlay_mtu = 1280'
  for l in "$@"; do echo "$l"; done
  echo; echo '[sites.a]'; echo 'address = "10.0.1.2"'; echo 'lan = ["lan"]'
  echo; echo '[sites.b]'; echo 'address = "10.0.2.2"'; echo 'lan = ["lan"]'; } > "$cfg"

echo "== $cfg (the same file on both sites)"; sed 's/^/   /' "$cfg"
echo "== isthmus plan --site a"; "$isthmus" -n "$P-gwa" plan --config "$cfg" --site a | sed 's/^/   /'
check "plan picks the $plane data plane" sh -c "'$isthmus' -n $P-gwa plan --config $cfg --site a | tee /dev/stderr | grep -q '$plane data plane'"
check "up a" isth a up
check "up b" isth b up

check "ping -M do -s 1472 a1 -> b1" inns a1 ping -c 2 -W 3 -M do -s 1472 192.168.50.21
check "ping -M do -s 1472 b2 -> a2" inns b2 ping -c 2 -W 3 -M do -s 1472 192.168.50.12

cap() {  # cap HOST FILTER FILE: tcpdump in the background for CAPTURE_SECONDS (8) s; the caller waits
  inns "$1" timeout -s KILL "${CAPTURE_SECONDS:-8}" tcpdump -Z root --immediate-mode -l -nn -v -i eth0 "$2" >"$3" 2>"$3.err" &
  for _ in $(seq 50); do grep -q 'listening on' "$3.err" 2>/dev/null && return; sleep 0.1; done
}
cap b1 'tcp port 5001 and tcp[tcpflags] == tcp-syn' "$work/syn"
cap a1 'tcp port 5001 and tcp[tcpflags] == (tcp-syn|tcp-ack)' "$work/synack"
sleep 1
(inns b1 timeout -s KILL 20 socat -u TCP-LISTEN:5001,reuseaddr - | sha256sum >"$work/rx.sum") &
for _ in $(seq 50); do inns b1 ss -ltn | grep -q ':5001 ' && break; sleep 0.1; done
head -c 1000000 /dev/urandom >"$work/tx.bin"
inns a1 timeout -s KILL 20 socat -u "OPEN:$work/tx.bin" TCP:192.168.50.21:5001
sleep 0.5; wait
check "1 MB across TCP, intact" test "$(sha256sum <"$work/tx.bin")" = "$(cat "$work/rx.sum")"
check "SYN at b1 carries mss $mss" grep -q "mss $mss," "$work/syn"
check "SYN-ACK at a1 carries mss $mss" grep -q "mss $mss," "$work/synack"

cat >"$work/dhcp.py" <<'EOF'
import socket, struct
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
s.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, b"eth0")
s.bind(("0.0.0.0", 68))
d = struct.pack("!BBBBIHH", 1, 1, 6, 0, 0x1234abcd, 0, 0x8000) + bytes(16) + bytes.fromhex("02aabbccddee") + bytes(202)
s.sendto(d + bytes.fromhex("63825363") + bytes([53, 1, 1, 255]), ("255.255.255.255", 67))
c = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
c.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
c.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, b"eth0")
c.sendto(b"control", ("255.255.255.255", 9999))
i6 = socket.socket(socket.AF_INET6, socket.SOCK_RAW, socket.IPPROTO_ICMPV6)
i6.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_HOPS, 255)
idx = socket.if_nametoindex("eth0")
i6.sendto(struct.pack("!BBHBBHII", 134, 0, 0, 64, 0, 1800, 0, 0), ("ff02::1", 0, 0, idx))
i6.sendto(struct.pack("!BBHHH", 128, 0, 0, 0x4242, 1) + b"control", ("ff02::1", 0, 0, idx))
EOF
cap b1 'udp port 67 or udp port 68 or udp port 9999 or (icmp6 and (ip6[40] == 134 or ip6[40] == 128))' "$work/b1"
cap a2 'udp port 67 or (icmp6 and ip6[40] == 134)' "$work/a2"
sleep 1
inns a1 python3 "$work/dhcp.py"
sleep 1; wait
check "a2 (same site) sees the DHCP discover" grep -q '\.68 > 255.255.255.255.67' "$work/a2"
check "a2 (same site) sees the router advertisement" grep -q 'router advertisement' "$work/a2"
check "b1 sees no DHCP from site a" sh -c "! grep -q '\.67: \|\.68 > ' $work/b1"
check "b1 sees no router advertisement from site a" sh -c "! grep -q 'router advertisement' $work/b1"
check "b1 sees the control broadcast and echo (the filters are what blocks)" sh -c "grep -q '\.9999' $work/b1 && grep -q 'echo request' $work/b1"

echo "== isthmus status --site a"; "$isthmus" -n "$P-gwa" status --config "$cfg" --site a | sed 's/^/   /'
check "status: in sync, $plane data plane" sh -c "'$isthmus' -n $P-gwa status --config $cfg --site a --json | tee /dev/stderr | grep -q '\"in_sync\":true'"
check "second up changes nothing" sh -c "'$isthmus' -n $P-gwa up --config $cfg --site a | grep -q 'no changes'"
check "down a" isth a down
check "down b" isth b down
for s in a b; do
  check "nothing of Isthmus's left on gw$s" sh -c "! ip -n $P-gw$s -o link show | grep -q 'isth-lab\|br-lab' && ! ip netns exec $P-gw$s nft list tables | grep -q isthmus && ! ls /run/isthmus/tunnels 2>/dev/null | grep -q -- \"-isth-lab\""
  check "the user's LAN port is still on gw$s, released" sh -c "ip -n $P-gw$s -o link show lan | grep -qv master"
done
snap() {
  ip -n "$P-gwa" -o link show | sed 's/ link\/ether [^ ]*//; s/ brd [^ ]*//'
  ip netns exec "$P-gwa" nft list ruleset; ip netns exec "$P-gwa" ip l2tp show tunnel 2>/dev/null
}
snap >"$work/before"
for n in 1 2 4; do
  check "up failing before step $((n + 1)) is rolled back" sh -c "out=\$('$isthmus' -n $P-gwa up --config $cfg --site a --fail-before $n 2>&1); st=\$?; echo \"\$out\"; [ \$st -ne 0 ] && echo \"\$out\" | grep -q 'rolled back'"
  snap >"$work/after"
  check "  ... and leaves gwa as it was" diff "$work/before" "$work/after"
done
[ "$kind" = l2tpv3 ] && [ "$plane" = kernel ] && check "no kernel L2TP tunnels left" sh -c "[ -z \"\$(ip netns exec $P-gwa ip l2tp show tunnel)\" ]"

[ "$fails" = 0 ] && echo "two-sites $kind: every check passed" || echo "two-sites $kind: $fails check(s) failed"
exit $((fails > 0))
