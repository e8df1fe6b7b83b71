import IPCommand
@testable import TunnelHost
import Testing

@Suite("tunnel run: the metrics and verbose keywords")
struct TunnelRunMetricsTests {
    @Test("metrics ADDR:PORT and verbose are taken before type; a device may still be named metrics with name")
    func keywords() throws {
        var a = Arguments(["vx0", "metrics", "127.0.0.1:9550", "verbose", "type", "vxlan", "id", "1"])
        #expect(try TunnelRun.takeMetrics(&a)?.description == "127.0.0.1:9550")
        #expect(TunnelRun.takeVerbose(&a))
        #expect(a.remaining == ["vx0", "type", "vxlan", "id", "1"])
        var named = Arguments(["name", "metrics", "type", "vxlan"])
        #expect(try TunnelRun.takeMetrics(&named) == nil)
        #expect(named.remaining == ["name", "metrics", "type", "vxlan"])
        var after = Arguments(["vx0", "type", "vxlan", "metrics", "1.2.3.4:5"])
        #expect(try TunnelRun.takeMetrics(&after) == nil, "words after type are the kind's")
        for bad in [["vx0", "metrics", "type", "vxlan"], ["vx0", "metrics", "host:1", "type", "vxlan"], ["vx0", "metrics", "1.2.3.4:99999"]] {
            var b = Arguments(bad)
            #expect(throws: UsageError.self, "\(bad)") { try TunnelRun.takeMetrics(&b) }
        }
    }
}
