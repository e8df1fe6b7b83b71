@_exported import Addresses

/// What a site's agent registers about its site, under a lease (`RegistryKeys.site`): enough for every other agent to
/// derive its own side of the segment, and nothing secret.
///
/// Encoded as one JSON object, members in this order (unknown members are ignored, so a newer agent may add some):
///
/// ```json
/// {"version":1,"name":"east","addresses":["192.0.2.1"],"lan_mtu":1500,
///  "modules":["vxlan","bridge"],"dataplanes":["kernel","userspace"],"ike_identity":"east@example.net",
///  "agent":"0f1e...:4026531840"}
/// ```
public struct RegistryEntry: Equatable, Sendable {
    /// The format this code writes and reads; an entry of a higher version is ignored (reason `.version`).
    public static let formatVersion = 1
    /// Largest value decoded at all; anything longer is dropped before parsing.
    public static let maxBytes = 4096

    public var version: Int = RegistryEntry.formatVersion
    /// The site's name: also the last element of its key, and the two must agree.
    public var name: String
    /// Underlay addresses, the first the one peers use; all of one family (the segment's).
    public var addresses: [IPAddress]
    /// The MTU of the site's LAN (its bridge's ports), 576...65535.
    public var lanMTU: Int
    /// Kernel modules present on the site's host that a data plane needs (`vxlan`, `l2tp_eth`, `ip_gre`, ...).
    public var modules: [String]
    /// The data planes the site can run: `kernel`, `userspace`.
    public var dataplanes: [String]
    /// For encrypted segments: the IKE identity peers expect from this site.
    public var ikeIdentity: String?
    /// Which agent wrote the entry (machine id and network namespace): an agent restarted on the same host takes its
    /// site back at once; any other agent finding the name taken refuses.
    public var agent: String?

    public init(name: String, addresses: [IPAddress], lanMTU: Int = 1500, modules: [String] = [], dataplanes: [String] = [],
                ikeIdentity: String? = nil) {
        self.name = name; self.addresses = addresses; self.lanMTU = lanMTU; self.modules = modules
        self.dataplanes = dataplanes; self.ikeIdentity = ikeIdentity
    }

    /// The underlay address peers send to.
    public var address: IPAddress { addresses[0] }

    public var json: String {
        var m: [(String, JSONValue)] = [
            ("version", .integer(Int64(version))), ("name", .string(name)),
            ("addresses", .array(addresses.map { .string("\($0)") })), ("lan_mtu", .integer(Int64(lanMTU))),
            ("modules", .array(modules.map { .string($0) })), ("dataplanes", .array(dataplanes.map { .string($0) })),
        ]
        if let ikeIdentity { m.append(("ike_identity", .string(ikeIdentity))) }
        if let agent { m.append(("agent", .string(agent))) }
        return JSONValue.object(m).text
    }

    public var bytes: [UInt8] { Array(json.utf8) }

    /// Why an entry was not used. Every reason is counted by the agent (`RegistryDrops`) and logged with the key.
    public enum Rejection: String, CaseIterable, Sendable {
        case tooLarge = "too_large"
        case malformedJSON = "malformed_json"
        case version
        case missingField = "missing_field"
        case badName = "bad_name"
        case nameMismatch = "name_mismatch"
        case badAddress = "bad_address"
        case mixedFamilies = "mixed_families"
        case badMTU = "bad_mtu"
        case badCapability = "bad_capability"
    }

    public struct DecodeError: Error, Equatable, Sendable, CustomStringConvertible {
        public var reason: Rejection
        public var detail: String
        public init(reason: Rejection, detail: String) { self.reason = reason; self.detail = detail }
        public var description: String { "\(reason.rawValue): \(detail)" }
    }

    /// A site name as a key element and a site table name: 1...64 bytes of `[A-Za-z0-9._-]`, not `.` or `..`.
    public static func validName(_ s: String) -> Bool {
        let u = Array(s.utf8)
        guard (1...64).contains(u.count), s != ".", s != ".." else { return false }
        return u.allSatisfy { ($0 >= 0x30 && $0 <= 0x39) || ($0 | 0x20 >= 0x61 && $0 | 0x20 <= 0x7a) || $0 == 0x2e || $0 == 0x5f || $0 == 0x2d }
    }

    /// A capability word (a module or data plane name): 1...64 bytes of `[A-Za-z0-9_-]`.
    static func validWord(_ s: String) -> Bool {
        let u = Array(s.utf8)
        return (1...64).contains(u.count)
            && u.allSatisfy { ($0 >= 0x30 && $0 <= 0x39) || ($0 | 0x20 >= 0x61 && $0 | 0x20 <= 0x7a) || $0 == 0x5f || $0 == 0x2d }
    }

