#!/usr/bin/env bash
# A registry's point-to-point segments on the KERNEL data plane, inside the QEMU guest (the host kernel has no GRE or
# L2TP): one etcd member (Debian's etcd 3.4) and four sites, each a gateway namespace running the registry agent
# (`isthmus up --foreground`) with a LAN host behind it, all gateways and etcd on one underlay bridge.
#
#   etcd 10.72.0.1 ─┐
#   g1 10.72.0.101 ─┤ br0 (in netns P-br)          gN: agent, br-SEG (eth1 + a tunnel port per peer)
#   ...             │                              hN 192.168.79.N behind gN's eth1
#   g4 10.72.0.104 ─┘
#
# (a) mesh, tunnel = "gretap": a kernel gretap device per peer (remote = the peer's underlay), each an `isolated on`
#     port of the segment's bridge; (b) hub (hubs = ["s1"]), tunnel = "l2tpv3", encap = "ip", cookies: on the hub a
#     kernel L2TPv3-over-IP tunnel and session (l2tp_eth) per spoke, ports not isolated; on each spoke one to the hub.
# Checks for each: every LAN host pings every other (and with 1472-byte DF pings); the ports are kernel devices;
# `isthmus status` exits 0; a site that moves (mesh: s3; hub: the hub, s1) is followed by every peer in one apply
# without a failure (kernel gretap devices changed, kernel L2TP tunnels replaced; the times are printed); a site's
# agent killed with SIGKILL disappears from every peer within its lease TTL (5 s; the measured time is printed), its
# own tunnels stay until `isthmus down` removes them, a restart brings them back;
# SIGTERM takes every site's tunnels away (for L2TP: `ip l2tp show tunnel` empty).
# Prints one "ok"/"FAIL" line per check; exits non-zero if anything failed.
#
#   Tools/vm/isthmus-vm --timeout 600 -- sh -c 'ISTHMUS=.build/debug/isthmus Tools/scenarios/fleet-p2p.sh'
#
# PHASES=hub runs (b) only (for debugging; the default is both).
set -u
here=$(cd "$(dirname "$0")/../.." && pwd)
isthmus=${ISTHMUS:-$here/.build/debug/isthmus}
work=$(mktemp -d /tmp/fleet-p2p.XXXXXX)
p=fp$$
ns_br=$p-br ns_etcd=$p-e
net=10.72.0
ttl=5
sites="1 2 3 4"
. "$here/Tools/scenarios/lib/checks.sh"   # ok, fail, check, waitfor; fails=0
gw() { echo "$p-g$1"; }
lanhost() { echo "$p-h$1"; }
declare -A addr     # site number → its underlay address (a move changes it)
for i in $sites; do addr[$i]=$net.$((100 + i)); done
underlay() { echo "${addr[$1]}"; }
# move N ADDRESS: site N's gateway gets a new underlay address (the old one goes first: deleting a primary address
# deletes its secondaries).
move() { ip -n "$(gw "$1")" addr del "${addr[$1]}/24" dev wan && ip -n "$(gw "$1")" addr add "$2/24" dev wan && addr[$1]=$2; }
made=()
etcd_pid=
declare -A agent   # site number → the agent's pid
cleanup() {
  local q n
  for q in "${agent[@]}" $etcd_pid; do kill -KILL "$q" 2>/dev/null; done
  # What still runs in a namespace of this script was started by it (a tunnel left by a killed agent, a ping).
  for n in "${made[@]}"; do for q in $(ip netns pids "$n" 2>/dev/null); do kill -KILL "$q" 2>/dev/null; done; done
  for n in "${made[@]}"; do ip netns del "$n" 2>/dev/null; done
  [ -n "${KEEP:-}" ] || rm -rf "$work"
}
trap cleanup EXIT

modprobe -a veth bridge ip_gre l2tp_ip l2tp_eth l2tp_netlink 2>/dev/null
[ -x "$isthmus" ] || { echo "FAIL no isthmus binary at $isthmus (set ISTHMUS)"; exit 1; }
command -v etcd >/dev/null && command -v etcdctl >/dev/null || { echo "FAIL no etcd/etcdctl (Debian: etcd-server, etcd-client)"; exit 1; }
t0=${EPOCHREALTIME/./}
elapsed() { local us=$(( ${EPOCHREALTIME/./} - $1 )); printf '%d.%02d' $((us / 1000000)) $((us % 1000000 / 10000)); }

