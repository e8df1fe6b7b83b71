/// Hiding of AVP values (RFC 2661 §4.3, RFC 3931 §5.3): the value, prefixed with its 2-byte length and followed
/// by optional padding (the Hidden AVP Subformat), is XORed in 16-byte blocks with
///
///     b1 = MD5(attribute type + S + random vector)    c1 = p1 xor b1
///     bi = MD5(S + c(i-1))                             ci = pi xor bi
///
/// where S is the shared secret in v2 and the key derived from it in v3. The last block may be short; only its
/// bytes are XORed.
public enum AVPHiding {
    /// S: the shared secret itself in v2; `HMAC-MD5(secret, 1)` in v3 (RFC 3931 §5.3).
    public static func key(secret: [UInt8], version: L2TPVersion) -> [UInt8] {
        version == .v2 ? secret : HMAC<MD5>.mac(key: secret, [1])
    }

    /// The hidden value bytes for `value` (with `padding` after it) of an AVP of `attributeType`.
    public static func hide(_ value: [UInt8], padding: [UInt8] = [], attributeType: UInt16, key: [UInt8],
                            randomVector: [UInt8]) -> [UInt8] {
        var p: [UInt8] = []
        p.reserveCapacity(2 + value.count + padding.count)
        p.appendBE16(UInt16(truncatingIfNeeded: value.count))
        p += value
        p += padding
        var out = [UInt8](repeating: 0, count: p.count)
        var b = firstBlockKey(attributeType, key, randomVector)
        var i = 0
        while i < p.count {
            let end = min(i + 16, p.count)
            for j in i..<end { out[j] = p[j] ^ b[j - i] }
            if end - i == 16 { b = MD5.hash(key + out[i..<end]) }
            i = end
        }
        return out
    }

    /// The value and padding inside hidden bytes; nil when the subformat is shorter than its 2-byte length or
    /// its length exceeds what follows.
    public static func reveal(_ hidden: ArraySlice<UInt8>, attributeType: UInt16, key: [UInt8],
                              randomVector: [UInt8]) -> (value: [UInt8], padding: [UInt8])? {
        guard hidden.count >= 2 else { return nil }
        let c = Array(hidden)
        var p = [UInt8](repeating: 0, count: c.count)
        var b = firstBlockKey(attributeType, key, randomVector)
        var i = 0
        while i < c.count {
            let end = min(i + 16, c.count)
            for j in i..<end { p[j] = c[j] ^ b[j - i] }
            if end - i == 16 { b = MD5.hash(key + c[i..<end]) }
            i = end
        }
        let length = Int(be16(p, 0))
        guard length <= p.count - 2 else { return nil }
        return (Array(p[2..<2 + length]), Array(p[(2 + length)...]))
    }

    static func firstBlockKey(_ attributeType: UInt16, _ key: [UInt8], _ randomVector: [UInt8]) -> [UInt8] {
        var h = MD5()
        h.update([UInt8(attributeType >> 8), UInt8(truncatingIfNeeded: attributeType)])
        h.update(key)
        h.update(randomVector)
        return h.finalize()
    }
}

/// L2TPv2 tunnel authentication (RFC 2661 §4.4.3, §5.1.1): the Challenge Response is the CHAP response of
/// RFC 1994 §4.1, MD5(ID + secret + challenge), with the Message Type of the message carrying the response as
/// the ID (2 in an SCCRP, 3 in an SCCCN).
public enum ChallengeResponse {
    /// The 16-byte response for `challenge`, sent in a message of type `messageType`.
    public static func compute(messageType: MessageType, secret: [UInt8], challenge: [UInt8]) -> [UInt8] {
        var h = MD5()
        h.update([UInt8(truncatingIfNeeded: messageType.rawValue)])
        h.update(secret)
        h.update(challenge)
        return h.finalize()
    }
}
