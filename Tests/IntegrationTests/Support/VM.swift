import Foundation

/// Runs test scripts as root inside a throwaway QEMU guest booted with the Debian kernel from /boot, for the
/// kernel features this host kernel lacks (L2TP, GRE, IPIP, 8021q, dummy). The guest sees the host root
/// read-only, so the built isthmus binary and the repo are at the same paths. See Tools/vm/README.md.
///
///     @Suite(.serialized, .enabled(if: VM.vmAvailable, Comment(rawValue: VM.unavailableComment)))
///     struct L2TPTests {
///         @Test func tunnel() async throws {
///             let r = try await runInVM("modprobe l2tp_eth && ip l2tp show tunnel")
///             #expect(r.status == 0, "\(r.output)")
///         }
///     }
enum VM {
    /// Repo root, from this file's path (Tests/IntegrationTests/Support/VM.swift).
    static let repoRoot: URL = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent()  // Support/
        .deletingLastPathComponent()  // IntegrationTests/
        .deletingLastPathComponent()  // Tests/
        .deletingLastPathComponent()  // repo root

    /// The harness script.
    static var harnessPath: String { repoRoot.appendingPathComponent("Tools/vm/isthmus-vm").path }

    /// True when this process already runs inside the isthmus VM (the harness sets ISTHMUS_IN_VM=1).
    static var insideVM: Bool { ProcessInfo.processInfo.environment["ISTHMUS_IN_VM"] == "1" }

    /// nil when a VM can be started; otherwise a plain sentence saying what is missing.
    static var unavailableReason: String? {
        let fm = FileManager.default
        if !fm.isExecutableFile(atPath: harnessPath) {
            return "Tools/vm/isthmus-vm is missing or not executable"
        }
        let qemuPaths = ["/usr/bin/qemu-system-x86_64", "/usr/local/bin/qemu-system-x86_64"]
        if !qemuPaths.contains(where: { fm.isExecutableFile(atPath: $0) }) {
            return "qemu-system-x86_64 is not installed (apt-get install qemu-system-x86)"
        }
        let bootFiles = (try? fm.contentsOfDirectory(atPath: "/boot")) ?? []
        let kernels = bootFiles.filter { $0.hasPrefix("vmlinuz-") && $0.hasSuffix("-amd64") }
        if kernels.isEmpty {
            return "no /boot/vmlinuz-*-amd64 kernel (apt-get install linux-image-amd64)"
        }
        if !kernels.contains(where: { fm.isReadableFile(atPath: "/boot/" + $0) }) {
            return "/boot/vmlinuz-*-amd64 is not readable (run the tests as root)"
        }
        let busyboxPaths = ["/bin/busybox", "/usr/bin/busybox"]
        if !busyboxPaths.contains(where: { fm.isExecutableFile(atPath: $0) }) {
            return "busybox is not installed (apt-get install busybox-static)"
        }
        return nil
    }

    /// Whether `runInVM` can work here.
    static var vmAvailable: Bool { unavailableReason == nil }

    /// `unavailableReason`, or "" when the VM is available (handy for `.enabled(if:_:)` comments).
    static var unavailableComment: String { unavailableReason ?? "" }
}

struct VMError: Error, CustomStringConvertible {
    var description: String
}

/// Runs `script` with bash as root inside a fresh VM and returns its exit status and its combined
/// stdout+stderr, then, after a "--- isthmus-vm (host side) stderr ---" line, anything the harness printed. The working directory in the
/// guest is the repo root; ISTHMUS_IN_VM=1 is set. Status 124 means the VM was killed after `timeout`
/// seconds, 125 that the harness itself failed (the output says why).
///
/// Each call boots its own guest (about 3 to 4 s on an idle host, TCG), so put several checks in one script.
///
/// Async, and the guest is waited for on a thread of its own: swift-testing runs tests on the cooperative pool, which
/// has one thread per core (two here), and a test blocked for minutes in a guest would hold one of them, starving
/// every other test -- and the time limits of short tests then expire before they get to run. At most
/// `VMSlots.shared.limit` guests run at once (each TCG guest keeps a host core busy); the rest wait without a thread.
@discardableResult
/// `exclusive`: the guest has the machine to itself (every slot): for load scenarios whose peers time out (xl2tpd's
/// retransmissions, LCP echoes) when two TCG guests of two vCPUs each share two cores with the host's tests. Seen:
/// 20 concurrent calls took 80 s alone and 351 s beside another guest, past the scenario's 180 s.
func runInVM(_ script: String, timeout: Int = 300, memoryMB: Int = 1024, exclusive: Bool = false) async throws -> (status: Int32, output: String) {
    let slots = exclusive ? VMSlots.shared.limit : 1
    await VMSlots.shared.acquire(slots)
    let r = await withCheckedContinuation { (c: CheckedContinuation<Result<(status: Int32, output: String), any Error>, Never>) in
        let t = Thread { c.resume(returning: Result { try runInVMBlocking(script, timeout: timeout, memoryMB: memoryMB) }) }
        t.name = "runInVM"
        t.start()
    }
    await VMSlots.shared.release(slots)   // whatever the run's outcome
    return try r.get()
}