# ------------------------------------------------------------------------------------------------ the network
mkns() { ip netns add "$1" && made+=("$1") && ip -n "$1" link set lo up; }
{ mkns "$ns_br" && ip -n "$ns_br" link add br0 type bridge && ip -n "$ns_br" link set br0 up &&
  mkns "$ns_etcd" && ip -n "$ns_br" link add ve type veth peer name eth0 netns "$ns_etcd" &&
  ip -n "$ns_br" link set ve master br0 up && ip -n "$ns_etcd" addr add "$net.1/24" dev eth0 && ip -n "$ns_etcd" link set eth0 up
} || { echo "FAIL setup: the underlay"; exit 1; }
for i in $sites; do
  g=$(gw "$i") h=$(lanhost "$i")
  { mkns "$g" && mkns "$h" &&
    ip -n "$ns_br" link add "u$i" type veth peer name wan netns "$g" && ip -n "$ns_br" link set "u$i" master br0 up &&
    ip -n "$g" addr add "$(underlay "$i")/24" dev wan && ip -n "$g" link set wan up &&
    ip -n "$g" link add eth1 type veth peer name eth0 netns "$h" && ip -n "$g" link set eth1 up &&
    ip -n "$h" addr add "192.168.79.$i/24" dev eth0 && ip -n "$h" link set eth0 up
  } || { echo "FAIL setup: site $i"; exit 1; }
done

# ------------------------------------------------------------------------------------------------ etcd
# One member, its data on the guest's tmpfs; the shell execs ip, which execs etcd: $! is etcd's pid.
GOMAXPROCS=1 ip netns exec "$ns_etcd" etcd --name e1 --data-dir "$work/etcd" \
  --listen-client-urls "http://$net.1:2379,http://127.0.0.1:2379" --advertise-client-urls "http://$net.1:2379" \
  --listen-peer-urls http://127.0.0.1:2380 --initial-advertise-peer-urls http://127.0.0.1:2380 \
  --initial-cluster e1=http://127.0.0.1:2380 --initial-cluster-state new \
  --heartbeat-interval 200 --election-timeout 2000 --quota-backend-bytes $((64 * 1024 * 1024)) \
  --logger zap --log-outputs "$work/etcd.log" </dev/null >"$work/etcd.out" 2>&1 &
