#!/usr/bin/env bash
# Benchmark: create N VXLAN links and enslave them to a bridge, then delete them, three ways:
#   (a) isthmus -batch   (b) ip -batch   (c) one ip process per command.
# Deleting: isthmus deletes the link group in one request (`link del group 7`); ip -batch and per-process ip
# delete one by one. Each measurement runs in a fresh namespace; median of RUNS runs is reported.
# usage: Tools/bench/link-batch.sh [ISTHMUS_BINARY] [N=1000] [RUNS=3]
set -euo pipefail
cd "$(dirname "$0")/../.."
I=${1:-$(swift build -c release --show-bin-path)/isthmus}
N=${2:-1000}
RUNS=${3:-3}
ns=isth-bench-$$
tmp=$(mktemp -d)
trap 'ip netns del $ns 2>/dev/null || true; rm -rf "$tmp"' EXIT
{ echo "link add br0 type bridge"
  for i in $(seq 1 "$N"); do echo "link add vx$i group 7 type vxlan id $i dstport 4789"; echo "link set vx$i master br0"; done
} > "$tmp/create"
for i in $(seq 1 "$N"); do echo "link del vx$i"; done > "$tmp/delete"
echo "link del group 7" > "$tmp/delete-group"

now() { date +%s.%N; }
measure() { # measure NAME CREATE_CMD DELETE_CMD -> appends "create delete" seconds
  local t0 t1 t2
  ip netns add $ns
  t0=$(now); eval "$2"; t1=$(now)
  [ "$(ip -n $ns -o link show master br0 | wc -l)" = "$N" ] || { echo "bench: $1 did not enslave $N links" >&2; exit 1; }
  eval "$3"; t2=$(now)
  [ "$(ip -n $ns -o link show type vxlan | wc -l)" = "0" ] || { echo "bench: $1 left links behind" >&2; exit 1; }
  ip netns del $ns
  echo "$(echo "$t1 - $t0" | bc -l) $(echo "$t2 - $t1" | bc -l)" >> "$tmp/$1"
}
per_process() { while read -r line; do ip -n $ns $line; done < "$1"; }
for _ in $(seq 1 "$RUNS"); do
  measure isthmus "'$I' -n $ns -batch '$tmp/create'" "'$I' -n $ns -batch '$tmp/delete-group'"
  measure ipbatch "ip -n $ns -batch '$tmp/create'" "ip -n $ns -batch '$tmp/delete'"
  measure perproc "per_process '$tmp/create'" "per_process '$tmp/delete'"
done
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
printf '%-34s %12s %12s\n' "method ($N links, median of $RUNS)" "create (s)" "delete (s)"
for m in isthmus ipbatch perproc; do
  c=$(cut -d' ' -f1 "$tmp/$m" | median); d=$(cut -d' ' -f2 "$tmp/$m" | median)
  printf '%-34s %12.3f %12.3f\n' "$m" "$c" "$d"
  eval "${m}_c=$c ${m}_d=$d"
done
printf 'ratios: create isthmus/ip-batch %.2f, delete isthmus/ip-batch %.3f, create per-process/isthmus %.1fx, delete per-process/isthmus %.1fx\n' \
  "$(echo "$isthmus_c / $ipbatch_c" | bc -l)" "$(echo "$isthmus_d / $ipbatch_d" | bc -l)" \
  "$(echo "$perproc_c / $isthmus_c" | bc -l)" "$(echo "$perproc_d / $isthmus_d" | bc -l)"
