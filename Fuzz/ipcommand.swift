// libFuzzer target for IPCommand's keyword parser and `-batch` reader, down to the request encoders (NetlinkWire's
// AttributeWriter and message builders). Built by Tools/fuzz/run from Sources/IPCommand and this file, against
// the modules IPCommand imports compiled first (not through SwiftPM); TestSupport's FakeNetlink stands in for the
// kernel, so nothing reaches a real socket.
//
// Input: byte 0, the mode: bit 0 a `-batch` file (else a command line); bit 1 -j; bit 2 -d; bit 3 -force; bit 4 -s.
// The rest: a command line is its words separated by NUL bytes (argv's C strings), each decoded as
// CommandLine.arguments decodes argv (invalid UTF-8 repaired); a batch file is given to runBatch(bytes:) as is
// (lines, NULs, invalid UTF-8 and CRLF included).
//
// Left out, because they act on the host rather than over netlink: the `tuntap` object (TUNSETIFF on
// /dev/net/tun), `tunnel run` (starts a data plane) and `netns` values (open a file named by the input).
//
// Checked (trap via `require`): every command either runs or throws (never traps); every request the fake was
// sent re-parses as one netlink message with the same payload; a usage error on a command line never holds a word
// of more than 64 characters whole (long words are shown cut).

#if canImport(Glibc)
import Glibc
#endif
import CLinuxUAPI
import Netlink
import NetlinkWire
import TestSupport

/// The devices the fake kernel has: name and index.
let devices: [(String, Int32)] = [("lo", 1), ("eth0", 2), ("br0", 3), ("vx0", 4)]

func linkReply(_ name: String, _ index: Int32, flags: NetlinkFlags) throws -> NetlinkMessage {
    var w = AttributeWriter()
    w.string(IFLA_IFNAME, name)
    w.u32(IFLA_MTU, 1500)
    w.raw(IFLA_ADDRESS, [2, 0, 0, 0, 0, UInt8(index)])
    if name == "vx0" {
        w.nested(IFLA_LINKINFO) { li in
            li.string(IFLA_INFO_KIND, "vxlan")
            li.nested(IFLA_INFO_DATA) { d in d.u32(IFLA_VXLAN_ID, 100); d.be16(IFLA_VXLAN_PORT, 4789) }
        }
    }
    if name == "eth0" { w.u32(IFLA_MASTER, 3) }
    return try RTMessage.link(RTM_NEWLINK, flags: flags, header: IfInfoHeader(type: UInt16(ARPHRD_ETHER), index: index, flags: 1), attributes: w)
}

/// A fake NETLINK_ROUTE kernel: link lookups by name and link dumps answered from `devices`; ENODEV for other names.
func routeKernel() -> FakeNetlink {
    FakeNetlink { m in
        guard m.type == UInt16(RTM_GETLINK) else { return [] }
        let attrs = try Attribute.parse(m.payload.dropFirst(IfInfoHeader.size))
        if let name = attrs.first(IFLA_IFNAME)?.string {
            guard let d = devices.first(where: { $0.0 == name }) else { throw NetlinkError(operation: "RTM_GETLINK", errno: ENODEV) }
            return [try linkReply(d.0, d.1, flags: [])]
        }
        return try devices.map { try linkReply($0.0, $0.1, flags: .multi) }
    }
}

/// A fake NETLINK_GENERIC kernel with the l2tp family.
func genericKernel() -> FakeNetlink {
    FakeNetlink { m in
        if m.type == UInt16(GENL_ID_CTRL) {
            return [try GenericFamily(id: 32, name: "l2tp", version: 1, maxAttribute: 35).replyMessage()]
        }
        return []
    }
}

/// Whether a command line acts on the host other than through netlink (see the header).
func actsOnHost(_ words: [String]) -> Bool {
    guard let first = words.first, let object = IPCommandRunner.object(named: first) else { return false }
    if object.name == "tuntap" { return true }
    if object.name == "tunnel", words.count > 1, !words[1].isEmpty, "run".hasPrefix(words[1]) { return true }
    return words.contains("netns")
}

func check(_ fakes: [FakeNetlink]) {
    for f in fakes {
        for m in f.sent {
            let bytes = m.encoded()
            let parsed = try? NetlinkMessage.parse(bytes)
            require(parsed?.count == 1 && parsed?.first?.payload == m.payload, "a sent request does not re-parse")
        }
    }
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    guard size >= 1 else { return 0 }
    let mode = data[0]
    let body = Array(UnsafeBufferPointer(start: data + 1, count: size - 1))
    var o = Options()
    o.json = mode & 2 != 0
    o.details = mode & 4 != 0
    o.force = mode & 8 != 0
    o.statistics = mode & 16 != 0 ? (mode & 32 != 0 ? 2 : 1) : 0
    o.brief = mode & 64 != 0
    o.oneline = mode & 128 != 0
    let route = routeKernel(), generic = genericKernel()
    let session = Session(options: o) { proto, _ in proto == NETLINK_GENERIC ? generic : route }
    if mode & 1 != 0 {
        // Lines that act on the host are dropped whole (their line numbers shift; no matter here).
        let lines = body.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false)
        let kept = lines.filter { line in
            let words = (try? splitCommandLine(String(decoding: line, as: UTF8.self))) ?? []
            return !actsOnHost(words)
        }
        let text = Array(kept.joined(separator: [UInt8(ascii: "\n")]))
        _ = IPCommandRunner.runBatch(bytes: text, file: "fuzz", session: session) { _ in }
    } else {
        let words = body.split(separator: 0, omittingEmptySubsequences: false).map { String(decoding: $0, as: UTF8.self) }
        guard !actsOnHost(words) else { return 0 }
        do {
            try IPCommandRunner.run(words, session: session)
            try session.flush()
        } catch let e as UsageError {
            // (replacingAll, linear, as a search: String.contains is quadratic on a long run of one letter.)
            for w in words where w.unicodeScalars.count > 64 {
                require(replacingAll(w, with: "", in: e.message) == e.message, "an error message holds a \(w.utf8.count)-byte word whole")
            }
        } catch {}
    }
    check([route, generic])
    return 0
}

/// precondition, but with its message printed in -O builds too.
@inline(__always) func require(_ condition: Bool, _ message: @autoclosure () -> String) {
    if !condition { fatalError(message()) }
}
