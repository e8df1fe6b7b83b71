// swift-tools-version:6.1
import PackageDescription

let package = Package(
    name: "Isthmus",
    platforms: [.macOS(.v13)],
    products: [
        .library(name: "Addresses", targets: ["Addresses"]),
        .library(name: "Config", targets: ["Config"]),
        .library(name: "NetlinkWire", targets: ["NetlinkWire"]),
        .library(name: "LinkValues", targets: ["LinkValues"]),
        .library(name: "Netlink", targets: ["Netlink"]),
        .library(name: "IPCommand", targets: ["IPCommand"]),
        .library(name: "DataplaneWire", targets: ["DataplaneWire"]),
        .library(name: "Dataplane", targets: ["Dataplane"]),
        .library(name: "Sites", targets: ["Sites"]),
        .library(name: "SiteAgent", targets: ["SiteAgent"]),
        .library(name: "Lab", targets: ["Lab"]),
        .library(name: "L2TPWire", targets: ["L2TPWire"]),
        .library(name: "L2TPProtocol", targets: ["L2TPProtocol"]),
        .library(name: "L2TPAgent", targets: ["L2TPAgent"]),
        .library(name: "TunnelHost", targets: ["TunnelHost"]),
        .library(name: "VICIWire", targets: ["VICIWire"]),
        .library(name: "VICI", targets: ["VICI"]),
        .library(name: "Etcd", targets: ["Etcd"]),
        .executable(name: "isthmus", targets: ["IsthmusCLI"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
        .package(url: "https://github.com/apple/swift-crypto", from: "3.12.3"),
        .package(url: "https://github.com/apple/swift-collections", from: "1.6.0"),
        // The etcd v3 client (issue 18): gRPC over HTTP/2 with code generated from etcd's protos (Sources/EtcdAPI).
        .package(url: "https://github.com/grpc/grpc-swift-2", from: "2.4.3"),
        .package(url: "https://github.com/grpc/grpc-swift-nio-transport", from: "2.9.2"),
        .package(url: "https://github.com/grpc/grpc-swift-protobuf", from: "2.4.1"),
        .package(url: "https://github.com/apple/swift-protobuf", from: "1.39.0"),
    ],
    targets: [
        // Kernel uapi constants, taken from linux-libc-dev's headers, plus tiny shims.
        .target(name: "CLinuxUAPI"),
        // Pure, no Foundation or libc: IPAddress/IPPrefix, the one address type of every layer (parsed and printed as
        // glibc's inet_pton/inet_ntop do).
        .target(name: "Addresses"),
        // Pure, no Foundation: config files read from text — the TOML parser with source positions, TOMLValidating
        // (typed accessors collecting FILE:LINE:COL errors), "did you mean" suggestions, interface-name checks.
        .target(name: "Config"),
        // Pure: netlink message and attribute codecs, rtnetlink/genetlink/l2tp message models.
        .target(name: "NetlinkWire", dependencies: ["Addresses", "CLinuxUAPI"]),
        // Pure: one typed value per link kind (VXLANLink, GRELink, IPTunnelLink, L2TPSessionLink, L2TPControlLink):
        // words <-> value <-> IFLA_INFO_DATA. Below both the command language and the site planner, so both read a kind
        // the same way and dependencies point down.
        .target(name: "LinkValues", dependencies: ["NetlinkWire", "CLinuxUAPI"]),
        // I/O: netlink sockets, request/ack/dump, batching, namespaces; rtnetlink and l2tp clients.
        .target(name: "Netlink", dependencies: ["NetlinkWire", "CLinuxUAPI"]),
        // Pure: tunnel encapsulations (VXLAN, L2TPv3 data, GRE, IP-in-IP), checksums, TCP segmentation/coalescing.
        .target(name: "DataplaneWire", dependencies: ["Addresses", "CLinuxUAPI"]),
        // Pure: L2TP control wire codecs (v2/v3 headers, AVPs with hiding, messages, digests; MD5/SHA-1/HMAC from
        // swift-crypto).
        .target(name: "L2TPWire", dependencies: [.product(name: "Crypto", package: "swift-crypto")]),
        // I/O: the userspace forwarding engine (TAP/TUN with vnet headers, batched UDP/raw sockets, threads, status).
        .target(name: "Dataplane", dependencies: ["DataplaneWire", "Netlink", "NetlinkWire", "CLinuxUAPI"]),
        // Pure: the L2TP control protocol's reliable delivery and state machines (events in, actions out; time a parameter).
        .target(name: "L2TPProtocol", dependencies: ["L2TPWire", .product(name: "HeapModule", package: "swift-collections")]),
        // I/O: runs L2TP control connections over UDP sockets (LAC/LNS), and gives established sessions a data path:
        // the kernel's (genetlink, tunnel socket handed over) or the userspace one (TAP + the same socket).
        .target(name: "L2TPAgent", dependencies: ["L2TPProtocol", "L2TPWire", "Dataplane", "DataplaneWire", "Netlink", "NetlinkWire", "Config", "Addresses", "IsthmusMetrics", "CLinuxUAPI", "VICIWire", "VICI", "SiteAgent"]),
        // I/O: Prometheus metrics of the long-running processes — samples taken at scrape time from the counters the
        // processes already keep, rendered by swift-prometheus, served by a small HTTP/1.0 responder on its own thread.
        .target(name: "IsthmusMetrics", dependencies: ["DataplaneWire", .product(name: "Prometheus", package: "swift-prometheus"),
                                                       .product(name: "CoreMetrics", package: "swift-metrics")]),
        // Pure: site configuration, validation, planning, MTU/MSS arithmetic.
        .target(name: "Sites", dependencies: ["LinkValues", "Config", "Addresses", "VICIWire"]),
        // iproute2-compatible command language: keyword parser -> request values, executor, printer.
        .target(name: "IPCommand", dependencies: ["LinkValues", "Netlink", "NetlinkWire", "Sites"]),
        // I/O: hosts userspace tunnels — `tunnel run NAME type KIND ...` (the words parsed by IPCommand's link kinds into
        // LinkValues' values, then a Dataplane engine) and `type l2tp-control` (an L2TPAgent daemon for one pseudowire).
        .target(name: "TunnelHost", dependencies: ["IPCommand", "LinkValues", "Dataplane", "DataplaneWire", "L2TPAgent", "L2TPWire", "IsthmusMetrics", "Netlink", "NetlinkWire", "CLinuxUAPI"]),
        // I/O: the site reconciler — observes the host over netlink, applies a plan with rollback, nftables filters
        // (libnftables, loaded at run time), userspace tunnel processes, status, systemd unit.
        .target(name: "SiteAgent", dependencies: ["Sites", "LinkValues", "IPCommand", "Netlink", "NetlinkWire", "Dataplane", "IsthmusMetrics", "CLinuxUAPI", "VICI"]),
        // Labs: namespace topologies from a TOML file, built and torn down (state on disk), and their checks.
        .target(name: "Lab", dependencies: ["Sites", "SiteAgent", "IPCommand", "Netlink", "NetlinkWire", "CLinuxUAPI"]),
        // Pure: strongSwan's VICI protocol — the message tree (sections, keys, lists), packets, stream framing; the
        // decoder bounded and fuzzed.
        .target(name: "VICIWire"),
        // I/O: the VICI client on charon's Unix socket (commands, streamed commands, events; errors that say
        // whether charon is installed or running).
        .target(name: "VICI", dependencies: ["VICIWire"]),
        // Generated, not edited: etcd v3.4's protos (Tools/etcd-api) as swift-protobuf messages and grpc-swift-2 client
        // stubs, package visibility. Regenerated by Tools/gen-etcd-api, never by a build.
        .target(name: "EtcdAPI", dependencies: [.product(name: "SwiftProtobuf", package: "swift-protobuf"),
                                                .product(name: "GRPCCore", package: "grpc-swift-2"),
                                                .product(name: "GRPCProtobuf", package: "grpc-swift-protobuf")]),
        // I/O: the etcd v3 client — KV, create-if-absent, leases with keep-alive, prefix watches that resume from their
        // revision — over gRPC (h2c or TLS) with failover between endpoints.
        .target(name: "Etcd", dependencies: ["EtcdAPI", .product(name: "GRPCCore", package: "grpc-swift-2"),
                                             .product(name: "GRPCNIOTransportHTTP2Posix", package: "grpc-swift-nio-transport")]),
        // Pure, no Foundation: a fleet registry's values — `RegistryEntry` (what a site registers) and its JSON codec
        // (bounded, never traps: fuzzed as Fuzz/registry.swift), the key layout under a prefix (`RegistryKeys`).
        .target(name: "RegistryWire", dependencies: ["Addresses"]),
        // Pure: a fleet's shape from its registry (`RegistryView`, `FleetShape`: the sites a site joins, as a segment
        // file would list them) and the store protocol an agent needs (`RegistryStore`), with an in-memory store.
        .target(name: "Fleet", dependencies: ["Sites", "RegistryWire"]),
        // I/O: the registry agent — registers its site under a lease, watches the segment, re-plans and applies only
        // the difference through SiteAgent's reconciler, keeps its state while the registry is unreachable.
        .target(name: "FleetAgent", dependencies: ["Fleet", "SiteAgent", "Sites", "Netlink", "NetlinkWire", "CLinuxUAPI", "IPCommand", "IsthmusMetrics", "Etcd"]),
        // Fakes for tests: message-level netlink fake.
        .target(name: "TestSupport", dependencies: ["Netlink", "NetlinkWire"]),
        .executableTarget(
            name: "IsthmusCLI",
            dependencies: ["IPCommand", "TunnelHost", "Netlink", "SiteAgent", "Sites", "Lab", "L2TPAgent", "IsthmusMetrics", "Fleet", "FleetAgent", .product(name: "ArgumentParser", package: "swift-argument-parser")],
            plugins: ["GitVersion"]
        ),
        // Build tool: `git describe` of the checkout into the CLI, for `isthmus --version`.
        .plugin(name: "GitVersion", capability: .buildTool()),
        .testTarget(name: "IsthmusMetricsTests", dependencies: ["IsthmusMetrics", "DataplaneWire"]),
        .testTarget(name: "NetlinkWireTests", dependencies: ["NetlinkWire", "TestSupport"]),
        .testTarget(name: "SitesTests", dependencies: ["Sites", "DataplaneWire", "TestSupport", "VICIWire"]),
        .testTarget(name: "L2TPProtocolTests", dependencies: ["L2TPProtocol", "L2TPWire", "TestSupport"]),
        .testTarget(name: "LabTests", dependencies: ["Lab", "Sites", "TestSupport"]),
        .testTarget(name: "DataplaneWireTests", dependencies: ["DataplaneWire", "TestSupport"]),
        .testTarget(name: "L2TPAgentTests", dependencies: ["L2TPAgent", "L2TPProtocol", "L2TPWire", "Config", "Addresses", "TestSupport"]),
        .testTarget(name: "L2TPWireTests", dependencies: ["L2TPWire", "TestSupport"]),
        .testTarget(name: "IPCommandTests", dependencies: ["IPCommand", "LinkValues", "NetlinkWire", "Netlink", "TestSupport"], resources: [.copy("Golden")]),
        .testTarget(name: "SiteAgentTests", dependencies: ["SiteAgent", "Sites", "LinkValues", "IPCommand", "Netlink", "NetlinkWire", "TestSupport"]),
        .testTarget(name: "TunnelHostTests", dependencies: ["TunnelHost", "IPCommand", "Netlink", "TestSupport"]),
        .testTarget(name: "VICIWireTests", dependencies: ["VICIWire", "TestSupport"], resources: [.copy("Golden")]),
        .testTarget(name: "VICITests", dependencies: ["VICI", "VICIWire"]),
        .testTarget(name: "EtcdTests", dependencies: ["Etcd", .product(name: "GRPCCore", package: "grpc-swift-2")]),
        .testTarget(name: "FleetTests", dependencies: ["Fleet", "FleetAgent", "RegistryWire", "Sites", "SiteAgent", "TestSupport"]),
        .testTarget(name: "IntegrationTests", dependencies: ["IPCommand", "SiteAgent", "Sites", "Lab", "Netlink", "NetlinkWire", "Dataplane", "DataplaneWire", "L2TPAgent", "L2TPProtocol", "L2TPWire", "IsthmusMetrics", "TestSupport",
                                                             "Etcd", "CLinuxUAPI", "Fleet", "FleetAgent"]),
    ]
)
