#!/usr/bin/env bash
# L2TP/IPsec remote access to the Isthmus LNS ([l2tp.ipsec] with require = true), inside the QEMU guest: Linux
# clients built from the stack a desktop uses (strongSwan IKEv1 main mode with a PSK, ESP transport mode for L2TP,
# xl2tpd LAC, pppd), behind a masquerading NAT router, against `isthmus l2tp run` whose IKE side is a charon the agent
# loads over VICI.
#
#   cl1 192.168.1.2 ─┐
#                    br ── nat 192.168.1.1 | 203.0.113.1 (masquerade) ── 203.0.113.2 lns (charon + isthmus)
#   cl2 192.168.1.3 ─┘                                                    198.51.100.1 ── 198.51.100.2 cl3 (IKEv2, no NAT)
#
# Checks: the agent loads its IKEv1/IKEv2 connections and require's nft table; client 1's IKEv1 SA comes up through
# the NAT (NAT-T, ESP in UDP 4500), PPP comes up over L2TP inside it, ping; client 3 does the same with IKEv2 on the
# LNS's other address, without NAT; a cleartext SCCRQ to the LNS is dropped (nft counter, no tunnel, no answer);
# client 2 behind the same NAT as client 1 connects too, and both pass traffic at once; SIGTERM unloads every
# connection and the table.
# Prints one "ok"/"FAIL" line per check; exits non-zero if anything failed.
#
#   Tools/vm/isthmus-vm --timeout 400 -- sh -c 'ISTHMUS=.build/debug/isthmus Tools/scenarios/l2tp-ipsec.sh'
#
# Each charon and xl2tpd gets a private /run (a mount namespace with the instance's directory bound over it):
# charon hard-codes /var/run/charon.pid, xl2tpd and pppd keep pid files there too (as in
# /work/shared/recipes/ipsec-in-qemu). The LNS's charon puts its VICI socket in the work directory, where the agent
# (which runs without the bind) finds it through `vici = ...`.
set -u
here=$(cd "$(dirname "$0")/../.." && pwd)
isthmus=${ISTHMUS:-$here/.build/debug/isthmus}
work=$(mktemp -d /tmp/l2tp-ipsec.XXXXXX)
p=l2ip$$
ns_lns=${p}s ns_nat=${p}n ns_c1=${p}1 ns_c2=${p}2 ns_c3=${p}3
agent=ipsec$$
psk="isthmus-l2tp-ipsec-test-key"
. "$here/Tools/scenarios/lib/checks.sh"   # ok, fail, check, waitfor; fails=0
pids=()
cleanup() {
  local q
  for q in "${pids[@]}"; do kill "$q" 2>/dev/null; done
  sleep 0.5
  for n in "$ns_lns" "$ns_nat" "$ns_c1" "$ns_c2" "$ns_c3"; do
    for q in $(ip netns pids "$n" 2>/dev/null); do kill -9 "$q" 2>/dev/null; done
    ip netns del "$n" 2>/dev/null
  done
  [ -n "${KEEP:-}" ] || rm -rf "$work"
}
trap cleanup EXIT

modprobe -a aes_generic ctr gcm ghash_generic seqiv echainiv authenc cbc sha256_generic esp4 xfrm_user xfrm_algo veth \
  l2tp_ppp l2tp_netlink ppp_generic ppp_async nft_chain_nat nft_masq bridge 2>/dev/null
modprobe drbg; modprobe jitterentropy_rng 2>/dev/null   # (jitterentropy does not load under TCG: harmless)
[ -x "$isthmus" ] || { echo "FAIL no isthmus binary at $isthmus (set ISTHMUS)"; exit 1; }

