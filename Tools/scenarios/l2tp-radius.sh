#!/usr/bin/env bash
# RADIUS for the Isthmus LNS ([l2tp.ppp] auth = "radius", [l2tp.radius]) against FreeRADIUS, inside the QEMU guest.
# Three namespaces: the LNS (10.98.0.1 towards the LAC, 10.97.0.1 towards RADIUS), an xl2tpd LAC (10.98.0.2; its
# pppd authenticates with CHAP) and FreeRADIUS 3 (10.97.0.2) with a configuration this script writes in its work
# directory under /tmp (never /etc): a client entry for the LNS, users alice (Framed-IP-Address 10.9.0.77), bob (no
# address: the LNS's pool), carol, dave and erin, and the detail module writing accounting. Checks:
#  1. alice authenticates through RADIUS and gets 10.9.0.77 (not the pool's address, which goes back to the pool);
#     ping both ways.
#  2. bob, to whom RADIUS gives no address, gets the pool's first address (the pool is the fallback only).
#  3. carol with a wrong password: rejected; the LNS logs why its pppd ended and FreeRADIUS logs "Login incorrect".
#     dave's pppd offers only MS-CHAPv2, erin's only PAP: both authenticated by RADIUS, pool addresses, ping.
#     An Interim-Update for alice (her Access-Accept has Acct-Interim-Interval = 60, the plugin's minimum).
#  4. alice's and bob's tunnels dropped by the LAC: FreeRADIUS's detail file has Accounting Start and Stop for both,
#     the Stops with session time and non-zero input and output octets.
#  5. SIGTERM: the agent removes the files it wrote for pppd's radius plugin.
# Prints one "ok"/"FAIL" line per check; exits non-zero if anything failed.
#
#   Tools/vm/isthmus-vm --timeout 300 -- sh -c 'modprobe -a l2tp_ppp l2tp_netlink ppp_generic veth &&
#       ISTHMUS=.build/debug/isthmus Tools/scenarios/l2tp-radius.sh'
#
# How the LAC side is run (xl2tpd in its namespace, /etc/ppp and /run bound over with its own copies, the control
# pipe driven synchronously): as in Tools/scenarios/l2tp-ppp.sh, whose header explains each workaround.
set -u
here=$(cd "$(dirname "$0")/../.." && pwd)
isthmus=${ISTHMUS:-$here/.build/debug/isthmus}
work=$(mktemp -d /tmp/l2tp-radius.XXXXXX)
ns_lns=l2rd$$n ns_lac=l2rd$$c ns_rad=l2rd$$r
agent=radius$$                    # the agent's name: its files are /run/isthmus/l2tp/$agent.*
secret="tunnel secret"
radius_secret="radius-s3cret"
. "$here/Tools/scenarios/lib/checks.sh"   # ok, fail, check, waitfor; fails=0
pids=()
cleanup() {
  local p
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
  sleep 0.5
  for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null; done
  for p in $(ip netns pids "$ns_lns" 2>/dev/null) $(ip netns pids "$ns_lac" 2>/dev/null) $(ip netns pids "$ns_rad" 2>/dev/null); do
    kill -9 "$p" 2>/dev/null
  done
  ip netns del "$ns_lns" 2>/dev/null; ip netns del "$ns_lac" 2>/dev/null; ip netns del "$ns_rad" 2>/dev/null
  [ -n "${KEEP:-}" ] || rm -rf "$work"
}
trap cleanup EXIT

[ -x "$isthmus" ] || { echo "FAIL no isthmus binary at $isthmus (set ISTHMUS)"; exit 1; }
[ -e /dev/ppp ] || { echo "FAIL /dev/ppp missing (modprobe -a l2tp_ppp l2tp_netlink ppp_generic veth)"; exit 1; }
command -v freeradius >/dev/null || { echo "FAIL freeradius missing (apt-get install freeradius)"; exit 1; }
ip netns add "$ns_lns" && ip netns add "$ns_lac" && ip netns add "$ns_rad" &&
ip link add vn netns "$ns_lns" type veth peer name vc netns "$ns_lac" &&
ip link add vr netns "$ns_lns" type veth peer name vs netns "$ns_rad" &&
ip -n "$ns_lns" addr add 10.98.0.1/24 dev vn && ip -n "$ns_lac" addr add 10.98.0.2/24 dev vc &&
ip -n "$ns_lns" addr add 10.97.0.1/24 dev vr && ip -n "$ns_rad" addr add 10.97.0.2/24 dev vs &&
for ns in "$ns_lns" "$ns_lac" "$ns_rad"; do ip -n "$ns" link set lo up || exit 1; done &&
ip -n "$ns_lns" link set vn up && ip -n "$ns_lac" link set vc up && ip -n "$ns_lns" link set vr up && ip -n "$ns_rad" link set vs up ||
  { echo "FAIL setup"; exit 1; }

