import Foundation
import Dataplane
import DataplaneWire
import IsthmusMetrics
import L2TPProtocol
import Netlink

/// What a running agent says about itself: the status socket (`l2tp show`), the status file, the metrics.
extension L2TPDaemon {
    /// Opens the status socket (`l2tp show` asks it); refuses to start when another agent answers there. A socket
    /// that cannot be made (a path too long for one) leaves `show` with the status file, and is said.
    func openStatusServer() throws {
        let path = config.resolvedStatusSocketPath
        if let other = Self.liveStatus(statusPath: config.resolvedStatusPath) {
            throw DataPathError("another L2TP agent (pid \(other["pid"] ?? "?")) answers on \(path): give this one another `name` or `status`")
        }
        try? FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        do {
            statusServer = try StatusServer(path: path) { [weak self] in self?.statusJSON() ?? "" }
        } catch {
            warn("status socket: \(error); `l2tp show` reads the status file (written at most every \(statusInterval) s)")
        }
    }

    /// The status a running agent answers on the socket that goes with the status file `statusPath`; nil when no
    /// agent answers there.
    public static func liveStatus(statusPath: String) -> [String: Any]? {
        guard case .success(let r) = TunnelStatus.query(path: L2TPAgentConfig.statusSocketPath(forStatus: statusPath)) else {
            return nil
        }
        return try? JSONSerialization.jsonObject(with: Data(r.utf8)) as? [String: Any]
    }

    /// The status now, as `l2tp show` gets it from the socket.
    func statusJSON() -> String {
        guard let d = try? JSONSerialization.data(withJSONObject: status(), options: [.sortedKeys]) else { return "" }
        return String(decoding: d, as: UTF8.self)
    }

    /// An agent that stops leaves no status behind: neither its socket nor its file.
    func removeStatus() {
        statusServer?.shutdown()
        statusServer = nil
        // Only a status file this agent made is removed; a `status` path that held something before it started (a
        // user's file, /dev/null, a link) is left as it is.
        let path = config.resolvedStatusPath
        var st = stat()
        if statusFileIsOurs, lstat(path, &st) == 0, st.st_mode & S_IFMT == S_IFREG { unlink(path) }
    }

    func writeStatusIfDue(_ now: Double) {
        guard statusDirty || now - lastStatus > 5, now - lastStatus >= statusInterval else { return }
        writeStatus(now)
    }

    /// The status as a JSON-ready value.
    public func status(now: Double = L2TPDaemon.now()) -> [String: Any] {
        var list: [[String: Any]] = []
        for (id, t) in tunnels.sorted(by: { $0.key < $1.key }) {
            let c = t.connection
            var sessions: [[String: Any]] = []
            for sid in c.sessionIDs {
                var s: [String: Any] = ["local_id": Int(sid), "state": c.sessionState(sid) ?? "?",
                                        "name": t.sessionNames[sid] ?? ""]
                if let info = c.session(sid) {
                    s["peer_id"] = Int(info.peerID)
                    s["cookie_bytes"] = info.cookie.count
                    s["peer_cookie_bytes"] = info.peerCookie.count
                    s["sublayer"] = info.l2SpecificSublayer == 1 ? "default" : "none"
                    s["sequencing"] = info.dataSequencing != 0
                }
                if let i = wires[id]?.interfaces[sid] { s["interface"] = i }
                if let p = ppp?.status(tunnelID: id, sessionID: sid) { s.merge(p) { $1 } }
                if let k = dataPath?.counters(tunnelID: id, sessionID: sid) {
                    s["rx_packets"] = Int(k.rxPackets); s["rx_bytes"] = Int(k.rxBytes)
                    s["tx_packets"] = Int(k.txPackets); s["tx_bytes"] = Int(k.txBytes)
                    if !k.drops.isEmpty {
                        s["drops"] = Dictionary(k.drops.map { ($0.key.name, Int($0.value)) }, uniquingKeysWith: +)
                    }
                }
                sessions.append(s)
            }
            var e: [String: Any] = [
                "name": t.name, "local_id": Int(id), "peer_id": Int(c.peer.connectionID), "peer": "\(t.peer)",
                "local": "\(wires[id]?.socket.local ?? t.local)", "peer_host": c.peer.hostName, "role": c.role == .initiator ? "initiator" : "responder",
                "state": c.state.name, "retransmits": c.reliable.counters.retransmits, "hellos": c.counters.hellos,
                "sent": c.counters.sent, "received": c.counters.received, "dropped": c.counters.dropped,
                "sessions": sessions, "data_plane": wires[id]?.dataPathAttached == true ? dataPlaneName : "none",
            ]
            if let r = c.reliable.smoothedRTT { e["rtt_ms"] = (r * 1e5).rounded() / 100 }
            if let r = c.counters.helloRTT { e["hello_rtt_ms"] = (r * 1e5).rounded() / 100 }
            if let at = t.established { e["up_seconds"] = Int(now - at) }
            if let v = c.peer.vendorName { e["peer_vendor"] = v }
            list.append(e)
        }
        var extra: [String: Any] = [:]
        if let ppp, let pool = ppp.pool { extra["ppp_pool"] = ["range": "\(pool)", "free": pool.available] }
        return extra.merging(["name": config.name, "version": Int(config.version.rawValue), "data_plane": dataPlaneName,
                "pid": Int(getpid()), "listen": listeners.map { "\($0.local)" }, "tunnels": list, "dropped": dropped,
                "stopping": stopping]) { $1 }
    }

