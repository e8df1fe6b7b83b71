#!/usr/bin/env bash
# Benchmark: a fleet segment of SITES sites (default 20) built from the registry on a real 3-member etcd cluster
# ("registry": every host runs `isthmus up --foreground --config fleet.toml --site sI`, [registry] ttl = TTL, mesh)
# against the same segment written as one TOML file ("file": every host runs `isthmus up --foreground --config
# segment.toml --site sI`, a [sites.sI] table per site with its underlay address). Kernel VXLAN in both (one device,
# every peer an FDB entry), the agents' default drift interval (30 s) in both.
#
# Namespaces, made once for the whole bench and reused by every run: the etcd cluster of Tools/etcd-cluster
# (ETCD_CLUSTER_NAME=isth-bf-PID: members, client and bridge namespaces), and per site a gateway isth-bf-PID-gI
# (its "wan" on the cluster's bridge, 10.70.0.(100+I)/24: its underlay and its way to the registry; "eth1" its LAN
# port) and a LAN host isth-bf-PID-hI (eth0, 192.168.77.I/24) behind it. The cluster runs in both cases.
# One run, in order:
#   1. mesh: the clock starts, the SITES agents are started at once; every host pings every other site's host
#      (`ping -c 1 -W 0.5`, one thread per source host, the pairs still failing retried until each has answered
#      once). Reported: the time at which every gateway's VXLAN FDB holds its SITES-1 peers ("FDB complete"), and
#      the time at which the last of the SITES × (SITES-1) pairs answered ("full mesh").
#   2. idle: 3 s after the full mesh, every agent's CPU time (utime + stime, /proc/PID/stat) is read, again IDLE
#      seconds later (default 30: one drift check of each agent falls in it), and its VmRSS at the end. Reported:
#      each agent's CPU in % of one core over the window (median and max over the agents) and its VmRSS (median and
#      max), its Pss (shared pages divided among the processes mapping them: the binary and the Swift libraries
#      are mapped by every process, so VmRSS summed over processes counts them many times), and the three etcd
#      members' CPU over the same window (summed).
#   3. address change: site M (SITES/2) gets 10.70.0.250 instead of its address (the old one deleted first), and the
#      clock starts. registry: nothing else — its agent sees the new address on its own timer (every TTL/3 s) and
#      writes it to its entry, every peer's watch applies it. file: the best case of a file — the file is rewritten
#      with the new address at once (here one path every host reads; no copying) and a one-shot `isthmus up
#      --config segment.toml --site sI` is run on every host at once (a running `up --foreground` keeps the config it
#      started with and would put the old address back at its next drift check; a restart would take the segment
#      down first). Every other host then pings site M's host until it answers, for at most MOVE_WAIT s. Reported:
#      the time until h1's ping answered, and until every host's had; if some never did, how many, and how many MACs
#      the gateways' VXLAN still had learned behind the old address.
#   4. every agent gets SIGTERM (SIGKILL after 15 s); site M's old address is put back, the hosts' neighbour
#      caches flushed, any device left in a gateway removed (reported if one was).
# Runs alternate the cases (registry, file, registry, ...), so a change of the shared machine's load falls on both.
# CASES="registry pairs" compares instead with "pairs": the registry's segment as tunnel = "gretap" on the userspace
# data plane (a tunnel per peer, each an `isthmus tunnel run` process: SITES-1 per site); "FDB complete" is then
# every site's bridge having its SITES-1 tunnel ports up. CPU and VmRSS are per site: every process in its gateway
# namespace (the agent, and its tunnel processes).
# SITES > 20: the kernel's neighbour-table thresholds are raised for the run (below) and restored at exit.
# Reported: median, min and max over RUNS runs of every number, per case, and the file/registry ratios of the medians.
# usage: Tools/bench/fleet.sh [ISTHMUS_BINARY] [RUNS=2] [SITES=20]
#   ISTHMUS_BINARY defaults to .build-rel/release/isthmus (`swift build -c release --scratch-path .build-rel
#   --product isthmus`). Environment: IDLE=30 (the idle window, s), TTL=5 (the registry lease's ttl, s),
#   MOVE_WAIT=60 (how long pings to the moved site are tried, s), CASES="registry file" (or "registry pairs").
set -euo pipefail
cmdline=$(printf '%q ' "$0" "$@")
I=${1:-}
case $I in /*|'') ;; */*) I=$PWD/$I ;; *) I=$(command -v "$I" || echo "$I") ;; esac
cd "$(dirname "$0")/../.."
I=${I:-$PWD/.build-rel/release/isthmus}
RUNS=${2:-2}
SITES=${3:-20}
IDLE=${IDLE:-30}
TTL=${TTL:-5}
MOVE_WAIT=${MOVE_WAIT:-60}
CASES=${CASES:-registry file}
case $CASES in "registry file"|"registry pairs") ;; *) echo "bench: CASES must be \"registry file\" or \"registry pairs\"" >&2; exit 1;; esac
[[ $RUNS =~ ^[0-9]+$ ]] && ((RUNS >= 1)) || { echo "bench: RUNS must be a whole number >= 1" >&2; exit 1; }
[[ $SITES =~ ^[0-9]+$ ]] && ((SITES >= 3 && SITES <= 120)) || { echo "bench: SITES must be a whole number in 3...120" >&2; exit 1; }
[[ $IDLE =~ ^[0-9]+$ ]] && ((IDLE >= 1)) || { echo "bench: IDLE must be a whole number of seconds >= 1" >&2; exit 1; }
[[ $MOVE_WAIT =~ ^[0-9]+$ ]] && ((MOVE_WAIT >= 1)) || { echo "bench: MOVE_WAIT must be a whole number of seconds >= 1" >&2; exit 1; }
[[ $TTL =~ ^[0-9]+$ ]] && ((TTL >= 2 && TTL <= 3600)) || { echo "bench: TTL must be a whole number in 2...3600" >&2; exit 1; }
[ "$(id -u)" = 0 ] || { echo "bench: must run as root (it creates network namespaces)" >&2; exit 1; }
[ -x "$I" ] || { echo "bench: isthmus binary not found: $I" >&2; exit 1; }
for t in ip bridge ping python3 etcd etcdctl; do command -v $t > /dev/null || { echo "bench: $t not found" >&2; exit 1; }; done

