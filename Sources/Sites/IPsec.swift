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

/// A file a config names (a certificate, a private key), with where its value is: a problem reading it is reported
/// at that FILE:LINE:COL. Only the host that uses the file reads it (a site's key exists on its own host only).
public struct ConfigFile: Equatable, Sendable {
    public var path: String
    /// The config file that names it, and where.
    public var source: String
    public var position: TOMLPosition
    public init(path: String, source: String, position: TOMLPosition) {
        self.path = path; self.source = source; self.position = position
    }

    /// An error about this file, at its place in the config.
    public func error(_ message: String, hint: String = "") -> ConfigError {
        ConfigError(file: source, position: position, message: message, hint: hint)
    }
}

/// What a PEM file a site names must hold, and why bytes are not that (nil when they are). Checked on the host that
/// reads the file, before anything is loaded, so a wrong file is named with its place in the config instead of
/// surfacing as charon's "parsing ... failed".
public enum PEMContent: String, Sendable {
    case certificate = "a PEM certificate"
    case privateKey = "a PEM private key"

    /// charon's VICI carries a value of at most 65,535 bytes.
    public static let maximumBytes = 65_535

    public func problem(_ bytes: [UInt8]) -> String? {
        if bytes.isEmpty { return "is empty; expected \(rawValue)" }
        if bytes.count > Self.maximumBytes { return "is \(bytes.count) bytes; \(rawValue) for charon may have at most \(Self.maximumBytes)" }
        let text = String(decoding: bytes, as: UTF8.self)
        // ("\r\n" is one Character in Swift: split on both.)
        let labels = text.split(whereSeparator: { $0 == "\n" || $0 == "\r\n" }).compactMap { line -> String? in
            let l = line.trimmingTrailingCarriageReturn
            guard l.hasPrefix("-----BEGIN "), l.hasSuffix("-----") else { return nil }
            return String(l.dropFirst(11).dropLast(5))
        }
        guard let first = labels.first else {
            return "is not PEM (no \"-----BEGIN ...-----\" line); expected \(rawValue)"
                + (bytes.first == 0x30 ? " (this looks like DER: convert it with `openssl x509 -outform PEM` or `openssl pkey -outform PEM`)" : "")
        }
        switch self {
        case .certificate:
            if !labels.contains("CERTIFICATE") { return "holds a PEM \(first), not a CERTIFICATE" }
            if !text.contains("-----END CERTIFICATE-----") { return "has no \"-----END CERTIFICATE-----\" line: the file is cut short" }
        case .privateKey:
            if labels.contains("ENCRYPTED PRIVATE KEY") || text.contains("Proc-Type: 4,ENCRYPTED") {
                return "holds an encrypted private key; charon would need its passphrase: store it unencrypted (mode 0600), e.g. `openssl pkey -in KEY -out KEY.pem`"
            }
            guard let key = labels.first(where: { ["PRIVATE KEY", "RSA PRIVATE KEY", "EC PRIVATE KEY"].contains($0) }) else {
                return "holds a PEM \(first), not a PRIVATE KEY (RSA or EC)"
            }
            if !text.contains("-----END \(key)-----") { return "has no \"-----END \(key)-----\" line: the file is cut short" }
        }
        return nil
    }
}

private extension Substring {
    var trimmingTrailingCarriageReturn: Substring { last == "\r" ? dropLast() : self }
}

/// A site's own certificate authentication (`certificate`, `private_key`, `ike_identity` in `[sites.NAME]`).
public struct SiteCertificate: Equatable, Sendable {
    /// PEM files: the site's X.509 certificate, issued by the segment's `ca`, and its private key.
    public var certificate: ConfigFile
    public var privateKey: ConfigFile
    /// The site's IKE identity; nil: the certificate's subject (charon's default). When given, charon accepts it only
    /// if the certificate contains it (as its subject or a subjectAltName).
    public var identity: String?
    public init(certificate: ConfigFile, privateKey: ConfigFile, identity: String? = nil) {
        self.certificate = certificate; self.privateKey = privateKey; self.identity = identity
    }
}

/// A segment's IPsec settings, validated.
public struct IPsecSettings: Equatable, Sendable {
    /// The smallest pre-shared key accepted (bytes): a PSK is the only secret of the IKE SA; shorter ones are
    /// guessable offline from one captured IKE_AUTH.
    public static let minimumSecretBytes = 16
    public static let defaultSocket = "/var/run/charon.vici"

    /// The pre-shared key (IKEv2 PSK authentication of both sites); empty with certificates.
    public var secret: String
    /// Certificate authentication: the CA (a PEM file) that issued both sites' certificates (`[segment] ca`); each
    /// site's certificate and key are in its `[sites.NAME]` table. nil: the pre-shared key.
    public var ca: ConfigFile?
    public var esp: ESPAlgorithm = .aes128gcm16
    /// CHILD SA rekey time in seconds (nil: charon's default, 1 hour).
    public var rekeyTime: Int?
    /// Force ESP into UDP 4500 (NAT between the sites; charon also does it by itself when it detects NAT, which
    /// the MTU plan then does not know: set this to make the plan count the UDP header).
    public var natTraversal: Bool = false
    /// charon's VICI socket.
    public var viciSocket: String = IPsecSettings.defaultSocket

