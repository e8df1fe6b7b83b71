import LinkValues

/// The usage of each iproute2 object, as `isthmus OBJECT help` (and `ip OBJECT help`) prints it. One text per object:
/// the CLI's help, the man page and the objects' own usage errors all read these.
public enum Usage {
    /// Words that ask for help instead of naming a verb or keyword: `isthmus link help`, `isthmus link -h`.
    public static let helpWords: Set<String> = ["help", "-h", "--help"]

    /// How an object's usage error that is not a help request ends: where its usage is, rather than a second copy.
    static func seeHelp(_ object: String) -> String { "see 'isthmus \(object) help'" }

    static let link = """
        Usage: isthmus link add [ link DEV ] [ name ] NAME
                           [ txqueuelen PACKETS ] [ address LLADDR ] [ broadcast LLADDR ]
                           [ mtu MTU ] [ index IDX ] [ numtxqueues QUEUE_COUNT ] [ numrxqueues QUEUE_COUNT ]
                           [ netns NAME ] [ group GROUP ] [ master DEV ] [ alias NAME ]
                           type TYPE [ ARGS ]
               isthmus link delete { DEVICE | dev DEVICE | group GROUP } [ type TYPE ]
               isthmus link set { DEVICE | dev DEVICE | group GROUP }
                           [ { up | down } ] [ arp { on | off } ] [ multicast { on | off } ]
                           [ allmulticast { on | off } ] [ promisc { on | off } ]
                           [ txqueuelen PACKETS ] [ name NEWNAME ] [ address LLADDR ] [ broadcast LLADDR ]
                           [ mtu MTU ] [ netns NAME ] [ alias NAME ] [ group GROUP ]
                           [ master DEVICE ] [ nomaster ] [ type TYPE ARGS ]
               isthmus link show [ [ dev ] DEVICE | group GROUP ] [ up ] [ master DEV ] [ type TYPE ]
               isthmus link help

        TYPE := { \(kindList) }
        A bridge port's settings: isthmus link set DEVICE type bridge_slave [ state STATE ] [ priority PRIO ]
                           [ cost COST ] [ { hairpin | learning | flood | mcast_flood | bcast_flood | isolated |
                             neigh_suppress | guard | root_block | fastleave | mcast_to_unicast | proxy_arp |
                             proxy_arp_wifi | vlan_tunnel } { on | off } ]
        Global options that apply: -d (details: the kind's data), -s (statistics), -j (JSON), -n NETNS.
        """

    /// The link kinds `link add ... type TYPE` knows, as one `|`-separated list.
    static var kindList: String { LinkKinds.all.map { $0.kind }.joined(separator: " | ") }

    static let address = """
        Usage: isthmus address { add | change | replace } IFADDR dev IFNAME [ LIFETIME ] [ CONFFLAG-LIST ]
               isthmus address delete IFADDR dev IFNAME
               isthmus address { show | flush } [ dev IFNAME ] [ scope SCOPE ] [ to PREFIX ] [ label PATTERN ]
                                                [ master DEVICE ] [ up ]
               isthmus address help

        IFADDR := PREFIX | ADDR peer PREFIX [ broadcast ADDR ] [ anycast ADDR ] [ label IFNAME ] [ scope SCOPE ]
                  [ metric METRIC ]
        SCOPE := { global | site | link | host | NUMBER }
        LIFETIME := [ valid_lft LFT ] [ preferred_lft LFT ]
        LFT := { forever | SECONDS }
        CONFFLAG-LIST := [ CONFFLAG-LIST ] CONFFLAG
        CONFFLAG := { home | nodad | mngtmpaddr | noprefixroute | autojoin }
        """

    static let route = """
        Usage: isthmus route { add | delete | change | append | replace | prepend | test } ROUTE
               isthmus route { show | list | flush } [ table TABLE | all ] [ dev IFNAME ] [ proto PROTO ]
                                                    [ scope SCOPE ] [ type TYPE ] [ PREFIX ]
               isthmus route get ADDRESS [ from ADDRESS ] [ iif IFNAME ] [ oif IFNAME ]
               isthmus route help

        ROUTE := [ TYPE ] PREFIX|default [ via ADDRESS ] [ dev IFNAME ] [ src ADDRESS ] [ table TABLE ]
                 [ metric METRIC ] [ proto PROTO ] [ scope SCOPE ] [ onlink ] [ pref { low | medium | high } ]
                 [ mtu [ lock ] NUMBER ] [ advmss NUMBER ] [ hoplimit NUMBER ] [ window NUMBER ] [ cwnd NUMBER ]
                 [ initcwnd NUMBER ] [ initrwnd NUMBER ] [ ssthresh NUMBER ] [ reordering NUMBER ] [ rtt TIME ]
                 [ rttvar TIME ] [ rto_min TIME ] [ features ecn ] [ quickack BOOL ] [ congctl NAME ]
                 [ expires TIME ] [ realms REALM ] [ nhid ID ] [ nexthop NH ... ]
        NH := via ADDRESS dev IFNAME [ weight NUMBER ] [ onlink ]
        TYPE := { unicast | local | broadcast | multicast | throw | unreachable | prohibit | blackhole | nat }
        TABLE := { main | local | default | all | NUMBER }
        """

