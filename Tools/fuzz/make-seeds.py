#!/usr/bin/env python3
"""Writes the seed corpora Fuzz/corpus/decoder, offload, ipcommand, xfrm and vici (run once; its output is committed).

Seeds are small valid inputs for every configuration the targets know, plus edge cases. The input layouts are
described at the top of Fuzz/decoder.swift, Fuzz/offload.swift and Fuzz/ipcommand.swift; the decoder configuration numbers below must
match the `configurations` table there.

    Tools/fuzz/make-seeds.py [--out DIR] [TARGET...]    (default: Fuzz/corpus next to this script's repository; all targets)
"""
import argparse
import os
import random
import shutil
import struct

rng = random.Random(20261125)

# ---------------------------------------------------------------- checksums and packets (RFC 1071, 791, 8200, 9293)


def csum_sum(data: bytes, initial: int = 0) -> int:
    """Folded one's complement sum of big-endian 16-bit words (RFC 1071), odd byte padded on the right."""
    if len(data) % 2:
        data += b"\0"
    s = initial
    for (w,) in struct.iter_unpack("!H", data):
        s += w
        s = (s & 0xFFFF) + (s >> 16)
    return s


def checksum(data: bytes) -> int:
    return ~csum_sum(data) & 0xFFFF


A4, B4 = bytes([192, 0, 2, 1]), bytes([198, 51, 100, 2])
A6 = bytes.fromhex("20010db8000000000000000000000001")
B6 = bytes.fromhex("20010db8000000000000000000000002")
MAC_A, MAC_B = bytes.fromhex("02000000000a"), bytes.fromhex("02000000000b")


def pseudo(src: bytes, dst: bytes, proto: int, length: int) -> bytes:
    if len(src) == 4:
        return src + dst + struct.pack("!BBH", 0, proto, length)
    return src + dst + struct.pack("!I3xB", length, proto)


