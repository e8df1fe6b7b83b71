import IPCommand
import Netlink
import TestSupport
import Testing
import TunnelHost

/// `tunnel run` (the userspace data plane) checks its words before opening anything.
@Suite("tunnel run: errors before anything is opened")
struct TunnelRunErrorTests {
    /// The error text a line produces through the command runner, `tunnel run` set as the CLI sets it (fails the
    /// test when the line succeeds). The fake kernel answers nothing: nothing may be asked of it.
    static func error(_ line: String) -> String {
        let fake = FakeNetlink { _ in [] }
        let session = Session(options: Options()) { _, _ in fake }
        session.tunnelRunner = TunnelRun.run
        do {
            try IPCommandRunner.run(try splitCommandLine(line), session: session)
            Issue.record("\"\(line)\" succeeded; expected an error")
            return ""
        } catch {
            return "\(error)"
        }
    }

    @Test("missing or unknown words, kinds and required keywords")
    func errors() {
        let r = Self.error("tunnel run anything at all")
        #expect(r.contains("\"at\"") && r.contains("type"), "\(r)")
        #expect(Self.error("tunnel run").contains("missing NAME"))
        #expect(Self.error("tunnel run t0").contains("missing \"type KIND\""))
        let k = Self.error("tunnel run t0 type frob")
        #expect(k.contains("\"frob\"") && k.contains("vxlan") && k.contains("l2tpv3"), "\(k)")
        #expect(Self.error("tunnel run t0 type vxlan id 5 dstport 4789").contains("\"remote ADDR\" is required"))
        #expect(Self.error("tunnel run t0 type l2tpv3 tunnel_id 1 peer_tunnel_id 2 session_id 3 peer_session_id 4 encap udp local 10.0.0.1 remote 10.0.0.2").contains("udp_sport"))
        #expect(Self.error("tunnel run t0 type l2tpv3 tunnel_id 1 peer_tunnel_id 2 session_id 3 peer_session_id 4 encap ip local 10.0.0.1 remote fd00::2").contains("IPv4 or both IPv6"))
        #expect(Self.error("tunnel run t0 mtu 20 type vxlan").contains("mtu"))
    }
}
