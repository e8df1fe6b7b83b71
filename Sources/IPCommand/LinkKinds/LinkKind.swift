import NetlinkWire

/// One link kind (`ip link add NAME type KIND ...`): parses the kind's keywords into IFLA_INFO_DATA and
/// describes IFLA_INFO_DATA for `-d` text and `-j` JSON (`linkinfo.info_data`). One small file per kind.
public protocol LinkKind: Sendable {
    /// IFLA_INFO_KIND ("vxlan", "gretap", ...).
    var kind: String { get }
    /// Parses every word after `type KIND` and writes the IFLA_INFO_DATA attributes (without the nest itself).
    /// `isAdd` is false for `link set ... type KIND ...` (change). Unknown words must raise UsageError naming the
    /// word and the valid keywords.
    func parse(_ args: inout Arguments, session: Session, isAdd: Bool, into data: inout AttributeWriter) throws
    /// Text (appended to `ip -d link show` output, after the kind name) and JSON `info_data` for decoded IFLA_INFO_DATA.
    func describe(_ data: [Attribute], session: Session) -> (text: String, json: JSONObject)
}

extension LinkKind {
    /// Kinds whose IFLA_INFO_DATA is empty (bridge without options, dummy...) need no describe.
    public func describe(_ data: [Attribute], session: Session) -> (text: String, json: JSONObject) { ("", JSONObject()) }
}

/// All kinds Isthmus knows, by IFLA_INFO_KIND. Kinds not listed still work for `add` without options
/// and show as their kind name.
public enum LinkKinds {
    public static let all: [any LinkKind] = builtin + tunnelKinds
    public static func find(_ kind: String) -> (any LinkKind)? { all.first { $0.kind == kind } }
}