def ip_packet(payload: bytes, proto: int, v6=False, src=None, dst=None, ident=1, options=b"", ttl=64, frag=0x4000):
    if v6:
        src, dst = src or A6, dst or B6
        return struct.pack("!IHBB", 0x60012345, len(payload), proto, ttl) + src + dst + payload
    src, dst = src or A4, dst or B4
    hl = 20 + len(options)
    h = bytearray(struct.pack("!BBHHHBBH", 0x40 | hl // 4, 0, hl + len(payload), ident, frag, ttl, proto, 0) + src + dst + options)
    struct.pack_into("!H", h, 10, checksum(bytes(h)))
    return bytes(h) + payload


def tcp_packet(payload: bytes, v6=False, seq=1000, ack=5000, flags=0x10, sport=40000, dport=5201, options=b"",
               ident=0x100, partial=False, bad=False, ip_options=b"", ttl=64):
    src, dst = (A6, B6) if v6 else (A4, B4)
    t = bytearray(struct.pack("!HHIIBBHHH", sport, dport, seq, ack, (20 + len(options)) // 4 << 4, flags, 501, 0, 0) + options + payload)
    ph = pseudo(src, dst, 6, len(t))
    c = csum_sum(ph) if partial else checksum(ph + bytes(t))
    if bad:
        c ^= 0x0101
    struct.pack_into("!H", t, 16, c)
    return ip_packet(bytes(t), 6, v6=v6, ident=ident, options=ip_options, ttl=ttl)


def udp_packet(payload: bytes, v6=False):
    u = struct.pack("!HHHH", 1234, 53, 8 + len(payload), 0) + payload
    return ip_packet(u, 17, v6=v6)


def ethernet(ip: bytes, tags=()):
    h = MAC_B + MAC_A
    for tpid, tci in tags:
        h += struct.pack("!HH", tpid, tci)
    return h + struct.pack("!H", 0x86DD if ip[0] >> 4 == 6 else 0x0800) + ip


TIMESTAMPS = bytes([1, 1, 8, 10]) + struct.pack("!II", 0x01020304, 0x05060708)
ETH_FRAME = ethernet(udp_packet(bytes(18)))          # 60 bytes
V4 = udp_packet(b"hello")
V6 = udp_packet(b"hello", v6=True)

# ---------------------------------------------------------------- decoder seeds: [config][source] + datagram

SRC_A, SRC_B, SRC_C, SRC_6 = 0, 1, 2, 3
COOKIE4 = bytes([0xC0, 0x0C, 0x1E, 0x04])
COOKIE8 = bytes([1, 2, 3, 4, 5, 6, 7, 8])


def vxlan(vni, flags=0x08):
    return struct.pack("!BxxxI", flags, vni << 8)


def l2tp(udp: bool, sid: int, cookie=b"", sublayer=True, seq=None, first=b"\x00\x03\x00\x00"):
    h = (first if udp else b"") + struct.pack("!I", sid) + cookie
    if sublayer:
        h += struct.pack("!I", 0 if seq is None else 0x40000000 | (seq & 0xFFFFFF))
    return h


def gre(proto, payload, csum=False, key=None, seq=None, extra=0):
    flags = (0x8000 if csum else 0) | (0x2000 if key is not None else 0) | (0x1000 if seq is not None else 0) | extra
    d = bytearray(struct.pack("!HH", flags, proto))
    if csum:
        d += bytes(4)
    if key is not None:
        d += struct.pack("!I", key)
    if seq is not None:
        d += struct.pack("!I", seq)
    d += payload
    if csum:
        struct.pack_into("!H", d, 4, checksum(bytes(d)))
    return bytes(d)


def outer(payload, proto, options=b""):
    return ip_packet(payload, proto, options=options, src=B4, dst=A4)


def decoder_seeds():
    s = {}

    def add(name, config, source, datagram):
        s[f"{config:02d}-{name}"] = bytes([config, source]) + datagram

    # 0: VXLAN
    add("vxlan-vni1", 0, SRC_A, vxlan(1) + ETH_FRAME)
    add("vxlan-vni123456-b", 0, SRC_B, vxlan(0x123456) + ETH_FRAME)
    add("vxlan-unknown-vni", 0, SRC_A, vxlan(2) + ETH_FRAME)
    add("vxlan-no-i-flag", 0, SRC_A, vxlan(1, flags=0) + ETH_FRAME)
    add("vxlan-short", 0, SRC_A, vxlan(1) + ETH_FRAME[:13])
    add("vxlan-unknown-peer", 0, SRC_C, vxlan(1) + ETH_FRAME)
    # 1: L2TPv3 over UDP
    add("l2tp-udp-s1", 1, SRC_A, l2tp(True, 1) + ETH_FRAME)
    add("l2tp-udp-s1-seq", 1, SRC_A, l2tp(True, 1, seq=7) + ETH_FRAME)
    add("l2tp-udp-s2-cookie-seq", 1, SRC_A, l2tp(True, 2, COOKIE4, seq=0xFFFFFF) + ETH_FRAME)
    add("l2tp-udp-s2-noseq", 1, SRC_A, l2tp(True, 2, COOKIE4) + ETH_FRAME)
    add("l2tp-udp-s2-badcookie", 1, SRC_A, l2tp(True, 2, b"\xc0\x0c\x1e\x05", seq=1) + ETH_FRAME)
    add("l2tp-udp-control", 1, SRC_A, b"\xc8\x03\x00\x20" + bytes(28))
    add("l2tp-udp-v2", 1, SRC_A, l2tp(True, 1, first=b"\x00\x02\x00\x00") + ETH_FRAME)
    # 2: L2TPv3 over UDP, 8-byte cookie, no sublayer
    add("l2tp-udp-s3-cookie8", 2, SRC_6, l2tp(True, 3, COOKIE8, sublayer=False) + ETH_FRAME)
    add("l2tp-udp-s3-b", 2, SRC_B, l2tp(True, 3, COOKIE8, sublayer=False) + ETH_FRAME)
    add("l2tp-udp-s3-cut-cookie", 2, SRC_6, l2tp(True, 3, COOKIE8[:5], sublayer=False))
    # 3: L2TPv3 over IP
    add("l2tp-ip-s1", 3, SRC_A, l2tp(False, 1) + ETH_FRAME)
    add("l2tp-ip-s2-seq", 3, SRC_A, l2tp(False, 2, COOKIE4, seq=100) + ETH_FRAME)
    add("l2tp-ip-s3", 3, SRC_B, l2tp(False, 3, COOKIE8, sublayer=False) + ETH_FRAME)
    add("l2tp-ip-control", 3, SRC_A, bytes(4) + b"\xc8\x03\x00\x14" + bytes(16))
    # 4: L2TPv3 over IP with the IPv4 header
    add("l2tp-iphdr-s1", 4, SRC_A, outer(l2tp(False, 1) + ETH_FRAME, 115))
    add("l2tp-iphdr-s2-options", 4, SRC_A, outer(l2tp(False, 2, COOKIE4, seq=5) + ETH_FRAME, 115, options=b"\x01\x01\x01\x00"))
    add("l2tp-iphdr-bad-ihl", 4, SRC_A, b"\x43" + outer(l2tp(False, 1) + ETH_FRAME, 115)[1:])
    # 5: GRE keyless gretap
    add("gre-plain", 5, SRC_A, gre(0x6558, ETH_FRAME))
    add("gre-plain-seq", 5, SRC_A, gre(0x6558, ETH_FRAME, seq=3))
    add("gre-plain-csum", 5, SRC_A, gre(0x6558, ETH_FRAME, csum=True))
    add("gre-plain-ipv4-proto", 5, SRC_A, gre(0x0800, V4))
    add("gre-version1", 5, SRC_A, gre(0x6558, ETH_FRAME, extra=1))
    add("gre-routing", 5, SRC_A, gre(0x6558, ETH_FRAME, extra=0x4000))
    add("gre-empty", 5, SRC_A, b"")
    # 6: GRE keyed: 7 TUN with csum+seq, 8 gretap with seq
    add("gre-k7-v4", 6, SRC_A, gre(0x0800, V4, csum=True, key=7, seq=1))
    add("gre-k7-v6", 6, SRC_A, gre(0x86DD, V6, csum=True, key=7, seq=0xFFFFFFFF))
    add("gre-k7-nocsum", 6, SRC_A, gre(0x0800, V4, key=7, seq=1))
    add("gre-k8-eth", 6, SRC_6, gre(0x6558, ETH_FRAME, key=8, seq=9))
    add("gre-k8-noseq", 6, SRC_B, gre(0x6558, ETH_FRAME, key=8))
    add("gre-k9-unknown", 6, SRC_A, gre(0x6558, ETH_FRAME, key=9, seq=1))
    # 7: the same with the IPv4 header
    add("gre-iphdr-k7", 7, SRC_A, outer(gre(0x0800, V4, csum=True, key=7, seq=1), 47))
    add("gre-iphdr-k8", 7, SRC_B, outer(gre(0x6558, ETH_FRAME, key=8, seq=2), 47, options=bytes(8)))
    # 8: GRE in UDP
    add("greudp-keyless-v4", 8, SRC_A, gre(0x0800, V4))
    add("greudp-keyless-v6", 8, SRC_A, gre(0x86DD, V6))
    add("greudp-k9", 8, SRC_A, gre(0x6558, ETH_FRAME, key=9))
    # 9, 10, 11: IP in IP
    add("ipip-a", 9, SRC_A, V4)
    add("ipip-b", 9, SRC_B, V4)
    add("ipip-v6-inside", 9, SRC_A, V6)
    add("ipip-short", 9, SRC_A, V4[:19])
    add("ipip-iphdr", 10, SRC_B, outer(V4, 4))
    add("ipip-iphdr-options", 10, SRC_A, outer(V4, 4, options=b"\x01\x01\x01\x00"))
    add("sit-v4only", 11, SRC_A, V6)
    add("sit-dual", 11, SRC_B, V6)
    add("sit-dual-v6peer", 11, SRC_6, V6)
    # 12, 13
    add("ipip-over-udp", 12, SRC_A, V4)
    add("no-sessions", 13, SRC_A, vxlan(1) + ETH_FRAME)
    # Edge cases: too short for the selector, empty datagrams.
    s["edge-empty"] = b""
    s["edge-one"] = b"\x00"
    for c in range(14):
        s[f"edge-empty-{c:02d}"] = bytes([c, 0])
    return s

# ---------------------------------------------------------------- offload seeds

SEP = b"\xf0\x0d"
NEEDS_CSUM, GSO_TCPV4, GSO_TCPV6 = 1, 1, 4
MODE_ETH, MODE_FIX, MODE_CHAIN = 1, 2, 4
MAX64 = 7 << 3                   # maxSegments bits: 0 would mean groups of one


def vnet(flags=0, gso=0, hdr_len=0, gso_size=0, start=0, offset=0):
    return struct.pack("<BBHHHH", flags, gso, hdr_len, gso_size, start, offset)


def offload_input(header: bytes, mode: int, headroom: int, capacity: int, frames):
    for f in frames:
        assert SEP not in f, "separator inside a frame"
    return header + bytes([mode, headroom]) + struct.pack("<H", min(capacity // 4, 0xFFFF)) + SEP.join(frames)


def payload(n):
    b = bytearray(rng.randrange(256) for _ in range(n))
    for i in range(len(b) - 1):      # keep the separator out of payloads
        if b[i] == 0xF0 and b[i + 1] == 0x0D:
            b[i + 1] = 0x0E
    return bytes(b)


def safe(make, *args, **kw):
    """Builds a frame, nudging the IPv4 id until no checksum happens to spell the separator."""
    ident = kw.pop("ident", 0x100)
    for k in range(64):
        f = make(*args, ident=ident + k, **kw)
        if SEP not in f:
            return f
    raise RuntimeError("could not avoid the separator")


def train(sizes, v6=False, eth=True, seq=1000, ident=0x100, flags=None, tags=(), options=TIMESTAMPS, sport=40000, bad=()):
    frames = []
    for i, n in enumerate(sizes):
        for k in range(64):
            p = payload(n)
            f = tcp_packet(p, v6=v6, seq=seq, ident=ident, flags=(flags[i] if flags else 0x10), options=options,
                           sport=sport, bad=i in bad)
            f = ethernet(f, tags) if eth else f
            if SEP not in f:
                break
        frames.append(f)
        seq = (seq + n) & 0xFFFFFFFF
        ident = (ident + 1) & 0xFFFF
    return frames


def offload_seeds():
    s = {}

    def add(name, data):
        s[name] = data

    # Segmentation: GSO frames with CHECKSUM_PARTIAL headers.
    for name, v6, eth, tags, options, mss, n, flags, ip_options in [
        ("seg-eth-v4-ts", False, True, (), TIMESTAMPS, 1000, 3000, 0x18, b""),
        ("seg-eth-v4-fin-cwr", False, True, (), TIMESTAMPS, 536, 2000, 0x99, b""),
        ("seg-eth-v6", True, True, (), TIMESTAMPS, 1398, 4000, 0x10, b""),
        ("seg-tun-v4", False, False, (), b"", 700, 1500, 0x18, b""),
        ("seg-tun-v6", True, False, (), b"", 100, 450, 0x10, b""),
        ("seg-vlan-v4", False, True, ((0x8100, 5),), TIMESTAMPS, 1000, 2500, 0x10, b""),
        ("seg-qinq-v6", True, True, ((0x88A8, 1), (0x8100, 2)), b"", 1200, 3000, 0x18, b""),
        ("seg-v4-ipoptions", False, True, (), b"", 1000, 1001, 0x10, b"\x01\x01\x01\x00"),
        ("seg-small-mss", False, True, (), b"", 8, 200, 0x10, b""),
    ]:
        for k in range(64):
            ip = tcp_packet(payload(n), v6=v6, options=options, flags=flags, partial=True, ident=0x200 + k, ip_options=ip_options)
            f = ethernet(ip, tags) if eth else ip
            if SEP not in f:
                break
        ip_off = (14 + 4 * len(tags)) if eth else 0
        l4 = ip_off + (40 if v6 else 20 + len(ip_options))
        hdr = vnet(NEEDS_CSUM, GSO_TCPV6 if v6 else GSO_TCPV4, l4 + 20 + len(options), mss, l4, 16)
        mode = MODE_ETH if eth else 0
        add(name, offload_input(hdr, mode, 36, 65536, [f]))
        if name == "seg-eth-v4-ts":
            need = 3000 + 3 * (l4 + 32)                # capacity travels in units of 4
            add(name + "-tight", offload_input(hdr, mode, 0, (need + 3) // 4 * 4, [f]))
            add(name + "-too-tight", offload_input(hdr, mode, 0, (need + 3) // 4 * 4 - 4, [f]))
            add(name + "-ecn", offload_input(vnet(NEEDS_CSUM, GSO_TCPV4 | 0x80, l4 + 32, mss, l4, 16), mode, 7, 65536, [f]))
            add(name + "-csum-only", offload_input(vnet(NEEDS_CSUM, 0, 0, 0, l4, 16), mode, 0, 0, [f]))
            add(name + "-wrong-type", offload_input(vnet(NEEDS_CSUM, GSO_TCPV6, l4 + 32, mss, l4, 16), mode, 0, 65536, [f]))
    # completeChecksum of a UDP packet (offset 6).
    u = ethernet(udp_packet(payload(100)))
    add("csum-udp", offload_input(vnet(NEEDS_CSUM, 0, 0, 0, 34, 6), MODE_ETH, 0, 0, [u]))

    # Coalescing: trains of segments, valid as they are (mode without fix-ups) and with fix-ups.
    none = vnet()
    for name, frames, mode in [
        ("gro-eth-v4", train([200] * 6), MODE_ETH),
        ("gro-eth-v4-aligned-1", train([100] * 4), MODE_ETH | 0x40),
        ("gro-eth-v4-aligned-3", train([100] * 4), MODE_ETH | 0xC0),
        ("gro-eth-v6", train([200] * 5, v6=True), MODE_ETH),
        ("gro-tun-v4", train([150] * 5, eth=False, options=b""), 0),
        ("gro-tun-v6", train([150] * 4, v6=True, eth=False), 0),
        ("gro-vlan", train([120] * 4, tags=((0x8100, 9),)), MODE_ETH),
        ("gro-short-last", train([200, 200, 200, 50, 200]), MODE_ETH),
        ("gro-push", train([100] * 5, flags=[0x10, 0x10, 0x18, 0x10, 0x10]), MODE_ETH),
        ("gro-syn-fin-rst", train([100] * 6, flags=[0x10, 0x12, 0x10, 0x11, 0x14, 0x10]), MODE_ETH),
        ("gro-bad-checksum", train([100] * 5, bad={2}), MODE_ETH),
        ("gro-max-4", train([60] * 9), MODE_ETH | (3 << 3)),
        ("gro-max-64", train([10] * 70, options=b""), MODE_ETH | (7 << 3)),
        ("gro-big", train([1400] * 5), MODE_ETH),
        ("gro-interleaved", [f for pair in zip(train([80] * 3), train([80] * 3, sport=40001, seq=9000)) for f in pair], MODE_ETH),
        ("gro-fixups", train([90] * 5), MODE_ETH | MODE_FIX | MODE_CHAIN),
        ("gro-fixups-v6", train([90] * 5, v6=True), MODE_ETH | MODE_FIX | MODE_CHAIN),
        ("gro-mixed", [ethernet(udp_packet(payload(30)))] + train([100] * 3) + [ETH_FRAME, b"", b"\x00" * 13], MODE_ETH),
    ]:
        add(name, offload_input(none, mode if mode & MAX64 else mode | MAX64, 0, 0, frames))
    # Padded short frames (Ethernet minimum size).
    padded = [f + bytes(60 - len(f)) for f in train([4, 4, 2], options=b"")]
    add("gro-padded", offload_input(none, MODE_ETH | MAX64, 0, 0, padded))
    # Segment and coalesce in one input: a GSO frame first, then its would-be segments.
    add("seg-then-gro", offload_input(vnet(NEEDS_CSUM, GSO_TCPV4, 66, 300, 34, 16), MODE_ETH | MAX64, 16, 8192,
                                      [ethernet(safe(tcp_packet, payload(900), options=TIMESTAMPS, partial=True))] + train([300] * 3)))
    # Edge cases.
    add("edge-header-only", vnet(NEEDS_CSUM, GSO_TCPV4, 54, 1000, 34, 16) + bytes([MODE_ETH, 0, 0xFF, 0xFF]))
    add("edge-separators", none + bytes([MODE_ETH, 0, 0, 0]) + SEP * 8)
    add("edge-arp", none + bytes([MODE_ETH, 0, 0, 0]) + MAC_B + MAC_A + b"\x08\x06" + bytes(28))
    add("edge-v4-fragment", vnet(NEEDS_CSUM, GSO_TCPV4, 54, 100, 34, 16) + bytes([MODE_ETH, 0, 0, 0x10])
        + ethernet(ip_packet(bytes(300), 6, frag=0x2000)))
    return s

# ---------------------------------------------------------------- ipcommand seeds: [mode] + words or a batch file

ARGV, BATCH = 0, 1
JSON, DETAILS, FORCE = 2, 4, 8


def ipcommand_seeds():
    """Command lines for every object (mode byte, then words separated by NUL), batch files, and long and hostile
    words: 15 to 70,000 bytes where an interface name, an alias, a link kind or an address label goes, NULs,
    invalid UTF-8, CRLF."""
    s = {}

    def argv(name, line, mode=ARGV):
        words = line if isinstance(line, list) else line.split(" ")
        s[f"argv-{name}"] = bytes([mode]) + b"\0".join(w if isinstance(w, bytes) else w.encode() for w in words)

    def batch(name, text: bytes, mode=BATCH):
        s[f"batch-{name}"] = bytes([mode]) + text

    for name, line in [
        ("link-show", "link show"), ("link-show-dev", "link show dev lo"), ("link-show-json", "link show eth0"),
        ("link-add-vxlan", "link add vx1 type vxlan id 100 dstport 4789 remote 192.0.2.2 local 192.0.2.1 dev eth0 ttl 64"),
        ("link-add-veth", "link add v0 mtu 1400 type veth peer name v1 address 02:00:00:00:00:01"),
        ("link-add-bridge", "link add br1 type bridge vlan_filtering 1 stp_state 0"),
        ("link-add-gretap", "link add g0 type gretap remote 192.0.2.2 local 192.0.2.1 key 7 csum"),
        ("link-add-macvlan", "link add link eth0 name mv0 type macvlan mode bridge"),
        ("link-set", "link set dev eth0 up mtu 9000 master br0 alias uplink txqueuelen 1000"),
        ("link-set-type", "link set vx0 type vxlan ttl 10"),
        ("link-del-group", "link delete group 5"),
        ("addr-add", "address add 10.0.0.1/24 broadcast + dev eth0 label eth0:1 valid_lft 100 preferred_lft 50"),
        ("addr-add6", "address add 2001:db8::1/64 dev eth0 nodad"),
        ("addr-flush", "address flush dev eth0"),
        ("route-add", "route add 10.9.0.0/16 via 10.0.0.2 dev eth0 metric 10 mtu lock 1400 congctl cubic table 100"),
        ("route-multipath", "route add default nexthop via 10.0.0.2 dev eth0 weight 2 nexthop via 10.0.0.3 dev br0"),
        ("route-get", "route get 10.9.0.1 from 10.0.0.1 oif eth0"),
        ("neigh-add", "neighbour add 10.0.0.5 lladdr 02:00:00:00:00:05 dev eth0 nud permanent"),
        ("fdb-append", "fdb append 00:00:00:00:00:00 dev vx0 dst 192.0.2.2 port 4789 vni 100 self"),
        ("l2tp-tunnel", "l2tp add tunnel tunnel_id 1 peer_tunnel_id 2 encap udp local 192.0.2.1 remote 192.0.2.2 udp_sport 1701 udp_dport 1701"),
        ("l2tp-session", "l2tp add session name l2tpeth0 tunnel_id 1 session_id 10 peer_session_id 20 cookie 0011223344556677"),
        ("tunnel-add", "tunnel add gre1 mode gre remote 192.0.2.2 local 192.0.2.1 ttl 64 key 5"),
        ("tunnel-6rd", "tunnel 6rd dev sit1 6rd-prefix 2001:db8::/32"),
        ("mtu", "mtu vxlan underlay 1500"),
        ("xfrm-state-add", "xfrm state add src 10.1.1.1 dst 10.1.2.1 proto esp spi 0x1000 reqid 7 mode transport aead rfc4106(gcm(aes)) 0x0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f 128 sel src 10.1.1.1 dst 10.1.2.1 proto 115 dev eth0 encap espinudp 4500 4500 0.0.0.0 flag esn replay-window 128 limit time-soft 30 mark 7 mask 0xff output-mark 3 if_id 9"),
        ("xfrm-state-add-cbc", "xfrm state add src 2001:db8::1 dst 2001:db8::2 proto esp spi 0x2001 mode tunnel enc cbc(aes) 0x00112233445566778899aabbccddeeff auth-trunc hmac(sha256) 0x000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f 128"),
        ("xfrm-state-list", "xfrm state list nokeys src 10.0.0.0/8 proto esp mode transport reqid 1 flag af-unspec"),
        ("xfrm-policy-add", "xfrm policy add src 10.1.1.1 dst 10.1.2.1 proto udp sport 1701 dport 1701 dir out ptype sub action block priority 5 flag localok icmp mark 3 if_id 4 limit time-hard 100 tmpl src 1.1.1.1 dst 2.2.2.2 proto ah spi 0x10 mode tunnel reqid 2 level use"),
        ("xfrm-policy-del", "xfrm policy delete index 8 dir fwd ptype main"),
        ("xfrm-policy-deleteall", "xfrm policy deleteall src 10.0.0.0/8 proto icmp type 8 code 0 dir in"),
        ("xfrm-count", "xfrm state count"),
    ]:
        argv(name, line)
    argv("link-show-json-details", "link show", mode=ARGV | JSON | DETAILS)

    # Long words where each kind of value goes: 15 and 16 bytes (IFNAMSIZ), 255 and 256 (IFALIASZ), and past the
    # 65,531 bytes a netlink attribute holds.
    for n in (15, 16):
        argv(f"name-{n}", ["link", "add", "name", "n" * n, "type", "veth", "peer", "name", "p" * n])
        argv(f"master-{n}", ["link", "set", "eth0", "master", "m" * n])
    for n in (255, 256):
        argv(f"alias-{n}", ["link", "set", "lo", "alias", "b" * n])
    argv("dev-65531", ["link", "show", "dev", "a" * 65_531])
    argv("kind-65531", ["link", "add", "x0", "type", "k" * 65_531])
    argv("label-70000", ["address", "add", "10.0.0.1/24", "dev", "eth0", "label", "l" * 70_000])
    argv("congctl-65530", ["route", "add", "10.9.0.0/16", "dev", "eth0", "congctl", "c" * 65_530])
    argv("multipath-vias", ["route", "add", "10.9.0.0/16", "nexthop"] + ["via", "10.0.0.2"] * 2000)
    argv("mac-long", ["link", "set", "lo", "address", ":".join(["ab"] * 3000)])
    argv("cookie-long", ["l2tp", "add", "session", "tunnel_id", "1", "session_id", "2", "peer_session_id", "3",
                         "cookie", "00" * 5000])
    # Numbers too big for their field.
    argv("mtu-huge", "link set lo mtu 99999999999999999999999999")
    argv("metric-huge", "route add 10.9.0.0/24 dev lo metric 0x1ffffffffffffffff")
    argv("weight-huge", "route add 10.9.0.0/24 nexthop via 10.0.0.2 weight 4294967297")
    # Hostile bytes: a NUL inside a word, invalid UTF-8, an empty word.
    argv("nul-in-name", [b"link", b"show", b"dev", b"l\0o"])
    argv("invalid-utf8", [b"link", b"set", b"dev", b"\xff\xfe\x80", b"alias", b"\xc3"])
    argv("empty-words", ["link", "", "set", "", "lo"])

    batch("plain", b"link set dev lo up\naddress add 10.0.0.1/24 dev eth0\nroute add default via 10.0.0.2\n")
    batch("crlf", b"link show dev lo\r\nlink set lo down\r\n# comment\r\n")
    batch("quotes", b"link set lo alias \"two words\"\nlink set lo alias 'unterminated\n")
    batch("nul", b"link show dev l\0o\nlink show lo\n", mode=BATCH | FORCE)
    batch("invalid-utf8", b"link show \xff\xfe\nlink show lo\n", mode=BATCH | FORCE)
    batch("long-line", b"link show dev " + b"c" * 70_000 + b"\nlink set lo up\n", mode=BATCH | FORCE)
    batch("long-alias", b"link set lo alias " + b"b" * 66_000 + b"\n")
    return s


# XFRM message types in Fuzz/xfrm.swift's `types` order (byte 0 of an input picks one, modulo the count).
XFRM_TYPES = [16, 26, 17, 24, 19, 25, 20, 27, 34, 36]  # NEWSA UPDSA DELSA EXPIRE NEWPOLICY UPDPOLICY DELPOLICY POLEXPIRE NEWSADINFO NEWSPDINFO


def xfrm_seeds():
    """The golden xfrm requests (Tests/IPCommandTests/Golden/xfrm) as payloads of their own type and as datagrams,
    plus what the kernel sends back: a DELSA/DELPOLICY carrying the state or policy, an EXPIRE, SAD and SPD info."""
    here = os.path.dirname(os.path.abspath(__file__))
    gdir = os.path.join(here, "..", "..", "Tests", "IPCommandTests", "Golden", "xfrm")
    seeds = {}
    def attr(t, data):
        n = 4 + len(data)
        return struct.pack("<HH", n, t) + data + b"\0" * ((4 - n % 4) % 4)
    infos = {}
    for name in sorted(os.listdir(gdir)):
        for line in open(os.path.join(gdir, name)):
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            msg = bytes.fromhex(line)
            mtype = struct.unpack_from("<H", msg, 4)[0]
            base = name[:-len(".golden")]
            seeds[f"dgram-{base}"] = bytes([0x80]) + msg
            if mtype in XFRM_TYPES:
                seeds[f"payload-{base}"] = bytes([XFRM_TYPES.index(mtype)]) + msg[16:]
                if mtype in (16, 19):
                    infos[mtype] = msg[16:]
    sa, pol = infos[16], infos[19]
    seeds["kernel-delsa"] = bytes([XFRM_TYPES.index(17)]) + sa[:24] + attr(6, sa[:224])
    seeds["kernel-delpolicy"] = bytes([XFRM_TYPES.index(20)]) + pol[:64] + attr(7, pol[:168])
    seeds["kernel-expire"] = bytes([XFRM_TYPES.index(24)]) + sa[:224] + b"\1" + b"\0" * 7 + sa[224:]
    seeds["kernel-sadinfo"] = bytes([XFRM_TYPES.index(34)]) + b"\0" * 4 + attr(1, struct.pack("<I", 3)) + attr(2, struct.pack("<II", 8, 1024))
    seeds["kernel-spdinfo"] = bytes([XFRM_TYPES.index(36)]) + b"\0" * 4 + attr(1, struct.pack("<6I", 1, 2, 3, 0, 0, 0)) + attr(2, struct.pack("<II", 4, 1024)) + attr(3, b"\x20\x20") + attr(4, b"\x80\x80")
    return seeds


def vici_seeds():
    """The golden VICI packets (Tests/VICIWireTests/Golden, swanctl and charon captured), each conversation's
    packets as one stream; byte 0 (where the target splits the stream) varies."""
    here = os.path.dirname(os.path.abspath(__file__))
    gdir = os.path.join(here, "..", "..", "Tests", "VICIWireTests", "Golden")
    seeds = {}
    for i, name in enumerate(sorted(os.listdir(gdir))):
        if not name.endswith(".vici"):
            continue
        lines = [l.strip() for l in open(os.path.join(gdir, name)) if l[:1] in "<>"]
        for d in "<>":
            stream = b"".join(bytes.fromhex(l[2:]) for l in lines if l[0] == d)
            if stream:
                # (byte 0 from the name's position, not the shared rng: the other corpora stay as they are)
                seeds[f"{name[:-5]}-{'charon' if d == '<' else 'swanctl'}"] = bytes([(i * 37) % 256]) + stream[:8000]
    return seeds


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default=os.path.join(here, "..", "..", "Fuzz", "corpus"))
    ap.add_argument("targets", nargs="*", help="only these corpora (default: all)")
    args = ap.parse_args()
    out = os.path.normpath(args.out)
    makers = [("decoder", decoder_seeds), ("offload", offload_seeds), ("ipcommand", ipcommand_seeds), ("xfrm", xfrm_seeds), ("vici", vici_seeds)]
    for target, make in makers:
        if args.targets and target not in args.targets:
            continue
        seeds = make()
        d = os.path.join(out, target)
        shutil.rmtree(d, ignore_errors=True)
        os.makedirs(d)
        for name, data in sorted(seeds.items()):
            with open(os.path.join(d, name), "wb") as f:
                f.write(data)
        print(f"{d}: {len(seeds)} seeds, {sum(map(len, seeds.values()))} bytes")


if __name__ == "__main__":
    main()
