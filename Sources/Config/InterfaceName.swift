/// Linux interface names as the config files may give them (the site, lab and l2tp readers check them the same way).
public enum InterfaceName {
    /// Why `name` cannot be a Linux interface name, or nil if it can.
    public static func problem(_ name: String) -> String? {
        if name.isEmpty { return "is empty" }
        if name.utf8.count > 15 { return "is \(name.utf8.count) bytes long; Linux allows at most 15 (IFNAMSIZ 16)" }
        if name == "." || name == ".." { return "is not a valid interface name" }
        for c in name.unicodeScalars {
            if c == "/" || c == ":" { return "contains '\(c)', which interface names cannot" }
            if c == "\"" || c == "\\" { return "contains '\(c)', which nftables rules cannot name" }
            if c == " " || c == "\t" || c == "\n" || c == "\r" || c.value < 0x20 || c.value == 0x7f {
                return "contains whitespace or a control character"
            }
        }
        return nil
    }
}