# ------------------------------------------------------------------------------------------------ the network
for n in "$ns_lns" "$ns_nat" "$ns_c1" "$ns_c2" "$ns_c3"; do ip netns add "$n" && ip -n "$n" link set lo up || exit 1; done
ip -n "$ns_nat" link add lanbr type bridge && ip -n "$ns_nat" addr add 192.168.1.1/24 dev lanbr && ip -n "$ns_nat" link set lanbr up &&
ip link add c0 netns "$ns_c1" type veth peer name b1 netns "$ns_nat" &&
ip link add c0 netns "$ns_c2" type veth peer name b2 netns "$ns_nat" &&
ip -n "$ns_nat" link set b1 master lanbr && ip -n "$ns_nat" link set b2 master lanbr &&
ip -n "$ns_nat" link set b1 up && ip -n "$ns_nat" link set b2 up &&
ip -n "$ns_c1" addr add 192.168.1.2/24 dev c0 && ip -n "$ns_c2" addr add 192.168.1.3/24 dev c0 &&
ip -n "$ns_c1" link set c0 up && ip -n "$ns_c2" link set c0 up &&
ip -n "$ns_c1" route add default via 192.168.1.1 && ip -n "$ns_c2" route add default via 192.168.1.1 &&
ip link add n1 netns "$ns_nat" type veth peer name s0 netns "$ns_lns" &&
ip -n "$ns_nat" addr add 203.0.113.1/24 dev n1 && ip -n "$ns_nat" link set n1 up &&
ip -n "$ns_lns" addr add 203.0.113.2/24 dev s0 && ip -n "$ns_lns" link set s0 up &&
ip link add s1 netns "$ns_lns" type veth peer name c0 netns "$ns_c3" &&
ip -n "$ns_lns" addr add 198.51.100.1/24 dev s1 && ip -n "$ns_lns" link set s1 up &&
ip -n "$ns_c3" addr add 198.51.100.2/24 dev c0 && ip -n "$ns_c3" link set c0 up &&
ip netns exec "$ns_nat" sysctl -qw net.ipv4.ip_forward=1 &&
ip netns exec "$ns_nat" nft -f - <<'NFT' || { echo "FAIL setup"; exit 1; }
table ip nat {
  chain post { type nat hook postrouting priority srcnat; oifname "n1" masquerade; }
}
NFT

# nsx NS DIR CMD...: CMD in NS with DIR/run bound over /run (its own charon.pid, VICI socket, xl2tpd and pppd files).
nsx() { local ns=$1 dir=$2; shift 2; mkdir -p "$dir/run"; ip netns exec "$ns" unshare -m sh -c 'mount --bind "$0" /run && exec "$@"' "$dir/run" "$@"; }
# strongswan.conf for an instance: a file log, the VICI socket where we say, then the system's plugin settings.
sconf() {
  cat >"$1/strongswan.conf" <<EOF
charon {
  filelog {
    log {
      path = $1/charon.log
      time_format = %T
      flush_line = yes
      default = 1
      ike = 2
      knl = 1
    }
  }
  plugins {
    vici {
      socket = unix://$2
    }
  }
}
swanctl {
  load = pem pkcs1 x509 revocation constraints pubkey openssl random
  socket = unix://$2
}
include /etc/strongswan.conf
EOF
}
# start_charon NS DIR VICI: charon in NS; waits for its socket.
start_charon() {
  STRONGSWAN_CONF=$2/strongswan.conf nsx "$1" "$2" /usr/lib/ipsec/charon >"$2/charon.out" 2>&1 & pids+=($!)
  waitfor 150 test -S "$3"
}

# ------------------------------------------------------------------------------------------------ the LNS
L=$work/lns
mkdir -p "$L"
sconf "$L" "$L/charon.vici"
check "LNS: charon runs (VICI at $L/charon.vici)" start_charon "$ns_lns" "$L" "$L/charon.vici" || { cat "$L/charon.out"; exit 1; }
printf '"alice" * "alice pw" *\n"bob" * "bob pw" *\n"carol" * "carol pw" *\n' >"$L/chap-secrets"; chmod 600 "$L/chap-secrets"
cat >"$L/$agent.toml" <<EOF
[l2tp]
version = 2
host_name = "isthmus-lns"
listen = ["203.0.113.2", "198.51.100.1"]
hello = 5
status = "$L/status.json"

[l2tp.ppp]
auth = "chap"
local_address = "10.9.0.1"
pool = "10.9.0.10-10.9.0.20"
secrets = "$L/chap-secrets"

[l2tp.ipsec]
psk = "$psk"
require = true
vici = "$L/charon.vici"
EOF
ip netns exec "$ns_lns" "$isthmus" l2tp run --config "$L/$agent.toml" >"$L/log" 2>&1 & pids+=($!); lnspid=$!
check "LNS: the agent loads its IKEv1 and IKEv2 connections into charon and require's nft table" \
  waitfor 150 grep -q "ipsec: loaded isthmus-l2tp-$agent-ikev1, isthmus-l2tp-$agent-ikev2 into charon.*L2TP without IPsec is dropped" "$L/log" ||
  { cat "$L/log"; exit 1; }
