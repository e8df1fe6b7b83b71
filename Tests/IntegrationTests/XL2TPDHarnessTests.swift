import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// The xl2tpd interop harness (Support/XL2TPD.swift) against itself: an xl2tpd LAC in one namespace, an xl2tpd LNS
/// in another, joined by a veth (10.77.0.1 and 10.77.0.2). The tunnel and the call come up (without a secret, and
/// with a secret and challenges both ways), stay up (the harness's fake pppd), go down by CDN and by StopCCN; a
/// wrong secret fails the tunnel; and with the real pppd (no /dev/ppp on this host) the call is established, then
/// cleared by a CDN. These are the log lines Isthmus's L2TPv2 interop tests wait for.
@Suite("xl2tpd interop harness: xl2tpd LAC ↔ xl2tpd LNS", .serialized,
       .enabled(if: Host.isRoot, Comment(rawValue: Host.notRootReason)),
       .enabled(if: XL2TPD.unavailableReason == nil, Comment(rawValue: XL2TPD.unavailableReason ?? "")),
       .timeLimit(.minutes(10)))
struct XL2TPDHarnessTests {
    typealias Bed = L2TPBed

    static func expectLog(_ d: XL2TPD, _ needle: String, timeout: Double = 3, _ what: String,
                          sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(d.waitForLog(needle, timeout: timeout), "\(what): no \"\(needle)\" in the log of \(d.netns):\n\(d.log)",
                sourceLocation: sourceLocation)
    }

