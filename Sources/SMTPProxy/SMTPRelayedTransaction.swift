import NIOCore

/// A transaction record with what only the server knows: which VM, from where, to where.
public struct SMTPRelayedTransaction: Hashable, Sendable {
    public var record: SMTPTransactionRecord
    public var vm: SMTPVMIdentity
    /// The VM's address and port, as accepted.
    public var client: SocketAddress
    /// The original destination (MX address and port) the session was relayed to.
    public var destination: SocketAddress

    public init(record: SMTPTransactionRecord, vm: SMTPVMIdentity, client: SocketAddress, destination: SocketAddress) {
        self.record = record
        self.vm = vm
        self.client = client
        self.destination = destination
    }
}
