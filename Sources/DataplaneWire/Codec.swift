/// One session of an engine: a TAP (Ethernet) or TUN (IP) device, its encapsulation and its peers.
public struct SessionConfig: Equatable, Sendable {
    /// The TAP/TUN device name.
    public var name: String
    public var encapsulation: Encapsulation
    /// TAP (Ethernet frames) or TUN (IP packets).
    public var ethernet: Bool
    /// Underlay addresses of the peers; frames to an unlearned or group MAC go to all of them.
    public var peers: [PeerAddress]

    public init(name: String, encapsulation: Encapsulation, ethernet: Bool, peers: [PeerAddress]) {
        self.name = name; self.encapsulation = encapsulation; self.ethernet = ethernet; self.peers = peers
    }

    /// Bytes the encapsulation adds before each frame (not counting the outer IP and UDP headers).
    public func headerLength(transport: Transport) -> Int {
        switch encapsulation {
        case .vxlan: return 8
        case .l2tpv3(let o):
            return (transport.isUDP ? 4 : 0) + 4 + o.cookie.count + (o.defaultL2SpecificSublayer ? 4 : 0)
        case .gre(let o):
            return 4 + (o.outChecksum ? 4 : 0) + (o.outKey != nil ? 4 : 0) + (o.outSequence ? 4 : 0)
        case .ipInIP: return 0
        }
    }

    /// All the bytes the tunnel adds around an inner frame on an underlay of this family: outer IP (20/40),
    /// UDP (8) if any, and the encapsulation header. The Ethernet header of a TAP frame is inside the payload.
    public func overhead(transport: Transport, ipv6: Bool) -> Int {
        (ipv6 ? 40 : 20) + (transport.isUDP ? 8 : 0) + headerLength(transport: transport)
    }
}

/// The transmit side of one session: writes the encapsulation header in front of a frame. Owned by one thread.
public struct Encoder: Sendable {
    public let config: SessionConfig
    public let headerLength: Int
    let transportIsUDP: Bool
    var sequence: UInt32 = 0
    // Flattened header template (everything but sequence numbers, checksum and protocol).
    let word0: UInt32
    let sessionWord: UInt32
    let cookie: [UInt8]
    let l2spec: Bool
    let sendSequenceConfigured: Bool
    let greFlags: UInt16
    let greKey: UInt32?

    public init(_ config: SessionConfig, transport: Transport) {
        self.config = config
        headerLength = config.headerLength(transport: transport)
        transportIsUDP = transport.isUDP
        var w0: UInt32 = 0, sw: UInt32 = 0, ck: [UInt8] = [], ls = false, ss = false, gf: UInt16 = 0, gk: UInt32? = nil
        switch config.encapsulation {
        case .vxlan(let vni): w0 = 0x0800_0000; sw = vni << 8
        case .l2tpv3(let o):
            w0 = 0x0003_0000   // T=0, L=0, S=0, Ver=3 (the low bits of the first 16); 16 reserved bits (RFC 3931 §4.1.2.1)
            sw = o.peerSessionID; ck = o.cookie; ls = o.defaultL2SpecificSublayer; ss = o.sendSequence
        case .gre(let o):
            if o.outChecksum { gf |= WireNumbers.greFlagChecksum }
            if o.outKey != nil { gf |= WireNumbers.greFlagKey }
            if o.outSequence { gf |= WireNumbers.greFlagSequence }
            gk = o.outKey
        case .ipInIP: break
        }
        word0 = w0; sessionWord = sw; cookie = ck; l2spec = ls; sendSequenceConfigured = ss; greFlags = gf; greKey = gk
    }

    /// Writes the header into the `headerLength` bytes at `p`, for a frame that follows it. `ipVersion` is the
    /// inner packet's (TUN sessions: it picks the GRE protocol). `peerSequencing`: the L2TPv3 peer sends sequence
    /// numbers (the kernel then sends them too).
    public mutating func writeHeader(_ p: UnsafeMutableRawPointer, ipVersion: Int, peerSequencing: Bool = false) {
        writeHeaderBody(p, ipVersion: ipVersion, peerSequencing: peerSequencing)
    }