check "LNS: swanctl --list-conns shows both (transport mode, udp/1701)" \
  sh -c "STRONGSWAN_CONF=$L/strongswan.conf swanctl --list-conns --uri unix://$L/charon.vici | tee /dev/stderr | grep -q 'isthmus-l2tp-$agent-ikev1: IKEv1' &&
         STRONGSWAN_CONF=$L/strongswan.conf swanctl --list-conns --uri unix://$L/charon.vici | grep -q 'isthmus-l2tp-$agent-ikev2: IKEv2'"
check "LNS: the nft table drops L2TP without IPsec" sh -c "ip netns exec $ns_lns nft list table inet isthmus-l2tp-$agent | grep -q 'udp dport 1701 meta ipsec missing'"

# ------------------------------------------------------------------------------------------------ clients
# client NS DIR USER VERSION SERVER: its charon (IKEv1 main mode or IKEv2, PSK, ESP transport for udp/1701) and
# xl2tpd LAC.
client() {
  local ns=$1 d=$2 user=$3 version=$4 server=$5
  mkdir -p "$d/run/xl2tpd" "$d/etc-ppp"
  sconf "$d" "$d/charon.vici"
  cat >"$d/swanctl.conf" <<EOF
connections {
  l2tp {
    version = $version
    remote_addrs = $server
    proposals = $( [ "$version" = 1 ] && echo aes128-sha256-modp2048 || echo aes256-sha256-modp2048 )
    local { auth = psk }
    remote {
      auth = psk
      id = $server
    }
    children {
      l2tp {
        mode = transport
        local_ts = dynamic[udp/1701]
        remote_ts = dynamic[udp/1701]
        esp_proposals = $( [ "$version" = 1 ] && echo aes128gcm16 || echo aes256gcm16 )
        rekey_time = ${REKEY:-1h}
      }
    }
  }
}
secrets {
  ike-lns {
    id = $server
    secret = "$psk"
  }
}
EOF
  start_charon "$ns" "$d" "$d/charon.vici" || return 1
  STRONGSWAN_CONF=$d/strongswan.conf SWANCTL_DIR=$d swanctl --load-all --uri "unix://$d/charon.vici" 2>&1 | grep -v '^opening directory'
  printf '[global]\nport = 1701\n\n[lac vpn]\nlns = %s\nname = %s\nlength bit = yes\nredial = no\nautodial = no\npppoptfile = %s\n' \
    "$server" "$user" "$d/etc-ppp/options.lac" >"$d/xl2tpd.conf"
  echo "# empty" >"$d/etc-ppp/options"
  printf '"%s" * "%s pw" *\n' "$user" "$user" >"$d/etc-ppp/chap-secrets"; chmod 600 "$d/etc-ppp/chap-secrets"
  cp "$d/etc-ppp/chap-secrets" "$d/etc-ppp/pap-secrets"
  printf '%s\n' "logfd 2" "noauth" "noipdefault" "ipcp-accept-local" "ipcp-accept-remote" "refuse-eap" "noccp" \
    "nodefaultroute" "mtu 1280" "mru 1280" "lcp-echo-interval 0" >"$d/etc-ppp/options.lac"
}
# up NS DIR: IPsec first (so L2TP never leaves in clear), then the L2TP call.
ipsec_up() { STRONGSWAN_CONF=$2/strongswan.conf swanctl --initiate --child l2tp --uri "unix://$2/charon.vici" --timeout 60; }
l2tp_up() {
  ip netns exec "$1" unshare -m sh -c 'mount --bind "$0/run" /run && mount --bind "$0/etc-ppp" /etc/ppp &&
      exec xl2tpd -D -c "$0/xl2tpd.conf" -s /dev/null -p "$0/xl2tpd.pid" -C "$0/l2tp-control"' "$2" >"$2/xl2tpd.log" 2>&1 & pids+=($!)
  waitfor 100 test -p "$2/l2tp-control" || return 1
  sleep 0.3
  echo "c ${3:-vpn}" >"$2/l2tp-control"
}
ppp_addr() { ip -n "$1" -4 -o addr show dev ppp0 2>/dev/null | awk '$3 == "inet" { print $4; exit }'; }

