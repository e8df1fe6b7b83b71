// libFuzzer target for L2TPWire (the L2TP control protocol codecs). Built by Tools/fuzz/run together with
// Sources/L2TPWire (not through SwiftPM), with -sanitize=fuzzer,address.
//
// Input: byte 0 picks how the rest is read — bit 0: over IP (else UDP); bit 1: with the shared secret (hidden AVPs
// are revealed); bit 2: with control message authentication (the digest is checked first). The rest is one
// datagram (over IP: the bytes after the IP header).
//
// Checked (trap via `require`, a precondition that prints its message): a header's ranges lie inside the datagram
// and a control body runs from the end of the 12-byte header to Length; a parsed control message has that
// header, re-encodes without error to exactly Length bytes (after the IP prefix), and those bytes parse to the
// same message; with authentication, what parsed also verifies on its own. Hidden AVPs, digests, unknown and
// malformed AVPs all go through the same paths as in the unit tests.
// Seeds: Fuzz/corpus/l2tp, written from the unit tests' goldens (Tests/L2TPWireTests/FuzzCorpusTests.swift).

let fuzzSecret = Array("isthmus".utf8)
/// The receiving side of DigestTests: secret "isthmus", own nonce 0x22 × 16, the peer's 0x11 × 16.
let fuzzAuthentication = MessageAuthentication(secret: fuzzSecret, localNonce: [UInt8](repeating: 0x22, count: 16),
                                               remoteNonce: [UInt8](repeating: 0x11, count: 16))

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    guard size >= 1 else { return 0 }
    let mode = data[0]
    let transport: L2TPTransport = mode & 1 != 0 ? .ip : .udp
    let secret: [UInt8]? = mode & 2 != 0 ? fuzzSecret : nil
    let auth: MessageAuthentication? = mode & 4 != 0 ? fuzzAuthentication : nil
    let d = Array(UnsafeBufferPointer(start: data + 1, count: size - 1))
    let prefix = ControlHeader.prefixSize(transport)

    var controlHeader: ControlHeader?
    if let h = try? L2TPHeader.parse(d, transport: transport) {
        switch h {
        case .control(let header, let body):
            require(body.lowerBound == prefix + ControlHeader.size && body.upperBound <= d.count, "control body outside")
            require(Int(be16(d, prefix + 2)) == body.upperBound - prefix, "control body does not end at Length")
            controlHeader = header
        case .v2Data(let header, let payload):
            require(payload.lowerBound >= 6 && payload.upperBound <= d.count, "v2 payload outside")
            if header.hasLength { require(payload.upperBound == Int(be16(d, 2)), "v2 payload does not end at Length") }
        case .v3Data(_, let payload):
            require(payload == (transport == .udp ? 8 : 4)..<d.count, "v3 payload is not the rest of the datagram")
        }
    }
    _ = try? MessageDigest.verify(d, transport: transport, fuzzAuthentication)

    guard let m = try? ControlMessage.parse(d, transport: transport, secret: secret, authentication: auth) else { return 0 }
    require(m.header == controlHeader, "the message's header differs from the header parser's")
    if auth != nil { require((try? MessageDigest.verify(d, transport: transport, fuzzAuthentication)) != nil, "verified once, not twice") }
    let encoded: [UInt8]
    do { encoded = try m.encode(transport: transport, secret: secret) } catch {
        fatalError("a parsed message does not re-encode: \(error)")
    }
    require(encoded.count == Int(be16(d, prefix + 2)) + prefix, "re-encoding changed the length")
    let again = try? ControlMessage.parse(encoded, transport: transport, secret: secret)
    require(again == m, "re-encoded bytes parse differently")
    return 0
}

/// precondition, but with its message printed in -O builds too.
@inline(__always) func require(_ condition: Bool, _ message: @autoclosure () -> String) {
    if !condition { fatalError(message()) }
}