export ETCD_CLUSTER_NAME=isth-bf-$$
export ETCD_CLUSTER_DIR=/var/tmp/isthmus-etcd/$ETCD_CLUSTER_NAME
cluster=$PWD/Tools/etcd-cluster
pfx=$ETCD_CLUSTER_NAME
tmp=$(mktemp -d "${TMPDIR:-/tmp}/isth-bf.XXXXXX")
: > "$tmp/netns"
cluster_made=0
# The kernel's neighbour tables are shared by every namespace and hold gc_thresh3 entries (1,024 by default): with
# more than ~20 sites the gateways' underlay entries and the hosts' LAN entries (each about SITES^2) exceed it and
# neighbours are dropped ("No buffer space available"). For SITES > 20 the thresholds are raised for the run to room
# for 4 * SITES^2 entries and put back as they were at exit (reported).
neigh_saved=()
cleanup() {
  trap '' INT TERM
  local ns kv
  while read -r ns; do ip netns del "$ns" 2> /dev/null || true; done < "$tmp/netns"
  ((cluster_made)) && "$cluster" down > /dev/null 2>&1 || true
  for kv in "${neigh_saved[@]}"; do sysctl -qw "$kv" || true; done
  rm -rf "$tmp"
}
trap cleanup EXIT
if ((SITES > 20)); then
  room=$((4 * SITES * SITES))
  for fam in ipv4 ipv6; do
    for t in 1 2 3; do
      k=net.$fam.neigh.default.gc_thresh$t
      neigh_saved+=("$k=$(sysctl -n "$k")")
    done
    cur=$(sysctl -n net.$fam.neigh.default.gc_thresh3)
    if ((cur < room)); then
      sysctl -qw net.$fam.neigh.default.gc_thresh3=$room net.$fam.neigh.default.gc_thresh2=$((room / 2)) \
        net.$fam.neigh.default.gc_thresh1=$((room / 8))
    fi
  done
  echo "bench: neighbour tables raised to gc_thresh3=$room for $SITES sites (restored at exit)"
