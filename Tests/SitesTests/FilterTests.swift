import Sites
import Testing

private func filters(dhcp: FilterAction = .block, ra: FilterAction = .block) -> SegmentFilters {
    var f = SegmentFilters()
    f.dhcp = dhcp
    f.routerAdvertisements = ra
    return f
}

private func ethernet(dhcp: FilterAction = .block, ra: FilterAction = .block, mss: (Int, Int)? = (1410, 1390)) -> FilterRuleset {
    FilterRuleset(segment: "lab", bridge: "br-lab", tunnel: "l2tp-lab", filters: filters(dhcp: dhcp, ra: ra),
                  mssIPv4: mss?.0, mssIPv6: mss?.1)
}

/// The hooks of every Ethernet table: all three jump to `tunnel` for frames through the tunnel port.
private let bridgeChains = """
    \tchain forward {
    \t\ttype filter hook forward priority filter; policy accept;
    \t\tiifname "l2tp-lab" jump tunnel
    \t\toifname "l2tp-lab" jump tunnel
    \t}
    \tchain input {
    \t\ttype filter hook input priority filter; policy accept;
    \t\tiifname "l2tp-lab" jump tunnel
    \t}
    \tchain output {
    \t\ttype filter hook output priority filter; policy accept;
    \t\toifname "l2tp-lab" jump tunnel
    \t}

    """

private let dhcpRules = """
    \t\tmeta protocol ip udp dport { 67, 68 } counter name "dhcp_blocked" drop
    \t\tmeta protocol ip6 udp dport { 546, 547 } counter name "dhcp_blocked" drop

    """
private let raRule = """
    \t\tmeta protocol ip6 icmpv6 type { nd-router-solicit, nd-router-advert } counter name "ra_blocked" drop

    """
private let mssRules = """
    \t\tmeta protocol ip tcp flags & (syn | rst) == syn tcp option maxseg size > 1410 counter name "mss_clamped" tcp option maxseg size set 1410
    \t\tmeta protocol ip6 tcp flags & (syn | rst) == syn tcp option maxseg size > 1390 counter name "mss_clamped" tcp option maxseg size set 1390

    """

private func counters(_ names: String...) -> String { names.map { "\tcounter \($0) {\n\t}\n" }.joined() }

private func bridgeTable(hash: String, counters: String, rules: String) -> String {
    """
    add table bridge isthmus-lab
    delete table bridge isthmus-lab
    table bridge isthmus-lab {
    \tcomment "managed by isthmus: segment lab, rules \(hash)"

    """ + counters + bridgeChains + "\tchain tunnel {\n" + rules + "\t}\n}\n"
}

