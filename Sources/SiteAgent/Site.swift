import Foundation
import IPCommand
import LinkValues
import Netlink
import Sites

/// An error a site command reports as it is: the config's FILE:LINE:COL messages, a site not found, a plan
/// conflict, a failed step (with what was rolled back).
public struct SiteError: Error, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}

/// One host's side of a segment, loaded and resolved: the validated config, the side this host plays, the data plane
/// chosen (`auto` resolved against this kernel), what the host must look like and the nftables table it gets.
public struct Site {
    public var config: SegmentConfig
    public var side: SiteSide
    public var dataplane: ResolvedDataplane
    /// Why `auto` chose what it chose (nil when the config named the data plane).
    public var dataplaneReason: String?
    public var desired: DesiredState
    public var filters: FilterRuleset
    /// `-n NETNS`: the namespace this host's side lives in (labs and tests); nil: the current one.
    public var netns: String?
    /// Tests: the netlink transport the site's sessions use instead of sockets (a `FakeNetlink`); nil: sockets.
    public var transport: ((Int32, String?) throws -> NetlinkTransport)?

    /// Reads and validates `file`, picks the site (`site`, else the hostname), resolves the data plane.
    /// Nothing on the host changes.
    public static func load(file: String, site explicit: String?, netns: String?, hostname: String? = nil) throws(SiteError) -> Site {
        let config = try loadConfig(file: file, SiteConfig.load)
        let name: String
        switch config.pickSite(explicit: explicit, hostname: hostname ?? Site.hostname()) {
        case .success(let n): name = n
        case .failure(let e): throw SiteError(e.description)
        }
        return try make(config: config, site: name, file: file, netns: netns)
    }

    /// A config file read and validated by `validate` (a segment's or a fleet's reader): the errors named with the
    /// file and counted, or why the file could not be read.
    public static func loadConfig<C>(file: String, _ validate: (String, String) -> Result<C, ConfigErrors>) throws(SiteError) -> C {
        guard let data = FileManager.default.contents(atPath: file) else {
            throw SiteError("\(file): cannot read the config file (\(FileManager.default.fileExists(atPath: file) ? "permission denied" : "no such file"))")
        }
        guard let text = String(data: data, encoding: .utf8) else { throw SiteError("\(file): not UTF-8 text") }
        switch validate(text, file) {
        case .success(let c): return c
        case .failure(let e):
            throw SiteError(e.description + "\n\(e.errors.count) error\(e.errors.count == 1 ? "" : "s") in \(file); nothing was changed")
        }
    }

