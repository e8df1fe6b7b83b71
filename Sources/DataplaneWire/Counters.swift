import CLinuxUAPI

/// Per-session (or per-engine) counters in one allocation. Packet and byte counters have one writer each (the
/// receive or the transmit thread) and are updated without a locked instruction; drops may come from both threads
/// and use an atomic add. Readers (the status socket) may read at any time.
public final class Counters: @unchecked Sendable {
    public enum Slot: Int, CaseIterable, Sendable {
        case rxPackets, rxBytes, txPackets, txBytes
        /// L2TPv3: the peer sends sequence numbers, so (as the kernel does outside LNS mode) we send them too.
        case peerSequencing
    }
    static let dropBase = Slot.allCases.count
    static let slots = dropBase + DropReason.allCases.count
    let p: UnsafeMutablePointer<UInt64>

    public init() {
        p = .allocate(capacity: Self.slots)
        p.initialize(repeating: 0, count: Self.slots)
    }
    deinit { p.deallocate() }

    /// Single-writer add (the thread that owns this slot).
    public func add(_ slot: Slot, _ value: Int) { isthmus_counter_add(p + slot.rawValue, UInt64(value)) }
    public func set(_ slot: Slot, _ value: UInt64) { isthmus_counter_store(p + slot.rawValue, value) }
    public func get(_ slot: Slot) -> UInt64 { isthmus_counter_load(p + slot.rawValue) }

    /// Counts a drop (any thread).
    public func drop(_ reason: DropReason, _ count: Int = 1) {
        isthmus_counter_atomic_add(p + (Counters.dropBase + reason.rawValue), UInt64(count))
    }
    public func drops(_ reason: DropReason) -> UInt64 { isthmus_counter_load(p + (Counters.dropBase + reason.rawValue)) }

    public var snapshot: CounterSnapshot {
        var d: [DropReason: UInt64] = [:]
        for r in DropReason.allCases { d[r] = drops(r) }
        return CounterSnapshot(rxPackets: get(.rxPackets), rxBytes: get(.rxBytes), txPackets: get(.txPackets),
                               txBytes: get(.txBytes), drops: d)
    }
}

/// A copy of the counters at one moment.
public struct CounterSnapshot: Equatable, Sendable {
    public var rxPackets: UInt64
    public var rxBytes: UInt64
    public var txPackets: UInt64
    public var txBytes: UInt64
    public var drops: [DropReason: UInt64]
    public init(rxPackets: UInt64 = 0, rxBytes: UInt64 = 0, txPackets: UInt64 = 0, txBytes: UInt64 = 0, drops: [DropReason: UInt64] = [:]) {
        self.rxPackets = rxPackets; self.rxBytes = rxBytes; self.txPackets = txPackets; self.txBytes = txBytes; self.drops = drops
    }
    public var totalDrops: UInt64 { drops.values.reduce(0, +) }
}

/// Source MAC → peer, learned on receive (one writer) and read on transmit: 4,096 slots of one 64-bit word each
/// (48-bit MAC, 16-bit peer index + 1), so a reader never sees half an entry. A colliding MAC overwrites.
public final class MACTable: @unchecked Sendable {
    static let size = 4096
    let slots: UnsafeMutablePointer<UInt64>
    public init() { slots = .allocate(capacity: Self.size); slots.initialize(repeating: 0, count: Self.size) }
    deinit { slots.deallocate() }

    static func mac(_ p: UnsafeRawPointer) -> UInt64 {
        UInt64(UInt16(bigEndian: p.loadUnaligned(as: UInt16.self))) << 32 | UInt64(UInt32(bigEndian: p.loadUnaligned(fromByteOffset: 2, as: UInt32.self)))
    }
    static func index(_ mac: UInt64) -> Int { Int(truncatingIfNeeded: (mac &* 0x9E37_79B9_7F4A_7C15) >> 52) }

    /// Records that the MAC at `p` (6 bytes) is behind peer `peer`.
    public func learn(_ p: UnsafeRawPointer, peer: Int) {
        let m = Self.mac(p)
        guard m & 0x0100_0000_0000 == 0 else { return }   // never learn a group address
        let v = m << 16 | UInt64(peer + 1)
        let slot = slots + Self.index(m)
        if isthmus_counter_load(slot) != v { isthmus_counter_store(slot, v) }
    }

    /// The peer a unicast MAC at `p` was learned behind, or nil (flood).
    public func lookup(_ p: UnsafeRawPointer) -> Int? {
        let m = Self.mac(p)
        let v = isthmus_counter_load(slots + Self.index(m))
        guard v != 0, v >> 16 == m else { return nil }
        return Int(v & 0xffff) - 1
    }
}
