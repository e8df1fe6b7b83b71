/// What L2TPv3 control message authentication needs (RFC 3931 §4.3, §5.4.1), from this side's point of view.
public struct MessageAuthentication: Hashable, Sendable {
    /// The shared secret; a second one while switching secrets (a message is accepted when a digest matches
    /// under either). Sending uses the first. `[[]]` is the unauthenticated integrity check of §4.3.
    public var secrets: [[UInt8]]
    /// The nonce this side sent in its SCCRQ or SCCRP; nil: the message's own Nonce AVP when this side sends it,
    /// empty when it receives.
    public var localNonce: [UInt8]?
    /// The nonce the peer sent; nil: the message's own Nonce AVP when this side receives it (the SCCRP an
    /// initiator receives), empty when it sends.
    public var remoteNonce: [UInt8]?

    /// Authentication with `secret` and the two nonces.
    public init(secret: [UInt8], localNonce: [UInt8]? = nil, remoteNonce: [UInt8]? = nil) {
        self.init(secrets: [secret], localNonce: localNonce, remoteNonce: remoteNonce)
    }

    /// Authentication accepting any of `secrets` (at least one).
    public init(secrets: [[UInt8]], localNonce: [UInt8]? = nil, remoteNonce: [UInt8]? = nil) {
        self.secrets = secrets.isEmpty ? [[]] : secrets
        self.localNonce = localNonce; self.remoteNonce = remoteNonce
    }

    /// RFC 3931 §4.3: the integrity check without authentication — empty secret, local and remote nonce.
    public static let integrityOnly = MessageAuthentication(secret: [], localNonce: [], remoteNonce: [])
}

/// The Message Digest of RFC 3931 §5.4.1:
///
///     shared_key     = HMAC_MD5(shared_secret, 2)
///     Message Digest = HMAC_Hash(shared_key, local_nonce + remote_nonce + control_message)   (SCCRQ: no nonces)
///
/// where control_message runs from the flags word (after the zero session id over IP) to the end of Length, with
/// every Message Digest AVP's digest set to zeros and its Digest Type kept. The sender puts its own nonce first;
/// the receiver computes the same with the nonces reversed, i.e. also the sender's first.
public enum MessageDigest {
    /// `HMAC-MD5(secret, 2)`, the key for every digest of a control connection (whatever the digest type).
    public static func sharedKey(secret: [UInt8]) -> [UInt8] { HMAC<MD5>.mac(key: secret, [2]) }

    /// The digest of `message` (its digest fields already zero) under `key` after `nonces`.
    public static func compute(_ algorithm: DigestAlgorithm, key: [UInt8], nonces: [UInt8],
                               message: ArraySlice<UInt8>) -> [UInt8] {
        switch algorithm {
        case .hmacMD5:
            var h = HMAC<MD5>(key: key)
            h.update(nonces); h.update(message)
            return h.finalize()
        case .hmacSHA1:
            var h = HMAC<SHA1>(key: key)
            h.update(nonces); h.update(message)
            return h.finalize()
        }
    }

    /// Fills in every Message Digest AVP of the encoded message `datagram` (sent by this side) with the first
    /// secret. Throws `badAVPValue` for a malformed digest AVP, `missingDigest` when there is none.
    public static func sign(_ datagram: inout [UInt8], transport: L2TPTransport,
                            _ auth: MessageAuthentication) throws(L2TPWireError) {
        guard case .control(let header, let body) = try L2TPHeader.parse(datagram, transport: transport) else {
            throw L2TPWireError(.notControl, offset: 0)
        }
        let frames = try AVPFrame.split(datagram, body, header: header)
        let found = try locate(datagram, frames, header, strict: true)
        guard !found.digests.isEmpty else { throw L2TPWireError(.missingDigest, header: header) }
        let prefix = ControlHeader.prefixSize(transport)
        let nonces = found.isSCCRQ ? [] : (auth.localNonce ?? found.nonce ?? []) + (auth.remoteNonce ?? [])
        let zeroed = zeroing(datagram, found.digests)
        let key = sharedKey(secret: auth.secrets.first ?? [])
        for (at, algorithm) in found.digests {
            let mac = compute(algorithm, key: key, nonces: nonces, message: zeroed[prefix..<body.upperBound])
            datagram.replaceSubrange(at..<at + mac.count, with: mac)
        }
    }

