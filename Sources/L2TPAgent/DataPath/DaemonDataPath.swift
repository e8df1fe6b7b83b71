import Dataplane
import DataplaneWire
import L2TPProtocol

/// What the daemon's executor does with data paths: a tunnel's when it is established, a session's when it is up.
extension L2TPDaemon {
    func attachTunnel(_ id: UInt32, peerTunnelID: UInt32) {
        guard let w = wires[id], let t = tunnels[id] else { return }
        do {
            if config.version == .v2, let ppp {
                try ppp.addTunnel(tunnelID: id, peerTunnelID: peerTunnelID, socket: w.socket.fd, peer: t.peer)
                w.dataPathAttached = true
            }
            if config.version == .v3, let dataPath {
                try dataPath.addTunnel(tunnelID: id, peerTunnelID: peerTunnelID, socket: w.socket.fd, ipv6: t.peer.ip.isV6)
                w.dataPathAttached = true
                try ppp?.addTunnel(tunnelID: id, peerTunnelID: peerTunnelID, socket: w.socket.fd, peer: t.peer, inKernel: true)
            }
        } catch {
            warn("tunnel \(t.name): \(config.version == .v2 ? "PPP data path" : "data path"): \(error)")
        }
    }

    /// Gives an established session its pppd or data path; why it could not (the session is then cleared), or nil.
    func sessionUp(_ id: UInt32, _ info: SessionInfo, name: String, now: Double) -> String? {
        guard let w = wires[id], let t = tunnels[id] else { return nil }
        var what = ""
        do {
            if config.version == .v2, let ppp {
                if ppp.call(tunnelID: id, sessionID: info.localID) != nil { return nil }   // started when answered
                guard w.dataPathAttached else { return "no PPP data path for this tunnel" }
                // LNS mode: we answered an incoming call or asked for an outgoing one (RFC 2661 §5.1).
                try ppp.addSession(tunnelID: id, sessionID: info.localID, peerSessionID: info.peerID,
                                   lnsMode: info.initiatedLocally == info.outgoing, name: "\(t.name) \(name)", now: now)
                return nil
            }
            guard config.version == .v3, let dataPath, w.dataPathAttached,
                  let pw = config.pseudowires.first(where: { $0.name == name }) else { return nil }
            if pw.type == .ppp, let ppp {
                // The side that accepted the pseudowire authenticates the other and gives it its address.
                try ppp.addSession(tunnelID: id, sessionID: info.localID, peerSessionID: info.peerID,
                                   lnsMode: !info.initiatedLocally, name: pw.name, interface: pw.interface, now: now)
                w.interfaces[info.localID] = pw.interface
                return nil
            }
            what = "data path: "
            try dataPath.addSession(ManagedSession(tunnelID: id, peerTunnelID: t.connection.peer.connectionID, sessionID: info.localID,
                                                   peerSessionID: info.peerID, cookie: info.peerCookie, peerCookie: info.cookie,
                                                   l2SpecificSublayer: info.l2SpecificSublayer == 1, interfaceName: pw.interface,
                                                   mtu: pw.mtu, sequencing: info.dataSequencing != 0))
            w.interfaces[info.localID] = pw.interface
            try Bridging.attach(pw.interface, to: pw.bridge, alias: pw.alias)
        } catch {
            warn("session \(name): \(what)\(error); clearing it")
            return "\(error)"
        }
        return nil
    }

    func detachDataPath(_ id: UInt32) {
        ppp?.removeTunnel(id)
        if config.version == .v3 { dataPath?.removeTunnel(tunnelID: id) }
    }
}
