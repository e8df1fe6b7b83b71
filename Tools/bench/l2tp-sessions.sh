#!/usr/bin/env bash
# Benchmark: the time and memory two Isthmus L2TP agents (`isthmus l2tp run --config`) need to establish 1,000
# L2TPv3 sessions (Ethernet pseudowires) over 10 control connections, or over 1. Control plane only: both agents
# run with data_plane = "none", so no interface is created and nothing but the control protocol is measured.
#
# Two namespaces (isth-ls-PID-N-a/-b) joined by a veth pair (10.78.0.1 <-> 10.78.0.2, MTU 1500, no delay).
#   B (namespace -b) listens on 10.78.0.2:1701 and accepts the 1,000 pseudowires pw0..pw999 (no `tunnel`).
#   A (namespace -a) has TUNNELS [[l2tp.tunnel]] entries t0.. to 10.78.0.2, t<i> sending from 10.78.0.1:<2000+i>,
#     so every control connection has its own UDP 4-tuple, and the same 1,000 pseudowires, 1000/TUNNELS per
#     tunnel (pw<k> over t<k / (1000/TUNNELS)>).
#   Both: version 3, secret "bench-secret", digest = "sha1" (an HMAC-SHA-1 Message Digest on every control message,
#     ACKs included, so nothing goes as a bare ZLB), hello 60 s, window 8, retransmit defaults (1 s, 8 s, 5).
# One run: B is started and given time to write its first status file (its VmRSS then is the idle baseline); then
# the clock starts, A is started, and A's status file (JSON) is polled every 10 ms (parsed only when it was replaced)
# until it shows TUNNELS established tunnels and 1,000 established sessions ("A status"); B's status file is polled
# the same way ("B status"). The agent rewrites its status at most every 0.1 s, and at most every 10 times as long
# as the last write took (a 1,000-session status costs ~50 ms of JSONSerialization), so the file lags the protocol
# by up to ~0.5-1 s at this size; so the times each agent logs its 1,000th "session ... up" line on stderr (a file,
# polled every 10 ms with the status files) are reported too ("A log": A got the ICRP; "B log": B got the ICCN): the
# protocol's own times, and the later of the two is when both ends are up. Then, 0.5 s later (the last
# acknowledgements and status writes settle), each agent's peak RSS (VmHWM) and CPU time (utime + stime in
# /proc/PID/stat, from the agent's start: B's includes its idle wait for A), and the control messages of the status
# counters: `sent` per message type summed over every tunnel (SCCRQ, ICRQ, ICRP, ICCN, ACK...) and `retransmits`.
# Finally SIGTERM to A (StopCCN to every peer) and the time until it exits, then B. Every run uses fresh namespaces
# and fresh agents.
# Reported: median, min and max over RUNS runs of every number.
# usage: Tools/bench/l2tp-sessions.sh [ISTHMUS_BINARY] [RUNS=5] [CASES...]
#   ISTHMUS_BINARY defaults to .build/release/isthmus; CASES: 10x100 (10 tunnels × 100 sessions) and 1x1000
#   (1 tunnel × 1,000 sessions), default both; the number before the x is the number of tunnels, the sessions are
#   SESSIONS (below) spread evenly over them.
# SESSIONS=N in the environment changes the total number of sessions (default 1000).
set -euo pipefail
cmdline=$(printf '%q ' "$0" "$@")
I=${1:-}
case $I in /*|'') ;; */*) I=$PWD/$I ;; *) I=$(command -v "$I" || echo "$I") ;; esac
cd "$(dirname "$0")/../.."
I=${I:-$PWD/.build/release/isthmus}
RUNS=${2:-5}
shift $(($# < 2 ? $# : 2))
ALL=(10x100 1x1000)
if (($#)); then CASES=("$@"); else CASES=("${ALL[@]}"); fi
SESSIONS=${SESSIONS:-1000}
[[ $RUNS =~ ^[0-9]+$ ]] && ((RUNS >= 1)) || { echo "bench: RUNS must be a whole number >= 1" >&2; exit 1; }
[[ $SESSIONS =~ ^[0-9]+$ ]] && ((SESSIONS >= 1)) || { echo "bench: SESSIONS must be a whole number >= 1" >&2; exit 1; }
for c in "${CASES[@]}"; do
  [[ $c =~ ^([0-9]+)x[0-9]+$ ]] && ((BASH_REMATCH[1] >= 1 && BASH_REMATCH[1] <= 1000)) ||
    { echo "bench: unknown case '$c' (cases: ${ALL[*]}; the part before x is the number of tunnels)" >&2; exit 1; }
done
[ "$(id -u)" = 0 ] || { echo "bench: must run as root (it creates network namespaces)" >&2; exit 1; }
[ -x "$I" ] || { echo "bench: isthmus binary not found: $I" >&2; exit 1; }
for t in ip python3; do command -v $t > /dev/null || { echo "bench: $t not found" >&2; exit 1; }; done

pfx=isth-ls-$$
tmp=$(mktemp -d "${TMPDIR:-/tmp}/isth-ls.XXXXXX")
: > "$tmp/netns"
cleanup() {
  trap '' INT TERM
  local ns
  while read -r ns; do ip netns del "$ns" 2> /dev/null || true; done < "$tmp/netns"
  rm -rf "$tmp"
}
trap cleanup EXIT
trap 'echo "bench: interrupted" >&2; exit 130' INT
trap 'exit 143' TERM

# One run: python3 starts both agents in the namespaces, measures, stops them (SIGTERM, then SIGKILL after 10 s)
# and prints one JSON line. It stops what it started on any exit, SIGTERM included.
cat > "$tmp/run.py" << 'EOF'
import json, os, signal, subprocess, sys, time
binary, ns_a, ns_b, d, tunnels, sessions = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5]), int(sys.argv[6])
per = -(-sessions // tunnels)
common = 'version = 3\nsecret = "bench-secret"\ndigest = "sha1"\ndata_plane = "none"\n'
with open(f"{d}/b.toml", "w") as f:
    f.write(f'[l2tp]\nname = "bench-b"\nhost_name = "b"\nlisten = "10.78.0.2"\nstatus = "{d}/b.json"\n' + common)
    for k in range(sessions):
        f.write(f'\n[[l2tp.pseudowire]]\nname = "pw{k}"\ninterface = "l2tpeth{k}"\n')
with open(f"{d}/a.toml", "w") as f:
    f.write(f'[l2tp]\nname = "bench-a"\nhost_name = "a"\nstatus = "{d}/a.json"\n' + common)
    for i in range(tunnels):
        f.write(f'\n[[l2tp.tunnel]]\nname = "t{i}"\npeer = "10.78.0.2"\nlocal = "10.78.0.1:{2000 + i}"\nredial = false\n')
    for k in range(sessions):
        f.write(f'\n[[l2tp.pseudowire]]\nname = "pw{k}"\ninterface = "l2tpeth{k}"\ntunnel = "t{k // per}"\n')

procs = []
def stop_all(*_):
    for p in procs:
        if p.poll() is None:
            p.kill()
    sys.exit(143)
signal.signal(signal.SIGTERM, stop_all)

def start(ns, name, **kw):
    p = subprocess.Popen(["ip", "netns", "exec", ns, binary, "l2tp", "run", "--config", f"{d}/{name}.toml"],
                         stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, **kw)
    procs.append(p)
    return p

class Status:
    """A status file, parsed again only when it was replaced."""
    def __init__(self, path): self.path, self.key, self.value = path, None, None
    def read(self):
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            return self.value
        key = (st.st_ino, st.st_mtime_ns, st.st_size)
        if key != self.key:
            try:
                with open(self.path) as f: self.value = json.load(f)
                self.key = key
            except (OSError, ValueError):
                pass   # replaced while we read it: next poll
        return self.value
    def counts(self):
        v = self.read() or {}
        ts = [t for t in v.get("tunnels", []) if t.get("state") == "established"]
        return len(ts), sum(1 for t in ts for s in t.get("sessions", []) if s.get("state") == "established")

def proc_stats(pid):
    with open(f"/proc/{pid}/status") as f:
        kv = dict(l.split(":", 1) for l in f if ":" in l)
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return {"hwm_kib": int(kv["VmHWM"].split()[0]), "rss_kib": int(kv["VmRSS"].split()[0]),
            "cpu_s": (int(fields[11]) + int(fields[12])) / ticks}

def messages(v):
    sent, retrans = {}, 0
    for t in v.get("tunnels", []):
        for k, n in t.get("sent", {}).items(): sent[k] = sent.get(k, 0) + n
        retrans += t.get("retransmits", 0)
    return sent, retrans

def fail(msg):
    for p in procs:
        if p.poll() is None: p.kill()
    print(json.dumps({"error": msg})); sys.exit(1)

class Log:
    """An agent's stderr, a file: polled for new lines; when its `sessions`-th "session ... up" line was seen."""
    def __init__(self, path):
        self.w = open(path, "ab")   # the agent's stderr (O_APPEND: its own offset is never ours)
        self.f, self.lines, self.partial, self.ups, self.done = open(path, "rb", buffering=0), [], b"", 0, None
    def poll(self):
        data = self.partial + self.f.read()
        *complete, self.partial = data.split(b"\n")
        for raw in complete:
            line = raw.decode(errors="replace")
            self.lines.append(line + "\n")
            if " session " in line and " up (ids " in line:
                self.ups += 1
                if self.ups == sessions and self.done is None: self.done = time.monotonic()

try:
    lb = Log(f"{d}/b.log")
    b = start(ns_b, "b", stderr=lb.w)
    sb = Status(f"{d}/b.json")
    deadline = time.monotonic() + 10
    while sb.read() is None:
        if b.poll() is not None: lb.poll(); fail("B exited: " + "".join(lb.lines[-3:]).strip())
        if time.monotonic() > deadline: fail("B wrote no status file in 10 s")
        time.sleep(0.01)
    time.sleep(0.2)
    b_idle = proc_stats(b.pid)
    sa = Status(f"{d}/a.json")
    t0 = time.monotonic()
    la = Log(f"{d}/a.log")
    a = start(ns_a, "a", stderr=la.w)
    ta = tb = None
    deadline = t0 + 120
    while ta is None or tb is None:
        la.poll(); lb.poll()
        now = time.monotonic()
        if ta is None and sa.counts() == (tunnels, sessions): ta = now - t0
        if tb is None and sb.counts() == (tunnels, sessions): tb = now - t0
        if a.poll() is not None or b.poll() is not None:
            la.poll(); lb.poll(); fail("an agent exited: " + "".join(la.lines[-3:] + lb.lines[-3:]).strip())
        if now > deadline:
            fail(f"not all up after 120 s: A {sa.counts()}, B {sb.counts()} (tunnels, sessions)")
        time.sleep(0.01)
    while la.done is None or lb.done is None:   # the status files saw them all: the log lines came first
        la.poll(); lb.poll()
        if time.monotonic() > deadline: fail("the status files show every session up, the logs do not")
        time.sleep(0.01)
    time.sleep(0.5)
    la.poll(); lb.poll()
    pa, pb = proc_stats(a.pid), proc_stats(b.pid)
    va, vb = json.load(open(f"{d}/a.json")), json.load(open(f"{d}/b.json"))
    sent_a, rtx_a = messages(va)
    sent_b, rtx_b = messages(vb)
    downs = sum(1 for l in la.lines + lb.lines if ": down:" in l)
    t1 = time.monotonic()
    a.send_signal(signal.SIGTERM)
    try:
        a.wait(10)
    except subprocess.TimeoutExpired:
        a.kill(); a.wait()
    stop_s = time.monotonic() - t1
    b.send_signal(signal.SIGTERM)
    try:
        b.wait(10)
    except subprocess.TimeoutExpired:
        b.kill(); b.wait()
    since = lambda t: None if t is None else t - t0
    print(json.dumps({"a_status_s": ta, "b_status_s": tb, "a_log_s": since(la.done), "b_log_s": since(lb.done), "a": pa, "b": pb, "b_idle": b_idle,
                      "sent_a": sent_a, "sent_b": sent_b, "retransmits_a": rtx_a, "retransmits_b": rtx_b,
                      "tunnels_down": downs, "stop_s": stop_s}))
finally:
    for p in procs:
        if p.poll() is None: p.kill(); p.wait()
EOF

run_one() { # run_one TUNNELS N: one run in fresh namespaces N; appends its JSON line to $tmp/runs-TUNNELS
  local ns_a=$pfx-$2-a ns_b=$pfx-$2-b t rc=0
  for t in "$ns_a" "$ns_b"; do echo "$t" >> "$tmp/netns"; ip netns add "$t"; done
  ip -n "$ns_a" link add veth0 mtu 1500 type veth peer name veth0 mtu 1500 netns "$ns_b"
  ip -n "$ns_a" addr add 10.78.0.1/24 dev veth0
  ip -n "$ns_b" addr add 10.78.0.2/24 dev veth0
  for t in "$ns_a" "$ns_b"; do ip -n "$t" link set lo up; ip -n "$t" link set veth0 up; done
  mkdir -p "$tmp/run-$2"
  python3 "$tmp/run.py" "$I" "$ns_a" "$ns_b" "$tmp/run-$2" "$1" "$SESSIONS" > "$tmp/run-$2/result" || rc=$?
  for t in "$ns_a" "$ns_b"; do ip netns del "$t" 2> /dev/null || true; done
  if ((rc != 0)); then
    echo "bench: run $2 failed: $(cat "$tmp/run-$2/result")" >&2
    return 1
  fi
  cat "$tmp/run-$2/result" >> "$tmp/runs-$1"
}

echo "command: ${cmdline% }"
echo "host: Linux $(uname -r), $(nproc) CPUs ($(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo)), load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "isthmus: $I"
n=0
for c in "${CASES[@]}"; do
  tunnels=${c%%x*}
  : > "$tmp/runs-$tunnels"
  for ((r = 1; r <= RUNS; r++)); do
    n=$((n + 1))
    run_one "$tunnels" "$n"
    python3 - "$c" "$r" "$tmp/run-$n/result" << 'EOF'
import json, sys
v = json.load(open(sys.argv[3]))
print("  %-7s run %s: A status %.3f s, B status %.3f s, A log %.3f s, B log %.3f s; CPU A %.2f s B %.2f s; "
      "VmHWM A %.1f MiB B %.1f MiB; sent A %d B %d; retransmits %d" % (sys.argv[1], sys.argv[2], v["a_status_s"],
      v["b_status_s"], v["a_log_s"] or -1, v["b_log_s"] or -1,
      v["a"]["cpu_s"], v["b"]["cpu_s"], v["a"]["hwm_kib"] / 1024, v["b"]["hwm_kib"] / 1024,
      sum(v["sent_a"].values()), sum(v["sent_b"].values()), v["retransmits_a"] + v["retransmits_b"]))
EOF
  done
done

echo
python3 - "$SESSIONS" "$RUNS" "$tmp" "${CASES[@]}" << 'EOF'
import json, statistics, sys
sessions, runs, tmp, cases = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4:]
rows = [
    ("time to all up, A status (s)", lambda v: v["a_status_s"], "%.3f"),
    ("time to all up, B status (s)", lambda v: v["b_status_s"], "%.3f"),
    ("time to all up, A log (s)", lambda v: v["a_log_s"], "%.3f"),
    ("time to all up, B log (s)", lambda v: v["b_log_s"], "%.3f"),
    ("sessions/s (both logs)", lambda v: sessions / max(v["a_log_s"], v["b_log_s"]), "%.0f"),
    ("CPU A (s)", lambda v: v["a"]["cpu_s"], "%.2f"),
    ("CPU B (s)", lambda v: v["b"]["cpu_s"], "%.2f"),
    ("VmHWM A (MiB)", lambda v: v["a"]["hwm_kib"] / 1024, "%.1f"),
    ("VmHWM B (MiB)", lambda v: v["b"]["hwm_kib"] / 1024, "%.1f"),
    ("VmRSS B before A starts (MiB)", lambda v: v["b_idle"]["rss_kib"] / 1024, "%.1f"),
    ("control messages sent by A", lambda v: sum(v["sent_a"].values()), "%d"),
    ("control messages sent by B", lambda v: sum(v["sent_b"].values()), "%d"),
    ("retransmits (A + B)", lambda v: v["retransmits_a"] + v["retransmits_b"], "%d"),
    ("SIGTERM to exit, A (s)", lambda v: v["stop_s"], "%.3f"),
]
print("%d L2TPv3 sessions, SHA-1 digests, data_plane none; median [min, max] of %d run(s)" % (sessions, runs))
for c in cases:
    vs = [json.loads(l) for l in open(f"{tmp}/runs-{c.split('x')[0]}")]
    print(f"{c} ({c.split('x')[0]} tunnel(s)):")
    for name, f, fmt in rows:
        xs = [f(v) for v in vs] if all(v.get("a_log_s") and v.get("b_log_s") for v in vs) or "log" not in name else []
        if not xs: print("  %-30s -" % name); continue
        print("  %-30s %s [%s, %s]" % (name, fmt % statistics.median_low(xs), fmt % min(xs), fmt % max(xs)))
    sa = {}
    for v in vs:
        for k, n in v["sent_a"].items(): sa.setdefault(("A", k), []).append(n)
        for k, n in v["sent_b"].items(): sa.setdefault(("B", k), []).append(n)
    print("  messages by type (median): " + ", ".join("%s %s %d" % (s, k, statistics.median_low(n)) for (s, k), n in sorted(sa.items())))
EOF