# ------------------------------------------------------------------------------------------------ FreeRADIUS
# A FreeRADIUS 3 configuration of our own: only the modules this needs, everything it writes under $R.
R=$work/raddb
mkdir -p "$R/radacct" "$R/run" "$R/log"
: >"$R/dictionary"   # the local dictionary it loads after the system's
cat >"$R/radiusd.conf" <<EOF
prefix = /usr
exec_prefix = /usr
sysconfdir = /etc
localstatedir = /var
sbindir = /usr/sbin
logdir = $R/log
raddbdir = $R
radacctdir = $R/radacct
name = freeradius
confdir = $R
modconfdir = $R
run_dir = $R/run
db_dir = $R
libdir = /usr/lib/freeradius
pidfile = $R/run/freeradius.pid
max_request_time = 30
cleanup_delay = 5
max_requests = 1024
hostname_lookups = no
log {
  destination = stdout
  auth = yes
}
security {
  allow_core_dumps = no
  max_attributes = 200
  reject_delay = 0
  status_server = no
}
thread pool {
  start_servers = 1
  max_servers = 4
  min_spare_servers = 1
  max_spare_servers = 2
  max_requests_per_server = 0
}
client isthmus-lns {
  ipaddr = 10.97.0.1
  secret = $radius_secret
}
modules {
  pap {
  }
  chap {
  }
  mschap {
  }
  files {
    filename = $R/users
  }
  detail {
    filename = $R/radacct/detail
    escape_filenames = no
    permissions = 0600
    header = "%t"
  }
}
server default {
  listen {
    type = auth
    ipaddr = 10.97.0.2
    port = 1812
  }
  listen {
    type = acct
    ipaddr = 10.97.0.2
    port = 1813
  }
  authorize {
    chap
    mschap
    files
    pap
  }
  authenticate {
    Auth-Type PAP {
      pap
    }
    Auth-Type CHAP {
      chap
    }
    Auth-Type MS-CHAP {
      mschap
    }
  }
  accounting {
    detail
  }
}
EOF
cat >"$R/users" <<'EOF'
alice	Cleartext-Password := "alice pw"
	Service-Type = Framed-User,
	Framed-Protocol = PPP,
	Framed-IP-Address = 10.9.0.77,
	Acct-Interim-Interval = 60

bob	Cleartext-Password := "bob pw"
	Service-Type = Framed-User,
	Framed-Protocol = PPP

carol	Cleartext-Password := "carol pw"
	Service-Type = Framed-User,
	Framed-Protocol = PPP

dave	Cleartext-Password := "dave pw"
	Service-Type = Framed-User,
	Framed-Protocol = PPP

erin	Cleartext-Password := "erin pw"
	Service-Type = Framed-User,
	Framed-Protocol = PPP
EOF
ip netns exec "$ns_rad" freeradius -X -d "$R" >"$work/radius.log" 2>&1 & pids+=($!)
check "FreeRADIUS runs in its namespace with the test's configuration (-X -d $R)" waitfor 150 grep -q "Ready to process requests" "$work/radius.log" ||
  { tail -30 "$work/radius.log"; exit 1; }

# ------------------------------------------------------------------------------------------------ the LNS
L=$work/lns
mkdir -p "$L"
cat >"$L/$agent.toml" <<EOF
[l2tp]
version = 2
host_name = "isthmus-lns"
listen = "10.98.0.1"
secret = "$secret"
hello = 2
status = "$L/status.json"

[l2tp.ppp]
auth = "radius"
local_address = "10.9.0.1"
pool = "10.9.0.10-10.9.0.20"
options = ["debug"]

[l2tp.radius]
servers = ["10.97.0.2"]
secret = "$radius_secret"
nas_identifier = "isthmus-lns"
timeout = 2
retries = 3
EOF
ip netns exec "$ns_lns" "$isthmus" l2tp run --config "$L/$agent.toml" >"$L/log" 2>&1 & pids+=($!); lnspid=$!
check "LNS: isthmus l2tp run starts" waitfor 100 grep -q "listening on 10.98.0.1:1701" "$L/log" || { cat "$L/log"; exit 1; }
rdir=/run/isthmus/l2tp/$agent.radius
check "LNS: pppd's radius plugin configuration in the agent's own directory ($rdir)" \
  sh -c "grep -q '^authserver 10.97.0.2:1812$' $rdir/radiusclient.conf && grep -q '^acctserver 10.97.0.2:1813$' $rdir/radiusclient.conf &&
         grep -q '^10.97.0.2 $radius_secret$' $rdir/servers && [ \$(stat -c %a $rdir/servers) = 600 ] && grep -q Framed-IP-Address $rdir/dictionary"

