#if canImport(Glibc)
import Glibc
#endif
import CLinuxUAPI
import IPCommand
import LinkValues
import Netlink
import NetlinkWire
@testable import SiteAgent
import Sites
import TestSupport
import Testing

/// The host observer and the reconciler over a message-level fake kernel: no root, no namespaces.
@Suite("SiteAgent over a fake netlink")
struct HostObserverReconcilerTests {
    static func config(_ tunnel: String, extra: [String] = []) -> String {
        """
        [segment]
        name = "lab"
        tunnel = "\(tunnel)"
        \(extra.joined(separator: "\n"))

        [sites.east]
        address = "192.0.2.1"
        tunnel_address = "10.255.0.1/30"
        networks = ["10.1.0.0/16"]

        [sites.west]
        address = "198.51.100.7"
        tunnel_address = "10.255.0.2/30"
        networks = ["10.2.0.0/16"]
        """
    }

    /// The site `east` of `text` on the kernel data plane, its sessions on `kernel`.
    static func site(_ text: String, kernel: FakeKernel) throws -> Site {
        let config = try SiteConfig.load(text: text, file: "test.toml").get()
        let side = try config.side(for: "east")
        let desired = try DesiredState(side: side, dataplane: .kernel)
        let filters = FilterRuleset(segment: config.name, bridge: nil, tunnel: desired.tunnel.name, filters: side.filters,
                                    mssIPv4: side.mssIPv4, mssIPv6: side.mssIPv6, clearDF: false)
        var s = Site(config: config, side: side, dataplane: .kernel, dataplaneReason: nil, desired: desired, filters: filters, netns: nil)
        s.transport = { proto, _ in proto == NETLINK_ROUTE ? kernel.rtnl : kernel.genl }
        return s
    }

    /// A kernel that reports `links` (name, index, kind, alias, IFLA_INFO_DATA) in GETLINK dumps and by name, has no
    /// addresses, routes, FDB entries or l2tp family, and acknowledges every change.
    final class FakeKernel {
        var links: [(name: String, index: Int32, kind: String, alias: String?, data: [UInt8])] = []
        lazy var rtnl = FakeNetlink { [unowned self] m in
            guard m.type == UInt16(RTM_GETLINK) else { return [] }
            let req = try LinkMessage(m)
            let dump = m.flags & NetlinkFlags.dump.rawValue == NetlinkFlags.dump.rawValue
            let matches = self.links.filter { dump || $0.name == req.name }
            if !dump && matches.isEmpty { throw NetlinkError(operation: "RTM_GETLINK", errno: ENODEV) }
            return try matches.map { l in
                var w = AttributeWriter()
                w.string(IFLA_IFNAME, l.name)
                w.u32(IFLA_MTU, 1500)
                if let a = l.alias { w.string(IFLA_IFALIAS, a) }
                w.nested(IFLA_LINKINFO) { li in
                    li.string(IFLA_INFO_KIND, l.kind)
                    li.raw(IFLA_INFO_DATA, l.data)
                }
                return try RTMessage.link(RTM_NEWLINK, flags: [], header: IfInfoHeader(type: 1, index: l.index), attributes: w)
            }
        }
        /// No l2tp module: every generic netlink request fails.
        let genl = FakeNetlink { _ in throw NetlinkError(operation: "genl", errno: ENOENT) }
    }

    static let kinds: [(String, [String])] = [("ipip", []), ("gre", ["key = 77"]), ("gre", ["fragment = false"])]

    @Test("the observer reads a tunnel the reconciler made as the planner wrote it: no drift, no change", arguments: kinds)
    func observerReadsBack(_ k: (String, [String])) throws {
        let kernel = FakeKernel()
        let site = try Self.site(Self.config(k.0, extra: k.1), kernel: kernel)
        let link = try #require(site.desired.tunnel.link?.value as? any RTLinkValue)
        var data = AttributeWriter()
        link.encode(into: &data)
        kernel.links = [("lo", 1, "", nil, []), (site.desired.tunnel.name, 7, link.kind, "isthmus:lab", data.bytes)]
        let observed = try Reconciler(site: site).observe()
        let tunnel = try #require(observed[site.desired.tunnel.name])
        #expect(tunnel.kind == site.desired.tunnel.kind)
        #expect(tunnel.parameters == site.desired.tunnel.parameterDictionary)
        let changes = try Planner.plan(desired: site.desired, observed: observed, segment: "lab")
        #expect(!changes.contains { if case .create = $0 { return true }; if case .delete = $0 { return true }; return false },
                "\(Planner.render(changes))")

        // A tunnel changed by hand (another remote) is drift: replaced.
        var other = link as? IPTunnelLink ?? IPTunnelLink(variant: .ipip)
        if let g = link as? GRELink {
            var h = g
            h.remote = LinkAddress("198.51.100.99")
            var w = AttributeWriter()
            h.encode(into: &w)
            kernel.links[1].data = w.bytes
        } else {
            other.remote = LinkAddress("198.51.100.99")
            var w = AttributeWriter()
            other.encode(into: &w)
            kernel.links[1].data = w.bytes
        }
        let drifted = try Planner.plan(desired: site.desired, observed: try Reconciler(site: site).observe(), segment: "lab")
        #expect(Planner.render(drifted).contains("remote 198.51.100.99 → 198.51.100.7"), "\(Planner.render(drifted))")
    }

    @Test("the reconciler creates a kernel tunnel from its value: the request `ip link add` sends for the value's words",
          arguments: kinds)
    func reconcilerCreates(_ k: (String, [String])) throws {
        let kernel = FakeKernel()
        let site = try Self.site(Self.config(k.0, extra: k.1), kernel: kernel)
        let spec = site.desired.tunnel
        // The alias is set by name right after: the fake kernel knows the device from then on.
        kernel.links = [(spec.name, 7, spec.kind, nil, [])]
        try Reconciler(site: site).execute(.create(spec, alias: "isthmus:lab", reason: nil), state: ObservedState())
        let created = try #require(kernel.rtnl.sentBytesWithoutSeq.first)

        let words = FakeKernel()
        let s = Session(options: Options()) { _, _ in words.rtnl }
        try IPCommandRunner.run(line: "link add \(spec.name) type \(spec.kind) \(spec.parameterWords)", session: s)
        #expect(words.rtnl.sentBytesWithoutSeq.first == created)
        // Then the alias, on the device made.
        let alias = try #require(kernel.rtnl.sent.last)
        #expect(try LinkMessage(alias).attributes.first(IFLA_IFALIAS)?.string == "isthmus:lab")
    }
}
