import Foundation
import Testing
import L2TPAgent

/// PPP over L2TPv2 (issue 8): the agent's LNS and LAC against xl2tpd 1.3.18 and the real pppd 2.4.9, inside Debian's
/// 6.1 kernel under QEMU (this host has neither /dev/ppp nor l2tp_ppp): `Tools/scenarios/l2tp-ppp.sh`.
@Suite("PPP over L2TP", .serialized,
       .enabled(if: Host.isRoot && Host.isthmusBinary != nil, "needs root and the isthmus binary"))
struct L2TPPPPTests {
    /// This host has no PPP in its kernel: the agent says so at start, naming the modules, and runs nothing.
    @Test("without ppp_generic / l2tp_ppp the agent refuses to start and names the modules")
    func missingModules() throws {
        guard !FileManager.default.fileExists(atPath: "/dev/ppp") else { return }   // a host with PPP: nothing to show
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("isthmus-ppp-\(getpid())")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        for (plane, words) in [("auto", ["/dev/ppp", "ppp_generic", "l2tp_ppp", "ppp_async"]),
                               ("kernel", ["PPPoX", "l2tp_ppp", "ppp_generic", "data_plane = \"userspace\""]),
                               ("userspace", ["/dev/ppp", "ppp_generic", "ppp_async"])] {
            let file = dir.appendingPathComponent("\(plane).toml")
            try """
                [l2tp]
                version = 2
                listen = "127.0.0.1:17019"
                data_plane = "\(plane)"
                status = "\(dir.path)/\(plane).json"
                [l2tp.ppp]
                auth = "chap"
                """.write(to: file, atomically: true, encoding: .utf8)
            let r = try Host.run([Host.isthmusBinary!, "l2tp", "run", "--config", file.path])
            #expect(r.status == 1, "\(plane): \(r.output)")
            for w in words { #expect(r.output.contains(w), "\(plane): \(w) in \(r.output)") }
            #expect(!FileManager.default.fileExists(atPath: "\(dir.path)/\(plane).json"), "\(plane): nothing ran")
        }
    }

    /// `[l2tp.ipsec]` without a charon to load into: the agent says so (no socket: charon not running; a socket that
    /// refuses: a stopped charon's) and starts nothing — no status file, no socket left.
    @Test("[l2tp.ipsec] without charon: a clear error and nothing started")
    func ipsecWithoutCharon() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("isthmus-l2tp-ipsec-\(getpid())")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        // A socket bound and never listened on: connect() is refused, as for a charon that stopped.
        let refusing = dir.appendingPathComponent("refuse.vici").path
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var addr = sockaddr_un(); addr.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &addr.sun_path) { p in for (i, b) in refusing.utf8.enumerated() { p[i] = b } }
        let bound = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) } }
        try #require(bound == 0)
        for (vici, words) in [(dir.appendingPathComponent("none.vici").path, ["charon is not running", "no VICI socket at"]),
                              (refusing, ["refuses connections"])] {
            let file = dir.appendingPathComponent("lns.toml")
            try """
                [l2tp]
                version = 2
                listen = "127.0.0.1:17931"
                status = "\(dir.path)/lns.json"
                [l2tp.ipsec]
                psk = "0123456789abcdef0123"
                require = true
                vici = "\(vici)"
                """.write(to: file, atomically: true, encoding: .utf8)
            let r = try Host.run([Host.isthmusBinary!, "l2tp", "run", "--config", file.path])
            #expect(r.status == 1, "\(r.output)")
            for w in ["ipsec: "] + words { #expect(r.output.contains(w), "\(w) in \(r.output)") }
            #expect(!FileManager.default.fileExists(atPath: "\(dir.path)/lns.json"), "nothing ran")
            #expect(!FileManager.default.fileExists(atPath: "\(dir.path)/lns.sock"))
        }
    }

    /// The agent's L2TP/IPsec nft table (`L2TPIPsecFilter`, with and without `require`, IPv4 and IPv6, a wildcard
    /// listener) is accepted by this kernel's nftables as written: `nft -c` in a namespace of the test's own (the
    /// QEMU scenario applies it for real).
    @Test("the L2TP/IPsec nft table (NAT demux, require) is valid for nft and the kernel")
    func ipsecFilterIsValid() throws {
        let ns = "isthmus-nftck-\(getpid())"
        try #require(Host.run(["ip", "netns", "add", ns]).status == 0)
        defer { _ = try? Host.run(["ip", "netns", "del", ns]) }
        for require in [false, true] {
            let f = L2TPIPsecFilter(agentName: "t", listen: [("203.0.113.1", 1701), ("", 1701), ("2001:db8::1", 1702)], require: require)
            let r = try Host.run(["ip", "netns", "exec", ns, "sh", "-c", "printf '%s' \"$0\" | nft -c -f -", f.script])
            #expect(r.status == 0, "require \(require): \(r.output)\n\(f.script)")
        }
    }

    static func verdict(_ r: (status: Int32, output: String), sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(r.status == 0, "\(r.output)", sourceLocation: sourceLocation)
        #expect(r.output.contains("every check passed"), "\(r.output)", sourceLocation: sourceLocation)
        #expect(!r.output.contains("FAIL"), "\(r.output)", sourceLocation: sourceLocation)
    }

    static let modules = "modprobe -a l2tp_ppp l2tp_netlink l2tp_eth ppp_generic ppp_async veth"

    /// Isthmus ↔ Isthmus: an LNS on the userspace PPP data plane (pppd over HDLC) and an LAC on the kernel's, an
    /// incoming and an outgoing call (OCRQ) over one tunnel after a tie break, CHAP and pool addresses, ping both
    /// ways; an L2TPv3 PPP pseudowire; SIGTERM leaves nothing.
    @Test("Isthmus LAC ↔ Isthmus LNS: both data planes, incoming and outgoing calls, a v3 PPP pseudowire (QEMU guest)",
          .enabled(if: VM.vmAvailable, Comment(rawValue: VM.unavailableComment)))
    func isthmusBothEnds() async throws {
        Self.verdict(try await runInVM("\(Self.modules) && ISTHMUS=\(Host.isthmusBinary!) Tools/scenarios/l2tp-ppp-isthmus.sh", timeout: 300))
    }

    /// An IPv6 underlay: an L2TPv2 call and an L2TPv3 PPP pseudowire (the sockaddr_pppol2tpin6 and
    /// sockaddr_pppol2tpv3in6 variants), PPP up and ping across (`Tools/scenarios/l2tp-ppp-ipv6.sh`).
    @Test("PPP over L2TPv2 and L2TPv3 with an IPv6 underlay (QEMU guest)",
          .enabled(if: VM.vmAvailable, Comment(rawValue: VM.unavailableComment)))
    func ipv6Underlay() async throws {
        Self.verdict(try await runInVM("\(Self.modules) && ISTHMUS=\(Host.isthmusBinary!) Tools/scenarios/l2tp-ppp-ipv6.sh", timeout: 300))
    }

    /// Isthmus LNS ↔ xl2tpd LAC: a tunnel secret (challenges both ways) and CHAP, IPCP from the pool, ping both ways
    /// over ppp0; the LAC's pppd killed, `h` (CDN) and `d` (StopCCN) from xl2tpd; a wrong CHAP password and a wrong
    /// tunnel secret fail with the reason on both sides (`Tools/scenarios/l2tp-ppp.sh lns`).
    @Test("Isthmus LNS ↔ xl2tpd LAC (QEMU guest)", .enabled(if: VM.vmAvailable, Comment(rawValue: VM.unavailableComment)))
    func isthmusLNS() async throws {
        Self.verdict(try await runInVM("\(Self.modules) && ISTHMUS=\(Host.isthmusBinary!) Tools/scenarios/l2tp-ppp.sh lns", timeout: 420))
    }

    /// The Isthmus LNS on the userspace PPP data plane (pppd on the agent's pty, HDLC in the agent) with xl2tpd's
    /// kernel LAC: one call, CHAP, ping both ways.
    @Test("Isthmus LNS on the userspace PPP data plane ↔ xl2tpd LAC (QEMU guest)",
          .enabled(if: VM.vmAvailable, Comment(rawValue: VM.unavailableComment)))
    func isthmusUserspaceLNS() async throws {
        Self.verdict(try await runInVM("\(Self.modules) && ISTHMUS=\(Host.isthmusBinary!) ISTHMUS_PLANE=userspace STEPS=single-call Tools/scenarios/l2tp-ppp.sh lns",
                                 timeout: 300))
    }

    /// Isthmus LAC ↔ xl2tpd LNS: the same, the other way round (`Tools/scenarios/l2tp-ppp.sh lac`).
    @Test("Isthmus LAC ↔ xl2tpd LNS (QEMU guest)", .enabled(if: VM.vmAvailable, Comment(rawValue: VM.unavailableComment)))
    func isthmusLAC() async throws {
        Self.verdict(try await runInVM("\(Self.modules) && ISTHMUS=\(Host.isthmusBinary!) Tools/scenarios/l2tp-ppp.sh lac", timeout: 420))
    }

    /// 20 xl2tpd LACs to one Isthmus LNS: distinct pool addresses, traffic on every call, a CDN and a killed pppd
    /// clearing only their own call and socket (`Tools/scenarios/l2tp-ppp-load.sh many`).
    @Test("20 concurrent calls to one Isthmus LNS (QEMU guest)", .enabled(if: VM.vmAvailable, Comment(rawValue: VM.unavailableComment)))
    func twentyCalls() async throws {
        Self.verdict(try await runInVM("\(Self.modules) && ISTHMUS=\(Host.isthmusBinary!) Tools/scenarios/l2tp-ppp-load.sh many", timeout: 600, exclusive: true))
    }

    /// 100 connect/disconnect cycles (PPP up each time): the agent's fds, the kernel's sessions and tunnels, ppp
    /// interfaces and the pool are as before (`Tools/scenarios/l2tp-ppp-load.sh cycles`).
    @Test("100 connect/disconnect cycles leak nothing (QEMU guest)", .enabled(if: VM.vmAvailable, Comment(rawValue: VM.unavailableComment)))
    func hundredCycles() async throws {
        Self.verdict(try await runInVM("\(Self.modules) && ISTHMUS=\(Host.isthmusBinary!) Tools/scenarios/l2tp-ppp-load.sh cycles", timeout: 900, exclusive: true))
    }
}