one_client() {   # NS DIR USER N VERSION SERVER
  local ns=$1 d=$2 user=$3 n=$4 version=$5 server=$6 a
  check "client $n: charon and swanctl loaded (IKEv$version)" client "$ns" "$d" "$user" "$version" "$server" || return
  check "client $n: IKEv$version + ESP transport SA up with $server" ipsec_up "$ns" "$d" || { tail -30 "$d/charon.log"; tail -30 "$L/charon.log"; return; }
  if [ "$server" = 203.0.113.2 ]; then
    check "client $n: NAT-T: the SA is ESP in UDP (encap on the LNS's state)" \
      sh -c "ip -n $ns_lns xfrm state | grep -q 'encap type espinudp sport 4500 dport [0-9]'"
  fi
  check "client $n: the LNS's charon used its IKEv$version connection" waitfor 50 grep -q "IKE_SA isthmus-l2tp-$agent-ikev$version\[[0-9]*\] established" "$L/charon.log"
  check "client $n: L2TP call placed (xl2tpd: c vpn)" l2tp_up "$ns" "$d"
  check "client $n: PPP up over L2TP inside IPsec (ppp0 with a pool address)" waitfor 300 sh -c "ip -n $ns -4 -o addr show dev ppp0 | grep -q 'inet 10.9.0.[12][0-9] peer 10.9.0.1/32'" ||
    { tail -20 "$d/xl2tpd.log"; grep -v -E '^(rcvd|sent) \[' "$L/log" | tail -20; return; }
  a=$(ppp_addr "$ns"); echo "   client $n: ppp0 $a"
  check "client $n: ping the LNS (10.9.0.1) over PPP" ip netns exec "$ns" ping -c 3 -i 0.3 -W 3 10.9.0.1
  check "client $n: ping from the LNS to $a" ip netns exec "$ns_lns" ping -c 2 -i 0.3 -W 3 "$a"
}

# Client 1 rekeys its CHILD_SA every 30 s (IKEv1 quick mode): its mark, and so its port on the LNS, must stay.
REKEY=30s one_client "$ns_c1" "$work/c1" alice 1 1 203.0.113.2
one_client "$ns_c3" "$work/c3" bob 3 2 198.51.100.1
check "the client's L2TP reached the LNS only inside ESP (the nft drop counter stayed 0)" \
  sh -c "ip netns exec $ns_lns nft list chain inet isthmus-l2tp-$agent input | grep -q 'counter packets 0 '"
# A second client behind the same NAT (its own private address, the NAT's public address and port 1701 again inside
# ESP): both stay up and pass traffic at once, the LNS seeing each at the NAT's address with a port of its own (the
# agent's nft table turns each CHILD_SA's mark into a source port; docs/L2TP.md, "Several clients behind one NAT").
one_client "$ns_c2" "$work/c2" carol 2 1 203.0.113.2
both_up() {
  local a1 a2; a1=$(ppp_addr "$ns_c1"); a2=$(ppp_addr "$ns_c2")
  [ -n "$a1" ] && [ -n "$a2" ] && [ "$a1" != "$a2" ] &&
    ip netns exec "$ns_c1" ping -c 3 -i 0.3 -W 3 10.9.0.1 && ip netns exec "$ns_c2" ping -c 3 -i 0.3 -W 3 10.9.0.1 &&
    ip netns exec "$ns_lns" ping -c 2 -i 0.3 -W 3 "${a1%/*}" && ip netns exec "$ns_lns" ping -c 2 -i 0.3 -W 3 "${a2%/*}"
}
check "both clients behind the NAT up at once, each with its own address, both pass traffic both ways" both_up
check "the LNS has two tunnels from the NAT's address, at two different ports" \
  sh -c "$isthmus l2tp show --status $L/status.json | tee /dev/stderr | grep -o '203\.0\.113\.1:[0-9]*' | sort -u | wc -l | grep -qx 2"
check "the LNS's charon has two CHILD_SAs from the NAT's address, each with a mark of its own" \
  sh -c "[ \$(ip -n $ns_lns xfrm policy | grep -c 'dst 203.0.113.1/32') -ge 2 ] && ip -n $ns_lns xfrm policy | grep -A6 'dst 203.0.113.1/32' | grep -o 'mark 0x[0-9a-f]*' | sort -u | wc -l | grep -qx 2"
