import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// What UserspaceKernelInteropTests needs (outside the suite: its traits cannot refer to the suite itself).
enum InteropEnvironment {
    /// The isthmus executable of this build: next to the test bundle, else the repo's .build/debug/isthmus.
    static var isthmusBinary: String? {
        let fm = FileManager.default
        if let exe = try? fm.destinationOfSymbolicLink(atPath: "/proc/self/exe") {
            let sibling = URL(fileURLWithPath: exe).deletingLastPathComponent().appendingPathComponent("isthmus").path
            if fm.isExecutableFile(atPath: sibling) { return sibling }
        }
        return Host.isthmusBinary
    }

    /// Tools the script needs: the guest runs the host's binaries.
    static var missingTools: [String] {
        ["tcpdump", "socat", "nft", "python3", "ping", "ss", "base64", "ip", "taskset"].filter { !Host.which($0) }
    }
}

/// The userspace data plane (`isthmus tunnel run`) against the kernel's own tunnels, in the qemu VM (this host kernel
/// has no l2tp, gre or ipip modules). For each pair, namespace aN runs the kernel's tunnel (built with iproute2) and
/// namespace bN runs `isthmus -n bN tunnel run`, joined by a veth pair (underlay 192.168.N.1 and .2, overlay
/// 10.77.N.1 and .2): pings both ways (small, and filling the MTU with DF), ARP, 1 MiB over TCP, the counters of
/// `tunnel show -j`, a clean SIGTERM; and on the wire (one ping captured in aN, decoded with tshark on this host)
/// both senders must write the same encapsulation. Everything runs in ONE VM boot (TCG is slow): the suite's tests
/// share the output of one script.
///
/// Three things about the test bed, not about isthmus, that the script corrects so that it behaves like two hosts
/// on a wire:
/// - veth passes packets between namespaces with checksums still to be completed (CHECKSUM_PARTIAL): the kernel's
///   gretap/ipip/fou leave the inner TCP checksum, and with `csum` the GRE checksum itself, to the "hardware", and
///   the receiving kernel trusts the flag. A userspace receiver reads plain bytes from its socket and sees wrong
///   checksums (TCP over the tunnel stalls; `csum` frames all count as bad_checksum). A NIC would have completed
///   them, so tx checksumming is switched off on the veths (SIOCETHTOOL; ethtool is not installed everywhere).
/// - veth hands each packet to the backlog of the CPU that sent it: with two CPUs the receiving namespace sees
///   them reordered, and every sequence-checking receiver (the kernel's l2tp, isthmus) drops the late ones. RPS
///   puts the veths' receive work on one CPU, which keeps the order as a wire would.
/// - The l2tp/gre/ipip modules are loaded for namespace A, but modules are per kernel: the kernel's own gre and
///   ipip handlers in namespace B find no kernel tunnel there for the packets isthmus receives (through its raw
///   socket, which gets a copy) and answer each one with ICMP port unreachable; the kernel's ipip peer then reports
///   link failures to its senders. bN drops those errors (nft), and the test checks no ICMP reaches the wire.
@Suite("Userspace data plane ↔ the kernel's tunnels (VM)", .serialized,
       .enabled(if: VM.vmAvailable || VM.insideVM, Comment(rawValue: VM.unavailableComment)),
       .enabled(if: InteropEnvironment.isthmusBinary != nil, "the isthmus binary is not built (swift build first)"),
       .enabled(if: InteropEnvironment.missingTools.isEmpty,
                Comment(rawValue: "missing in the guest (= this host): " + InteropEnvironment.missingTools.joined(separator: ", "))))
struct UserspaceKernelInteropTests {
    static var isthmusBinary: String? { InteropEnvironment.isthmusBinary }

    // MARK: the pairs

    /// How the tunnel looks on the wire, for tshark.
    struct Wire: Sendable {
        /// The outer IP protocol of the tunnel's packets (first ip.proto of the packet).
        var outerProtocol: String
        /// tshark options to decode what the kernel (A) sends, and what isthmus (B) sends.
        var kernelOptions: [String] = []
        var isthmusOptions: [String] = []
        /// Fields (their outermost occurrence) whose values must be the same in both directions.
        var same: [String]
        /// Fields with the value every packet of that sender must carry (tshark's "show" form).
        var kernelSends: [String: String]
        var isthmusSends: [String: String]
        /// A per-packet sequence number that must count up by one from each sender.
        var sequence: String? = nil
        /// The fields under this prefix present in the packets must be the same set for both senders.
        var header: String
    }

    struct Pair: Sendable, CustomTestStringConvertible {
        var name: String
        var n: Int
        var title: String
        /// The tunnel device, same name on both sides.
        var device: String
        var ethernet: Bool
        /// `ip -n aN` words, in order.
        var kernel: [String]
        /// The words after `isthmus -n bN tunnel run DEVICE`.
        var isthmus: String
        /// tcpdump filter for the tunnel's packets (" or icmp" is added).
        var capture: String
        /// Raw IP socket on a protocol the kernel in bN also handles (see the suite's comment on ICMP).
        var kernelHandlerInB: Bool
        var wire: Wire
        /// More script run after the pair's checks, before its namespaces go.
        var afterwards: String = ""
        var testDescription: String { title }

