import CLinuxUAPI
import NetlinkWire

/// A link's counters (`struct rtnl_link_stats64`, IFLA_STATS64; the 32-bit IFLA_STATS where a kernel sends only
/// that), printed as iproute2 6.1's print_stats64() does for `-s` (`-s -s` adds the error details).
struct LinkStatistics {
    /// The counters in the order of `struct rtnl_link_stats64`.
    enum Field: Int, CaseIterable {
        case rxPackets, txPackets, rxBytes, txBytes, rxErrors, txErrors, rxDropped, txDropped, multicast, collisions
        case rxLengthErrors, rxOverErrors, rxCRCErrors, rxFrameErrors, rxFIFOErrors, rxMissedErrors
        case txAbortedErrors, txCarrierErrors, txFIFOErrors, txHeartbeatErrors, txWindowErrors
        case rxCompressed, txCompressed, rxNoHandler, rxOtherhostDropped
    }

    private var values: [UInt64]
    /// "stats64", or "stats" for the 32-bit counters (ip's JSON key says which it read).
    let key: String
    let carrierChanges: UInt32?

    subscript(_ f: Field) -> UInt64 { f.rawValue < values.count ? values[f.rawValue] : 0 }

    /// The link's counters, or nil when it sent none.
    init?(_ link: LinkMessage) {
        if let s = link.attributes.first(IFLA_STATS64) {
            values = stride(from: 0, to: s.data.count - 7, by: 8).map { Bytes.load(UInt64.self, from: s.data.dropFirst($0)) ?? 0 }
            key = "stats64"
        } else if let s = link.attributes.first(IFLA_STATS) {
            values = stride(from: 0, to: s.data.count - 3, by: 4).map { UInt64(Bytes.load(UInt32.self, from: s.data.dropFirst($0)) ?? 0) }
            key = "stats"
        } else {
            return nil
        }
        carrierChanges = link.attributes.first(IFLA_CARRIER_CHANGES)?.u32
    }

    /// ip's JSON object ("rx" and "tx"), the error details from level 2 on.
    func json(level: Int) -> JSON {
        var rx = JSONObject(), tx = JSONObject()
        rx.set("bytes", self[.rxBytes]); rx.set("packets", self[.rxPackets]); rx.set("errors", self[.rxErrors])
        rx.set("dropped", self[.rxDropped]); rx.set("over_errors", self[.rxOverErrors]); rx.set("multicast", self[.multicast])
        if self[.rxCompressed] != 0 { rx.set("compressed", self[.rxCompressed]) }
        if level > 1 {
            rx.set("length_errors", self[.rxLengthErrors]); rx.set("crc_errors", self[.rxCRCErrors])
            rx.set("frame_errors", self[.rxFrameErrors]); rx.set("fifo_errors", self[.rxFIFOErrors])
            rx.set("missed_errors", self[.rxMissedErrors])
            if self[.rxNoHandler] != 0 { rx.set("nohandler", self[.rxNoHandler]) }
            if self[.rxOtherhostDropped] != 0 { rx.set("otherhost", self[.rxOtherhostDropped]) }
        }
        tx.set("bytes", self[.txBytes]); tx.set("packets", self[.txPackets]); tx.set("errors", self[.txErrors])
        tx.set("dropped", self[.txDropped]); tx.set("carrier_errors", self[.txCarrierErrors]); tx.set("collisions", self[.collisions])
        if self[.txCompressed] != 0 { tx.set("compressed", self[.txCompressed]) }
        if level > 1 {
            tx.set("aborted_errors", self[.txAbortedErrors]); tx.set("fifo_errors", self[.txFIFOErrors])
            tx.set("window_errors", self[.txWindowErrors]); tx.set("heartbeat_errors", self[.txHeartbeatErrors])
            if let c = carrierChanges { tx.set("carrier_changes", Int(c)) }
        }
        var o = JSONObject()
        o.set("rx", rx.json); o.set("tx", tx.json)
        return o.json
    }

