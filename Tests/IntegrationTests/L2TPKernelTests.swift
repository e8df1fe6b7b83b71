import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// L2TPv3 against the real kernel (Debian's 6.1 in the qemu VM; this host kernel has no l2tp modules): one side of
/// each pseudowire is built with `ip l2tp`, the mirrored side with the isthmus binary. Both sides must then look the
/// same to `ip -j l2tp show` (ids and addresses swapped), isthmus must print what ip prints for the same kernel state,
/// and Ethernet frames must cross the pseudowires (ping).
@Suite("L2TP in the kernel: ip l2tp on one side, isthmus on the other", .serialized)
struct L2TPKernelTests {
    /// The isthmus executable of this build: next to the test bundle, else the repo's .build/debug/isthmus.
    static var isthmusBinary: String? {
        let fm = FileManager.default
        if let exe = try? fm.destinationOfSymbolicLink(atPath: "/proc/self/exe") {
            let sibling = URL(fileURLWithPath: exe).deletingLastPathComponent().appendingPathComponent("isthmus").path
            if fm.isExecutableFile(atPath: sibling) { return sibling }
        }
        return Host.isthmusBinary
    }

    /// The scenario. Namespaces a/b carry the seed (UDP encapsulation, default session); c/d an IP-encapsulated
    /// tunnel whose session has cookies, sequence numbers and a chosen interface name. (Sequence numbers need the
    /// default L2-specific sublayer: with `l2spec_type none` the receiver drops every frame as unsequenced.)
    /// Sections are printed as "=== NAME" ... "=== rc N" for the test to pick apart.
    static func script(isthmus: String) -> String {
        """
        set -u
        I=\(isthmus)
        # Output verbatim, then a newline and the status, so a missing final newline still shows.
        section() { name=$1; shift; echo "=== $name"; "$@" >/tmp/section.out 2>&1; rc=$?; cat /tmp/section.out; printf '\n=== rc %d\n' $rc; }
        pair() {  # pair NS1 NS2 ADDR1 ADDR2: two namespaces joined by a veth
            ip netns add $1 && ip netns add $2 && ip -n $1 link set lo up && ip -n $2 link set lo up &&
            ip link add v$1 netns $1 type veth peer name v$2 netns $2 &&
            ip -n $1 addr add $3/24 dev v$1 && ip -n $1 link set v$1 up &&
            ip -n $2 addr add $4/24 dev v$2 && ip -n $2 link set v$2 up
        }
        pwif() { ip netns exec $1 ls /sys/class/net | grep -E '^(l2tpeth|pw)' | head -n1; }
        up() {  # up NS ADDR: address and bring up the namespace's pseudowire interface
            local dev; dev=$(pwif $1); ip -n $1 addr add $2/24 dev "$dev" && ip -n $1 link set "$dev" up
        }

        section modprobe modprobe -a l2tp_eth l2tp_ip
        section pair-ab pair a b 192.168.1.1 192.168.1.2
        section pair-cd pair c d 192.168.2.1 192.168.2.2

        section a-tunnel ip -n a l2tp add tunnel tunnel_id 1001 peer_tunnel_id 1002 encap udp local 192.168.1.1 remote 192.168.1.2 udp_sport 1701 udp_dport 1701
        section a-session ip -n a l2tp add session tunnel_id 1001 session_id 2001 peer_session_id 2002
        section b-tunnel $I -n b l2tp add tunnel tunnel_id 1002 peer_tunnel_id 1001 encap udp local 192.168.1.2 remote 192.168.1.1 udp_sport 1701 udp_dport 1701
        section b-session $I -n b l2tp add session tunnel_id 1002 session_id 2002 peer_session_id 2001

        section c-tunnel ip -n c l2tp add tunnel tunnel_id 3001 peer_tunnel_id 3002 encap ip local 192.168.2.1 remote 192.168.2.2
        section c-session ip -n c l2tp add session name pw0 tunnel_id 3001 session_id 3101 peer_session_id 3102 cookie 0102030405060708 peer_cookie a1b2c3d4 seq both
        section d-tunnel $I -n d l2tp add tunnel tunnel_id 3002 peer_tunnel_id 3001 encap ip local 192.168.2.2 remote 192.168.2.1
        section d-session $I -n d l2tp add session name pw0 tunnel_id 3002 session_id 3102 peer_session_id 3101 cookie a1b2c3d4 peer_cookie 0102030405060708 seq both

        for ns in a b c d; do
            section ip-$ns-tunnel-json ip -n $ns -j l2tp show tunnel
            section ip-$ns-session-json ip -n $ns -j l2tp show session
        done
        for ns in b d; do
            section ip-$ns-tunnel-text ip -n $ns l2tp show tunnel
            section ip-$ns-session-text ip -n $ns l2tp show session
            section isthmus-$ns-tunnel-json $I -n $ns -j l2tp show tunnel
            section isthmus-$ns-session-json $I -n $ns -j l2tp show session
            section isthmus-$ns-tunnel-text $I -n $ns l2tp show tunnel
            section isthmus-$ns-session-text $I -n $ns l2tp show session
        done

        section up-a up a 10.99.0.1
        section up-b up b 10.99.0.2
        section up-c up c 10.98.0.1
        section up-d up d 10.98.0.2
        section ping-udp ip netns exec a ping -c 3 -i 0.2 -W 3 10.99.0.2
        section ping-ip ip netns exec d ping -c 3 -i 0.2 -W 3 10.98.0.1

        section b-del-session $I -n b l2tp del session tunnel_id 1002 session_id 2002
        section b-del-tunnel $I -n b l2tp del tunnel tunnel_id 1002
        section b-after-json ip -n b -j l2tp show tunnel
        section b-missing $I -n b l2tp del tunnel tunnel_id 1002
        """
    }

