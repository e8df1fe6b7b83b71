#!/usr/bin/env bash
# The Linux kernel selftest's L2TP-under-IPsec setup (tools/testing/selftests/net/l2tp.sh: L2TPv3 over IP between
# two hosts, transport-mode ESP rfc4106(gcm(aes)) states and policies), replayed twice: once with `ip xfrm`, once
# with `isthmus xfrm` (everything else with ip), each in two fresh namespaces over a veth pair. The policies cover
# protocol 115 (L2TPv3 over IP) between the hosts' addresses. Checked: a ping across the l2tpeth works under both and
# is counted by the states (so it went through ESP); ip prints the same states and policies after both replays;
# in the isthmus replay `isthmus xfrm state|policy` (plain, -s, -s -s, -o, -6, nokeys, filters), `get` and `count`
# print what ip prints. Then states of other shapes (tunnel, enc + auth-trunc, NAT-T, marks, ESN, AH, IPComp) added
# by each tool's -batch show alike and print alike. `isthmus xfrm state deleteall` with a filter, `state delete`,
# `state flush` and `policy flush` leave what ip then shows. The setup and most prints go through -batch: each
# isthmus start costs about a second under TCG (the guest's run is about 25 s).
# Needs Debian's kernel (esp4, xfrm_user, l2tp_ip, l2tp_eth): run it in the QEMU guest (Tools/vm/isthmus-vm), where
# the integration test XFRMKernelTests runs it. Prints one "ok"/"FAIL" line per check; exits non-zero on a failure.
#
#   ISTHMUS=.build/debug/isthmus Tools/scenarios/xfrm-l2tp.sh
set -u
here=$(cd "$(dirname "$0")/../.." && pwd)
isthmus=${ISTHMUS:-$here/.build/debug/isthmus}
work=$(mktemp -d /tmp/xfrm-l2tp.XXXXXX)
fails=0
ok() { echo "ok   $*"; }
fail() { echo "FAIL $*"; fails=$((fails + 1)); }
same() {   # same WHAT FILE1 FILE2
  if cmp -s "$2" "$3"; then ok "$1"; else fail "$1"; diff "$2" "$3" | head -30 | sed 's/^/     /'; fi
}
nss=()
cleanup() { for n in "${nss[@]}"; do ip netns del "$n" 2>/dev/null; done; rm -rf "$work"; }
trap cleanup EXIT

# The kernel's stdrng (drbg) must be there or every AEAD state fails ("unable to initialize cryptographic
# operations"); jitterentropy may not load under TCG, which drbg survives.
modprobe -a drbg esp4 xfrm_user gcm ghash_generic aes_generic ctr seqiv l2tp_ip l2tp_eth veth || { echo "FAIL modprobe"; exit 1; }
modprobe jitterentropy_rng 2>/dev/null

