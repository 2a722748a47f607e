/// Which VM a connection comes from, as the daemon's registry knows it.
///
/// The relay learns only an address from the kernel; the daemon maps it to a VM so that limits
/// and transaction records follow the VM (and its tenant), not whichever address it used.
public struct SMTPVMIdentity: Hashable, Sendable, CustomStringConvertible {
    public var vmID: String
    public var tenant: String

    public init(vmID: String, tenant: String) {
        self.vmID = vmID
        self.tenant = tenant
    }

    public var description: String { "\(tenant)/\(vmID)" }
}
