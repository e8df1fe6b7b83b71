import Foundation
import Testing

/// `isthmus vlan` against `bridge vlan`, in Debian's kernel under QEMU (this host's bridge has no VLAN filtering):
/// the same words in two namespaces leave the same port VLANs, and in one namespace both tools print the same text
/// and JSON. Then the VLANs filter: a host in VLAN 10 reaches its peer in VLAN 10 and not the one in VLAN 20.
@Suite("Bridge VLANs: bridge vlan vs isthmus vlan", .serialized,
       .enabled(if: VM.vmAvailable && TunnelKernelTests.isthmusBinary != nil, Comment(rawValue: VM.unavailableComment)))
struct VLANTests {
    /// Run in both namespaces, in order: `bridge WORDS` in A, `isthmus WORDS` in B.
    static let commands = """
        vlan add vid 10 dev p1 pvid untagged
        vlan add vid 20-23 dev p1
        vlan add vid 30 dev p2 untagged
        vlan add vid 40 dev br0 self
        vlan del vid 1 dev p2
        vlan add vid 100 dev vx0
        vlan add vid 100 dev vx0 tunnel_info id 1100
        vlan add vid 200-201 dev vx0
        vlan add vid 200-201 dev vx0 tunnel_info id 2200-2201
        vlan del vid 22 dev p1
        """

    /// Printed by both tools in B, compared byte for byte.
    static let shows = ["vlan show", "vlan show dev p1", "vlan show vid 21", "-j vlan show", "-j vlan show dev vx0",
                        "vlan tunnelshow", "-j vlan tunnelshow", "vlan"]

    static func script(isthmus: String) -> String {
        """
        set -u
        I=\(isthmus)
        modprobe -a bridge vxlan
        for ns in A B; do
            ip netns add $ns && ip -n $ns link set lo up || exit 3
            ip -n $ns link add br0 type bridge vlan_filtering 1 || exit 3
            ip -n $ns link add p1 type veth peer name q1 && ip -n $ns link add p2 type veth peer name q2 || exit 3
            ip -n $ns link add vx0 type vxlan dstport 4789 external vnifilter 2>/dev/null || ip -n $ns link add vx0 type vxlan dstport 4789 external || exit 3
            for p in p1 p2 vx0; do ip -n $ns link set $p master br0 || exit 3; done
            ip -n $ns link set vx0 type bridge_slave vlan_tunnel on || exit 3
        done
        while read -r line; do
            [ -n "$line" ] || continue
            out=$(bridge -n A $line 2>&1) || echo "FAIL bridge $line: $out"
            out=$(ip netns exec B $I $line 2>&1) || echo "FAIL isthmus $line: $out"
        done <<'EOF'
        \(commands)
        EOF
        echo "=== A"; bridge -n A -j vlan show; echo; bridge -n A -j vlan tunnelshow
        echo "=== B"; bridge -n B -j vlan show; echo; bridge -n B -j vlan tunnelshow
        n=0
        while read -r line; do
            n=$((n+1))
            echo "=== bridge $n"; bridge -n B $line
            echo "=== isthmus $n"; ip netns exec B $I $line
        done <<'EOF'
        \(shows.joined(separator: "\n"))
        EOF
        # Errors: a VID out of range, pvid on a range, a missing device; nothing changes.
        echo "=== errors"
        ip netns exec B $I vlan add vid 4095 dev p1 2>&1; echo "rc $?"
        ip netns exec B $I vlan add vid 50-52 dev p1 pvid 2>&1; echo "rc $?"
        ip netns exec B $I vlan add vid 50 dev nosuch 2>&1; echo "rc $?"
        echo "=== after errors"; bridge -n B -j vlan show
        # Filtering: h10 (VLAN 10 on p1/q1) and h20 (VLAN 30 untagged on p2/q2) must not reach each other; two hosts
        # in VLAN 10 must.
        ip netns add H1 && ip netns add H2 && ip netns add H3
        ip -n B link add p3 type veth peer name q3
        ip -n B link set p3 master br0
        ip netns exec B $I vlan del vid 1 dev p3
        ip netns exec B $I vlan add vid 10 dev p3 pvid untagged
        for i in 1 2 3; do ip -n B link set q$i netns H$i; ip -n B link set p$i up; ip -n H$i link set q$i up; ip -n H$i addr add 10.7.0.$i/24 dev q$i; done
        ip -n B link set br0 up
        sleep 1
        echo "=== same vlan"; ip netns exec H1 ping -c 2 -W 2 10.7.0.3 >/dev/null; echo "rc $?"
        echo "=== other vlan"; ip netns exec H1 ping -c 2 -W 2 10.7.0.2 >/dev/null; echo "rc $?"
        echo "=== end"
        """
    }

    @Test("same port VLANs as bridge, same text and JSON, errors change nothing, VLANs isolate")
    func sideBySide() async throws {
        let bin = try #require(TunnelKernelTests.isthmusBinary)
        let r = try await runInVM(Self.script(isthmus: bin), timeout: 400)
        #expect(r.status == 0, "\(r.output)")
        #expect(!r.output.contains("FAIL "), "\(r.output.split(separator: "\n").filter { $0.hasPrefix("FAIL ") }.joined(separator: "\n"))")
        let s = scriptSections(r.output).mapValues(\.text)
        let a = try #require(s["A"]), b = try #require(s["B"])
        #expect(a == b, "bridge:\n\(a)\nisthmus:\n\(b)")
        #expect(b.contains("\"vlan\":20,\"vlanEnd\":21") || b.contains("\"vlan\":20"), "\(b)")
        #expect(b.contains("1100") && b.contains("2200"), "tunnel ids: \(b)")
        for n in 1...Self.shows.count {
            let bridge = try #require(s["bridge \(n)"]), ours = try #require(s["isthmus \(n)"])
            #expect(bridge == ours, "`\(Self.shows[n - 1])`\nbridge:\n\(bridge)\nisthmus:\n\(ours)")
        }
        let errors = try #require(s["errors"])
        #expect(errors.contains("VLAN ID (1..4094)") && errors.contains("pvid cannot be configured for a vlan range")
                && errors.contains("nosuch"), "\(errors)")
        #expect(!errors.contains("rc 0"), "\(errors)")
        #expect(s["after errors"] == String(b.split(separator: "\n").first ?? ""), "the errors changed the VLANs")
        #expect(s["same vlan"] == "rc 0", "\(r.output)")
        #expect(s["other vlan"] != "rc 0", "VLAN 10 reached VLAN 30: \(r.output)")
    }
}
