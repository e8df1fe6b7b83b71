import Foundation
import Testing

/// What a network engineer expects of the command line besides the words: exit codes as ip's, errors that say what
/// was wrong once, and -j for every command.
@Suite("CLI behaviour: exit codes, error wording, global -j", .serialized,
       .enabled(if: Host.isRoot && Host.isthmusBinary != nil, "needs root and the isthmus binary"))
struct CLIBehaviourTests {
    static func run(_ args: [String]) throws -> (status: Int32, output: String) { try Host.run([Host.isthmusBinary!] + args) }

    @Test("exit 1 for what is wrong with the words, 2 when the kernel refuses, as ip")
    func exitCodes() throws {
        let spaces = Namespaces("cli")
        defer { spaces.removeAll() }
        let ns = try spaces.make("a")
        for (args, code) in [(["-n", ns, "route", "add", "10.0.0.0/33", "via", "1.2.3.4"], 1),
                             (["-n", ns, "link", "set", "nosuch", "up"], 1),
                             (["-n", ns, "frob"], 1),
                             (["-n", ns, "route", "add", "10.9.0.0/16", "via", "1.2.3.4"], 2),
                             (["-n", ns, "link", "add", "lo", "type", "bridge"], 2)] as [([String], Int32)] {
            let r = try Self.run(args)
            #expect(r.status == code, "\(args): \(r.status) \(r.output)")
            let ip = try Host.run(["ip"] + args)
            #expect(ip.status == code || (code == 1 && ip.status == 255), "ip \(args): \(ip.status)")
        }
    }

    @Test("an invalid prefix is called one; a kernel error names the command once")
    func wording() throws {
        let spaces = Namespaces("cliw")
        defer { spaces.removeAll() }
        let ns = try spaces.make("a")
        let prefix = try Self.run(["-n", ns, "route", "add", "10.0.0.0/33", "via", "1.2.3.4"])
        #expect(prefix.output.contains("invalid prefix \"10.0.0.0/33\"") && !prefix.output.contains("valid: src"), "\(prefix.output)")
        let addr = try Self.run(["-n", ns, "address", "add", "1.2.3.4/40", "dev", "lo"])
        #expect(addr.output.contains("invalid prefix \"1.2.3.4/40\""), "\(addr.output)")
        // A word that is no address is more likely a mistyped keyword: the keywords are listed.
        let typo = try Self.run(["-n", ns, "route", "add", "10.1.0.0/16", "vai", "1.2.3.4"])
        #expect(typo.output.contains("unknown keyword \"vai\"") && typo.output.contains("via"), "\(typo.output)")
        let kernel = try Self.run(["-n", ns, "route", "add", "10.9.0.0/16", "via", "1.2.3.4"])
        #expect(kernel.output.contains("route add 10.9.0.0/16 via 1.2.3.4:") && !kernel.output.contains("route route"), "\(kernel.output)")
    }

    @Test("-j before lab and l2tp show gives JSON, progress on standard error")
    func globalJSON() throws {
        let lab = Host.repoRoot.appendingPathComponent("examples/vxlan-router.toml").path
        let status = try Self.run(["-j", "lab", "status", lab])
        #expect(status.status == 0)
        let o = try JSONSerialization.jsonObject(with: Data(status.output.utf8)) as? [String: Any]
        #expect(o?["lab"] as? String == "vxr" && o?["up"] as? Bool == false, "\(status.output)")
        let show = try Self.run(["-j", "l2tp", "show", "--status", "/run/isthmus/l2tp/isthmus-cli-test-none.json"])
        #expect(show.status != 0 && show.output.contains("no status"), "\(show.output)")
    }

    @Test("alternative names are printed last, as ip prints them (text and JSON, link and address)")
    func altNames() throws {
        let spaces = Namespaces("clialt")
        defer { spaces.removeAll() }
        let ns = try spaces.make("a")
        try Host.sh("ip -n \(ns) link add br7 type bridge && ip -n \(ns) link property add dev br7 altname isthmus-long-altname")
        for show in ["link show br7", "-j link show br7", "address show br7", "-j address", "-d -s link show br7"] {
            let ours = try Self.run(["-n", ns] + show.split(separator: " ").map(String.init))
            #expect(ours.output == (try Host.sh("ip -n \(ns) \(show)")), "\(show)")
        }
        #expect(try Self.run(["-n", ns, "link", "show", "br7"]).output.contains("    altname isthmus-long-altname"))
    }
}
