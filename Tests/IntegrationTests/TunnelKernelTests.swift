import Foundation
import Testing

/// GRE/IPIP/SIT/ip6tnl tunnels against the real kernel (Debian's 6.1 in the qemu VM; this host kernel has no gre,
/// ipip, sit or ip6_tunnel modules). Namespace A is built with iproute2, namespace B with the isthmus binary using the
/// same words; both must leave the same `ip -d -j link show` state — including `ip tunnel add` (SIOCADDTUNNEL ioctls)
/// against `isthmus tunnel add` (rtnetlink). Then traffic: gretap, ipip and ip6gretap between two namespaces.
@Suite("IP tunnels in the kernel: ip on one side, isthmus on the other", .serialized,
       .enabled(if: VM.vmAvailable, Comment(rawValue: VM.unavailableComment)))
struct TunnelKernelTests {
    /// The isthmus executable of this build: next to the test bundle, else the repo's .build/debug/isthmus.
    static var isthmusBinary: String? {
        let fm = FileManager.default
        if let exe = try? fm.destinationOfSymbolicLink(atPath: "/proc/self/exe") {
            let sibling = URL(fileURLWithPath: exe).deletingLastPathComponent().appendingPathComponent("isthmus").path
            if fm.isExecutableFile(atPath: sibling) { return sibling }
        }
        return Host.isthmusBinary
    }
    static var binaryMissing: Bool { isthmusBinary == nil }

    /// Run in both namespaces, in order: `ip WORDS` in A, `isthmus WORDS` in B.
    static let commands = """
        link add gt0 type gretap local 10.0.0.1 remote 10.0.0.2 ignore-df nopmtudisc
        link add gre1 type gre local 10.0.0.1 remote 10.0.0.2 ikey 5 okey 6 iseq oseq icsum ocsum ttl 64
        link add gu0 type gretap remote 10.0.0.4 local 10.0.0.1 encap fou encap-sport auto encap-dport 5555
        link add ip6gt0 type ip6gretap local fd00::1 remote fd00::2
        link add ipip1 type ipip remote 10.0.0.2 local 10.0.0.1 ttl 64
        link add sit1 type sit remote 10.0.0.2 local 10.0.0.1 ttl 64
        link add t6 type ip6tnl mode ip6ip6 local fd00::1 remote fd00::2
        link add gre2 type gre local 10.0.0.1 remote 10.0.0.3 key 1.2.3.4 tos 0x10 dev lo
        link add g6 type ip6gre local fd00::1 remote fd00::3 hoplimit 10 tclass 0x20 flowlabel 0x12345 encaplimit none key 7
        link add isa0 type sit local 10.0.0.1 mode any isatap nopmtudisc
        link add ipx0 type ipip external
        link add grx0 type gretap external
        link add grm0 type gre local 10.0.0.1 remote 239.1.1.1 ttl 8 fwmark 0x42 noignore-df
        link add ipg0 type ipip remote 10.0.0.5 local 10.0.0.1 mode ipip encap gue encap-sport 4000 encap-dport 6080 encap-csum encap-remcsum tos inherit
        link add t64 type ip6tnl mode ipip6 local fd00::1 remote fd00::9 hoplimit 32 encaplimit 2 tclass inherit flowlabel inherit dscp inherit allow-localremote fwmark 9
        link add ers1 type erspan local 10.0.0.1 remote 10.0.0.2 seq key 100 erspan_ver 1 erspan 123
        link add ers6 type ip6erspan local fd00::1 remote fd00::2 seq key 200 erspan_ver 2 erspan_dir egress erspan_hwid 7
        link add s6rd type sit local 10.0.0.7 6rd-prefix 2001:db8::/32 6rd-relay_prefix 10.0.0.0/8
        link set gre1 type gre ttl 32 nooseq
        link set t6 type ip6tnl hoplimit 9 tclass 0x04
        link set gt0 type gretap noignore-df
        tunnel add t0 mode ipip remote 10.1.0.2 local 10.1.0.1 ttl 64
        tunnel add tg0 mode gre remote 10.1.1.2 local 10.1.1.1 key 7 csum ttl 32 tos 0x10
        tunnel add st0 mode sit remote 10.1.2.2 local 10.1.2.1 ttl 64
        tunnel add isa1 mode isatap local 10.1.3.1
        tunnel add t66 mode ip6ip6 remote fd00::12 local fd00::11
        tunnel add t46 mode ipip6 remote fd00::22 local fd00::21 encaplimit none hoplimit 20 tclass 10 flowlabel 123
        tunnel add g66 mode ip6gre remote fd00::32 local fd00::31 key 9 hoplimit 40
        tunnel add tn0 mode ipip remote 10.1.4.2 local 10.1.4.1 nopmtudisc
        tunnel add gd0 mode gre remote 10.1.5.2 dev lo tos inherit
        tunnel add gre9 remote 10.1.6.2 local 10.1.6.1 ikey 1.1.1.1 okey 2 iseq
        tunnel change t0 ttl 10
        tunnel change tg0 ttl 20 oseq
        tunnel del tn0
        tunnel 6rd dev st0 6rd-prefix 2001:db8::/32 6rd-relay_prefix 10.0.0.0/8
        """

