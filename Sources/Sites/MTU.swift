/// MTU and TCP MSS arithmetic for a tunnel across an underlay: what each encapsulation adds, the largest inner packet
/// that crosses unfragmented, whether a LAN's full-size frames need the outer packet fragmented, and the MSS clamp.
/// Pure; `isthmus mtu` prints it and the site planner uses it.
public struct TunnelOverhead: Equatable, Sendable {
    /// The encapsulation, as the site config and `tunnel run` name it.
    public enum Kind: String, CaseIterable, Sendable {
        case vxlan, l2tpv3UDP = "l2tpv3-udp", l2tpv3IP = "l2tpv3-ip", gretap, greInUDP = "gre-in-udp", gre, ipip, sit

        /// Ethernet (bridged) tunnels carry a 14-byte inner Ethernet header; IP tunnels do not.
        public var isEthernet: Bool { [.vxlan, .l2tpv3UDP, .l2tpv3IP, .gretap, .greInUDP].contains(self) }
        /// What the tunnel carries inside, as the sites docs say: `ipip` IPv4 packets, `sit` IPv6 packets, `gre` and the
        /// Ethernet kinds either.
        public var carriesIPv4: Bool { self != .sit }
        public var carriesIPv6: Bool { self != .ipip }
        /// `sit` runs over IPv4 only (IPv6 over IPv6 is `gre`, or ip6tnl).
        public var allowsIPv6Underlay: Bool { self != .sit }
    }

    public var kind: Kind
    /// L2TPv3 cookie length (0, 4 or 8).
    public var cookie: Int = 0
    /// L2TPv3 default L2-specific sublayer (4 bytes).
    public var l2specDefault: Bool = true
    /// GRE optional fields present (checksum, key, sequence: 4 bytes each).
    public var greOptions: Int = 0
    /// Outer IPv6 (40-byte header) instead of IPv4 (20).
    public var ipv6Underlay: Bool = false
    /// ESP in transport mode around the tunnel's packets (sites' `encryption = "ipsec"`), with an AEAD of 8-byte IV
    /// and 16-byte ICV (AES-GCM-128/256 and ChaCha20-Poly1305 alike, RFC 4106 and 7634), padded to 4 bytes.
    public var esp: Bool = false
    /// ESP inside UDP (port 4500) because a NAT sits between the sites (RFC 3948): 8 bytes more.
    public var natTraversal: Bool = false

    public init(kind: Kind, cookie: Int = 0, l2specDefault: Bool = true, greOptions: Int = 0, ipv6Underlay: Bool = false,
                esp: Bool = false, natTraversal: Bool = false) {
        self.kind = kind; self.cookie = cookie; self.l2specDefault = l2specDefault; self.greOptions = greOptions
        self.ipv6Underlay = ipv6Underlay; self.esp = esp; self.natTraversal = esp && natTraversal
    }

    /// ESP's header before the protected payload: SPI 4 + sequence number 4 + the AEAD's explicit IV 8.
    public static let espHeader = 16
    /// ESP's trailer after the payload, padding aside: pad length 1 + next header 1 + ICV 16.
    public static let espTrailer = 18
    /// ESP pads payload + pad length + next header to a multiple of 4 (an AEAD's block size of 1, aligned to 4).
    public static let espAlignment = 4

    /// Each header the tunnel adds around an inner IP packet, outermost first, with its size.
    public var parts: [(name: String, bytes: Int)] {
        var p: [(String, Int)] = [(ipv6Underlay ? "outer IPv6" : "outer IPv4", ipv6Underlay ? 40 : 20)]
        if esp {
            if natTraversal { p.append(("UDP (NAT-T, port 4500)", 8)) }
            p += [("ESP SPI + sequence", 8), ("ESP IV", 8)]
        }
        switch kind {
        case .vxlan: p += [("UDP", 8), ("VXLAN", 8)]
        case .l2tpv3UDP, .l2tpv3IP:
            if kind == .l2tpv3UDP { p += [("UDP", 8), ("L2TPv3 flags/version", 4)] }
            p.append(("L2TPv3 session id", 4))
            if cookie > 0 { p.append(("L2TPv3 cookie", cookie)) }
            if l2specDefault { p.append(("L2-specific sublayer", 4)) }
        case .gretap, .gre, .greInUDP:
            if kind == .greInUDP { p.append(("UDP", 8)) }
            p.append((greOptions == 0 ? "GRE" : "GRE with \(greOptions) option field\(greOptions > 1 ? "s" : "")", 4 + 4 * greOptions))
        case .ipip, .sit: break
        }
        if kind.isEthernet { p.append(("inner Ethernet", 14)) }
        if esp { p += [("ESP pad len + next hdr", 2), ("ESP ICV", 16)] }
        return p
    }

    /// Bytes added to every inner IP packet (with ESP, before its padding, which depends on the packet's length:
    /// `MTUPlan` takes it into account for the largest packet).
    public var bytes: Int { parts.reduce(0) { $0 + $1.bytes } }

    /// The ESP padding of the largest packet that fits an underlay of `underlayMTU` (0 to 3 bytes): what is left
    /// for ESP's payload and its 2-byte trailer is used in multiples of 4. 0 without ESP.
    public func espPadding(underlayMTU: Int) -> Int {
        guard esp else { return 0 }
        let outer = (ipv6Underlay ? 40 : 20) + (natTraversal ? 8 : 0)
        let room = underlayMTU - outer - Self.espHeader - 16  // payload + padding + pad length + next header
        return room > 0 ? room % Self.espAlignment : 0
    }
}