    /// Checks a received message's digests (RFC 3931 §5.4.1): accepted when any Message Digest AVP matches under
    /// any secret; `missingDigest` when it has none (a ZLB included, §6.15), `badDigest` when none matches.
    public static func verify(_ datagram: [UInt8], transport: L2TPTransport,
                              _ auth: MessageAuthentication) throws(L2TPWireError) {
        guard case .control(let header, let body) = try L2TPHeader.parse(datagram, transport: transport) else {
            throw L2TPWireError(.notControl, offset: 0)
        }
        let frames = try AVPFrame.split(datagram, body, header: header)
        try verify(datagram, ControlHeader.prefixSize(transport), body.upperBound, frames, header, auth)
    }

    static func verify(_ d: [UInt8], _ prefix: Int, _ end: Int, _ frames: [AVPFrame], _ header: ControlHeader,
                       _ auth: MessageAuthentication) throws(L2TPWireError) {
        let found = try locate(d, frames, header, strict: false)
        guard !found.digests.isEmpty else { throw L2TPWireError(.missingDigest, header: header) }
        let nonces = found.isSCCRQ ? [] : (auth.remoteNonce ?? found.nonce ?? []) + (auth.localNonce ?? [])
        let zeroed = zeroing(d, found.digests)
        for secret in auth.secrets {
            let key = sharedKey(secret: secret)
            for (at, algorithm) in found.digests {
                let mac = compute(algorithm, key: key, nonces: nonces, message: zeroed[prefix..<end])
                if constantTimeEqual(mac, Array(d[at..<at + mac.count])) { return }
            }
        }
        throw L2TPWireError(.badDigest, offset: found.digests[0].at - 7, avp: .messageDigest, header: header)
    }

    /// The digest fields (offset of the digest bytes, algorithm), whether the message is an SCCRQ, and its
    /// first Nonce AVP. `strict`: a malformed Message Digest AVP throws instead of being skipped.
    static func locate(_ d: [UInt8], _ frames: [AVPFrame], _ header: ControlHeader, strict: Bool) throws(L2TPWireError)
        -> (digests: [(at: Int, algorithm: DigestAlgorithm)], isSCCRQ: Bool, nonce: [UInt8]?) {
        var digests: [(at: Int, algorithm: DigestAlgorithm)] = []
        var nonce: [UInt8]?
        var isSCCRQ = false
        for (i, f) in frames.enumerated() {
            let hidden = d[f.start] & 0x40 != 0
            let valueStart = f.start + AVP.headerSize
            let n = f.end - valueStart
            if i == 0 && f.type == .messageType && !hidden && n == 2 {
                isSCCRQ = be16(d, valueStart) == MessageType.sccrq.rawValue
            }
            if f.type == .nonce && !hidden && nonce == nil { nonce = Array(d[valueStart..<f.end]) }
            if f.type == .messageDigest {
                if !hidden, n >= 1, let algorithm = DigestAlgorithm(rawValue: d[valueStart]),
                   n == 1 + algorithm.digestLength {
                    digests.append((valueStart + 1, algorithm))
                } else if strict {
                    throw L2TPWireError(.badAVPValue, offset: f.start, avp: .messageDigest, header: header)
                }
            }
        }
        return (digests, isSCCRQ, nonce)
    }

    static func zeroing(_ d: [UInt8], _ digests: [(at: Int, algorithm: DigestAlgorithm)]) -> [UInt8] {
        var z = d
        for (at, algorithm) in digests {
            for j in at..<at + algorithm.digestLength { z[j] = 0 }
        }
        return z
    }
}