fi
trap 'echo "bench: interrupted" >&2; exit 130' INT
trap 'exit 143' TERM

# One run: python3 starts the agents, measures, stops them (SIGTERM, then SIGKILL after 15 s) and prints one JSON
# line. It stops what it started on any exit, SIGTERM included.
cat > "$tmp/run.py" << 'EOF'
import json, os, signal, statistics, subprocess, sys, threading, time
binary, case, pfx, n, d, endpoints, prefix, idle, ttl, etcd_dir, move_wait = sys.argv[1:12]
n, idle, ttl, move_wait = int(n), int(idle), int(ttl), int(move_wait)
sites = list(range(1, n + 1))
moved, new_addr = n // 2, "10.70.0.250"
gw = lambda i: f"{pfx}-g{i}"
host = lambda i: f"{pfx}-h{i}"
underlay = lambda i: f"10.70.0.{100 + i}"
lan = lambda i: f"192.168.77.{i}"
procs = []
signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))

def fail(msg):
    print(json.dumps({"error": msg})); sys.exit(1)

def write_static(addr):
    with open(f"{d}/segment.toml", "w") as f:   # ours, written in place
        f.write('[segment]\nname = "fleet"\ntunnel = "vxlan"\ndataplane = "kernel"\n')
        for i in sites:
            f.write(f'\n[sites.s{i}]\naddress = "{addr(i)}"\nlan = ["eth1"]\n')

if case in ("registry", "pairs"):
    config = f"{d}/fleet.toml"
    eps = ", ".join(f'"{e}"' for e in endpoints.split(","))
    kind = 'tunnel = "gretap"\ndataplane = "userspace"' if case == "pairs" else 'tunnel = "vxlan"\ndataplane = "kernel"'
    with open(config, "w") as f:
        f.write(f'[segment]\nname = "fleet"\n{kind}\n\n[registry]\netcd = [{eps}]\n'
                f'prefix = "{prefix}"\nttl = {ttl}\ntopology = "mesh"\n\n[site]\naddress = "route"\nlan = ["eth1"]\n')
else:
    config = f"{d}/segment.toml"
    write_static(underlay)

def cpu_s(pid):
    with open(f"/proc/{pid}/stat") as f:
        v = f.read().rsplit(")", 1)[1].split()
    return (int(v[11]) + int(v[12])) / os.sysconf("SC_CLK_TCK")

def proc_kib(pid, file, field):
    """A kB field of /proc/PID/FILE (VmRSS: of status, Pss: of smaps_rollup)."""
    with open(f"/proc/{pid}/{file}") as f:
        for l in f:
            if l.startswith(field): return int(l.split()[1])
    return 0

def site_pids(i):
    r = subprocess.run(["ip", "netns", "pids", gw(i)], capture_output=True, text=True)
    return [int(x) for x in r.stdout.split()]

def site_sum(i, measure):
    """measure(pid) summed over every process in site i's gateway namespace (one that just ended counts 0)."""
    t = 0
    for p in site_pids(i):
        try: t += measure(p)
        except OSError: pass
    return t

def ports_up(i):
    r = subprocess.run(["ip", "netns", "exec", gw(i), "ip", "-o", "link", "show", "master", "br-fleet", "up"], capture_output=True, text=True)
    return {l.split(": ")[1].split("@")[0] for l in r.stdout.splitlines() if ": " in l} - {"eth1"}

def fdb(i):
    if case == "pairs": return {f"up{k}" for k in range(len(ports_up(i)))}
    r = subprocess.run(["ip", "netns", "exec", gw(i), "bridge", "fdb", "show", "dev", "isth-fleet"], capture_output=True, text=True)
    return {l.split()[l.split().index("dst") + 1] for l in r.stdout.splitlines() if l.startswith("00:00:00:00:00:00") and " dst " in l}