    mutating func writeHeaderBody(_ p: UnsafeMutableRawPointer, ipVersion: Int, peerSequencing: Bool) {
        switch config.encapsulation {
        case .vxlan:
            p.storeBytes(of: word0.bigEndian, as: UInt32.self)
            p.storeBytes(of: sessionWord.bigEndian, toByteOffset: 4, as: UInt32.self)
        case .l2tpv3:
            var o = 0
            if transportIsUDP { p.storeBytes(of: word0.bigEndian, as: UInt32.self); o = 4 }
            p.storeBytes(of: sessionWord.bigEndian, toByteOffset: o, as: UInt32.self); o += 4
            for b in cookie { p.storeBytes(of: b, toByteOffset: o, as: UInt8.self); o += 1 }
            if l2spec {
                var w: UInt32 = 0
                if sendSequenceConfigured || peerSequencing {
                    w = 0x4000_0000 | (sequence & 0x00ff_ffff)
                    sequence = (sequence &+ 1) & 0x00ff_ffff
                }
                p.storeBytes(of: w.bigEndian, toByteOffset: o, as: UInt32.self)
            }
        case .gre:
            let proto = config.ethernet ? WireNumbers.ethernetBridging
                : ipVersion == 6 ? WireNumbers.etherTypeIPv6 : WireNumbers.etherTypeIPv4
            p.storeBytes(of: greFlags.bigEndian, as: UInt16.self)
            p.storeBytes(of: proto.bigEndian, toByteOffset: 2, as: UInt16.self)
            var o = 4
            if greFlags & WireNumbers.greFlagChecksum != 0 { p.storeBytes(of: UInt32(0), toByteOffset: o, as: UInt32.self); o += 4 }
            if let k = greKey { p.storeBytes(of: k.bigEndian, toByteOffset: o, as: UInt32.self); o += 4 }
            if greFlags & WireNumbers.greFlagSequence != 0 {
                p.storeBytes(of: sequence.bigEndian, toByteOffset: o, as: UInt32.self); o += 4
                sequence &+= 1
            }
        case .ipInIP: break
        }
    }

    /// True when `finish` must run after the frame is in place (GRE checksum).
    public var needsFinish: Bool { greFlags & WireNumbers.greFlagChecksum != 0 }

    /// Fills the GRE checksum over header and frame (`length` bytes from `p`, the start of the header).
    public func finish(_ p: UnsafeMutableRawPointer, length: Int) {
        guard needsFinish else { return }
        let c = InternetChecksum.of(UnsafeRawBufferPointer(start: p, count: length))
        p.storeBytes(of: c, toByteOffset: 4, as: UInt16.self)
    }
}

/// What the receive side made of one datagram.
public enum Decoded: Equatable, Sendable {
    /// A frame for session `session` at `offset` of `length` bytes, from peer index `peer`. `sequenced`: an L2TPv3
    /// frame carried a sequence number.
    case frame(session: Int, peer: Int, offset: Int, length: Int, sequenced: Bool)
    /// Dropped; `session` when the drop can be charged to one.
    case drop(DropReason, session: Int?)
}

/// The receive side of an engine: finds the session of each datagram and checks it. Owned by one thread.
/// Never reads outside the datagram, never traps: everything hostile becomes `.drop`.
public struct Decoder: Sendable {
    public let sessions: [SessionConfig]
    public let transport: Transport
    var byID: [UInt32: Int] = [:]
    var keyless: Int? = nil
    var byPeer: [PeerAddress: Int] = [:]
    var expected: [UInt32]
    var seenSequence: [Bool]

    public init(sessions: [SessionConfig], transport: Transport) {
        self.sessions = sessions; self.transport = transport
        expected = Array(repeating: 0, count: sessions.count)
        seenSequence = Array(repeating: false, count: sessions.count)
        for (i, s) in sessions.enumerated() {
            switch s.encapsulation {
            case .vxlan(let vni): byID[vni] = i
            case .l2tpv3(let o): byID[o.sessionID] = i
            case .gre(let o): if let k = o.inKey { byID[k] = i } else { keyless = i }
            case .ipInIP: for p in s.peers { byPeer[p] = i }
            }
        }
    }

