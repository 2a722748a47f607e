/// Builds the EHLO reply the VM sees from the one the upstream sent.
///
/// The VM may only use what both the relay and the upstream implement: the relay forwards
/// commands line by line and understands no extension it does not list here, so advertising
/// e.g. CHUNKING (BDAT), AUTH or XCLIENT would let the VM send things the relay cannot police.
/// SIZE is always advertised because the relay enforces its own limit whatever the upstream says.
public struct EHLOFilter: Sendable {
    /// Passed through when the upstream offers them.
    public static let passThrough: Set<String> = ["PIPELINING", "8BITMIME", "SMTPUTF8", "ENHANCEDSTATUSCODES"]

    public var tlsMode: SMTPTLSMode
    /// RFC 3207 4.2: STARTTLS is not advertised once TLS is active on the VM's leg.
    public var clientLegIsTLS: Bool
    public var maxMessageBytes: Int

    public init(tlsMode: SMTPTLSMode, clientLegIsTLS: Bool, maxMessageBytes: Int) {
        self.tlsMode = tlsMode
        self.clientLegIsTLS = clientLegIsTLS
        self.maxMessageBytes = maxMessageBytes
    }

    /// Keyword of an EHLO line, uppercased: `size 1000` → `SIZE`.
    public static func keyword(of line: String) -> String {
        String(line.prefix(while: { $0 != " " && $0 != "=" })).uppercased()
    }

    /// Whether the upstream's EHLO reply offers STARTTLS.
    public static func offersStartTLS(_ reply: SMTPReply) -> Bool {
        reply.isPositiveCompletion && reply.lines.dropFirst().contains { keyword(of: $0) == "STARTTLS" }
    }

    /// Failure replies are relayed as they are; a 250 keeps its first line (the greeting domain).
    public func filter(_ upstream: SMTPReply) -> SMTPReply {
        guard upstream.isPositiveCompletion else { return upstream }
        var lines = [upstream.lines[0]]
        var seen: Set<String> = []
        for line in upstream.lines.dropFirst() {
            let keyword = Self.keyword(of: line)
            guard !seen.contains(keyword) else { continue }
            if Self.passThrough.contains(keyword) {
                lines.append(keyword)
                seen.insert(keyword)
            } else if keyword == "SIZE" {
                lines.append("SIZE \(cappedSize(upstreamLine: line))")
                seen.insert(keyword)
            } else if keyword == "STARTTLS", tlsMode == .splice, !clientLegIsTLS {
                lines.append("STARTTLS")
                seen.insert(keyword)
            }
        }
        if !seen.contains("SIZE") {
            lines.append("SIZE \(maxMessageBytes)")
        }
        if tlsMode == .terminate, !clientLegIsTLS {
            lines.append("STARTTLS")
        }
        return SMTPReply(code: upstream.code, lines: lines)
    }

    /// RFC 1870: `SIZE 0` or a SIZE without a number means "no fixed limit", so ours applies.
    private func cappedSize(upstreamLine line: String) -> Int {
        let argument = line.drop(while: { $0 != " " }).drop(while: { $0 == " " })
        guard let upstreamLimit = Int(argument), upstreamLimit > 0 else { return maxMessageBytes }
        return min(upstreamLimit, maxMessageBytes)
    }
}