def ping(a, b):
    return subprocess.run(["ip", "netns", "exec", host(a), "ping", "-c", "1", "-W", "0.5", "-n", lan(b)],
                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).returncode == 0

def until_answered(pairs, t0, deadline):
    """Each source pings its targets in turn, retrying the ones that failed; the time each pair first answered."""
    done, lock = {}, threading.Lock()
    def source(a, targets):
        left = list(targets)
        while left and time.monotonic() < deadline:
            for b in list(left):
                if ping(a, b):
                    with lock: done[(a, b)] = time.monotonic() - t0
                    left.remove(b)
    by = {}
    for a, b in pairs: by.setdefault(a, []).append(b)
    ts = [threading.Thread(target=source, args=(a, bs)) for a, bs in by.items()]
    for t in ts: t.start()
    for t in ts: t.join()
    return done

def agent_alive():
    for i, p in agents.items():
        if p.poll() is not None:
            fail(f"agent s{i} exited ({p.returncode}): " + open(f"{d}/s{i}.log").read()[-400:])

agents = {}
try:
    # 1. mesh
    t0 = time.monotonic()
    for i in sites:
        log = open(f"{d}/s{i}.log", "w")
        p = subprocess.Popen(["ip", "netns", "exec", gw(i), binary, "up", "--foreground", "--config", config, "--site", f"s{i}"],
                             stdin=subprocess.DEVNULL, stdout=log, stderr=log)
        procs.append(p); agents[i] = p
    fdb_t = [None]
    def watch_fdb():
        want = {i: ({f"up{k}" for k in range(n - 1)} if case == "pairs" else {underlay(j) for j in sites if j != i}) for i in sites}
        left = set(sites)
        while left and time.monotonic() < t0 + 300:
            left = {i for i in left if fdb(i) != want[i]}
            if not left: fdb_t[0] = time.monotonic() - t0
            else: time.sleep(0.1)
    w = threading.Thread(target=watch_fdb); w.start()
    done = until_answered([(a, b) for a in sites for b in sites if a != b], t0, t0 + 300)
    w.join()
    agent_alive()
    if len(done) != n * (n - 1):
        fail(f"no full mesh after 300 s: {n * (n - 1) - len(done)} pairs never answered")
    mesh_s = max(done.values())
    # 2. idle
    time.sleep(3)
    agent_alive()
    etcd_pids = []
    for m in ("e1", "e2", "e3"):
        try: etcd_pids.append(int(open(f"{etcd_dir}/{m}.pid").read().split()[0]))
        except (OSError, ValueError): pass
    c0 = {i: site_sum(i, cpu_s) for i in agents}
    e0 = sum(cpu_s(p) for p in etcd_pids)
    time.sleep(idle)
    agent_alive()
    cpu = [(site_sum(i, cpu_s) - c0[i]) / idle * 100 for i in agents]
    etcd_cpu = (sum(cpu_s(p) for p in etcd_pids) - e0) / idle * 100
    rss = [site_sum(i, lambda p: proc_kib(p, "status", "VmRSS:")) / 1024 for i in agents]
    pss = [site_sum(i, lambda p: proc_kib(p, "smaps_rollup", "Pss:")) / 1024 for i in agents]
    # 3. address change
    subprocess.run(["ip", "-n", gw(moved), "addr", "del", f"{underlay(moved)}/24", "dev", "wan"], check=True)
    subprocess.run(["ip", "-n", gw(moved), "addr", "add", f"{new_addr}/24", "dev", "wan"], check=True)
    t1 = time.monotonic()
    apply_s = None
    if case == "file":
        write_static(lambda i: new_addr if i == moved else underlay(i))
        ups = [subprocess.Popen(["ip", "netns", "exec", gw(i), binary, "up", "--config", config, "--site", f"s{i}"],
                                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE) for i in sites]
        for i, u in zip(sites, ups):
            _, err = u.communicate()
            if u.returncode != 0: fail(f"up on s{i} after the address change: {err.decode()[-400:]}")
        apply_s = time.monotonic() - t1
    back = until_answered([(a, moved) for a in sites if a != moved], t1, t1 + move_wait)
    agent_alive()
    # The MACs the peers' VXLAN learned behind the moved site's old address (when pings did not come back).
    stale = 0
    if len(back) != n - 1 and case != "pairs":
        for i in sites:
            r = subprocess.run(["ip", "netns", "exec", gw(i), "bridge", "fdb", "show", "dev", "isth-fleet"], capture_output=True, text=True)
            stale += sum(1 for l in r.stdout.splitlines() if not l.startswith("00:00:00:00:00:00") and f" dst {underlay(moved)} " in l + " ")
    print(json.dumps({"fdb_s": fdb_t[0], "mesh_s": mesh_s, "cpu_pct": cpu, "rss_mib": rss, "pss_mib": pss, "etcd_cpu_pct": etcd_cpu,
                      "move_first_s": back.get((1, moved)), "move_all_s": max(back.values()) if len(back) == n - 1 else None,
                      "move_missing": n - 1 - len(back), "stale_learned": stale, "move_apply_s": apply_s}))
