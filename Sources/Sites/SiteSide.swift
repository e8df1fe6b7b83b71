import Config
import Addresses

/// One host's view of the segment, derived from the shared file alone: both ends derive mirrored values.
public struct SiteSide: Equatable, Sendable {
    public struct Peer: Equatable, Sendable {
        public var name: String
        public var address: IPAddress
        /// L3 kinds: the peer's networks (routed through the tunnel) and its tunnel address.
        public var networks: [IPPrefix]
        public var tunnelAddress: IPPrefix?
    }

    public struct Route: Equatable, Sendable {
        public var prefix: IPPrefix
        public var peer: String
        /// The peer's tunnel address when it has one of the prefix's family; otherwise the route is via the device.
        public var gateway: IPAddress?
    }

    public var segment: String
    public var site: String
    public var kind: TunnelKind
    public var encap: L2TPEncap?
    public var dataplane: DataplaneMode
    public var localAddress: IPAddress
    /// The other sites, sorted by name (one for point-to-point kinds).
    public var peers: [Peer]
    /// L2TPv3: this site's ids (its 1-based rank by name) and its peer's.
    public var tunnelID: UInt32?
    public var peerTunnelID: UInt32?
    public var sessionID: UInt32?
    public var peerSessionID: UInt32?
    /// L2TPv3 with the control protocol: whether this site opens the control connection (the first by name) or
    /// answers it, and the shared secret.
    public var control: Bool = false
    public var initiator: Bool = false
    public var secret: String?
    /// L2TPv3 with cookies: what this site sends, and what it expects from its peer.
    public var cookie: [UInt8]?
    public var peerCookie: [UInt8]?
    public var vni: UInt32?
    public var greKey: UInt32?
    /// UDP kinds: source and destination port (the same on both ends).
    public var localPort: UInt16?
    public var peerPort: UInt16?
    public var bridge: String?
    /// The tunnel device's name (`tunnel_device`); nil: `DesiredState.tunnelName(segment:)`.
    public var tunnelDevice: String?
    /// Ethernet kinds: the config's addresses for the bridge (`bridge_address`).
    public var bridgeAddresses: [IPPrefix] = []
    public var lan: [String]
    public var tunnelAddress: IPPrefix?
    public var routes: [Route]
    public var mtuPlan: MTUPlan
    /// The tunnel device's MTU.
    public var tunnelMTU: Int
    /// The outer packets may be fragmented (DF off): the tunnel MTU exceeds what the underlay carries unfragmented.
    public var outerFragmentation: Bool
    /// TCP MSS clamp (to what crosses unfragmented), when `mss_clamp` is on.
    public var mssIPv4: Int?
    public var mssIPv6: Int?
    public var filters: SegmentFilters
    /// `encryption = "ipsec"`: the IKE connection this site loads into charon.
    public var ipsec: IPsecConnection? = nil
}

public struct SiteSelectionError: Error, Equatable, Sendable, CustomStringConvertible {
    public var message: String
    public var hint: String
    public var description: String { message + "\n  hint: " + hint }
}

extension SegmentConfig {
    /// Which site this host is: `explicit` (--site) if given, else the site whose `hostname` matches, else the site
    /// named like the host (full, or up to the first '.').
    public func pickSite(explicit: String?, hostname: String) -> Result<String, SiteSelectionError> {
        let list = siteNames.joined(separator: ", ")
        if let explicit {
            if siteNames.contains(explicit) { return .success(explicit) }
            let m = "site \"\(explicit)\" not found in \(file); the sites are: \(list)" + Suggestion.didYouMean(explicit, among: siteNames)
            return .failure(SiteSelectionError(message: m, hint: "pass --site with one of: \(list)"))
        }
        let short = String(hostname.split(separator: ".", maxSplits: 1, omittingEmptySubsequences: false).first ?? "")
        for candidate in [hostname, short] where !candidate.isEmpty {
            if let s = sites.first(where: { $0.hostname == candidate }) { return .success(s.name) }
        }
        for candidate in [hostname, short] where !candidate.isEmpty {
            if siteNames.contains(candidate) { return .success(candidate) }
        }
        return .failure(SiteSelectionError(
            message: "site not found: hostname \"\(hostname)\" matches no site in \(file); the sites are: \(list)",
            hint: "pass --site NAME, or add hostname = \"\(hostname)\" to this host's [sites.NAME] table"))
    }

