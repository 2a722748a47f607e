import Foundation
import CNftables
import CNftablesBatch
import RulesetCompiler

/// Why libnftables refused a command. A refused script loads nothing: the transaction is
/// all or nothing, so the previous ruleset stays in force; the daemon reports this loudly
/// because a policy that was never loaded would otherwise fail open.
public struct NftError: Error, CustomStringConvertible, Sendable {
    public let message: String
    public let script: String

    public var description: String {
        "nftables refused the transaction (nothing was changed): \(message.trimmingCharacters(in: .whitespacesAndNewlines))"
    }
}

/// The one owner of a libnftables context; the only place in Portcullis that calls into C.
/// Not thread-safe (libnftables contexts are not), so it is used from one actor only.
public struct Nftables: ~Copyable {
    private var context: OpaquePointer
    private let dryRun: Bool
    /// Whether libnftables' batches pass through the splice (checked once, see `spliceWorks()`).
    private var spliceChecked: Bool?

    /// - Parameter dryRun: check scripts without touching the kernel (no root needed).
    public init(dryRun: Bool = false) {
        self.dryRun = dryRun
        self.context = Self.makeContext(dryRun: dryRun)
    }

    private static func makeContext(dryRun: Bool) -> OpaquePointer {
        guard let context = nft_ctx_new(UInt32(NFT_CTX_DEFAULT)) else {
            fatalError("nft_ctx_new failed: out of memory")
        }
        nft_ctx_buffer_output(context)
        nft_ctx_buffer_error(context)
        nft_ctx_set_dry_run(context, dryRun)
        return context
    }

    deinit {
        nft_ctx_free(context)
    }

    /// Runs a script as one transaction and returns its output.
    @discardableResult
    public func run(_ script: String, json: Bool = false, terse: Bool = false) throws(NftError) -> String {
        var flags: UInt32 = 0
        if json { flags |= UInt32(NFT_CTX_OUTPUT_JSON) }
        if terse { flags |= UInt32(NFT_CTX_OUTPUT_TERSE) }
        nft_ctx_output_set_flags(context, flags)
        let status = nft_run_cmd_from_buffer(context, script)
        let output = nft_ctx_get_output_buffer(context).map { String(cString: $0) } ?? ""
        let errors = nft_ctx_get_error_buffer(context).map { String(cString: $0) } ?? ""
        guard status == 0 else {
            throw NftError(message: errors.isEmpty ? "libnftables returned \(status)" : errors, script: script)
        }
        return output
    }

    /// Runs `script` with `messages` spliced into the batch libnftables sends for it, so
    /// both commit as one transaction. Throws `SpliceFailure` when that could not be done;
    /// nothing was committed then, unless `committedWithoutMessages` says otherwise. After a
    /// failure the context is replaced: replies the kernel sent about the spliced messages
    /// may still be queued on the old one's socket.
    mutating func run(_ script: String, splicing messages: SetElementMessages) throws(SpliceFailure) {
        guard spliceWorks() else {
            throw SpliceFailure(reason: "libnftables' batches do not pass through the splice in this process (checked at the first replace)")
        }
        do throws(SpliceFailure) {
            try runArmed(script, messages: messages.bytes)
        } catch {
            nft_ctx_free(context)
            context = Self.makeContext(dryRun: dryRun)
            throw error
        }
    }

    private func runArmed(_ script: String, messages: [UInt8]) throws(SpliceFailure) {
        nft_ctx_output_set_flags(context, 0)
        let (status, outcome) = messages.withUnsafeBytes { raw in
            portcullis_splice_arm(raw.baseAddress, raw.count)
            let status = nft_run_cmd_from_buffer(context, script)
            return (status, portcullis_splice_disarm())
        }
        let errors = nft_ctx_get_error_buffer(context).map { String(cString: $0) } ?? ""
        if outcome.refused_shape != 0 {
            throw SpliceFailure(reason: "libnftables did not send one nftables batch; nothing was sent")
        }
        if outcome.kernel_error_count > 0 {
            let reason = String(cString: strerror(outcome.kernel_error))
            throw SpliceFailure(reason: "the kernel refused \(outcome.kernel_error_count) element message(s): \(reason)")
        }
        if outcome.replies_lost != 0 {
            throw SpliceFailure(reason: "the kernel's replies overflowed the receive buffer (it refused more element messages than could be reported)")
        }
        guard status == 0 else {
            throw SpliceFailure(reason: errors.isEmpty ? "libnftables returned \(status)" : errors)
        }
        guard outcome.spliced != 0 else {
            throw SpliceFailure(reason: "libnftables committed without sending the element messages", committedWithoutMessages: true)
        }
    }

    /// Splicing needs this process's `sendmsg` to be the one libnftables calls, and
    /// libnftables to send its batch through it. Both are checked before the first spliced
    /// load, so that a load never commits tables whose per-VM sets were meant to be spliced
    /// but were not: the probe is a batch with nothing spliced into it (`add table inet
    /// portcullis`, which changes nothing when the table exists and adds an empty table,
    /// which matches no packet, when it does not).
    private mutating func spliceWorks() -> Bool {
        if let spliceChecked { return spliceChecked }
        var works = !dryRun && portcullis_splice_interposed() != 0
        if works {
            let empty: [UInt8] = []
            do throws(SpliceFailure) {
                try runArmed("add table inet \(tableName)\n", messages: empty)
            } catch {
                works = false
            }
        }
        spliceChecked = works
        return works
    }
}

/// Why a spliced load did not happen. The caller then loads the whole script as text.
struct SpliceFailure: Error, CustomStringConvertible {
    let reason: String
    var committedWithoutMessages = false

    var description: String { reason.trimmingCharacters(in: .whitespacesAndNewlines) }
}
