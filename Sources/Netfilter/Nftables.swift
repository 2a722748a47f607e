import Foundation
import CNftables
import CNftablesBatch

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
    private let context: OpaquePointer

    /// - Parameter dryRun: check scripts without touching the kernel (no root needed).
    public init(dryRun: Bool = false) {
        guard let context = nft_ctx_new(UInt32(NFT_CTX_DEFAULT)) else {
            fatalError("nft_ctx_new failed: out of memory")
        }
        nft_ctx_buffer_output(context)
        nft_ctx_buffer_error(context)
        nft_ctx_set_dry_run(context, dryRun)
        self.context = context
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
    /// nothing was committed then, unless `committedWithoutMessages` says otherwise.
    func run(_ script: String, splicing messages: SetElementMessages) throws(SpliceFailure) {
        nft_ctx_output_set_flags(context, 0)
        let (status, outcome) = messages.bytes.withUnsafeBytes { raw in
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
        guard status == 0 else {
            throw SpliceFailure(reason: errors.isEmpty ? "libnftables returned \(status)" : errors)
        }
        guard outcome.spliced != 0 else {
            throw SpliceFailure(reason: "libnftables committed without sending the element messages", committedWithoutMessages: true)
        }
    }
}

/// Why a spliced load did not happen. The caller then loads the whole script as text.
struct SpliceFailure: Error, CustomStringConvertible {
    let reason: String
    var committedWithoutMessages = false

    var description: String { reason.trimmingCharacters(in: .whitespacesAndNewlines) }
}
