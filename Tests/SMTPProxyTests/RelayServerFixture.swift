import NIOCore
import NIOPosix
@testable import SMTPProxy

/// One relay server on loopback, started for a test and always stopped after it.
struct RelayRun {
    let server: SMTPRelayServer
    let address: SocketAddress
    let records: AsyncStream<SMTPRelayedTransaction>
    let task: Task<Void, any Error>
}

let testVM = SMTPVMIdentity(vmID: "vm-1", tenant: "tenant-a")

/// Short enough that a test never waits long, long enough for a loaded 2-core machine.
let shortTimeouts = SMTPTimeouts(initialGreeting: .seconds(5), mail: .seconds(5), rcpt: .seconds(5),
                                 dataInitiation: .seconds(5), dataBlock: .seconds(5), dataTermination: .seconds(5),
                                 serverCommand: .seconds(5), otherReply: .seconds(5))

/// Loopback hosts this machine has: IPv4 always, IPv6 when `::1` can be bound.
let loopbackHosts: [String] = {
    let group = MultiThreadedEventLoopGroup.singleton
    guard let channel = try? ServerBootstrap(group: group).bind(host: "::1", port: 0).wait() else { return ["127.0.0.1"] }
    try? channel.close().wait()
    return ["127.0.0.1", "::1"]
}()

func withEventLoopGroup<T>(_ body: (any EventLoopGroup) async throws -> T) async throws -> T {
    let group = MultiThreadedEventLoopGroup(numberOfThreads: 2)
    do {
        let result = try await body(group)
        try await group.shutdownGracefully()
        return result
    } catch {
        try? await group.shutdownGracefully()
        throw error
    }
}

func withFakeMX<T>(on group: any EventLoopGroup, host: String = "127.0.0.1", startTLS: FakeMXStartTLS? = nil,
                   _ body: (FakeMX) async throws -> T) async throws -> T {
    let mx = try await FakeMX.start(on: group, host: host, startTLS: startTLS)
    do {
        let result = try await body(mx)
        await mx.stop()
        return result
    } catch {
        await mx.stop()
        throw error
    }
}

/// Runs a non-transparent relay on `host`, port 0, relaying to `destination`, for `body`;
/// then cancels it and waits for `run()` to return. Without `tls` the relay runs with TLS off.
func withRelay<T>(on group: any EventLoopGroup, host: String = "127.0.0.1", destination: SocketAddress?,
                  tls: SMTPRelayTLS? = nil,
                  configure: (inout SMTPRelayConfiguration) -> Void = { _ in },
                  identify: @escaping SMTPRelayServer.Identify = { _ in testVM },
                  _ body: (RelayRun) async throws -> T) async throws -> T {
    var configuration = SMTPRelayConfiguration(listenHosts: [host], listenPort: 0, transparent: false,
                                               connectTimeout: .seconds(2), destinationOverride: destination,
                                               timeouts: shortTimeouts)
    configure(&configuration)
    let (records, recorded) = AsyncStream<SMTPRelayedTransaction>.makeStream()
    let server = SMTPRelayServer(configuration: configuration, group: group, tls: tls, identify: identify,
                                 record: { recorded.yield($0) })
    let (listening, listened) = AsyncStream<[SocketAddress]>.makeStream()
    let task = Task {
        defer { listened.finish() }
        try await server.run(onListening: { listened.yield($0) })
    }
    var addresses = listening.makeAsyncIterator()
    guard let address = await addresses.next()?.first else {
        try await task.value  // rethrows why it never listened
        throw RelayFixtureError.neverListened
    }
    let run = RelayRun(server: server, address: address, records: records, task: task)
    do {
        let result = try await body(run)
        task.cancel()
        try await task.value
        return result
    } catch {
        task.cancel()
        _ = try? await task.value
        throw error
    }
}

enum RelayFixtureError: Error {
    case neverListened
}

/// A port on 127.0.0.1 where nothing listens (bound once, then released).
func closedPort(on group: any EventLoopGroup) async throws -> SocketAddress {
    let channel = try await ServerBootstrap(group: group).bind(host: "127.0.0.1", port: 0).get()
    let address = channel.localAddress!
    try await channel.close()
    return address
}

extension AsyncStream {
    /// Every element up to and including the first that `stop` accepts (or to the stream's end).
    func collect(through stop: (Element) -> Bool) async -> [Element] {
        var elements: [Element] = []
        for await element in self {
            elements.append(element)
            if stop(element) { break }
        }
        return elements
    }

    /// The next element that `match` turns into a value, skipping the others; nil if the stream ends.
    func first<T>(_ match: (Element) -> T?) async -> T? {
        for await element in self {
            if let value = match(element) { return value }
        }
        return nil
    }
}