    static let neighbour = """
        Usage: isthmus neighbour { add | delete | change | replace } ADDR [ lladdr LLADDR ] [ nud STATE ]
                                 [ proxy ADDR ] [ router ] [ use ] [ managed ] [ extern_learn ] [ protocol PROTO ]
                                 dev IFNAME
               isthmus neighbour { show | flush } [ dev IFNAME ] [ nud STATE ] [ proxy ] [ unused ]
                                                  [ master IFNAME | nomaster ] [ to PREFIX ]
               isthmus neighbour help

        STATE := { permanent | reachable | noarp | none | stale | incomplete | delay | probe | failed }
        """

    static let fdb = """
        Usage: isthmus fdb { add | append | delete | replace } LLADDR dev DEV [ self ] [ master ] [ use ] [ router ]
                           [ extern_learn ] [ sticky ] [ local | static | dynamic ] [ vlan VID ]
                           { [ dst IPADDR ] [ port PORT ] [ vni VNI ] | [ nhid NHID ] } [ via DEV ] [ src_vni VNI ]
               isthmus fdb show [ br BRDEV ] [ brport DEV ] [ vlan VID ] [ state STATE ] [ dynamic ]
               isthmus fdb help

        As bridge(8)'s fdb: `isthmus fdb` where you wrote `bridge fdb`.
        """

    static let vlan = """
        Usage: isthmus vlan { add | delete } vid VLAN_ID[-VLAN_ID] dev DEV [ tunnel_info id TUNNEL_ID[-TUNNEL_ID] ]
                                             [ pvid ] [ untagged ] [ self ] [ master ]
               isthmus vlan { show | tunnelshow } [ dev DEV ] [ vid VLAN_ID ]
               isthmus vlan help

        As bridge(8)'s vlan: `isthmus vlan` where you wrote `bridge vlan`. A port's VLANs take effect on a bridge
        with vlan_filtering 1; tunnel_info maps a VLAN to a VXLAN VNI on a collect-metadata port.
        """

    static let l2tp = """
        Usage: isthmus l2tp add tunnel remote ADDR local ADDR tunnel_id ID peer_tunnel_id ID
                          [ encap { ip | udp } ] [ udp_sport PORT ] [ udp_dport PORT ]
                          [ udp_csum { on | off } ] [ udp6_csum_tx { on | off } ] [ udp6_csum_rx { on | off } ]
               isthmus l2tp add session [ name NAME ] tunnel_id ID session_id ID peer_session_id ID
                          [ cookie HEXSTR ] [ peer_cookie HEXSTR ] [ seq { none | send | recv | both } ]
                          [ l2spec_type { none | default } ]
               isthmus l2tp delete tunnel tunnel_id ID
               isthmus l2tp delete session tunnel_id ID session_id ID
               isthmus l2tp show tunnel [ tunnel_id ID ]
               isthmus l2tp show session [ tunnel_id ID ] [ session_id ID ]
               isthmus l2tp run --config FILE            the control protocol (LAC, LNS, LCCE) in the foreground
               isthmus l2tp show [ --config FILE | --status PATH ] [ -j ]   what a running agent is doing
               isthmus l2tp help

        The agent's file format: docs/L2TP.md. `isthmus help l2tp run` for the agent's options.
        """

    static let tunnel = """
        Usage: isthmus tunnel { add | change | delete | show } [ NAME ]
                              [ mode { ipip | gre | sit | isatap | ip6ip6 | ipip6 | ip6gre | any } ]
                              [ remote ADDR ] [ local ADDR ] [ [ i | o ]seq ] [ [ i | o ]key KEY ] [ [ i | o ]csum ]
                              [ ttl TTL ] [ tos TOS ] [ [ no ]pmtudisc ] [ dev PHYS_DEV ]
               isthmus tunnel 6rd dev NAME [ 6rd-prefix PREFIX ] [ 6rd-relay_prefix PREFIX ] [ 6rd-reset ]
               isthmus tunnel run NAME [ mtu MTU ] [ metrics ADDR:PORT ] [ verbose ] type KIND [ ARGS ]
               isthmus tunnel help

        add/change/delete/show act on the kernel's tunnels (like ip tunnel, over rtnetlink); `show` then lists the
        userspace tunnels with packet and byte counters and drops by reason.
        run: the userspace data plane in the foreground, on a TAP (Ethernet) or TUN (IP) device NAME, until SIGINT or
        SIGTERM; then the device is removed.
          KIND := \((TunnelCommand.runKinds + L2TPControlLink.kinds).joined(separator: " | "))
          ARGS: the words of `isthmus link add NAME type KIND ...`; for l2tpv3 those of `l2tp add tunnel` and
          `l2tp add session` together (tunnel_id, peer_tunnel_id, session_id, peer_session_id, encap udp|ip, local,
          remote, udp_sport, udp_dport, cookie, peer_cookie, l2spec_type, seq).
          metrics ADDR:PORT: serve Prometheus metrics on http://ADDR:PORT/metrics ([ADDR]:PORT for IPv6; port 0: any
          free one, logged), opened in the tunnel's namespace. verbose: debug lines in the log (each scrape).
        """