# ------------------------------------------------------------------------------------------------ the LAC
A=$work/lac
# One xl2tpd per user, each from its own UDP port (1701 + n): one xl2tpd with several [lac] sections to one LNS opens
# a connected socket per tunnel with the same addresses and ports, and the kernel delivers every tunnel's data to
# one of them (l2tp-ppp.sh: "one LAC process with CALLS [lac] sections does NOT carry data in kernel mode").
# alice, bob, carol offer CHAP (MD5); dave only MS-CHAPv2; erin only PAP: what each offers is what RADIUS checks.
# carol's password here is not the one RADIUS has.
base=("logfd 2" "debug" "noauth" "noipdefault" "refuse-eap" "noccp" "nodefaultroute" "lcp-echo-interval 0")
n=0
for user in alice bob carol dave erin; do
  d=$A/$user; n=$((n + 1))
  mkdir -p "$d/etc-ppp" "$d/run"
  printf '[global]\nport = %d\n\n[lac %s]\nlns = 10.98.0.1\nhostname = lac-%s\nchallenge = yes\nname = %s\nredial = no\nautodial = no\nppp debug = yes\npppoptfile = %s\nlength bit = yes\n' \
    $((1701 + n)) "$user" "$user" "$user" "$d/etc-ppp/options.lac" >"$d/xl2tpd.conf"
  printf '* * %s\n' "$secret" >"$d/l2tp-secrets"; chmod 600 "$d/l2tp-secrets"
  echo "# empty: replaces Debian's /etc/ppp/options for this LAC only" >"$d/etc-ppp/options"
  pw="$user pw"; [ "$user" = carol ] && pw="not carol pw"
  printf '"%s" * "%s" *\n' "$user" "$pw" >"$d/etc-ppp/chap-secrets"
  cp "$d/etc-ppp/chap-secrets" "$d/etc-ppp/pap-secrets"; chmod 600 "$d/etc-ppp/chap-secrets" "$d/etc-ppp/pap-secrets"
  case $user in
    dave) printf '%s\n' "${base[@]}" "refuse-pap" "refuse-chap" "refuse-mschap" ;;
    erin) printf '%s\n' "${base[@]}" "refuse-chap" "refuse-mschap" "refuse-mschap-v2" ;;
    *) printf '%s\n' "${base[@]}" "refuse-pap" ;;
  esac >"$d/etc-ppp/options.lac"
  ip netns exec "$ns_lac" sh -c 'mount --bind "$1/etc-ppp" /etc/ppp && mount --bind "$1/run" /run &&
      exec xl2tpd -D -c "$1/xl2tpd.conf" -s "$1/l2tp-secrets" -p "$1/xl2tpd.pid" -C "$1/l2tp-control"' sh "$d" >"$d/log" 2>&1 &
  pids+=($!)
done
for user in alice bob carol dave erin; do
  check "LAC: xl2tpd for $user listens" waitfor 100 sh -c "[ -p '$A/$user/l2tp-control' ] && grep -q 'Listening on IP address' '$A/$user/log'" ||
    { cat "$A/$user/log"; exit 1; }
