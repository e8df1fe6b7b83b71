import IPCommand
import Testing
import TestSupport

@Suite("vlan command words")
struct VLANCommandTests {
    /// Runs `words` against a fake netlink that knows lo=1 and p1=4; returns the error text, or nil.
    static func error(_ line: String) -> String? {
        let fake = FakeNetlink { m in
            if m.type == 18 { return [] }   // RTM_GETLINK: answered by the name lookups below
            return []
        }
        let session = Session(options: Options(), transport: { _, _ in fake })
        session.learn(name: "p1", index: 4)
        do {
            try IPCommandRunner.run(line.split(separator: " ").map(String.init), session: session)
            try session.flush()
            return nil
        } catch {
            return "\(error)"
        }
    }

    @Test("bad VIDs, ranges and tunnel ids are named; none traps", arguments: [
        ("vlan add vid 100 dev p1 tunnel_info id 1100", nil),
        ("vlan add vid 100-101 dev p1 tunnel_info id 1100-1101", nil),
        ("vlan add vid 100-101 dev p1 tunnel_info id 1100", "must match the vid range"),
        ("vlan add vid 100 dev p1 tunnel_info id 1100-1101", "must match the vid range"),
        ("vlan add vid 100-101 dev p1 tunnel_info id 1100-1102", "must match the vid range"),
        ("vlan add vid 99999999999999999999 dev p1", "VLAN ID"),
        ("vlan add vid 5-3 dev p1", "the end must be above the start"),
        ("vlan add vid - dev p1", "VLAN ID"),
        ("vlan add vid 0 dev p1", "1..4094"),
        ("vlan add vid 4095 dev p1", "1..4094"),
        ("vlan add vid 1-4095 dev p1", "1..4094"),
        ("vlan add vid 10-12 dev p1 pvid", "pvid cannot be configured for a vlan range"),
        ("vlan add dev p1", "Device and VLAN ID are required"),
        ("vlan add vid 1 dev p1 tunnel_info", "needs a value"),
        ("vlan add vid 1 dev p1 tunnel_info id 16777216", "tunnel id"),
        ("vlan add vid 1 dev p1 tunnel_info x 5", "id TUNNEL_ID"),
        ("vlan add vid 1 dev p1 frob", "\"frob\""),
        ("vlan show vid 5000", "VLAN ID"),
    ] as [(String, String?)])
    func words(_ line: String, _ expected: String?) {
        let e = Self.error(line)
        if let expected { #expect(e?.contains(expected) == true, "\(line): \(e ?? "no error")") } else { #expect(e == nil, "\(line): \(e ?? "")") }
    }
}
