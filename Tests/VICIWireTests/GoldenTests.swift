import Foundation
import Testing
@testable import VICIWire

/// One captured conversation: Golden/NAME.vici, written by Tools/golden/vici-capture from strace of swanctl
/// talking to a real charon (the provenance is the fixture's header).
struct Conversation {
    var sent: [[UInt8]] = []      // what swanctl wrote, one framed packet each
    var received: [[UInt8]] = []  // what charon answered
    var header: [String] = []

    init(_ name: String) throws {
        let url = try #require(Bundle.module.url(forResource: "Golden/\(name)", withExtension: "vici"))
        for line in try String(contentsOf: url, encoding: .utf8).split(separator: "\n") {
            if line.hasPrefix("#") { header.append(String(line)); continue }
            let hex = line.dropFirst(2)
            var bytes: [UInt8] = []
            var i = hex.startIndex
            while i < hex.endIndex {
                let j = hex.index(i, offsetBy: 2)
                bytes.append(try #require(UInt8(hex[i..<j], radix: 16)))
                i = j
            }
            if line.hasPrefix(">") { sent.append(bytes) } else { received.append(bytes) }
        }
    }

    static let all = ["version", "load-conns", "load-creds", "list-conns", "initiate", "list-sas", "terminate"]
}

@Suite("VICI golden bytes from swanctl and charon")
struct VICIGoldenTests {
    @Test("every captured packet decodes and encodes back to the same bytes", arguments: Conversation.all)
    func roundTrip(name: String) throws {
        let c = try Conversation(name)
        #expect(c.header.contains { $0.contains("strace of strongSwan") })
        #expect(!c.sent.isEmpty && !c.received.isEmpty)
        for bytes in c.sent + c.received {
            let p = try VICIPacket(framed: bytes)
            #expect(try p.encoded() == bytes)
        }
    }

    @Test("version: the request is swanctl's and charon's answer reads")
    func version() throws {
        let c = try Conversation("version")
        #expect(try VICIPacket.request(command: "version", message: [:]).encoded() == c.sent[0])
        guard case .response(let m) = try VICIPacket(framed: c.received[0]) else { Issue.record("not a response"); return }
        #expect(m.string("daemon") == "charon")
        #expect(m.string("version") == "5.9.8")
        #expect(m.string("sysname") == "Linux")
    }

    /// The load-conn request written by hand in Isthmus's types is swanctl's bytes for the same swanctl.conf.
    @Test("load-conn: Isthmus encodes swanctl's request byte for byte")
    func loadConn() throws {
        let c = try Conversation("load-conns")
        let msg: VICIMessage = [
            "gold": .section([
                "version": "2",
                "local_addrs": ["10.231.0.1"],
                "remote_addrs": ["10.231.0.2"],
                "proposals": ["aes128gcm16-prfsha256-ecp256"],
                "local": .section(["auth": "psk", "id": "10.231.0.1"]),
                "remote": .section(["auth": "psk", "id": "10.231.0.2"]),
                "children": .section([
                    "gold": .section([
                        "mode": "transport",
                        "esp_proposals": ["aes128gcm16"],
                        "local_ts": ["dynamic[115]"],
                        "remote_ts": ["dynamic[115]"],
                        "rekey_time": "30s",
                    ]),
                ]),
            ]),
        ]
        #expect(try VICIPacket.request(command: "get-conns", message: [:]).encoded() == c.sent[0])
        #expect(try VICIPacket.request(command: "load-conn", message: msg).encoded() == c.sent[1])
        guard case .response(let r) = try VICIPacket(framed: c.received[1]) else { Issue.record("not a response"); return }
        #expect(r.string("success") == "yes")
    }

    @Test("load-shared: Isthmus encodes swanctl's request byte for byte")
    func loadShared() throws {
        let c = try Conversation("load-creds")
        let packets = try c.sent.map { try VICIPacket(framed: $0) }
        let index = packets.firstIndex { if case .request("load-shared", _) = $0 { true } else { false } }
        let i = try #require(index)
        let shared = packets[i]
        let msg: VICIMessage = ["id": "ike-gold", "type": "ike", "data": "golden-psk-0123456789abcdef",
                                "owners": ["10.231.0.1", "10.231.0.2"]]
        #expect(shared == .request(command: "load-shared", message: msg))
        #expect(try VICIPacket.request(command: "load-shared", message: msg).encoded()
                == c.sent[i])
    }

    @Test("initiate: control-log events stream before the response, whose failure carries errmsg")
    func initiate() throws {
        let c = try Conversation("initiate")
        #expect(try VICIPacket.registerEvent("control-log").encoded() == c.sent[0])
        #expect(try VICIPacket(framed: c.received[0]) == .eventConfirm)
        let events = try c.received.dropFirst().dropLast().map { try VICIPacket(framed: $0) }
        #expect(events.count > 5)
        for e in events {
            guard case .event("control-log", let m) = e else { Issue.record("not a control-log event: \(e)"); continue }
            #expect(m.string("ikesa-name") == "gold")
            #expect(m.string("msg") != nil)
        }
        guard case .response(let r) = try VICIPacket(framed: c.received.last!) else { Issue.record("no response"); return }
        #expect(r.string("success") == "no")
        #expect(r.string("errmsg") == "establishing CHILD_SA 'gold' failed")
    }

    @Test("list-sas: the list-sa event is a section per IKE SA with its children")
    func listSAs() throws {
        let c = try Conversation("list-sas")
        #expect(try VICIPacket.registerEvent("list-sa").encoded() == c.sent[0])
        #expect(try VICIPacket.request(command: "list-sas", message: [:]).encoded() == c.sent[1])
        let packets = try c.received.map { try VICIPacket(framed: $0) }
        let first = packets.compactMap { p -> VICIMessage? in
            if case .event("list-sa", let m) = p { return m } else { return nil } }.first
        let sa = try #require(first)
        let gold = try #require(sa["gold"]?.section)
        #expect(gold.string("state") == "ESTABLISHED")
        #expect(gold.string("encr-alg") == "AES_GCM_16")
        #expect(gold.string("remote-host") == "10.231.0.2")
        #expect(gold["child-sas"]?.section != nil)
    }
}