    /// Decodes a registry value. Never traps: anything wrong is a `DecodeError` naming the reason, and the entry is not
    /// used. `expectedName`: the name its key gives (a value under another site's key is refused).
    public static func decode(_ bytes: [UInt8], expectedName: String? = nil) -> Result<RegistryEntry, DecodeError> {
        func no(_ r: Rejection, _ d: String) -> Result<RegistryEntry, DecodeError> { .failure(DecodeError(reason: r, detail: d)) }
        guard bytes.count <= maxBytes else { return no(.tooLarge, "\(bytes.count) bytes, at most \(maxBytes)") }
        let v: JSONValue
        switch JSONValue.parse(bytes) {
        case let .success(x): v = x
        case let .failure(e): return no(.malformedJSON, e.description)
        }
        guard case .object = v else { return no(.malformedJSON, "not a JSON object") }
        guard case let .integer(version)? = v["version"] else { return no(.missingField, "version (an integer)") }
        guard version >= 1, version <= Int64(formatVersion) else {
            return no(.version, "format version \(version); this agent reads 1...\(formatVersion)")
        }
        guard case let .string(name)? = v["name"] else { return no(.missingField, "name (a string)") }
        guard validName(name) else { return no(.badName, "name must be 1-64 bytes of A-Z a-z 0-9 . _ -") }
        guard case let .array(list)? = v["addresses"], !list.isEmpty else {
            return no(.missingField, "addresses (a non-empty array of strings)")
        }
        var addresses: [IPAddress] = []
        for item in list {
            guard case let .string(s) = item, let a = IPAddress(s) else { return no(.badAddress, "not an IP address: \(item.text.prefix(64))") }
            guard !a.isUnspecified, !a.isMulticast else { return no(.badAddress, "\(a) is unspecified or multicast") }
            addresses.append(a)
        }
        guard addresses.allSatisfy({ $0.isV6 == addresses[0].isV6 }) else {
            return no(.mixedFamilies, "addresses mix IPv4 and IPv6")
        }
        guard case let .integer(mtu)? = v["lan_mtu"] else { return no(.missingField, "lan_mtu (an integer)") }
        guard (576...65535).contains(mtu) else { return no(.badMTU, "lan_mtu \(mtu) is not within 576...65535") }
        func words(_ key: String) -> [String]? {
            guard let item = v[key] else { return [] }
            guard case let .array(a) = item else { return nil }
            var out: [String] = []
            for w in a {
                guard case let .string(s) = w, validWord(s) else { return nil }
                out.append(s)
            }
            return out
        }
        guard let modules = words("modules") else { return no(.badCapability, "modules must be an array of words") }
        guard let dataplanes = words("dataplanes") else { return no(.badCapability, "dataplanes must be an array of words") }
        var ike: String?
        switch v["ike_identity"] {
        case nil, .null?: ike = nil
        case let .string(s)?: ike = s
        default: return no(.badCapability, "ike_identity must be a string")
        }
        var agent: String?
        switch v["agent"] {
        case nil, .null?: agent = nil
        case let .string(s)?: agent = s
        default: return no(.badCapability, "agent must be a string")
        }
        // Last: a value refused for its name alone is otherwise a valid entry (under another site's key).
        if let expectedName, expectedName != name {
            return no(.nameMismatch, "the value names site \"\(name)\" but its key is site \"\(expectedName)\"")
        }
        var e = RegistryEntry(name: name, addresses: addresses, lanMTU: Int(mtu), modules: modules, dataplanes: dataplanes, ikeIdentity: ike)
        e.version = Int(version)
        e.agent = agent
        return .success(e)
    }
}

/// What an agent records about its own progress (`RegistryKeys.agent`), under the same lease as its site: the store
/// revision its applied state reflects, and how many changes it has applied since it started.
public struct AgentSyncRecord: Equatable, Sendable {
    public var revision: Int64
    public var changesApplied: Int64
    /// Unix seconds when the agent registered (its lease's start), for `registry status`'s lease ages.
    public var since: Int64

    public init(revision: Int64, changesApplied: Int64, since: Int64) {
        self.revision = revision; self.changesApplied = changesApplied; self.since = since
    }

    public var json: String {
        JSONValue.object([("revision", .integer(revision)), ("changes_applied", .integer(changesApplied)), ("since", .integer(since))]).text
    }

    public static func decode(_ bytes: [UInt8]) -> AgentSyncRecord? {
        guard bytes.count <= 1024, case let .success(v) = JSONValue.parse(bytes),
              case let .integer(r)? = v["revision"], case let .integer(c)? = v["changes_applied"], case let .integer(s)? = v["since"]
        else { return nil }
        return AgentSyncRecord(revision: r, changesApplied: c, since: s)
    }
}

/// The key layout of one segment under a registry `prefix` (e.g. `/isthmus/`):
///
/// | key | value | lease |
/// |---|---|---|
/// | PREFIX segments/SEG/sites/NAME | `RegistryEntry` JSON | the site agent's |
/// | PREFIX segments/SEG/agents/NAME | `AgentSyncRecord` JSON | the site agent's |
/// | PREFIX segments/SEG/drain/NAME | empty: peers leave NAME out until the key is deleted | none |
///
/// An agent watches `PREFIX segments/SEG/` (sites and drains; its peers' sync records are read only by `registry status`).
public struct RegistryKeys: Equatable, Sendable {
    public var prefix: String
    public var segment: String

    public init(prefix: String, segment: String) { self.prefix = prefix; self.segment = segment }

    public var segmentPrefix: String { prefix + "segments/" + segment + "/" }
    public var sitesPrefix: String { segmentPrefix + "sites/" }
    public var agentsPrefix: String { segmentPrefix + "agents/" }
    public var drainPrefix: String { segmentPrefix + "drain/" }
    public func site(_ name: String) -> String { sitesPrefix + name }
    public func agent(_ name: String) -> String { agentsPrefix + name }
    public func drain(_ name: String) -> String { drainPrefix + name }

    public enum Kind: Equatable, Sendable { case site(String), agent(String), drain(String) }

    /// What a key under the segment is; nil for anything else (ignored).
    public func classify(_ key: [UInt8]) -> Kind? {
        guard let k = String(validating: key, as: UTF8.self), k.hasPrefix(segmentPrefix) else { return nil }
        let rest = k.dropFirst(segmentPrefix.count)
        let parts = rest.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 2 else { return nil }
        let name = String(parts[1])
        switch parts[0] {
        case "sites": return .site(name)
        case "agents": return .agent(name)
        case "drain": return .drain(name)
        default: return nil
        }
    }
}
