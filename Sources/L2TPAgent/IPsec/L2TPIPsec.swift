import VICIWire
import Config

/// L2TP/IPsec remote access on an LNS (RFC 3193; `[l2tp.ipsec]`, docs/L2TP.md): the IKEv1 and IKEv2 transport-mode
/// connections the built-in clients of Windows, macOS/iOS and Android expect, loaded into strongSwan's charon over
/// VICI. This is the configuration and the messages, pure; loading them is `L2TPIPsecLoader`.
public struct L2TPIPsecConfig: Equatable, Sendable {
    /// How the LNS and its clients prove who they are in IKE.
    public enum Authentication: Equatable, Sendable {
        /// One pre-shared key for every client (what "L2TP/IPsec with pre-shared key" means in every client's UI).
        case psk(String)
        /// The LNS's certificate and private key (PEM or DER files); clients present certificates issued by `ca`.
        case certificate(certificate: String, privateKey: String, ca: String)
    }

    public var authentication: Authentication
    /// Refuse L2TP that did not arrive through an SA (docs/L2TP.md, "`require`").
    public var require = false
    /// charon's VICI socket.
    public var vici = "/var/run/charon.vici"
    /// IKE proposals (strongSwan's syntax), the preferred first: charon as responder takes the first of these the
    /// client also offers.
    public var ikeProposals = L2TPIPsecConfig.defaultIKEProposals
    public var espProposals = L2TPIPsecConfig.defaultESPProposals

    public init(authentication: Authentication) { self.authentication = authentication }

    /// The shortest PSK accepted: IKEv1 main mode with a PSK lets anyone who sees one exchange test guesses offline,
    /// so a short key is refused rather than warned about.
    public static let minimumPSKLength = 16

    /// What the native clients send (docs/L2TP.md lists which client sends which, with sources): AES-CBC with
    /// SHA-2 or SHA-1 and MODP-2048 first, then the MODP-1024 and 3DES proposals of older Windows and Android.
    public static let defaultIKEProposals = [
        "aes256-sha256-modp2048", "aes128-sha256-modp2048", "aes256-sha1-modp2048", "aes128-sha1-modp2048",
        "aes256-sha256-modp1024", "aes256-sha1-modp1024", "aes128-sha1-modp1024", "3des-sha1-modp1024",
    ]
    public static let defaultESPProposals = [
        "aes256gcm16", "aes128gcm16", "aes256-sha256", "aes128-sha256", "aes256-sha1", "aes128-sha1", "3des-sha1",
    ]

    /// strongSwan's algorithm keywords that make sense here (docs.strongswan.org, "Algorithm Proposals"): what a
    /// proposal may be made of. Anything else is an unknown algorithm (a typo, or one charon would reject anyway).
    public static let encryptionKeywords: Set<String> = [
        "aes128", "aes192", "aes256", "3des", "aes128ctr", "aes192ctr", "aes256ctr",
        "aes128gcm8", "aes128gcm12", "aes128gcm16", "aes192gcm16", "aes256gcm8", "aes256gcm12", "aes256gcm16",
        "aes128ccm16", "aes256ccm16", "chacha20poly1305", "camellia128", "camellia256",
    ]
    public static let integrityKeywords: Set<String> = ["md5", "sha1", "sha256", "sha384", "sha512", "aesxcbc", "aescmac"]
    public static let prfKeywords: Set<String> = ["prfmd5", "prfsha1", "prfsha256", "prfsha384", "prfsha512", "prfaesxcbc", "prfaescmac"]
    public static let dhKeywords: Set<String> = [
        "modp1024", "modp1536", "modp2048", "modp3072", "modp4096", "modp6144", "modp8192",
        "ecp256", "ecp384", "ecp521", "ecp224", "ecp192", "curve25519", "x25519", "curve448", "x448",
    ]

    /// Why `proposal` is not one strongSwan proposal of known keywords (nil when it is). `esp`: ESP (no PRF; DH
    /// optional), else IKE (a DH group required).
    public static func proposalProblem(_ proposal: String, esp: Bool) -> String? {
        let words = proposal.split(separator: "-", omittingEmptySubsequences: false).map(String.init)
        guard !proposal.isEmpty, !words.contains(where: \.isEmpty) else { return "is not a proposal: write algorithms separated by '-', e.g. \"aes256-sha256-modp2048\"" }
        var encryption = 0, integrity = 0, dh = 0
        let known = encryptionKeywords.union(integrityKeywords).union(dhKeywords).union(esp ? ["esn", "noesn"] : prfKeywords)
        for w in words {
            if encryptionKeywords.contains(w) { encryption += 1 } else if integrityKeywords.contains(w) { integrity += 1 }
            else if dhKeywords.contains(w) { dh += 1 } else if !known.contains(w) {
                return "has an unknown algorithm \"\(w)\"" + Suggestion.didYouMean(w, among: known.sorted())
            }
        }
        if encryption == 0 { return "has no encryption algorithm (e.g. aes256, aes128gcm16)" }
        let aead = words.contains { $0.contains("gcm") || $0.contains("ccm") || $0 == "chacha20poly1305" }
        if !aead && integrity == 0 { return "has no integrity algorithm (e.g. sha256), which a non-AEAD cipher needs" }
        if !esp && dh == 0 { return "has no key exchange group (e.g. modp2048), which an IKE proposal needs" }
        return nil
    }
}

