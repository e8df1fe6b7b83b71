/// A small deterministic generator (SplitMix64) so randomized tests reproduce from their seed.
public struct SeededRandom: RandomNumberGenerator, Sendable {
    public var state: UInt64
    public init(seed: UInt64) { state = seed }
    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// A number in 0..<n (0 when n <= 0).
    public mutating func below(_ n: Int) -> Int { n <= 0 ? 0 : Int(next() % UInt64(n)) }
    /// One element of a non-empty array.
    public mutating func pick<T>(_ a: [T]) -> T { a[below(a.count)] }
    /// `n` pseudo-random bytes.
    public mutating func bytes(_ n: Int) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: n)
        var i = 0
        while i < n {
            var w = next()
            for _ in 0..<min(8, n - i) { out[i] = UInt8(truncatingIfNeeded: w); w >>= 8; i += 1 }
        }
        return out
    }
}
