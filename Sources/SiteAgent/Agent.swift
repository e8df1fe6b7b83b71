import Dataplane
import Foundation
import IsthmusMetrics
import Sites

/// The long-running side of `isthmus up --foreground` (and of the systemd unit): apply, then every `interval`
/// re-plan and repair drift (an interface deleted by hand, a userspace tunnel that died); on SIGTERM or SIGINT,
/// take the segment down and return.
public enum Agent {
    /// What the loop counts (a few times a minute, not a hot path), read by the metrics thread at scrape time.
    public final class Stats: @unchecked Sendable {
        let lock = NSLock()
        var runs = 0, repairs = 0, failures = 0, inSync = false
        public init() {}
        func update(_ f: (Stats) -> Void) { lock.lock(); f(self); lock.unlock() }
        public func samples(site: String) -> [MetricSample] {
            lock.lock(); defer { lock.unlock() }
            return [Families.reconcileRuns.sample([site], runs), Families.driftRepairs.sample([site], repairs),
                    Families.applyFailures.sample([site], failures), Families.siteInSync.sample([site], inSync ? 1 : 0)]
        }
    }

    /// `encryption = "ipsec"`: when no CHILD SA is installed (the peer restarted, a rekey failed), initiate again and
    /// say why it is down. (charon also retries by itself when the tunnel's packets hit the trap policies.)
    static func watch(_ ike: IKESide, _ report: (ProcessLog.Level, String) -> Void) {
        let sas: [IKESide.SAStatus]
        do { sas = try ike.status() } catch {
            report(.error, "\(error)")
            return
        }
        if sas.contains(where: { $0.state == "ESTABLISHED" && $0.children.contains { $0.state == "INSTALLED" } }) { return }
        do {
            if let f = try ike.initiate() {
                report(.warning, "ipsec \(ike.connection.name) is down: \(f.0.rawValue) (charon: \(f.1))")
            } else {
                report(.info, "ipsec \(ike.connection.name) established again")
            }
        } catch {
            report(.error, "\(error)")
        }
    }

    /// `metrics`: a server (not started yet) is given `stats` to serve; started once the first apply succeeded.
    public static func run(_ r: Reconciler, interval: Double, stats: Stats = Stats(), metrics: MetricsServer? = nil,
                           report: @escaping (ProcessLog.Level, String) -> Void) throws {
        let signals = try StopSignals()
        defer { signals.close() }

        r.log = { report(.info, $0) }
        let first: [String]
        do { first = try r.up() } catch { stats.update { $0.failures += 1 }; throw error }
        stats.update { $0.inSync = true }
        if let metrics {
            metrics.start()
            report(.info, "metrics on http://\(metrics.bound)/metrics")
        }
        defer { metrics?.stop() }
        report(.info, first.isEmpty ? "segment \(r.site.config.name): in sync" : "segment \(r.site.config.name): up (\(first.count) changes)")
        var fds = [pollfd(fd: signals.fd, events: Int16(POLLIN), revents: 0)]
        while true {
            let n = poll(&fds, 1, Int32(interval * 1000))
            if n < 0 { if errno == EINTR { continue }; break }
            if n > 0 { break }
            stats.update { $0.runs += 1 }
            do {
                let p = try r.plan()
                if !p.isEmpty {
                    report(.warning, "drift: \(p.lines.count) change\(p.lines.count == 1 ? "" : "s"); repairing")
                    stats.update { $0.inSync = false }
                    try r.up()
                    stats.update { $0.repairs += 1; $0.inSync = true }
                } else {
                    report(.debug, "check: \(r.site.config.name) in sync")
                }
                if let ike = r.ike { watch(ike, report) }
            } catch {
                stats.update { $0.failures += 1; $0.inSync = false }
                report(.error, "repair failed (will retry): \(error)")
            }
        }
        report(.info, "segment \(r.site.config.name): stopping")
        let done = try r.down()
        report(.info, "segment \(r.site.config.name): down (\(done.count) changes)")
    }
}