/// The VICI messages that put an agent's L2TP/IPsec into charon and take it out again. Names are the agent's own
/// (`isthmus-l2tp-NAME-…`), so unloading never touches anything else charon has.
public struct L2TPIPsecPlan: Equatable, Sendable {
    public let connectionNames: [String]
    public let sharedKeyID: String
    /// load-shared (PSK), or nil for certificates.
    public let sharedKey: VICIMessage?
    /// One load-conn message per connection (IKEv1, IKEv2).
    public let connections: [VICIMessage]

    /// - localAddresses: the LNS's listen addresses (the wildcard: charon's %any); port: the L2TP port (1701).
    /// - certificateData, privateKeyData, caData: the files' bytes, for `.certificate` (read by the caller).
    public init(_ c: L2TPIPsecConfig, agentName: String, localAddresses: [String], port: UInt16,
                certificateData: [UInt8] = [], caData: [UInt8] = []) {
        let base = "isthmus-l2tp-\(agentName)"
        connectionNames = ["\(base)-ikev1", "\(base)-ikev2"]
        sharedKeyID = base
        let local: [String] = localAddresses.isEmpty || localAddresses.contains { $0.isEmpty || $0 == "0.0.0.0" || $0 == "::" }
            ? ["%any"] : localAddresses
        let auth: (local: VICIMessage, remote: VICIMessage)
        switch c.authentication {
        case .psk(let key):
            sharedKey = ["id": .text(base), "type": "IKE", "data": .text(key), "owners": .list([])]
            auth = (["auth": "psk"], ["auth": "psk"])
        case .certificate:
            sharedKey = nil
            auth = (["auth": "pubkey", "certs": .list([certificateData])], ["auth": "pubkey", "cacerts": .list([caData])])
        }
        connections = zip(connectionNames, ["1", "2"]).map { name, version in
            let child: VICIMessage = [
                "mode": "transport",
                // The LNS's L2TP port, and whatever port the client sends from (Windows and iOS use 1701, some clients
                // another); `dynamic` is each SA's own address pair (after NAT: the client's public address).
                "local_ts": .texts(["dynamic[udp/\(port)]"]),
                "remote_ts": .texts(["dynamic[udp]"]),
                "esp_proposals": .texts(c.espProposals),
                // A mark of its own per CHILD_SA (kept across rekeys), on its policies both ways and on every datagram
                // it decrypts: what tells two clients behind one NAT apart (`L2TPIPsecFilter`, docs/L2TP.md).
                "mark_in": "%unique",
                "mark_out": "%unique",
                "set_mark_in": "%same",
                "dpd_action": "clear",
                "start_action": "none",
            ]
            let conn: VICIMessage = [
                "version": .text(version),
                "local_addrs": .texts(local),
                "remote_addrs": .texts(["%any"]),
                "proposals": .texts(c.ikeProposals),
                "dpd_delay": "30s",
                // Several clients may present the same identity (their public address behind one NAT, or one PSK):
                // none replaces another.
                "unique": "never",
                "local": .section(auth.local),
                "remote": .section(auth.remote),
                "children": .section(["l2tp": .section(child)]),
            ]
            return [name: .section(conn)]
        }
    }

    /// unload-conn for each connection.
    public var unloadConnections: [VICIMessage] { connectionNames.map { ["name": .text($0)] } }
    /// unload-shared for the PSK.
    public var unloadSharedKey: VICIMessage { ["id": .text(sharedKeyID)] }
}

