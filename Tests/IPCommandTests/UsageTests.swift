import IPCommand
import Testing
import TestSupport

@Suite("OBJECT help")
struct UsageTests {
    @Test("`OBJECT help`, `OBJECT VERB help` and a trailing -h/--help ask for the object's usage; nothing is sent",
          arguments: IPCommandRunner.objects.map(\.name))
    func help(_ object: String) throws {
        for words in [[object, "help"], [object, "--help"], [object, "-h"], [object, "show", "help"], [object, "add", "x", "--help"]] {
            let fake = FakeNetlink()
            let session = Session(options: Options(), transport: { _, _ in fake })
            do {
                try IPCommandRunner.run(words, session: session)
                Issue.record("\(words) ran")
            } catch let e as HelpRequested {
                #expect(e.text.hasPrefix("Usage: isthmus \(object)"), "\(words): \(e.text)")
            }
            #expect(fake.sent.isEmpty, "\(words) sent \(fake.sent.count) requests")
        }
    }

    @Test("`help` as a name is not a help request", arguments: [["link", "set", "help", "up"], ["link", "show", "dev", "help"]])
    func notHelp(_ words: [String]) {
        #expect(!IPCommandRunner.isHelpRequest(words))
    }

    /// The message of the UsageError `words` throw, with nothing sent.
    static func usageError(_ words: [String]) throws -> String {
        let fake = FakeNetlink()
        let session = Session(options: Options(), transport: { _, _ in fake })
        do {
            try IPCommandRunner.run(words, session: session)
        } catch let e as UsageError {
            #expect(fake.sent.isEmpty, "\(words) sent \(fake.sent.count) requests")
            return e.message
        }
        Issue.record("\(words) did not fail with a usage error")
        return ""
    }

    @Test("`help` among a command's words fails with the object's one usage text, the one `OBJECT help` prints",
          arguments: [["route", "add", "10.0.0.0/8", "help"], ["route", "get", "10.0.0.1", "help"],
                      ["route", "show", "table", "main", "help"], ["address", "add", "10.0.0.1/24", "help"],
                      ["address", "show", "dev", "eth0", "help"], ["neighbour", "add", "10.0.0.1", "help"],
                      ["neighbour", "show", "dev", "eth0", "help"], ["fdb", "add", "00:11:22:33:44:55", "help"],
                      ["fdb", "show", "br", "br0", "help"], ["rule", "add", "from", "10.0.0.0/8", "help"],
                      ["rule", "show", "pref", "5", "help"], ["tunnel", "add", "t0", "mode", "gre", "help"],
                      ["l2tp", "add", "tunnel", "help"]])
    func helpAmongWords(_ words: [String]) throws {
        let message = try Self.usageError(words)
        #expect(message == IPCommandRunner.object(named: words[0])!.usage, "\(words): \(message)")
    }

    @Test("other usage errors say what is wrong and point to `isthmus OBJECT help` instead of a second usage text",
          arguments: [(["route", "add", "via", "10.0.0.1"], "route"), (["route", "get"], "route"),
                      (["address", "add", "10.0.0.1/24"], "address"), (["rule", "add"], "rule")])
    func pointToHelp(_ words: [String], _ object: String) throws {
        let message = try Self.usageError(words)
        #expect(message.hasSuffix("; see 'isthmus \(object) help'"), "\(words): \(message)")
        #expect(!message.lowercased().contains("usage:"), "\(words): \(message)")
    }

    @Test("the link usage lists every kind")
    func kinds() {
        let usage = IPCommandRunner.object(named: "link")!.usage
        for kind in ["vxlan", "bridge", "veth", "gretap", "ip6tnl", "macvlan"] { #expect(usage.contains(kind), "\(kind)") }
    }
}
