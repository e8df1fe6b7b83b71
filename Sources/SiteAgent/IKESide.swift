import Foundation
import Netlink
import Sites
import VICI

/// The IKE side of a site with `encryption = "ipsec"`: what charon has loaded under the site's names
/// (`IPsecConnection.name`), the changes that bring it to the config, and the SA state `status` shows. Talks to
/// charon over VICI (`VICIClient`) on the segment's `vici_socket`; nothing else loaded into charon is read or touched.
public struct IKESide {
    public let connection: IPsecConnection
    /// Tests: how long `initiate` waits for charon (milliseconds).
    public var initiateTimeout = 15_000
    /// Certificates: where the id of the private key this site loaded into charon is kept (in Isthmus's directory),
    /// so that `down` — another process — unloads that key and no other. A key charon already held before `up`
    /// (the same key loaded by swanctl) is not recorded, so it is never unloaded.
    public let keyRecord: String

    public init(connection: IPsecConnection, keyRecord: String) {
        self.connection = connection
        self.keyRecord = keyRecord
    }

    /// The key record of a site: /run/isthmus/sites/SEGMENT-SITE[-NETNS].ike-key.
    public static func keyRecordPath(segment: String, site: String, netns: String?) -> String {
        "\(TunnelProcesses.logDirectory)/\(segment)-\(site)\(netns.map { "-\($0)" } ?? "").ike-key"
    }

    /// The id charon gave the key this site loaded, if it loaded one.
    var recordedKeyID: String? {
        guard let d = FileManager.default.contents(atPath: keyRecord) else { return nil }
        let id = String(decoding: d, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        return id.isEmpty ? nil : id
    }

    /// What charon has of ours.
    public struct Observed: Equatable {
        /// The connection is loaded, and as the config says (addresses, transport mode, rekey time).
        public var connectionLoaded = false
        public var connectionCurrent = false
        public var sharedLoaded = false
        /// Certificates: the private key this site loaded (its recorded id) is still in charon.
        public var keyLoaded = false
        /// Certificates: a key was recorded as loaded but charon no longer has it (charon restarted).
        public var keyMissing = false
        public var isEmpty: Bool { !connectionLoaded && !sharedLoaded && !keyLoaded }
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
                // (list-conns names the authentication class: "pre-shared key" or "public key".)
                let authClass = conn["local-1"]?.section?.string("class")
                o.connectionCurrent = conn["local_addrs"]?.strings == [connection.local.description]
                    && conn["remote_addrs"]?.strings == [connection.remote.description]
                    && child?.string("mode") == "TRANSPORT" && child?.string("rekey_time") == rekey
                    && (authClass == nil || authClass == (connection.usesCertificates ? "public key" : "pre-shared key"))
            }
            o.sharedLoaded = try c.request("get-shared")["keys"]?.strings?.contains(connection.name) ?? false
            if let id = recordedKeyID {
                o.keyLoaded = try c.request("get-keys")["keys"]?.strings?.contains(id) ?? false
                o.keyMissing = !o.keyLoaded
            }
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
        let keyReady = connection.usesCertificates ? !o.keyMissing : o.sharedLoaded
        if !o.connectionLoaded || !keyReady { return ["+ ipsec load \(connection.summary)"] }
        if !o.connectionCurrent { return ["~ ipsec load \(connection.summary) (charon's differs)"] }
        return []
    }