/// The agent's nftables table for L2TP/IPsec (`inet isthmus-l2tp-NAME`), always loaded with `[l2tp.ipsec]`.
///
/// **Several clients behind one NAT.** Two clients behind the same NAT both send L2TP from the NAT's public address and,
/// inside ESP where the NAT cannot change it, port 1701: to the LNS they would be one L2TP peer, and their transport-mode
/// policies the same selectors. Each CHILD_SA therefore has a mark of its own (`mark_in`/`mark_out = %unique`,
/// `set_mark_in = %same`: `L2TPIPsecPlan`), which the kernel puts on every datagram the SA decrypts and which its
/// outbound policy requires. This table turns that mark into a distinct source port:
/// - prerouting, before connection tracking: the flow's *original-direction* conntrack zone is derived from the
///   client's address and mark, so two clients' identical 4-tuples are two connections (the reply direction stays in
///   the default zone, where the ports below make them distinct);
/// - the mark is saved in the connection (`ct mark`);
/// - input NAT: the source port becomes a port derived from the client's address and mark (a hash with a fixed seed:
///   the same port each time, so a connection that expires while a tunnel idles comes back on the same port) — the
///   agent, the kernel's L2TP sockets and `isthmus l2tp show` see each client as its own address and port. The hash
///   is 42496-65535; nft 1.0.6 hands it to NAT in host byte order, so the port is that value byte-swapped on a
///   little-endian host (seen in the guest): either way its low byte is not 0xA5, so it is never 1701, nor 0;
/// - output (a route chain, so the kernel looks up the route and the IPsec policy again): replies get the
///   connection's mark back, NAT restores port 1701, and the policy with that mark puts them into that client's SA;
/// - postrouting: a reply of such a connection that found no SA is dropped, never sent in clear.
/// A hash collision between two clients of one NAT address (1 in 23,040 per pair) makes the second one's SCCRQ fail;
/// its next connection has a new mark. Packets without an SA or mark (cleartext L2TP) pass untouched.
///
/// **`require = true`** adds a rule that drops UDP to the LNS's L2TP port which did not come through an IPsec SA
/// (`meta ipsec missing`, i.e. no secpath). Why nftables and not an xfrm policy: the kernel checks a UDP socket's
/// inbound policy (per-socket or global) only after the socket's encapsulation handler ran, and once a tunnel's socket
/// is the kernel's L2TP socket that handler takes the data messages, so cleartext data with a known tunnel and session
/// id would still be accepted; the input hook sees every datagram first. ESP-in-UDP (port 4500) is decapsulated before
/// this hook sees the inner datagram, which then has a secpath.
public struct L2TPIPsecFilter: Equatable, Sendable {
    public let table: String
    public let script: String
    public let deleteScript: String

    /// The hashes' seed: fixed, so a reloaded table maps a client to the same zone and port.
    static let seed = "0x6c327470"

    public init(agentName: String, listen: [(address: String, port: UInt16)], require: Bool) {
        table = "isthmus-l2tp-\(agentName)"
        var zone = "", mark = "", nat = "", out = "", guard_ = "", drop = ""
        for l in listen {
            let v6 = l.address.contains(":")
            let any = l.address.isEmpty || l.address == "0.0.0.0" || l.address == "::"
            let (fam, ipx) = v6 ? ("ipv6", "ip6") : ("ipv4", "ip")
            let daddr = any ? "meta nfproto \(fam) " : "\(ipx) daddr \(l.address) "
            let saddr = any ? "meta nfproto \(fam) " : "\(ipx) saddr \(l.address) "
            let client = "udp dport \(l.port) meta ipsec exists meta mark != 0"
            zone += "    \(daddr)\(client) ct original zone set jhash \(ipx) saddr . meta mark mod 65535 seed \(Self.seed) offset 1\n"
            mark += "    \(daddr)\(client) ct mark set meta mark\n"
            nat += "    \(daddr)udp dport \(l.port) ct mark != 0 meta ipsec exists snat \(ipx) to \(ipx) saddr : jhash \(ipx) saddr . ct mark mod 23040 seed \(Self.seed) offset 42496\n"
            out += "    \(saddr)udp sport \(l.port) ct mark != 0 meta mark set ct mark\n"
            guard_ += "    \(saddr)udp sport \(l.port) ct mark != 0 rt ipsec missing counter drop comment \"L2TP to an IPsec client without its SA\"\n"
            if require {
                drop += "    \(daddr)udp dport \(l.port) meta ipsec missing counter drop comment \"L2TP without IPsec\"\n"
            }
        }
        func chain(_ name: String, _ type: String, _ hook: String, _ priority: String, _ rules: String) -> String {
            "  chain \(name) {\n    type \(type) hook \(hook) priority \(priority); policy accept;\n\(rules)  }\n"
        }
        script = "table inet \(table)\ndelete table inet \(table)\ntable inet \(table) {\n"
            + chain("demux-zone", "filter", "prerouting", "raw", zone)
            + chain("demux-mark", "filter", "prerouting", "mangle", mark)
            + chain("demux-nat", "nat", "input", "100", nat)
            + chain("demux-out", "route", "output", "mangle", out)
            + chain("demux-guard", "filter", "postrouting", "filter", guard_)
            + (require ? chain("input", "filter", "input", "filter", drop) : "")
            + "}\n"
        deleteScript = "table inet \(table)\ndelete table inet \(table)\n"
    }
}