finally:
    for p in procs:
        if p.poll() is None: p.send_signal(signal.SIGTERM)
    end = time.monotonic() + 15
    for p in procs:
        try: p.wait(max(0.1, end - time.monotonic()))
        except subprocess.TimeoutExpired: p.kill(); p.wait()
EOF

echo "command: CASES=\"$CASES\" IDLE=$IDLE TTL=$TTL MOVE_WAIT=$MOVE_WAIT ${cmdline% }"
echo "host: Linux $(uname -r), $(nproc) CPUs ($(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo)), load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "isthmus: $I"
echo "sites: $SITES, runs per case: $RUNS, idle window: $IDLE s, registry ttl: $TTL s"

cluster_made=1
"$cluster" up > "$tmp/cluster.log" 2>&1 || { echo "bench: the etcd cluster did not start: $(tail -5 "$tmp/cluster.log")" >&2; exit 1; }
endpoints=$("$cluster" endpoints)
for ((i = 1; i <= SITES; i++)); do
  g=$pfx-g$i h=$pfx-h$i
  echo "$g" >> "$tmp/netns"; ip netns add "$g"
  echo "$h" >> "$tmp/netns"; ip netns add "$h"
  ip -n "$g" link set lo up; ip -n "$h" link set lo up
  ip -n "$pfx-br" link add "fl$i" type veth peer name wan netns "$g"
  ip -n "$pfx-br" link set "fl$i" master br0 up
  ip -n "$g" addr add "10.70.0.$((100 + i))/24" dev wan; ip -n "$g" link set wan up
  ip -n "$g" link add eth1 type veth peer name eth0 netns "$h"
  ip -n "$g" link set eth1 up
  ip -n "$h" addr add "192.168.77.$i/24" dev eth0; ip -n "$h" link set eth0 up
done

reset_sites() { # after a run: site M's address back, neighbour caches flushed, anything an agent left removed
  local m=$((SITES / 2)) i l
  ip -n "$pfx-g$m" addr flush dev wan
  ip -n "$pfx-g$m" addr add "10.70.0.$((100 + m))/24" dev wan
  for ((i = 1; i <= SITES; i++)); do
    ip -n "$pfx-h$i" neigh flush all 2> /dev/null || true
    for l in $(ip -n "$pfx-g$i" -o link show | awk -F': ' '{print $2}' | cut -d@ -f1); do
      case $l in lo|wan|eth1) ;; *) echo "bench: $l left in $pfx-g$i after the run (removed)" >&2; ip -n "$pfx-g$i" link del "$l" || true ;; esac
    done
  done
}