etcd_pid=$!
etcd_put() { ip netns exec "$ns_etcd" env ETCDCTL_API=3 etcdctl --endpoints http://127.0.0.1:2379 --dial-timeout 2s --command-timeout 5s put /fleet-p2p/probe ok; }
check "etcd (one member) takes a write" waitfor 300 etcd_put || { tail -20 "$work/etcd.log"; exit 1; }

# ------------------------------------------------------------------------------------------------ helpers
# fleet FILE SEGMENT PREFIX [SEGMENT-LINE...]: a fleet file (the same for every site).
fleet() {
  local file=$1 seg=$2 prefix=$3; shift 3
  { echo '[segment]'; echo "name = \"$seg\""; for l in "$@"; do echo "$l"; done
    echo; echo '[registry]'; echo "etcd = [\"http://$net.1:2379\"]"; echo "prefix = \"$prefix\""; echo "ttl = $ttl"
    [ "$seg" = ph ] && { echo 'topology = "hub"'; echo 'hubs = ["s1"]'; } || echo 'topology = "mesh"'
    echo; echo '[site]'; echo 'address = "route"'; echo 'lan = ["eth1"]'; } >"$file"
}
# start N: site N's agent in its gateway, in the background (its pid recorded).
declare -A since   # site number → the size of its log when its agent was last started
start() {
  since[$1]=$(stat -c %s "$work/s$1.log" 2>/dev/null || echo 0)
  ip netns exec "$(gw "$1")" "$isthmus" up --foreground --config "$cfg" --site "s$1" --interval 3600 </dev/null >>"$work/s$1.log" 2>&1 &
  agent[$1]=$!
}
# registered N...: waits until each site's agent has registered. An agent waits for a registry that does not answer
# at start (as for a later outage), so one that ended before registering is a failure.
registered() {
  local n end
  for n in "$@"; do
    end=$(( ${EPOCHREALTIME/./} + 120000000 ))
    until tail -c +$(( ${since[$n]} + 1 )) "$work/s$n.log" | grep -q "site s$n registered at"; do
      if ! kill -0 "${agent[$n]}" 2>/dev/null; then
        echo "FAIL s$n's agent ended before registering"; say_log "$n"; return 1
      fi
      [ "${EPOCHREALTIME/./}" -lt "$end" ] || { echo "FAIL s$n's agent did not register in 120 s"; say_log "$n"; return 1; }
      sleep 0.2
    done
  done
}
# stop N SIGNAL: signals site N's agent and waits for it to end.
stop() { local q=${agent[$1]}; unset "agent[$1]"; kill "-$2" "$q"; wait "$q" 2>/dev/null; return 0; }
# ports N: the tunnel ports of site N's segment bridge, one line each: NAME up|down isolated-on|off.
ports() {
  ip -n "$(gw "$1")" -d -o link show master "br-$seg" 2>/dev/null | awk '
    { n = $2; sub(/:$/, "", n); sub(/@.*/, "", n); if (n == "eth1") next
      up = ($3 ~ /[<,]UP[,>]/) ? "up" : "down"; iso = (index($0, "isolated on") ? "isolated-on" : "isolated-off")
      print n, up, iso }' | sort
}
# expect_ports N ISOLATION PEER...: site N's ports are exactly a port to each PEER (by its name's suffix), each up
# with the given isolation.
expect_ports() {
  local n=$1 iso=$2; shift 2
  local want got
  want=$(for q in "$@"; do echo "s$q up $iso"; done | sort)
  got=$(ports "$n" | sed 's/^i[0-9a-f]\{4\}\.//' | sort)
  [ "$want" = "$got" ]
}
# kernel_gretap N PEER: site N's port to PEER is a kernel gretap device whose remote is the peer's underlay.
kernel_gretap() {
  local dev
  dev=$(ports "$1" | awk -v s="s$2" '{ n = $1; sub(/^i[0-9a-f]+\./, "", n); if (n == s) print $1 }')
  [ -n "$dev" ] && ip -n "$(gw "$1")" -d link show dev "$dev" | grep -q "gretap remote $(underlay "$2") local $(underlay "$1") "
}
# l2tp_sessions N: "IFNAME LOCAL PEER ENCAP" of each kernel L2TPv3 session in site N's gateway, from `ip l2tp show`.
l2tp_sessions() {
  local g; g=$(gw "$1")
  { ip netns exec "$g" ip l2tp show tunnel; echo "--"; ip netns exec "$g" ip l2tp show session; } | awk '
    /^--/ { s = 1; next }
    !s && /^Tunnel / { t = $2; sub(/,$/, "", t); enc[t] = $NF }
    !s && /^  From / { from[t] = $2; to[t] = $4 }
    s && /^Session / { st = $5 }
    s && /interface name:/ { print $3, from[st], to[st], enc[st] }' | sort
}
# kernel_l2tp N PEER...: site N's ports are l2tp_eth devices of kernel L2TPv3-over-IP sessions, one to each PEER,
# from N's underlay address to the peer's.
kernel_l2tp() {
  local n=$1 want got; shift
  want=$(for q in "$@"; do echo "s$q $(underlay "$n") $(underlay "$q") IP"; done | sort)
  got=$(l2tp_sessions "$n" | sed 's/^i[0-9a-f]\{4\}\.//' | sort)
  [ "$want" = "$got" ] || { echo "want: $want"; echo "got: $got"; return 1; }
  # Not a userspace tunnel: no TAP device and no process in the namespace but the agent.
  ! ip -n "$(gw "$n")" -d link show master "br-$seg" | grep -q 'tun type tap'
}
others() { local q; for q in $sites; do [ "$q" = "$1" ] || echo -n "$q "; done; }
# pings SIZE SITES...: every host of SITES reaches every other with one SIZE-byte DF ping (a second try allowed: an
# ARP reply can be slow under TCG); the failing pairs are printed.
pings() {
  local size=$1 a b bad=""; shift
  for a in "$@"; do for b in "$@"; do
    [ "$a" = "$b" ] && continue
    ip netns exec "$(lanhost "$a")" ping -n -q -c 1 -W 3 -M do -s "$size" "192.168.79.$b" >/dev/null 2>&1 ||
      ip netns exec "$(lanhost "$a")" ping -n -q -c 1 -W 3 -M do -s "$size" "192.168.79.$b" >/dev/null 2>&1 || bad="$bad $a→$b"
  done; done
  [ -z "$bad" ] || { echo "failing:$bad"; return 1; }
}
ping1() { ip netns exec "$(lanhost "$1")" ping -n -q -c 1 -W 1 "192.168.79.$2"; }
no_tunnels() {
  local g; g=$(gw "$1")
  [ -z "$(ip -n "$g" -o link show | awk '{ print $2 }' | grep '^i[0-9a-f]\{4\}\.')" ] || { ip -n "$g" -o link show; return 1; }
  [ -z "$(ip netns exec "$g" ip l2tp show tunnel 2>/dev/null)" ] || { ip netns exec "$g" ip l2tp show tunnel; return 1; }
}
# mark_logs, then applied_cleanly: no agent's apply failed since the mark (each retry costs a watch event or a drift
# check: a move must be applied in one go).
declare -A mark
mark_logs() { local i; for i in $sites; do mark[$i]=$(stat -c %s "$work/s$i.log" 2>/dev/null || echo 0); done; }
applied_cleanly() {
  local i out bad=0
  for i in $sites; do
    out=$(tail -c +$(( ${mark[$i]:-0} + 1 )) "$work/s$i.log" | grep -A3 'apply failed')
    [ -z "$out" ] || { echo "s$i:"; echo "$out" | cut -c1-400; bad=1; }
  done
  return $bad
}
all_clean() { local i; for i in $sites; do no_tunnels "$i" || { echo "on s$i"; return 1; }; done; }
status_ok() { ip netns exec "$(gw "$1")" "$isthmus" status --config "$cfg" --site "s$1"; }
peers_lack() { local k=$1 q; for q in $(others "$k"); do ports "$q" | grep -q "\.s$k " && return 1; done; return 0; }
say_log() { echo "     (s$1's log:)"; tail -15 "$work/s$1.log" | sed 's/^/     /'; }

# ------------------------------------------------------------------------------------------------ (a) gretap mesh
if [ "${PHASES:-mesh hub}" != hub ]; then
seg=pm cfg=$work/mesh.toml
fleet "$cfg" pm /fleet-p2p/mesh/ 'tunnel = "gretap"' 'dataplane = "kernel"'
echo "== (a) $cfg"; sed 's/^/   /' "$cfg"
ta=${EPOCHREALTIME/./}
for i in $sites; do start "$i"; done
registered $sites || fails=$((fails + 1))
meshed() { local q; for q in "$@"; do expect_ports "$q" isolated-on $(for r in "$@"; do [ "$r" = "$q" ] || echo "$r"; done) || return 1; done; }
if check "mesh: each site has an isolated port up to each of the 3 others" waitfor 900 meshed $sites; then
  echo "     (meshed $(elapsed "$ta") s after the agents started)"
else
  for i in $sites; do echo "     s$i: $(ports "$i" | tr '\n' ' ')"; done; say_log 1
fi
echo "== s1's ports"; ports 1 | sed 's/^/   /'; ip -n "$(gw 1)" -d link show dev "$(ports 1 | awk 'NR == 1 { print $1 }')" | sed 's/^/   /' 
all_gretap() { local a b; for a in $sites; do for b in $(others "$a"); do kernel_gretap "$a" "$b" || { echo "s$a → s$b"; return 1; }; done; done; }
check "mesh: every port is a kernel gretap device to its peer's underlay" all_gretap
check "mesh: no tunnel process (only the agent runs in s2's gateway)" sh -c "[ \"\$(ip netns pids $(gw 2))\" = ${agent[2]} ]"
check "mesh: every host pings every other" pings 56 $sites
check "mesh: 1472-byte DF pings cross" pings 1472 $sites
check "mesh: isthmus status on s2 exits 0 (healthy)" status_ok 2
# No loop: a quiet mesh receives next to nothing (a loop would be thousands of frames a second).
rx() { ip netns exec "$(gw 1)" sh -c 'for d in /sys/class/net/i*.s*; do cat $d/statistics/rx_packets; done' | awk '{ s += $1 } END { print s + 0 }'; }
r1=$(rx); sleep 2; r2=$(rx)
check "mesh: no loop (s1's ports got $((r2 - r1)) frames in 2 quiet seconds)" [ $((r2 - r1)) -lt 50 ]

# s3 moves: every peer's gretap device to it gets the new remote, s3's own devices the new local.
tm=${EPOCHREALTIME/./}
mark_logs
check "mesh: s3's gateway moves to $net.203" move 3 "$net.203"
if check "mesh: every tunnel to and from s3 follows (remote / local $net.203)" waitfor 300 all_gretap; then
  echo "     (followed $(elapsed "$tm") s after the move)"
else
  for i in $sites; do echo "     s$i: $(ip -n "$(gw "$i")" -d -o link show type gretap | grep -o 'i[0-9a-f]*\.s[0-9]*@[^:]*\|remote [0-9.]* local [0-9.]*' | tr '\n' ' ')"; done; say_log 3
fi
check "mesh: h1 pings h3 again" waitfor 150 ping1 1 3 && echo "     (pings resumed $(elapsed "$tm") s after the move)"
check "mesh: every host pings every other, 1472 bytes DF" pings 1472 $sites
check "mesh: the moved segment is still meshed" meshed $sites
check "mesh: every agent applied the move without a failure" applied_cleanly

tk=${EPOCHREALTIME/./}
stop 4 KILL
if check "mesh: s4's agent killed (SIGKILL): every peer drops its tunnel to s4 within the TTL ($ttl s) + 10 s" waitfor $(( (ttl + 10) * 5 )) peers_lack 4; then
  echo "     (gone at every peer $(elapsed "$tk") s after the kill)"
fi
check "mesh: the other three are still meshed" meshed 1 2 3
check "mesh: ... and ping each other" pings 56 1 2 3
check "mesh: s4's own tunnels outlive its killed agent" sh -c "[ \"\$(ip -n $(gw 4) -o link show master br-pm | grep -c 'i[0-9a-f]*\.s')\" = 3 ]"
check "mesh: isthmus down on s4 removes them" ip netns exec "$(gw 4)" "$isthmus" down --config "$cfg" --site s4
check "mesh: ... nothing of the segment left on s4" no_tunnels 4
start 4
registered 4 || fails=$((fails + 1))
check "mesh: s4 restarted: meshed again" waitfor 600 meshed $sites || say_log 4
check "mesh: h4 and h1 ping each other, 1472 bytes DF" pings 1472 1 4
for i in $sites; do stop "$i" TERM; done
check "mesh: SIGTERM: no tunnel left on any site" all_clean
check "mesh: ... and no segment bridge" sh -c "! ip -n $(gw 1) link show br-pm 2>/dev/null"
echo "== (a) took $(elapsed "$ta") s"
fi

# ------------------------------------------------------------------------------------------------ (b) L2TPv3/IP hub
seg=ph cfg=$work/hub.toml
fleet "$cfg" ph /fleet-p2p/hub/ 'tunnel = "l2tpv3"' 'encap = "ip"' 'cookies = true' 'dataplane = "kernel"'
echo "== (b) $cfg"; sed 's/^/   /' "$cfg"
tb=${EPOCHREALTIME/./}
for i in $sites; do start "$i"; done
registered $sites || fails=$((fails + 1))
hubbed() {
  local q
  expect_ports 1 isolated-off $(others 1) || return 1
  for q in $(others 1); do expect_ports "$q" isolated-off 1 || return 1; done
}
if check "hub: s1 has a port up to each spoke, each spoke one to s1, none isolated" waitfor 900 hubbed; then
  echo "     (converged $(elapsed "$tb") s after the agents started)"
else
  for i in $sites; do echo "     s$i: $(ports "$i" | tr '\n' ' ')"; done; say_log 1
fi
echo "== s1: ip l2tp show tunnel / session"; { ip netns exec "$(gw 1)" ip l2tp show tunnel; ip netns exec "$(gw 1)" ip l2tp show session; } | sed 's/^/   /'
check "hub: s1's ports are kernel L2TPv3/IP sessions (l2tp_eth), one to each spoke" kernel_l2tp 1 $(others 1)
spokes_l2tp() { local q; for q in $(others 1); do kernel_l2tp "$q" 1 || { echo "on s$q"; return 1; }; done; }
check "hub: each spoke's port is a kernel L2TPv3/IP session to s1" spokes_l2tp
check "hub: no tunnel process (only the agent runs in s1's gateway)" sh -c "[ \"\$(ip netns pids $(gw 1))\" = ${agent[1]} ]"
check "hub: every host pings every other (spoke to spoke through the hub)" pings 56 $sites
check "hub: 1472-byte DF pings cross" pings 1472 $sites
check "hub: isthmus status on s1 exits 0 (healthy)" status_ok 1
check "hub: isthmus status on s3 exits 0 (healthy)" status_ok 3

# The hub moves: each spoke's kernel tunnel to it is replaced (a kernel L2TP tunnel's addresses are fixed at its
# creation), and so is each of the hub's own.
tm=${EPOCHREALTIME/./}
mark_logs
check "hub: s1's gateway moves to $net.201" move 1 "$net.201"
all_l2tp() { kernel_l2tp 1 $(others 1) && spokes_l2tp; }
if check "hub: every kernel session to and from s1 follows ($net.201)" waitfor 300 all_l2tp; then
  echo "     (followed $(elapsed "$tm") s after the move)"
else
  for i in $sites; do echo "     s$i: $(l2tp_sessions "$i" | tr '\n' ' ')"; done; say_log 1
fi
check "hub: h2 pings h3 through the moved hub" waitfor 150 ping1 2 3 && echo "     (pings resumed $(elapsed "$tm") s after the move)"
check "hub: every host pings every other, 1472 bytes DF" pings 1472 $sites
check "hub: still a port to each spoke, none isolated" hubbed
check "hub: every agent replaced its kernel tunnels without a failure (a deleted tunnel's ids free again first)" applied_cleanly

tk=${EPOCHREALTIME/./}
stop 3 KILL
hub_lacks3() { expect_ports 1 isolated-off 2 4; }
if check "hub: s3's agent killed (SIGKILL): the hub drops its tunnel to s3 within the TTL ($ttl s) + 10 s" waitfor $(( (ttl + 10) * 5 )) hub_lacks3; then
  echo "     (gone $(elapsed "$tk") s after the kill)"
fi
check "hub: ... and its kernel session" kernel_l2tp 1 2 4
check "hub: h2 and h4 still ping each other through the hub" pings 56 2 4
check "hub: isthmus down on s3 removes its kernel tunnel and session" ip netns exec "$(gw 3)" "$isthmus" down --config "$cfg" --site s3
check "hub: ... ip l2tp show tunnel is empty on s3" no_tunnels 3
start 3
registered 3 || fails=$((fails + 1))
check "hub: s3 restarted: the hub has its port back" waitfor 600 hubbed || say_log 3
check "hub: h3 pings h1 and h4, 1472 bytes DF" pings 1472 3 1 4
for i in $sites; do stop "$i" TERM; done
check "hub: SIGTERM: no tunnel, no session left on any site (ip l2tp show tunnel empty)" all_clean
echo "== (b) took $(elapsed "$tb") s"

kill -TERM "$etcd_pid" 2>/dev/null; wait "$etcd_pid" 2>/dev/null; etcd_pid=
echo "== fleet-p2p took $(elapsed "$t0") s in all"
[ "$fails" = 0 ] && echo "fleet-p2p: every check passed" || echo "fleet-p2p: $fails check(s) failed"
exit $((fails > 0))