    /// The local site's view.
    public func side(for site: String) throws(SiteSelectionError) -> SiteSide {
        guard let index = sites.firstIndex(where: { $0.name == site }) else {
            throw SiteSelectionError(message: "site \"\(site)\" not found; the sites are: \(siteNames.joined(separator: ", "))",
                                     hint: "pass --site with one of the site names")
        }
        let me = sites[index]
        let others = sites.enumerated().filter { $0.offset != index }
        let peers = others.map { SiteSide.Peer(name: $0.element.name, address: $0.element.address,
                                               networks: $0.element.networks, tunnelAddress: $0.element.tunnelAddress) }
        let peerIndex = kind.isPointToPoint ? others.first?.offset : nil
        var routes: [SiteSide.Route] = []
        if !kind.isEthernet {
            for p in peers {
                for n in p.networks {
                    let gw = p.tunnelAddress.map(\.address).flatMap { $0.isV6 == n.address.isV6 ? $0 : nil }
                    routes.append(SiteSide.Route(prefix: n, peer: p.name, gateway: gw))
                }
            }
        }
        let plan = mtuPlan
        let l2tp = kind == .l2tpv3
        var side = SiteSide(
            segment: name, site: me.name, kind: kind, encap: encap, dataplane: dataplane, localAddress: me.address,
            peers: peers,
            tunnelID: l2tp ? UInt32(index + 1) : nil, peerTunnelID: l2tp ? peerIndex.map { UInt32($0 + 1) } : nil,
            sessionID: l2tp ? UInt32(index + 1) : nil, peerSessionID: l2tp ? peerIndex.map { UInt32($0 + 1) } : nil,
            cookie: l2tp && cookies ? SiteConfig.cookie(segment: name, site: me.name) : nil,
            peerCookie: l2tp && cookies ? peerIndex.map { SiteConfig.cookie(segment: name, site: sites[$0].name) } : nil,
            vni: vni, greKey: kind.isGRE ? key : nil, localPort: port, peerPort: port,
            bridge: kind.isEthernet ? me.bridge : nil, lan: me.lan, tunnelAddress: me.tunnelAddress, routes: routes,
            mtuPlan: plan, tunnelMTU: tunnelMTU,
            outerFragmentation: tunnelMTU > plan.tunnelMTU,
            mssIPv4: filters.mssClamp ? plan.mssIPv4 : nil, mssIPv6: filters.mssClamp ? plan.mssIPv6 : nil,
            filters: filters)
        if kind.isEthernet { side.bridgeAddresses = me.bridgeAddresses }
        side.tunnelDevice = me.tunnelDevice
        if let ipsec {
            let certificate = me.certificate.flatMap { c in
                me.privateKey.map { SiteCertificate(certificate: c, privateKey: $0, identity: me.ikeIdentity) }
            }
            side.ipsec = IPsecConnection(side: side, settings: ipsec, certificate: certificate,
                                         peerIdentity: peerIndex.flatMap { sites[$0].ikeIdentity })
        }
        if l2tp && control == .l2tpv3 {
            side.control = true
            side.initiator = index == 0
            side.secret = secret
        }
        return side
    }
}

extension SegmentConfig {
    /// A registry's point-to-point segment (gretap, l2tpv3 over IP): this site's side of the pair it makes with each
    /// other site of `sites`, each derived as from a file of just those two sites — except the L2TPv3 ids. In a file
    /// they are the two sites' ranks (1 and 2), which would repeat here; instead a site receives each peer's traffic
    /// under that peer's `pairID` (its tunnel and session id towards the peer) and sends under its own, so the ids a
    /// site has are distinct as long as its peers' `pairID`s are (`FleetShape` leaves out a site whose id repeats
    /// one already in the segment) and neither side ever depends on who else is registered.
    public func pairSides(for site: String) throws(SiteSelectionError) -> [SiteSide] {
        guard let me = sites.first(where: { $0.name == site }) else {
            throw SiteSelectionError(message: "site \"\(site)\" not found; the sites are: \(siteNames.joined(separator: ", "))",
                                     hint: "pass --site with one of the site names")
        }
        var out: [SiteSide] = []
        for other in sites where other.name != site {
            var pair = self
            pair.sites = [me, other].sorted { $0.name < $1.name }
            var side = try pair.side(for: site)
            if kind == .l2tpv3 {
                let mine = SegmentConfig.pairID(segment: name, site: site), theirs = SegmentConfig.pairID(segment: name, site: other.name)
                side.tunnelID = theirs; side.sessionID = theirs
                side.peerTunnelID = mine; side.peerSessionID = mine
            }
            out.append(side)
        }
        return out
    }

    /// A site's L2TPv3 id in a registry's point-to-point segment: FNV-1a-32 of "isthmus/pair-id/SEGMENT/SITE", never 0.
    public static func pairID(segment: String, site: String) -> UInt32 {
        let h = SiteConfig.fnv1a32("isthmus/pair-id/" + segment + "/" + site)
        return h == 0 ? 1 : h
    }
}