n=0
for ((r = 1; r <= RUNS; r++)); do
  for c in $CASES; do
    n=$((n + 1))
    mkdir -p "$tmp/run-$n"
    rc=0
    python3 "$tmp/run.py" "$I" "$c" "$pfx" "$SITES" "$tmp/run-$n" "$endpoints" "/isthmus-bench-$$-$n/" "$IDLE" "$TTL" \
      "$ETCD_CLUSTER_DIR" "$MOVE_WAIT" > "$tmp/run-$n/result" || rc=$?
    reset_sites
    if ((rc != 0)); then echo "bench: run $n ($c) failed: $(cat "$tmp/run-$n/result")" >&2; exit 1; fi
    cat "$tmp/run-$n/result" >> "$tmp/runs-$c"
    python3 - "$c" "$r" "$tmp/run-$n/result" "$(cut -d' ' -f1-3 /proc/loadavg)" << 'EOF'
import json, statistics, sys
v = json.load(open(sys.argv[3]))
print("  %-8s run %s: FDB complete %.2f s, full mesh %.2f s; idle CPU/agent median %.2f%% max %.2f%%, VmRSS median %.1f MiB "
      "max %.1f MiB (per site), etcd %.1f%%; address change: h1 pings %s, all %s%s (load %s)" % (sys.argv[1], sys.argv[2],
      v["fdb_s"] or -1, v["mesh_s"], statistics.median(v["cpu_pct"]), max(v["cpu_pct"]), statistics.median(v["rss_mib"]),
      max(v["rss_mib"]), v["etcd_cpu_pct"], "never" if v["move_first_s"] is None else "%.2f s" % v["move_first_s"],
      "%.2f s" % v["move_all_s"] if v["move_all_s"] is not None else "NOT within the wait: %d host(s) never answered, %d MAC(s) still learned behind the old address" % (v["move_missing"], v["stale_learned"]),
      "" if v["move_apply_s"] is None else ", the `up`s took %.2f s" % v["move_apply_s"], sys.argv[4]))
EOF
  done
done

echo
python3 - "$SITES" "$RUNS" "$tmp" $CASES << 'EOF'
import json, statistics, sys
sites, runs, tmp = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
cases = sys.argv[4:6]
rows = [
    ("every FDB complete (s)", lambda v: v["fdb_s"], "%.2f"),
    ("full mesh: every pair pinged (s)", lambda v: v["mesh_s"], "%.2f"),
    ("idle CPU per site, median (% core)", lambda v: statistics.median(v["cpu_pct"]), "%.2f"),
    ("idle CPU per site, max (% core)", lambda v: max(v["cpu_pct"]), "%.2f"),
    ("idle VmRSS per site, median (MiB)", lambda v: statistics.median(v["rss_mib"]), "%.1f"),
    ("idle VmRSS per site, max (MiB)", lambda v: max(v["rss_mib"]), "%.1f"),
    ("idle Pss per site, median (MiB)", lambda v: statistics.median(v["pss_mib"]), "%.1f"),
    ("etcd, 3 members, idle CPU (% core)", lambda v: v["etcd_cpu_pct"], "%.1f"),
    ("address change: h1 pings again (s)", lambda v: v["move_first_s"], "%.2f"),
    ("address change: every host pings (s)", lambda v: v["move_all_s"], "%.2f"),
    ("address change: hosts never answering", lambda v: v["move_missing"], "%d"),
]
print("%d sites, mesh (registry, file: kernel VXLAN; pairs: userspace gretap); median [min, max] of %d run(s) per case; ratio = %s / %s (medians)" % (sites, runs, cases[1], cases[0]))
vs = {c: [json.loads(l) for l in open(f"{tmp}/runs-{c}")] for c in cases}
print("  %-38s %-26s %-26s %s" % ("", cases[0], cases[1], "ratio"))
for name, f, fmt in rows:
    cells, med = [], {}
    for c in cases:
        xs = [f(v) for v in vs[c] if f(v) is not None]
        if not xs: cells.append("-"); continue
        med[c] = statistics.median(xs)
        cells.append("%s [%s, %s]" % (fmt % med[c], fmt % min(xs), fmt % max(xs)))
    ratio = "%.2f" % (med[cases[1]] / med[cases[0]]) if len(med) == 2 and med[cases[0]] > 0 else "-"
    print("  %-38s %-26s %-26s %s" % (name, cells[0], cells[1], ratio))
EOF
