import Sites
import VICI

/// The IKE side of a site with `encryption = "ipsec"`: what charon has loaded under the site's names
/// (`IPsecConnection.name`), the changes that bring it to the config, and the SA state `status` shows. Talks to
/// charon over VICI (`VICIClient`) on the segment's `vici_socket`; nothing else loaded into charon is read or touched.
public struct IKESide {
    public let connection: IPsecConnection
    /// Tests: how long `initiate` waits for charon (milliseconds).
    public var initiateTimeout = 15_000

    public init(connection: IPsecConnection) { self.connection = connection }

    /// What charon has of ours.
    public struct Observed: Equatable {
        /// The connection is loaded, and as the config says (addresses, transport mode, rekey time).
        public var connectionLoaded = false
        public var connectionCurrent = false
        public var sharedLoaded = false
        public var isEmpty: Bool { !connectionLoaded && !sharedLoaded }
    }

    func client() throws(SiteError) -> VICIClient {
        do { return try VICIClient(path: connection.settings.viciSocket, timeout: 30) } catch {
            throw SiteError("ipsec: \(error.description)")
        }
    }

    public func observe() throws(SiteError) -> Observed {
        let c = try client()
        do {
            var o = Observed()
            let conns = try c.stream("list-conns", ["ike": .text(connection.name)], event: "list-conn")
            if let conn = conns.events.lazy.compactMap({ $0[connection.name]?.section }).first {
                o.connectionLoaded = true
                let child = conn["children"]?.section?[connection.name]?.section
                let rekey = connection.settings.rekeyTime.map(String.init) ?? "3600"
                o.connectionCurrent = conn["local_addrs"]?.strings == [connection.local.description]
                    && conn["remote_addrs"]?.strings == [connection.remote.description]
                    && child?.string("mode") == "TRANSPORT" && child?.string("rekey_time") == rekey
            }
            o.sharedLoaded = try c.request("get-shared")["keys"]?.strings?.contains(connection.name) ?? false
            return o
        } catch {
            throw SiteError("ipsec: \(error.description)")
        }
    }

    /// For `down`: a charon that is not running (no socket, or a stale one) holds nothing of ours — its policies
    /// went with it — so the rest of the segment still comes down. Other errors stop `down` as usual.
    public func observeForDown() throws(SiteError) -> Observed {
        do { return try observe() } catch {
            if let c = try? VICIClient(path: connection.settings.viciSocket) { _ = c; throw error }
            return Observed()
        }
    }

    /// The plan's lines for the IKE side.
    public func changes(_ o: Observed, down: Bool) -> [String] {
        if down {
            return o.isEmpty ? [] : ["- ipsec unload \(connection.name) (terminate its SAs, unload the connection and its key)"]
        }
        if !o.connectionLoaded || !o.sharedLoaded { return ["+ ipsec load \(connection.summary)"] }
        if !o.connectionCurrent { return ["~ ipsec load \(connection.summary) (charon's differs)"] }
        return []
    }

    /// load-shared, then load-conn (trap policies installed: the tunnel's packets never leave in clear).
    public func load() throws(SiteError) {
        let c = try client()
        do {
            try c.call("load-shared", connection.loadShared)
            try c.call("load-conn", connection.loadConn)
        } catch {
            throw SiteError("ipsec: loading \(connection.name) into charon: \(error.description)")
        }
    }

    /// Terminates our IKE SA, unloads our connection and key; each step tolerates what is already gone.
    public func unload() throws(SiteError) {
        let c = try client()
        do throws(VICIClientError) {
            _ = try? c.request("terminate", connection.terminate)
            let r = try c.request("unload-conn", connection.unloadConn)
            if r.string("success") != "yes", r.string("errmsg")?.contains("not found") != true {
                throw VICIClientError.commandFailed(command: "unload-conn", errmsg: r.string("errmsg") ?? "")
            }
            let s = try c.request("unload-shared", connection.unloadShared)
            if s.string("success") != "yes", s.string("errmsg")?.contains("not found") != true {
                throw VICIClientError.commandFailed(command: "unload-shared", errmsg: s.string("errmsg") ?? "")
            }
        } catch {
            throw SiteError("ipsec: unloading \(connection.name) from charon: \(error.description)")
        }
    }

    /// Initiates the CHILD SA; nil when it is up, else why not (charon's log classified).
    public func initiate() throws(SiteError) -> (IKEFailure, String)? {
        let c = try client()
        c.timeout = Double(initiateTimeout) / 1000 + 10
        do {
            let r = try c.stream("initiate", connection.initiate(timeoutMilliseconds: initiateTimeout), event: "control-log")
            if r.response.string("success") == "yes" { return nil }
            let log = r.events.compactMap { $0.string("msg") }
            return IKEFailure.classify(log) ?? (.other, r.response.string("errmsg") ?? "initiate failed")
        } catch {
            throw SiteError("ipsec: initiating \(connection.name): \(error.description)")
        }
    }

    /// One IKE SA and its CHILD SAs as list-sas reports them.
    public struct SAStatus: Equatable {
        public var state: String
        public var ikeAlgorithms: String
        public var established: String?
        public var rekeyIn: String?
        public struct Child: Equatable {
            public var state: String
            public var mode: String
            public var algorithm: String
            public var spiIn: String, spiOut: String
            public var packetsIn: UInt64, bytesIn: UInt64, packetsOut: UInt64, bytesOut: UInt64
            public var rekeyIn: String?
            public var lifeIn: String?
        }
        public var children: [Child]
    }

    /// Our IKE SAs (usually one; two briefly while rekeying or after a simultaneous initiation).
    public func status() throws(SiteError) -> [SAStatus] {
        let c = try client()
        do {
            let r = try c.stream("list-sas", ["ike": .text(connection.name)], event: "list-sa")
            return r.events.flatMap { e in e.sections.filter { $0.name == connection.name }.map { Self.read($0.body) } }
        } catch {
            throw SiteError("ipsec: \(error.description)")
        }
    }

    static func read(_ m: VICIMessage) -> SAStatus {
        let ike = [m.string("encr-alg").map { a in a + (m.string("encr-keysize").map { "-\($0)" } ?? "") },
                   m.string("prf-alg"), m.string("dh-group")].compactMap { $0 }.joined(separator: "/")
        let children = (m["child-sas"]?.section?.sections ?? []).map { _, ch in
            SAStatus.Child(
                state: ch.string("state") ?? "?", mode: ch.string("mode") ?? "?",
                algorithm: (ch.string("encr-alg") ?? "?") + (ch.string("encr-keysize").map { "-\($0)" } ?? ""),
                spiIn: ch.string("spi-in") ?? "", spiOut: ch.string("spi-out") ?? "",
                packetsIn: UInt64(ch.string("packets-in") ?? "") ?? 0, bytesIn: UInt64(ch.string("bytes-in") ?? "") ?? 0,
                packetsOut: UInt64(ch.string("packets-out") ?? "") ?? 0, bytesOut: UInt64(ch.string("bytes-out") ?? "") ?? 0,
                rekeyIn: ch.string("rekey-time"), lifeIn: ch.string("life-time"))
        }
        return SAStatus(state: m.string("state") ?? "?", ikeAlgorithms: ike, established: m.string("established"),
                        rekeyIn: m.string("rekey-time"), children: children)
    }
}
