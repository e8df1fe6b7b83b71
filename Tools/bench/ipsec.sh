#!/usr/bin/env bash
# Benchmark (issue 17): single-stream TCP (iperf3, SECONDS each) through an Ethernet pseudowire between two network
# namespaces joined by a veth pair (MTU 1500; underlay 10.78.0.1 <-> 10.78.0.2, overlay 192.168.78.1/24 <-> .2/24),
# three cases in the same run, then the ratios (under QEMU TCG absolute numbers mean nothing):
#   l2tpv3          the kernel's L2TPv3 over IP (l2tp_eth, no cookies), cleartext.
#   l2tpv3-esp      the same inside ESP transport mode, rfc4106(gcm(aes)) with a 128-bit key: states and policies
#                   (protocol 115 between the two addresses) added by `isthmus xfrm`, static keys — the kernel data
#                   path a site with encryption = "ipsec" uses (charon only supplies the keys).
#   openvpn-tap     OpenVPN 2.6, point-to-point TAP over UDP, TLS (self-signed certificates pinned with
#                   --peer-fingerprint) and the AES-128-GCM data channel, no DCO.
# The kernel's gcm(aes) is aesni_intel's when the module loads (the driver is printed), as OpenSSL uses AES-NI.
# The overlay MTU is each tunnel's unfragmented size: 1458 (L2TPv3/IP: 20 + 4 + 4 sublayer + 14), 1422 with ESP
# (+ 16 + 18, padding 0 at 1500), and OpenVPN's stock --tun-mtu 1500 with --mssfix (as it is deployed).
# Needs Debian's kernel (l2tp_eth, l2tp_ip, esp4): run it in the QEMU guest:
#   Tools/vm/isthmus-vm --timeout 600 -- env ISTHMUS=$PWD/.build/debug/isthmus Tools/bench/ipsec.sh [SECONDS=10]
set -u
here=$(cd "$(dirname "$0")/../.." && pwd)
isthmus=${ISTHMUS:-$here/.build/debug/isthmus}
DUR=${1:-10}
tmp=$(mktemp -d /tmp/isth-ipsec-bench.XXXXXX)
p=ib$$
A=$p-a B=$p-b
pids=()
cleanup() { for x in "${pids[@]}"; do kill "$x" 2>/dev/null; wait "$x" 2>/dev/null; done; ip netns del $A 2>/dev/null; ip netns del $B 2>/dev/null; }
trap 'cleanup; rm -rf "$tmp"' EXIT
modprobe -a aes_generic ctr gcm ghash_generic seqiv echainiv authenc esp4 xfrm_user l2tp_ip l2tp_eth veth tun || exit 1
modprobe drbg; modprobe jitterentropy_rng 2>/dev/null
# The kernel's AES-NI and CLMUL GCM, as OpenSSL (OpenVPN) uses the CPU's AES instructions (QEMU's -cpu max has them).
modprobe -a aesni_intel ghash_clmulni_intel 2>/dev/null
echo "   kernel gcm(aes) driver: $(awk '/^name *: gcm\(aes\)/{f=1} f&&/^driver/{print $3; exit}' /proc/crypto)"
UL=(10.78.0.1 10.78.0.2) OL=(192.168.78.1 192.168.78.2) NS=($A $B)

