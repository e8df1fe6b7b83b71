import Dataplane
import Foundation
import Sites

/// The long-running side of `isthmus up --foreground` (and of the systemd unit): apply, then every `interval`
/// re-plan and repair drift (an interface deleted by hand, a userspace tunnel that died); on SIGTERM or SIGINT,
/// take the segment down and return.
public enum Agent {
    public static func run(_ r: Reconciler, interval: Double, report: @escaping (String) -> Void) throws {
        let signals = try StopSignals()
        defer { signals.close() }

        r.log = { report($0) }
        let first = try r.up()
        report(first.isEmpty ? "segment \(r.site.config.name): in sync" : "segment \(r.site.config.name): up (\(first.count) changes)")
        var fds = [pollfd(fd: signals.fd, events: Int16(POLLIN), revents: 0)]
        while true {
            let n = poll(&fds, 1, Int32(interval * 1000))
            if n < 0 { if errno == EINTR { continue }; break }
            if n > 0 { break }
            do {
                let p = try r.plan()
                if !p.isEmpty {
                    report("drift: \(p.lines.count) change\(p.lines.count == 1 ? "" : "s"); repairing")
                    try r.up()
                }
            } catch {
                report("repair failed (will retry): \(error)")
            }
        }
        report("segment \(r.site.config.name): stopping")
        let done = try r.down()
        report("segment \(r.site.config.name): down (\(done.count) changes)")
    }
}
