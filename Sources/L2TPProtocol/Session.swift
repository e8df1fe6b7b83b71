import HeapModule
import L2TPWire

/// What this side asks for when it opens a session (sends ICRQ, or OCRQ for a v2 outgoing call).
public struct SessionOptions: Equatable, Sendable {
    /// v3 pseudowire type (RFC 3931 §5.4.4; 5 = Ethernet, RFC 4719). v2 sessions carry PPP.
    public var pseudowireType: UInt16
    /// v3 Remote End ID: names the pseudowire at the peer (both ends configure the same).
    public var remoteEndID: [UInt8]
    /// v3 Assigned Cookie: what the peer must put in every data message it sends us (0, 4 or 8 bytes).
    public var cookie: [UInt8]
    /// v3 L2-Specific Sublayer: 0 none, 1 the default sublayer of RFC 4719 §3.2.2.
    public var l2SpecificSublayer: UInt16
    /// v3 Data Sequencing: 0 none, 1 non-IP only, 2 all (needs the default sublayer).
    public var dataSequencing: UInt16
    /// v2: an outgoing call (OCRQ, sent by the LNS) rather than an incoming one (ICRQ, sent by the LAC).
    public var outgoing: Bool
    /// v2 Called Number (OCRQ) or Calling Number (ICRQ).
    public var number: String
    /// v2 Bearer Type and Framing Type (bit 0 digital/synchronous, bit 1 analog/asynchronous).
    public var bearerType: UInt32
    public var framingType: UInt32
    /// Connect speed announced in ICCN/OCCN, bits per second.
    public var connectSpeed: UInt32
    /// v3 Session Tie Breaker (RFC 3931 §5.4.4), sent in ICRQ when set.
    public var tieBreaker: UInt64?

    /// An Ethernet pseudowire (v3) or a PPP incoming call (v2) with no cookie and no sublayer.
    public init(pseudowireType: UInt16 = PseudowireType.ethernet, remoteEndID: [UInt8] = [], cookie: [UInt8] = [],
                l2SpecificSublayer: UInt16 = 0, dataSequencing: UInt16 = 0, outgoing: Bool = false, number: String = "",
                bearerType: UInt32 = 0, framingType: UInt32 = 1, connectSpeed: UInt32 = 100_000_000,
                tieBreaker: UInt64? = nil) {
        self.pseudowireType = pseudowireType; self.remoteEndID = remoteEndID; self.cookie = cookie
        self.l2SpecificSublayer = l2SpecificSublayer; self.dataSequencing = dataSequencing; self.outgoing = outgoing
        self.number = number; self.bearerType = bearerType; self.framingType = framingType
        self.connectSpeed = connectSpeed; self.tieBreaker = tieBreaker
    }
}

/// An incoming session request (ICRQ, or a v2 OCRQ) as the responder sees it, to decide on.
public struct SessionRequest: Equatable, Sendable {
    /// The peer's session id.
    public var peerSessionID: UInt32
    /// The Call Serial Number.
    public var serial: UInt32
    /// v3 pseudowire type (nil for v2: PPP).
    public var pseudowireType: UInt16?
    /// v3 Remote End ID (empty when absent).
    public var remoteEndID: [UInt8]
    /// v3: the cookie the peer wants in data we send (its Assigned Cookie).
    public var peerCookie: [UInt8]
    /// v3 sublayer and sequencing the peer asked for.
    public var l2SpecificSublayer: UInt16
    public var dataSequencing: UInt16
    /// v2: an outgoing call request (OCRQ) and its Called Number; else an ICRQ and its Calling Number.
    public var outgoing: Bool
    public var number: String?
}

/// The responder's answer to a `SessionRequest`.
public enum SessionDecision: Equatable, Sendable {
    /// Accept, with our Assigned Cookie (v3: what the peer must send; empty for none).
    case accept(cookie: [UInt8])
    /// Refuse with this CDN result.
    case reject(ResultCode)
}

/// An established session, in the terms a data plane needs.
public struct SessionInfo: Equatable, Sendable {
    /// Our session id (data from the peer carries it).
    public var localID: UInt32
    /// The peer's session id (data we send carries it).
    public var peerID: UInt32
    /// The Call Serial Number.
    public var serial: UInt32
    /// v3 pseudowire type (v2: PPP, reported as `PseudowireType.ppp`).
    public var pseudowireType: UInt16
    /// v3 Remote End ID.
    public var remoteEndID: [UInt8]
    /// The cookie we require on received data (our Assigned Cookie).
    public var cookie: [UInt8]
    /// The cookie we send (the peer's Assigned Cookie).
    public var peerCookie: [UInt8]
    /// v3 sublayer (0 none, 1 default) and data sequencing, as agreed.
    public var l2SpecificSublayer: UInt16
    public var dataSequencing: UInt16
    /// We sent the request (ICRQ/OCRQ).
    public var initiatedLocally: Bool
    /// v2 outgoing call.
    public var outgoing: Bool
}

