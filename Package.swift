// swift-tools-version:6.1
import PackageDescription

let strict: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("MemberImportVisibility"),
]

let package = Package(
    name: "portcullis",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "portcullis", targets: ["portcullis"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.3"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1"),
        .package(url: "https://github.com/groue/GRDB.swift", from: "7.10.0"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.2.2"),
        .package(url: "https://github.com/apple/swift-http-types", from: "1.4.0"),
        .package(url: "https://github.com/apple/swift-nio-ssl", from: "2.37.6"),
        .package(url: "https://github.com/apple/swift-certificates", from: "1.21.1"),
        .package(url: "https://github.com/apple/swift-crypto", from: "4.5.2"),
        .package(url: "https://github.com/apple/swift-asn1", from: "1.7.4"),
    ],
    targets: [
        // Value types, the verdict function, explain and plan. Foundation only.
        .target(name: "PortcullisCore", swiftSettings: strict),
        // Desired state -> nftables script and element diffs. Pure.
        .target(name: "RulesetCompiler", dependencies: ["PortcullisCore"], swiftSettings: strict),
        // The only unsafe C surface: libnftables.
        .systemLibrary(
            name: "CNftables",
            pkgConfig: "libnftables",
            providers: [.apt(["libnftables-dev"])]
        ),
        // libnetfilter_log: the abuse detectors' events (NFLOG), read by the daemon.
        .systemLibrary(
            name: "CNetfilterLog",
            pkgConfig: "libnetfilter_log",
            providers: [.apt(["libnetfilter-log-dev"])]
        ),
        // Splices the daemon's set element messages into libnftables' batch (one transaction).
        .target(name: "CNftablesBatch"),
        .target(
            name: "Netfilter",
            dependencies: ["CNftables", "CNftablesBatch", "CNetfilterLog", "PortcullisCore", "RulesetCompiler",
                           .product(name: "Logging", package: "swift-log")],
            swiftSettings: strict
        ),
        .target(
            name: "Store",
            dependencies: ["PortcullisCore", .product(name: "GRDB", package: "GRDB.swift")],
            swiftSettings: strict
        ),
        .target(
            name: "ControlAPI",
            dependencies: [
                "PortcullisCore", "RulesetCompiler", "Store",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strict
        ),
        .executableTarget(
            name: "portcullis",
            dependencies: [
                "PortcullisCore", "RulesetCompiler", "Netfilter", "Store", "ControlAPI", "SMTPProxy", "SMTPTLS", "Notices",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Yams", package: "Yams"),
            ],
            swiftSettings: strict
        ),
        // Release-build benchmark: apply at 1,000/10,000 VMs vs the one-nft-per-rule baseline.
        .executableTarget(
            name: "portcullis-bench",
            dependencies: ["PortcullisCore", "RulesetCompiler", "Netfilter", "Store", "ControlAPI",
                           .product(name: "Logging", package: "swift-log")],
            swiftSettings: strict
        ),
        // Transparent SMTP relay: protocol core (line decoder, session state machine, EHLO filter).
        .target(
            name: "SMTPProxy",
            dependencies: ["PortcullisCore", .product(name: "NIOCore", package: "swift-nio"),
                           .product(name: "NIOPosix", package: "swift-nio"),
                           .product(name: "NIOConcurrencyHelpers", package: "swift-nio")],
            swiftSettings: strict
        ),
        // TLS for the relay: certificates (loaded or self-signed) and the STARTTLS installers, on NIOSSL.
        .target(
            name: "SMTPTLS",
            dependencies: ["SMTPProxy", .product(name: "NIOCore", package: "swift-nio"),
                           .product(name: "NIOTLS", package: "swift-nio"),
                           .product(name: "NIOSSL", package: "swift-nio-ssl"),
                           .product(name: "X509", package: "swift-certificates"),
                           .product(name: "SwiftASN1", package: "swift-asn1"),
                           .product(name: "Crypto", package: "swift-crypto")],
            swiftSettings: strict
        ),
        // Delivery of abuse notices: e-mail through a smarthost (SMTP, STARTTLS) and signed webhooks.
        .target(
            name: "Notices",
            dependencies: ["PortcullisCore", "SMTPProxy",
                           .product(name: "NIOCore", package: "swift-nio"),
                           .product(name: "NIOPosix", package: "swift-nio"),
                           .product(name: "NIOHTTP1", package: "swift-nio"),
                           .product(name: "NIOSSL", package: "swift-nio-ssl"),
                           .product(name: "Crypto", package: "swift-crypto"),
                           .product(name: "Logging", package: "swift-log")],
            swiftSettings: strict
        ),
        // libFuzzer target for the SMTP parsers (fuzz/run); an ordinary build replays inputs.
        .executableTarget(
            name: "smtp-fuzz",
            dependencies: ["SMTPProxy", .product(name: "NIOCore", package: "swift-nio")],
            swiftSettings: strict
        ),
        .testTarget(name: "PortcullisCoreTests", dependencies: ["PortcullisCore"], swiftSettings: strict),
        .testTarget(
            name: "SMTPProxyTests",
            dependencies: [
                "SMTPProxy", "PortcullisCore",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
                .product(name: "NIOTestUtils", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ],
            swiftSettings: strict
        ),
        // The relay with real TLS over loopback: terminate and splice, against a STARTTLS-capable fake MX.
        .testTarget(
            name: "SMTPTLSTests",
            dependencies: [
                "SMTPTLS", "SMTPProxy", "PortcullisCore",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "X509", package: "swift-certificates"),
                .product(name: "SwiftASN1", package: "swift-asn1"),
                .product(name: "Crypto", package: "swift-crypto"),
            ],
            swiftSettings: strict
        ),
        // Rendering, templates and signatures; delivery against fake SMTP and HTTP servers on loopback.
        .testTarget(
            name: "NoticesTests",
            dependencies: [
                "Notices", "PortcullisCore", "SMTPProxy", "SMTPTLS",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "Crypto", package: "swift-crypto"),
            ],
            swiftSettings: strict
        ),
        .testTarget(
            name: "RulesetCompilerTests",
            dependencies: ["RulesetCompiler", "PortcullisCore"],
            resources: [.copy("Golden")],
            swiftSettings: strict
        ),
        // Talks to the real libnftables in dry-run mode (root: CI runs as root).
        // Tests only: a thread of its own in a new network namespace (real kernel, no leftovers).
        .target(name: "CNamespaceSupport", path: "Tests/CNamespaceSupport"),
        .testTarget(
            name: "NetfilterTests",
            dependencies: ["Netfilter", "RulesetCompiler", "PortcullisCore", "CNftablesBatch", "CNamespaceSupport"],
            swiftSettings: strict
        ),
        .testTarget(name: "StoreTests", dependencies: ["Store", "PortcullisCore"], swiftSettings: strict),
        .testTarget(
            name: "ControlAPITests",
            dependencies: [
                "ControlAPI", "Store", "PortcullisCore",
                .product(name: "HummingbirdTesting", package: "hummingbird"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
            ],
            swiftSettings: strict
        ),
    ]
)
