import GRPCCore
import Testing
@testable import Etcd

/// What needs no etcd: endpoint URLs (bad ones refused with the reason), prefix ranges, error words.
@Suite("etcd client: endpoints, prefixes, errors")
struct EtcdEndpointTests {
    @Test("endpoint URLs: scheme, host, port")
    func endpoints() throws {
        let a = try EtcdEndpoint("http://10.0.0.1:2379")
        #expect(!a.secure && a.host == "10.0.0.1" && a.port == 2379 && a.isIPv4Literal)
        let b = try EtcdEndpoint("https://etcd.example:12379/")
        #expect(b.secure && b.host == "etcd.example" && b.port == 12379 && !b.isIPv4Literal)
        let c = try EtcdEndpoint("[fd00::1]:2379")
        #expect(!c.secure && c.host == "fd00::1" && c.port == 2379)
        let d = try EtcdEndpoint("10.0.0.2")
        #expect(d.port == 2379 && d.description == "10.0.0.2")
    }

    @Test("bad endpoints are refused naming the endpoint and what is wrong", arguments: [
        ("unix:///run/etcd.sock", "the scheme must be http:// or https://"),
        ("http://", "no host"),
        ("http://10.0.0.1:0", "the port must be 1-65535, not \"0\""),
        ("http://10.0.0.1:65536", "the port must be 1-65535, not \"65536\""),
        ("http://10.0.0.1:99999999999999999999", "the port must be 1-65535"),
        ("http://10.0.0.1:2379/v3", "only scheme://HOST:PORT, no path or user"),
        ("fd00::1", "an IPv6 address must be written in brackets, [ADDR]:PORT"),
        ("[fd00::1", "an IPv6 address needs its closing ]"),
        ("http://:2379", "no host"),
    ])
    func badEndpoints(text: String, reason: String) {
        do {
            _ = try EtcdEndpoint(text)
            Issue.record("\(text) accepted")
        } catch let e as EtcdError {
            guard case .badEndpoint(let t, let r) = e else { Issue.record("\(e)"); return }
            #expect(t == text && r.hasPrefix(reason), "\(e)")
            #expect(e.description.hasPrefix("bad etcd endpoint \"\(text)\": "))
        } catch { Issue.record("\(error)") }
    }

    @Test("no endpoints at all is an error, not a client that never answers")
    func noEndpoints() {
        #expect(throws: EtcdError.badEndpoint("", reason: "no etcd endpoints configured")) { try EtcdClient(.init(endpoints: [])) }
    }

    @Test("a prefix's range end: last byte below 0xff incremented, trailing 0xff dropped, all keys for none")
    func prefixEnd() {
        #expect(EtcdClient.prefixEnd(Array("/a/".utf8)) == Array("/a0".utf8))
        #expect(EtcdClient.prefixEnd([0x61, 0xff, 0xff]) == [0x62])
        #expect(EtcdClient.prefixEnd([0xff]) == [0])
        #expect(EtcdClient.prefixEnd([]) == [0])
    }

    @Test("etcd's errors: which move to the next endpoint, which are final")
    func classify() {
        func c(_ code: RPCError.Code, _ m: String) -> String {
            switch EtcdClient.classify(RPCError(code: code, message: m), endpoint: "http://e:2379") {
            case .final(let e): return "final \(e)"
            case .unreachable(let r): return "unreachable \(r)"
            case .noLeader(let r): return "noLeader \(r)"
            }
        }
        #expect(c(.unavailable, "etcdserver: no leader") == "noLeader no leader")
        #expect(c(.unavailable, "etcdserver: request timed out") == "noLeader request timed out")
        #expect(c(.unavailable, "connection refused").hasPrefix("unreachable connection refused"))
        #expect(c(.outOfRange, "etcdserver: mvcc: required revision has been compacted") == "final \(EtcdError.compacted(revision: 0))")
        #expect(c(.notFound, "etcdserver: requested lease not found") == "final \(EtcdError.leaseNotFound(0))")
        #expect(c(.invalidArgument, "etcdserver: key is not provided").hasPrefix("final etcd at http://e:2379 refused the request: key is not provided"))
        let all = EtcdError.unreachable([.init(endpoint: "http://a:2379", reason: "connection refused"),
                                         .init(endpoint: "http://b:2379", reason: "no answer in time")])
        #expect(all.description == "etcd unreachable at http://a:2379: connection refused; http://b:2379: no answer in time")
        #expect(EtcdError.leaseNotFound(0x694d7c7b0d5ed00a).description == "etcd lease 694d7c7b0d5ed00a not found (expired or revoked)")
    }
}