    /// Decodes a datagram of `count` bytes at `p` from `source`. `ipHeader`: the datagram starts with its IPv4
    /// header (an IPv4 raw socket), which is checked and skipped.
    /// `protocolNumber`: for IP transports, the protocol the datagram arrived with (IP-in-IP engines receive 4 and
    /// 41 on two sockets); nil: the transport's.
    public mutating func decode(_ p: UnsafeRawPointer, count: Int, source: PeerAddress, ipHeader: Bool = false,
                                protocolNumber: UInt8? = nil) -> Decoded {
        var off = 0
        if ipHeader {
            guard count >= 20 else { return .drop(.malformed, session: nil) }
            let b0 = p.load(as: UInt8.self)
            let ihl = Int(b0 & 0x0f) * 4
            guard b0 >> 4 == 4, ihl >= 20, count >= ihl else { return .drop(.malformed, session: nil) }
            off = ihl
        }
        let n = count - off
        let d = p + off
        switch transport {
        case .udp:
            guard n >= 4 else { return .drop(.malformed, session: nil) }
            if let first = sessions.first {
                switch first.encapsulation {
                case .vxlan: return vxlan(d, n, off, source)
                case .l2tpv3: return l2tpv3(d, n, off, source, udp: true)
                case .gre: return gre(d, n, off, source)
                case .ipInIP: return .drop(.unsupported, session: nil)
                }
            }
            return .drop(.unknownSession, session: nil)
        case .ip(let transportProto):
            let proto = protocolNumber ?? transportProto
            if proto == WireNumbers.ipprotoGRE { return gre(d, n, off, source) }
            if proto == WireNumbers.ipprotoIPIP || proto == WireNumbers.ipprotoIPv6 { return ipInIP(d, n, off, source, proto: proto) }
            return l2tpv3(d, n, off, source, udp: false)
        }
    }

    @inline(__always) func peerIndex(_ s: Int, _ source: PeerAddress) -> Int? {
        let peers = sessions[s].peers
        if peers.count == 1 { return peers[0] == source ? 0 : nil }
        return peers.firstIndex(of: source)
    }

    mutating func vxlan(_ p: UnsafeRawPointer, _ n: Int, _ base: Int, _ source: PeerAddress) -> Decoded {
        guard n >= 8 + 14 else { return .drop(.malformed, session: nil) }
        // RFC 7348 §5: the I flag must be set; other flag and reserved bits are ignored.
        guard p.load(as: UInt8.self) & 0x08 != 0 else { return .drop(.malformed, session: nil) }
        let vni = UInt32(bigEndian: p.loadUnaligned(fromByteOffset: 4, as: UInt32.self)) >> 8
        guard let s = byID[vni], case .vxlan = sessions[s].encapsulation else { return .drop(.unknownSession, session: nil) }
        guard let peer = peerIndex(s, source) else { return .drop(.unknownPeer, session: s) }
        return .frame(session: s, peer: peer, offset: base + 8, length: n - 8, sequenced: false)
    }

    mutating func l2tpv3(_ p: UnsafeRawPointer, _ n: Int, _ base: Int, _ source: PeerAddress, udp: Bool) -> Decoded {
        var o = 0
        if udp {
            let flags = UInt16(bigEndian: p.loadUnaligned(as: UInt16.self))
            if flags & 0x8000 != 0 { return .drop(.control, session: nil) }
            guard flags & 0x000f == 3 else { return .drop(.malformed, session: nil) }
            o = 4
        }
        guard n >= o + 4 else { return .drop(.malformed, session: nil) }
        let sid = UInt32(bigEndian: p.loadUnaligned(fromByteOffset: o, as: UInt32.self))
        o += 4
        if !udp && sid == 0 { return .drop(.control, session: nil) }   // RFC 3931 §4.1.1.1
        guard let s = byID[sid], case .l2tpv3(let opt) = sessions[s].encapsulation else { return .drop(.unknownSession, session: nil) }
        guard let peer = peerIndex(s, source) else { return .drop(.unknownPeer, session: s) }
        let ck = opt.peerCookie.count
        guard n >= o + ck else { return .drop(.badCookie, session: s) }
        for i in 0..<ck where p.load(fromByteOffset: o + i, as: UInt8.self) != opt.peerCookie[i] {
            return .drop(.badCookie, session: s)
        }
        o += ck
        var sequenced = false
        var nextExpected: UInt32? = nil
        if opt.defaultL2SpecificSublayer {
            guard n >= o + 4 else { return .drop(.malformed, session: s) }
            let w = UInt32(bigEndian: p.loadUnaligned(fromByteOffset: o, as: UInt32.self))
            o += 4
            if w & 0x4000_0000 != 0 {
                sequenced = true
                let ns = w & 0x00ff_ffff
                if seenSequence[s] {
                    // 24-bit serial arithmetic: older than expected (by less than half the space) is a duplicate
                    // or a late packet.
                    let behind = (expected[s] &- ns) & 0x00ff_ffff
                    if behind != 0 && behind < 0x0080_0000 { return .drop(.outOfSequence, session: s) }
                }
                nextExpected = (ns &+ 1) & 0x00ff_ffff
            } else if opt.receiveSequence {
                return .drop(.outOfSequence, session: s)
            }
        } else if opt.receiveSequence {
            return .drop(.outOfSequence, session: s)
        }
        guard n - o >= 14 else { return .drop(.malformed, session: s) }
        // Only an accepted frame moves the sequence window.
        if let e = nextExpected { seenSequence[s] = true; expected[s] = e }
        return .frame(session: s, peer: peer, offset: base + o, length: n - o, sequenced: sequenced)
    }

