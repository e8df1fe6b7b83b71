import Sites

extension FilterRuleset {
    /// One line for a plan: what the table does, e.g. "DHCP blocked, RS/RA blocked, TCP MSS 1190 (IPv4) / 1170
    /// (IPv6), across isth-lab".
    public var summary: String {
        var parts: [String] = []
        let ethernet = bridge != nil
        if ethernet, filters.dhcp == .block { parts.append("DHCP blocked") }
        if ethernet, filters.routerAdvertisements == .block { parts.append("RS/RA blocked") }
        let mss = [mssIPv4.map { "\($0) (IPv4)" }, mssIPv6.map { "\($0) (IPv6)" }].compactMap { $0 }
        if !mss.isEmpty { parts.append("TCP MSS " + mss.joined(separator: " / ")) }
        if clearDF { parts.append("DF cleared on IPv4 into the tunnel") }
        return parts.isEmpty ? "no filters" : parts.joined(separator: ", ") + ", across \(tunnel)" + (tunnelPrefix ? "*" : "")
    }
}
