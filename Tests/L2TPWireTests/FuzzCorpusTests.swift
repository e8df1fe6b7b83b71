import Foundation
import L2TPWire
import Testing

/// The seeds of the `l2tp` fuzz target (Fuzz/l2tp.swift) are this suite's goldens and the messages of the tshark
/// test, each behind the harness's mode byte (bit 0 over IP, bit 1 with the secret "isthmus", bit 2 with
/// authentication). This test keeps Fuzz/corpus/l2tp in step with them; to rewrite the corpus after changing a
/// golden, run it with ISTHMUS_WRITE_L2TP_SEEDS=1.
@Suite("l2tp fuzz corpus")
struct FuzzCorpusTests {
    static let directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("../../Fuzz/corpus/l2tp").standardizedFileURL

    /// (file name, mode byte, datagram).
    static func seeds() throws -> [(String, UInt8, [UInt8])] {
        var seeds: [(String, UInt8, [UInt8])] = [
            ("golden-v2-sccrq", 0, Golden.v2SCCRQ), ("golden-v3-sccrq", 0, Golden.v3SCCRQ),
            ("golden-v3-sccrq-ip", 1, Golden.v3SCCRQOverIP), ("golden-v2-stopccn", 0, Golden.v2StopCCN),
            ("golden-v2-zlb", 0, Golden.v2ZLB), ("golden-v3-cdn", 0, Golden.v3CDN),
            ("golden-v2-icrq-hidden", 2, HidingTests.v2ICRQ), ("golden-v3-hello-md5", 4, DigestTests.helloMD5),
            ("golden-v3-hello-sha1", 4, DigestTests.helloSHA1), ("golden-v2-data", 0, HeaderTests.v2DataAllFlags),
            ("golden-v3-data-ip", 1, HeaderTests.v3DataIP),
        ]
        // Every message type, re-encoded with the harness's secret; v3 over UDP signed as DigestTests' sender,
        // which the harness verifies as the receiver.
        let secret = Array("isthmus".utf8)
        for (i, f) in TsharkInteropTests.v2Frames().enumerated() {
            seeds.append((String(format: "v2-%02d", i), 2, try f.message.encode(transport: .udp, secret: secret)))
        }
        for (i, f) in TsharkInteropTests.v3Frames().enumerated() {
            let bytes = try f.message.encode(transport: .udp, secret: secret, authentication: DigestTests.sender)
            seeds.append((String(format: "v3-%02d", i), 6, bytes))
        }
        for (i, f) in TsharkInteropTests.v3IPFrames().enumerated() {
            seeds.append((String(format: "v3-ip-%02d", i), 3, try f.message.encode(transport: .ip, secret: secret, authentication: f.auth)))
        }
        return seeds
    }

    @Test("Fuzz/corpus/l2tp holds every seed, byte for byte, and each parses in its mode")
    func corpus() throws {
        let write = ProcessInfo.processInfo.environment["ISTHMUS_WRITE_L2TP_SEEDS"] != nil
        if write { try FileManager.default.createDirectory(at: Self.directory, withIntermediateDirectories: true) }
        for (name, mode, datagram) in try Self.seeds() {
            let url = Self.directory.appendingPathComponent(name)
            if write { try Data([mode] + datagram).write(to: url) }
            let stored = (try? Data(contentsOf: url)).map { [UInt8]($0) }
            #expect(stored == [mode] + datagram, "\(name): stale or missing; rerun with ISTHMUS_WRITE_L2TP_SEEDS=1")
            // Data messages are seeds for the header parser only.
            if name.hasSuffix("-data") || name.hasSuffix("-data-ip") { continue }
            let transport: L2TPTransport = mode & 1 != 0 ? .ip : .udp
            let auth = mode & 4 != 0 ? DigestTests.receiver : nil
            #expect(throws: Never.self, "\(name)") {
                try ControlMessage.parse(datagram, transport: transport, secret: mode & 2 != 0 ? Array("isthmus".utf8) : nil,
                                         authentication: auth)
            }
        }
    }
}
