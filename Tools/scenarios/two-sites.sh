#!/usr/bin/env bash
# The two-site lab (examples/two-sites.toml: two gateways with a LAN of two hosts each, a router with a 1280-MTU link
# between them) with the segment's tunnel kind of your choice, plus what a lab's checks do not cover: the data plane
# `auto` picks, `up` idempotent, injected failures rolled back to the exact previous state, `down` leaving nothing.
# Prints one "ok"/"FAIL" line per check and the lab's check table; exits non-zero if anything failed. The integration
# tests run it inside the QEMU guest for the kernel's L2TPv3 and GRETAP.
#
#   Tools/scenarios/two-sites.sh KIND EXPECTED_DATAPLANE MSS [SEGMENT-LINE...]
#   e.g. Tools/scenarios/two-sites.sh gretap kernel 1202
#        Tools/scenarios/two-sites.sh l2tpv3 kernel 1190 'encap = "ip"'
set -u
kind=$1 plane=$2 mss=$3; shift 3
here=$(cd "$(dirname "$0")/../.." && pwd)
isthmus=${ISTHMUS:-$here/.build/debug/isthmus}
name=ts$$
work=$(mktemp -d /tmp/two-sites.XXXXXX)
lab=$work/lab.toml seg=$work/two-sites.segment.toml
fails=0

ok() { echo "ok   $*"; }
fail() { echo "FAIL $*"; fails=$((fails + 1)); }
check() { local what=$1; shift; if "$@" >"$work/out" 2>&1; then ok "$what"; else fail "$what"; sed 's/^/     /' "$work/out" | tail -20; fi; }
site() { local s=$1 verb=$2; shift 2; "$isthmus" -n "$name-gw$s" "$verb" --config "$seg" --site "$s" "$@"; }
cleanup() { "$isthmus" lab down "$lab" >/dev/null 2>&1; rm -rf "$work"; }
trap cleanup EXIT

# The lab, renamed (so it cannot collide with a demo run), its MSS check set to this kind's clamp; the segment.
sed -e "s/^name = \"two\"/name = \"$name\"/" -e "s/^expect = 1202/expect = $mss/" \
    -e "s/^name = \"TCP MSS clamped to 1280 - 38 - 40\"/name = \"TCP MSS clamped to $mss\"/" "$here/examples/two-sites.toml" >"$lab"
{ echo '[segment]'; echo 'name = "lab"'; echo "tunnel = \"$kind\""; echo 'underlay_mtu = 1280'
  for l in "$@"; do echo "$l"; done
  echo; echo '[sites.a]'; echo 'address = "10.0.1.2"'; echo 'lan = ["lan"]'
  echo; echo '[sites.b]'; echo 'address = "10.0.2.2"'; echo 'lan = ["lan"]'; } >"$seg"
echo "== $seg (the same file on both sites)"; sed 's/^/   /' "$seg"

check "lab up (isthmus up on both gateways)" "$isthmus" lab up "$lab"
echo "== isthmus plan --site a"; site a plan | sed 's/^/   /'
check "auto picks the $plane data plane" sh -c "'$isthmus' -n $name-gwa status --config $seg --site a | grep -q '$plane data plane'"
echo "== isthmus lab check"
if "$isthmus" lab check "$lab" | tee "$work/table" | sed 's/^/   /'; [ "${PIPESTATUS[0]}" = 0 ]; then ok "every lab check passed"; else fail "lab checks"; fi
echo "== isthmus status --site a"; site a status | sed 's/^/   /'
check "status: in sync" sh -c "'$isthmus' -n $name-gwa status --config $seg --site a --json | grep -q '\"in_sync\":true'"
check "second up changes nothing" sh -c "'$isthmus' -n $name-gwa up --config $seg --site a | grep -q 'no changes'"

check "down a" site a down
check "nothing of Isthmus's left on gwa" sh -c "! ip -n $name-gwa -o link show | grep -q 'isth-lab\|br-lab' && ! ip netns exec $name-gwa nft list tables | grep -q isthmus"
check "the user's LAN port is still on gwa, released" sh -c "ip -n $name-gwa -o link show lan | grep -qv master"
[ "$kind" = l2tpv3 ] && [ "$plane" = kernel ] && check "no kernel L2TP tunnel left on gwa" sh -c "[ -z \"\$(ip netns exec $name-gwa ip l2tp show tunnel)\" ]"
snap() {
  ip -n "$name-gwa" -o link show | sed 's/ link\/ether [^ ]*//; s/ brd [^ ]*//'
  ip netns exec "$name-gwa" nft list ruleset; ip netns exec "$name-gwa" ip l2tp show tunnel 2>/dev/null
}
snap >"$work/before"
for n in 1 2 4; do
  check "up failing before step $((n + 1)) is rolled back" sh -c "out=\$('$isthmus' -n $name-gwa up --config $seg --site a --fail-before $n 2>&1); st=\$?; echo \"\$out\"; [ \$st -ne 0 ] && echo \"\$out\" | grep -q 'rolled back'"
  snap >"$work/after"
  check "  ... and leaves gwa as it was" diff "$work/before" "$work/after"
done

check "lab down" "$isthmus" lab down "$lab"
check "no namespace of the lab left" sh -c "! ip netns list | grep -q '^$name-'"
check "no tunnel process of the lab left" sh -c "! ps -eo args | grep -v grep | grep -q -- '-n $name-gw'"

[ "$fails" = 0 ] && echo "two-sites $kind: every check passed" || echo "two-sites $kind: $fails check(s) failed"
exit $((fails > 0))
