#!/usr/bin/env python3
"""When does `isthmus l2tp show` first list a PPP link as up, compared to the link coming up?

Run in the namespace of the ppp interface:  l2tp-show-watch.py STATUS_JSON IFNAME OUT [TIMEOUT]

Every 20 ms it looks at IFNAME's addresses (SIOCGIFADDR / SIOCGIFDSTADDR: IPCP has completed once the interface has
its local and its peer's address) and asks the agent what `l2tp show` asks it: the status socket that goes with
STATUS_JSON (socket_for), or, when no agent answers there, the status file. It writes "IPCP_AT SHOWN_AT" (CLOCK_MONOTONIC
seconds; "-" for what did not happen), then SHOWN_AT again as wall-clock time (CLOCK_REALTIME, to compare with the
agent's log line), to OUT and exits once both happened or after TIMEOUT seconds (default 120).
A show that starts after the link is up has the answer within one look: the isthmus binary itself is not run (under
TCG it takes seconds to start), but what it reads is.
"""
import fcntl, json, os, socket, struct, sys, time

status, ifname, out = sys.argv[1], sys.argv[2], sys.argv[3]
timeout = float(sys.argv[4]) if len(sys.argv) > 4 else 120.0


def socket_for(path):
    """The agent's status socket for a status file, as L2TPAgentConfig.statusSocketPath(forStatus:) names it: beside a
    status file under /run/isthmus, else in /run/isthmus/l2tp named for the path (FNV-1a 64 of its bytes)."""
    if path.startswith("/run/isthmus/"):
        return (path[:-5] if path.endswith(".json") else path) + ".sock"
    h = 0xcbf29ce484222325
    for b in path.encode():
        h = ((h ^ b) * 0x100000001b3) & 0xffffffffffffffff
    return "/run/isthmus/l2tp/status-%016x.sock" % h


sock_path = socket_for(status)


def link_up():
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        req = struct.pack("256s", ifname.encode()[:15])
        local = socket.inet_ntoa(fcntl.ioctl(s.fileno(), 0x8915, req)[20:24])  # SIOCGIFADDR
        peer = socket.inet_ntoa(fcntl.ioctl(s.fileno(), 0x8917, req)[20:24])   # SIOCGIFDSTADDR
        return peer not in ("0.0.0.0", local)
    except OSError:
        return False
    finally:
        s.close()


def shown_up():
    obj = None
    c = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    c.settimeout(2)
    try:
        c.connect(sock_path)
        data = b""
        while True:
            d = c.recv(65536)
            if not d:
                break
            data += d
        obj = json.loads(data)
    except (OSError, ValueError):
        try:
            with open(status) as f:
                obj = json.load(f)
        except (OSError, ValueError):
            return False
    finally:
        c.close()
    return any(s.get("interface") == ifname and s.get("ppp") == "up"
               for t in obj.get("tunnels", []) for s in t.get("sessions", []))


start = time.monotonic()
ipcp_at = shown_at = shown_wall = None
while time.monotonic() - start < timeout and (ipcp_at is None or shown_at is None):
    if ipcp_at is None and link_up():
        ipcp_at = time.monotonic()
    if shown_at is None:
        t, w = time.monotonic(), time.time()
        if shown_up():
            shown_at, shown_wall = t, w
    time.sleep(0.02)
with open(out, "w") as f:
    f.write("%s %s %s\n" % ("-" if ipcp_at is None else "%.3f" % ipcp_at, "-" if shown_at is None else "%.3f" % shown_at,
                            "-" if shown_wall is None else "%.3f" % shown_wall))
