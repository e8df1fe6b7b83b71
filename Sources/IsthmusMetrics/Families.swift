import DataplaneWire

/// The metric families of Isthmus's processes, in one place so their names, kinds and help never disagree.
/// Counters are the processes' own running totals, read at scrape time.
public enum Families {
    // Data plane (userspace tunnels, `tunnel run`; sessions of the L2TP agent's userspace data path).
    public static let rxPackets = MetricFamily("isthmus_dataplane_rx_packets_total", .counter, "Packets received from the tunnel and delivered to the device.", labels: ["tunnel", "session"])
    public static let rxBytes = MetricFamily("isthmus_dataplane_rx_bytes_total", .counter, "Bytes received from the tunnel and delivered to the device.", labels: ["tunnel", "session"])
    public static let txPackets = MetricFamily("isthmus_dataplane_tx_packets_total", .counter, "Packets read from the device and sent into the tunnel.", labels: ["tunnel", "session"])
    public static let txBytes = MetricFamily("isthmus_dataplane_tx_bytes_total", .counter, "Bytes read from the device and sent into the tunnel.", labels: ["tunnel", "session"])
    public static let drops = MetricFamily("isthmus_dataplane_drops_total", .counter, "Packets dropped, by reason (session '-': the engine's own).", labels: ["tunnel", "session", "reason"])

    /// The data-plane samples of one session's (or the engine's, session "-") counters.
    public static func dataplane(tunnel: String, session: String, _ s: CounterSnapshot) -> [MetricSample] {
        var out = [rxPackets.sample([tunnel, session], s.rxPackets), rxBytes.sample([tunnel, session], s.rxBytes),
                   txPackets.sample([tunnel, session], s.txPackets), txBytes.sample([tunnel, session], s.txBytes)]
        for r in DropReason.allCases { out.append(drops.sample([tunnel, session, r.name], s.drops[r] ?? 0)) }
        return out
    }

    // L2TP agent (`l2tp run`).
    public static let l2tpTunnelUp = MetricFamily("isthmus_l2tp_tunnel_up", .gauge, "1 when the control connection is established.", labels: ["agent", "tunnel"])
    public static let l2tpSessionsUp = MetricFamily("isthmus_l2tp_sessions_up", .gauge, "Sessions established in the control connection.", labels: ["agent", "tunnel"])
    public static let l2tpSent = MetricFamily("isthmus_l2tp_control_sent_total", .counter, "Control messages sent, by message type.", labels: ["agent", "tunnel", "type"])
    public static let l2tpReceived = MetricFamily("isthmus_l2tp_control_received_total", .counter, "Control messages received, by message type.", labels: ["agent", "tunnel", "type"])
    public static let l2tpDropped = MetricFamily("isthmus_l2tp_control_dropped_total", .counter, "Control messages of a connection dropped, by reason.", labels: ["agent", "tunnel", "reason"])
    public static let l2tpRetransmits = MetricFamily("isthmus_l2tp_control_retransmits_total", .counter, "Control messages retransmitted.", labels: ["agent", "tunnel"])
    public static let l2tpHellos = MetricFamily("isthmus_l2tp_hellos_total", .counter, "HELLOs sent.", labels: ["agent", "tunnel"])
    public static let l2tpUnattached = MetricFamily("isthmus_l2tp_dropped_messages_total", .counter, "Messages dropped before any connection took them, by reason.", labels: ["agent", "reason"])
    public static let l2tpSessionPackets = MetricFamily("isthmus_l2tp_session_packets_total", .counter, "Data packets of a session, by direction.", labels: ["agent", "tunnel", "session", "direction"])
    public static let l2tpSessionBytes = MetricFamily("isthmus_l2tp_session_bytes_total", .counter, "Data bytes of a session, by direction.", labels: ["agent", "tunnel", "session", "direction"])
    public static let l2tpSessionDrops = MetricFamily("isthmus_l2tp_session_drops_total", .counter, "Data packets of a session dropped, by reason.", labels: ["agent", "tunnel", "session", "reason"])
    public static let pppCalls = MetricFamily("isthmus_l2tp_ppp_calls", .gauge, "PPP calls (pppd) by state: negotiating or up.", labels: ["agent", "state"])

    // Site agent (`up --foreground`).
    public static let reconcileRuns = MetricFamily("isthmus_site_reconcile_runs_total", .counter, "Drift checks (plans against the host).", labels: ["site"])
    public static let driftRepairs = MetricFamily("isthmus_site_drift_repairs_total", .counter, "Drift checks that found changes and applied them.", labels: ["site"])
    public static let applyFailures = MetricFamily("isthmus_site_apply_failures_total", .counter, "Plans or applies that failed (retried at the next check).", labels: ["site"])
    public static let siteInSync = MetricFamily("isthmus_site_in_sync", .gauge, "1 when the last check found the host as planned.", labels: ["site"])

    // Registry agent (`up --foreground` on a fleet file).
    public static let registryRegistered = MetricFamily("isthmus_registry_registered", .gauge, "1 while the site is registered under its lease.", labels: ["site"])
    public static let registryReachable = MetricFamily("isthmus_registry_reachable", .gauge, "1 while the registry answers (0: the applied state is kept).", labels: ["site"])
    public static let registryRevision = MetricFamily("isthmus_registry_revision", .gauge, "The registry revision the agent's view reflects.", labels: ["site"])
    public static let registryPeers = MetricFamily("isthmus_registry_peers", .gauge, "Peers this site's segment joins now.", labels: ["site"])
    public static let registryApplies = MetricFamily("isthmus_registry_applies_total", .counter, "Applies that changed something.", labels: ["site"])
    public static let registryChanges = MetricFamily("isthmus_registry_changes_applied_total", .counter, "Changes made by those applies (FDB entries, devices, tables).", labels: ["site"])
    public static let registryRangeReads = MetricFamily("isthmus_registry_range_reads_total", .counter, "Full reads of the segment (the first, and after a compaction).", labels: ["site"])
    public static let registryRefused = MetricFamily("isthmus_registry_refused_total", .counter, "Registry values refused (never applied), by reason.", labels: ["site", "reason"])
    public static let registryApplyFailing = MetricFamily("isthmus_registry_apply_failing", .gauge, "1 while the last apply failed (retried at the next change or drift check).", labels: ["site"])
}
