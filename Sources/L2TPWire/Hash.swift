// MD5, SHA-1 and HMAC for L2TP, from swift-crypto (BoringSSL's digests on Linux): AVP hiding (RFC 2661 §4.3,
// RFC 3931 §5.3), v2 tunnel authentication (RFC 2661 §5.1.1) and the v3 Message Digest (RFC 3931 §5.4.1) —
// compatibility uses, not new security designs. This file is the only one that imports Crypto: the rest of the wire
// layer hashes bytes into bytes through these small types, and the RFC 1321/FIPS 180/RFC 2202 vectors test them
// (Tests/L2TPWireTests/HashTests.swift). Measurements and the decision: docs/ARCHITECTURE.md, "Cryptography".
import Crypto

/// A hash that can be fed in pieces (not Sendable: swift-crypto 3's hash states are not; each is used where it is made).
public protocol HashFunction {
    /// swift-crypto's implementation.
    associatedtype Implementation: Crypto.HashFunction
    /// A fresh state.
    init()
    /// Feeds bytes.
    mutating func update(_ bytes: some Sequence<UInt8>)
    /// The digest of everything fed so far (the state is consumed).
    consuming func finalize() -> [UInt8]
}

extension HashFunction {
    /// The digest of `bytes` in one call.
    public static func hash(_ bytes: some Sequence<UInt8>) -> [UInt8] {
        var h = Self()
        h.update(bytes)
        return h.finalize()
    }
}

/// Feeds a byte sequence to swift-crypto without a copy when it is contiguous (an array or a slice of one).
@inline(__always)
func feed(_ bytes: some Sequence<UInt8>, _ body: (UnsafeRawBufferPointer) -> Void) {
    if bytes.withContiguousStorageIfAvailable({ body(UnsafeRawBufferPointer($0)) }) == nil {
        Array(bytes).withUnsafeBytes(body)
    }
}

/// MD5, RFC 1321.
public struct MD5: HashFunction {
    public typealias Implementation = Insecure.MD5
    var state = Insecure.MD5()
    public init() {}
    public mutating func update(_ bytes: some Sequence<UInt8>) { feed(bytes) { state.update(bufferPointer: $0) } }
    public consuming func finalize() -> [UInt8] { Array(state.finalize()) }
}

/// SHA-1, FIPS 180-4 §6.1.
public struct SHA1: HashFunction {
    public typealias Implementation = Insecure.SHA1
    var state = Insecure.SHA1()
    public init() {}
    public mutating func update(_ bytes: some Sequence<UInt8>) { feed(bytes) { state.update(bufferPointer: $0) } }
    public consuming func finalize() -> [UInt8] { Array(state.finalize()) }
}

/// HMAC over MD5 or SHA-1, RFC 2104 (swift-crypto's `HMAC`).
public struct HMAC<H: HashFunction> {
    var state: Crypto.HMAC<H.Implementation>

    /// Starts a MAC under `key` (hashed first when longer than the block, zero-padded to it).
    public init(key: some Collection<UInt8>) {
        state = Crypto.HMAC(key: SymmetricKey(data: Array(key)))
    }

    /// Feeds message bytes.
    public mutating func update(_ bytes: some Sequence<UInt8>) { feed(bytes) { state.update(data: $0) } }

    /// The MAC of everything fed so far.
    public consuming func finalize() -> [UInt8] { Array(state.finalize()) }

    /// The MAC of `message` under `key` in one call.
    public static func mac(key: some Collection<UInt8>, _ message: some Sequence<UInt8>) -> [UInt8] {
        var h = HMAC(key: key)
        h.update(message)
        return h.finalize()
    }
}

/// Compares two byte strings in time that depends only on their lengths (for digests and responses).
public func constantTimeEqual(_ a: [UInt8], _ b: [UInt8]) -> Bool {
    guard a.count == b.count else { return false }
    var diff: UInt8 = 0
    for i in 0..<a.count { diff |= a[i] ^ b[i] }
    return diff == 0
}
