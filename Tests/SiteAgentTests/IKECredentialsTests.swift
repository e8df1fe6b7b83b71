import Foundation
@testable import SiteAgent
import Sites
import Testing

/// Certificate authentication: the agent reads this site's certificate and key and the segment's CA before it loads
/// anything; a file that is missing, not a regular file or not PEM of the right kind is named at its place in the
/// config (FILE:LINE:COL), every such problem at once, and nothing is loaded.
@Suite("IKE credentials: this site's certificate, key and CA read and checked")
struct IKECredentialsTests {
    static let cert = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"
    static let key = "-----BEGIN PRIVATE KEY-----\nMIGH\n-----END PRIVATE KEY-----\n"

    /// A segment whose files live in `dir`; returns east's IKE side.
    static func side(_ dir: String) throws -> IKESide {
        let text = ["[segment]", "name = \"lab\"", "tunnel = \"gretap\"", "encryption = \"ipsec\"", "ca = \"\(dir)/ca.pem\"",
                    "", "[sites.east]", "address = \"192.0.2.1\"", "lan = [\"eth1\"]",
                    "certificate = \"\(dir)/east.pem\"", "private_key = \"\(dir)/east.key\"",
                    "", "[sites.west]", "address = \"198.51.100.7\"", "lan = [\"eth1\"]",
                    "certificate = \"\(dir)/west.pem\"", "private_key = \"\(dir)/west.key\""].joined(separator: "\n") + "\n"
        let c = try SiteConfig.load(text: text, file: "seg.toml").get()
        let conn = try #require(try c.side(for: "east").ipsec)
        return IKESide(connection: conn, keyRecord: "\(dir)/record")
    }

    static func tempDir() throws -> String {
        let d = NSTemporaryDirectory() + "ike-credentials-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        try FileManager.default.createDirectory(atPath: d, withIntermediateDirectories: false)
        return d
    }

    @Test("good files: the bytes of this site's certificate and key and of the CA; the peer's files are never read")
    func good() throws {
        let d = try Self.tempDir()
        defer { try? FileManager.default.removeItem(atPath: d) }
        try Self.cert.write(toFile: "\(d)/ca.pem", atomically: false, encoding: .utf8)
        try Self.cert.write(toFile: "\(d)/east.pem", atomically: false, encoding: .utf8)
        try Self.key.write(toFile: "\(d)/east.key", atomically: false, encoding: .utf8)
        let c = try #require(try Self.side(d).readCredentials())
        #expect(c == IPsecConnection.Credentials(certificate: Array(Self.cert.utf8), privateKey: Array(Self.key.utf8), ca: Array(Self.cert.utf8)))
    }

    @Test("missing, not a regular file, wrong kind: each named at its key's value, all at once")
    func bad() throws {
        let d = try Self.tempDir()
        defer { try? FileManager.default.removeItem(atPath: d) }
        try FileManager.default.createDirectory(atPath: "\(d)/ca.pem", withIntermediateDirectories: false)
        try Self.key.write(toFile: "\(d)/east.pem", atomically: false, encoding: .utf8)
        // east.key missing.
        var message = ""
        let side = try Self.side(d)
        do { _ = try side.readCredentials() } catch { message = error.description }
        #expect(message.contains("seg.toml:5:6: `ca` \(d)/ca.pem: is not a regular file"), "\(message)")
        #expect(message.contains("seg.toml:10:15: `certificate` \(d)/east.pem holds a PEM PRIVATE KEY, not a CERTIFICATE"), "\(message)")
        #expect(message.contains("seg.toml:11:15: `private_key` \(d)/east.key: no such file"), "\(message)")
        #expect(message.contains("3 errors in seg.toml; nothing was changed"), "\(message)")
    }

    @Test("a device is refused without reading it")
    func device() throws {
        for path in ["/dev/zero", "/dev/null"] {
            guard case .failure(let problem) = IKESide.readFile(path, limit: 10) else { Issue.record("read \(path)"); continue }
            #expect(problem.why == "is not a regular file")
        }
    }
}
