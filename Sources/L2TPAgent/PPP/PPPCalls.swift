import Foundation
import CLinuxUAPI
import Dataplane
import DataplaneWire
import L2TPWire
import Netlink

/// The PPP side of an agent's calls: for each established session a pppd, with its own interface and (LNS) a peer
/// address from the pool, over one of two data planes:
/// - the kernel's: a PPPoL2TP socket (`KernelPPPoL2TP`) that pppd's pppol2tp plugin makes its channel; the kernel
///   moves the data between the tunnel's socket and the ppp interface.
/// - userspace (hosts without l2tp_ppp): pppd runs on the slave of a pty the agent opens (async HDLC framed by the
///   kernel's ppp_async; ppp_generic for the interface) and the agent moves frames between the master and the
///   tunnel's socket: HDLC decoded (RFC 1662) into L2TPv2 data messages, and back, as xl2tpd does without the kernel.
/// pppd's exit ends the call (the agent sends the CDN); a call the control protocol ends gets its pppd stopped
/// (SIGTERM, then SIGKILL after 3 s). Everything here runs on the agent's loop thread.
public final class PPPCalls {
    public let config: PPPConfig
    let agentName: String
    let hostName: String
    let version: UInt8
    /// nil: the userspace data plane.
    let kernel: KernelPPPoL2TP?
    var log: (String) -> Void
    /// The secrets file pppd reads as /etc/ppp/*-secrets; nil: the system's.
    public private(set) var secretsFile: String?
    /// /dev/null over /etc/ppp/options, so that only the agent's words configure pppd (nil: no such file).
    let optionsFile: String?
    var pool: AddressPool?
    /// `auth = "radius"`: the agent's directory for pppd's radius plugin (NAME.radius) and its radiusclient file.
    public private(set) var radiusDirectory: String?
    public private(set) var radiusConfigFile: String?
    /// How long a pppd told to stop gets before SIGKILL: 3 s, plus with RADIUS the time its Accounting-Stop may take
    /// when no server answers (every server, every retry), so the Stop is not cut short.
    var stopGrace: Double { 3 + Double(config.auth == .radius ? config.radius?.worstCaseSeconds ?? 0 : 0) }

    /// One call's PPP.
    public final class Call {
        public let tunnelID: UInt32
        public let sessionID: UInt32
        public let name: String
        public let interface: String
        /// The pool's address for the peer, until the link shows the peer got another one (RADIUS's
        /// Framed-IP-Address): then it goes back to the pool, which is only the fallback.
        public internal(set) var peerAddress: IPv4?
        /// An address in the pool's range that RADIUS gave the peer, held in the pool while the call lasts.
        var reservedAddress: IPv4?
        let socket: Int32
        public let pid: pid_t
        public let lnsMode: Bool
        public internal(set) var up: (local: String, peer: String)?
        let started: Double
        /// Userspace: the peer's session id, the HDLC decoder of pppd's output, the next Ns, the counters.
        var peerSessionID: UInt32 = 0
        var decoder = HDLCDecoder()
        var ns: UInt16 = 0
        let counters = Counters()
        /// Userspace: our fd of the pty's slave, kept for the call so its raw settings hold until pppd has it.
        var ptySlave: Int32 = -1
        /// Userspace: HDLC frames for pppd not yet written (the first may be partly written already: `writeOut`
        /// drops what the pty took), and where each ends (with its frame's size).
        var toPPPD: [UInt8] = []
        var toPPPDFrames: [(end: Int, bytes: Int)] = []
        /// Forgets the frames waiting for pppd (both lists together).
        func dropWaiting(keepingCapacity: Bool = true) {
            toPPPD.removeAll(keepingCapacity: keepingCapacity)
            toPPPDFrames.removeAll(keepingCapacity: keepingCapacity)
        }
        init(tunnelID: UInt32, sessionID: UInt32, name: String, interface: String, peerAddress: IPv4?, socket: Int32,
             pid: pid_t, lnsMode: Bool, started: Double) {
            self.tunnelID = tunnelID; self.sessionID = sessionID; self.name = name; self.interface = interface
            self.peerAddress = peerAddress; self.socket = socket; self.pid = pid; self.lnsMode = lnsMode; self.started = started
        }
    }

