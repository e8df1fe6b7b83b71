#!/usr/bin/env python3
"""A lossy UDP relay for L2TP resilience tests (python3 standard library only).

Run it in a namespace between two peers. It listens on the A-side address, forwards every datagram from A to B
from a socket bound on the B-side address, and sends B's answers back to A's last source address, so each peer only
ever talks to the relay:

    A 10.61.0.1 ──▶ 10.61.0.2:1701 [relay] 10.62.0.2:1701 ──▶ 10.62.0.1:1701 B

On the way it drops, duplicates and reorders (holds back 50–300 ms) a percentage of the datagrams, the same
percentages both ways, from one seeded random generator. With --control-only only L2TP control messages (T bit set:
first byte & 0x80) are impaired; data messages pass untouched.

Counters per direction (received, forwarded, dropped, duplicated, reordered, passed untouched) are written to
--stats every --stats-interval seconds (atomically, JSON) and printed as JSON to stdout on SIGTERM or SIGINT, which
end the relay with status 0. The signals are unblocked at start (a test runner's children may inherit them blocked).

    lossy-udp-relay.py --listen 10.61.0.2:1701 --source 10.62.0.2:1701 --forward 10.62.0.1:1701 \\
        --drop 20 --dup 10 --reorder 20 --seed 1 --control-only --stats /tmp/relay.json
"""
import argparse
import heapq
import json
import os
import random
import select
import signal
import socket
import stat
import sys
import time


def endpoint(text):
    """"10.0.0.1:1701", "10.0.0.1" (port 1701), "[fd00::1]:1701" → (family, (host, port))."""
    host, port = text, 1701
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        if rest:
            port = int(rest.lstrip(":"))
    elif text.count(":") == 1:
        host, p = text.split(":")
        port = int(p)
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    return family, (host, port)


def percent(text):
    v = float(text)
    if not 0 <= v <= 100:
        raise argparse.ArgumentTypeError("a percentage 0-100")
    return v


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--listen", required=True, help="A-side address:port the relay listens on (A sends here)")
    ap.add_argument("--source", required=True, help="B-side address:port the relay sends to B from")
    ap.add_argument("--forward", required=True, help="B's address:port")
    ap.add_argument("--drop", type=percent, default=0, help="percent of datagrams dropped")
    ap.add_argument("--dup", type=percent, default=0, help="percent of datagrams sent twice")
    ap.add_argument("--reorder", type=percent, default=0, help="percent of datagrams held back 50-300 ms")
    ap.add_argument("--seed", type=int, default=None, help="seed of the random generator")
    ap.add_argument("--control-only", action="store_true", help="impair only L2TP control messages (T bit set)")
    ap.add_argument("--stats", help="file the counters are written to (JSON), periodically and at exit")
    ap.add_argument("--stats-interval", type=float, default=0.5, help="seconds between stats writes (default 0.5)")
    args = ap.parse_args()

    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGTERM, signal.SIGINT})
    stop = {"signal": None}

    def on_signal(signum, _frame):
        stop["signal"] = signum

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    # A byte on this pipe wakes select() at once when a signal arrives.
    wake_r, wake_w = os.pipe()
    os.set_blocking(wake_w, False)
    signal.set_wakeup_fd(wake_w)

    fam_a, listen = endpoint(args.listen)
    fam_b, source = endpoint(args.source)
    _, forward = endpoint(args.forward)
    side_a = socket.socket(fam_a, socket.SOCK_DGRAM)
    side_a.bind(listen)
    side_b = socket.socket(fam_b, socket.SOCK_DGRAM)
    side_b.bind(source)
    for s in (side_a, side_b):
        s.setblocking(False)

    rng = random.Random(args.seed)
    names = ("received", "forwarded", "dropped", "duplicated", "reordered", "passed", "send_errors")
    counters = {"a_to_b": dict.fromkeys(names, 0), "b_to_a": dict.fromkeys(names, 0)}
    peer_a = None
    held = []          # heap of (due, seq, direction, datagram)
    seq = 0

    def transmit(direction, data):
        c = counters[direction]
        try:
            if direction == "a_to_b":
                side_b.sendto(data, forward)
            elif peer_a is not None:
                side_a.sendto(data, peer_a)
            else:
                return
            c["forwarded"] += 1
        except OSError:
            c["send_errors"] += 1

    def snapshot():
        return {"pid": os.getpid(), "listen": args.listen, "source": args.source, "forward": args.forward,
                "drop": args.drop, "dup": args.dup, "reorder": args.reorder, "seed": args.seed,
                "control_only": args.control_only, "held": len(held), "counters": counters}

    def write_stats():
        if not args.stats:
            return
        text = json.dumps(snapshot(), sort_keys=True)
        try:
            st = os.lstat(args.stats)
        except FileNotFoundError:
            st = None
        if st is not None and not stat.S_ISREG(st.st_mode):
            # Not a regular file (/dev/null, a FIFO, a link): written in place, never renamed over.
            with open(args.stats, "w") as f:
                f.write(text)
            return
        # A new file beside it (never an existing one: O_EXCL), then renamed over the regular file or the empty path.
        tmp = "%s.%d.tmp" % (args.stats, os.getpid())
        with os.fdopen(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644), "w") as f:
            f.write(text)
        os.replace(tmp, args.stats)

    def relay(direction, data):
        nonlocal seq
        c = counters[direction]
        c["received"] += 1
        if args.control_only and (not data or data[0] & 0x80 == 0):
            c["passed"] += 1
            transmit(direction, data)
            return
        if rng.random() * 100 < args.drop:
            c["dropped"] += 1
            return
        copies = 1
        if rng.random() * 100 < args.dup:
            c["duplicated"] += 1
            copies = 2
        if rng.random() * 100 < args.reorder:
            c["reordered"] += 1
            seq += 1
            heapq.heappush(held, (time.monotonic() + rng.uniform(0.05, 0.3), seq, direction, data))
            copies -= 1   # a duplicate of a held datagram goes now, the original later
        for _ in range(copies):
            transmit(direction, data)

    write_stats()
    print(f"relaying {args.listen} -> {args.source} -> {args.forward}", flush=True)
    next_stats = time.monotonic() + args.stats_interval
    while stop["signal"] is None:
        now = time.monotonic()
        while held and held[0][0] <= now:
            _, _, direction, data = heapq.heappop(held)
            transmit(direction, data)
        if now >= next_stats:
            write_stats()
            next_stats = now + args.stats_interval
        wait = next_stats - now
        if held:
            wait = min(wait, held[0][0] - now)
        try:
            ready, _, _ = select.select([side_a, side_b, wake_r], [], [], max(0.0, wait))
        except InterruptedError:
            continue
        for s in ready:
            if s is wake_r:
                os.read(wake_r, 64)
                continue
            for _ in range(256):
                try:
                    data, addr = s.recvfrom(65535)
                except (BlockingIOError, InterruptedError):
                    break
                except OSError:
                    break   # e.g. ECONNREFUSED from an ICMP port unreachable: nothing to read
                if s is side_a:
                    peer_a = addr
                    relay("a_to_b", data)
                else:
                    relay("b_to_a", data)
    write_stats()
    print(json.dumps(snapshot(), sort_keys=True), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