    static let tuntap = """
        Usage: isthmus tuntap { add | delete } [ dev ] NAME mode { tun | tap } [ user USER ] [ group GROUP ]
                              [ one_queue ] [ pi ] [ vnet_hdr ] [ multi_queue ] [ name NAME ]
               isthmus tuntap show [ dev NAME ]
               isthmus tuntap help
        """

    static let netns = """
        Usage: isthmus netns list
               isthmus netns add NAME
               isthmus netns attach NAME PID
               isthmus netns set NAME NETNSID
               isthmus netns delete NAME
               isthmus netns identify [ PID ]
               isthmus netns pids NAME
               isthmus netns exec NAME COMMAND ...
               isthmus netns list-id
               isthmus netns help

        NETNSID := { auto | POSITIVE-INT }
        The names are ip's: /run/netns/NAME bind mounts, so `ip netns` and `isthmus netns` see the same namespaces.
        exec runs COMMAND in NAME in a mount namespace of its own with that namespace's /sys and the files of
        /etc/netns/NAME bound over /etc, as ip netns exec does.
        """

    static let rule = """
        Usage: isthmus rule { add | delete } SELECTOR ACTION
               isthmus rule flush [ SELECTOR ]
               isthmus rule [ { show | list } [ SELECTOR ] ]
               isthmus rule help

        SELECTOR := [ not ] [ from PREFIX ] [ to PREFIX ] [ tos TOS ] [ fwmark FWMARK[/MASK] ]
                    [ iif STRING ] [ oif STRING ] [ pref NUMBER ] [ l3mdev ] [ uidrange NUMBER-NUMBER ]
                    [ ipproto PROTOCOL ] [ sport [ NUMBER | NUMBER-NUMBER ] ] [ dport [ NUMBER | NUMBER-NUMBER ] ]
                    [ tun_id TUN_ID ]
        ACTION := [ table TABLE_ID ] [ protocol PROTO ] [ realms [SRCREALM/]DSTREALM ] [ goto NUMBER ]
                  [ type { unicast | blackhole | unreachable | prohibit | nop } ] SUPPRESSOR
        SUPPRESSOR := [ suppress_prefixlength NUMBER ] [ suppress_ifgroup DEVGROUP ]
        TABLE_ID := [ local | main | default | NUMBER ]
        Rules are IPv4 unless -6 is given, as with ip. Global options that apply: -4, -6, -d, -j, -n NETNS.
        """

    static let monitor = """
        Usage: isthmus monitor [ all | OBJECTS ] [ label ]
               isthmus monitor help

        OBJECTS := { link | address | route | neigh | rule } ...
        Prints each change the kernel announces, as ip monitor does ("Deleted " before removals), until interrupted.
        With `all` or `label` each event starts with its object: [LINK], [ADDR], [ROUTE], [NEIGH], [RULE].
        With -j each event is one JSON object on a line of its own. -4/-6 limit addresses, routes and rules to a family.
        -t puts a "Timestamp: ..." line before each event, -ts a "[date.usec] " prefix, as ip does (not with -j).
        Unlike ip monitor, netconf, nsid, prefix, mroute, nexthop and stats events are not printed.
        """

