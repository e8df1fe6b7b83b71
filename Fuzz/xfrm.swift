// libFuzzer target for NetlinkWire's XFRM decoders (what `isthmus xfrm` reads back from NETLINK_XFRM). Built by
// Tools/fuzz/run together with Sources/NetlinkWire (not through SwiftPM), with -sanitize=fuzzer,address.
//
// Input: byte 0 picks the message type the rest is read as (a state, a policy, an expire, a delete, SAD or SPD
// info, or whatever type the bytes' own netlink header says); the rest is either one message's payload (bit 7 of
// byte 0 clear) or a whole datagram of netlink messages (bit 7 set).
//
// Checked (trap via `require`, a precondition that prints its message): decoding throws or succeeds, never traps;
// a decoded state's or policy's fixed part re-encodes to exactly the bytes it was decoded from; every decoded
// algorithm's key is no longer than its payload allowed and its key length field says at least as much; templates
// come whole; a decoded ESN replay state holds no more bitmap words than bmp_len.
// Seeds: Fuzz/corpus/xfrm (the golden xfrm requests of Tests/IPCommandTests/Golden/xfrm, as payloads).

func require(_ ok: Bool, _ what: @autoclosure () -> String) {
    if !ok { fatalError("xfrm fuzz: \(what())") }
}

let types: [UInt16] = [XFRMMessageType.newSA, XFRMMessageType.updSA, XFRMMessageType.delSA, XFRMMessageType.expire,
                       XFRMMessageType.newPolicy, XFRMMessageType.updPolicy, XFRMMessageType.delPolicy,
                       XFRMMessageType.polExpire, XFRMMessageType.newSADInfo, XFRMMessageType.newSPDInfo]

func check(_ m: NetlinkMessage) {
    let p = m.payload[...]
    if let s = try? XFRMStateMessage(m) {
        if m.type == XFRMMessageType.newSA || m.type == XFRMMessageType.updSA || m.type == XFRMMessageType.expire {
            var b: [UInt8] = []
            s.info.encode(into: &b)
            let original = Array(p.prefix(XFRMUserSAInfo.size))
            // The padding bytes of the structure are written as zeros; compare the fields.
            require(b.count == XFRMUserSAInfo.size, "xfrm_usersa_info encodes to \(b.count) bytes")
            require((try? XFRMUserSAInfo(decoding: b[...])) == s.info, "xfrm_usersa_info does not round-trip")
            require(original.count == XFRMUserSAInfo.size, "decoded a short xfrm_usersa_info")
        }
        attributes(s.attributes)
    }
    if let x = try? XFRMPolicyMessage(m) {
        var b: [UInt8] = []
        x.info.encode(into: &b)
        require(b.count == XFRMUserPolicyInfo.size, "xfrm_userpolicy_info encodes to \(b.count) bytes")
        require((try? XFRMUserPolicyInfo(decoding: b[...])) == x.info, "xfrm_userpolicy_info does not round-trip")
        attributes(x.attributes)
    }
    if let i = try? XFRMSADInfo(m) { _ = i.count }
    if let i = try? XFRMSPDInfo(m) { require(i.counts == nil || i.counts?.count == 6, "SPD counts") }
}

func attributes(_ a: XFRMAttributes) {
    for alg in [a.auth, a.authTrunc, a.crypt, a.comp, a.aead].compactMap({ $0 }) {
        require(alg.key.count <= Int(alg.keyBits / 8), "key longer than alg_key_len")
        // Invalid UTF-8 becomes U+FFFD, one per byte at most: never more characters than alg_name has bytes.
        require(alg.name.unicodeScalars.count <= XFRMAlgorithm.nameLength, "algorithm name too long")
        let again = try? XFRMAlgorithm(decoding: alg.encoded[...], kind: alg.kind)
        require(again == nil || again?.key == alg.key, "algorithm does not round-trip")
    }
    if let r = a.replayESN { require(r.bitmap.count <= Int(r.bmpLen), "more bitmap words than bmp_len") }
    if let t = a.templates {
        var b: [UInt8] = []
        for x in t { x.encode(into: &b) }
        require(b.count == t.count * XFRMUserTemplate.size, "templates not whole")
    }
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    guard size >= 1 else { return 0 }
    let mode = data[0]
    let d = Array(UnsafeBufferPointer(start: data + 1, count: size - 1))
    if mode & 0x80 != 0 {
        guard let msgs = try? NetlinkMessage.parse(d) else { return 0 }
        for m in msgs { check(m) }
    } else {
        let t = types[Int(mode) % types.count]
        check(NetlinkMessage(type: t, flags: 0, payload: d))
    }
    return 0
}
