#!/usr/bin/env bash
# Two Isthmus L2TP agents (isthmus l2tp run) as L2TPv3 LCCEs in two namespaces: an authenticated control connection
# (Message Digest, HMAC-SHA-1) and an Ethernet pseudowire with cookies, the default sublayer and sequenced data, on
# the data plane of your choice; ping and TCP
# across it; tshark decodes every control and data message the initiator sends; the responder killed without a
# StopCCN is noticed within the HELLO bound; SIGTERM sends StopCCN and leaves no interface, kernel tunnel or process.
# Prints one "ok"/"FAIL" line per check; exits non-zero if anything failed. The integration tests run it on this host
# with the userspace data plane and inside the QEMU guest (Debian's kernel) with the kernel's.
#
#   Tools/scenarios/l2tp-pseudowire.sh userspace|kernel
set -u
plane=$1
here=$(cd "$(dirname "$0")/../.." && pwd)
isthmus=${ISTHMUS:-$here/.build/debug/isthmus}
work=$(mktemp -d "$here/.build/l2tp-pw.XXXXXX" 2>/dev/null || mktemp -d /tmp/l2tp-pw.XXXXXX)
a=l2pw$$a b=l2pw$$b
fails=0
ok() { echo "ok   $*"; }
fail() { echo "FAIL $*"; fails=$((fails + 1)); }
check() { local what=$1; shift; if "$@" >"$work/out" 2>&1; then ok "$what"; else fail "$what"; sed 's/^/     /' "$work/out" | tail -20; fi; }
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null; done
  [ -n "${cap:-}" ] && kill -9 "$cap" 2>/dev/null
  ip netns del "$a" 2>/dev/null; ip netns del "$b" 2>/dev/null
  [ -n "${KEEP:-}" ] || rm -rf "$work"
}
trap cleanup EXIT

ip netns add "$a" && ip netns add "$b" &&
ip link add ua netns "$a" type veth peer name ub netns "$b" &&
ip -n "$a" addr add 10.99.0.1/24 dev ua && ip -n "$b" addr add 10.99.0.2/24 dev ub &&
ip -n "$a" link set ua up && ip -n "$b" link set ub up && ip -n "$a" link set lo up && ip -n "$b" link set lo up || { echo "FAIL setup"; exit 1; }

common() {
  echo '[l2tp]'; echo 'version = 3'; echo "host_name = \"$1\""; echo 'secret = "a shared secret"'; echo 'digest = "sha1"'
  echo 'hello = 1'; echo 'retransmit = { initial = 0.5, max = 1, count = 3 }'; echo "data_plane = \"$plane\""
  echo "status = \"$work/$1.json\""
}
{ common lcce-a
  echo; echo '[[l2tp.tunnel]]'; echo 'name = "to-b"'; echo 'peer = "10.99.0.2"'; echo 'local = "10.99.0.1"'
  echo; echo '[[l2tp.pseudowire]]'; echo 'name = "site-link"'; echo 'interface = "pw0"'; echo 'tunnel = "to-b"'; echo 'cookie = 8'
  echo 'sublayer = "default"'; echo 'sequencing = true'
} >"$work/a.toml"
{ common lcce-b; echo 'listen = ["10.99.0.2"]'
  echo; echo '[[l2tp.pseudowire]]'; echo 'name = "site-link"'; echo 'interface = "pw0"'; echo 'cookie = 8'
  echo 'sublayer = "default"'
} >"$work/b.toml"
echo "== a.toml"; sed 's/^/   /' "$work/a.toml"

ip netns exec "$a" tcpdump --immediate-mode -U -n -s 0 -i ua -w "$work/a.pcap" udp port 1701 2>"$work/cap.err" &
cap=$!
for _ in $(seq 50); do grep -q "listening on" "$work/cap.err" && break; sleep 0.1; done

ip netns exec "$b" "$isthmus" l2tp run --config "$work/b.toml" >"$work/b.log" 2>&1 & pids+=($!); bpid=$!
sleep 0.3
ip netns exec "$a" "$isthmus" l2tp run --config "$work/a.toml" >"$work/a.log" 2>&1 & pids+=($!); apid=$!

waitfor() { local n=$1; shift; for _ in $(seq "$n"); do "$@" >/dev/null 2>&1 && return 0; sleep 0.2; done; return 1; }
check "pseudowire interface pw0 appears on both sides" waitfor 150 sh -c "ip -n $a link show pw0 && ip -n $b link show pw0"
check "the $plane data plane carries it" grep -q "data plane $plane" "$work/a.log"
if [ "$plane" = kernel ]; then
  check "the kernel has the managed tunnel and its session" sh -c "ip netns exec $a ip l2tp show tunnel | grep -q 'UDP' && ip netns exec $a ip l2tp show session | grep -q 'interface name: pw0'"
  echo "== ip l2tp show session (a)"; ip netns exec "$a" ip l2tp show session | sed 's/^/   /'
  check "the kernel session sequences data both ways, with the default sublayer" sh -c "ip netns exec $a ip l2tp show session | grep -q 'sequence numbering: send recv' && ip netns exec $b ip l2tp show session | grep -q 'sequence numbering: send recv'"