fresh() {
  cleanup; pids=()
  ip netns add $A; ip netns add $B
  ip -n $A link add veth0 type veth peer name veth0 netns $B
  for i in 0 1; do
    ip -n ${NS[i]} link set lo up; ip -n ${NS[i]} addr add ${UL[i]}/24 dev veth0; ip -n ${NS[i]} link set veth0 up
  done
}
l2tp() {
  for i in 0 1; do
    ip -n ${NS[i]} l2tp add tunnel tunnel_id $((i + 1)) peer_tunnel_id $((2 - i)) encap ip local ${UL[i]} remote ${UL[1 - i]}
    ip -n ${NS[i]} l2tp add session name pw0 tunnel_id $((i + 1)) session_id $((i + 1)) peer_session_id $((2 - i))
    ip -n ${NS[i]} link set pw0 mtu "$1" up; ip -n ${NS[i]} addr add ${OL[i]}/24 dev pw0
  done
}
esp() {
  local k=0x0123456789abcdef0123456789abcdef01234567 i s d
  for i in 0 1; do
    s=${UL[i]} d=${UL[1 - i]}
    "$isthmus" -n ${NS[i]} -batch - <<BATCH || return 1
xfrm state add src $s dst $d proto esp spi 0x$((1000 + i)) reqid 1 mode transport aead 'rfc4106(gcm(aes))' $k 128 sel src $s dst $d proto 115
xfrm state add src $d dst $s proto esp spi 0x$((1001 - i)) reqid 1 mode transport aead 'rfc4106(gcm(aes))' $k 128 sel src $d dst $s proto 115
xfrm policy add src $s dst $d proto 115 dir out tmpl src $s dst $d proto esp reqid 1 mode transport
xfrm policy add src $d dst $s proto 115 dir in tmpl src $d dst $s proto esp reqid 1 mode transport
BATCH
  done
}
openvpn_tap() {
  local i t fp=()
  for i in 0 1; do
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout $tmp/k$i.pem -out $tmp/c$i.pem \
      -days 1 -subj /CN=side$i 2>/dev/null || return 1
    fp[i]=$(openssl x509 -in $tmp/c$i.pem -noout -fingerprint -sha256 | cut -d= -f2)
  done
  for i in 0 1; do
    ip netns exec ${NS[i]} openvpn --dev tb0 --dev-type tap --proto udp --local ${UL[i]} --lport 1194 \
      --remote ${UL[1 - i]} --rport 1194 --ifconfig ${OL[i]} 255.255.255.0 --tun-mtu 1500 \
      $([ $i = 0 ] && echo --tls-server --dh none || echo --tls-client) --cert $tmp/c$i.pem --key $tmp/k$i.pem \
      --peer-fingerprint "${fp[1 - i]}" --data-ciphers AES-128-GCM --disable-dco --fast-io --verb 3 >$tmp/ovpn$i.log 2>&1 &
    pids+=($!)
  done
  for t in $(seq 300); do
    grep -q 'Initialization Sequence Completed' $tmp/ovpn0.log && grep -q 'Initialization Sequence Completed' $tmp/ovpn1.log && break
    sleep 0.1
  done
  grep -q 'Initialization Sequence Completed' $tmp/ovpn1.log || { tail -5 $tmp/ovpn*.log; return 1; }
  grep -h 'Data Channel: cipher' $tmp/ovpn0.log | head -1 | sed 's/^/   /'
}
measure() { # measure CASE: Gbit/s received
  ip netns exec $B iperf3 -s -1 -B ${OL[1]} >/dev/null 2>&1 &
  local srv=$!
  for t in $(seq 50); do ip netns exec $B ss -ltn | grep -q ':5201 ' && break; sleep 0.1; done
  ip netns exec $A ping -c 1 -W 5 ${OL[1]} >/dev/null || { echo "$1: no ping across" >&2; kill $srv; return 1; }
  ip netns exec $A iperf3 -c ${OL[1]} -t "$DUR" -J >$tmp/$1.json 2>&1
  wait $srv
  python3 -c "import json,sys; print('%.4f' % (json.load(open('$tmp/$1.json'))['end']['sum_received']['bits_per_second'] / 1e9))"
}

declare -A g
for c in l2tpv3 l2tpv3-esp openvpn-tap; do
  fresh
  case $c in
    l2tpv3) l2tp 1458 ;;
    l2tpv3-esp) esp && l2tp 1422 ;;
    openvpn-tap) openvpn_tap ;;
  esac || { echo "$c: setup failed"; exit 1; }
  [ $c = l2tpv3-esp ] && { ip -n $A xfrm state | grep -c 'proto esp' | sed 's/^/   ESP states on side a: /'; }
  g[$c]=$(measure $c) || exit 1
  [ $c = l2tpv3-esp ] && ip -n $A -s xfrm state | awk '/lifetime current:/{getline; print "   side a ESP state counted: " $0; exit}'
  echo "$c: ${g[$c]} Gbit/s"
done
echo "command: Tools/bench/ipsec.sh $DUR ($(uname -r), $(openvpn --version | head -1 | cut -d' ' -f1-2), $(iperf3 --version | head -1 | cut -d' ' -f1-2))"
python3 - "${g[l2tpv3]}" "${g[l2tpv3-esp]}" "${g[openvpn-tap]}" <<'PY'
import sys
clear, esp, ovpn = map(float, sys.argv[1:])
print(f"{'case':<14}{'Gbit/s':>10}{'/cleartext':>12}{'/openvpn-tap':>14}")
for name, v in (("l2tpv3", clear), ("l2tpv3-esp", esp), ("openvpn-tap", ovpn)):
    print(f"{name:<14}{v:>10.4f}{v / clear:>12.2f}{v / ovpn:>14.2f}")
PY
