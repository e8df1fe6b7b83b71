import Dataplane
import DataplaneWire
import Foundation
import Netlink
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// The engine as a library (as the site agent uses it): one engine, two sessions (two TAPs, VNIs 10 and 20), the
/// first with two peers — frames to a learned MAC go to one peer, broadcasts to both — against the kernel's VXLAN
/// in two other namespaces.
@Suite("Data plane engine: several sessions and peers", .serialized, .enabled(if: Host.isRoot, "needs root"), .timeLimit(.minutes(10)))
struct EngineTests {
    @Test("one engine, two VNIs, two peers on one of them")
    func multiSessionMultiPeer() throws {
        let ns = Namespaces("eng")
        defer { ns.removeAll() }
        let h = try ns.make("h"), b = try ns.make("b"), c = try ns.make("c")
        try Host.sh("""
            ip link add hb netns \(h) type veth peer name bh netns \(b) &&
            ip link add hc netns \(h) type veth peer name ch netns \(c) &&
            ip -n \(h) addr add 10.202.1.1/24 dev hb && ip -n \(b) addr add 10.202.1.2/24 dev bh &&
            ip -n \(h) addr add 10.202.2.1/24 dev hc && ip -n \(c) addr add 10.202.2.2/24 dev ch &&
            ip -n \(h) link set hb up && ip -n \(h) link set hc up && ip -n \(b) link set bh up && ip -n \(c) link set ch up &&
            ip -n \(b) link add vx10 type vxlan id 10 remote 10.202.1.1 local 10.202.1.2 dstport 4789 &&
            ip -n \(b) link add vx20 type vxlan id 20 remote 10.202.1.1 local 10.202.1.2 dstport 4789 &&
            ip -n \(c) link add vx10 type vxlan id 10 remote 10.202.2.1 local 10.202.2.2 dstport 4789 &&
            ip -n \(b) addr add 192.168.10.2/24 dev vx10 && ip -n \(b) link set vx10 up &&
            ip -n \(b) addr add 192.168.20.2/24 dev vx20 && ip -n \(b) link set vx20 up &&
            ip -n \(c) addr add 192.168.10.3/24 dev vx10 && ip -n \(c) link set vx10 up
            """)
        let peerB = PeerAddress(bytes: [10, 202, 1, 2])!, peerC = PeerAddress(bytes: [10, 202, 2, 2])!
        let config = EngineConfiguration(
            name: "hub", kind: "vxlan", transport: .udp(localPort: 4789, remotePort: 4789), local: nil, ipv6: false,
            sessions: [SessionConfig(name: "hub10", encapsulation: .vxlan(vni: 10), ethernet: true, peers: [peerB, peerC]),
                       SessionConfig(name: "hub20", encapsulation: .vxlan(vni: 20), ethernet: true, peers: [peerB])],
            mtu: 1400, sourcePorts: 40000...40003)
        let engine = try NetworkNamespace.with(h) { try Engine(config) }
        try engine.start()
        defer { engine.stop() }
        #expect(engine.deviceMTUs == [1400, 1400])
        try Host.sh("ip -n \(h) addr add 192.168.10.1/24 dev hub10 && ip -n \(h) addr add 192.168.20.1/24 dev hub20")
        try Host.sh("ip netns exec \(h) ping -c 2 -i 0.2 -W 2 192.168.10.2")
        try Host.sh("ip netns exec \(h) ping -c 2 -i 0.2 -W 2 192.168.10.3")
        try Host.sh("ip netns exec \(h) ping -c 2 -i 0.2 -W 2 192.168.20.2")
        try Host.sh("ip netns exec \(b) ping -c 2 -i 0.2 -W 2 192.168.20.1")
        // After learning, 50 unicast pings to B's MAC must not reach C.
        let before = try Self.rxPackets(c, "vx10")
        try Host.sh("ip netns exec \(h) ping -c 50 -i 0.01 -W 2 -q 192.168.10.2")
        let after = try Self.rxPackets(c, "vx10")
        #expect(after - before < 5, "C received \(after - before) frames meant for B: no MAC learning")
        let s10 = engine.counters[0].snapshot, s20 = engine.counters[1].snapshot
        #expect(s10.rxPackets >= 54 && s10.txPackets >= 54, "\(s10)")
        #expect(s20.rxPackets >= 4 && s20.txPackets >= 4, "\(s20)")
        #expect(s10.totalDrops == 0 && s20.totalDrops == 0 && engine.engineCounters.snapshot.totalDrops == 0)
    }

    static func rxPackets(_ ns: String, _ dev: String) throws -> Int {
        let out = try Host.sh("ip -n \(ns) -s -j link show \(dev)")
        let j = try JSONSerialization.jsonObject(with: Data(out.utf8)) as? [[String: Any]]
        return ((j?.first?["stats64"] as? [String: Any])?["rx"] as? [String: Any])?["packets"] as? Int ?? -1
    }
}
