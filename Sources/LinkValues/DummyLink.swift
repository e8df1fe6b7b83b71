import NetlinkWire

/// `dummy`: a device that drops what it is sent; no words, no IFLA_INFO_DATA.
public struct DummyLink: RTLinkValue {
    public static let kinds = ["dummy"]
    public var kernelModules: [String] { ["dummy"] }
    public var kind: String { "dummy" }
    public init() {}

    public init(kind: String, words: [LinkWord]) throws(LinkWordError) {
        guard kind == "dummy" else { throw LinkWordError("\"\(kind)\" is not dummy") }
        if let w = words.first { throw LinkWordError("dummy: unknown word \"\(w.key)\"; dummy takes none") }
    }

    public init?(kind: String, data: [Attribute]) {
        guard kind == "dummy" else { return nil }
    }

    public var words: [LinkWord] { [] }
    public func encode(into w: inout AttributeWriter) {}
}