/// Issue 17's LNS scenarios, each in a guest of its own: a suite apart from "PPP over L2TP" (which runs its guests one
/// after another) so that they run beside it — `runInVM` still allows one guest per core.
@Suite("L2TP LNS: RADIUS and L2TP/IPsec (QEMU guest)",
       .enabled(if: Host.isRoot && Host.isthmusBinary != nil, "needs root and the isthmus binary"))
struct L2TPLNSSecurityTests {
    /// RADIUS (issue 17): the Isthmus LNS with `auth = "radius"` against FreeRADIUS in a namespace, one xl2tpd LAC
    /// per user: RADIUS's Framed-IP-Address wins and the pool's address goes back, a user without one gets the pool's,
    /// a wrong CHAP password is rejected with the reason in the LNS's and FreeRADIUS's logs, MS-CHAPv2-only and
    /// PAP-only peers are checked by RADIUS too, the detail file has Accounting Start, an Interim-Update (after the
    /// Access-Accept's 60 s) and Stop with session time and octets, the plugin's files go on SIGTERM
    /// (`Tools/scenarios/l2tp-radius.sh`).
    @Test("Isthmus LNS with RADIUS (FreeRADIUS): Framed-IP-Address, pool fallback, accounting, a wrong password (QEMU guest)",
          .enabled(if: VM.vmAvailable, Comment(rawValue: VM.unavailableComment)))
    func radius() async throws {
        L2TPPPPTests.verdict(try await runInVM("\(L2TPPPPTests.modules) && ISTHMUS=\(Host.isthmusBinary!) Tools/scenarios/l2tp-radius.sh", timeout: 420))
    }

    /// L2TP/IPsec (issue 17): the Isthmus LNS with `[l2tp.ipsec]` (PSK, require = true) loads its IKEv1 and IKEv2
    /// connections into charon over VICI; a Linux client (strongSwan IKEv1 PSK transport mode + xl2tpd + pppd) behind
    /// a masquerading NAT gets IPsec (NAT-T) and PPP up and pings, an IKEv2 client on the LNS's other address too, a
    /// second client behind the same NAT as the first too (both pass traffic at once, each at its own port on the LNS);
    /// a cleartext SCCRQ is dropped by require's nft table; SIGTERM unloads everything (`Tools/scenarios/l2tp-ipsec.sh`).
    @Test("L2TP/IPsec: two Linux clients behind one NAT to the Isthmus LNS, require = true refuses cleartext (QEMU guest)",
          .enabled(if: VM.vmAvailable, Comment(rawValue: VM.unavailableComment)))
    func l2tpIPsec() async throws {
        L2TPPPPTests.verdict(try await runInVM("ISTHMUS=\(Host.isthmusBinary!) Tools/scenarios/l2tp-ipsec.sh", timeout: 400))
    }
}