    /// Certificates: this site's certificate and key and the segment's CA, read and checked (PEM of the right
    /// kind) before anything is loaded; every problem named at its place in the config. Only this host's files.
    public func readCredentials() throws(SiteError) -> IPsecConnection.Credentials? {
        guard connection.usesCertificates, let ca = connection.settings.ca else { return nil }
        guard let mine = connection.certificate else {
            throw SiteError("ipsec: this site has no certificate and private_key in its [sites.NAME] table")
        }
        var errors: [ConfigError] = []
        func read(_ f: ConfigFile, _ key: String, _ content: PEMContent) -> [UInt8] {
            switch Self.readFile(f.path, limit: PEMContent.maximumBytes + 1) {
            case .failure(let problem):
                errors.append(f.error("`\(key)` \(f.path): \(problem.why)", hint: "give the path of \(content.rawValue) readable by root on this host"))
                return []
            case .success(let bytes):
                if let p = content.problem(bytes) {
                    errors.append(f.error("`\(key)` \(f.path) \(p)", hint: "give the path of \(content.rawValue)"))
                }
                return bytes
            }
        }
        let certificate = read(mine.certificate, "certificate", .certificate)
        let key = read(mine.privateKey, "private_key", .privateKey)
        let caBytes = read(ca, "ca", .certificate)
        if !errors.isEmpty {
            let sorted = errors.sorted { ($0.file, $0.position) < ($1.file, $1.position) }
            throw SiteError(ConfigErrors(sorted).description
                + "\n\(sorted.count) error\(sorted.count == 1 ? "" : "s") in \(sorted[0].file); nothing was changed")
        }
        return IPsecConnection.Credentials(certificate: certificate, privateKey: key, ca: caBytes)
    }

    /// A regular file's bytes, at most `limit` (never a device or FIFO a path may name), or why not.
    struct FileProblem: Error, Equatable { let why: String }

    static func readFile(_ path: String, limit: Int) -> Result<[UInt8], FileProblem> {
        var st = stat()
        guard stat(path, &st) == 0 else { return .failure(FileProblem(why: errno == ENOENT ? "no such file" : String(cString: strerror(errno)))) }
        guard st.st_mode & S_IFMT == S_IFREG else { return .failure(FileProblem(why: "is not a regular file")) }
        // (A symbolic link to a regular file is followed, as a path a user gives usually is.)
        let fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK)
        guard fd >= 0 else { return .failure(FileProblem(why: String(cString: strerror(errno)))) }
        defer { close(fd) }
        var out: [UInt8] = []
        var buf = [UInt8](repeating: 0, count: 16_384)
        while out.count < limit {
            let n = buf.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
            if n < 0 { if errno == EINTR { continue }; return .failure(FileProblem(why: String(cString: strerror(errno)))) }
            if n == 0 { break }
            out += buf[..<n]
        }
        return .success(out)
    }

    /// PSK: load-shared, then load-conn. Certificates: the files read, load-key (recorded when it is ours), then
    /// load-conn carrying the certificate and the CA. load-conn installs the trap policies: the tunnel's packets
    /// never leave in clear.
    public func load() throws(SiteError) {
        var conn = connection
        conn.credentials = try readCredentials()
        let c = try client()
        do {
            if let loadKey = conn.loadKey {
                let before = try c.request("get-keys")["keys"]?.strings ?? []
                let r = try c.call("load-key", loadKey)
                if let id = r.string("id"), !before.contains(id) || recordedKeyID == id {
                    do { try OwnedFiles.replace(keyRecord, with: Array((id + "\n").utf8), mode: 0o600, within: TunnelProcesses.logDirectory) } catch {
                        throw SiteError("ipsec: recording the key id in \(keyRecord): \(error)")
                    }
                }
                // A pre-shared key of ours from an earlier config is not needed any more.
                _ = try? c.request("unload-shared", connection.unloadShared)
            } else {
                try c.call("load-shared", conn.loadShared)
            }
            try c.call("load-conn", conn.loadConn)
        } catch let e as SiteError {
            throw e
        } catch {
            throw SiteError("ipsec: loading \(connection.name) into charon: \(error)")
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
            // The private key this site loaded (certificates). The certificates themselves went with the connection:
            // VICI has no command to unload a certificate, so none is loaded apart from one (no load-cert).
            if let id = recordedKeyID {
                let k = try c.request("unload-key", IPsecConnection.unloadKey(id: id))
                if k.string("success") != "yes", k.string("errmsg")?.contains("not found") != true {
                    throw VICIClientError.commandFailed(command: "unload-key", errmsg: k.string("errmsg") ?? "")
                }
                try? FileManager.default.removeItem(atPath: keyRecord)
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
