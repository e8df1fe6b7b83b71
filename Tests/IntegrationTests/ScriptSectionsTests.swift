import Testing

/// The parser every QEMU test reads its script's output with.
@Suite("scriptSections: the === NAME / === rc N markers of test scripts")
struct ScriptSectionsTests {
    @Test("sections closed by === rc N carry the status and the output exactly; text between sections is ignored")
    func withStatus() {
        let out = "boot noise\n=== a\nline 1\nline 2\n\n=== rc 0\nbetween\n=== b\n\n=== rc 3\n=== unfinished\npartial"
        let s = scriptSections(out)
        #expect(s["a"] == ScriptSection(status: 0, text: "line 1\nline 2\n"))
        #expect(s["b"] == ScriptSection(status: 3, text: ""))
        #expect(s["unfinished"] == ScriptSection(status: nil, text: "partial"))
        #expect(s.count == 3)
        #expect(s["a"]?.failed == false && s["b"]?.failed == true && s["unfinished"]?.failed == false)
    }

    @Test("sections without a status end at the next marker or at the end")
    func withoutStatus() {
        let s = scriptSections("=== A\n[1]\n=== B\n[2]\n=== end\n")
        #expect(s["A"]?.text == "[1]" && s["A"]?.status == nil)
        #expect(s["B"]?.text == "[2]")
        #expect(s["end"]?.text == "")
    }

    @Test("a marker glued to the end of someone else's line is not a marker (hence runInVM keeps stderr apart)")
    func gluedMarker() {
        let s = scriptSections("hook: enable: cannot=== modprobe\n\n=== rc 0\n")
        #expect(s["modprobe"] == nil)
    }
}

@Suite("VM slots")
struct VMSlotsTests {
    @Test("an exclusive request waits for every slot, and later single ones wait behind it (FIFO, no starvation)")
    func exclusive() async {
        let slots = VMSlots(limit: 2)
        await slots.acquire(1)
        let order = OrderLog()
        let big = Task { await slots.acquire(2); await order.add("exclusive") }
        while await slots.waitingCount == 0 { await Task.yield() }
        let small = Task { await slots.acquire(1); await order.add("single") }
        while await slots.waitingCount < 2 { await Task.yield() }
        #expect(await order.items.isEmpty)
        await slots.release(1)
        await big.value
        #expect(await order.items == ["exclusive"])
        await slots.release(2)
        await small.value
        #expect(await order.items == ["exclusive", "single"])
        await slots.release(1)
    }

    actor OrderLog {
        var items: [String] = []
        func add(_ s: String) { items.append(s) }
    }
}