    /// This host's side of a validated segment (a file's, or one a registry's entries make): the data plane
    /// resolved, the desired state and filters derived. `peersAsFDB`: see `DesiredState.init`.
    /// `isolate` (a registry's point-to-point segment): one tunnel per peer (`SegmentConfig.pairSides`), each a bridge
    /// port `isolated` where `isolate(peer)` says.
    public static func make(config: SegmentConfig, site name: String, file: String, netns: String?,
                            peersAsFDB: Bool = false, isolate: ((String) -> Bool)? = nil) throws(SiteError) -> Site {
        var side: SiteSide
        do { side = try config.side(for: name) } catch { throw SiteError(error.description) }
        let pairs: [SiteSide]?
        if isolate != nil, config.kind.isPointToPoint {
            do { pairs = try config.pairSides(for: name) } catch { throw SiteError(error.description) }
            // The segment's side names every peer; the ids are each pair's.
            side.tunnelID = nil; side.peerTunnelID = nil; side.sessionID = nil; side.peerSessionID = nil; side.peerCookie = nil
        } else {
            pairs = nil
        }
        // The modules `auto` needs are those of the tunnel as planned for the kernel's data plane (a pair's, for a
        // registry's point-to-point segment: one with this site itself as the peer while it has none).
        var kernelLink: SiteLink?
        if config.dataplane == .auto {
            if let pairs {
                var probe = config
                probe.sites = config.sites.filter { $0.name == name }
                probe.sites += probe.sites.map { var twin = $0; twin.name += "~"; return twin }
                let pair = pairs.first ?? (try? probe.side(for: name))
                kernelLink = pair.flatMap { p in (try? DesiredState(side: p, dataplane: .kernel))?.tunnel.link }
            } else {
                kernelLink = (try? DesiredState(side: side, dataplane: .kernel, peersAsFDB: peersAsFDB))?.tunnel.link
            }
        }
        let (plane, reason) = Site.resolve(config.dataplane, kind: config.kind, link: kernelLink, netns: netns)
        if plane == .kernel && config.kind == .greInUDP {
            throw SiteError("\(file): tunnel = \"gre-in-udp\" with dataplane = \"kernel\": Isthmus does not configure the kernel's FOU receive ports (ip fou) yet; nothing was changed\n  hint: use dataplane = \"userspace\" (or \"auto\", which picks it) for gre-in-udp")
        }
        let desired: DesiredState
        do {
            if let pairs, let isolate {
                desired = try DesiredState(side: side, pairs: pairs, dataplane: plane, isolate: isolate)
            } else {
                desired = try DesiredState(side: side, dataplane: plane, peersAsFDB: peersAsFDB)
            }
        } catch { throw SiteError(error.description) }
        var filters = FilterRuleset(segment: config.name, bridge: desired.bridge?.name, tunnel: desired.pairPrefix ?? desired.tunnel.name,
                                    filters: side.filters, mssIPv4: side.mssIPv4, mssIPv6: side.mssIPv6,
                                    clearDF: config.kind == .vxlan && plane == .kernel && side.outerFragmentation)
        filters.tunnelPrefix = desired.pairPrefix != nil
        return Site(config: config, side: side, dataplane: plane, dataplaneReason: reason, desired: desired,
                    filters: filters, netns: netns)
    }

    /// `auto`: the kernel's data plane when every module `link` (the tunnel planned for the kernel's data plane) needs
    /// is loaded, built in or installed for this kernel; else the userspace one. gre-in-udp's FOU receive port is not
    /// configured by Isthmus yet, so `auto` takes userspace for it.
    public static func resolve(_ mode: DataplaneMode, kind: TunnelKind, link: SiteLink?, netns: String?) -> (ResolvedDataplane, String?) {
        switch mode {
        case .kernel: return (.kernel, nil)
        case .userspace: return (.userspace, nil)
        case .auto:
            if kind == .greInUDP {
                return (.userspace, "auto: gre-in-udp runs in userspace (Isthmus does not configure kernel FOU ports)")
            }
            guard let modules = link?.value.kernelModules else {
                return (.userspace, "auto: no kernel tunnel could be planned, so the userspace data plane runs the tunnel")
            }
            let missing = modules.filter { !moduleAvailable($0) }
            if missing.isEmpty { return (.kernel, "auto: the kernel has \(modules.joined(separator: ", "))") }
            return (.userspace, "auto: this kernel has no \(missing.joined(separator: ", ")) module, so the userspace data plane runs the tunnel")
        }
    }

    /// Loaded (/sys/module), built in (modules.builtin) or installed (modules.dep) for the running kernel.
    public static func moduleAvailable(_ name: String) -> Bool {
        if FileManager.default.fileExists(atPath: "/sys/module/\(name)") { return true }
        let release = kernelRelease()
        let file = name.replacingOccurrences(of: "_", with: "[_-]")
        for list in ["modules.builtin", "modules.dep"] {
            guard let text = try? String(contentsOfFile: "/lib/modules/\(release)/\(list)", encoding: .utf8) else { continue }
            if text.range(of: "/\(file)\\.ko(\\.[a-z]+)?[:\\n]", options: .regularExpression) != nil { return true }
        }
        return false
    }

    /// The running kernel's release (`uname -r`).
    public static func kernelRelease() -> String {
        var u = utsname()
        uname(&u)
        return withUnsafeBytes(of: &u.release) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
    }

    public static func hostname() -> String {
        var buf = [CChar](repeating: 0, count: 256)
        gethostname(&buf, buf.count)
        return String(decoding: buf.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// A session for this site's namespace.
    func session(json: Bool = false) -> Session {
        var o = Options()
        o.netns = netns
        o.json = json
        o.details = true
        return Session(options: o, transport: transport)
    }
}
