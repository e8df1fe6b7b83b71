// libFuzzer target for VICIWire (strongSwan's VICI protocol, what Isthmus reads from charon's socket). Built by
// Tools/fuzz/run together with Sources/VICIWire (not through SwiftPM), with -sanitize=fuzzer,address.
//
// Input: a byte stream as it would arrive on the socket, fed to a `VICIFramer` in two pieces (split where byte 0
// says), each payload decoded as a packet.
//
// Checked (trap via `require`, a precondition that prints its message): framing and decoding throw or succeed,
// never trap; an error's offset lies inside the bytes decoded; a decoded packet encodes (names and values it read
// fit the wire's length fields by construction) and decodes again to the same packet.
// Seeds: Fuzz/corpus/vici (the golden packets of Tests/VICIWireTests/Golden, as a stream each).

func require(_ ok: Bool, _ what: @autoclosure () -> String) {
    if !ok { fatalError("vici fuzz: \(what())") }
}

@_cdecl("LLVMFuzzerTestOneInput")
public func test(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    guard let first = bytes.first else { return 0 }
    let stream = bytes.dropFirst()
    let cut = stream.startIndex + min(Int(first), stream.count)
    var framer = VICIFramer(limits: VICILimits(maxPacket: 64 * 1024, maxDepth: 16, maxElements: 10_000))
    for piece in [stream[stream.startIndex..<cut], stream[cut...]] {
        framer.append(piece)
        while true {
            let payload: [UInt8]
            do {
                guard let p = try framer.next() else { break }
                payload = p
            } catch {
                require(error.offset <= size, "framer error offset \(error.offset) beyond \(size) bytes")
                return 0
            }
            do {
                let packet = try VICIPacket(payload: payload, limits: framer.limits)
                let again: [UInt8]
                do { again = try packet.encoded(limits: framer.limits) } catch {
                    require(false, "a decoded packet does not encode: \(error)"); return 0
                }
                let back = try? VICIPacket(framed: again, limits: framer.limits)
                require(back == packet, "packet does not survive encode and decode: \(packet)")
            } catch {
                require(error.offset <= payload.count, "error offset \(error.offset) beyond a \(payload.count)-byte payload")
            }
        }
    }
    return 0
}
