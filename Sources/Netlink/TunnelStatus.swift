#if canImport(Glibc)
import Glibc
#endif
import CLinuxUAPI

/// Where running engines answer status queries: a Unix socket per tunnel, /run/isthmus/tunnels/NETNS-NAME.sock,
/// NETNS being the inode of the network namespace the tunnel runs in (so `isthmus -n NS tunnel show` finds the
/// tunnels of NS). Connecting is the query; the engine writes a report and closes.
///
/// Report format, one fact per line, words separated by one space:
///     tunnel NAME
///     kind KIND
///     pid PID
///     transport udp|ip
///     local ADDR            (absent: wildcard)
///     port PORT             (UDP: the bound local port)
///     detail KEY VALUE      (as the user gave it: id, dstport, cookie, ...)
///     args WORDS            (the configuring words from `type KIND` on; absent when not started by `tunnel run`)
///     session NAME ethernet|ip MTU
///     peer NAME ADDR
///     counter NAME|- KEY VALUE   (rx_packets rx_bytes tx_packets tx_bytes, drop_<reason>; "-": the engine's own)
public enum TunnelStatus {
    public static let directory = "/run/isthmus/tunnels"

    /// Inode of the calling thread's network namespace.
    public static func currentNamespace() -> UInt64 {
        var st = stat()
        guard stat("/proc/thread-self/ns/net", &st) == 0 else { return 0 }
        return UInt64(st.st_ino)
    }

    public static func socketPath(name: String, namespace: UInt64) -> String { "\(directory)/\(namespace)-\(name).sock" }

    /// Reports of every tunnel running in the calling thread's namespace, by name. Sockets nobody answers on
    /// (a process that died) are removed.
    public static func queryAll(namespace: UInt64 = currentNamespace()) -> [(name: String, report: String)] {
        guard let dir = opendir(directory) else { return [] }
        defer { closedir(dir) }
        var out: [(String, String)] = []
        let prefix = "\(namespace)-"
        while let ent = readdir(dir) {
            let file = withUnsafeBytes(of: ent.pointee.d_name) { String(cString: $0.bindMemory(to: CChar.self).baseAddress!) }
            guard file.hasPrefix(prefix), file.hasSuffix(".sock") else { continue }
            let name = String(file.dropFirst(prefix.count).dropLast(5))
            let path = "\(directory)/\(file)"
            switch query(path: path) {
            case .success(let r): out.append((name, r))
            case .failure(let e) where e.errno == ECONNREFUSED: unlink(path)
            case .failure: continue
            }
        }
        return out.sorted { $0.0 < $1.0 }
    }

    public static func query(path: String) -> Result<String, SystemError> {
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { return .failure(SystemError("socket(AF_UNIX)")) }
        defer { close(fd) }
        var tv = timeval(tv_sec: 2, tv_usec: 0)
        _ = setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        var addr = unixAddress(path)
        let rc = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
            connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) } }
        guard rc == 0 else { return .failure(SystemError("connect \(path)")) }
        var data: [UInt8] = []
        var buf = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = read(fd, &buf, buf.count)
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { break }
            data.append(contentsOf: buf[0..<n])
        }
        return .success(String(decoding: data, as: UTF8.self))
    }

    public static func unixAddress(_ path: String) -> sockaddr_un {
        var a = sockaddr_un()
        a.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &a.sun_path) { p in
            for (i, b) in path.utf8.prefix(p.count - 1).enumerated() { p[i] = b }
        }
        return a
    }
}