        var a: String { "192.168.\(n).1" }
        var b: String { "192.168.\(n).2" }
    }

    static func l2tpOptions(cookie: Int) -> [String] {
        ["-o", "l2tp.cookie_size:\(cookie) Byte Cookie", "-o", "l2tp.l2_specific:Default L2-Specific", "-d", "l2tp.pw_type==0,eth"]
    }

    /// The L2TPv3/IP pair restarted with a wrong peer_cookie (the kernel sends 0a0b0c0d).
    static let badCookieWords = "type l2tpv3 tunnel_id 4 peer_tunnel_id 3 session_id 44 peer_session_id 33 encap ip local 192.168.2.2 remote 192.168.2.1 cookie 1112131415161718 peer_cookie 0a0b0c0e seq both"

    static let pairs: [Pair] = [
        Pair(name: "l2tpudp", n: 1, title: "L2TPv3 over UDP, 8-byte cookie from the kernel, 4-byte from isthmus", device: "pw0", ethernet: true,
             kernel: ["l2tp add tunnel tunnel_id 1 peer_tunnel_id 2 encap udp local 192.168.1.1 remote 192.168.1.2 udp_sport 1701 udp_dport 1701",
                      "l2tp add session name pw0 tunnel_id 1 session_id 11 peer_session_id 22 cookie 0102030405060708 peer_cookie a1b2c3d4"],
             isthmus: "type l2tpv3 tunnel_id 2 peer_tunnel_id 1 session_id 22 peer_session_id 11 encap udp local 192.168.1.2 remote 192.168.1.1 udp_sport 1701 udp_dport 1701 cookie a1b2c3d4 peer_cookie 0102030405060708",
             capture: "udp port 1701", kernelHandlerInB: false,
             wire: Wire(outerProtocol: "17", kernelOptions: l2tpOptions(cookie: 8), isthmusOptions: l2tpOptions(cookie: 4),
                        same: ["udp.srcport", "udp.dstport", "l2tp.flags", "l2tp.res", "l2tp.l2_spec_s"],
                        kernelSends: ["l2tp.sid": "0x00000016", "l2tp.cookie": "01:02:03:04:05:06:07:08", "l2tp.flags": "0x0003", "l2tp.l2_spec_s": "0"],
                        isthmusSends: ["l2tp.sid": "0x0000000b", "l2tp.cookie": "a1:b2:c3:d4", "l2tp.flags": "0x0003", "l2tp.l2_spec_s": "0"],
                        header: "l2tp.")),
        Pair(name: "l2tpip", n: 2, title: "L2TPv3 over IP, cookies, seq both", device: "pw0", ethernet: true,
             kernel: ["l2tp add tunnel tunnel_id 3 peer_tunnel_id 4 encap ip local 192.168.2.1 remote 192.168.2.2",
                      "l2tp add session name pw0 tunnel_id 3 session_id 33 peer_session_id 44 cookie 0a0b0c0d peer_cookie 1112131415161718 seq both"],
             isthmus: "type l2tpv3 tunnel_id 4 peer_tunnel_id 3 session_id 44 peer_session_id 33 encap ip local 192.168.2.2 remote 192.168.2.1 cookie 1112131415161718 peer_cookie 0a0b0c0d seq both",
             capture: "ip proto 115", kernelHandlerInB: false,
             wire: Wire(outerProtocol: "115", kernelOptions: l2tpOptions(cookie: 4), isthmusOptions: l2tpOptions(cookie: 8),
                        same: ["ip.proto", "l2tp.l2_spec_s"],
                        kernelSends: ["l2tp.sid": "0x0000002c", "l2tp.cookie": "0a:0b:0c:0d", "l2tp.l2_spec_s": "1"],
                        isthmusSends: ["l2tp.sid": "0x00000021", "l2tp.cookie": "11:12:13:14:15:16:17:18", "l2tp.l2_spec_s": "1"],
                        sequence: "l2tp.l2_spec_sequence", header: "l2tp."),
             afterwards: """
                 # Negative: isthmus expects a cookie the kernel does not send. Nothing gets through; bad_cookie counts.
                 section badcookie-start start 2 pw0 \(badCookieWords)
                 section badcookie-overlay bash -c 'ip -n b2 addr add 10.77.2.2/24 dev pw0 && ip -n b2 link set pw0 up && ip -n a2 neigh flush dev pw0'
                 section badcookie-ping ip netns exec a2 ping -c 3 -i 0.2 -W 1 10.77.2.2
                 section badcookie-show $I -n b2 -j tunnel show
                 section badcookie-stop stop 2 pw0 $PID
                 """),
        Pair(name: "gretap", n: 3, title: "GRETAP with key 77", device: "gt0", ethernet: true,
             kernel: ["link add gt0 type gretap local 192.168.3.1 remote 192.168.3.2 key 77"],
             isthmus: "type gretap local 192.168.3.2 remote 192.168.3.1 key 77",
             capture: "ip proto 47", kernelHandlerInB: true,
             wire: Wire(outerProtocol: "47", same: ["ip.proto", "gre.flags_and_version", "gre.key", "gre.proto"],
                        kernelSends: ["gre.flags_and_version": "0x2000", "gre.key": "0x0000004d", "gre.proto": "0x6558"],
                        isthmusSends: ["gre.flags_and_version": "0x2000", "gre.key": "0x0000004d", "gre.proto": "0x6558"],
                        header: "gre.")),
        Pair(name: "gretapcs", n: 4, title: "GRETAP with csum and seq", device: "gt0", ethernet: true,
             kernel: ["link add gt0 type gretap local 192.168.4.1 remote 192.168.4.2 csum seq"],
             isthmus: "type gretap local 192.168.4.2 remote 192.168.4.1 csum seq",
             capture: "ip proto 47", kernelHandlerInB: true,
             wire: Wire(outerProtocol: "47", same: ["ip.proto", "gre.flags_and_version", "gre.proto", "gre.checksum.status"],
                        kernelSends: ["gre.flags_and_version": "0x9000", "gre.proto": "0x6558", "gre.checksum.status": "1"],
                        isthmusSends: ["gre.flags_and_version": "0x9000", "gre.proto": "0x6558", "gre.checksum.status": "1"],
                        sequence: "gre.sequence_number", header: "gre.")),
        Pair(name: "ipip", n: 5, title: "IPIP (TUN on the isthmus side)", device: "ipip0", ethernet: false,
             kernel: ["link add ipip0 type ipip local 192.168.5.1 remote 192.168.5.2"],
             isthmus: "type ipip local 192.168.5.2 remote 192.168.5.1",
             capture: "ip proto 4", kernelHandlerInB: true,
             wire: Wire(outerProtocol: "4", same: ["ip.proto", "ip.version", "ip.hdr_len"],
                        kernelSends: ["ip.proto": "4"], isthmusSends: ["ip.proto": "4"], header: "ip.")),
        Pair(name: "fou", n: 6, title: "GRE in UDP (gretap encap fou)", device: "gu0", ethernet: true,
             kernel: ["fou add port 4754 ipproto 47",
                      "link add gu0 type gretap remote 192.168.6.2 local 192.168.6.1 encap fou encap-sport auto encap-dport 4754"],
             isthmus: "type gretap remote 192.168.6.1 local 192.168.6.2 encap fou encap-dport 4754",
             capture: "udp port 4754", kernelHandlerInB: false,
             wire: Wire(outerProtocol: "17", same: ["udp.dstport", "gre.flags_and_version", "gre.proto"],
                        kernelSends: ["udp.dstport": "4754", "gre.flags_and_version": "0x0000", "gre.proto": "0x6558"],
                        isthmusSends: ["udp.dstport": "4754", "gre.flags_and_version": "0x0000", "gre.proto": "0x6558"],
                        header: "gre.")),
    ]