    /// ip's text: column widths fitted to the widest number, each number right-aligned and followed by a space.
    func lines(level: Int, human: Bool) -> [String] {
        var cols = ["*X errors:", "packets", "errors", "dropped", "heartbt", "overrun", "compressed", "otherhost"].map { $0.utf8.count }
        func size(_ values: [UInt64]) {
            guard !human else { return }
            for (i, v) in values.enumerated() { cols[i] = max(cols[i], String(v).count) }
        }
        let s = self
        size([s[.rxBytes], s[.rxPackets], s[.rxErrors], s[.rxDropped], s[.rxMissedErrors], s[.multicast], s[.rxCompressed], 0])
        if level > 1 {
            size([0, s[.rxLengthErrors], s[.rxCRCErrors], s[.rxFrameErrors], s[.rxFIFOErrors], s[.rxOverErrors],
                  s[.rxNoHandler], s[.rxOtherhostDropped]])
        }
        size([s[.txBytes], s[.txPackets], s[.txErrors], s[.txDropped], s[.txCarrierErrors], s[.collisions], s[.txCompressed], 0])
        if level > 1 {
            size([0, 0, s[.txAbortedErrors], s[.txFIFOErrors], s[.txWindowErrors], s[.txHeartbeatErrors],
                  UInt64(carrierChanges ?? 0), 0])
        }
        func pad(_ text: String, _ width: Int) -> String { String(repeating: " ", count: max(0, width - text.count)) + text }
        func num(_ width: Int, _ v: UInt64) -> String { pad(Self.number(v, human: human), width) + " " }
        func header(_ words: [String], _ last: String) -> String {
            "    \(words[0]) " + pad(words[1], cols[0] - 4) + (2..<words.count).map { " " + pad(words[$0], cols[$0 - 1]) }.joined()
                + " " + pad(last, cols[6])
        }
        var out: [String] = []
        var rx = "    " + [s[.rxBytes], s[.rxPackets], s[.rxErrors], s[.rxDropped], s[.rxMissedErrors], s[.multicast]]
            .enumerated().map { num(cols[$0.offset], $0.element) }.joined()
        if s[.rxCompressed] != 0 { rx += num(cols[6], s[.rxCompressed]) }
        out.append(header(["RX:", "bytes", "packets", "errors", "dropped", "missed", "mcast"], s[.rxCompressed] != 0 ? "compressed" : ""))
        out.append(rx)
        if level > 1 {
            var h = "    RX errors:" + pad("", cols[0] - 10) + " " + pad("length", cols[1]) + " " + pad("crc", cols[2]) + " "
                + pad("frame", cols[3]) + " " + pad("fifo", cols[4]) + " " + pad("overrun", cols[5])
            if s[.rxNoHandler] != 0 { h += pad(" nohandler", cols[6] + 1) }
            if s[.rxOtherhostDropped] != 0 { h += pad(" otherhost", cols[7] + 1) }
            out.append(h)
            var v = String(repeating: " ", count: cols[0] + 5)
                + [s[.rxLengthErrors], s[.rxCRCErrors], s[.rxFrameErrors], s[.rxFIFOErrors], s[.rxOverErrors]]
                .enumerated().map { num(cols[$0.offset + 1], $0.element) }.joined()
            if s[.rxNoHandler] != 0 { v += num(cols[6], s[.rxNoHandler]) }
            if s[.rxOtherhostDropped] != 0 { v += num(cols[7], s[.rxOtherhostDropped]) }
            out.append(v)
        }
        var tx = "    " + [s[.txBytes], s[.txPackets], s[.txErrors], s[.txDropped], s[.txCarrierErrors], s[.collisions]]
            .enumerated().map { num(cols[$0.offset], $0.element) }.joined()
        if s[.txCompressed] != 0 { tx += num(cols[6], s[.txCompressed]) }
        out.append(header(["TX:", "bytes", "packets", "errors", "dropped", "carrier", "collsns"], s[.txCompressed] != 0 ? "compressed" : ""))
        out.append(tx)
        if level > 1 {
            out.append("    TX errors:" + pad("", cols[0] - 10) + " " + pad("aborted", cols[1]) + " " + pad("fifo", cols[2]) + " "
                       + pad("window", cols[3]) + " " + pad("heartbt", cols[4]) + " " + pad(carrierChanges != nil ? "transns" : "", cols[5]))
            var v = String(repeating: " ", count: cols[0] + 5)
                + [s[.txAbortedErrors], s[.txFIFOErrors], s[.txWindowErrors], s[.txHeartbeatErrors]]
                .enumerated().map { num(cols[$0.offset + 1], $0.element) }.joined()
            if let c = carrierChanges { v += num(cols[5], UInt64(c)) }
            out.append(v)
        }
        return out
    }

    /// print_num(): the number, or with -h (human-readable) a value below 1000 as it is and above in k, M, G ...
    /// with two significant decimals at most.
    static func number(_ v: UInt64, human: Bool) -> String {
        guard human, v >= 1000 else { return String(v) }
        let prefixes = Array("kMGTPE")
        var power: UInt64 = 1, index = 0
        while true {
            power *= 1000
            if v / 1000 < power || index == prefixes.count - 1 { break }
            index += 1
        }
        var precision = 2, p10: UInt64 = 1
        while precision > 0 {
            p10 *= 10
            if v / power < p10 { break }
            precision -= 1
        }
        let scaled = Double(v) / Double(power)
        return formatFixed(scaled, precision) + String(prefixes[index])
    }

    /// `%.Nf` without Foundation.
    static func formatFixed(_ x: Double, _ digits: Int) -> String {
        var scale = 1.0
        for _ in 0..<digits { scale *= 10 }
        let n = (x * scale).rounded()
        let whole = Int(n / scale)
        guard digits > 0 else { return String(whole) }
        let frac = Int(n) - whole * Int(scale)
        let f = String(frac)
        return "\(whole)." + String(repeating: "0", count: digits - f.count) + f
    }
}
