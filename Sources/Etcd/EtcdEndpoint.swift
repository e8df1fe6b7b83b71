import GRPCCore
import GRPCNIOTransportHTTP2Posix

/// One etcd client URL: `http://HOST:PORT`, `https://HOST:PORT`, or `HOST:PORT` (http). HOST is an IPv4 address,
/// a bracketed IPv6 address or a DNS name; PORT defaults to 2379.
public struct EtcdEndpoint: Sendable, Equatable, CustomStringConvertible {
    public var secure: Bool
    public var host: String
    public var port: Int
    /// The endpoint as the configuration wrote it (used in every error message).
    public var description: String

    public init(_ text: String) throws {
        func bad(_ reason: String) -> EtcdError { .badEndpoint(text, reason: reason) }
        var rest = Substring(text)
        if rest.hasPrefix("http://") { secure = false; rest = rest.dropFirst(7) }
        else if rest.hasPrefix("https://") { secure = true; rest = rest.dropFirst(8) }
        else if rest.contains("://") { throw bad("the scheme must be http:// or https://") }
        else { secure = false }
        if rest.hasSuffix("/") { rest = rest.dropLast() }
        guard !rest.isEmpty else { throw bad("no host") }
        guard !rest.contains("/"), !rest.contains("@"), !rest.contains("?") else { throw bad("only scheme://HOST:PORT, no path or user") }
        var portText: Substring?
        if rest.hasPrefix("[") {
            guard let close = rest.firstIndex(of: "]") else { throw bad("an IPv6 address needs its closing ]") }
            host = String(rest[rest.index(after: rest.startIndex)..<close])
            let after = rest[rest.index(after: close)...]
            if !after.isEmpty {
                guard after.hasPrefix(":") else { throw bad("expected :PORT after the IPv6 address") }
                portText = after.dropFirst()
            }
            guard host.contains(":") else { throw bad("brackets are for IPv6 addresses") }
        } else {
            let parts = rest.split(separator: ":", omittingEmptySubsequences: false)
            guard parts.count <= 2 else { throw bad("an IPv6 address must be written in brackets, [ADDR]:PORT") }
            host = String(parts[0])
            if parts.count == 2 { portText = parts[1] }
        }
        guard !host.isEmpty else { throw bad("no host") }
        if let portText {
            guard let p = UInt16(portText), p > 0 else { throw bad("the port must be 1-65535, not \"\(portText)\"") }
            port = Int(p)
        } else {
            port = 2379
        }
        description = text
    }

    var isIPv4Literal: Bool {
        let parts = host.split(separator: ".", omittingEmptySubsequences: false)
        return parts.count == 4 && parts.allSatisfy { !$0.isEmpty && $0.count <= 3 && $0.allSatisfy(\.isASCII) && UInt8($0) != nil }
    }

    var target: any ResolvableTarget {
        if host.contains(":") { return ResolvableTargets.IPv6.ipv6(host: host, port: port) }
        if isIPv4Literal { return ResolvableTargets.IPv4.ipv4(host: host, port: port) }
        return ResolvableTargets.DNS.dns(host: host, port: port)
    }
}