/// How many guests may run at once, and the tests waiting for one (FIFO, without holding a thread). A request may
/// take several slots (an exclusive guest takes all); later requests wait behind it, so it is not starved.
actor VMSlots {
    static let shared = VMSlots(limit: max(1, ProcessInfo.processInfo.activeProcessorCount))
    nonisolated let limit: Int
    private var running = 0
    private var waiting: [(slots: Int, continuation: CheckedContinuation<Void, Never>)] = []

    init(limit: Int) { self.limit = limit }

    func acquire(_ slots: Int = 1) async {
        let n = min(max(slots, 1), limit)
        if waiting.isEmpty && running + n <= limit { running += n; return }
        await withCheckedContinuation { waiting.append((n, $0)) }   // the slots are handed over by release()
    }

    /// Requests waiting (for tests).
    var waitingCount: Int { waiting.count }

    func release(_ slots: Int = 1) {
        running -= min(max(slots, 1), limit)
        while let first = waiting.first, running + first.slots <= limit {
            waiting.removeFirst()
            running += first.slots
            first.continuation.resume()
        }
    }
}

private func runInVMBlocking(_ script: String, timeout: Int, memoryMB: Int) throws -> (status: Int32, output: String) {
    if let reason = VM.unavailableReason {
        throw VMError(description: "cannot start the test VM: \(reason)")
    }
    // The guest sees the host root read-only (but not the host's /tmp, which is a fresh tmpfs in the
    // guest), so the script lives under the repo.
    let dir = VM.repoRoot.appendingPathComponent(".vm-cache/scripts", isDirectory: true)
    try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    let file = dir.appendingPathComponent("test-\(UUID().uuidString).sh")
    try script.write(to: file, atomically: true, encoding: .utf8)
    defer { try? FileManager.default.removeItem(at: file) }

    // The harness's stderr (its diagnostics, and whatever the host's shell setup prints) goes to a file of its own
    // and is appended after the guest's output: on one pipe, its bytes could land inside a line of the script's
    // output and break the "=== NAME" markers the tests parse (a CI host's pyenv hook did exactly that).
    let errFile = dir.appendingPathComponent("test-\(UUID().uuidString).err")
    guard FileManager.default.createFile(atPath: errFile.path, contents: nil) else {
        throw VMError(description: "cannot create \(errFile.path)")
    }
    defer { try? FileManager.default.removeItem(at: errFile) }
    let errHandle = try FileHandle(forWritingTo: errFile)
    defer { try? errHandle.close() }

    let process = Process()
    process.executableURL = URL(fileURLWithPath: VM.harnessPath)
    process.arguments = ["--timeout", String(timeout), "--mem", String(memoryMB), "--", "/bin/bash", file.path]
    process.currentDirectoryURL = VM.repoRoot
    // No start-up files for the harness's bash (the guest's command runs with a clean environment anyway).
    var env = ProcessInfo.processInfo.environment
    env["BASH_ENV"] = nil
    env["ENV"] = nil
    process.environment = env
    let pipe = Pipe()
    process.standardOutput = pipe
    process.standardError = errHandle
    process.standardInput = FileHandle.nullDevice
    try process.run()
    let data = pipe.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    var output = String(decoding: data, as: UTF8.self)
    let err = String(decoding: (try? Data(contentsOf: errFile)) ?? Data(), as: UTF8.self)
    if !err.isEmpty {
        if !output.isEmpty && !output.hasSuffix("\n") { output += "\n" }
        output += "--- isthmus-vm (host side) stderr ---\n" + err
    }
    return (process.terminationStatus, output)
}