    static let xfrm = """
        Usage: isthmus xfrm state { add | update } ID [ ALGO-LIST ] [ mode MODE ] [ mark MARK [ mask MASK ] ]
                      [ reqid REQID ] [ seq SEQ ] [ replay-window SIZE ] [ replay-seq SEQ ] [ replay-oseq SEQ ]
                      [ replay-seq-hi SEQ ] [ replay-oseq-hi SEQ ] [ flag FLAG-LIST ] [ sel SELECTOR ]
                      [ LIMIT-LIST ] [ encap ENCAP ] [ coa ADDR[/PLEN] ] [ ctx CTX ] [ extra-flag EXTRA-FLAG-LIST ]
                      [ offload [ dev DEV ] dir DIR ] [ output-mark OUTPUT-MARK [ mask MASK ] ]
                      [ if_id IF_ID ] [ tfcpad LENGTH ]
               isthmus xfrm state { delete | get } ID [ mark MARK [ mask MASK ] ]
               isthmus xfrm state { deleteall | list } [ nokeys ] [ ID ] [ mode MODE ] [ reqid REQID ] [ flag FLAG-LIST ]
               isthmus xfrm state flush [ proto XFRM-PROTO ]
               isthmus xfrm state count
               isthmus xfrm policy { add | update } SELECTOR dir DIR [ ctx CTX ] [ mark MARK [ mask MASK ] ]
                      [ index INDEX ] [ ptype PTYPE ] [ action ACTION ] [ priority PRIORITY ] [ flag FLAG-LIST ]
                      [ if_id IF_ID ] [ LIMIT-LIST ] [ TMPL-LIST ]
               isthmus xfrm policy { delete | get } { SELECTOR | index INDEX } dir DIR [ ctx CTX ]
                      [ mark MARK [ mask MASK ] ] [ ptype PTYPE ] [ if_id IF_ID ]
               isthmus xfrm policy { deleteall | list } [ nosock ] [ SELECTOR ] [ dir DIR ] [ index INDEX ]
                      [ ptype PTYPE ] [ action ACTION ] [ priority PRIORITY ] [ flag FLAG-LIST ]
               isthmus xfrm policy flush [ ptype PTYPE ]
               isthmus xfrm policy count
               isthmus xfrm help

        ID := [ src ADDR ] [ dst ADDR ] [ proto XFRM-PROTO ] [ spi SPI ]
        XFRM-PROTO := esp | ah | comp | route2 | hao
        ALGO := { enc | auth } ALGO-NAME ALGO-KEYMAT | auth-trunc ALGO-NAME ALGO-KEYMAT ALGO-TRUNC-LEN |
                aead ALGO-NAME ALGO-KEYMAT ALGO-ICV-LEN | comp ALGO-NAME
        MODE := transport | tunnel | beet | ro | in_trigger
        FLAG := noecn | decap-dscp | nopmtudisc | wildrecv | icmp | af-unspec | align4 | esn (states);
                localok | icmp (policies)
        SELECTOR := [ src ADDR[/PLEN] ] [ dst ADDR[/PLEN] ] [ dev DEV ] [ UPSPEC ]
        UPSPEC := proto { { tcp | udp | sctp | dccp } [ sport PORT ] [ dport PORT ] |
                          { icmp | ipv6-icmp | mobility-header } [ type NUMBER ] [ code NUMBER ] |
                          gre [ key { DOTTED-QUAD | NUMBER } ] | PROTO }
        LIMIT := limit { time-soft | time-hard | time-use-soft | time-use-hard } SECONDS |
                 limit { byte-soft | byte-hard } SIZE | limit { packet-soft | packet-hard } COUNT
        ENCAP := { espinudp | espinudp-nonike | espintcp } SPORT DPORT OADDR
        DIR := in | out | fwd    PTYPE := main | sub    ACTION := allow | block
        TMPL := tmpl ID [ mode MODE ] [ reqid REQID ] [ level { required | use } ]
        IPsec states and policies over NETLINK_XFRM, with ip's keywords; text as ip xfrm prints it (keys shown, as ip
        does; `nokeys` hides them). -j prints JSON (ip's xfrm has none). -s adds statistics, -4/-6 the family.
        """

    static var mtu: String {
        """
        Usage: isthmus mtu KIND [ underlay MTU ] [ lan MTU ] [ ipv6 ] [ cookie 0|4|8 ] [ l2spec_type none|default ]
                               [ key ] [ csum ] [ seq ] [ esp [ nat-t ] ]
               isthmus mtu help

        KIND := { \(MTUCommand.kinds.joined(separator: " | ")) }
        What a tunnel adds to each frame, the tunnel's MTU over an underlay of MTU bytes (1500 by default), whether
        LAN frames of `lan` bytes need outer fragmentation, and the TCP MSS to clamp to. `esp`: inside ESP transport
        mode with an AEAD (AES-GCM or ChaCha20-Poly1305: SPI and sequence 8, IV 8, pad length and next header 2,
        ICV 16, padding to 4), `nat-t` in UDP 4500 (8 more). Not an iproute2 object.
        """
    }
}

/// `help` (or `-h`, `--help`) where a verb or keyword was expected: not a failure. The CLI prints `text` to standard
/// output and exits 0; in a batch it is reported like an error, as `ip -batch` does.
public struct HelpRequested: Error, CustomStringConvertible {
    public var text: String
    public init(_ text: String) { self.text = text }
    public var description: String { text }
}