/// The MTU plan for one tunnel over one underlay.
public struct MTUPlan: Equatable, Sendable {
    /// The IP MTU of an Ethernet LAN (RFC 894).
    public static let ethernetLANMTU = 1500
    public var overhead: TunnelOverhead
    /// MTU of the path the tunnel packets take (the underlay interface, or an overlay such as a 1280-MTU VPN).
    public var underlayMTU: Int
    /// The IP MTU the LAN hosts use (1500 on Ethernet).
    public var lanMTU: Int

    public init(overhead: TunnelOverhead, underlayMTU: Int, lanMTU: Int = 1500) {
        self.overhead = overhead; self.underlayMTU = underlayMTU; self.lanMTU = lanMTU
    }

    /// The largest inner IP packet that crosses without fragmenting the outer packet: the tunnel device's MTU.
    /// With ESP, the padding that largest packet needs counts too.
    public var tunnelMTU: Int { underlayMTU - overhead.bytes - espPadding }

    /// ESP padding of the largest packet (0 to 3 bytes; 0 without ESP).
    public var espPadding: Int { overhead.espPadding(underlayMTU: underlayMTU) }

    /// All the bytes the largest packet gets added, padding included.
    public var totalOverhead: Int { overhead.bytes + espPadding }

    /// Full-size LAN packets do not fit: the outer packet must be fragmented (and reassembled by the peer), so the
    /// tunnel must not set DF (kernel: `ignore-df` / `df unset` / `nopmtudisc`).
    public var needsOuterFragmentation: Bool { lanMTU > tunnelMTU }

    /// TCP MSS that keeps TCP segments inside `tunnelMTU` (IPv4: minus 20 IP + 20 TCP; IPv6: minus 40 + 20).
    public var mssIPv4: Int { max(0, tunnelMTU - 40) }
    public var mssIPv6: Int { max(0, tunnelMTU - 60) }

    /// The smallest MTU IPv6 allows on a link (RFC 8200 §5); IPv4's minimum is 68 (RFC 791).
    public var problems: [String] {
        var out: [String] = []
        if tunnelMTU < 68 {
            out.append("underlay MTU \(underlayMTU) cannot carry the \(overhead.bytes) bytes of \(overhead.kind.rawValue) overhead plus a minimal IPv4 packet (68)")
        } else if tunnelMTU < 1280 && overhead.kind.carriesIPv6 {
            // A routed tunnel's device is an IPv6 link of its own: the kernel turns IPv6 off on a device below 1280.
            out.append(overhead.kind.isEthernet
                       ? "tunnel MTU \(tunnelMTU) is below IPv6's minimum of 1280: IPv6 across this tunnel works only with outer fragmentation"
                       : "tunnel MTU \(tunnelMTU) is below IPv6's minimum of 1280: IPv6 cannot use this tunnel unless its MTU is raised with outer fragmentation (sites: mtu with fragment = true)")
        }
        return out
    }

    /// The inner families whose TCP MSS is clamped: those the tunnel carries.
    public var clampedMSS: [(family: String, headers: Int, mss: Int)] {
        (overhead.kind.carriesIPv4 ? [("IPv4", 40, mssIPv4)] : []) + (overhead.kind.carriesIPv6 ? [("IPv6", 60, mssIPv6)] : [])
    }

    /// A readable explanation, one line each, as `isthmus mtu` prints it.
    public var explanation: [String] {
        var lines = ["\(overhead.kind.rawValue) over a \(underlayMTU)-byte \(overhead.ipv6Underlay ? "IPv6" : "IPv4") underlay:"]
        for p in overhead.parts { lines.append("  " + p.name + String(repeating: " ", count: max(1, 25 - p.name.count)) + "\(p.bytes)") }
        if overhead.esp { lines.append("  ESP padding to 4         \(espPadding) (of the largest packet; 0 to 3)") }
        lines.append("  overhead                 \(totalOverhead)")
        lines.append("tunnel MTU \(underlayMTU) - \(totalOverhead) = \(tunnelMTU)")
        let carried = overhead.kind.carriesIPv4 && overhead.kind.carriesIPv6 ? "" : overhead.kind.carriesIPv4 ? "IPv4 " : "IPv6 "
        if !needsOuterFragmentation {
            lines.append("LAN \(carried)packets of \(lanMTU) fit without fragmentation")
        } else if overhead.kind.isEthernet {
            // A bridge drops a frame larger than a port's MTU without a word, so an Ethernet tunnel must carry full frames.
            lines.append("LAN packets of \(lanMTU) do not fit: the outer packets are fragmented (DF off), and TCP is clamped")
        } else {
            // A routed tunnel is a link like any other: larger packets get ICMP from the gateway (path MTU discovery).
            lines.append("LAN \(carried)packets of \(lanMTU) do not fit: the gateway answers larger packets with ICMP "
                         + (overhead.kind.carriesIPv4 ? "fragmentation needed" : "packet too big")
                         + (overhead.kind.carriesIPv4 && overhead.kind.carriesIPv6 ? " (IPv4) or packet too big (IPv6)" : "")
                         + " (no outer fragmentation), and TCP is clamped")
        }
        lines.append("TCP MSS clamp: " + clampedMSS.map { "\($0.family) \(tunnelMTU) - \($0.headers) = \($0.mss)" }.joined(separator: ", "))
        lines += problems.map { "problem: \($0)" }
        return lines
    }
}