    // MARK: the script

    static func script(isthmus: String) -> String {
        var s = #"""
            set -u
            I=\#(isthmus)
            export SWIFT_BACKTRACE=enable=no
            START=$(date +%s%N)
            ms() { echo "$(( ($(date +%s%N) - $1) / 1000000 )) ms"; }
            # "=== NAME", the command's output verbatim, a newline, "=== rc N".
            section() { local name=$1; shift; echo "=== $name"; "$@" >/tmp/section.out 2>&1; local rc=$?; cat /tmp/section.out; printf '\n=== rc %d\n' $rc; }

            # underlay N...: namespaces aN and bN joined by veth vaN (192.168.N.1/24) and vbN (.2/24). Like a NIC and
            # unlike veth, checksums are complete when a frame leaves; like a wire, frames arrive in the order sent.
            underlay() {
                local n devs=()
                for n; do
                    ip netns add a$n && ip netns add b$n && ip link add va$n type veth peer name vb$n || return 1
                    devs+=(va$n vb$n)
                done
                python3 - "${devs[@]}" <<'PY' || return 1
            import ctypes, fcntl, socket, struct, sys
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            def ethtool(dev, cmd, data=0):
                buf = ctypes.create_string_buffer(struct.pack("II", cmd, data), 8)
                fcntl.ioctl(s, 0x8946, struct.pack("16sQ16x", dev.encode(), ctypes.addressof(buf)))  # SIOCETHTOOL
                return struct.unpack("II", buf.raw)[1]
            for dev in sys.argv[1:]:
                ethtool(dev, 0x17, 0)  # ETHTOOL_STXCSUM off
                if ethtool(dev, 0x16):  # ETHTOOL_GTXCSUM
                    sys.exit(dev + ": tx checksumming is still on")
            print("tx checksumming off:", *sys.argv[1:])
            PY
                for n; do
                    ip link set va$n netns a$n && ip link set vb$n netns b$n &&
                    ip -n a$n link set lo up && ip -n b$n link set lo up &&
                    ip -n a$n addr add 192.168.$n.1/24 dev va$n && ip -n a$n link set va$n up &&
                    ip -n b$n addr add 192.168.$n.2/24 dev vb$n && ip -n b$n link set vb$n up &&
                    ip netns exec a$n sh -c "echo 1 > /sys/class/net/va$n/queues/rx-0/rps_cpus" &&
                    ip netns exec b$n sh -c "echo 1 > /sys/class/net/vb$n/queues/rx-0/rps_cpus" || return 1
                done
                echo "receive on CPU 0: $(ip netns exec b1 cat /sys/class/net/vb1/queues/rx-0/rps_cpus)"
            }
            # icmpfilter N: bN drops the ICMP port unreachable its kernel's gre/ipip handlers send for isthmus's packets.
            icmpfilter() {
                ip netns exec b$1 nft -f - <<'NFT'
            table ip interop {
                chain output {
                    type filter hook output priority 0; policy accept;
                    icmp type destination-unreachable icmp code port-unreachable counter drop
                }
            }
            NFT
            }
            # kernel N WORDS...: `ip -n aN WORDS` for each argument.
            kernel() { local n=$1 c; shift; for c in "$@"; do echo "ip -n a$n $c"; ip -n a$n $c || return 1; done; }
            # start N DEV WORDS...: `isthmus -n bN tunnel run DEV WORDS` in the background; PID is its pid.
            PID=0
            start() {
                local n=$1 dev=$2; shift 2
                local log=/tmp/run-b$n-$dev.log
                $I -n b$n tunnel run $dev "$@" >$log 2>&1 &
                PID=$!
                echo "pid $PID"
                for _ in $(seq 150); do
                    if ! kill -0 $PID 2>/dev/null; then wait $PID; echo "exited early: $?"; cat $log; return 1; fi
                    if grep -q running $log && ip -n b$n link show $dev >/dev/null 2>&1; then cat $log; return 0; fi
                    sleep 0.1
                done
                echo "did not come up"; cat $log; return 1
            }
            # stop N DEV PID: SIGTERM, wait (5 s at most); fails unless it exited 0 and DEV is gone.
            stop() {
                local n=$1 dev=$2 pid=$3 rc
                kill -TERM $pid
                for _ in $(seq 50); do kill -0 $pid 2>/dev/null || break; sleep 0.1; done
                if kill -0 $pid 2>/dev/null; then echo "still running 5 s after SIGTERM: SIGKILL"; kill -KILL $pid; fi
                wait $pid; rc=$?
                echo "exit $rc"
                cat /tmp/run-b$n-$dev.log
                if ip -n b$n link show $dev >/dev/null 2>&1; then echo "device $dev left behind"; return 1; fi
                return $rc
            }
            # overlay N DEV: 10.77.N.1/24 on aN's DEV, .2/24 on bN's, both up.
            overlay() {
                ip -n a$1 addr add 10.77.$1.1/24 dev $2 && ip -n a$1 link set $2 up &&
                ip -n b$1 addr add 10.77.$1.2/24 dev $2 && ip -n b$1 link set $2 up
            }
            # capture N NAME FILTER -- CMD...: tcpdump on vaN while CMD runs, into /tmp/NAME.pcap.
            capture() {
                local n=$1 name=$2 filter=$3 rc tpid; shift 4
                ip netns exec a$n tcpdump -i va$n -U --immediate-mode -n -w /tmp/$name.pcap "$filter" >/tmp/$name.tcpdump 2>&1 &
                tpid=$!
                for _ in $(seq 100); do grep -q "listening on" /tmp/$name.tcpdump && break; sleep 0.05; done
                "$@"; rc=$?
                sleep 0.3
                kill -INT $tpid; wait $tpid
                cat /tmp/$name.tcpdump
                return $rc
            }
            # bigping NS DEV ADDR: one ping that fills DEV's MTU exactly, with DF.
            bigping() {
                local size=$(( $(ip netns exec $1 cat /sys/class/net/$2/mtu) - 28 ))
                ip netns exec $1 ping -c 1 -W 3 -M do -s $size $3
            }
            # tcp N: 1 MiB of random bytes over TCP from bN (isthmus side) to aN (kernel side); the copy must be identical.
            # The receiver runs on CPU 0, where RPS also puts vaN's receive work: the kernel side then sends (ACKs)
            # from one CPU only, and its sequence numbers (seq both, GRE seq) reach the wire in order.
            tcp() {
                local n=$1 spid t0
                head -c 1048576 /dev/urandom >/tmp/tcp-$n.src
                ip netns exec a$n taskset -c 0 timeout 30 socat -u TCP-LISTEN:5000,bind=10.77.$n.1,reuseaddr OPEN:/tmp/tcp-$n.dst,creat,trunc &
                spid=$!
                for _ in $(seq 50); do ip netns exec a$n ss -ltn | grep -q ':5000 ' && break; sleep 0.1; done
                t0=$(date +%s%N)
                if ! ip netns exec b$n timeout 20 socat -u OPEN:/tmp/tcp-$n.src TCP:10.77.$n.1:5000,connect-timeout=10; then
                    echo "client failed"; kill $spid
                fi
                wait $spid; echo "server exited $?"
                echo "transfer $(ms $t0)"
                cmp /tmp/tcp-$n.src /tmp/tcp-$n.dst && echo "received 1048576 identical bytes"
            }
            mtus() { echo "kernel $(ip netns exec a$1 cat /sys/class/net/$2/mtu) isthmus $(ip netns exec b$1 cat /sys/class/net/$2/mtu)"; }

            section modprobe modprobe -a tun l2tp_eth l2tp_ip ip_gre ipip fou
            section underlay underlay \#(pairs.map { String($0.n) }.joined(separator: " "))
            section setup-elapsed ms $START

            """#
        for p in pairs {
            let n = p.n, d = p.device, x = p.name
            s += "\n# \(p.title)\nT=$(date +%s%N)\n"
            s += "section \(x)-kernel kernel \(n) " + p.kernel.map { "'\($0)'" }.joined(separator: " ") + "\n"
            if p.kernelHandlerInB { s += "section \(x)-icmpfilter-add icmpfilter \(n)\n" }
            s += """
                section \(x)-start start \(n) \(d) \(p.isthmus)
                section \(x)-overlay overlay \(n) \(d)
                section \(x)-ping-ab capture \(n) \(x) "\(p.capture) or icmp" -- ip netns exec a\(n) ping -c 3 -i 0.2 -W 3 10.77.\(n).2
                section \(x)-pcap base64 -w 0 /tmp/\(x).pcap
                section \(x)-ping-ba ip netns exec b\(n) ping -c 3 -i 0.2 -W 3 10.77.\(n).1
                section \(x)-bigping-ab bigping a\(n) \(d) 10.77.\(n).2
                section \(x)-bigping-ba bigping b\(n) \(d) 10.77.\(n).1

                """
            if p.ethernet {
                s += """
                    section \(x)-neigh-a ip -n a\(n) neigh show 10.77.\(n).2 dev \(d)
                    section \(x)-neigh-b ip -n b\(n) neigh show 10.77.\(n).1 dev \(d)
                    section \(x)-mac-a ip netns exec a\(n) cat /sys/class/net/\(d)/address
                    section \(x)-mac-b ip netns exec b\(n) cat /sys/class/net/\(d)/address

                    """
            }
            s += """
                section \(x)-tcp tcp \(n)
                section \(x)-mtu mtus \(n) \(d)
                section \(x)-show $I -n b\(n) -j tunnel show
                section \(x)-snmp6 ip netns exec b\(n) cat /proc/net/dev_snmp6/\(d)

                """
            if p.kernelHandlerInB { s += "section \(x)-icmpfilter ip netns exec b\(n) nft list chain ip interop output\n" }
            s += """
                section \(x)-stop stop \(n) \(d) $PID
                section \(x)-after $I -n b\(n) -j tunnel show
                \(p.afterwards)
                section \(x)-elapsed ms $T
                ip netns del a\(n); ip netns del b\(n)

                """
        }
        s += "section total-elapsed ms $START\n"
        return s
    }

    // MARK: the one VM run

    struct Run: Sendable {
        var status: Int32
        var output: String
        var seconds: Double
        var sections: [String: ScriptSection]

        subscript(_ name: String) -> ScriptSection? { sections[name] }

        /// The sections of one pair, for failure messages.
        func context(_ prefix: String) -> String {
            sections.filter { $0.key.hasPrefix(prefix + "-") && !$0.key.hasSuffix("-pcap") }
                .sorted { $0.key < $1.key }
                .map { "--- \($0.key) (rc \($0.value.status.map(String.init) ?? "none"))\n\($0.value.text)" }.joined(separator: "\n")
        }
    }

    /// The script's run, once for the whole suite (a task, so that the tests waiting for it hold no thread).
    static let outcome = Task<Run, any Error> {
        guard let bin = isthmusBinary else { throw VMError(description: "the isthmus binary is not built") }
        let script = Self.script(isthmus: bin)
        let t0 = Date()
        let r = VM.insideVM ? try Host.run(["bash", "-c", script]) : try await runInVM(script, timeout: 420)
        let run = Run(status: r.status, output: r.output, seconds: Date().timeIntervalSince(t0), sections: scriptSections(r.output))
        var timing = "UserspaceKernelInteropTests: one VM run, \(String(format: "%.1f", run.seconds)) s"
        func took(_ section: String) -> String { run[section]?.text.trimmingCharacters(in: .whitespacesAndNewlines) ?? "?" }
        timing += " (in the guest: setup \(took("setup-elapsed"))"
        for p in pairs { timing += ", \(p.name) \(took("\(p.name)-elapsed"))" }
        timing += ", total \(took("total-elapsed")))"
        print(timing)
        return run
    }

    static func vmRun() async throws -> Run {
        let run = try await outcome.value
        try #require(run.status == 0 && run["total-elapsed"] != nil, "the VM script did not finish (status \(run.status)):\n\(run.output.suffix(4000))")
        try #require(run["modprobe"]?.status == 0, "the VM kernel lacks modules:\n\(run["modprobe"]?.text ?? run.output)")
        try #require(run["underlay"]?.status == 0, "underlay setup failed:\n\(run["underlay"]?.text ?? run.output)")
        return run
    }

    // MARK: tunnel show -j

    /// The userspace tunnel `device` in a `tunnel show -j` output (nil: not listed).
    static func userspaceTunnel(_ json: String?, _ device: String) -> [String: Any]? {
        guard let json, let list = try? JSONSerialization.jsonObject(with: Data(json.utf8)) as? [[String: Any]] else { return nil }
        return list.first { $0["ifname"] as? String == device && $0["dataplane"] as? String == "userspace" }
    }

    static func stats(_ t: [String: Any]) -> [String: Any] {
        ((t["sessions"] as? [[String: Any]])?.first?["stats"] as? [String: Any]) ?? [:]
    }

    static func nonZero(_ d: Any?) -> [String: Int] { ((d as? [String: Int]) ?? [:]).filter { $0.value != 0 } }

    static func snmp6(_ text: String?, _ key: String) -> Int? {
        for line in (text ?? "").split(separator: "\n") {
            let w = line.split(whereSeparator: { $0 == " " || $0 == "\t" })
            if w.count == 2, w[0] == key { return Int(w[1]) }
        }
        return nil
    }

    // MARK: tests

    @Test("ping both ways, MTU-sized pings, ARP, 1 MiB over TCP, counters, clean stop", arguments: pairs)
    func traffic(_ p: Pair) async throws {
        let run = try await Self.vmRun()
        let x = p.name
        let context = { "\n\n\(run.context(x))" }
        func ran(_ step: String) {
            let s = run["\(x)-\(step)"]
            #expect(s?.status == 0, "\(x)-\(step) failed (rc \(s?.status ?? -1)):\n\(s?.text ?? "missing")\(context())")
        }
        for step in ["kernel", "start", "overlay", "ping-ab", "ping-ba", "bigping-ab", "bigping-ba", "tcp", "show", "stop"] { ran(step) }
        if p.kernelHandlerInB { ran("icmpfilter-add") }
        for step in ["ping-ab", "ping-ba"] {
            #expect(run["\(x)-\(step)"]?.text.contains(" 3 received, 0% packet loss") == true, "\(x)-\(step)\(context())")
        }
        #expect(run["\(x)-tcp"]?.text.contains("received 1048576 identical bytes") == true, "\(x)-tcp\(context())")

        // ARP crossed both ways: each side has the other's overlay address at the other's MAC.
        if p.ethernet {
            let macA = run["\(x)-mac-a"]?.text.trimmingCharacters(in: .whitespacesAndNewlines) ?? "?"
            let macB = run["\(x)-mac-b"]?.text.trimmingCharacters(in: .whitespacesAndNewlines) ?? "?"
            #expect(macB.count == 17 && run["\(x)-neigh-a"]?.text.contains("lladdr \(macB)") == true,
                    "the kernel side has no neighbour entry for isthmus's \(macB): \(run["\(x)-neigh-a"]?.text ?? "")\(context())")
            #expect(macA.count == 17 && run["\(x)-neigh-b"]?.text.contains("lladdr \(macA)") == true,
                    "the isthmus side has no neighbour entry for the kernel's \(macA): \(run["\(x)-neigh-b"]?.text ?? "")\(context())")
        }

        // Counters: traffic both ways, nothing dropped.
        let show = run["\(x)-show"]?.text
        let t = try #require(Self.userspaceTunnel(show, p.device), "tunnel show -j lists no userspace \(p.device):\n\(show ?? "")\(context())")
        let st = Self.stats(t)
        // 1 MiB from isthmus is at least 1048576 / 1440 (the largest MSS here) = 729 packets; the kernel sends the
        // pings and TCP's ACKs (how many depends on delayed ACKs and GRO).
        #expect((st["rx_packets"] as? Int ?? 0) > 20 && (st["tx_packets"] as? Int ?? 0) > 729,
                "rx/tx packets after pings and 1 MiB of TCP: \(st)")
        #expect((st["rx_bytes"] as? Int ?? 0) > 0 && (st["tx_bytes"] as? Int ?? 0) > 1_048_576, "rx/tx bytes: \(st)")
        var drops = Self.nonZero(st["drops"])
        if !p.ethernet, let unsupported = drops["unsupported"] {
            // An IPv4-only IPIP device cannot carry the IPv6 its TUN device sends (router solicitations, MLD): at
            // most as many as the kernel's IPv6 sent on it, counted before isthmus read them.
            let ipv6Out = Self.snmp6(run["\(x)-snmp6"]?.text, "Ip6OutRequests") ?? 0
            #expect(unsupported <= ipv6Out, "unsupported drops \(unsupported) > IPv6 packets sent on \(p.device) \(ipv6Out)")
            drops["unsupported"] = nil
        }
        #expect(drops.isEmpty, "\(x): dropped \(drops)\n\(show ?? "")")
        #expect(Self.nonZero(t["other_drops"]).isEmpty, "\(x): other drops \(Self.nonZero(t["other_drops"]))\n\(show ?? "")")

        // SIGTERM: exit 0, the device and the status socket are gone.
        #expect(run["\(x)-stop"]?.text.contains("exit 0") == true, "\(run["\(x)-stop"]?.text ?? "")")
        #expect(run["\(x)-after"]?.status == 0 && Self.userspaceTunnel(run["\(x)-after"]?.text, p.device) == nil,
                "still listed after SIGTERM: \(run["\(x)-after"]?.text ?? "")")

        let icmp = run["\(x)-icmpfilter"]?.text.firstMatch(of: /counter packets (\d+)/).map { Int($0.1) ?? 0 } ?? 0
        print("UserspaceKernelInteropTests \(x): \(run["\(x)-mtu"]?.text.trimmingCharacters(in: .whitespacesAndNewlines) ?? "") "
              + "rx \(st["rx_packets"] ?? "?") tx \(st["tx_packets"] ?? "?") drops \(Self.nonZero(st["drops"])) "
              + (p.kernelHandlerInB ? "ICMP port unreachable from bN's kernel (dropped): \(icmp) " : "")
              + "\(run["\(x)-tcp"]?.text.firstMatch(of: /transfer \d+ ms/).map { String($0.0) } ?? "")")
    }

    @Test("a wrong peer_cookie on the L2TPv3/IP pair: no ping, bad_cookie counted")
    func wrongCookie() async throws {
        let run = try await Self.vmRun()
        let context = { "\n\n\(run.context("badcookie"))" }
        #expect(run["badcookie-start"]?.status == 0, "\(context())")
        #expect(run["badcookie-overlay"]?.status == 0, "\(context())")
        #expect(run["badcookie-ping"]?.failed == true && run["badcookie-ping"]?.text.contains(" 0 received") == true,
                "the ping must fail when isthmus expects another cookie\(context())")
        let show = run["badcookie-show"]?.text
        let t = try #require(Self.userspaceTunnel(show, "pw0"), "\(show ?? "")\(context())")
        let st = Self.stats(t)
        let drops = Self.nonZero(st["drops"])
        #expect((drops["bad_cookie"] ?? 0) > 0, "bad_cookie not counted: \(drops)\n\(show ?? "")")
        #expect(drops.keys.allSatisfy { $0 == "bad_cookie" }, "other drops: \(drops)")
        #expect(st["rx_packets"] as? Int == 0, "frames with the wrong cookie were delivered: \(st)")
        #expect(run["badcookie-stop"]?.status == 0 && run["badcookie-stop"]?.text.contains("exit 0") == true, "\(context())")
    }

    // MARK: the wire

    /// One decoded packet: its fields in PDML order (name, tshark's "show" value), and expert problems (warning or
    /// worse, malformed).
    struct Packet {
        var fields: [(name: String, show: String)] = []
        var problems: [String] = []
        func first(_ name: String) -> String? { fields.first { $0.name == name }?.show }
        var description: String { fields.filter { $0.name.hasPrefix("ip.src") || $0.name == "frame.number" }.map { "\($0.name)=\($0.show)" }.joined(separator: " ") }
    }

    static func attribute(_ key: String, _ line: Substring) -> String? {
        guard let r = line.range(of: " \(key)=\"") else { return nil }
        let rest = line[r.upperBound...]
        guard let end = rest.firstIndex(of: "\"") else { return nil }
        return String(rest[..<end]).replacingOccurrences(of: "&quot;", with: "\"").replacingOccurrences(of: "&#x27;", with: "'")
            .replacingOccurrences(of: "&lt;", with: "<").replacingOccurrences(of: "&gt;", with: ">").replacingOccurrences(of: "&amp;", with: "&")
    }

    /// tshark's PDML, one element per line.
    static func packets(pdml: String) -> [Packet] {
        var out: [Packet] = []
        var current: Packet?
        var message: String?
        for raw in pdml.split(separator: "\n") {
            let line = raw.drop { $0 == " " }
            if line.hasPrefix("<packet") { current = Packet(); continue }
            if line.hasPrefix("</packet") { if let c = current { out.append(c) }; current = nil; continue }
            guard current != nil, let name = attribute("name", line) else { continue }
            let show = attribute("show", line) ?? ""
            switch name {
            case "_ws.malformed": current!.problems.append("malformed: " + (attribute("showname", line) ?? ""))
            case "_ws.expert.message": message = show
            case "_ws.expert.severity":
                // 0x600000 warning, 0x800000 error (notes and chats are fine: "TTL only 1" on MLD, for instance).
                if let severity = Int(show), severity >= 0x60_0000 { current!.problems.append(message ?? "expert severity \(severity)") }
            default: break
            }
            current!.fields.append((name, show))
        }
        return out
    }

    /// Runs a command; returns its status and standard output (standard error appended after a marker).
    static func capture(_ args: [String]) throws -> (status: Int32, stdout: String, stderr: String) {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = args
        let out = Pipe(), err = Pipe()
        p.standardOutput = out; p.standardError = err; p.standardInput = FileHandle.nullDevice
        try p.run()
        let o = out.fileHandleForReading.readDataToEndOfFile()
        let e = err.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return (p.terminationStatus, String(decoding: o, as: UTF8.self), String(decoding: e, as: UTF8.self))
    }

    @Test("the kernel and isthmus write the same encapsulation; tshark finds nothing malformed", arguments: pairs)
    func wire(_ p: Pair) async throws {
        try #require(Host.which("tshark"), "tshark is not installed on this host (apt-get install tshark)")
        let run = try await Self.vmRun()
        let x = p.name, w = p.wire
        let b64 = try #require(run["\(x)-pcap"]?.text.trimmingCharacters(in: .whitespacesAndNewlines), "no capture for \(x)")
        let data = try #require(Data(base64Encoded: b64), "the capture of \(x) is not base64: \(b64.prefix(200))")
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("isthmus-interop-\(getpid())-\(x).pcap")
        try data.write(to: file)
        defer { try? FileManager.default.removeItem(at: file) }

        let checksums = ["-o", "ip.check_checksum:TRUE", "-o", "udp.check_checksum:TRUE", "-o", "tcp.check_checksum:TRUE"]
        var decoded: [(who: String, packets: [Packet], icmp: Int)] = []
        for (who, source, options) in [("kernel", p.a, w.kernelOptions), ("isthmus", p.b, w.isthmusOptions)] {
            let r = try Self.capture(["tshark", "-n", "-r", file.path] + checksums + options + ["-Y", "ip.src==\(source)", "-T", "pdml"])
            try #require(r.status == 0, "tshark failed on \(x): \(r.stderr)")
            let all = Self.packets(pdml: r.stdout)
            // The tunnel's packets; outer ICMP (an error about a tunnel packet also contains its headers) separately.
            let tunnel = all.filter { $0.first("ip.proto") == w.outerProtocol }
            decoded.append((who, tunnel, all.filter { $0.first("ip.proto") == "1" }.count))
        }
        let (kernel, isthmus) = (decoded[0], decoded[1])

        for d in decoded {
            // The ping (3 echo requests from A, 3 replies from B), plus ARP and IPv6 chatter on the Ethernet kinds.
            #expect(d.packets.count >= 3, "\(x): \(d.packets.count) tunnel packets from \(d.who) in the capture")
            #expect(d.icmp == 0, "\(x): \(d.icmp) ICMP packets from the \(d.who) side on the wire")
            for pkt in d.packets where !pkt.problems.isEmpty {
                Issue.record("\(x): tshark reports on a packet from \(d.who) (\(pkt.description)): \(pkt.problems)")
            }
            let expected = d.who == "kernel" ? w.kernelSends : w.isthmusSends
            for (field, value) in expected.sorted(by: { $0.key < $1.key }) {
                let seen = Set(d.packets.map { $0.first(field) ?? "absent" })
                #expect(seen == [value], "\(x): \(d.who) sends \(field) \(seen.sorted()), expected \(value)")
            }
            if let seqField = w.sequence {
                let seqs = d.packets.compactMap { $0.first(seqField).flatMap { Int($0) } }
                #expect(seqs.count == d.packets.count, "\(x): \(d.who) sends packets without \(seqField)")
                let steps = zip(seqs, seqs.dropFirst()).map { $1 - $0 }
                #expect(steps.allSatisfy { $0 == 1 }, "\(x): \(d.who)'s \(seqField) does not count up by one: \(seqs)")
            }
        }
        // Field by field, both senders the same.
        for field in w.same {
            let k = Set(kernel.packets.compactMap { $0.first(field) }), i = Set(isthmus.packets.compactMap { $0.first(field) })
            #expect(!k.isEmpty && k == i, "\(x): \(field) kernel \(k.sorted()) isthmus \(i.sorted())")
        }
        // The same header fields present at all (cookie, sublayer, key, checksum, sequence number...).
        let names = { (d: [Packet]) in Set(d.flatMap { $0.fields.map(\.name) }.filter { $0.hasPrefix(w.header) }) }
        let kn = names(kernel.packets), inames = names(isthmus.packets)
        #expect(kn == inames, "\(x): header fields only from the kernel \(kn.subtracting(inames).sorted()), only from isthmus \(inames.subtracting(kn).sorted())")

        // For the record (not checked): the outer IP header fields each side chose.
        func outer(_ d: [Packet], _ f: String) -> String { Set(d.compactMap { $0.first(f) }).sorted().joined(separator: "/") }
        let report = ["ip.flags.df", "ip.ttl", "ip.dsfield", "udp.checksum.status"].compactMap { f in
            let k = outer(kernel.packets, f), i = outer(isthmus.packets, f)
            return k.isEmpty && i.isEmpty ? nil : "\(f) kernel \(k) isthmus \(i)"
        }
        let compared = (w.same + w.kernelSends.keys + (w.sequence.map { [$0] } ?? [])).reduce(into: [String]()) { if !$0.contains($1) { $0.append($1) } }
        print("UserspaceKernelInteropTests wire \(x): \(kernel.packets.count) kernel / \(isthmus.packets.count) isthmus packets; "
              + compared.map { f in "\(f) \(outer(kernel.packets, f)) | \(outer(isthmus.packets, f))" }.joined(separator: "; ")
              + "; outer: " + report.joined(separator: "; "))
    }
}
