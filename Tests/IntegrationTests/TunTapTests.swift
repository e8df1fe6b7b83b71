import Foundation
import Testing

/// `tuntap add|del` leaves the same device `ip tuntap add` does: a persistent TAP owned by the given user.
@Suite("tuntap", .enabled(if: Host.isRoot, "needs root"))
struct TunTapTests {
    @Test("persistent tap with owner, then removed")
    func persistentTap() throws {
        let ns = Namespaces("tuntap")
        defer { ns.removeAll() }
        let viaIP = try ns.make("ip"), viaLib = try ns.make("lib")
        try Host.sh("ip -n \(viaIP) tuntap add dev tap0 mode tap user 65534")
        _ = try Host.isthmus("tuntap add dev tap0 mode tap user 65534", netns: viaLib)
        #expect(try KernelState.links(viaLib) == KernelState.links(viaIP))
        #expect(try Host.sh("ip -n \(viaLib) -d link show tap0").contains("persist on user nobody"))
        _ = try Host.isthmus("tuntap del dev tap0 mode tap", netns: viaLib)
        #expect(!(try Host.sh("ip -n \(viaLib) -br link show")).contains("tap0"))
    }
}
