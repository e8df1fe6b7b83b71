import Glibc
import NetlinkWire
import TestSupport
import Testing

/// `IPAddress` parses and prints without libc, and must do it exactly as glibc's `inet_pton`/`inet_ntop` (what
/// iproute2 uses; its output is compared byte for byte): checked against them on edge cases and seeded random text.
@Suite("IPAddress matches inet_pton and inet_ntop")
struct AddressParityTests {
    static func pton(_ s: String) -> [UInt8]? {
        var b4 = [UInt8](repeating: 0, count: 4)
        if !s.contains(":"), inet_pton(AF_INET, s, &b4) == 1 { return b4 }
        var b6 = [UInt8](repeating: 0, count: 16)
        if inet_pton(AF_INET6, s, &b6) == 1 { return b6 }
        return nil
    }

    static func ntop(_ b: [UInt8]) -> String {
        var buf = [CChar](repeating: 0, count: 64)
        guard inet_ntop(b.count == 16 ? AF_INET6 : AF_INET, b, &buf, socklen_t(buf.count)) != nil else { return "?" }
        return String(decoding: buf.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    static let edges = [
        "0.0.0.0", "255.255.255.255", "1.2.3.4", "01.2.3.4", "1.2.3.04", "256.1.1.1", "1.2.3", "1.2.3.4.5", "1..2.3",
        " 1.2.3.4", "1.2.3.4 ", "+1.2.3.4", "0x1.2.3.4", "1.2.3.-4", "::", "::1", "1::", "::ffff:1.2.3.4",
        "::1.2.3.4", "::0.1.2.3", "::ffff:0:0", "::ffff:0.0.0.0", "0:0:0:0:0:ffff:102:304", "::fffe:1.2.3.4",
        "1:0:0:0:0:0:0:0", "1:0:0:1:0:0:0:1", "1:0:0:2:0:0:3:4", "fe80::1:0:0:2", "2001:DB8:0:0:1::1",
        "1:2:3:4:5:6:7:8", "1:2:3:4:5:6:7::", "::2:3:4:5:6:7:8", "1:2:3:4:5:6:7:8:9", "1::2::3", "12345::", ":1",
        "1:", ":::", "1:::2", "::1.2.3", "1.2.3.4::", "1:2:3:4:5:6:1.2.3.4", "1:2:3:4:5:6:7:1.2.3.4",
        "::ffff:1.2.3.4:5", "0000:0000:0000:0000:0000:ffff:255.255.255.255", "0:0:0:0:0:0:0:1", "", ":", ".",
        "g::1", "::g", "fe80::1%eth0", "1:2:3:4:5::6:7:8", "0:0:1:0:0:0:0:0", "a:0:0:b:0:0:0:c",
    ]

    @Test("edge cases parse and print as glibc does")
    func edges() {
        for s in Self.edges {
            #expect(IPAddress(s)?.bytes == Self.pton(s), "\(s)")
            if let b = Self.pton(s) { #expect(IPAddress(bytes: b)?.description == Self.ntop(b), "\(s)") }
        }
    }

    @Test("random addresses and text parse and print as glibc does")
    func random() {
        var rng = SeededRandom(seed: 16)
        let alphabet = Array("0123456789abcdefABCDEF:.:.::0".utf8)
        for _ in 0..<20_000 {
            // Bytes with many zero groups, so every `::` placement and the IPv4 forms come up.
            let n = rng.below(2) == 0 ? 4 : 16
            let b = (0..<n).map { _ in rng.below(3) == 0 ? UInt8(truncatingIfNeeded: rng.next() as UInt64) : 0 }
            let text = Self.ntop(b)
            #expect(IPAddress(bytes: b)?.description == text)
            #expect(IPAddress(text)?.bytes == b)
            // Text near the grammar: mostly invalid, some valid.
            let s = String(decoding: (0..<(1 + rng.below(20))).map { _ in rng.pick(alphabet) }, as: UTF8.self)
            #expect(IPAddress(s)?.bytes == Self.pton(s), "\(s)")
        }
    }
}