/// Pseudowire Type values (RFC 3931 §10.6, RFC 4446).
public enum PseudowireType {
    /// 0x0005: Ethernet (RFC 4719).
    public static let ethernet: UInt16 = 0x0005
    /// 0x0004: Ethernet VLAN.
    public static let ethernetVLAN: UInt16 = 0x0004
    /// 0x0007: PPP (RFC 4591).
    public static let ppp: UInt16 = 0x0007
}

/// One session's progress inside a control connection.
struct SessionRecord: Sendable {
    enum State: Sendable, Equatable {
        /// We sent ICRQ/OCRQ and wait for ICRP/OCRP.
        case waitReply
        /// We sent ICRP (or got OCRP) and wait for ICCN (OCCN).
        case waitConnect
        case established
    }
    var info: SessionInfo
    var state: State
    var tieBreaker: UInt64?
    /// Give up (CDN result 10) if not established by then.
    var setupDeadline: Double?
}

/// A connection's sessions by local id, with the indexes its per-message and per-pass paths need, so that none of
/// them walks every session: with 1,000 sessions over one connection, a walk per ICRQ or per loop pass made setting
/// them up quadratic (BENCHMARKS.md, issue 16's re-measure). Every change goes through the subscript or
/// `removeValue`, which keep the indexes true to the records.
struct SessionTable: Sendable {
    private(set) var records: [UInt32: SessionRecord] = [:]
    /// Setup deadlines, earliest first. An entry is live while its session still has that deadline; entries of
    /// sessions established or gone are dropped when they reach the top, so the top is always live.
    private var deadlines = Heap<Deadline>()
    /// Sessions the peer asked for, by the peer's session id (an ICRQ naming one again is a duplicate).
    private var peerInitiated: [UInt32: Int] = [:]
    /// Sessions we asked for and still wait to be answered (ICRP/OCRP), by Remote End ID: the session tie break's
    /// lookup (RFC 3931 §5.4.4).
    private var awaitingReply: [[UInt8]: Set<UInt32>] = [:]

    struct Deadline: Comparable, Sendable {
        var at: Double
        var id: UInt32
        static func < (a: Deadline, b: Deadline) -> Bool { (a.at, a.id) < (b.at, b.id) }
    }

    subscript(id: UInt32) -> SessionRecord? {
        get { records[id] }
        set {
            let old = records[id]
            records[id] = newValue
            if let old { unindex(old, id) }
            if let newValue {
                if let at = newValue.setupDeadline, at != old?.setupDeadline { deadlines.insert(Deadline(at: at, id: id)) }
                index(newValue, id)
            }
            dropStaleDeadlines()
        }
    }

    @discardableResult
    mutating func removeValue(forKey id: UInt32) -> SessionRecord? {
        guard let old = records.removeValue(forKey: id) else { return nil }
        unindex(old, id)
        dropStaleDeadlines()
        return old
    }

    mutating func removeAll() { self = SessionTable() }

    var count: Int { records.count }
    var keys: Dictionary<UInt32, SessionRecord>.Keys { records.keys }
    var values: Dictionary<UInt32, SessionRecord>.Values { records.values }

    /// The earliest setup deadline of a session not yet established.
    var nextSetupDeadline: Double? { deadlines.min?.at }

    /// Removes and returns the sessions whose setup deadline is at or before `now`, earliest first.
    mutating func takeExpiredSetups(now: Double) -> [UInt32] {
        var ids: [UInt32] = []
        while let d = deadlines.min, d.at <= now {
            deadlines.removeMin()
            if isLive(d), ids.last != d.id { ids.append(d.id) }
        }
        dropStaleDeadlines()
        return ids
    }

    /// Whether the peer already has a session it asked for under session id `peerID`.
    func hasPeerInitiated(_ peerID: UInt32) -> Bool { peerInitiated[peerID] != nil }

    /// The session we asked for with this Remote End ID and still wait on (the lowest id, if several).
    func awaitingReply(remoteEndID: [UInt8]) -> (id: UInt32, record: SessionRecord)? {
        guard let id = awaitingReply[remoteEndID]?.min(), let r = records[id] else { return nil }
        return (id, r)
    }

    private func isLive(_ d: Deadline) -> Bool { records[d.id]?.setupDeadline == d.at }

    private mutating func dropStaleDeadlines() {
        while let d = deadlines.min, !isLive(d) { deadlines.removeMin() }
    }

    private mutating func index(_ r: SessionRecord, _ id: UInt32) {
        if !r.info.initiatedLocally { peerInitiated[r.info.peerID, default: 0] += 1 }
        if r.state == .waitReply { awaitingReply[r.info.remoteEndID, default: []].insert(id) }
    }

    private mutating func unindex(_ r: SessionRecord, _ id: UInt32) {
        if !r.info.initiatedLocally {
            let n = (peerInitiated[r.info.peerID] ?? 1) - 1
            peerInitiated[r.info.peerID] = n > 0 ? n : nil
        }
        if r.state == .waitReply {
            awaitingReply[r.info.remoteEndID]?.remove(id)
            if awaitingReply[r.info.remoteEndID]?.isEmpty == true { awaitingReply[r.info.remoteEndID] = nil }
        }
    }
}