fi
ip -n "$a" addr add 192.168.99.1/24 dev pw0; ip -n "$b" addr add 192.168.99.2/24 dev pw0
check "ping a → b across the pseudowire" ip netns exec "$a" ping -c 3 -i 0.2 -W 3 192.168.99.2
check "ping b → a, 1400 bytes" ip netns exec "$b" ping -c 2 -i 0.2 -W 3 -s 1400 192.168.99.1
ip netns exec "$b" socat -u TCP-LISTEN:7001,reuseaddr OPEN:"$work/tcp.out",creat >/dev/null 2>&1 & pids+=($!)
# Until it listens (a fixed pause was too short under TCG on a loaded host: "Connection refused").
waitfor 100 sh -c "ip netns exec $b ss -Hltn 'sport = :7001' | grep -q ."
head -c 300000 /dev/urandom >"$work/tcp.in"
check "TCP (300 kB) a → b" sh -c "ip netns exec $a socat -u OPEN:$work/tcp.in TCP:192.168.99.2:7001 && sleep 0.5 && cmp $work/tcp.in $work/tcp.out"
echo "== isthmus l2tp show (a)"; "$isthmus" l2tp show --status "$work/lcce-a.json" | sed 's/^/   /'
check "status: the session is sequenced, as a asked" grep -q '"sequencing" : true' "$work/lcce-b.json"
check "status: established, with the interface and a HELLO round trip" waitfor 30 sh -c "grep -q '\"hello_rtt_ms\"' $work/lcce-a.json && grep -q '\"interface\" : \"pw0\"' $work/lcce-a.json && grep -q '\"state\" : \"established\"' $work/lcce-a.json"

# SIGTERM: a sends StopCCN, b clears the pseudowire; then tshark reads everything a sent on this connection.
kill "$apid"
check "SIGTERM: a exits" waitfor 50 sh -c "! kill -0 $apid"
check "b hears a's StopCCN" waitfor 25 grep -q "peer sent StopCCN 6" "$work/b.log"
check "b's pw0 is gone with the session" waitfor 25 sh -c "! ip -n $b link show pw0"
sleep 0.3; kill -9 "$cap" 2>/dev/null; wait "$cap" 2>/dev/null; cap=
tshark -r "$work/a.pcap" -V -d udp.port==1701,l2tp -o l2tp.cookie_size:8 -o "l2tp.shared_secret:a shared secret" -o tcp.analyze_sequence_numbers:FALSE \
  -Y "ip.src == 10.99.0.1" >"$work/decoded" 2>&1
check "tshark decodes a's messages: no malformed packet" sh -c "! grep -q Malformed $work/decoded"
check "tshark: no expert warning or error (digests verified with the secret)" sh -c "! grep -q 'Expert Info (Warning\|Expert Info (Error' $work/decoded"
for m in Start_Control_Request Start_Control_Connected Incoming_Call_Request Incoming_Call_Connected Hello Stop_Control_Notification Explicit_Acknowledgement; do
  check "tshark saw a's $m" grep -q "Message Type: $m" "$work/decoded"
done
check "tshark saw data messages with the 8-byte cookie" grep -q "Cookie: " "$work/decoded"

# a again; then the responder dies without a StopCCN: a notices within hello + retransmissions (1 + 0.5+1+1+1 s),
# clears the pseudowire and redials; b comes back and the pseudowire with it.
ip netns exec "$a" "$isthmus" l2tp run --config "$work/a.toml" >"$work/a2.log" 2>&1 & pids+=($!); apid=$!
check "a restarted: the pseudowire is up again" waitfor 150 sh -c "ip -n $a link show pw0 && ip -n $b link show pw0"
kill -9 "$bpid"; killed=$(date +%s.%N)
check "a notices the dead peer by HELLO" waitfor 60 grep -q "peer unreachable" "$work/a2.log"
noticed=$(date +%s.%N)
check "within the HELLO bound (4.5 s, + 1.5 s slack)" sh -c "echo '$noticed - $killed < 6' | bc -l | grep -q 1"
check "a's pw0 is gone with the session" waitfor 25 sh -c "! ip -n $a link show pw0"
check "a redials" waitfor 30 sh -c "[ \$(grep -c 'SCCRQ to' $work/a2.log) -ge 2 ]"
ip netns exec "$b" "$isthmus" l2tp run --config "$work/b.toml" >"$work/b2.log" 2>&1 & pids+=($!); bpid=$!
check "after b restarts, the pseudowire comes back" waitfor 150 sh -c "ip -n $a link show pw0 && ip -n $b link show pw0"

# b restarts cleanly (StopCCN): a redials at once (after a 3 s hold of the old connection), not after 31 s.
kill "$bpid"
check "b stops (StopCCN to a)" waitfor 50 sh -c "! kill -0 $bpid"
check "a hears b's StopCCN" waitfor 25 grep -q "peer sent StopCCN 6" "$work/a2.log"
ip netns exec "$b" "$isthmus" l2tp run --config "$work/b.toml" >"$work/b3.log" 2>&1 & pids+=($!); bpid=$!
check "the pseudowire is back within 15 s of b's restart" waitfor 75 sh -c "grep -q 'session site-link up' $work/b3.log && ip -n $a link show pw0"

kill "$apid" "$bpid"
check "both exit on SIGTERM" waitfor 50 sh -c "! kill -0 $apid && ! kill -0 $bpid"
check "no pseudowire interface left" sh -c "! ip -n $a link show pw0 && ! ip -n $b link show pw0"
if [ "$plane" = kernel ]; then
  check "no kernel L2TP tunnel left" sh -c "[ -z \"\$(ip netns exec $a ip l2tp show tunnel)\" ] && [ -z \"\$(ip netns exec $b ip l2tp show tunnel)\" ]"
fi
check "no process left in the namespaces" sh -c "[ -z \"\$(ip netns pids $a)\$(ip netns pids $b)\" ]"

echo "== a.log, a2.log"; cat "$work/a.log" "$work/a2.log" | sed 's/^/   /' | tail -30
if [ "$fails" = 0 ]; then echo "every check passed"; else echo "$fails check(s) FAILED"; exit 1; fi
