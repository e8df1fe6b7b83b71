import VICIWire

/// `[segment] encryption`: cleartext tunnels (the default), or ESP transport mode keyed by strongSwan's charon.
public enum Encryption: String, CaseIterable, Sendable { case none, ipsec }

/// The ESP algorithms a segment may use: AEADs only (one key, 8-byte IV, 16-byte ICV: the MTU arithmetic of
/// `TunnelOverhead.esp`), named as strongSwan's proposals name them.
public enum ESPAlgorithm: String, CaseIterable, Sendable {
    case aes128gcm16, aes256gcm16, chacha20poly1305

    /// The IKE proposal of the connection (IKE needs charon's own crypto plugins: AES-GCM, SHA-2, ECP from the
    /// openssl/gcm/sha2 plugins Debian installs; ChaCha20 for IKE would need the extra plugins, so IKE stays AES).
    public var ikeProposal: String {
        switch self {
        case .aes128gcm16: "aes128gcm16-prfsha256-ecp256"
        case .aes256gcm16, .chacha20poly1305: "aes256gcm16-prfsha384-ecp384"
        }
    }

    /// The kernel's name of the AEAD (what `ip xfrm state` shows).
    public var kernelName: String {
        switch self {
        case .aes128gcm16, .aes256gcm16: "rfc4106(gcm(aes))"
        case .chacha20poly1305: "rfc7539esp(chacha20,poly1305)"
        }
    }
}

/// A segment's IPsec settings, validated.
public struct IPsecSettings: Equatable, Sendable {
    /// The smallest pre-shared key accepted (bytes): a PSK is the only secret of the IKE SA; shorter ones are
    /// guessable offline from one captured IKE_AUTH.
    public static let minimumSecretBytes = 16
    public static let defaultSocket = "/var/run/charon.vici"

    /// The pre-shared key (IKEv2 PSK authentication of both sites).
    public var secret: String
    public var esp: ESPAlgorithm = .aes128gcm16
    /// CHILD SA rekey time in seconds (nil: charon's default, 1 hour).
    public var rekeyTime: Int?
    /// Force ESP into UDP 4500 (NAT between the sites; charon also does it by itself when it detects NAT, which
    /// the MTU plan then does not know: set this to make the plan count the UDP header).
    public var natTraversal: Bool = false
    /// charon's VICI socket.
    public var viciSocket: String = IPsecSettings.defaultSocket

    public init(secret: String, esp: ESPAlgorithm = .aes128gcm16, rekeyTime: Int? = nil, natTraversal: Bool = false,
                viciSocket: String = IPsecSettings.defaultSocket) {
        self.secret = secret; self.esp = esp; self.rekeyTime = rekeyTime; self.natTraversal = natTraversal
        self.viciSocket = viciSocket
    }
}

/// The IKEv2 connection one site loads into charon for its tunnel: names, traffic selectors and the VICI messages
/// (load-shared, load-conn, initiate, terminate, unload-conn, unload-shared). Pure.
///
/// Everything Isthmus loads is named `isthmus-SEGMENT` (connection, CHILD SA, shared key), so a connection or key a
/// user loaded is never touched: `down` unloads only these names.
public struct IPsecConnection: Equatable, Sendable {
    public static let prefix = "isthmus-"

    public var name: String
    public var local: IPAddress
    public var remote: IPAddress
    public var settings: IPsecSettings
    /// strongSwan's selector of the tunnel's traffic between the two addresses, e.g. `dynamic[115]`.
    public var trafficSelector: String

    public init(side: SiteSide, settings: IPsecSettings) {
        name = Self.prefix + side.segment
        local = side.localAddress
        remote = side.peers.first?.address ?? side.localAddress
        self.settings = settings
        trafficSelector = Self.trafficSelector(kind: side.kind, encap: side.encap, port: side.localPort)
    }

