import CLinuxUAPI

/// struct rtmsg (linux/rtnetlink.h): the fixed header of RTM_NEWROUTE / RTM_DELROUTE / RTM_GETROUTE.
public struct RouteHeader: Equatable, Sendable {
    /// rtm_family: AF_INET, AF_INET6 (AF_UNSPEC in dumps of every family).
    public var family: UInt8
    /// rtm_dst_len: destination prefix length.
    public var dstLength: UInt8
    /// rtm_src_len: source prefix length (policy routing "from").
    public var srcLength: UInt8
    /// rtm_tos.
    public var tos: UInt8
    /// rtm_table: RT_TABLE_* below 256; RT_TABLE_UNSPEC when RTA_TABLE carries a larger id.
    public var table: UInt8
    /// rtm_protocol: RTPROT_*.
    public var proto: UInt8
    /// rtm_scope: RT_SCOPE_*.
    public var scope: UInt8
    /// rtm_type: RTN_*.
    public var type: UInt8
    /// rtm_flags: RTM_F_* and RTNH_F_*.
    public var flags: UInt32
    /// Creates a header; every field defaults to zero.
    public init(family: UInt8 = 0, dstLength: UInt8 = 0, srcLength: UInt8 = 0, tos: UInt8 = 0, table: UInt8 = 0,
                proto: UInt8 = 0, scope: UInt8 = 0, type: UInt8 = 0, flags: UInt32 = 0) {
        self.family = family; self.dstLength = dstLength; self.srcLength = srcLength; self.tos = tos
        self.table = table; self.proto = proto; self.scope = scope; self.type = type; self.flags = flags
    }
    /// sizeof(struct rtmsg).
    public static let size = 12

    /// Appends the 12 header bytes.
    public func encode(into b: inout [UInt8]) {
        b += [family, dstLength, srcLength, tos, table, proto, scope, type]
        Bytes.append(flags, to: &b)
    }

    /// Decodes the header; throws WireError when fewer than 12 bytes are given.
    public init(decoding p: ArraySlice<UInt8>) throws {
        guard p.count >= Self.size, let f = Bytes.load(UInt32.self, from: p, at: 8) else {
            throw WireError("rtmsg needs \(Self.size) bytes, got \(p.count)")
        }
        let s = p.startIndex
        family = p[s]; dstLength = p[s + 1]; srcLength = p[s + 2]; tos = p[s + 3]
        table = p[s + 4]; proto = p[s + 5]; scope = p[s + 6]; type = p[s + 7]; flags = f
    }
}

/// One struct rtnexthop of RTA_MULTIPATH (linux/rtnetlink.h) with the attributes that follow it.
public struct RouteNextHop: Sendable {
    /// rtnh_flags: RTNH_F_*.
    public var flags: UInt8
    /// rtnh_hops: weight minus one.
    public var hops: UInt8
    /// rtnh_ifindex.
    public var ifindex: Int32
    /// Per-hop attributes (RTA_GATEWAY, RTA_VIA, RTA_ENCAP...).
    public var attributes: [Attribute]
    /// RTA_GATEWAY of this hop.
    public var gateway: IPAddress? { attributes.first(RTA_GATEWAY.rawValue).flatMap { IPAddress(bytes: $0.data) } }

    /// Splits an RTA_MULTIPATH payload into hops; throws WireError on a length that does not fit.
    public static func parse(_ data: ArraySlice<UInt8>) throws -> [RouteNextHop] {
        var out: [RouteNextHop] = []
        var off = data.startIndex
        while data.endIndex - off >= 8 {
            let rel = off - data.startIndex
            guard let len16 = Bytes.load(UInt16.self, from: data, at: rel),
                  let idx = Bytes.load(Int32.self, from: data, at: rel + 4) else { break }
            let len = Int(len16)
            guard len >= 8, len <= data.endIndex - off else {
                throw WireError("rtnexthop length \(len) does not fit in \(data.endIndex - off) bytes", offset: rel)
            }
            let attrs = try Attribute.parse(data[(off + 8)..<(off + len)])
            out.append(RouteNextHop(flags: data[off + 2], hops: data[off + 3], ifindex: idx, attributes: attrs))
            off += min(Bytes.align4(len), data.endIndex - off)
        }
        return out
    }
}

/// A decoded RTM_NEWROUTE / RTM_DELROUTE: the header and its attributes, with typed accessors.
public struct RouteMessage: Sendable {
    /// struct rtmsg.
    public var header: RouteHeader
    /// The top-level RTA_* attributes in wire order.
    public var attributes: [Attribute]