check "the first client still passes traffic after the second came (five more pings)" ip netns exec "$ns_c1" ping -c 5 -i 0.3 -W 3 10.9.0.1
ports=$("$isthmus" l2tp show --status "$L/status.json" | grep -o '203\.0\.113\.1:[0-9]*' | sort -u | tr '\n' ' ')
check "client 1's CHILD_SA rekeyed (a second one established)" \
  waitfor 120 sh -c "[ \$(grep -c 'CHILD_SA l2tp{[0-9]*} established' $work/c1/charon.log) -ge 2 ]"
check "after the rekey both clients pass traffic on the same tunnels, at the same ports ($ports)" \
  sh -c "sleep 2; ip netns exec $ns_c1 ping -c 3 -i 0.3 -W 3 10.9.0.1 && ip netns exec $ns_c2 ping -c 3 -i 0.3 -W 3 10.9.0.1 &&
         [ \"\$($isthmus l2tp show --status $L/status.json | grep -o '203\.0\.113\.1:[0-9]*' | sort -u | tr '\n' ' ')\" = '$ports' ]"
check "no reply of an IPsec client's flow left without its SA (the guard's counter stayed 0)" \
  sh -c "ip netns exec $ns_lns nft list chain inet isthmus-l2tp-$agent demux-guard | grep -q 'counter packets 0 '"
echo "== isthmus l2tp show (LNS)"; "$isthmus" l2tp show --status "$L/status.json" 2>&1 | sed 's/^/   /'
echo "== swanctl --list-sas (LNS)"; STRONGSWAN_CONF=$L/strongswan.conf swanctl --list-sas --uri "unix://$L/charon.vici" 2>&1 | sed 's/^/   /' | head -30

# A cleartext SCCRQ (xl2tpd in the NAT's namespace, no IPsec there): dropped before the agent sees it.
N=$work/nat; mkdir -p "$N/run" "$N/etc-ppp"
printf '[global]\nport = 1701\n\n[lac clear]\nlns = 203.0.113.2\nname = alice\nredial = no\nautodial = no\npppoptfile = %s\n' "$N/etc-ppp/options" >"$N/xl2tpd.conf"
echo "noauth" >"$N/etc-ppp/options"; : >"$N/etc-ppp/chap-secrets"; : >"$N/etc-ppp/pap-secrets"
tunnels_before=$("$isthmus" l2tp show --status "$L/status.json" 2>/dev/null | grep -c 'established\|wait')
check "a cleartext LAC (xl2tpd) in the NAT's namespace dials the LNS" l2tp_up "$ns_nat" "$N" clear
check "require: the cleartext SCCRQ is dropped by the LNS's nft table (counter > 0)" \
  waitfor 100 sh -c "ip netns exec $ns_lns nft list chain inet isthmus-l2tp-$agent input | grep -q 'counter packets [1-9]'"
sleep 2
check "require: xl2tpd got no answer (no tunnel established) and the LNS made no tunnel for it" \
  sh -c "! grep -q 'Connection established' '$N/xl2tpd.log' && [ \$($isthmus l2tp show --status $L/status.json | grep -c 'established\|wait') = $tunnels_before ]"

# SIGTERM: connections, key and table go.
kill "$lnspid"
check "the LNS exits on SIGTERM" waitfor 100 sh -c "! kill -0 $lnspid"
check "charon has no isthmus connection left, and no shared key" \
  sh -c "! STRONGSWAN_CONF=$L/strongswan.conf swanctl --list-conns --uri unix://$L/charon.vici | grep -q isthmus-l2tp &&
         ! STRONGSWAN_CONF=$L/strongswan.conf swanctl --list-creds --uri unix://$L/charon.vici 2>/dev/null | grep -q isthmus-l2tp"
check "the nft table is gone" sh -c "! ip netns exec $ns_lns nft list table inet isthmus-l2tp-$agent"

if [ "$fails" = 0 ]; then echo "every check passed"; else
  echo "== cleartext LAC"; tail -15 "$N/xl2tpd.log" | sed 's/^/   /'
  ip netns exec "$ns_lns" nft list table inet "isthmus-l2tp-$agent" 2>&1 | sed 's/^/   /'
  echo "== LNS log"; grep -v -E '^(rcvd|sent) \[' "$L/log" | sed 's/^/   /' | tail -30
  echo "== LNS charon"; grep -E 'IKE_SA|CHILD_SA|received|selected|no matching|failed|error|NAT' "$L/charon.log" | sed 's/^/   /' | tail -30
  echo "$fails check(s) FAILED"; exit 1
fi
