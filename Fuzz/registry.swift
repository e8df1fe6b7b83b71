// libFuzzer target for RegistryWire's decoders (what a site agent reads from its registry: every other agent's
// value, and anyone's who can write the registry). Built by Tools/fuzz/run together with Sources/RegistryWire (not
// through SwiftPM), with -sanitize=fuzzer,address.
//
// Input: one registry value, decoded as a site entry (with and without the name its key gives), as an agent's sync
// record, and as JSON; byte 0 also picks whether the key's name is "east" or the value's own.
//
// Checked (trap via `require`, a precondition that prints its message): decoding succeeds or fails with a reason,
// never traps; a decoded entry is valid (name, 1+ addresses of one family, neither unspecified nor multicast, MTU
// 576...65535), and re-encodes to a value that decodes to the same entry; an entry refused for its name alone under
// a key decodes without one; JSON that parses re-encodes to text that parses to the same value.
// Seeds: Fuzz/corpus/registry (written by hand: valid entries, an agent record, refusals).

func require(_ ok: Bool, _ what: @autoclosure () -> String) {
    if !ok { fatalError("registry fuzz: \(what())") }
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    let keyName: String? = (bytes.first ?? 0) & 1 == 0 ? "east" : nil
    switch RegistryEntry.decode(bytes, expectedName: keyName) {
    case let .success(e):
        require(RegistryEntry.validName(e.name), "decoded an invalid name")
        require(!e.addresses.isEmpty && e.addresses.allSatisfy { $0.isV6 == e.address.isV6 && !$0.isUnspecified && !$0.isMulticast },
                "decoded unusable addresses")
        require((576...65535).contains(e.lanMTU), "decoded LAN MTU \(e.lanMTU)")
        require((try? RegistryEntry.decode(e.bytes, expectedName: e.name).get()) == e, "an entry does not round-trip")
    case let .failure(why):
        if why.reason == .nameMismatch {
            require((try? RegistryEntry.decode(bytes).get()) != nil, "refused for its name, but not decodable without one")
        }
    }
    _ = AgentSyncRecord.decode(bytes)
    if bytes.count <= RegistryEntry.maxBytes, case let .success(v) = JSONValue.parse(bytes) {
        require((try? JSONValue.parse(Array(v.text.utf8)).get()) == v, "JSON does not round-trip")
    }
    return 0
}
