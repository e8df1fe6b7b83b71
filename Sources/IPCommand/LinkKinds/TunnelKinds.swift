extension LinkKinds {
    /// gre, gretap, ip6gre, ip6gretap, ipip, sit, ip6tnl (helper-owned file).
    static let tunnelKinds: [any LinkKind.Type] = []
}
