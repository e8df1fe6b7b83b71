// swift-tools-version:6.1
import PackageDescription

let package = Package(
    name: "Isthmus",
    platforms: [.macOS(.v13)],
    products: [
        .library(name: "NetlinkWire", targets: ["NetlinkWire"]),
        .library(name: "Netlink", targets: ["Netlink"]),
        .library(name: "IPCommand", targets: ["IPCommand"]),
        .executable(name: "isthmus", targets: ["IsthmusCLI"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
    ],
    targets: [
        // Kernel uapi constants, taken from linux-libc-dev's headers, plus tiny shims.
        .target(name: "CLinuxUAPI"),
        // Pure: netlink message and attribute codecs, rtnetlink/genetlink/l2tp message models.
        .target(name: "NetlinkWire", dependencies: ["CLinuxUAPI"]),
        // I/O: netlink sockets, request/ack/dump, batching, namespaces; rtnetlink and l2tp clients.
        .target(name: "Netlink", dependencies: ["NetlinkWire", "CLinuxUAPI"]),
        // iproute2-compatible command language: keyword parser -> request values, executor, printer.
        .target(name: "IPCommand", dependencies: ["Netlink", "NetlinkWire"]),
        // Fakes for tests: message-level netlink fake.
        .target(name: "TestSupport", dependencies: ["Netlink", "NetlinkWire"]),
        .executableTarget(
            name: "IsthmusCLI",
            dependencies: ["IPCommand", "Netlink", .product(name: "ArgumentParser", package: "swift-argument-parser")]
        ),
        .testTarget(name: "NetlinkWireTests", dependencies: ["NetlinkWire", "TestSupport"]),
        .testTarget(name: "IPCommandTests", dependencies: ["IPCommand", "NetlinkWire", "Netlink", "TestSupport"], resources: [.copy("Golden")]),
        .testTarget(name: "IntegrationTests", dependencies: ["IPCommand", "Netlink", "NetlinkWire", "TestSupport"]),
    ]
)
