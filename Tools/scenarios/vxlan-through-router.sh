#!/usr/bin/env bash
# Two hosts on different subnets, a router namespace between them, and a VXLAN (id 100, dstport 4789) joining
# the hosts into one overlay /24 — built only with isthmus. Checks ping and a TCP transfer across the overlay,
# then removes exactly the namespaces it made (also on failure).
# usage: vxlan-through-router.sh ISTHMUS_BINARY [PREFIX]
set -euo pipefail
I=${1:?usage: $0 ISTHMUS_BINARY [PREFIX]}
P=${2:-isth-demo-$$}
h1=$P-h1 r=$P-r h2=$P-h2
made=()
cleanup() { for n in "${made[@]}"; do ip netns del "$n" 2>/dev/null || true; done; }
trap cleanup EXIT
step() { printf '  %-58s' "$*"; }
ok() { echo ok; }
for n in $h1 $r $h2; do ip netns add "$n"; made+=("$n"); done

echo "Building: $h1 (10.0.1.2) -- $r (router) -- $h2 (10.0.2.2), VXLAN 100 overlay 192.168.100.0/24"
# Underlay: veth pairs created in the router namespace, one end moved to each host.
step "veth pairs and addresses"
"$I" -n "$r" link add eth1 type veth peer name eth0 netns "$h1"
"$I" -n "$r" link add eth2 type veth peer name eth0 netns "$h2"
"$I" -n "$h1" address add 10.0.1.2/24 dev eth0
"$I" -n "$h2" address add 10.0.2.2/24 dev eth0
"$I" -n "$r" address add 10.0.1.1/24 dev eth1
"$I" -n "$r" address add 10.0.2.1/24 dev eth2
for n in $h1 $h2; do "$I" -n "$n" link set lo up; "$I" -n "$n" link set eth0 up; done
"$I" -n "$r" link set lo up; "$I" -n "$r" link set eth1 up; "$I" -n "$r" link set eth2 up
ip netns exec "$r" sysctl -qw net.ipv4.ip_forward=1
ok
step "routes through the router"
"$I" -n "$h1" route add 10.0.2.0/24 via 10.0.1.1
"$I" -n "$h2" route add 10.0.1.0/24 via 10.0.2.1
ok
step "VXLAN id 100 dstport 4789 on both hosts"
"$I" -n "$h1" link add vxlan100 type vxlan id 100 local 10.0.1.2 remote 10.0.2.2 dstport 4789 dev eth0
"$I" -n "$h2" link add vxlan100 type vxlan id 100 local 10.0.2.2 remote 10.0.1.2 dstport 4789 dev eth0
"$I" -n "$h1" address add 192.168.100.1/24 dev vxlan100
"$I" -n "$h2" address add 192.168.100.2/24 dev vxlan100
"$I" -n "$h1" link set vxlan100 up
"$I" -n "$h2" link set vxlan100 up
ok
"$I" -n "$h1" -d link show vxlan100 | sed 's/^/    /'

step "underlay ping h1 -> h2"
ip netns exec "$h1" ping -c 2 -W 2 -q 10.0.2.2 >/dev/null; ok
step "overlay ping 192.168.100.1 -> 192.168.100.2"
ip netns exec "$h1" ping -c 3 -W 2 -q 192.168.100.2 >/dev/null; ok
step "overlay ARP entry learned on h1"
"$I" -n "$h1" neigh show dev vxlan100 2>/dev/null | grep -q 192.168.100.2 || ip -n "$h1" neigh show dev vxlan100 | grep -q 192.168.100.2; ok
step "TCP transfer across the overlay (iperf3, 20 MB)"
ip netns exec "$h2" iperf3 -s -1 -B 192.168.100.2 -p 5201 >/dev/null 2>&1 &
srv=$!
for _ in $(seq 50); do ip netns exec "$h2" ss -ltn | grep -q 5201 && break; sleep 0.1; done
ip netns exec "$h1" iperf3 -c 192.168.100.2 -p 5201 -n 20M -J > "/tmp/$P-iperf.json"
wait "$srv"
rate=$(python3 -c "import json;d=json.load(open('/tmp/$P-iperf.json'));print('%.0f Mbit/s'%(d['end']['sum_received']['bits_per_second']/1e6))")
rm -f "/tmp/$P-iperf.json"
echo "ok ($rate)"
echo "PASS: VXLAN through a router, built with isthmus"
