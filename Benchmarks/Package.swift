// swift-tools-version:6.1
// Micro-benchmarks of DataplaneWire's per-packet paths and of L2TPWire's PPP async-HDLC framing (ordo-one/benchmark).
// A separate package, so the main package's build, dependencies and CI are untouched. Run from this folder:
//   swift package --allow-writing-to-package-directory benchmark [--target DataplaneWireBenchmarks|L2TPWireBenchmarks]
import PackageDescription

import struct Foundation.URL

// A path dependency's identity is the name of its folder ("main" in this workspace), not the manifest's name, so
// it is derived from where this file is rather than spelled out.
let mainPackage = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().lastPathComponent

let package = Package(
    name: "IsthmusBenchmarks",
    platforms: [.macOS(.v13)],
    dependencies: [
        .package(path: ".."),
        // The MallocInterposer trait gives the malloc counters on Swift 6.3+; listing only it also leaves out the
        // default RuntimeInterposer trait (and its package, which the local package mirror does not carry).
        .package(url: "https://github.com/ordo-one/benchmark", from: "1.38.1", traits: ["MallocInterposer"]),
    ],
    targets: [
        .executableTarget(
            name: "DataplaneWireBenchmarks",
            dependencies: [
                .product(name: "Benchmark", package: "benchmark"),
                .product(name: "DataplaneWire", package: mainPackage),
            ],
            path: "Benchmarks/DataplaneWireBenchmarks",
            plugins: [
                .plugin(name: "BenchmarkPlugin", package: "benchmark"),
            ]
        ),
        // The userspace PPP data plane's framing: FCS-16, HDLC encode (ACCM 0xFFFFFFFF and 0) and decode.
        .executableTarget(
            name: "L2TPWireBenchmarks",
            dependencies: [
                .product(name: "Benchmark", package: "benchmark"),
                .product(name: "L2TPWire", package: mainPackage),
            ],
            path: "Benchmarks/L2TPWireBenchmarks",
            plugins: [
                .plugin(name: "BenchmarkPlugin", package: "benchmark"),
            ]
        ),
    ]
)
