@_exported import Sites
@_exported import RegistryWire

/// The segment as one agent sees it at one registry revision: the valid entries, and what was dropped and why.
/// Pure: `apply` takes the store's events in order; two agents that applied the same events hold equal views.
public struct RegistryView: Equatable, Sendable {
    public var keys: RegistryKeys
    /// Valid entries by site name.
    public var entries: [String: RegistryEntry] = [:]
    /// Each site key's lease and create revision (for `registry sites`: who holds it, since when).
    public var leases: [String: Int64] = [:]
    /// Sites a `registry drain` took out.
    public var drained: Set<String> = []
    /// Keys whose value was refused, with the reason (replaced by a later valid value, removed with the key).
    public var refused: [String: RegistryEntry.DecodeError] = [:]
    /// The store revision the view reflects.
    public var revision: Int64 = 0

    public init(keys: RegistryKeys) { self.keys = keys }

    /// Applies one put (`value` non-nil) or delete of `key`. Returns the refusal if the value was not used (the caller
    /// logs it and counts `reason`); the view then holds no entry for that site (a bad value replaces a good one:
    /// the site's agent wrote it, and its old address is as stale as its new one is unusable).
    @discardableResult
    public mutating func apply(key: [UInt8], value: [UInt8]?, lease: Int64 = 0, revision: Int64) -> RegistryEntry.DecodeError? {
        if revision > self.revision { self.revision = revision }
        guard let kind = keys.classify(key) else { return nil }
        switch kind {
        case let .site(name):
            guard RegistryEntry.validName(name) else {
                let e = RegistryEntry.DecodeError(reason: .badName, detail: "a site key's name must be 1-64 bytes of A-Z a-z 0-9 . _ -")
                return value == nil ? nil : e
            }
            guard let value else {
                entries[name] = nil; leases[name] = nil; refused[name] = nil
                return nil
            }
            switch RegistryEntry.decode(value, expectedName: name) {
            case let .success(e):
                entries[name] = e; leases[name] = lease; refused[name] = nil
                return nil
            case let .failure(why):
                entries[name] = nil; leases[name] = nil; refused[name] = why
                return why
            }
        case let .drain(name):
            if value == nil { drained.remove(name) } else { drained.insert(name) }
            return nil
        case .agent:
            return nil
        }
    }
}

/// A segment's shape from the registry: which sites this one joins, as the segment file would list them, so the side
/// (`SegmentConfig.side(for:)`: VNI, ports, MTU, routes) is derived exactly as from a TOML file — two agents at the
/// same revision derive mirror-image sides with no negotiation.
public enum FleetShape {
    /// Why a valid entry is still left out of this site's segment.
    public struct Omission: Equatable, Sendable, CustomStringConvertible {
        public var site: String
        public var reason: String
        public var description: String { "\(site): \(reason)" }
    }

    /// The segment this site (`name` at `address`) joins: `fleet.segment` with the sites `topology` gives it — mesh:
    /// every registered site; hub: a spoke, itself and the first hub of `hubs` it can join; a hub, every site (and it
    /// forwards between spokes: `HubTransit`). Drained sites (and every site, for a
    /// drained one), entries of the
    /// other address family and entries repeating an address (the later by name) are left out, with the reason.
    public static func segment(_ fleet: FleetConfig, site name: String, address: IPAddress,
                               view: RegistryView) -> (SegmentConfig, [Omission]) {
        var omitted: [Omission] = []
        var me = fleet.local
        me.name = name
        me.address = address
        var sites = [me]
        var used: [IPAddress: String] = [address: name]
        var pairNames: [String: String] = [:], pairIDs: [UInt32: String] = [:]
        if fleet.segment.kind.isPointToPoint {
            pairNames[DesiredState.pairTunnelName(segment: fleet.segment.name, peer: name)] = name
            pairIDs[SegmentConfig.pairID(segment: fleet.segment.name, site: name)] = name
        }
        let isHub: Bool
        let hubs: [String]
        switch fleet.registry.topology {
        case .mesh: isHub = true; hubs = []
        case let .hub(h): isHub = h.contains(name); hubs = h
        }
        // A drained site leaves every peer out too (its peers leave it out): it is alone until the drain is undone.
        let selfDrained = view.drained.contains(name)
        for peer in view.entries.keys.sorted() where peer != name {
            if selfDrained { omitted.append(Omission(site: peer, reason: "this site is drained")); continue }
            let e = view.entries[peer]!
            if view.drained.contains(peer) { omitted.append(Omission(site: peer, reason: "drained")); continue }
            if !isHub && !hubs.contains(peer) { continue }
            if e.address.isV6 != address.isV6 {
                omitted.append(Omission(site: peer, reason: "its address \(e.address) is \(e.address.familyName), this site's is \(address.familyName)"))
                continue
            }
            if let other = used[e.address] {
                omitted.append(Omission(site: peer, reason: "its address \(e.address) is also site \(other)'s"))
                continue
            }
            // A point-to-point segment: a tunnel per peer, named after it, with (l2tpv3) the peer's id as this site's
            // tunnel and session id. Two sites whose names hash alike would need one of them twice: the later (by
            // name) is left out — everywhere the same way, since every site sees both.
            if fleet.segment.kind.isPointToPoint {
                let device = DesiredState.pairTunnelName(segment: fleet.segment.name, peer: peer)
                if let other = pairNames[device] {
                    omitted.append(Omission(site: peer, reason: "its tunnel name \(device) is also site \(other)'s (a hash collision; rename one)"))
                    continue
                }
                let id = SegmentConfig.pairID(segment: fleet.segment.name, site: peer)
                if fleet.segment.kind == .l2tpv3, let other = pairIDs[id] {
                    omitted.append(Omission(site: peer, reason: "its L2TPv3 id \(id) is also site \(other)'s (a hash collision; rename one)"))
                    continue
                }
                pairNames[device] = peer; pairIDs[id] = peer
            }
            used[e.address] = peer
            // A peer as a [sites.NAME] table would give it: only its name and address reach this site's side.
            var d = fleet.local
            d.name = peer; d.address = e.address; d.lan = []; d.bridge = SiteConfig.defaultBridge(segment: fleet.segment.name)
            d.bridgeAddresses = []; d.hostname = nil; d.networks = []; d.tunnelAddress = nil; d.tunnelDevice = nil
            sites.append(d)
        }
        // A spoke floods to one hub, the first of `hubs` it can join: with several, each hub would forward a spoke's
        // broadcast to every other site (HubTransit) and they would arrive once per hub. The others are standbys; the
        // spoke still takes unicast from them (VXLAN learns where a MAC is). When the first one leaves, the next is it.
        if !isHub, let primary = hubs.first(where: { h in sites.contains { $0.name == h } }) {
            for h in hubs where h != primary && sites.contains(where: { $0.name == h }) {
                omitted.append(Omission(site: h, reason: "a spoke joins one hub, the first of `hubs` registered: \(primary)"))
            }
            sites.removeAll { $0.name != name && $0.name != primary }
        }
        var c = fleet.segment
        c.sites = sites.sorted { $0.name < $1.name }
        return (c, omitted)
    }

    /// This site's side at the view's revision.
    public static func side(_ fleet: FleetConfig, site name: String, address: IPAddress, view: RegistryView) -> (SiteSide, [Omission]) {
        let (c, omitted) = segment(fleet, site: name, address: address, view: view)
        // The site is in `c.sites` by construction, so side(for:) cannot fail.
        return ((try? c.side(for: name))!, omitted)
    }
}