    public init(secret: String, esp: ESPAlgorithm = .aes128gcm16, rekeyTime: Int? = nil, natTraversal: Bool = false,
                viciSocket: String = IPsecSettings.defaultSocket, ca: ConfigFile? = nil) {
        self.secret = secret; self.ca = ca; self.esp = esp; self.rekeyTime = rekeyTime; self.natTraversal = natTraversal
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

    /// Certificate authentication (`settings.ca` set): this site's certificate and key files and identity.
    public var certificate: SiteCertificate?
    /// Certificate authentication: the identity the peer must prove (its `ike_identity`); nil: any identity in a
    /// certificate the segment's CA issued.
    public var peerIdentity: String?
    /// The PEM bytes of this site's certificate and key and of the CA: read on this site's host by the agent just
    /// before loading (`IKESide.load`), never kept in the plan; nil until then.
    public var credentials: Credentials?

    /// What `load-key` and `load-conn` carry for certificate authentication.
    public struct Credentials: Equatable, Sendable {
        public var certificate: [UInt8]
        public var privateKey: [UInt8]
        public var ca: [UInt8]
        public init(certificate: [UInt8], privateKey: [UInt8], ca: [UInt8]) {
            self.certificate = certificate; self.privateKey = privateKey; self.ca = ca
        }
    }

    public init(side: SiteSide, settings: IPsecSettings, certificate: SiteCertificate? = nil, peerIdentity: String? = nil) {
        name = Self.prefix + side.segment
        local = side.localAddress
        remote = side.peers.first?.address ?? side.localAddress
        self.settings = settings
        trafficSelector = Self.trafficSelector(kind: side.kind, encap: side.encap, port: side.localPort)
        if settings.ca != nil {
            self.certificate = certificate
            self.peerIdentity = peerIdentity
        }
    }

    /// Certificates rather than a pre-shared key.
    public var usesCertificates: Bool { settings.ca != nil }

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
        "\(name): IKEv2 \(authSummary) \(local) ⇄ \(remote), ESP transport \(settings.esp.rawValue) \(trafficSelector)"
            + (settings.rekeyTime.map { ", rekey \($0)s" } ?? "") + (settings.natTraversal ? ", UDP-encapsulated" : "")
    }

    /// How the sites authenticate, as `plan` and `status` say it.
    public var authSummary: String {
        guard let ca = settings.ca else { return "PSK" }
        let mine = certificate.map { $0.identity.map { "\"\($0)\"" } ?? "the subject of \($0.certificate.path)" } ?? "?"
        let peer = peerIdentity.map { "\"\($0)\"" } ?? "any identity \(ca.path) certified"
        return "certificates (this site: \(mine); peer: \(peer); CA \(ca.path))"
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
        if usesCertificates {
            // Each end sends its certificate: the peer has only the CA. The CA is given in the connection (not by
            // load-cert), so charon trusts it for this connection's peer only, and it goes with unload-conn.
            conn.append("send_cert", "always")
            var l: VICIMessage = ["auth": "pubkey"]
            if let id = certificate?.identity { l.append("id", .text(id)) }
            l.append("certs", .list([credentials?.certificate ?? []]))
            var r: VICIMessage = ["auth": "pubkey"]
            if let id = peerIdentity { r.append("id", .text(id)) }
            r.append("cacerts", .list([credentials?.ca ?? []]))
            conn.append("local", .section(l))
            conn.append("remote", .section(r))
        } else {
            conn.append("local", .section(["auth": "psk", "id": .text(local.description)]))
            conn.append("remote", .section(["auth": "psk", "id": .text(remote.description)]))
        }
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

    /// load-key of this site's private key (certificates; PEM, RSA or ECDSA: charon tells them apart). charon
    /// answers with the key's id (a hash of its public key), which `unloadKey` takes.
    public var loadKey: VICIMessage? {
        guard usesCertificates else { return nil }
        return ["type": "any", "data": .bytes(credentials?.privateKey ?? [])]
    }

    public static func unloadKey(id: String) -> VICIMessage { ["id": .text(id)] }
}

/// Why an IKE SA did not come up, read from charon's log lines (control-log while initiating).
public enum IKEFailure: String, Equatable, Sendable {
    case authenticationFailed = "authentication failed"
    /// The peer's certificate does not chain to the segment's CA (or is not valid): this site refused it.
    case certificateNotTrusted = "peer certificate not trusted"
    /// charon holds no private key for this site's certificate (the key file is not the certificate's key).
    case noPrivateKey = "no private key for this site's certificate"
    case noProposalChosen = "no proposal chosen"
    case peerUnreachable = "peer unreachable"
    case other = "failed"

    /// The cause charon's lines name, most specific first (an authentication failure after a few retransmits is an
    /// authentication failure); the line that names it; nil when none does. Retransmits without an answer within
    /// the initiation's timeout count as an unreachable peer.
    public static func classify(_ lines: [String]) -> (IKEFailure, String)? {
        let rules: [(IKEFailure, (String) -> Bool)] = [
            // (charon: "no trusted ECDSA public key found for 'CN=b'", "no issuer certificate found for ...",
            // "constraint check failed: peer not authenticated by CA ...", "certificate ... not valid yet/expired".)
            (.certificateNotTrusted, { ($0.contains("no trusted") && $0.contains("public key found"))
                || $0.contains("no issuer certificate found") || $0.contains("constraint check failed")
                || ($0.contains("certificate") && ($0.contains("expired") || $0.contains("not valid"))) }),
            (.noPrivateKey, { $0.contains("no private key found") }),
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
