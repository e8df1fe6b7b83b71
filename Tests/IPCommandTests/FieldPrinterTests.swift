@testable import IPCommand
import Testing

@Suite("FieldPrinter")
struct FieldPrinterTests {
    @Test("bridge timers: hundredths of a second as ip prints them, and no trap on the largest value")
    func timer() {
        var p = FieldPrinter()
        p.timer("gc_timer", 29_345)
        #expect(p.text == "gc_timer  293.45 ")
        var q = FieldPrinter()
        q.timer("hello_timer", UInt64.max)
        #expect(q.text == "hello_timer 184467440737095516.15 ")
        var r = FieldPrinter()
        r.timer("tcn_timer", 5)
        #expect(r.text == "tcn_timer    0.05 ")
    }
}
