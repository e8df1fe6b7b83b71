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

    @Test("the link usage lists every kind")
    func kinds() {
        let usage = IPCommandRunner.object(named: "link")!.usage
        for kind in ["vxlan", "bridge", "veth", "gretap", "ip6tnl", "macvlan"] { #expect(usage.contains(kind), "\(kind)") }
    }
}