key=0x0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f
# setup TOOL SUFFIX: two namespaces h1$SUFFIX and h2$SUFFIX, the selftest's L2TPv3-over-IP tunnel, and its IPsec
# policies and states written with TOOL ("ip" or the isthmus binary).
setup() {
  local x=$1 s=$2 h1=xf1$2 h2=xf2$2
  nss+=("$h1" "$h2")
  ip netns add "$h1" && ip netns add "$h2" || return 1
  # No IPv6: its router and neighbour solicitations would cross the tunnel at their own times and move the
  # states' sequence numbers and use times between the prints compared below.
  for h in "$h1" "$h2"; do ip netns exec "$h" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1; done
  ip -n "$h1" link set lo up; ip -n "$h2" link set lo up
  ip -n "$h1" link add eth0 type veth peer name eth0 netns "$h2" || return 1
  ip -n "$h1" addr add 10.1.1.1/24 dev eth0; ip -n "$h2" addr add 10.1.1.2/24 dev eth0
  ip -n "$h1" link set eth0 up; ip -n "$h2" link set eth0 up
  ip -n "$h1" l2tp add tunnel tunnel_id 1041 peer_tunnel_id 1042 encap ip local 10.1.1.1 remote 10.1.1.2 &&
  ip -n "$h1" l2tp add session name l2tp4 tunnel_id 1041 session_id 1041 peer_session_id 1042 &&
  ip -n "$h2" l2tp add tunnel tunnel_id 1042 peer_tunnel_id 1041 encap ip local 10.1.1.2 remote 10.1.1.1 &&
  ip -n "$h2" l2tp add session name l2tp4 tunnel_id 1042 session_id 1042 peer_session_id 1041 || return 1
  ip -n "$h1" link set l2tp4 up; ip -n "$h2" link set l2tp4 up
  ip -n "$h1" addr add 172.16.1.1 peer 172.16.1.2 dev l2tp4; ip -n "$h2" addr add 172.16.1.2 peer 172.16.1.1 dev l2tp4
  # Permanent neighbours: ARP's later probes would otherwise cross the tunnel between the prints compared below.
  local m1 m2
  m1=$(ip -n "$h1" -br link show l2tp4 | awk '{print $3}'); m2=$(ip -n "$h2" -br link show l2tp4 | awk '{print $3}')
  ip -n "$h1" neigh replace 172.16.1.2 lladdr "$m2" dev l2tp4 nud permanent
  ip -n "$h2" neigh replace 172.16.1.1 lladdr "$m1" dev l2tp4 nud permanent
  # One -batch per host (each isthmus start costs about a second under TCG); ip reads the same lines.
  local rc=0 out in
  for h in 1 2; do
    if [ $h = 1 ]; then out="10.1.1.1 dst 10.1.1.2" in="10.1.1.2 dst 10.1.1.1"; else out="10.1.1.2 dst 10.1.1.1" in="10.1.1.1 dst 10.1.1.2"; fi
    $x -n "xf$h$s" -batch - <<EOF || rc=1
xfrm policy add src $out proto 115 dir out tmpl proto esp mode transport reqid 1
xfrm policy add src $in proto 115 dir in tmpl proto esp mode transport reqid 1
xfrm state add src 10.1.1.1 dst 10.1.1.2 spi 0x1000 proto esp aead 'rfc4106(gcm(aes))' $key 128 mode transport reqid 1 sel src 10.1.1.1 dst 10.1.1.2 proto 115
xfrm state add src 10.1.1.2 dst 10.1.1.1 spi 0x1001 proto esp aead 'rfc4106(gcm(aes))' $key 128 mode transport reqid 1 sel src 10.1.1.2 dst 10.1.1.1 proto 115
EOF
  done
  return $rc
}

for tool in ip isthmus; do
  x=ip; [ "$tool" = isthmus ] && x=$isthmus
  if setup "$x" "$tool"; then ok "$tool: the selftest's L2TPv3 + IPsec setup"; else fail "$tool: the selftest's L2TPv3 + IPsec setup"; fi
  if ip netns exec "xf1$tool" ping -c 2 -W 2 172.16.1.2 >"$work/ping" 2>&1; then ok "$tool: ping across the l2tpeth"; else fail "$tool: ping across the l2tpeth"; cat "$work/ping"; fi
  # The out SA of h1 counted the pings: they went through ESP.
  pk=$(ip -n "xf1$tool" -s xfrm state get src 10.1.1.1 dst 10.1.1.2 proto esp spi 0x1000 | sed -n 's/^[[:space:]]*\([0-9]*\)(bytes), \([0-9]*\)(packets)$/\2/p')
  if [ "${pk:-0}" -ge 2 ]; then ok "$tool: the ESP state counted $pk packets"; else fail "$tool: the ESP state counted ${pk:-no} packets"; fi
  for h in 1 2; do
    ip -n "xf$h$tool" xfrm state > "$work/$tool-state$h"
    ip -n "xf$h$tool" xfrm policy > "$work/$tool-policy$h"
  done
done
for h in 1 2; do
  same "host $h: ip xfrm state is the same after the ip and the isthmus replays" "$work/ip-state$h" "$work/isthmus-state$h"
  same "host $h: ip xfrm policy is the same after the ip and the isthmus replays" "$work/ip-policy$h" "$work/isthmus-policy$h"
