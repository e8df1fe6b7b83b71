#if canImport(Glibc)
import Glibc
#endif
import Dataplane
import Foundation
import IPCommand
import L2TPAgent
import L2TPWire
import Netlink

/// `tunnel run NAME type l2tp-control ARGS`: one L2TPv3 Ethernet pseudowire set up by the control protocol (a site's
/// `control = "l2tpv3"`) — the L2TP agent with one peer, in the foreground, behind the same status socket as the
/// other userspace tunnels (so a site reconciler finds, compares and stops it the same way). The device NAME appears
/// when the session is established (l2tp_eth with `dataplane kernel`, a TAP with `dataplane userspace`), in `bridge`,
/// with `alias`, at `mtu`; it goes when the session does.
///
///     ARGS := local ADDR remote ADDR role initiator|responder pseudowire ID [ udp_sport PORT ] [ udp_dport PORT ]
///             [ cookie 0|4|8 ] [ dataplane kernel|userspace ] [ bridge NAME ] [ mtu MTU ] [ alias TEXT ]
///             [ secret-file PATH ] [ hello SECONDS ] [ host NAME ]
enum TunnelRunControl {
    static let keywords = ["local", "remote", "role", "pseudowire", "udp_sport", "udp_dport", "cookie", "dataplane", "bridge",
                           "mtu", "alias", "secret-file", "hello", "host"]

    /// The agent configuration for `words` (after `type l2tp-control`).
    static func configuration(name: String, _ args: inout Arguments) throws -> L2TPAgentConfig {
        var v: [String: String] = [:]
        while let w = args.next() {
            guard keywords.contains(w) else { throw args.unknown(w, validChoices: keywords) }
            v[w] = try args.value(for: w, expected: "a value")
        }
        for k in ["local", "remote", "role", "pseudowire"] where v[k] == nil {
            throw UsageError.missing(k, expected: k == "role" ? "initiator or responder" : "a value")
        }
        guard let role = v["role"], ["initiator", "responder"].contains(role) else {
            throw UsageError.invalid(v["role"] ?? "", for: "role", expected: "initiator or responder")
        }
        func port(_ k: String) throws -> UInt16 {
            guard let s = v[k] else { return 1701 }
            guard let p = UInt16(s), p > 0 else { throw UsageError.invalid(s, for: k, expected: "a UDP port") }
            return p
        }
        let local = L2TPAgentConfig.Endpoint(address: v["local"]!, port: try port("udp_sport"))
        let remote = L2TPAgentConfig.Endpoint(address: v["remote"]!, port: try port("udp_dport"))
        var c = L2TPAgentConfig(name: name, version: .v3, hostName: v["host"] ?? name)
        if let f = v["secret-file"] {
            guard let d = FileManager.default.contents(atPath: f), d.count <= 1 << 20,
                  let s = String(data: d, encoding: .utf8) else {
                throw UsageError("tunnel run \(name): cannot read secret-file \(f)")
            }
            let secret = s.trimmingCharacters(in: .newlines)
            guard !secret.isEmpty else { throw UsageError("tunnel run \(name): secret-file \(f) is empty") }
            c.secret = secret
            c.digest = .hmacSHA1
        }
        if let h = v["hello"] {
            guard let s = Double(h), s > 0 else { throw UsageError.invalid(h, for: "hello", expected: "seconds") }
            c.helloInterval = s
        }
        switch v["dataplane"] ?? "kernel" {
        case "kernel": c.dataPlane = .kernel
        case "userspace": c.dataPlane = .userspace
        case let d: throw UsageError.invalid(d, for: "dataplane", expected: "kernel or userspace")
        }
        var pw = L2TPAgentConfig.Pseudowire(name: v["pseudowire"]!, interface: name)
        // The default L2-specific sublayer, as the static L2TPv3 tunnels of sites have (the MTU arithmetic counts it).
        pw.sublayer = true
        if let k = v["cookie"] {
            guard let n = Int(k), [0, 4, 8].contains(n) else { throw UsageError.invalid(k, for: "cookie", expected: "0, 4 or 8") }
            pw.cookie = n
        }
        if let m = v["mtu"] {
            guard let n = Int(m), (68...65535).contains(n) else { throw UsageError.invalid(m, for: "mtu", expected: "an MTU (68..65535)") }
            pw.mtu = n
        }
        pw.bridge = v["bridge"]
        pw.alias = v["alias"]
        if role == "initiator" {
            var t = L2TPAgentConfig.Tunnel(name: "peer", peer: remote, local: local)
            t.redialMax = 30
            c.tunnels = [t]
            pw.tunnel = "peer"
        } else {
            c.listen = [local]
        }
        c.pseudowires = [pw]
        return c
    }

    static func run(name: String, _ args: inout Arguments, _ session: Session) throws {
        let words = args.remaining
        var config = try configuration(name: name, &args)
        try session.flush()
        try NetworkNamespace.with(session.options.netns) {
            let namespace = TunnelStatus.currentNamespace()
            try StatusServer.ensureNotRunning(name: name, namespace: namespace)
            // Per namespace, as the tunnel's status socket: two sites on one host run tunnels of the same name.
            config.statusPath = "/run/isthmus/l2tp/tunnel-\(namespace)-\(name).json"
            let daemon = L2TPDaemon(config: config)
            daemon.log = { FileHandleErr.write("isthmus: tunnel \(name): \($0)\n") }
            let server = try StatusServer(name: name, namespace: namespace) {
                report(name: name, words: ["type", "l2tp-control"] + words, daemon: daemon)
            }
            defer { server.shutdown() }
            daemon.extraFDs = [(server.fd, { server.serve() })]
            try daemon.run()
        }
    }

    /// The status socket's report: the userspace tunnels' line format, plus the control connection's state.
    static func report(name: String, words: [String], daemon: L2TPDaemon) -> String {
        var lines = ["tunnel \(name)", "kind l2tp-control", "pid \(getpid())", "transport udp", "args " + words.joined(separator: " ")]
        let s = daemon.status()
        lines.append("detail data_plane \(s["data_plane"] ?? "none")")
        for t in (s["tunnels"] as? [[String: Any]]) ?? [] {
            lines.append("detail control \(t["state"] ?? "?") peer \(t["peer"] ?? "?") ids \(t["local_id"] ?? "?")/\(t["peer_id"] ?? "?")"
                         + ((t["up_seconds"] as? Int).map { ", up \(TextTable.age($0))" } ?? ""))
            for x in (t["sessions"] as? [[String: Any]]) ?? [] {
                lines.append("detail session \(x["state"] ?? "?") ids \(x["local_id"] ?? "?")/\(x["peer_id"] ?? "-")")
            }
        }
        if ((s["tunnels"] as? [[String: Any]]) ?? []).isEmpty { lines.append("detail control waiting for the peer") }
        return lines.joined(separator: "\n") + "\n"
    }
}