done
# ctl USER COMMAND: one synchronous command on USER's xl2tpd control pipe ("@RESULT-FIFO CMD"; it answers "00 OK").
ctl() {
  local d=$A/$1 res r; shift
  res=$d/res.$RANDOM
  mkfifo "$res" || return 1
  timeout 10 sh -c 'printf "%s\n" "@$1 $2" > "$3"' sh "$res" "$*" "$d/l2tp-control" || { rm -f "$res"; return 1; }
  r=$(timeout 10 cat "$res"); rm -f "$res"; echo "answer: $r"
  case "$r" in "00 OK"*) return 0 ;; esac; return 1
}
# The LAC's ppp interface whose local address is $1 (empty if none).
lac_dev_with() { ip -n "$ns_lac" -4 -o addr show 2>/dev/null | awk -v a="$1" '$3 == "inet" && $4 == a { print $2; exit }'; }
lac_has() { [ -n "$(lac_dev_with "$1")" ] && ip -n "$ns_lac" -4 -o addr show dev "$(lac_dev_with "$1")" | grep -q "peer ${2:-10.9.0.1}/32"; }
show() { "$isthmus" l2tp show --status "$L/status.json" 2>&1; }
# detail_block USER TYPE: FreeRADIUS's detail record for USER with Acct-Status-Type TYPE (records are paragraphs).
detail_block() { awk -v u="User-Name = \"$1\"" -v t="Acct-Status-Type = $2" 'BEGIN { RS = "" } index($0, u) && index($0, t) { print; exit }' "$R/radacct/detail" 2>/dev/null; }
detail_has() { [ -n "$(detail_block "$1" "$2")" ]; }
# attr USER TYPE NAME: the value of NAME in that record.
attr() { detail_block "$1" "$2" | awk -v n="$3" '$1 == n && $2 == "=" { print $3; exit }'; }
stop_counts() {   # USER: a Stop with session time and non-zero octets both ways
  local i o s
  i=$(attr "$1" Stop Acct-Input-Octets); o=$(attr "$1" Stop Acct-Output-Octets); s=$(attr "$1" Stop Acct-Session-Time)
  echo "$1: Acct-Session-Time=$s Acct-Input-Octets=$i Acct-Output-Octets=$o"
  [ -n "$s" ] && [ "${i:-0}" -gt 0 ] && [ "${o:-0}" -gt 0 ]
}

# 1. alice: RADIUS's Framed-IP-Address.
check "c alice" ctl alice "c alice"
check "alice: PPP up on the LAC with RADIUS's Framed-IP-Address 10.9.0.77 (peer 10.9.0.1)" waitfor 300 lac_has 10.9.0.77 ||
  { tail -40 "$L/log"; tail -30 "$A/alice/log"; tail -40 "$work/radius.log"; }
check "FreeRADIUS accepted alice (Access-Accept with Framed-IP-Address)" \
  sh -c "grep -q 'Login OK: \[alice\]' '$work/radius.log' && grep -q 'Sent Access-Accept' '$work/radius.log'"
check "LNS: the pool's address went back (the peer got 10.9.0.77, not the pool's 10.9.0.10)" \
  waitfor 50 grep -q "the peer got 10.9.0.77 (not the pool's 10.9.0.10, which is free again)" "$L/log"
check "l2tp show: the pool has all 11 addresses free" waitfor 25 sh -c "$isthmus l2tp show --status $L/status.json | grep -q 'pool 10.9.0.10-10.9.0.20: 11 free'"
check "ping LAC → LNS over alice's link, 1000 bytes" ip netns exec "$ns_lac" ping -c 3 -i 0.3 -W 3 -s 1000 10.9.0.1
check "ping LNS → alice (10.9.0.77)" ip netns exec "$ns_lns" ping -c 3 -i 0.3 -W 3 10.9.0.77
check "FreeRADIUS's detail: Accounting Start for alice with Framed-IP-Address 10.9.0.77" \
  waitfor 50 sh -c "[ \"\$(awk -v u='User-Name = \"alice\"' 'BEGIN { RS = \"\" } index(\$0, u) && index(\$0, \"Acct-Status-Type = Start\") && index(\$0, \"Framed-IP-Address = 10.9.0.77\")' '$R/radacct/detail')\" ]"

# 2. bob: no address from RADIUS, so the pool's.
check "c bob" ctl bob "c bob"
check "bob: PPP up with the pool's first address 10.9.0.10 (RADIUS gave none)" waitfor 300 lac_has 10.9.0.10
check "l2tp show: the pool has 10 free" waitfor 25 sh -c "$isthmus l2tp show --status $L/status.json | grep -q 'pool 10.9.0.10-10.9.0.20: 10 free'"
check "ping LAC → LNS over bob's link" ip netns exec "$ns_lac" ping -c 3 -i 0.3 -W 3 -I "$(lac_dev_with 10.9.0.10)" 10.9.0.1
echo "== isthmus l2tp show (LNS)"; show | sed 's/^/   /'

# 3. carol: wrong password.
check "c carol" ctl carol "c carol"
check "carol: LNS logs why the call ended (RADIUS rejected the peer)" \
  waitfor 200 grep -q "pppd [0-9]* ended: the peer failed to authenticate itself: the RADIUS server rejected it or none answered" "$L/log"
check "carol: the LNS's pppd says who failed" grep -q "Peer carol failed CHAP authentication" "$L/log"
check "carol: FreeRADIUS logs the reject and why (Login incorrect ... [carol])" \
  sh -c "grep -q 'Login incorrect (chap: .*): \[carol\]' '$work/radius.log' && grep -q 'Sent Access-Reject' '$work/radius.log'"
