import Testing
import TestSupport
@testable import RegistryWire

@Suite struct RegistryEntryTests {
    let east = RegistryEntry(name: "east", addresses: [IPAddress("192.0.2.1")!], lanMTU: 1500, modules: ["vxlan", "bridge"],
                             dataplanes: ["kernel", "userspace"], ikeIdentity: "east@example.net")

    @Test func roundTrip() throws {
        #expect(east.json == #"{"version":1,"name":"east","addresses":["192.0.2.1"],"lan_mtu":1500,"modules":["vxlan","bridge"],"dataplanes":["kernel","userspace"],"ike_identity":"east@example.net"}"#)
        #expect(try RegistryEntry.decode(east.bytes, expectedName: "east").get() == east)
        var v6 = RegistryEntry(name: "w", addresses: [IPAddress("2001:db8::1")!, IPAddress("2001:db8::2")!])
        v6.ikeIdentity = "quote \" back\\slash \n\u{1}é"
        #expect(try RegistryEntry.decode(v6.bytes).get() == v6)
    }

    func reason(_ s: String, name: String? = nil) -> RegistryEntry.Rejection? {
        if case let .failure(e) = RegistryEntry.decode(Array(s.utf8), expectedName: name) { return e.reason }
        return nil
    }

    @Test func refusals() {
        let ok = #"{"version":1,"name":"a","addresses":["10.0.0.1"],"lan_mtu":1500}"#
        #expect(reason(ok) == nil)
        #expect(reason(ok, name: "b") == .nameMismatch)
        #expect(reason(#"{"version":1,"name":"a","addresses":["10.0.0.300"],"lan_mtu":1500}"#) == .badAddress)
        #expect(reason(#"{"version":1,"name":"a","addresses":["10.0.0.1/24"],"lan_mtu":1500}"#) == .badAddress)
        #expect(reason(#"{"version":1,"name":"a","addresses":["0.0.0.0"],"lan_mtu":1500}"#) == .badAddress)
        #expect(reason(#"{"version":1,"name":"a","addresses":[7],"lan_mtu":1500}"#) == .badAddress)
        #expect(reason(#"{"version":1,"name":"a","addresses":["10.0.0.1","::1"],"lan_mtu":1500}"#) == .mixedFamilies)
        #expect(reason(#"{"version":1,"name":"a","addresses":["10.0.0.1"],"lan_mtu":70000}"#) == .badMTU)
        #expect(reason(#"{"version":1,"name":"a","addresses":["10.0.0.1"],"lan_mtu":-1}"#) == .badMTU)
        #expect(reason(#"{"version":1,"name":"a","addresses":["10.0.0.1"],"lan_mtu":1500.5}"#) == .malformedJSON)
        #expect(reason(#"{"version":1,"name":"a","addresses":["10.0.0.1"],"lan_mtu":99999999999999999999}"#) == .malformedJSON)
        #expect(reason(#"{"version":2,"name":"a","addresses":["10.0.0.1"],"lan_mtu":1500}"#) == .version)
        #expect(reason(#"{"name":"a","addresses":["10.0.0.1"],"lan_mtu":1500}"#) == .missingField)
        #expect(reason(#"{"version":1,"name":"a/b","addresses":["10.0.0.1"],"lan_mtu":1500}"#) == .badName)
        #expect(reason(#"{"version":1,"name":"a","addresses":["10.0.0.1"],"lan_mtu":1500,"modules":["a b"]}"#) == .badCapability)
        #expect(reason(#"{"version":1,"version":1,"name":"a","addresses":["10.0.0.1"],"lan_mtu":1500}"#) == .malformedJSON)
        #expect(reason("[" + String(repeating: "[", count: 100)) == .malformedJSON)
        #expect(reason(String(repeating: " ", count: 5000)) == .tooLarge)
        #expect(reason(#"{"version":1,"name":"a","addresses":["\ud800"],"lan_mtu":1500}"#) == .malformedJSON)
        // Unknown members are a newer agent's: ignored.
        #expect(reason(#"{"version":1,"name":"a","addresses":["10.0.0.1"],"lan_mtu":1500,"later":{"x":[1,2]}}"#) == nil)
    }

    @Test func nonUTF8() {
        var b = Array(#"{"version":1,"name":"a","addresses":["10.0.0.1"],"lan_mtu":1500,"ike_identity":"x"}"#.utf8)
        b[b.count - 3] = 0xff
        guard case let .failure(e) = RegistryEntry.decode(b) else { Issue.record("decoded"); return }
        #expect(e.reason == .malformedJSON)
        #expect(e.detail.contains("UTF-8"))
    }

    /// Seeded hostile bytes — mutations of a valid value and random bytes — decode or fail; never trap.
    @Test func hostileBytes() {
        var rng = SeededRandom(seed: 18)
        let base = east.bytes
        var decoded = 0
        for i in 0..<20_000 {
            var b: [UInt8]
            if i % 2 == 0 {
                b = base
                for _ in 0..<(1 + Int(rng.next() % 4)) {
                    let at = Int(rng.next() % UInt64(b.count))
                    switch rng.next() % 3 {
                    case 0: b[at] = UInt8(truncatingIfNeeded: rng.next())
                    case 1: b.remove(at: at)
                    default: b.insert(UInt8(truncatingIfNeeded: rng.next()), at: at)
                    }
                }
            } else {
                b = (0..<Int(rng.next() % 64)).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
            }
            if case .success = RegistryEntry.decode(b) { decoded += 1 }
        }
        #expect(decoded > 0)
    }

    @Test func keys() {
        let k = RegistryKeys(prefix: "/isthmus/", segment: "fleet")
        #expect(k.site("east") == "/isthmus/segments/fleet/sites/east")
        #expect(k.classify(Array(k.site("east").utf8)) == .site("east"))
        #expect(k.classify(Array(k.agent("east").utf8)) == .agent("east"))
        #expect(k.classify(Array(k.drain("east").utf8)) == .drain("east"))
        #expect(k.classify(Array("/isthmus/segments/fleet/sites/a/b".utf8)) == nil)
        #expect(k.classify(Array("/isthmus/segments/other/sites/a".utf8)) == nil)
        #expect(k.classify([0x2f, 0xff]) == nil)
    }

    @Test func agentRecord() {
        let r = AgentSyncRecord(revision: 42, changesApplied: 3, since: 1_800_000_000)
        #expect(AgentSyncRecord.decode(Array(r.json.utf8)) == r)
        #expect(AgentSyncRecord.decode(Array("{}".utf8)) == nil)
    }
}