    /// Keys whose values differ between two namespaces built the same way.
    static let volatileKeys: Set<String> = KernelState.volatileKeys.union(["operstate", "permaddr", "link_netnsid"])

    /// gre/ipip devices made by `tunnel add` in the list above (see sameState).
    static let ioctlMTUBounds: Set<String> = ["t0", "tg0", "gd0", "gre9"]

    static func dropping(_ keys: Set<String>, from v: Any) -> Any {
        guard var d = v as? [String: Any] else { return v }
        for k in keys { d[k] = nil }
        return d
    }

    static func normalize(_ v: Any) -> Any {
        if let d = v as? [String: Any] {
            var out: [String: Any] = [:]
            for (k, x) in d where !volatileKeys.contains(k) { out[k] = normalize(x) }
            return out
        }
        if let a = v as? [Any] { return a.map(normalize) }
        return v
    }

    static func stateScript(isthmus: String) -> String {
        """
        set -u
        I=\(isthmus)
        modprobe -a ip_gre ipip sit ip6_gre ip6_tunnel fou
        ip netns add A && ip netns add B && ip -n A link set lo up && ip -n B link set lo up || exit 3
        while read -r line; do
            [ -n "$line" ] || continue
            out=$(ip netns exec A ip $line 2>&1) || echo "FAIL ip $line: $out"
            out=$(ip netns exec B $I $line 2>&1) || echo "FAIL isthmus $line: $out"
        done <<'EOF'
        \(commands)
        EOF
        echo "=== A"; ip -n A -d -j link show
        echo "=== B"; ip -n B -d -j link show
        # The same kernel state printed by ip and by isthmus (tunl0 left out: ip's SIOCGETTUNNEL on tunl0 answers with
        # the collect-metadata ipip device ipx0).
        for o in "" "-6"; do
            echo "=== ip tunnel show${o:+ $o}"; ip netns exec B ip $o tunnel show | grep -v '^tunl0:\\|^ipx0:'
            echo "=== isthmus tunnel show${o:+ $o}"; ip netns exec B $I $o tunnel show | grep -v '^tunl0:\\|^ipx0:'
        done
        echo "=== end"
        """
    }