carol_left_nothing() { ! detail_has carol Start && [ -z "$(ip -n "$ns_lac" -4 -o addr show | grep -v -e ' lo ' -e ' vc ' -e 10.9.0.77 -e 10.9.0.10)" ]; }
check "carol: no address on the LAC, no Accounting Start" carol_left_nothing
grep -E "ended|carol|RADIUS|rc_" "$L/log" | grep -v -E '^(rcvd|sent) \[' | sed 's/^/   LNS: /' | tail -6

# dave (MS-CHAPv2 only) and erin (PAP only): RADIUS checks what the peer offered; both get pool addresses.
for user in dave erin; do check "c $user" ctl "$user" "c $user"; done
check "dave (MS-CHAPv2) and erin (PAP) up with pool addresses" waitfor 300 sh -c "[ \$(ip -n $ns_lac -4 -o addr show | grep -c 'inet 10.9.0.1[1-9] peer 10.9.0.1/32') = 2 ]"
check "FreeRADIUS checked dave's MS-CHAP2-Response and erin's User-Password (PAP), and let both in" \
  sh -c "grep -q 'MS-CHAP2-Response = ' '$work/radius.log' && grep -q 'Login OK: \[dave\]' '$work/radius.log' && grep -q 'User-Password = ' '$work/radius.log' && grep -q 'Login OK: \[erin\]' '$work/radius.log'"
check "ping LAC → LNS over dave's and erin's links" sh -c "for a in \$(ip -n $ns_lac -4 -o addr show | awk '\$4 ~ /^10.9.0.1[1-9]\$/ { print \$4 }'); do
    ip netns exec $ns_lac ping -c 2 -i 0.3 -W 3 -I \$a 10.9.0.1 || exit 1; done"
# Interim: alice's Access-Accept has Acct-Interim-Interval = 60 (the plugin's minimum): one Interim-Update comes
# 60 s after her Start, with her octets so far.
check "FreeRADIUS's detail: an Interim-Update for alice (Acct-Interim-Interval 60) with octets" \
  waitfor 450 sh -c "awk -v u='User-Name = \"alice\"' 'BEGIN { RS = \"\" } index(\$0, u) && index(\$0, \"Acct-Status-Type = Interim-Update\") && \$0 ~ /Acct-Input-Octets = [1-9]/ && \$0 ~ /Acct-Output-Octets = [1-9]/ { f = 1 } END { exit !f }' '$R/radacct/detail'"

# 4. Drop alice's and bob's tunnels (StopCCN): the LNS stops their pppds, which send Accounting-Stop.
check "d alice" ctl alice "d alice"
check "d bob" ctl bob "d bob"
check "d dave" ctl dave "d dave"
check "d erin" ctl erin "d erin"
check "alice's and bob's links are gone on the LAC" waitfor 150 sh -c "! ip -n $ns_lac -4 -o addr show | grep -q -e 10.9.0.77 -e 10.9.0.10"
for user in alice bob; do
  check "FreeRADIUS's detail: Accounting Stop for $user with session time and non-zero octets" waitfor 100 stop_counts "$user"
  stop_counts "$user" | sed 's/^/   /'
done
echo "== FreeRADIUS detail (alice's Stop)"; detail_block alice Stop | sed 's/^/   /'

# 5. SIGTERM: the agent's files go.
kill "$lnspid"
check "the LNS exits on SIGTERM" waitfor 100 sh -c "! kill -0 $lnspid"
check "the radius plugin's directory and files are gone" sh -c "[ ! -e $rdir ] && ! ls /run/isthmus/l2tp/$agent.* 2>/dev/null"

if [ "$fails" = 0 ]; then echo "every check passed"; else
  echo "== LNS log"; grep -v -E '^(rcvd|sent) \[' "$L/log" | sed 's/^/   /' | tail -40
  for user in alice bob carol dave erin; do
    echo "== LAC log ($user)"; grep -v -E '^(rcvd|sent) \[|^xl2tpd\[[0-9]+\]: "' "$A/$user/log" | sed 's/^/   /' | tail -12
  done
  echo "== FreeRADIUS detail"; sed 's/^/   /' "$R/radacct/detail" | tail -60
  echo "== LNS: authentication lines"; grep -a -i -E "chap|pap|auth|conf(rej|nak)" "$L/log" | sed 's/^/   /' | tail -40
  echo "== FreeRADIUS"; grep -E "Login|Sent|Received|ERROR|WARN" "$work/radius.log" | sed 's/^/   /' | tail -30
  echo "$fails check(s) FAILED"; exit 1
fi
