import Foundation
import Dataplane
import DataplaneWire
import L2TPProtocol
import L2TPWire

/// The sender and receiver addresses of the endpoint: matched by IP address alone for the tie break.
extension UDPAddress: L2TPEndpointAddress {
    public var host: PeerAddress { ip }
}

extension L2TPDaemon {
    /// Opens the listeners and the data path. Throws (changing nothing) when a socket cannot be bound or the
    /// data plane asked for is missing.
    public func prepare() throws {
        if dataPath == nil, config.version == .v3, !config.pseudowires.isEmpty {
            switch config.dataPlane {
            case .none: break
            case .kernel:
                guard KernelL2TPDataPath.available() else {
                    throw DataPathError("data_plane = \"kernel\": this kernel has no L2TP generic netlink family (modprobe l2tp_eth l2tp_netlink), or use data_plane = \"userspace\"")
                }
                dataPath = try KernelL2TPDataPath()
                dataPlaneName = "kernel"
            case .userspace:
                dataPath = UserspaceL2TPDataPath()
                dataPlaneName = "userspace"
            case .auto:
                if KernelL2TPDataPath.available(), let k = try? KernelL2TPDataPath() {
                    dataPath = k; dataPlaneName = "kernel"
                } else {
                    dataPath = UserspaceL2TPDataPath(); dataPlaneName = "userspace"
                }
            }
        } else if dataPath != nil {
            dataPlaneName = dataPath is KernelL2TPDataPath ? "kernel" : "userspace"
        }
        let pppPseudowires = config.version == .v3 && config.pseudowires.contains { $0.type == .ppp }
        if pppPseudowires, config.dataPlane != .none, ppp == nil {
            // L2TPv3 PPP pseudowires: the kernel's tunnel (made by the Ethernet data path, over netlink) and a
            // PPPoL2TP socket per session; there is no userspace PPP data plane for v3.
            guard dataPath is KernelL2TPDataPath else {
                throw DataPathError("pseudowires with type = \"ppp\" need the kernel's data plane (modules l2tp_ppp and l2tp_netlink); data plane here: \(dataPlaneName)")
            }
            let dir = L2TPAgentConfig.runDirectory   // Isthmus's own, wherever `status` points
            var pc = config.ppp ?? PPPConfig()
            pc.kernelAPI = .netlink
            ppp = try PPPCalls(config: pc, agentName: config.name, hostName: config.hostName, version: 3,
                               secretsDirectory: dir, userspace: false, log: { [weak self] in self?.log($0) })
        }
        if config.version == .v2, let pc = config.ppp, ppp == nil {
            if config.dataPlane != .none {
                // auto: the kernel's PPPoL2TP when l2tp_ppp is there, else pppd over HDLC in userspace.
                let userspace = config.dataPlane == .userspace || (config.dataPlane == .auto && !PPPCalls.kernelAvailable)
                let dir = L2TPAgentConfig.runDirectory
                let p = try PPPCalls(config: pc, agentName: config.name, hostName: config.hostName, version: 2,
                                     secretsDirectory: dir, userspace: userspace, log: { [weak self] in self?.log($0) })
                ppp = p
                dataPlaneName = p.apiName
            }
        }
        for l in config.listen {
            guard let a = UDPAddress(l.address, port: l.port, ipv6: l.ipv6) else { throw DataPathError("listen: bad address \(l)") }
            listeners.append(try ControlSocket(local: a))
        }
    }


    /// The endpoint's view of a config: the connections' settings, the tunnels to open with their addresses, the
    /// pseudowires and calls.
    static func endpointConfiguration(_ config: L2TPAgentConfig) -> L2TPEndpoint<UDPAddress>.Configuration {
        var c = ControlConnection.Configuration(version: config.version, localID: 0, hostName: config.hostName)
        c.routerID = config.routerID ?? defaultRouterID(config)
        c.secret = config.secret.map { Array($0.utf8) }
        c.digest = config.digest
        c.challenge = config.challenge
        c.hideAVPs = config.hideAVPs
        c.helloInterval = config.helloInterval
        c.reliability.initialTimeout = config.retransmitInitial
        c.reliability.maxTimeout = config.retransmitMax
        c.reliability.maxRetransmits = config.retransmitCount
        c.reliability.receiveWindow = config.window
        // An initiator redials after a peer's StopCCN: it keeps the old connection only briefly to acknowledge
        // retransmissions of that StopCCN (a responder keeps it for a full retransmission cycle, RFC 2661 §5.7).
        if !config.tunnels.isEmpty && config.listen.isEmpty { c.closeHold = 3 }
        if config.pseudowires.contains(where: { $0.type == .ppp }) { c.pseudowires = [L2TPProtocol.PseudowireType.ethernet, L2TPProtocol.PseudowireType.ppp] }
        var e = L2TPEndpoint<UDPAddress>.Configuration(connection: c, listening: !config.listen.isEmpty)
        e.tunnels = config.tunnels.map { t in
            let peer = UDPAddress(t.peer.address, port: t.peer.port)
            let local = t.local ?? L2TPAgentConfig.Endpoint(address: "", port: 1701)
            return .init(name: t.name, peer: peer, peerText: "\(t.peer)",
                         local: peer.flatMap { UDPAddress(local.address, port: local.port, ipv6: $0.ip.isV6) }, localText: "\(local)",
                         redial: t.redial, redialMax: t.redialMax)
        }
        e.pseudowires = config.pseudowires.map {
            .init(name: $0.name, tunnel: $0.tunnel, ppp: $0.type == .ppp, cookie: $0.cookie, sublayer: $0.sublayer,
                  sequencing: $0.sequencing)
        }
        e.calls = config.calls.map { .init(tunnel: $0.tunnel, number: $0.number, outgoing: $0.outgoing) }
        return e
    }

    static func defaultRouterID(_ config: L2TPAgentConfig) -> UInt32 {
        for a in config.tunnels.compactMap({ $0.local?.address }) + config.listen.map(\.address) {
            if let u = UDPAddress(a, port: 0), !u.ip.isV6, u.ip.high != 0 { return UInt32(truncatingIfNeeded: u.ip.high >> 32) }
        }
        return 0
    }
}