    struct Key: Hashable { var tunnel: UInt32; var session: UInt32 }
    var calls: [Key: Call] = [:]
    /// pppds told to stop, and when they get SIGKILL.
    var stopping: [pid_t: (deadline: Double, name: String)] = [:]
    var tunnels: [UInt32: (socket: Int32, peer: UDPAddress, peerTunnelID: UInt32)] = [:]

    /// Checks what the calls need (the kernel's PPPoL2TP, pppd) and writes the secrets file; throws a sentence
    /// naming what is missing.
    /// - secretsDirectory: Isthmus's own directory (/run/isthmus/l2tp) for the secrets file NAME.ppp-secrets.
    /// - userspace: the userspace data plane instead of the kernel's PPPoL2TP.
    public init(config: PPPConfig, agentName: String, hostName: String, version: UInt8, secretsDirectory: String,
                userspace: Bool, log: @escaping (String) -> Void) throws {
        self.config = config; self.agentName = agentName; self.hostName = hostName; self.version = version; self.log = log
        guard FileManager.default.isExecutableFile(atPath: config.pppd) else {
            throw DataPathError("ppp: pppd \"\(config.pppd)\" is not an executable file (apt-get install ppp)")
        }
        if userspace {
            if let why = Self.userspaceUnavailableReason() { throw DataPathError(why) }
            kernel = nil
        } else {
            if let why = KernelPPPoL2TP.unavailableReason() {
                throw DataPathError("PPP calls on the kernel's data plane: \(why); or data_plane = \"userspace\" (pppd on a pty, needs ppp_generic and ppp_async)")
            }
            kernel = try KernelPPPoL2TP(api: KernelPPPoL2TP.detect(config.kernelAPI))
        }
        pool = config.pool
        optionsFile = FileManager.default.fileExists(atPath: "/etc/ppp/options") ? "/dev/null" : nil
        let extra: String?
        if let path = config.secrets {
            guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
                throw DataPathError("ppp: cannot read the secrets file \(path)")
            }
            extra = text
        } else {
            extra = nil
        }
        if let text = pppSecretsText(config, extra: extra) {
            for f in ["/etc/ppp/chap-secrets", "/etc/ppp/pap-secrets"] where !FileManager.default.fileExists(atPath: f) {
                throw DataPathError("ppp: \(f) must exist for pppd to be shown the agent's secrets in its place (apt-get install ppp)")
            }
            let path = "\(secretsDirectory)/\(agentName).ppp-secrets"
            do { try OwnedFiles.replace(path, with: Array(text.utf8), mode: 0o600, within: secretsDirectory) } catch {
                throw DataPathError("ppp: cannot write the secrets file: \(error)")
            }
            secretsFile = path
        }
        if config.auth == .radius {
            guard let radius = config.radius else { throw DataPathError("ppp: auth = \"radius\" needs [l2tp.radius]") }
            if config.pppd == PPPConfig().pppd, let why = Self.radiusPluginMissing() { throw DataPathError(why) }
            let dir = "\(secretsDirectory)/\(agentName).radius"
            let files = RadiusClientFiles(radius, directory: dir, hostName: hostName)
            do {
                for (name, text, mode) in [(RadiusClientFiles.serversName, files.servers, mode_t(0o600)),
                                           (RadiusClientFiles.dictionaryName, files.dictionary, 0o644),
                                           (RadiusClientFiles.mapName, files.map, 0o644),
                                           (RadiusClientFiles.configName, files.config, 0o644)] {
                    try OwnedFiles.replace("\(dir)/\(name)", with: Array(text.utf8), mode: mode, within: secretsDirectory)
                }
            } catch {
                Self.removeRadiusDirectory(dir)
                throw DataPathError("ppp: cannot write pppd's RADIUS configuration: \(error)")
            }
            radiusDirectory = dir
            radiusConfigFile = "\(dir)/\(RadiusClientFiles.configName)"
        }
    }

    /// Why pppd's radius plugin cannot be loaded (Debian's ppp ships it as /usr/lib/pppd/VERSION/radius.so), nil
    /// when it is there.
    static func radiusPluginMissing() -> String? {
        for base in ["/usr/lib/pppd", "/usr/lib/x86_64-linux-gnu/pppd", "/usr/lib/aarch64-linux-gnu/pppd", "/usr/local/lib/pppd"] {
            guard let versions = try? FileManager.default.contentsOfDirectory(atPath: base) else { continue }
            if versions.contains(where: { FileManager.default.fileExists(atPath: "\(base)/\($0)/radius.so") }) { return nil }
        }
        return "ppp: auth = \"radius\" needs pppd's radius plugin (radius.so), which is not installed (apt-get install ppp)"
    }

    /// Removes the files the agent wrote for the radius plugin (and the sequence file pppd made) and the directory.
    static func removeRadiusDirectory(_ dir: String) {
        for name in [RadiusClientFiles.configName, RadiusClientFiles.serversName, RadiusClientFiles.dictionaryName,
                     RadiusClientFiles.mapName, RadiusClientFiles.sequenceName] {
            unlink("\(dir)/\(name)")
        }
        rmdir(dir)
    }

    deinit {
        batch.deallocate()
        for c in calls.values { kill(c.pid, SIGKILL); close(c.socket) }
        if let secretsFile { unlink(secretsFile) }
        if let radiusDirectory { Self.removeRadiusDirectory(radiusDirectory) }
    }

    public var apiName: String {
        guard let kernel else { return "userspace (pppd over HDLC)" }
        return kernel.api == .netlink ? "kernel (netlink)" : "kernel (PPPoL2TP tunnel socket)"
    }

    /// Whether the kernel takes the calls' data (else `deliver` and `readable` move it).
    public var inKernel: Bool { kernel != nil }

    /// Why pppd cannot run PPP here at all (no /dev/ppp: ppp_generic), nil when it can.
    public static func userspaceUnavailableReason() -> String? {
        let fd = open("/dev/ppp", O_RDWR | O_CLOEXEC)
        if fd >= 0 { close(fd); return nil }
        let e = errno
        return "PPP calls need the kernel's PPP driver, which pppd always uses: /dev/ppp: \(String(cString: strerror(e))) (modules ppp_generic, and ppp_async for the userspace data plane, or l2tp_ppp for the kernel's: modprobe l2tp_ppp ppp_async)"
    }

    /// Whether the kernel can run PPP calls itself (l2tp_ppp); `auto` picks the userspace data plane otherwise.
    public static var kernelAvailable: Bool { KernelPPPoL2TP.unavailableReason() == nil }

    /// The tunnel is up: the kernel takes its socket (data messages of its sessions are consumed there).
    /// `inKernel`: the kernel already has the tunnel (an L2TPv3 tunnel the Ethernet data path handed over).
    public func addTunnel(tunnelID: UInt32, peerTunnelID: UInt32, socket: Int32, peer: UDPAddress, inKernel: Bool = false) throws {
        if !inKernel {
            try kernel?.addTunnel(version: version, tunnelID: tunnelID, peerTunnelID: peerTunnelID, socket: socket, peer: peer)
        }
        tunnels[tunnelID] = (socket, peer, peerTunnelID)
    }

    /// Stops every call of the tunnel and removes the kernel's tunnel.
    public func removeTunnel(_ tunnelID: UInt32) {
        for k in calls.keys where k.tunnel == tunnelID { removeSession(tunnelID: tunnelID, sessionID: k.session) }
        tunnels[tunnelID] = nil
        kernel?.removeTunnel(tunnelID)
    }

    /// Starts PPP on an established session: its socket, an interface name and (LNS) an address, and pppd.
    @discardableResult
    public func addSession(tunnelID: UInt32, sessionID: UInt32, peerSessionID: UInt32, lnsMode: Bool, name: String,
                           interface wanted: String? = nil, silent: Bool = false, now: Double) throws -> Call {
        guard let t = tunnels[tunnelID] else { throw DataPathError("ppp: tunnel \(tunnelID) has no kernel tunnel") }
        var address: IPv4?
        if lnsMode, pool != nil {
            guard let a = pool!.allocate(excluding: Set([config.localAddress].compactMap { $0 })) else {
                throw DataPathError("ppp: the address pool \(pool!) is used up")
            }
            address = a
        }
        let interface = wanted ?? freeInterfaceName()
        // Kernel: the PPPoL2TP socket, pppd's channel. Userspace: a pty's master; pppd opens the slave.
        let fd: Int32
        var ptyName = ""
        var ptySlave: Int32 = -1
        do {
            if let kernel {
                fd = try kernel.openSession(version: version, tunnelSocket: t.socket, peer: t.peer, tunnelID: tunnelID,
                                            sessionID: sessionID, peerTunnelID: t.peerTunnelID, peerSessionID: peerSessionID,
                                            lnsMode: lnsMode, sequencing: config.sequencing, reorderTimeout: config.reorderTimeout)
            } else {
                // A pty of our own: pppd opens its slave as its tty (the ppp_async line discipline frames there),
                // the agent reads and writes the master. No `notty` character-shunt process in between.
                var name = [CChar](repeating: 0, count: 64)
                fd = isthmus_open_pty(&name, name.count, &ptySlave)
                guard fd >= 0 else { throw DataPathError("ppp: pty: \(String(cString: strerror(errno)))") }
                ptyName = String(decoding: name.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
            }
        } catch {
            if let address { pool?.release(address) }
            throw error
        }
        var inv = PPPDInvocation(lnsMode: lnsMode, tunnelID: tunnelID, sessionID: sessionID, interface: interface,
                                 peerAddress: address, callName: "\(agentName):\(name)", secretsFile: secretsFile)
        inv.silent = silent
        inv.radiusConfigFile = radiusConfigFile
        let argv = [config.pppd] + inv.arguments(config, hostName: hostName, channel: kernel == nil ? .tty(ptyName) : .pppol2tp)
        let pid = spawn(argv, channel: kernel == nil ? -1 : fd, stdio: -1)
        let spawnErrno = errno
        guard pid > 0 else {
            close(fd)
            if ptySlave >= 0 { close(ptySlave) }
            if let address { pool?.release(address) }
            throw DataPathError("ppp: cannot start \(config.pppd): \(String(cString: strerror(spawnErrno)))")
        }
        let call = Call(tunnelID: tunnelID, sessionID: sessionID, name: name, interface: interface, peerAddress: address,
                        socket: fd, pid: pid, lnsMode: lnsMode, started: now)
        call.ptySlave = ptySlave
        call.peerSessionID = peerSessionID
        calls[Key(tunnel: tunnelID, session: sessionID)] = call
        if kernel == nil { byStream[fd] = Key(tunnel: tunnelID, session: sessionID) }
        log("session \(name): pppd \(pid) on \(interface)" + (address.map { ", peer address \($0)" } ?? "")
            + (lnsMode ? " (LNS mode)" : ""))
        return call
    }

    /// pppd with the channel as fd 3 and its output on our stderr, each line prefixed by the call's name would need
    /// a pipe and a reader; pppd's own lines carry its pid, which the log line above names.
    func spawn(_ argv: [String], channel: Int32, stdio: Int32) -> pid_t {
        var cargs: [UnsafeMutablePointer<CChar>?] = argv.map { strdup($0) }
        cargs.append(nil)
        defer { for p in cargs { free(p) } }
        return cargs.withUnsafeBufferPointer { b in
            isthmus_spawn_channel(config.pppd, b.baseAddress, channel, stdio, 2, secretsFile, optionsFile)
        }
    }

    // MARK: The userspace data plane

    /// The calls' stream ends, for the loop to poll (userspace only).
    public var streams: [Int32] { kernel == nil ? calls.values.map(\.socket) : [] }

    private var byStream: [Int32: Key] = [:]
    private var readBuffer = [UInt8](repeating: 0, count: 65536)
    /// pppd → peer: the data messages made from one read of the pty (each one's range), sent with one sendmmsg.
    private var outBuffer: [UInt8] = []
    private var outRanges: [(range: Range<Int>, payload: Int)] = []
    private let batch = UnsafeMutablePointer<isthmus_dgram>.allocate(capacity: PPPCalls.batchMax)
    static let batchMax = 64
    /// Peer → pppd: the calls with HDLC frames waiting in `toPPPD` for `flush` (a drain's worth, one write each).
    private var unflushed: [Call] = []
    /// A call's frames are written before they reach this many bytes.
    static let flushThreshold = 32768
    /// Bytes that may wait for one pppd when its pty is full (about 170 full frames; the pty buffers 64 KiB more).
    /// Beyond it the peer's frames are dropped (io_error): the tunnel's socket keeps its own backlog meanwhile.
    static let backlogLimit = 262_144

    /// pppd wrote to a call's stream: every complete HDLC frame (FCS checked) goes to the peer as an L2TPv2 data
    /// message (FF 03 put back when pppd compressed it away), the frames of one read in one sendmmsg. What the
    /// decoder drops is counted on the call.
    public func readable(_ fd: Int32) {
        guard let key = byStream[fd], let c = calls[key], let t = tunnels[key.tunnel] else { return }
        for _ in 0..<64 {
            let n = readBuffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n <= 0 { return }   // EAGAIN, or pppd closed its end (its exit is seen by poll)
            let before = c.decoder.counters
            outBuffer.removeAll(keepingCapacity: true)
            outRanges.removeAll(keepingCapacity: true)
            readBuffer.withUnsafeBytes { raw in
                c.decoder.feed(UnsafeRawBufferPointer(rebasing: raw[0..<n])) { frame in
                    append(frame, of: c, tunnel: t)
                }
            }
            sendAppended(of: c, socket: t.socket)
            let after = c.decoder.counters
            let bad = after.dropped &- before.dropped
            if bad > 0 { c.counters.drop(.malformed, Int(bad)) }
        }
    }

    /// Adds `frame` as a data message to the next batch.
    private func append(_ frame: UnsafeRawBufferPointer, of c: Call, tunnel t: (socket: Int32, peer: UDPAddress, peerTunnelID: UInt32)) {
        var h = V2DataHeader(tunnelID: UInt16(truncatingIfNeeded: t.peerTunnelID), sessionID: UInt16(truncatingIfNeeded: c.peerSessionID))
        if config.sequencing { h.ns = c.ns; h.nr = 0 }
        let addControl = !PPPFrame.hasAddressControl(frame)
        let length = frame.count + (addControl ? 2 : 0)
        let start = outBuffer.count
        guard (try? h.encode(payloadLength: length, into: &outBuffer)) != nil else { c.counters.drop(.malformed); return }
        if config.sequencing { c.ns &+= 1 }
        if addControl { outBuffer += PPPFrame.addressControl }
        outBuffer.append(contentsOf: frame)
        outRanges.append((start..<outBuffer.count, length))
    }

    /// Sends the batch `append` made (sendmmsg, up to `batchMax` at a time); what the socket refuses is counted.
    private func sendAppended(of c: Call, socket: Int32) {
        guard !outRanges.isEmpty else { return }
        outBuffer.withUnsafeMutableBytes { raw in
            var next = 0
            while next < outRanges.count {
                let n = min(Self.batchMax, outRanges.count - next)
                for i in 0..<n {
                    let r = outRanges[next + i].range
                    batch[i] = isthmus_dgram()
                    batch[i].base = raw.baseAddress! + r.lowerBound
                    batch[i].length = UInt32(r.count)
                }
                // Connected socket: no address. Non-blocking, so a full socket buffer refuses the rest (-1: all).
                let sent = max(0, Int(isthmus_send_batch(socket, batch, UInt32(n))))
                for i in 0..<n {
                    if i < sent {
                        c.counters.add(.txPackets, 1); c.counters.add(.txBytes, outRanges[next + i].payload)
                    } else {
                        c.counters.drop(.ioError)
                    }
                }
                next += n
            }
        }
    }

    /// An L2TPv2 data message from the tunnel's socket: its PPP frame, HDLC encoded (every control character
    /// escaped, which every pppd accepts), joins the call's frames for pppd, which `flush` writes (or this, once they
    /// reach `flushThreshold` bytes). Unknown sessions and malformed headers are dropped and counted (returned false).
    @discardableResult
    public func deliver(tunnelID: UInt32, datagram: UnsafeRawBufferPointer) -> Bool {
        guard case .v2Data(let h, let payload)? = try? L2TPHeader.parse(datagram, transport: .udp), h.tunnelID == UInt16(truncatingIfNeeded: tunnelID),
              let c = calls[Key(tunnel: tunnelID, session: UInt32(h.sessionID))] else { return false }
        guard !payload.isEmpty else { c.counters.drop(.malformed); return true }
        guard c.toPPPD.count < Self.backlogLimit else { c.counters.drop(.ioError); return true }
        if c.toPPPD.isEmpty { unflushed.append(c) }
        HDLCEncoder().encode(UnsafeRawBufferPointer(rebasing: datagram[payload]), into: &c.toPPPD)
        c.toPPPDFrames.append((end: c.toPPPD.count, bytes: payload.count))
        if c.toPPPD.count >= Self.flushThreshold { writeOut(c) }
        return true
    }

    /// Writes every call's waiting frames to its pppd: the loop calls this after each drain of a tunnel socket.
    public func flush() {
        for c in unflushed { writeOut(c) }
        unflushed.removeAll(keepingCapacity: true)
    }

    /// Whether a call's stream has frames waiting for pppd (the loop then polls it for POLLOUT too).
    public func wantsWrite(_ fd: Int32) -> Bool {
        guard let key = byStream[fd], let c = calls[key] else { return false }
        return !c.toPPPD.isEmpty
    }

    /// pppd's end has room again: the frames still waiting go on.
    public func writable(_ fd: Int32) {
        guard let key = byStream[fd], let c = calls[key] else { return }
        writeOut(c)
    }

    /// Writes as much of the call's waiting frames as the pty takes; the rest waits for POLLOUT (a full pty is
    /// back-pressure, not loss: frames are never cut). Frames are counted as received once wholly written. A
    /// write error other than EAGAIN (pppd is gone) drops them all, as io_error.
    private func writeOut(_ c: Call) {
        guard !c.toPPPD.isEmpty else { return }
        let n = c.toPPPD.withUnsafeBytes { Glibc.write(c.socket, $0.baseAddress, $0.count) }
        if n < 0 {
            guard errno != EAGAIN && errno != EINTR else { return }
            c.counters.drop(.ioError, c.toPPPDFrames.count)
            c.dropWaiting()
            return
        }
        var done = 0, bytes = 0
        while done < c.toPPPDFrames.count && c.toPPPDFrames[done].end <= n { bytes += c.toPPPDFrames[done].bytes; done += 1 }
        c.counters.add(.rxPackets, done); c.counters.add(.rxBytes, bytes)
        if n == c.toPPPD.count {
            c.dropWaiting()
        } else {
            c.toPPPD.removeFirst(n)
            c.toPPPDFrames.removeFirst(done)
            for i in c.toPPPDFrames.indices { c.toPPPDFrames[i].end -= n }
        }
    }

    /// Ends a call's PPP: pppd gets SIGTERM (then SIGKILL if it lingers), our copy of the socket is closed (the kernel
    /// session goes when pppd's is too), the address and interface name are free again.
    public func removeSession(tunnelID: UInt32, sessionID: UInt32) {
        guard let c = calls.removeValue(forKey: Key(tunnel: tunnelID, session: sessionID)) else { return }
        kernel?.deleteSession(tunnelID: tunnelID, sessionID: sessionID)
        release(c)
        if kill(c.pid, SIGTERM) == 0 { stopping[c.pid] = (Self.now() + stopGrace, c.name) }
    }

    func release(_ c: Call) {
        // Frames still waiting for this pppd go with it (the fd is closed here and may be reused).
        c.dropWaiting(keepingCapacity: false)
        unflushed.removeAll { $0 === c }
        byStream[c.socket] = nil
        close(c.socket)
        if c.ptySlave >= 0 { close(c.ptySlave) }
        if let a = c.peerAddress { pool?.release(a) }
        if let a = c.reservedAddress { pool?.release(a) }
    }

    static func now() -> Double { L2TPDaemon.now() }

    /// Reaps pppds, SIGKILLs those that outstayed their SIGTERM, notices links coming up. Returns the calls whose
    /// pppd exited on its own (their sessions must be cleared), with why.
    public func poll(now: Double) -> [(tunnelID: UInt32, sessionID: UInt32, reason: String)] {
        for (pid, s) in stopping {
            var st: Int32 = 0
            let r = waitpid(pid, &st, WNOHANG)
            if r == pid || (r < 0 && errno == ECHILD) {
                stopping[pid] = nil
                // pppd had already failed on its own (e.g. authentication) when the call was cleared: say why.
                let (reason, code) = PPPDInvocation.waitReason(st, radius: config.auth == .radius)
                if r == pid, let code, code != 5, code != 0 {
                    log("session \(s.name): pppd \(pid) ended: \(reason)")
                }
            } else if now >= s.deadline {
                kill(pid, SIGKILL)
                stopping[pid] = (now + 3, s.name)
            }
        }
        var ended: [(UInt32, UInt32, String)] = []
        for (k, c) in calls {
            var st: Int32 = 0
            let r = waitpid(c.pid, &st, WNOHANG)
            guard r == c.pid || (r < 0 && errno == ECHILD) else { continue }
            let reason = r < 0 ? "pppd is gone" : PPPDInvocation.waitReason(st, radius: c.lnsMode && config.auth == .radius).reason
            calls[k] = nil
            release(c)
            log("session \(c.name): pppd \(c.pid) ended: \(reason)")
            ended.append((k.tunnel, k.session, reason))
        }
        changed = false
        if negotiating { noticeLinks() }
        return ended
    }

    /// Some call's link is not up yet (the loop polls faster).
    public var negotiating: Bool { calls.values.contains { $0.up == nil } }
    /// A link came up since the last look (the status changed).
    public internal(set) var changed = false

    /// Whether any pppd still runs (a stopping agent waits for them).
    public var running: Bool { !calls.isEmpty || !stopping.isEmpty }

    /// Every call's pppd gets SIGTERM.
    public func stopAll() {
        for k in Array(calls.keys) { removeSession(tunnelID: k.tunnel, sessionID: k.session) }
    }

    /// Addresses of the calls' interfaces once IPCP has put them there (getifaddrs: local and point-to-point peer).
    func noticeLinks() {
        var list: UnsafeMutablePointer<ifaddrs>?
        guard getifaddrs(&list) == 0 else { return }
        defer { freeifaddrs(list) }
        var found: [String: (String, String)] = [:]
        var p = list
        while let a = p {
            defer { p = a.pointee.ifa_next }
            guard let sa = a.pointee.ifa_addr, sa.pointee.sa_family == sa_family_t(AF_INET),
                  a.pointee.ifa_flags & UInt32(IFF_UP.rawValue) != 0 else { continue }
            let name = String(cString: a.pointee.ifa_name)
            let local = PeerAddress.from(UnsafeRawPointer(sa)).map { "\($0)" } ?? "?"
            // pppd sets the local address first and the peer's a moment later: up once both are there.
            guard a.pointee.ifa_flags & UInt32(IFF_POINTOPOINT.rawValue) != 0,
                  let peer = a.pointee.ifa_ifu.ifu_dstaddr.flatMap({ PeerAddress.from(UnsafeRawPointer($0)) }).map({ "\($0)" }),
                  peer != local, peer != "0.0.0.0" else { continue }
            found[name] = (local, peer)
        }
        for c in calls.values where c.up == nil {
            if let (l, r) = found[c.interface] {
                c.up = (l, r)
                changed = true
                log("session \(c.name): ppp \(c.interface) up, local \(l) peer \(r)")
                if let p = c.peerAddress, let got = IPv4(r), got != p { peerGotOtherAddress(c, got) }
            }
        }
    }

    /// The peer got another address than the pool's (RADIUS's Framed-IP-Address wins in pppd: its radius plugin
    /// sets the peer's address when IPCP starts, over the one on the command line): the pool's goes back, and an
    /// address in the pool's range is held until the call ends so that no other call is given it.
    func peerGotOtherAddress(_ c: Call, _ got: IPv4) {
        guard let p = c.peerAddress else { return }
        pool?.release(p)
        c.peerAddress = nil
        log("session \(c.name): the peer got \(got) (not the pool's \(p), which is free again)")
        if pool?.reserve(got) == true { c.reservedAddress = got } else if pool?.contains(got) == true {
            log("session \(c.name): warning: \(got) is in the pool and another call has it; keep RADIUS's Framed-IP-Addresses outside the pool")
        }
    }

    /// PREFIX + the lowest number that neither one of our calls nor an existing interface has.
    func freeInterfaceName() -> String {
        let ours = Set(calls.values.map(\.interface))
        var n = 0
        while true {
            let name = "\(config.interfacePrefix)\(n)"
            if !ours.contains(name) && if_nametoindex(name) == 0 { return name }
            n += 1
        }
    }

    public func call(tunnelID: UInt32, sessionID: UInt32) -> Call? { calls[Key(tunnel: tunnelID, session: sessionID)] }

    /// The call's status entries: its interface, pppd, addresses and the kernel's counters.
    /// A call's data counters: the userspace path's, or the kernel's PPPoL2TP socket's.
    public func counters(of c: Call) -> CounterSnapshot? { kernel == nil ? c.counters.snapshot : KernelPPPoL2TP.stats(c.socket) }

    public func status(tunnelID: UInt32, sessionID: UInt32) -> [String: Any]? {
        guard let c = call(tunnelID: tunnelID, sessionID: sessionID) else { return nil }
        var s: [String: Any] = ["interface": c.interface, "pppd_pid": Int(c.pid), "ppp": c.up == nil ? "negotiating" : "up",
                                "lns_mode": c.lnsMode]
        if let a = c.peerAddress { s["pool_address"] = "\(a)" }
        if let u = c.up { s["ppp_local"] = u.local; s["ppp_peer"] = u.peer }
        if let k = kernel == nil ? c.counters.snapshot : KernelPPPoL2TP.stats(c.socket) {
            s["rx_packets"] = Int(k.rxPackets); s["rx_bytes"] = Int(k.rxBytes)
            s["tx_packets"] = Int(k.txPackets); s["tx_bytes"] = Int(k.txBytes)
            s["drops"] = Dictionary(k.drops.map { ($0.key.name, Int($0.value)) }, uniquingKeysWith: +)
        }
        return s
    }
}