@Suite("Filter ruleset")
struct FilterTests {
    @Test("Ethernet, everything blocked, MSS clamped: bridge table, three hooks, one tunnel chain")
    func ethernetAllBlocked() {
        let r = ethernet()
        #expect(r.table == "isthmus-lab")
        #expect(r.family == "bridge")
        #expect(r.counterNames == ["dhcp_blocked", "ra_blocked", "mss_clamped"])
        #expect(r.script == bridgeTable(hash: "86b473e3b4d9e934", counters: counters("dhcp_blocked", "ra_blocked", "mss_clamped"),
                                        rules: dhcpRules + raRule + mssRules))
        #expect(r.deleteScript == "delete table bridge isthmus-lab\n")
        #expect(r.fingerprint == "comment \"managed by isthmus: segment lab, rules 86b473e3b4d9e934\"")
    }

    @Test("dhcp = allow: no DHCP rules and no dhcp_blocked counter")
    func dhcpAllowed() {
        let r = ethernet(dhcp: .allow)
        #expect(r.counterNames == ["ra_blocked", "mss_clamped"])
        #expect(r.script == bridgeTable(hash: "ffb91cf6fd52af64", counters: counters("ra_blocked", "mss_clamped"),
                                        rules: raRule + mssRules))
        #expect(!r.script.contains("dport"))
    }

    @Test("router_advertisements = allow: no RS/RA rule and no ra_blocked counter")
    func raAllowed() {
        let r = ethernet(ra: .allow)
        #expect(r.counterNames == ["dhcp_blocked", "mss_clamped"])
        #expect(r.script == bridgeTable(hash: "afbf38e9b14e6910", counters: counters("dhcp_blocked", "mss_clamped"),
                                        rules: dhcpRules + mssRules))
        #expect(!r.script.contains("icmpv6"))
    }

    @Test("no MSS clamp: no maxseg rules and no mss_clamped counter")
    func noClamp() {
        let r = ethernet(mss: nil)
        #expect(r.counterNames == ["dhcp_blocked", "ra_blocked"])
        #expect(r.script == bridgeTable(hash: "03621299890c9faa", counters: counters("dhcp_blocked", "ra_blocked"),
                                        rules: dhcpRules + raRule))
    }

    @Test("only one family clamped: one maxseg rule, the counter still declared")
    func oneFamily() {
        let r = FilterRuleset(segment: "lab", bridge: "br-lab", tunnel: "l2tp-lab", filters: filters(dhcp: .allow, ra: .allow),
                              mssIPv4: 1410, mssIPv6: nil)
        #expect(r.counterNames == ["mss_clamped"])
        #expect(r.script.contains("meta protocol ip tcp flags & (syn | rst) == syn tcp option maxseg size > 1410"))
        #expect(!r.script.contains("meta protocol ip6"))
    }

    @Test("L3 tunnel with a clamp: inet table, forward at priority mangle, nfproto instead of the frame's protocol")
    func l3Clamped() {
        let r = FilterRuleset(segment: "wan", bridge: nil, tunnel: "gre-wan", filters: SegmentFilters(),
                              mssIPv4: 1436, mssIPv6: 1416)
        #expect(r.family == "inet")
        #expect(r.table == "isthmus-wan")
        #expect(r.counterNames == ["mss_clamped"])
        #expect(r.script == """
            add table inet isthmus-wan
            delete table inet isthmus-wan
            table inet isthmus-wan {
            \tcomment "managed by isthmus: segment wan, rules ca2a1e694d0e5c3e"
            \tcounter mss_clamped {
            \t}
            \tchain forward {
            \t\ttype filter hook forward priority mangle; policy accept;
            \t\tiifname "gre-wan" jump tunnel
            \t\toifname "gre-wan" jump tunnel
            \t}
            \tchain tunnel {
            \t\tmeta nfproto ipv4 tcp flags & (syn | rst) == syn tcp option maxseg size > 1436 counter name "mss_clamped" tcp option maxseg size set 1436
            \t\tmeta nfproto ipv6 tcp flags & (syn | rst) == syn tcp option maxseg size > 1416 counter name "mss_clamped" tcp option maxseg size set 1416
            \t}
            }

            """)
        #expect(!r.script.contains("dport") && !r.script.contains("icmpv6"), "nothing is bridged: no DHCP/RA rules")
        #expect(r.deleteScript == "delete table inet isthmus-wan\n")
    }

    @Test("no rules is no table: L3 without a clamp, and Ethernet allowing everything without a clamp")
    func noTable() {
        let l3 = FilterRuleset(segment: "wan", bridge: nil, tunnel: "gre-wan", filters: SegmentFilters(),
                               mssIPv4: nil, mssIPv6: nil)
        let open = ethernet(dhcp: .allow, ra: .allow, mss: nil)
        for r in [l3, open] {
            #expect(r.script.isEmpty)
            #expect(r.counterNames.isEmpty)
            #expect(r.fingerprint.isEmpty)
            #expect(r.deleteScript == "delete table \(r.family) \(r.table)\n", "a table made by an older config is still removable")
        }
    }

    @Test("the fingerprint is in the script and changes with any rule")
    func fingerprint() {
        let base = ethernet()
        #expect(base.script.contains("\t" + base.fingerprint + "\n"))
        let variants = [ethernet(dhcp: .allow), ethernet(ra: .allow), ethernet(mss: nil), ethernet(mss: (1400, 1390)),
                        FilterRuleset(segment: "lab", bridge: "br-lab", tunnel: "vx-lab", filters: SegmentFilters(),
                                      mssIPv4: 1410, mssIPv6: 1390)]
        for v in variants { #expect(v.fingerprint != base.fingerprint) }
        // The bridge name does not appear in the rules (the tunnel port does): same table, same fingerprint.
        var other = base
        other.bridge = "br0"
        #expect(other.fingerprint == base.fingerprint)
    }

    @Test("the comment fits nft's 128-byte limit for the longest segment name")
    func commentLength() {
        let name = String(repeating: "s", count: 64)
        let r = FilterRuleset(segment: name, bridge: "br", tunnel: "t", filters: SegmentFilters(), mssIPv4: 1, mssIPv6: 1)
        let text = r.fingerprint.dropFirst("comment \"".count).dropLast()
        #expect(text.utf8.count <= 128)
    }

    @Test("interface names are quoted; a trailing * is escaped so it is not a wildcard")
    func quoting() {
        let r = FilterRuleset(segment: "a.b_c-1", bridge: "br", tunnel: "tun*", filters: SegmentFilters(),
                              mssIPv4: nil, mssIPv6: nil)
        #expect(r.table == "isthmus-a.b_c-1")
        #expect(r.script.contains("\t\tiifname \"tun\\*\" jump tunnel\n"))
        #expect(r.script.contains("\t\toifname \"tun\\*\" jump tunnel\n"))
    }

    // MARK: - clearDF (kernel VXLAN with outer fragmentation)

    @Test("clearDF with every other rule: a df_cleared counter, and the DF-clearing rule after the jumps of the chains that see frames leave through the tunnel")
    func clearDFWithRules() {
        let r = FilterRuleset(segment: "lab", bridge: "br-lab", tunnel: "isth-lab", filters: SegmentFilters(),
                              mssIPv4: 1410, mssIPv6: 1390, clearDF: true)
        #expect(r.clearDF)
        #expect(r.counterNames == ["dhcp_blocked", "ra_blocked", "mss_clamped", "df_cleared"])
        #expect(r.script == """
            add table bridge isthmus-lab
            delete table bridge isthmus-lab
            table bridge isthmus-lab {
            \tcomment "managed by isthmus: segment lab, rules 52e7a6985a2a9209"
            \tcounter dhcp_blocked {
            \t}
            \tcounter ra_blocked {
            \t}
            \tcounter mss_clamped {
            \t}
            \tcounter df_cleared {
            \t}
            \tchain forward {
            \t\ttype filter hook forward priority filter; policy accept;
            \t\tiifname "isth-lab" jump tunnel
            \t\toifname "isth-lab" jump tunnel
            \t\toifname "isth-lab" meta protocol ip ip frag-off & 0x4000 != 0 counter name "df_cleared" ip frag-off set ip frag-off & 0xbfff
            \t}
            \tchain input {
            \t\ttype filter hook input priority filter; policy accept;
            \t\tiifname "isth-lab" jump tunnel
            \t}
            \tchain output {
            \t\ttype filter hook output priority filter; policy accept;
            \t\toifname "isth-lab" jump tunnel
            \t\toifname "isth-lab" meta protocol ip ip frag-off & 0x4000 != 0 counter name "df_cleared" ip frag-off set ip frag-off & 0xbfff
            \t}
            \tchain tunnel {
            \t\tmeta protocol ip udp dport { 67, 68 } counter name "dhcp_blocked" drop
            \t\tmeta protocol ip6 udp dport { 546, 547 } counter name "dhcp_blocked" drop
            \t\tmeta protocol ip6 icmpv6 type { nd-router-solicit, nd-router-advert } counter name "ra_blocked" drop
            \t\tmeta protocol ip tcp flags & (syn | rst) == syn tcp option maxseg size > 1410 counter name "mss_clamped" tcp option maxseg size set 1410
            \t\tmeta protocol ip6 tcp flags & (syn | rst) == syn tcp option maxseg size > 1390 counter name "mss_clamped" tcp option maxseg size set 1390
            \t}
            }

            """)
        #expect(r.fingerprint == "comment \"managed by isthmus: segment lab, rules 52e7a6985a2a9209\"")
        // The same ruleset without clearDF is another table: the fingerprint tells them apart.
        let plain = FilterRuleset(segment: "lab", bridge: "br-lab", tunnel: "isth-lab", filters: SegmentFilters(),
                                  mssIPv4: 1410, mssIPv6: 1390)
        #expect(!plain.clearDF && plain.fingerprint != r.fingerprint && !plain.script.contains("frag-off"))
        #expect(plain.counterNames == ["dhcp_blocked", "ra_blocked", "mss_clamped"])
    }

    @Test("clearDF alone (everything allowed, no clamp) is still a table: no tunnel chain, no jumps, only the DF rule")
    func clearDFAlone() {
        let r = FilterRuleset(segment: "lab", bridge: "br-lab", tunnel: "isth-lab", filters: filters(dhcp: .allow, ra: .allow),
                              mssIPv4: nil, mssIPv6: nil, clearDF: true)
        #expect(r.counterNames == ["df_cleared"])
        #expect(r.script == """
            add table bridge isthmus-lab
            delete table bridge isthmus-lab
            table bridge isthmus-lab {
            \tcomment "managed by isthmus: segment lab, rules f5899617ce5731a2"
            \tcounter df_cleared {
            \t}
            \tchain forward {
            \t\ttype filter hook forward priority filter; policy accept;
            \t\toifname "isth-lab" meta protocol ip ip frag-off & 0x4000 != 0 counter name "df_cleared" ip frag-off set ip frag-off & 0xbfff
            \t}
            \tchain input {
            \t\ttype filter hook input priority filter; policy accept;
            \t}
            \tchain output {
            \t\ttype filter hook output priority filter; policy accept;
            \t\toifname "isth-lab" meta protocol ip ip frag-off & 0x4000 != 0 counter name "df_cleared" ip frag-off set ip frag-off & 0xbfff
            \t}
            }

            """)
        #expect(r.fingerprint == "comment \"managed by isthmus: segment lab, rules f5899617ce5731a2\"")
        #expect(r.deleteScript == "delete table bridge isthmus-lab\n")
        // Without clearDF the same filters are no table at all.
        let open = FilterRuleset(segment: "lab", bridge: "br-lab", tunnel: "isth-lab", filters: filters(dhcp: .allow, ra: .allow),
                                 mssIPv4: nil, mssIPv6: nil)
        #expect(open.script.isEmpty && open.counterNames.isEmpty && open.fingerprint.isEmpty)
    }

    @Test("clearDF is ignored for L3 tunnels (no bridge): the same table, or none, as without it")
    func clearDFIgnoredForL3() {
        for mss in [(1436, 1416), nil] as [(Int, Int)?] {
            let with = FilterRuleset(segment: "wan", bridge: nil, tunnel: "gre-wan", filters: SegmentFilters(),
                                     mssIPv4: mss?.0, mssIPv6: mss?.1, clearDF: true)
            let without = FilterRuleset(segment: "wan", bridge: nil, tunnel: "gre-wan", filters: SegmentFilters(),
                                        mssIPv4: mss?.0, mssIPv6: mss?.1)
            #expect(!with.clearDF)
            #expect(with == without)
            #expect(with.script == without.script && with.counterNames == without.counterNames)
            #expect(!with.script.contains("frag-off") && !with.counterNames.contains("df_cleared"))
            #expect(with.family == "inet")
        }
        let none = FilterRuleset(segment: "wan", bridge: nil, tunnel: "gre-wan", filters: SegmentFilters(),
                                 mssIPv4: nil, mssIPv6: nil, clearDF: true)
        #expect(none.script.isEmpty && none.counterNames.isEmpty)
        let clamped = FilterRuleset(segment: "wan", bridge: nil, tunnel: "gre-wan", filters: SegmentFilters(),
                                    mssIPv4: 1436, mssIPv6: 1416, clearDF: true)
        #expect(clamped.fingerprint == "comment \"managed by isthmus: segment wan, rules ca2a1e694d0e5c3e\"")
    }
}