    /// Tunnel and call up on both sides, with matching ids, and still up after `hold` seconds.
    static func expectEstablished(lac: XL2TPD, lns: XL2TPD, hold: Double = 1.5, sourceLocation: SourceLocation = #_sourceLocation) {
        expectLog(lac, "Connection established to 10.77.0.2, 1701.", "LAC tunnel", sourceLocation: sourceLocation)
        expectLog(lns, "Connection established to 10.77.0.1, 1701.", "LNS tunnel", sourceLocation: sourceLocation)
        expectLog(lns, XL2TPD.Line.lnsTunnelEstablished, "LNS tunnel", sourceLocation: sourceLocation)
        expectLog(lac, "Call established with 10.77.0.2, Local: ", "LAC call", sourceLocation: sourceLocation)
        expectLog(lns, "Call established with 10.77.0.1, PID: ", "LNS call", sourceLocation: sourceLocation)
        expectLog(lac, XL2TPD.Line.fakePPPDStarted, "LAC pppd", sourceLocation: sourceLocation)
        expectLog(lns, XL2TPD.Line.fakePPPDStarted, "LNS pppd", sourceLocation: sourceLocation)
        let t = (lac.tunnelIDs, lns.tunnelIDs), c = (lac.callIDs, lns.callIDs)
        #expect(t.0 != nil && t.0?.local == t.1?.remote && t.0?.remote == t.1?.local, "tunnel ids: LAC \(String(describing: t.0)), LNS \(String(describing: t.1))",
                sourceLocation: sourceLocation)
        #expect(c.0 != nil && c.0?.local == c.1?.remote && c.0?.remote == c.1?.local, "call ids: LAC \(String(describing: c.0)), LNS \(String(describing: c.1))",
                sourceLocation: sourceLocation)
        usleep(useconds_t(hold * 1_000_000))
        for d in [lac, lns] {
            #expect(!d.log.contains(XL2TPD.Line.tunnelClosed) && !d.log.contains(XL2TPD.Line.callClosedHere),
                    "\(d.netns): something closed within \(hold) s:\n\(d.log)", sourceLocation: sourceLocation)
        }
    }

    @Test("no secret: tunnel and call up and staying up; CDN by call id, a second call, StopCCN from the LNS")
    func withoutSecret() throws {
        let bed = try Bed("n")
        defer { bed.remove() }
        let lns = try bed.startLNS()
        defer { lns.stop() }
        let lac = try bed.startLAC()
        defer { lac.stop() }
        #expect(lns.log.contains(XL2TPD.Line.noKernelSupport), "\(lns.log)")
        try lac.dial()
        Self.expectEstablished(lac: lac, lns: lns)
        #expect(lns.log.contains("Serial: 1"))

        // CDN from the LAC ("h CALLID"): the call goes, the tunnel stays.
        try lac.hangupCall()
        Self.expectLog(lns, "Connection closed to 10.77.0.1, serial 1 (Goodbye!)", "LNS sees the CDN")
        Self.expectLog(lac, "call_close: Call \(lac.callIDs?.local ?? -1) to 10.77.0.2 disconnected", "LAC closes the call")
        #expect(!lns.log.contains("closed to 10.77.0.1, port 1701"), "the tunnel went too:\n\(lns.log)")

        // Dialling again reuses the tunnel (ICRQ only).
        try lac.dial()
        Self.expectLog(lns, "Serial: 2", "second call on the LNS")
        Self.expectLog(lac, "Call established with 10.77.0.2, Local: \(lns.callIDs?.remote ?? -1)", "second call on the LAC")
        #expect(lac.log.components(separatedBy: XL2TPD.Line.tunnelEstablished).count == 2, "a second tunnel:\n\(lac.log)")

        // StopCCN from the LNS ("d TUNNELID"), no CDN first.
        try lns.hangup()
        Self.expectLog(lac, "control_finish: Connection closed to 10.77.0.2, port 1701 (Goodbye!)", "LAC sees the StopCCN")
        Self.expectLog(lns, "closed to 10.77.0.1, port 1701 (Goodbye!)", "LNS closes the tunnel")
    }

    @Test("shared secret, both sides challenge: tunnel and call up; StopCCN from the LAC")
    func withSecret() throws {
        let bed = try Bed("s")
        defer { bed.remove() }
        let lns = try bed.startLNS(secret: "s3cret", challenge: true)
        defer { lns.stop() }
        let lac = try bed.startLAC(secret: "s3cret", challenge: true)
        defer { lac.stop() }
        try lac.dial()
        Self.expectEstablished(lac: lac, lns: lns, hold: 1)
        try lac.hangup()
        Self.expectLog(lns, "control_finish: Connection closed to 10.77.0.1, port 1701 (Goodbye!)", "LNS sees the StopCCN")
        Self.expectLog(lac, "Connection \(lac.tunnelIDs?.remote ?? -1) closed to 10.77.0.2, port 1701 (Goodbye!)", "LAC closes")
    }

    @Test("wrong secret: the LNS's challenge fails and it sends StopCCN (\"Invalid challenge authentication\")")
    func wrongSecret() throws {
        let bed = try Bed("w")
        defer { bed.remove() }
        let lns = try bed.startLNS(secret: "s3cret", challenge: true)
        defer { lns.stop() }
        let lac = try bed.startLAC(secret: "wrong")
        defer { lac.stop() }
        try lac.dial()
        Self.expectLog(lns, XL2TPD.Line.invalidAuthentication, "LNS rejects the Challenge Response")
        Self.expectLog(lac, "Connection closed to 10.77.0.2, port 1701 (Invalid challenge authentication)", "LAC gets the StopCCN")
        // The LAC thought the tunnel up (it logs that on SCCRP) and sent its ICRQ; no call came of it.
        #expect(!lns.log.contains(XL2TPD.Line.lnsTunnelEstablished) && !lns.log.contains(XL2TPD.Line.callEstablished), "\(lns.log)")
        #expect(!lac.log.contains(XL2TPD.Line.callEstablished), "\(lac.log)")
    }

    @Test("the real pppd without /dev/ppp: the call is established, then cleared by a CDN; the tunnel stays",
          .enabled(if: !FileManager.default.fileExists(atPath: "/dev/ppp"), "this host has /dev/ppp: pppd would run"))
    func realPPPD() throws {
        let bed = try Bed("p")
        defer { bed.remove() }
        let lns = try XL2TPD(netns: bed.lns, role: .lns(localIP: "192.168.77.1", ipRange: "192.168.77.10-192.168.77.20"),
                             fakePPPD: false, directory: bed.directory)
        defer { lns.stop() }
        let lac = try bed.startLAC(fakePPPD: false)
        defer { lac.stop() }
        try lac.dial()
        Self.expectLog(lac, XL2TPD.Line.callEstablished, "LAC call")
        Self.expectLog(lns, XL2TPD.Line.callEstablished, "LNS call")
        // Each pppd exits with 4 (no /dev/ppp); whichever xl2tpd notices first sends the CDN.
        let cleared = { (d: XL2TPD) in d.log.contains("to 10.77.0.2, serial 1 (") || d.log.contains("to 10.77.0.1, serial 1 (") || d.log.contains(XL2TPD.Line.callClosedHere) }
        for d in [lac, lns] {
            let deadline = Date().addingTimeInterval(3)
            while !cleared(d) && Date() < deadline { usleep(50_000) }
            #expect(cleared(d), "\(d.netns): call not cleared:\n\(d.log)")
        }
        #expect((lac.log + lns.log).contains("pppd exited for call"), "\(lac.log)\n\(lns.log)")
        #expect(!lac.log.contains("closed to 10.77.0.2, port 1701") && !lns.log.contains("closed to 10.77.0.1, port 1701"), "the tunnel went too:\n\(lac.log)\n\(lns.log)")
    }
}