done
[ -s "$work/ip-state1" ] && grep -q 'aead rfc4106(gcm(aes)) 0x0f0f' "$work/ip-state1" && ok "the states hold the AEAD key" || fail "ip xfrm state shows no AEAD state"

# isthmus prints what ip prints (no traffic in between: the -s counters and times stay put). Each group of lines is
# one `isthmus -batch` (a start costs about a second under TCG), against ip run once per line (ip's xfrm list exits
# the process, so `ip -batch` stops after the first).
shows() {   # shows NS "GLOBAL OPTIONS" LINE...
  local ns=$1 opts=$2 l; shift 2
  : > "$work/ip-show"
  # shellcheck disable=SC2086
  for l in "$@"; do ip $opts -n "$ns" $l >> "$work/ip-show" 2>&1; done
  printf '%s\n' "$@" > "$work/lines"
  # shellcheck disable=SC2086
  $isthmus $opts -n "$ns" -batch "$work/lines" > "$work/isthmus-show" 2>&1
  same "isthmus ${opts:+$opts }prints what ip prints for: $(paste -sd ';' "$work/lines")" "$work/ip-show" "$work/isthmus-show"
}
h=xf1isthmus
shows $h "" "xfrm state" "xfrm state show" "xfrm state list nokeys" "xfrm policy" "xfrm policy list dir out" \
  "xfrm state get src 10.1.1.1 dst 10.1.1.2 proto esp spi 0x1000" "xfrm policy get src 10.1.1.1 dst 10.1.1.2 proto 115 dir out" \
  "xfrm state count" "xfrm policy count" "xfrm state list src 10.1.1.2" "xfrm state list proto esp spi 0x1001" \
  "xfrm state list dst 10.1.1.0/24 mode transport" "xfrm state list reqid 2"
shows $h "-s" "xfrm state" "xfrm policy" "xfrm state count"
shows $h "-s -s" "xfrm policy list dir in"
shows $h "-o" "xfrm state" "xfrm policy"
shows $h "-6" "xfrm state"
if $isthmus -j -n $h xfrm state | grep -q '"name":"rfc4106(gcm(aes))"'; then ok "isthmus -j xfrm state names the AEAD"; else fail "isthmus -j xfrm state"; fi

# States of other shapes (tunnel mode, enc + auth-trunc, NAT-T encapsulation, IPv6 with marks, if_id and limits,
# ESN, AH, IPComp with the tunnel state the kernel adds for it, a selector with a device and ports), written by ip in
# one namespace and by isthmus in another (one -batch each): ip shows the same, and isthmus prints them as ip does.
modprobe -a cbc hmac sha256_generic sha1_generic ah4 ipcomp xfrm_ipcomp deflate 2>/dev/null
cat > "$work/shapes" <<EOF
xfrm state add src 192.0.2.1 dst 198.51.100.2 proto esp spi 0x2001 reqid 2 mode tunnel enc cbc(aes) 0x00112233445566778899aabbccddeeff auth-trunc hmac(sha256) 0x000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f 128 replay-window 32 flag noecn af-unspec
xfrm state add src 192.0.2.1 dst 198.51.100.2 proto esp spi 0x3000 reqid 3 mode transport aead rfc4106(gcm(aes)) $key 128 encap espinudp 4500 4500 0.0.0.0 sel src 192.0.2.1 dst 198.51.100.2 proto udp sport 1701 dport 1701
xfrm state add src 2001:db8:1::1 dst 2001:db8:2::1 proto esp spi 0x1000 mode transport aead rfc4106(gcm(aes)) $key 128 mark 7 mask 0xff if_id 9 output-mark 0x10 mask 0xf0 limit time-soft 30 limit time-hard 60 limit byte-hard 1000000 limit packet-soft 5000
xfrm state add src 10.1.1.1 dst 10.1.2.1 proto esp spi 0x4000 reqid 1 mode tunnel aead rfc4106(gcm(aes)) $key 128 flag esn replay-window 128 replay-seq 5 replay-oseq 6 extra-flag dont-encap-dscp
xfrm state add src 10.1.1.1 dst 10.1.2.1 proto ah spi 0x5000 auth hmac(sha1) 0x0102030405060708090a0b0c0d0e0f1011121314 replay-seq 1 replay-oseq 2
xfrm state add src 10.1.1.1 dst 10.1.2.1 proto comp spi 0x600 comp deflate mode tunnel
xfrm state add src 10.1.1.1 dst 10.1.2.1 proto esp spi 0x77 enc cbc(aes) 0x00112233445566778899aabbccddeeff sel dev lo proto tcp dport 80
EOF
for tool in ip isthmus; do
  x=ip; [ "$tool" = isthmus ] && x=$isthmus
  n=xf3$tool; nss+=("$n"); ip netns add $n; ip -n $n link set lo up
  if $x -n $n -batch "$work/shapes" > "$work/add" 2>&1; then ok "$tool -batch added the other shapes"; else fail "$tool -batch of the other shapes: $(cat "$work/add")"; fi
  ip -n $n xfrm state > "$work/$tool-shapes"
