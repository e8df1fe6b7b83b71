import LinkValues

/// Shell completion for the iproute2 objects: what may follow `OBJECT ...` (verbs, keywords, link kinds, interface
/// names). The shells' scripts ask `isthmus __complete WORDS` and show what comes back, so completion knows exactly
/// the words the parsers take.
public enum Completion {
    /// What a shell should offer instead of words: file names (`--config`, `-batch`, a lab file).
    public static let filesDirective = "-files-"

    /// Candidates for the last of `words` (the word being typed, possibly empty); `words[0]` is the object.
    public static func object(_ words: [String]) -> [String] {
        guard words.count >= 2, let object = IPCommandRunner.object(named: words[0]) else { return [] }
        let typed = words.dropFirst()
        if typed.count == 1 { return object.verbs.filter { $0 != "lst" } }
        let verb = Arguments.match(typed.first!, object.verbs) ?? typed.first!
        let previous = words[words.count - 2]
        if ["dev", "master", "link", "br", "brport", "oif", "iif", "via"].contains(previous),
           previous != "via" || object.name == "fdb" {
            return interfaceNames()
        }
        if previous == "type", object.name != "rule" {
            return object.name == "tunnel" ? TunnelCommand.runKinds + L2TPControlLink.kinds : LinkKinds.all.map { $0.kind }
        }
        if previous == "netns" { return namespaceNames() }
        switch (object.name, verb) {
        case ("link", "add"): return LinkCommand.genericKeywords
        case ("link", "set"), ("link", "change"), ("link", "delete"):
            return typed.count == 2 ? interfaceNames() + ["dev", "group"] : LinkCommand.genericKeywords
        case ("link", _): return interfaceNames() + LinkShow.keywords
        case ("address", "show"), ("address", "list"), ("address", "flush"): return interfaceNames() + AddressCommand.listKeywords
        case ("address", _):
            return AddressCommand.modifyKeywords.names + AddressCommand.flagTable.filter { !$0.readonly }.map(\.name)
        case ("route", _): return RouteCommand.modifyKeywords.names
        case ("rule", "add"), ("rule", "delete"):
            return previous == "type" ? RuleCommand.typeWords.filter { $0 != "type" } : RuleCommand.modifyKeywords.names + RuleCommand.typeWords
        case ("rule", _): return RuleCommand.listKeywords.names
        case ("monitor", _): return MonitorCommand.objects
        case ("neighbour", "show"), ("neighbour", "list"), ("neighbour", "flush"): return NeighbourCommand.listKeywords
        case ("neighbour", _): return NeighbourCommand.modifyKeywords.names
        case ("fdb", "show"), ("fdb", "list"): return FDBCommand.showKeywords
        case ("fdb", _): return FDBCommand.modifyKeywords.names
        case ("l2tp", "add"), ("l2tp", "delete"), ("l2tp", "show"):
            return typed.count == 2 ? ["tunnel", "session"] : L2TPCommand.keywords.filter { $0 != "help" }
        case ("l2tp", "run"): return ["--config"]
        case ("tunnel", "run"): return typed.count == 2 ? [] : ["mtu", "metrics", "verbose", "type"]
        case ("tuntap", _): return TunTapCommand.keywords
        case ("vlan", "add"), ("vlan", "delete"): return VLANCommand.modifyKeywords
        case ("vlan", _): return ["dev", "vid"]
        case ("mtu", _): return MTUCommand.keywords
        case ("netns", "exec"), ("netns", "delete"), ("netns", "pids"), ("netns", "set"), ("netns", "attach"):
            return typed.count == 2 ? namespaceNames() : []
        default: return []
        }
    }

    /// This namespace's interfaces, from sysfs (no netlink socket for a keystroke).
    static func interfaceNames() -> [String] { FileSystem.entries("/sys/class/net").sorted() }

    /// Named network namespaces (ip netns's /run/netns).
    public static func namespaceNames() -> [String] { FileSystem.entries("/run/netns").sorted() }

    /// The candidates that begin with what was typed, each once, in order.
    public static func filter(_ candidates: [String], typed: String) -> [String] {
        var seen = Set<String>()
        return candidates.filter { $0.hasPrefix(typed) && seen.insert($0).inserted }
    }
}
