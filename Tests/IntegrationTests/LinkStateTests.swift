import Foundation
import IPCommand
import Testing

/// The seed set-ups this kernel supports (bridge, veth, vxlan, macvlan), run once with `ip` and once with Isthmus
/// (in-process, and as `isthmus -batch`), must leave the same `ip -d -j link show` state.
@Suite("Same kernel state as iproute2", .serialized, .enabled(if: Host.isRoot, "needs root"))
struct LinkStateTests {
    static let seed = """
        link add br0 type bridge stp_state 0
        link add eth0 type veth peer name eth0p
        link add v0 mtu 1400 type veth peer name v1 mtu 1400
        link add vxlan100 type vxlan id 100 local 10.0.1.1 remote 10.0.2.1 dstport 4789 dev eth0
        link set vxlan100 master br0
        link set eth0 up
        link add link eth0 name mv0 type macvlan mode bridge
        link add link eth0 name mv1 type macvlan mode private
        link set br0 up
        link set v0 master br0
        link set v0 up
        link add vx1 type vxlan id 200 group 239.1.1.1 dev eth0 dstport 4789 srcport 32768 61000 ttl 64 nolearning noudpcsum
        link add vx6 type vxlan id 300 local fd00::1 remote fd00::2 dstport 4789 udp6zerocsumtx udp6zerocsumrx
        link set v1 mtu 1300 promisc on
        link add vx7 group 7 type vxlan id 7 dstport 4790
        link add vx8 group 7 type vxlan id 8 dstport 4790
        link del group 7
        link set mv0 name mvlan0
        link set vxlan100 nomaster
        link set vxlan100 master br0
        link add br1 type bridge forward_delay 0 hello_time 100 stp_state 1
        link set mv1 down
        link del mv1
        """

    @Test("seed commands: ip vs isthmus vs isthmus -batch")
    func seedCommands() throws {
        let ns = Namespaces("linkstate")
        defer { ns.removeAll() }
        let viaIP = try ns.make("ip"), viaLib = try ns.make("lib"), viaBatch = try ns.make("batch")
        for line in Self.seed.split(separator: "\n") {
            try Host.sh("ip -n \(viaIP) \(line)")
            _ = try Host.isthmus(String(line), netns: viaLib)
        }
        guard let bin = Host.isthmusBinary else { Issue.record("isthmus binary not built (run swift build first)"); return }
        let r = try Host.run([bin, "-n", viaBatch, "-batch", "-"], input: Self.seed + "\n")
        #expect(r.status == 0, "isthmus -batch failed: \(r.output)")
        let expected = try KernelState.links(viaIP)
        #expect(try KernelState.links(viaLib) == expected)
        #expect(try KernelState.links(viaBatch) == expected)
    }

    @Test("a wrong keyword changes nothing and names the word")
    func badKeywordChangesNothing() throws {
        let ns = Namespaces("badkw")
        defer { ns.removeAll() }
        let n = try ns.make("a")
        let before = try KernelState.links(n)
        #expect(throws: UsageError.self) { _ = try Host.isthmus("link add vx0 type vxlan id 100 dstprt 4789", netns: n) }
        do { _ = try Host.isthmus("link add vx0 type vxlan id 100 dstprt 4789", netns: n) } catch {
            #expect("\(error)".contains("\"dstprt\""))
            #expect("\(error)".contains("dstport"))
        }
        #expect(try KernelState.links(n) == before)
    }

    @Test("kernel errors carry the extended-ACK text")
    func extAck() throws {
        let ns = Namespaces("extack")
        defer { ns.removeAll() }
        let n = try ns.make("a")
        _ = try Host.isthmus("link add vx0 type vxlan id 100 dstport 4789", netns: n)
        do {
            // Two VXLAN devices with the same VNI and port: the kernel refuses and says why.
            _ = try Host.isthmus("link add vx1 type vxlan id 100 dstport 4789", netns: n)
            Issue.record("expected a kernel error")
        } catch {
            #expect("\(error)".contains("kernel:"), "no extended ACK text in: \(error)")
        }
    }

    @Test("-batch with an error reports file:line and, with -force, goes on")
    func batchErrors() throws {
        guard let bin = Host.isthmusBinary else { Issue.record("isthmus binary not built"); return }
        let ns = Namespaces("batcherr")
        defer { ns.removeAll() }
        let n = try ns.make("a")
        let text = "link add d1 type bridge\nlink add d1 type bridge\nlink add d2 type bridge\n"
        let stop = try Host.run([bin, "-n", n, "-batch", "-"], input: text)
        #expect(stop.status != 0)
        #expect(stop.output.contains("stdin:2"), "\(stop.output)")
        let links = try Host.sh("ip -n \(n) -br link show")
        #expect(links.contains("d1"))
        let n2 = try ns.make("b")
        let force = try Host.run([bin, "-n", n2, "-batch", "-", "-force"], input: text)
        #expect(force.status != 0)
        #expect(try Host.sh("ip -n \(n2) -br link show").contains("d2"))
    }

    @Test("a non-root user is told which capability is missing")
    func nonRoot() throws {
        guard let bin = Host.isthmusBinary else { Issue.record("isthmus binary not built"); return }
        guard Host.which("setpriv") else { Issue.record("setpriv (util-linux) missing"); return }
        // Drop to nobody with no capabilities; the kernel answers EPERM and Isthmus names CAP_NET_ADMIN.
        let r = try Host.run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--inh-caps=-all",
                              bin, "link", "add", "isth-nocap0", "type", "bridge"])
        #expect(r.status != 0)
        #expect(r.output.contains("CAP_NET_ADMIN"), "\(r.output)")
        #expect(!(try Host.sh("ip -br link show")).contains("isth-nocap0"))
    }
}