    @Test("ip link add/set and ip tunnel add/change/del vs isthmus: same ip -d -j link show",
          .enabled(if: !binaryMissing, "the isthmus binary is not built (swift build first)"))
    func sameState() async throws {
        let bin = try #require(Self.isthmusBinary)
        let r = try await runInVM(Self.stateScript(isthmus: bin), timeout: 400)
        #expect(r.status == 0, "\(r.output)")
        #expect(!r.output.contains("FAIL "), "\(r.output.split(separator: "\n").filter { $0.hasPrefix("FAIL ") }.joined(separator: "\n"))")
        let s = scriptSections(r.output).mapValues(\.text)
        let a = try JSONSerialization.jsonObject(with: Data(try #require(s["A"]).utf8)) as? [Any] ?? []
        let b = try JSONSerialization.jsonObject(with: Data(try #require(s["B"]).utf8)) as? [Any] ?? []
        #expect(a.count == b.count, "A has \(a.count) links, B \(b.count)")
        #expect(a.count > 30, "expected every tunnel to exist: \(a.count) links")
        for (x, y) in zip(a, b) {
            var x = x, y = y
            // The one difference rtnetlink cannot avoid: ip_tunnel_create() (the SIOCADDTUNNEL path) sets min_mtu and
            // max_mtu on gre/ipip devices, ip_tunnel_newlink() leaves them 0. The tunnels' own MTU checks are the same.
            if let name = (x as? [String: Any])?["ifname"] as? String, Self.ioctlMTUBounds.contains(name) {
                x = Self.dropping(["min_mtu", "max_mtu"], from: x); y = Self.dropping(["min_mtu", "max_mtu"], from: y)
            }
            let cx = KernelState.canonical(Self.normalize(x)), cy = KernelState.canonical(Self.normalize(y))
            #expect(cx == cy, "ip: \(cx)\nisthmus: \(cy)")
        }
        for o in ["", " -6"] {
            let ip = s["ip tunnel show" + o], ours = s["isthmus tunnel show" + o]
            #expect(ip != nil && ip == ours, "ip tunnel show\(o):\n\(ip ?? "-")\nisthmus:\n\(ours ?? "-")")
        }
    }

    static func trafficScript(isthmus: String) -> String {
        """
        set -u
        I=\(isthmus)
        modprobe -a ip_gre ipip ip6_gre
        ip netns add L && ip netns add R && ip -n L link set lo up && ip -n R link set lo up &&
        ip -n L link add vl type veth peer name vr netns R &&
        ip -n L addr add 192.0.2.1/24 dev vl && ip -n L addr add fd10::1/64 dev vl nodad && ip -n L link set vl up &&
        ip -n R addr add 192.0.2.2/24 dev vr && ip -n R addr add fd10::2/64 dev vr nodad && ip -n R link set vr up || exit 3
        check() {  # check NAME ADDR: ping from L, and the tunnel device on R counted the packets
            if ip netns exec L ping -c 3 -i 0.2 -W 2 $2 >/tmp/ping 2>&1; then echo "PASS $1"; else echo "FAIL $1"; cat /tmp/ping; fi
        }
        # gretap, both ends made by isthmus
        ip netns exec L $I link add gt type gretap local 192.0.2.1 remote 192.0.2.2 || echo "FAIL add gt L"
        ip netns exec R $I link add gt type gretap local 192.0.2.2 remote 192.0.2.1 || echo "FAIL add gt R"
        ip -n L addr add 10.9.0.1/24 dev gt && ip -n L link set gt up && ip -n R addr add 10.9.0.2/24 dev gt && ip -n R link set gt up
        check gretap 10.9.0.2
        # ipip made with `isthmus tunnel add`
        ip netns exec L $I tunnel add ti mode ipip local 192.0.2.1 remote 192.0.2.2 ttl 64 || echo "FAIL add ti L"
        ip netns exec R $I tunnel add ti mode ipip local 192.0.2.2 remote 192.0.2.1 ttl 64 || echo "FAIL add ti R"
        ip -n L addr add 10.8.0.1/30 dev ti && ip -n L link set ti up && ip -n R addr add 10.8.0.2/30 dev ti && ip -n R link set ti up
        check ipip 10.8.0.2
        # ip6gretap over the IPv6 underlay, with keys and sequence numbers
        ip netns exec L $I link add g6 type ip6gretap local fd10::1 remote fd10::2 key 42 seq || echo "FAIL add g6 L"
        ip netns exec R $I link add g6 type ip6gretap local fd10::2 remote fd10::1 key 42 seq || echo "FAIL add g6 R"
        ip -n L addr add 10.7.0.1/24 dev g6 && ip -n L link set g6 up && ip -n R addr add 10.7.0.2/24 dev g6 && ip -n R link set g6 up
        check ip6gretap 10.7.0.2
        # gretap from isthmus on one end, ip on the other
        ip netns exec L $I link add gx type gretap local 192.0.2.1 remote 192.0.2.2 key 5 csum || echo "FAIL add gx L"
        ip -n R link add gx type gretap local 192.0.2.2 remote 192.0.2.1 key 5 csum || echo "FAIL add gx R"
        ip -n L addr add 10.6.0.1/24 dev gx && ip -n L link set gx up && ip -n R addr add 10.6.0.2/24 dev gx && ip -n R link set gx up
        check gretap-mixed 10.6.0.2
        echo "=== end"
        """
    }

    @Test("gretap, ipip (tunnel add) and ip6gretap carry pings between namespaces",
          .enabled(if: !binaryMissing, "the isthmus binary is not built (swift build first)"))
    func traffic() async throws {
        let bin = try #require(Self.isthmusBinary)
        let r = try await runInVM(Self.trafficScript(isthmus: bin), timeout: 300)
        #expect(r.status == 0, "\(r.output)")
        for name in ["gretap", "ipip", "ip6gretap", "gretap-mixed"] {
            #expect(r.output.contains("PASS \(name)\n"), "\(name): \(r.output)")
        }
        #expect(!r.output.contains("FAIL"), "\(r.output)")
    }
}
