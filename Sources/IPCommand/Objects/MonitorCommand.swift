import CLinuxUAPI
import Netlink
import NetlinkWire
#if canImport(Glibc)
import Glibc
#endif

/// `monitor` (ip-monitor(8)): joins the rtnetlink multicast groups and prints each link, address, route, neighbour
/// and rule change the kernel announces, as iproute2 6.1's ip monitor does, until SIGINT/SIGTERM end the process.
///
/// Each event goes through the printer `link`/`address`/`route`/`neighbour`/`rule show` use, with ip monitor's
/// filters: addresses as `ip -o address` begins them ("3: eth0    inet ..."), links without "qlen", routes of every
/// table, cloned routes skipped. Like ip, it keeps the link table it starts with up to date from the events, so
/// names and M-DOWN are the ones the events themselves establish. Every event is written at once (a pipe reads
/// each as it happens). With -j each event is one JSON object on its own line.
public enum MonitorCommand {
    /// What may follow `monitor` (for completion).
    static let objects = ["all", "link", "address", "route", "neigh", "rule", "label"]

    /// The events asked for, and whether each is prefixed with its object ("[LINK]").
    struct Selection: Equatable {
        var link = false, address = false, route = false, neigh = false, rule = false
        var banner = false
        var any: Bool { link || address || route || neigh || rule }
    }

    /// do_ipmonitor()'s words: objects matched as abbreviations in ip's order, `all` and `label` for the banners.
    static func parse(_ args: inout Arguments) throws -> Selection {
        var s = Selection()
        let chain: [Keyword] = [
            .abbrev("file"), .abbrev("label"), .abbrev("link"), .abbrev("address"), .abbrev("route"), .abbrev("mroute"),
            .abbrev("prefix"), .abbrev("neigh"), .abbrev("netconf"), .abbrev("rule"), .abbrev("nsid"), .abbrev("nexthop"),
            .exact("stats"), .exact("all"), .abbrev("all-nsid"), .abbrev("help"), .exact("dev"),
        ]
        while let word = args.next() {
            switch chain.resolve(word) {
            case "label", "all": s.banner = true
            case "link": s.link = true
            case "address": s.address = true
            case "route": s.route = true
            case "neigh": s.neigh = true
            case "rule": s.rule = true
            case "help": throw HelpRequested(Usage.monitor)
            case let k?:
                throw UsageError("monitor \"\(k)\" is not supported by isthmus; valid: \(objects.joined(separator: ", "))")
            case nil:
                throw UsageError("monitor: argument \"\(word)\" is unknown; valid: \(objects.joined(separator: ", "))")
            }
        }
        // No object named: everything isthmus prints.
        if !s.any { s.link = true; s.address = true; s.route = true; s.neigh = true; s.rule = true }
        return s
    }

    /// The RTNLGRP_* groups for a selection, limited to a family as ip does for -4/-6.
    static func groups(_ s: Selection, family: UInt8) -> [UInt32] {
        let v4 = family == 0 || family == Inet.inet, v6 = family == 0 || family == Inet.inet6
        var g: [rtnetlink_groups] = []
        if s.link { g.append(RTNLGRP_LINK) }
        if s.address { if v4 { g.append(RTNLGRP_IPV4_IFADDR) }; if v6 { g.append(RTNLGRP_IPV6_IFADDR) } }
        if s.route {
            if v4 { g.append(RTNLGRP_IPV4_ROUTE) }; if v6 { g.append(RTNLGRP_IPV6_ROUTE) }
            if family == 0 || family == UInt8(AF_MPLS) { g.append(RTNLGRP_MPLS_ROUTE) }
        }
        if s.neigh { g.append(RTNLGRP_NEIGH) }
        if s.rule { if v4 { g.append(RTNLGRP_IPV4_RULE) }; if v6 { g.append(RTNLGRP_IPV6_RULE) } }
        return g.map { $0.rawValue }
    }

    public static func run(_ args: inout Arguments, _ session: Session) throws {
        let selection = try parse(&args)
        let socket = try NetlinkSocket(protocol: NETLINK_ROUTE, netns: session.options.netns)
        for g in groups(selection, family: session.options.family) { try socket.join(group: g) }
        var printer = Printer(session: session, banner: selection.banner, links: try RTDump.links(session))
        while true {
            let messages: [NetlinkMessage]
            do { messages = try socket.receive() } catch let e as SystemError where e.errno == ENOBUFS {
                // The kernel dropped events while we were slow; say so and go on, as ip does.
                StandardStreams.write("isthmus: monitor: events were lost (socket buffer overrun)\n", to: 2)
                continue
            }
            for m in messages {
                guard let event = printer.render(m) else { continue }
                StandardStreams.write(event, to: 1)
            }
        }
    }

    /// Turns notifications into ip monitor's output, keeping the link table current.
    struct Printer {
        let session: Session
        let banner: Bool
        var links: [Int32: LinkMessage] = [:]

        init(session: Session, banner: Bool, links: [LinkMessage]) {
            self.session = session
            self.banner = banner
            for l in links { self.links[l.header.index] = l }
        }

        var names: [Int32: String] { links.compactMapValues(\.name) }

