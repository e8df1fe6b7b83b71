/// strtoul(s, &end, 0) with the whole string consumed: decimal, 0x hex or 0 octal, as iproute2's get_u32/get_unsigned.
enum CNumber {
    static func parse<T: FixedWidthInteger>(_ s: some StringProtocol, _: T.Type) -> T? {
        guard !s.isEmpty else { return nil }
        if s.hasPrefix("0x") || s.hasPrefix("0X") { return s.count > 2 ? T(s.dropFirst(2), radix: 16) : nil }
        if s.hasPrefix("0") && s.count > 1 { return T(s.dropFirst(), radix: 8) }
        return T(s, radix: 10)
    }
}
