import Testing
@testable import L2TPAgent
import VICIWire

@Suite("L2TP/IPsec: the connections loaded into charon, and require's filter")
struct L2TPIPsecPlanTests {
    static let psk = L2TPIPsecConfig(authentication: .psk("0123456789abcdef"))

    @Test func pskConnectionsForIKEv1AndIKEv2() throws {
        let p = L2TPIPsecPlan(Self.psk, agentName: "lns", localAddresses: ["203.0.113.1"], port: 1701)
        #expect(p.connectionNames == ["isthmus-l2tp-lns-ikev1", "isthmus-l2tp-lns-ikev2"])
        #expect(p.sharedKey == ["id": "isthmus-l2tp-lns", "type": "IKE", "data": "0123456789abcdef", "owners": .list([])])
        #expect(p.connections.count == 2)
        for (msg, (name, version)) in zip(p.connections, zip(p.connectionNames, ["1", "2"])) {
            let conn = try #require(msg[name]?.section)
            #expect(conn.string("version") == version)
            #expect(conn["local_addrs"]?.strings == ["203.0.113.1"] && conn["remote_addrs"]?.strings == ["%any"])
            #expect(conn["proposals"]?.strings == L2TPIPsecConfig.defaultIKEProposals)
            #expect(conn.string("unique") == "never", "clients behind one NAT share an identity: none replaces another")
            #expect(conn["local"]?.section?.string("auth") == "psk" && conn["remote"]?.section?.string("auth") == "psk")
            let child = try #require(conn["children"]?.section?["l2tp"]?.section)
            #expect(child.string("mode") == "transport")
            #expect(child["local_ts"]?.strings == ["dynamic[udp/1701]"] && child["remote_ts"]?.strings == ["dynamic[udp]"])
            #expect(child["esp_proposals"]?.strings == L2TPIPsecConfig.defaultESPProposals)
            // A mark per CHILD_SA on its policies and on what it decrypts: two clients behind one NAT told apart.
            #expect(child.string("mark_in") == "%unique" && child.string("mark_out") == "%unique")
            #expect(child.string("set_mark_in") == "%same")
        }
        #expect(p.unloadConnections == [["name": "isthmus-l2tp-lns-ikev1"], ["name": "isthmus-l2tp-lns-ikev2"]])
        #expect(p.unloadSharedKey == ["id": "isthmus-l2tp-lns"])
    }

    @Test func wildcardListenIsAnyAndThePortIsTheListeners() throws {
        let p = L2TPIPsecPlan(Self.psk, agentName: "a", localAddresses: ["0.0.0.0"], port: 1702)
        let conn = try #require(p.connections[0]["isthmus-l2tp-a-ikev1"]?.section)
        #expect(conn["local_addrs"]?.strings == ["%any"])
        #expect(conn["children"]?.section?["l2tp"]?.section?["local_ts"]?.strings == ["dynamic[udp/1702]"])
    }

    @Test func certificates() throws {
        let c = L2TPIPsecConfig(authentication: .certificate(certificate: "/c", privateKey: "/k", ca: "/ca"))
        let p = L2TPIPsecPlan(c, agentName: "a", localAddresses: [], port: 1701, certificateData: [1, 2], caData: [3])
        #expect(p.sharedKey == nil)
        let conn = try #require(p.connections[1]["isthmus-l2tp-a-ikev2"]?.section)
        #expect(conn["local"]?.section == ["auth": "pubkey", "certs": .list([[1, 2]])])
        #expect(conn["remote"]?.section == ["auth": "pubkey", "cacerts": .list([[3]])])
    }

    @Test func proposals() {
        for good in L2TPIPsecConfig.defaultIKEProposals + ["aes128gcm16-prfsha256-ecp256", "aes256-sha384-curve25519"] {
            #expect(L2TPIPsecConfig.proposalProblem(good, esp: false) == nil, "\(good)")
        }
        for good in L2TPIPsecConfig.defaultESPProposals + ["aes128-sha1-modp2048", "aes256gcm16-esn"] {
            #expect(L2TPIPsecConfig.proposalProblem(good, esp: true) == nil, "\(good)")
        }
        #expect(L2TPIPsecConfig.proposalProblem("aes128-sha1-prfsha1", esp: true)?.contains("unknown algorithm \"prfsha1\"") == true, "no PRF in ESP")
        #expect(L2TPIPsecConfig.proposalProblem("sha1-modp2048", esp: false)?.contains("no encryption") == true)
        #expect(L2TPIPsecConfig.proposalProblem("aes256--modp2048", esp: false)?.contains("is not a proposal") == true)
    }

    @Test func requireFilter() {
        let f = L2TPIPsecFilter(agentName: "lns", listen: [("203.0.113.1", 1701), ("", 1701), ("2001:db8::1", 1702)], require: true)
        #expect(f.table == "isthmus-l2tp-lns")
        #expect(f.script.hasPrefix("table inet isthmus-l2tp-lns\ndelete table inet isthmus-l2tp-lns\n"), "replaced whole, atomically")
        for rule in ["ip daddr 203.0.113.1 udp dport 1701 meta ipsec missing counter drop",
                     "meta nfproto ipv4 udp dport 1701 meta ipsec missing counter drop",
                     "ip6 daddr 2001:db8::1 udp dport 1702 meta ipsec missing counter drop",
                     "type filter hook input priority filter; policy accept;"] {
            #expect(f.script.contains(rule), "\(rule) in \(f.script)")
        }
        #expect(f.deleteScript == "table inet isthmus-l2tp-lns\ndelete table inet isthmus-l2tp-lns\n")
    }

    /// Without `require` the table has no drop of cleartext L2TP, and with or without it the chains that tell clients
    /// behind one NAT apart: zone and mark from the decrypted datagram's mark before conntrack, a source port of
    /// its own on input, the mark restored on the way out (a route chain: policy looked up again), and no reply of
    /// such a flow leaving without its SA.
    @Test func natDemuxWithoutRequire() {
        let f = L2TPIPsecFilter(agentName: "lns", listen: [("203.0.113.1", 1701), ("2001:db8::1", 1702)], require: false)
        #expect(!f.script.contains("meta ipsec missing"), "\(f.script)")
        #expect(!f.script.contains("chain input"))
        for rule in [
            "type filter hook prerouting priority raw; policy accept;",
            "ip daddr 203.0.113.1 udp dport 1701 meta ipsec exists meta mark != 0 ct original zone set jhash ip saddr . meta mark mod 65535 seed 0x6c327470 offset 1",
            "ip6 daddr 2001:db8::1 udp dport 1702 meta ipsec exists meta mark != 0 ct original zone set jhash ip6 saddr . meta mark mod 65535 seed 0x6c327470 offset 1",
            "ip daddr 203.0.113.1 udp dport 1701 meta ipsec exists meta mark != 0 ct mark set meta mark",
            "type nat hook input priority 100; policy accept;",
            "ip daddr 203.0.113.1 udp dport 1701 ct mark != 0 meta ipsec exists snat ip to ip saddr : jhash ip saddr . ct mark mod 23040 seed 0x6c327470 offset 42496",
            "type route hook output priority mangle; policy accept;",
            "ip saddr 203.0.113.1 udp sport 1701 ct mark != 0 meta mark set ct mark",
            "ip6 saddr 2001:db8::1 udp sport 1702 ct mark != 0 rt ipsec missing counter drop",
        ] {
            #expect(f.script.contains(rule), "\(rule) in \(f.script)")
        }
    }
}