        /// The output for one message (text lines or one JSON line, each ending in a newline), nil when ip prints
        /// nothing for it. Undecodable messages are dropped.
        mutating func render(_ m: NetlinkMessage) -> String? {
            let type = Int(m.type)
            let deleted = type == RTM_DELLINK || type == RTM_DELADDR || type == RTM_DELROUTE || type == RTM_DELNEIGH || type == RTM_DELRULE
            let family = session.options.family
            var label = ""
            var lines: [String] = []
            var json = JSONObject()
            switch type {
            case RTM_NEWLINK, RTM_DELLINK:
                guard let l = try? LinkMessage(m) else { return nil }
                // ll_remember_index() before printing, as ip.
                if type == RTM_DELLINK {
                    links[l.header.index] = nil
                    if let n = l.name { session.forget(name: n) }
                } else {
                    links[l.header.index] = l
                    if let n = l.name { session.learn(name: n, index: l.header.index) }
                }
                LinkSummary.describe(l, names: names, links: Array(links.values), family: 0, details: false,
                                     queueLength: false, text: &lines, json: &json)
                label = "[LINK]"
            case RTM_NEWADDR, RTM_DELADDR:
                guard let a = try? AddressMessage(m) else { return nil }
                if family != 0 && a.header.family != family { return nil }
                let index = Int32(bitPattern: a.header.index)
                var (text, j) = AddressCommand.describe(a)
                let dev = RTDump.name(index, names, session)
                text[0] = "\(index): \(dev)" + text[0]
                lines = text
                json = JSONObject([("index", JSON(index)), ("dev", .string(dev))] + j.fields)
                label = "[ADDR]"
            case RTM_NEWROUTE, RTM_DELROUTE:
                guard let r = try? RouteMessage(m), r.header.flags & UInt32(RTM_F_CLONED) == 0 else { return nil }
                if family != 0 && r.header.family != family { return nil }
                var f = RouteCommand.Filter()
                f.table = 0
                let d = RouteCommand.describe(r, names: names, filter: f, session: session)
                lines = d.text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
                json = d.json
                label = "[ROUTE]"
            case RTM_NEWNEIGH, RTM_DELNEIGH:
                guard let n = try? NeighbourMessage(m) else { return nil }
                if family != 0 && n.header.family != family { return nil }
                let d = NeighbourCommand.describe(n, names: names, types: links.mapValues(\.header.type), filterIndex: nil, session: session)
                lines = [d.0]
                json = d.1
                label = "[NEIGH]"
            case RTM_NEWRULE, RTM_DELRULE:
                guard let r = try? RuleMessage(m) else { return nil }
                if family != 0 && r.header.family != family { return nil }
                let d = RuleCommand.describe(r, deleted: false, details: session.options.details)
                lines = [d.0]
                json = d.1
                label = "[RULE]"
            default:
                return nil
            }
            guard !lines.isEmpty else { return nil }
            if session.options.json {
                let fields = deleted ? [("deleted", JSON.bool(true))] + json.fields : json.fields
                return JSON.object(fields).serialized() + "\n"
            }
            lines[0] = (banner ? label : "") + (deleted ? "Deleted " : "") + lines[0]
            return Self.timestamp(session.options.timestamp) + lines.map { $0 + "\n" }.joined()
        }

        /// ip's print_timestamp(): local time, "Timestamp: Mon Dec  7 07:45:48 2026 123456 usec\n" (-t) or
        /// "[2026-12-07T07:45:48.123456] " (-ts); "" without either.
        static func timestamp(_ mode: Int, now: timeval? = nil) -> String {
            guard mode > 0 else { return "" }
            var tv = now ?? timeval()
            if now == nil { gettimeofday(&tv, nil) }
            var t = tv.tv_sec
            var tm = Glibc.tm()
            localtime_r(&t, &tm)
            var buffer = [CChar](repeating: 0, count: 64)
            let usec = String(tv.tv_usec)
            if mode >= 2 {
                let n = strftime(&buffer, buffer.count, "%Y-%m-%dT%H:%M:%S", &tm)
                let date = String(decoding: buffer.prefix(n).map { UInt8(bitPattern: $0) }, as: UTF8.self)
                return "[\(date).\(String(repeating: "0", count: max(0, 6 - usec.count)))\(usec)] "
            }
            // asctime()'s layout, without its newline.
            let n = strftime(&buffer, buffer.count, "%a %b %e %H:%M:%S %Y", &tm)
            return "Timestamp: " + String(decoding: buffer.prefix(n).map { UInt8(bitPattern: $0) }, as: UTF8.self) + " \(usec) usec\n"
        }
    }
}

/// Unbuffered writes to the standard streams, for output that must leave the process as it is produced.
enum StandardStreams {
    static func write(_ s: String, to fd: Int32) {
        let bytes = Array(s.utf8)
        var off = 0
        while off < bytes.count {
            let n = bytes[off...].withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
            if n < 0 {
                if errno == EINTR { continue }
                // The reader is gone (EPIPE): stop like ip does when its output closes.
                exit(errno == EPIPE ? 0 : 1)
            }
            off += n
        }
    }
}