    /// What the tunnel's packets are, as a strongSwan traffic selector (the addresses are the SA's own: `dynamic`).
    /// L2TPv3 over UDP uses one port on both ends; VXLAN and GRE-in-UDP send from varying source ports, so all UDP
    /// between the two addresses is protected; the IP kinds by protocol number.
    public static func trafficSelector(kind: TunnelKind, encap: L2TPEncap?, port: UInt16?) -> String {
        switch kind {
        case .l2tpv3 where encap == .ip: "dynamic[115]"
        case .l2tpv3: "dynamic[udp/\(port ?? 1701)]"
        case .vxlan, .greInUDP: "dynamic[udp]"
        case .gretap, .gre: "dynamic[47]"
        case .ipip: "dynamic[4]"
        case .sit: "dynamic[41]"
        }
    }

    /// The words `plan` shows.
    public var summary: String {
        "\(name): IKEv2 PSK \(local) ⇄ \(remote), ESP transport \(settings.esp.rawValue) \(trafficSelector)"
            + (settings.rekeyTime.map { ", rekey \($0)s" } ?? "") + (settings.natTraversal ? ", UDP-encapsulated" : "")
    }

    public var loadShared: VICIMessage {
        ["id": .text(name), "type": "ike", "data": .text(settings.secret), "owners": .texts([local.description, remote.description])]
    }

    public var loadConn: VICIMessage {
        var child: VICIMessage = [
            "mode": "transport",
            "esp_proposals": .texts([settings.esp.rawValue]),
            "local_ts": .texts([trafficSelector]),
            "remote_ts": .texts([trafficSelector]),
            // Trap policies: until the SA is up, the tunnel's packets trigger IKE and are held, never sent in clear.
            "start_action": "trap",
        ]
        if let r = settings.rekeyTime { child.append("rekey_time", .text("\(r)s")) }
        var conn: VICIMessage = [
            "version": "2",
            "local_addrs": .texts([local.description]),
            "remote_addrs": .texts([remote.description]),
            "proposals": .texts([settings.esp.ikeProposal]),
        ]
        if settings.natTraversal { conn.append("encap", "yes") }
        conn.append("local", .section(["auth": "psk", "id": .text(local.description)]))
        conn.append("remote", .section(["auth": "psk", "id": .text(remote.description)]))
        conn.append("children", .section(VICIMessage([.init(name, .section(child))])))
        return VICIMessage([.init(name, .section(conn))])
    }

    /// `initiate` of the CHILD SA, with charon's log streamed at level 1 (the reason when it fails).
    public func initiate(timeoutMilliseconds: Int) -> VICIMessage {
        ["child": .text(name), "ike": .text(name), "timeout": .text("\(timeoutMilliseconds)"), "loglevel": "1"]
    }

    public var terminate: VICIMessage { ["ike": .text(name), "timeout": "5000", "force": "yes"] }
    public var unloadConn: VICIMessage { ["name": .text(name)] }
    public var unloadShared: VICIMessage { ["id": .text(name)] }
}

/// Why an IKE SA did not come up, read from charon's log lines (control-log while initiating).
public enum IKEFailure: String, Equatable, Sendable {
    case authenticationFailed = "authentication failed"
    case noProposalChosen = "no proposal chosen"
    case peerUnreachable = "peer unreachable"
    case other = "failed"

    /// The cause charon's lines name, most specific first (an authentication failure after a few retransmits is an
    /// authentication failure); the line that names it; nil when none does. Retransmits without an answer within
    /// the initiation's timeout count as an unreachable peer.
    public static func classify(_ lines: [String]) -> (IKEFailure, String)? {
        let rules: [(IKEFailure, (String) -> Bool)] = [
            (.authenticationFailed, { $0.contains("authentication_failed") || $0.contains("mac mismatched")
                || ($0.contains("authentication of") && $0.contains("failed")) }),
            (.noProposalChosen, { $0.contains("no_proposal_chosen") || $0.contains("no acceptable proposal")
                || $0.contains("no proposal chosen") }),
            (.peerUnreachable, { $0.contains("giving up after") || $0.contains("peer not responding")
                || $0.contains("retransmit") || $0.contains("unable to resolve") || $0.contains("network is unreachable") }),
        ]
        for (reason, matches) in rules {
            if let l = lines.first(where: { matches($0.lowercased()) }) { return (reason, l) }
        }
        return nil
    }
}
