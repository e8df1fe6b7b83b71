#!/usr/bin/env bash
# Benchmark: the L2TP control-message digests, the hand-written MD5/SHA-1/HMAC that L2TPWire had until issue 16
# (taken from git at BASE, default 44b12d9) against the swift-crypto ones it uses now, interleaved in one process:
# ROUNDS rounds, each timing ITER digests with the old code, then ITER with the new, alternating which goes first;
# the median ns per digest of each side is printed. The digests are what a control connection computes per message:
# HMAC-MD5 and HMAC-SHA-1 (RFC 3931 §5.4.1) over two 16-byte nonces and a 120-byte ICRQ-sized message under the
# shared key, and the key itself (HMAC-MD5(secret, 2), once per connection); MD5 of 16 + 16 bytes (AVP hiding).
# Both sides are checked to agree on every input first. Built -O -wmo; L2TPWire and Crypto from `swift build -c release`.
# usage: Tools/bench/digest.sh [ROUNDS=21] [ITER=20000] [BASE=44b12d9]
set -euo pipefail
cd "$(dirname "$0")/../.."
ROUNDS=${1:-21}
ITER=${2:-20000}
BASE=${3:-44b12d9}
swift build -c release --target L2TPWire >/dev/null
bin=$(swift build -c release --show-bin-path)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# The old implementation, its types renamed so both live in one module.
git show "$BASE:Sources/L2TPWire/Hash.swift" | sed -E \
    -e 's/\bHashFunction\b/OldHashFunction/g; s/\bMD5\b/OldMD5/g; s/\bSHA1\b/OldSHA1/g; s/\bHMAC\b/OldHMAC/g' \
    -e 's/\bBlockBuffer\b/OldBlockBuffer/g; s/\brotl\b/oldRotl/g; s/\bconstantTimeEqual\b/oldConstantTimeEqual/g' \
    > "$tmp/Old.swift"
cat > "$tmp/main.swift" <<'SWIFT'
import Glibc
import L2TPWire

func now() -> UInt64 { var t = timespec(); clock_gettime(CLOCK_MONOTONIC, &t); return UInt64(t.tv_sec) * 1_000_000_000 + UInt64(t.tv_nsec) }
@inline(never) func sink(_ b: [UInt8]) { if b.isEmpty { print("") } }

let args = CommandLine.arguments
let rounds = Int(args[1])!, iter = Int(args[2])!
let secret = Array("a shared secret of some length".utf8)
let nonces = (0..<32).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ 7) }
let message = (0..<120).map { UInt8(truncatingIfNeeded: $0 &* 13 &+ 1) }[...]
let key = OldHMAC<OldMD5>.mac(key: secret, [2])
let cases: [(String, () -> [UInt8], () -> [UInt8])] = [
    ("HMAC-SHA-1 digest of a 120-byte message", {
        var h = OldHMAC<OldSHA1>(key: key); h.update(nonces); h.update(message); return h.finalize()
    }, { MessageDigest.compute(.hmacSHA1, key: key, nonces: nonces, message: message) }),
    ("HMAC-MD5 digest of a 120-byte message", {
        var h = OldHMAC<OldMD5>(key: key); h.update(nonces); h.update(message); return h.finalize()
    }, { MessageDigest.compute(.hmacMD5, key: key, nonces: nonces, message: message) }),
    ("shared key HMAC-MD5(secret, 2)", { OldHMAC<OldMD5>.mac(key: secret, [2]) }, { MessageDigest.sharedKey(secret: secret) }),
    ("MD5 of 32 bytes (AVP hiding)", { OldMD5.hash(nonces) }, { MD5.hash(nonces) }),
]
print("ns per operation, median of \(rounds) rounds of \(iter) (min..max)")
for (name, old, new) in cases {
    precondition(old() == new(), "\(name): the two implementations disagree")
    var o: [Double] = [], n: [Double] = []
    for r in 0..<rounds {
        func time(_ f: () -> [UInt8]) -> Double {
            let t0 = now(); for _ in 0..<iter { sink(f()) }; return Double(now() - t0) / Double(iter)
        }
        if r % 2 == 0 { o.append(time(old)); n.append(time(new)) } else { n.append(time(new)); o.append(time(old)) }
    }
    o.sort(); n.sort()
    func f(_ a: [Double]) -> String { "\(Int(a[a.count / 2].rounded())) (\(Int(a.first!.rounded()))..\(Int(a.last!.rounded())))" }
    print("\(name): hand-written \(f(o)), swift-crypto \(f(n)), new/old \((n[n.count / 2] / o[o.count / 2] * 100).rounded() / 100)")
}
SWIFT
objects=()
for m in L2TPWire Crypto CryptoBoringWrapper CCryptoBoringSSLShims CCryptoBoringSSL; do
    while IFS= read -r -d '' o; do objects+=("$o"); done < <(find "$bin/$m.build" -name '*.o' -print0)
done
# -wmo: as SwiftPM builds release (the old generic HMAC specialised, as it was inside L2TPWire). BoringSSL has C++
# objects: -lstdc++.
swiftc -O -wmo -module-name DigestBench -I "$bin/Modules" "$tmp/Old.swift" -o "$tmp/bench" -lstdc++ \
    "$tmp/main.swift" "${objects[@]}" 2>&1 | grep -v warning || true
"$tmp/bench" "$ROUNDS" "$ITER"
