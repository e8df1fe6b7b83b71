import L2TPWire
import Testing

@Suite("MD5, SHA-1, HMAC")
struct HashTests {
    /// RFC 1321 §A.5, the test suite.
    @Test("MD5: the RFC 1321 test suite", arguments: [
        ("", "d41d8cd98f00b204e9800998ecf8427e"),
        ("a", "0cc175b9c0f1b6a831c399e269772661"),
        ("abc", "900150983cd24fb0d6963f7d28e17f72"),
        ("message digest", "f96b697d7cb7938d525a2f31aaf161d0"),
        ("abcdefghijklmnopqrstuvwxyz", "c3fcd3d76192e4007dfb496cca67e13b"),
        ("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789", "d174ab98d277d9f5a5611c2c9f419d9f"),
        ("12345678901234567890123456789012345678901234567890123456789012345678901234567890",
         "57edf4a22be3c955ac49da2e2107b67a"),
    ])
    func md5(_ input: String, _ digest: String) {
        #expect(hex(MD5.hash(Array(input.utf8))) == digest)
    }

    /// FIPS 180-2 Appendix A: "abc", the 448-bit two-block message, and one million 'a'.
    @Test("SHA-1: the FIPS 180 examples")
    func sha1() {
        #expect(hex(SHA1.hash(Array("abc".utf8))) == "a9993e364706816aba3e25717850c26c9cd0d89d")
        #expect(hex(SHA1.hash(Array("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq".utf8)))
                == "84983e441c3bd26ebaae4aa1f95129e5e54670f1")
        #expect(hex(SHA1.hash([UInt8](repeating: 0x61, count: 1_000_000)))
                == "34aa973cd4c4daa4f61eeb2bdbad27316534016f")
        #expect(hex(SHA1.hash([])) == "da39a3ee5e6b4b0d3255bfef95601890afd80709")
    }

    @Test("feeding in pieces gives the one-shot digest at every split, across the 55/56/64-byte padding edges")
    func incremental() {
        let data = (0..<130).map { UInt8(truncatingIfNeeded: $0 &* 7 &+ 3) }
        for n in [0, 1, 55, 56, 57, 63, 64, 65, 119, 120, 128, 130] {
            let whole = Array(data.prefix(n))
            for split in Set([0, n / 3, n / 2, n]) {
                var m = MD5(); m.update(whole[..<split]); m.update(whole[split...])
                #expect(m.finalize() == MD5.hash(whole), "md5 n=\(n) split=\(split)")
                var s = SHA1(); s.update(whole[..<split]); s.update(whole[split...])
                #expect(s.finalize() == SHA1.hash(whole), "sha1 n=\(n) split=\(split)")
            }
        }
    }

    static let rfc2202Data: [[UInt8]] = [
        Array("Hi There".utf8), Array("what do ya want for nothing?".utf8), [UInt8](repeating: 0xdd, count: 50),
        [UInt8](repeating: 0xcd, count: 50), Array("Test With Truncation".utf8),
        Array("Test Using Larger Than Block-Size Key - Hash Key First".utf8),
        Array("Test Using Larger Than Block-Size Key and Larger Than One Block-Size Data".utf8),
    ]

    /// RFC 2202 §2, test cases 1–7.
    @Test("HMAC-MD5: RFC 2202 test cases")
    func hmacMD5() {
        let keys: [[UInt8]] = [
            [UInt8](repeating: 0x0b, count: 16), Array("Jefe".utf8), [UInt8](repeating: 0xaa, count: 16),
            Array(1...25), [UInt8](repeating: 0x0c, count: 16), [UInt8](repeating: 0xaa, count: 80),
            [UInt8](repeating: 0xaa, count: 80),
        ]
        let digests = [
            "9294727a3638bb1c13f48ef8158bfc9d", "750c783e6ab0b503eaa86e310a5db738", "56be34521d144c88dbb8c733f0e8b3f6",
            "697eaf0aca3a3aea3a75164746ffaa79", "56461ef2342edc00f9bab995690efd4c", "6b1ab7fe4bd7bf8f0b62e6ce61b9d0cd",
            "6f630fad67cda0ee1fb1f562db3aa53e",
        ]
        for i in 0..<7 {
            #expect(hex(HMAC<MD5>.mac(key: keys[i], Self.rfc2202Data[i])) == digests[i], "case \(i + 1)")
        }
    }

    /// RFC 2202 §3, test cases 1–7.
    @Test("HMAC-SHA-1: RFC 2202 test cases")
    func hmacSHA1() {
        let keys: [[UInt8]] = [
            [UInt8](repeating: 0x0b, count: 20), Array("Jefe".utf8), [UInt8](repeating: 0xaa, count: 20),
            Array(1...25), [UInt8](repeating: 0x0c, count: 20), [UInt8](repeating: 0xaa, count: 80),
            [UInt8](repeating: 0xaa, count: 80),
        ]
        let digests = [
            "b617318655057264e28bc0b6fb378c8ef146be00", "effcdf6ae5eb2fa2d27416d5f184df9c259a7c79",
            "125d7342b9ac11cd91a39af48aa17b4f63f175d3", "4c9007f4026250c6bc8414f9bf50c86c2d7235da",
            "4c1a03424b55e07fe7f27be1d58bb9324a9a5a04", "aa4ae5e15272d00e95705637ce8a3b55ed402112",
            "e8e99d0f45237d786d6bbaa7965c7808bbff1a91",
        ]
        for i in 0..<7 {
            #expect(hex(HMAC<SHA1>.mac(key: keys[i], Self.rfc2202Data[i])) == digests[i], "case \(i + 1)")
        }
    }

    @Test("constant-time comparison: equal, one bit off, different lengths")
    func compare() {
        #expect(constantTimeEqual([1, 2, 3], [1, 2, 3]))
        #expect(!constantTimeEqual([1, 2, 3], [1, 2, 2]))
        #expect(!constantTimeEqual([1, 2, 3], [1, 2]))
        #expect(constantTimeEqual([], []))
    }
}
