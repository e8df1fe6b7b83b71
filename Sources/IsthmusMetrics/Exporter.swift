import Foundation
import Prometheus

/// One metric family: a name, what it means, counter or gauge, and the names of its labels.
public struct MetricFamily: Hashable, Sendable {
    public enum Kind: Sendable { case counter, gauge }
    public let name: String
    public let help: String
    public let kind: Kind
    public let labels: [String]
    public init(_ name: String, _ kind: Kind, _ help: String, labels: [String] = []) {
        self.name = name; self.kind = kind; self.help = help; self.labels = labels
    }

    /// A value of this family for the label values `values` (in the order of `labels`).
    public func sample(_ values: [String], _ value: Double) -> MetricSample {
        MetricSample(family: self, labelValues: values, value: value, integer: nil)
    }
    public func sample(_ values: [String], _ value: UInt64) -> MetricSample {
        MetricSample(family: self, labelValues: values, value: Double(value), integer: Int64(clamping: value))
    }
    public func sample(_ values: [String], _ value: Int) -> MetricSample {
        MetricSample(family: self, labelValues: values, value: Double(value), integer: Int64(value))
    }
}

/// A value read at scrape time from a counter the process already keeps (nothing is counted twice on the hot path).
public struct MetricSample: Sendable {
    public let family: MetricFamily
    public let labelValues: [String]
    public let value: Double
    /// The exact value of an integer counter (a Double loses precision above 2^53).
    public let integer: Int64?
}

/// Renders samples in the Prometheus text exposition format (version 0.0.4) through swift-prometheus's
/// `PrometheusCollectorRegistry`: each label set gets a `Counter` (reset, then set to the process's own running total)
/// or a `Gauge`; a label set absent from a scrape (a session that went away) is unregistered. Thread-safe: renders
/// are serialized.
public final class MetricsExporter: @unchecked Sendable {
    let registry = PrometheusCollectorRegistry()
    let lock = NSLock()
    var families: [String: MetricFamily] = [:]
    var counters: [String: Counter] = [:]
    var gauges: [String: Gauge] = [:]

    public init() {}

    /// Samples whose family disagrees with an earlier family of the same name (kind, help or label names), or whose
    /// label values do not match its label names, are skipped: swift-prometheus would stop the process on them.
    public func render(_ samples: [MetricSample]) -> [UInt8] {
        lock.lock(); defer { lock.unlock() }
        var seen = Set<String>()
        for s in samples {
            let f = s.family
            guard s.labelValues.count == f.labels.count, Set(f.labels).count == f.labels.count, s.value.isFinite else { continue }
            if let known = families[f.name] { guard known == f else { continue } } else { families[f.name] = f }
            let labels = Array(zip(f.labels, s.labelValues))
            let key = f.name + "\u{0}" + s.labelValues.joined(separator: "\u{0}")
            guard seen.insert(key).inserted else { continue }
            switch f.kind {
            case .counter:
                let c = counters[key] ?? {
                    let c = f.labels.isEmpty ? registry.makeCounter(name: f.name, help: f.help)
                                             : registry.makeCounter(name: f.name, labels: labels, help: f.help)
                    counters[key] = c
                    return c
                }()
                c.reset()
                if let i = s.integer { c.increment(by: max(0, i)) } else { c.increment(by: max(0, s.value)) }
            case .gauge:
                let g = gauges[key] ?? {
                    let g = f.labels.isEmpty ? registry.makeGauge(name: f.name, help: f.help)
                                             : registry.makeGauge(name: f.name, labels: labels, help: f.help)
                    gauges[key] = g
                    return g
                }()
                g.set(s.value)
            }
        }
        for (k, c) in counters where !seen.contains(k) { registry.unregisterCounter(c); counters[k] = nil }
        for (k, g) in gauges where !seen.contains(k) { registry.unregisterGauge(g); gauges[k] = nil }
        return registry.emitToBuffer()
    }
}