done
same "the other shapes: ip xfrm state is the same after ip and isthmus added them" "$work/ip-shapes" "$work/isthmus-shapes"
grep -q 'auth-trunc hmac(sha256)' "$work/ip-shapes" && grep -q 'encap type espinudp sport 4500' "$work/ip-shapes" \
  && grep -q 'anti-replay esn context' "$work/ip-shapes" && grep -q 'proto ah' "$work/ip-shapes" && grep -q 'proto comp' "$work/ip-shapes" \
  && ok "the shapes hold auth-trunc, NAT-T, ESN, AH and IPComp states" || fail "shapes missing: $(cat "$work/ip-shapes")"
h=xf3isthmus
shows $h "" "xfrm state" "xfrm state list nokeys" "xfrm state list proto ah" "xfrm state list reqid 2" \
  "xfrm state get src 10.1.1.1 dst 10.1.2.1 proto esp spi 0x4000"
shows $h "-s" "xfrm state" "xfrm state count" "xfrm state get src 2001:db8:1::1 dst 2001:db8:2::1 proto esp spi 0x1000 mark 7 mask 0xff"
shows $h "-o" "xfrm state"
shows $h "-6" "xfrm state"

# Deleting: deleteall with a filter takes the matching state only; then one state, then flushes; ip then shows nothing.
h=xf1isthmus
$isthmus -n xf2isthmus xfrm state deleteall src 10.1.1.2 && [ "$(ip -n xf2isthmus xfrm state | grep -c '^src')" = 1 ] \
  && ip -n xf2isthmus xfrm state | grep -q '^src 10.1.1.1 dst 10.1.1.2' \
  && ok "isthmus xfrm state deleteall src 10.1.1.2 deleted that state only" || fail "deleteall src: $(ip -n xf2isthmus xfrm state)"

$isthmus -n $h xfrm state delete src 10.1.1.1 dst 10.1.1.2 proto esp spi 0x1000 && ! ip -n $h xfrm state | grep -q 'spi 0x00001000' \
  && ok "isthmus xfrm state delete removed the state" || fail "isthmus xfrm state delete"
$isthmus -n $h xfrm state delete src 10.1.1.1 dst 10.1.1.2 proto esp spi 0x1000 >"$work/err" 2>&1; rc=$?
[ $rc -eq 2 ] && ok "deleting it again is the kernel's refusal (exit 2): $(cat "$work/err")" || fail "deleting twice: exit $rc, $(cat "$work/err")"
$isthmus -n $h xfrm state flush && $isthmus -n $h xfrm policy flush && [ -z "$(ip -n $h xfrm state)" ] && [ -z "$(ip -n $h xfrm policy)" ] \
  && ok "isthmus xfrm state flush and policy flush leave nothing" || fail "flush left: $(ip -n $h xfrm state; ip -n $h xfrm policy)"

echo "guest time: ${SECONDS}s"
if [ $fails -eq 0 ]; then echo "every check passed"; else echo "$fails check(s) failed"; exit 1; fi
