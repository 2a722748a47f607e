import NIOConcurrencyHelpers
import NIOCore

/// The VM connections a server is serving, so that shutdown can end each with a 421 and wait
/// for it. Registration and the start of shutdown share one lock: a connection accepted just as
/// the listeners close is either told to stop or refused, never missed.
final class SMTPRelayConnections: Sendable {
    private struct State {
        var shuttingDown = false
        var channels: [ObjectIdentifier: any Channel] = [:]
    }

    private let state = NIOLockedValueBox(State())

    /// False once shutdown has begun: the caller must refuse the connection.
    func register(_ channel: any Channel) -> Bool {
        let added = state.withLockedValue { state in
            guard !state.shuttingDown else { return false }
            state.channels[ObjectIdentifier(channel)] = channel
            return true
        }
        if added {
            channel.closeFuture.whenComplete { [weak self] _ in
                self?.state.withLockedValue { _ = $0.channels.removeValue(forKey: ObjectIdentifier(channel)) }
            }
        }
        return added
    }

    /// Stops further registrations and returns the connections still open.
    func beginShutdown() -> [any Channel] {
        state.withLockedValue { state in
            state.shuttingDown = true
            return Array(state.channels.values)
        }
    }
}