    mutating func gre(_ p: UnsafeRawPointer, _ n: Int, _ base: Int, _ source: PeerAddress) -> Decoded {
        guard n >= 4 else { return .drop(.malformed, session: nil) }   // over IP, nothing has checked the length yet
        let flags = UInt16(bigEndian: p.loadUnaligned(as: UInt16.self))
        guard flags & WireNumbers.greVersionMask == 0, flags & WireNumbers.greFlagRouting == 0 else { return .drop(.malformed, session: nil) }
        let proto = UInt16(bigEndian: p.loadUnaligned(fromByteOffset: 2, as: UInt16.self))
        var o = 4
        let hasCsum = flags & WireNumbers.greFlagChecksum != 0
        let hasKey = flags & WireNumbers.greFlagKey != 0
        let hasSeq = flags & WireNumbers.greFlagSequence != 0
        let hl = 4 + (hasCsum ? 4 : 0) + (hasKey ? 4 : 0) + (hasSeq ? 4 : 0)
        guard n >= hl else { return .drop(.malformed, session: nil) }
        if hasCsum { o += 4 }
        var key: UInt32? = nil
        if hasKey { key = UInt32(bigEndian: p.loadUnaligned(fromByteOffset: o, as: UInt32.self)); o += 4 }
        let s: Int
        if let key { guard let i = byID[key] else { return .drop(.unknownSession, session: nil) }; s = i }
        else { guard let i = keyless else { return .drop(.unknownSession, session: nil) }; s = i }
        guard case .gre(let opt) = sessions[s].encapsulation else { return .drop(.unknownSession, session: nil) }
        guard let peer = peerIndex(s, source) else { return .drop(.unknownPeer, session: s) }
        if hasCsum {
            guard InternetChecksum.of(UnsafeRawBufferPointer(start: p, count: n)) == 0 else { return .drop(.badChecksum, session: s) }
        } else if opt.inChecksum {
            return .drop(.badChecksum, session: s)   // icsum: a checksum is required (as ip_gre)
        }
        var nextExpected: UInt32? = nil
        if hasSeq {
            let seq = UInt32(bigEndian: p.loadUnaligned(fromByteOffset: o, as: UInt32.self))
            o += 4
            if opt.inSequence {
                if seenSequence[s] && Int32(bitPattern: seq &- expected[s]) < 0 { return .drop(.outOfSequence, session: s) }
                nextExpected = seq &+ 1
            }
        } else if opt.inSequence {
            return .drop(.outOfSequence, session: s)
        }
        if sessions[s].ethernet {
            guard proto == WireNumbers.ethernetBridging else { return .drop(.unsupported, session: s) }
            guard n - o >= 14 else { return .drop(.malformed, session: s) }
        } else {
            guard proto == WireNumbers.etherTypeIPv4 || proto == WireNumbers.etherTypeIPv6 else { return .drop(.unsupported, session: s) }
            guard n - o >= 1, Self.ipVersionMatches(p + o, n - o, proto == WireNumbers.etherTypeIPv4 ? 4 : 6) else {
                return .drop(.malformed, session: s)
            }
        }
        if let e = nextExpected { seenSequence[s] = true; expected[s] = e }
        return .frame(session: s, peer: peer, offset: base + o, length: n - o, sequenced: false)
    }

    mutating func ipInIP(_ p: UnsafeRawPointer, _ n: Int, _ base: Int, _ source: PeerAddress, proto: UInt8) -> Decoded {
        guard let s = byPeer[source], case .ipInIP(let v4, let v6) = sessions[s].encapsulation else {
            return .drop(.unknownPeer, session: nil)
        }
        let version = proto == WireNumbers.ipprotoIPIP ? 4 : 6
        guard version == 4 ? v4 : v6 else { return .drop(.unsupported, session: s) }
        guard Self.ipVersionMatches(p, n, version) else { return .drop(.malformed, session: s) }
        return .frame(session: s, peer: peerIndex(s, source) ?? 0, offset: base, length: n, sequenced: false)
    }

    /// The packet starts with an IP header of `version` that fits in `n` bytes.
    static func ipVersionMatches(_ p: UnsafeRawPointer, _ n: Int, _ version: Int) -> Bool {
        guard n >= (version == 4 ? 20 : 40) else { return false }
        return Int(p.load(as: UInt8.self) >> 4) == version
    }
}