    /// `ip -j l2tp show` output with one side's view turned into the other's: local and peer fields swapped.
    static func mirrored(_ json: String) throws -> String {
        let swaps = [("tunnel_id", "peer_tunnel"), ("local", "peer"), ("local_port", "peer_port"),
                     ("session_id", "peer_session_id"), ("cookie", "peer_cookie")]
        guard let objects = try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [[String: Any]] else {
            throw VMError(description: "not a JSON array of objects: \(json)")
        }
        let isSession = objects.first?["session_id"] != nil
        let turned = objects.map { o -> [String: Any] in
            var o = o
            for (x, y) in swaps {
                // In session objects "tunnel_id" pairs with "peer_tunnel_id", in tunnel objects with "peer_tunnel".
                let y = (isSession && x == "tunnel_id") ? "peer_tunnel_id" : y
                let vx = o[x], vy = o[y]
                o[x] = vy; o[y] = vx
            }
            return o
        }
        return try canonical(turned)
    }

    static func canonical(_ v: Any) throws -> String {
        String(decoding: try JSONSerialization.data(withJSONObject: v, options: [.sortedKeys]), as: UTF8.self)
    }

    static func canonical(json: String) throws -> String {
        try canonical(try JSONSerialization.jsonObject(with: Data(json.utf8)))
    }

    @Test("seed tunnel and session built by ip and by isthmus agree, and pass traffic")
    func mirroredPseudowires() async throws {
        if let reason = VM.unavailableReason, !VM.insideVM { try Test.cancel("the test VM cannot start: \(reason)") }
        guard let isthmus = Self.isthmusBinary else {
            try Test.cancel("the isthmus binary is not built; run `swift build` before `swift test`")
        }
        let script = Self.script(isthmus: isthmus)
        let r = VM.insideVM ? try Host.run(["bash", "-c", script]) : try await runInVM(script, timeout: 300)
        let s = scriptSections(r.output)
        try #require(s["modprobe"]?.status == 0, "the VM kernel has no l2tp modules:\n\(r.output)")

        for step in ["pair-ab", "pair-cd", "a-tunnel", "a-session", "b-tunnel", "b-session", "c-tunnel", "c-session", "d-tunnel", "d-session"] {
            #expect(s[step]?.status == 0, "\(step): \(s[step]?.text ?? "missing")\n\(r.output)")
        }

        // Each side built by isthmus is the mirror image of the side built by ip.
        for (ipSide, isthmusSide) in [("a", "b"), ("c", "d")] {
            for object in ["tunnel", "session"] {
                let mine = try #require(s["ip-\(isthmusSide)-\(object)-json"]?.text)
                let theirs = try #require(s["ip-\(ipSide)-\(object)-json"]?.text)
                #expect(!theirs.contains("[]"), "\(ipSide) has no \(object)")
                #expect(try Self.mirrored(mine) == Self.canonical(json: theirs),
                        "\(object)s of \(isthmusSide) (isthmus) and \(ipSide) (ip) differ:\n\(mine)\n\(theirs)")
            }
        }

        // isthmus prints what ip prints for the same kernel state, text and JSON, byte for byte.
        for ns in ["b", "d"] {
            for view in ["tunnel-json", "session-json", "tunnel-text", "session-text"] {
                let ip = s["ip-\(ns)-\(view)"], ours = s["isthmus-\(ns)-\(view)"]
                #expect(ours?.status == 0, "isthmus \(ns) \(view): \(ours?.text ?? "missing")")
                #expect(ours?.text == ip?.text, "\(ns) \(view):\n--- ip\n\(ip?.text ?? "")\n--- isthmus\n\(ours?.text ?? "")")
            }
        }

        // Frames cross both pseudowires.
        for step in ["up-a", "up-b", "up-c", "up-d"] {
            #expect(s[step]?.status == 0, "\(step): \(s[step]?.text ?? "missing")")
        }
        #expect(s["ping-udp"]?.status == 0, "ping over the UDP pseudowire:\n\(s["ping-udp"]?.text ?? r.output)")
        #expect(s["ping-ip"]?.status == 0, "ping over the IP pseudowire:\n\(s["ping-ip"]?.text ?? r.output)")

        // Deletes, and the error for a tunnel that is gone.
        #expect(s["b-del-session"]?.status == 0, "\(s["b-del-session"]?.text ?? "")")
        #expect(s["b-del-tunnel"]?.status == 0, "\(s["b-del-tunnel"]?.text ?? "")")
        #expect(s["b-after-json"]?.text == "[]\n")
        #expect(s["b-missing"]?.failed == true, "deleting a missing tunnel must fail: \(s["b-missing"]?.text ?? "missing")")
        #expect(s["b-missing"]?.text.contains("delete L2TP tunnel 1002") == true, "\(s["b-missing"]?.text ?? "")")
    }
}