    /// Wraps an already decoded header and attribute list.
    public init(header: RouteHeader, attributes: [Attribute]) { self.header = header; self.attributes = attributes }

    /// Decodes a message payload; throws WireError on truncated headers or attributes.
    public init(_ m: NetlinkMessage) throws {
        let p = m.payload[...]
        header = try RouteHeader(decoding: p)
        attributes = try Attribute.parse(p.dropFirst(RouteHeader.size))
    }

    /// The first attribute of an rtattr_type_t.
    public func attribute(_ type: rtattr_type_t) -> Attribute? { attributes.first(type.rawValue) }
    private func address(_ type: rtattr_type_t) -> IPAddress? { attribute(type).flatMap { IPAddress(bytes: $0.data) } }

    /// RTA_DST (absent for default routes).
    public var destination: IPAddress? { address(RTA_DST) }
    /// RTA_SRC.
    public var source: IPAddress? { address(RTA_SRC) }
    /// RTA_GATEWAY.
    public var gateway: IPAddress? { address(RTA_GATEWAY) }
    /// RTA_PREFSRC.
    public var preferredSource: IPAddress? { address(RTA_PREFSRC) }
    /// RTA_VIA: a gateway of another family (struct rtvia: family then address bytes).
    public var via: IPAddress? {
        guard let a = attribute(RTA_VIA), a.data.count > 2 else { return nil }
        return IPAddress(bytes: a.data.dropFirst(2))
    }
    /// RTA_OIF.
    public var outputInterface: Int32? { attribute(RTA_OIF)?.i32 }
    /// RTA_IIF.
    public var inputInterface: Int32? { attribute(RTA_IIF)?.i32 }
    /// RTA_PRIORITY: the metric.
    public var priority: UInt32? { attribute(RTA_PRIORITY)?.u32 }
    /// The table id: RTA_TABLE when present, else rtm_table.
    public var table: UInt32 { attribute(RTA_TABLE)?.u32 ?? UInt32(header.table) }
    /// RTA_PREF: IPv6 router preference (ICMPV6_ROUTER_PREF_*).
    public var pref: UInt8? { attribute(RTA_PREF)?.u8 }
    /// RTA_UID.
    public var uid: UInt32? { attribute(RTA_UID)?.u32 }
    /// RTA_MARK.
    public var mark: UInt32? { attribute(RTA_MARK)?.u32 }
    /// RTA_NH_ID.
    public var nextHopID: UInt32? { attribute(RTA_NH_ID)?.u32 }
    /// RTA_EXPIRES (seconds, IPv6).
    public var expires: UInt32? { attribute(RTA_EXPIRES)?.u32 }
    /// RTA_METRICS as (RTAX_* type, value) pairs in wire order; RTAX_CC_ALGO's string is not included. Empty when malformed.
    public var metrics: [(type: UInt16, value: UInt32)] {
        guard let a = attribute(RTA_METRICS), let kids = try? a.children() else { return [] }
        return kids.compactMap { k in k.u32.map { (k.type, $0) } }
    }
    /// RTA_METRICS' RTAX_CC_ALGO (congestion control name).
    public var congestionControl: String? {
        guard let a = attribute(RTA_METRICS), let kids = try? a.children() else { return nil }
        return kids.first(RTAX_CC_ALGO)?.string
    }
    /// RTA_MULTIPATH hops; empty when absent or malformed.
    public var nextHops: [RouteNextHop] {
        guard let a = attribute(RTA_MULTIPATH) else { return [] }
        return (try? RouteNextHop.parse(a.data)) ?? []
    }
    /// RTA_CACHEINFO's rta_expires (in USER_HZ ticks) and rta_error, when present and long enough.
    public var cacheExpiresAndError: (expires: Int32, error: UInt32)? {
        guard let a = attribute(RTA_CACHEINFO), let e = Bytes.load(Int32.self, from: a.data, at: 8),
              let err = Bytes.load(UInt32.self, from: a.data, at: 12) else { return nil }
        return (e, err)
    }
}

extension RTMessage {
    /// Builds an RTM_*ROUTE message from an rtmsg header and RTA_* attributes.
    public static func route(_ type: some BinaryInteger, flags: NetlinkFlags, header: RouteHeader, attributes: AttributeWriter = AttributeWriter()) throws -> NetlinkMessage {
        var h: [UInt8] = []
        header.encode(into: &h)
        return try make(type, flags: flags, header: h, attributes: attributes)
    }
}