    /// The agent's counters as metric samples (on the loop's thread): per tunnel, per session, PPP calls, drops.
    func metricSamples() -> [MetricSample] {
        let agent = config.name
        var out: [MetricSample] = []
        var calls: [String: Int] = ["negotiating": 0, "up": 0]
        for (id, t) in tunnels.sorted(by: { $0.key < $1.key }) {
            let c = t.connection
            let tn = "\(t.name) \(id)"
            out.append(Families.l2tpTunnelUp.sample([agent, tn], c.state == .established ? 1 : 0))
            out.append(Families.l2tpSessionsUp.sample([agent, tn], c.sessionIDs.filter { c.sessionState($0) == "established" }.count))
            for (type, n) in c.counters.sent { out.append(Families.l2tpSent.sample([agent, tn, type], n)) }
            for (type, n) in c.counters.received { out.append(Families.l2tpReceived.sample([agent, tn, type], n)) }
            for (why, n) in c.counters.dropped { out.append(Families.l2tpDropped.sample([agent, tn, why], n)) }
            out.append(Families.l2tpRetransmits.sample([agent, tn], c.reliable.counters.retransmits))
            out.append(Families.l2tpHellos.sample([agent, tn], c.counters.hellos))
            for sid in c.sessionIDs {
                let sn = t.sessionNames[sid].map { $0.isEmpty ? "\(sid)" : "\($0) \(sid)" } ?? "\(sid)"
                var k = dataPath?.counters(tunnelID: id, sessionID: sid)
                if let call = ppp?.call(tunnelID: id, sessionID: sid) {
                    calls[call.up == nil ? "negotiating" : "up", default: 0] += 1
                    if k == nil, let p = ppp?.counters(of: call) { k = p }
                }
                guard let k else { continue }
                out.append(Families.l2tpSessionPackets.sample([agent, tn, sn, "rx"], k.rxPackets))
                out.append(Families.l2tpSessionPackets.sample([agent, tn, sn, "tx"], k.txPackets))
                out.append(Families.l2tpSessionBytes.sample([agent, tn, sn, "rx"], k.rxBytes))
                out.append(Families.l2tpSessionBytes.sample([agent, tn, sn, "tx"], k.txBytes))
                for r in DropReason.allCases { out.append(Families.l2tpSessionDrops.sample([agent, tn, sn, r.name], k.drops[r] ?? 0)) }
            }
        }
        if ppp != nil { for (state, n) in calls { out.append(Families.pppCalls.sample([agent, state], n)) } }
        for (why, n) in dropped { out.append(Families.l2tpUnattached.sample([agent, why], n)) }
        return out
    }

    func writeStatus(_ now: Double) {
        lastStatus = now
        statusDirty = false
        let started = Self.now()
        defer { statusCost = Self.now() - started }
        let path = config.resolvedStatusPath
        let value = status(now: now)
        // data(withJSONObject:) checks the value itself (and throws); isValidJSONObject first doubled the cost.
        guard let data = try? JSONSerialization.data(withJSONObject: value, options: [.sortedKeys, .prettyPrinted]) else {
            warn("status: cannot encode \(value)")
            return
        }
        // In Isthmus's own directory the file is replaced whole (a reader never sees half of it); a `status` path
        // elsewhere is the user's: written in place, never replaced (it may be /dev/null or a link).
        do {
            if OwnedFiles.isInside(path) { try OwnedFiles.replace(path, with: Array(data)) }
            else { try OwnedFiles.overwrite(path, with: Array(data), create: true) }
        } catch {
            if !statusWriteFailed { warn("status: \(error)") }
            statusWriteFailed = true
            return
        }
        statusWriteFailed = false
    }
}
