import ArgumentParser
import Foundation

@main
struct Portcullis: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "portcullis",
        abstract: "Enforces a hosting provider's VM network restrictions with nftables.",
        discussion: "`portcullis serve` runs the daemon; every other verb talks to it over its control socket.",
        subcommands: [
            Serve.self, VMCommand.self, ExemptionCommand.self, FilterCommand.self, Status.self, RulesetCommand.self,
            Explain.self, Plan.self, Audit.self, SMTPCommand.self, CaseCommand.self, NoticeCommand.self,
        ]
    )
}

/// Options every client verb shares.
struct ClientOptions: ParsableArguments {
    @Option(help: "The daemon's control socket (api.socket in the site config).")
    var socket: String = "/run/portcullis/api.sock"

    @Flag(help: "Print the daemon's JSON answer instead of text.")
    var json = false

    var client: APIClient {
        let user = ProcessInfo.processInfo.environment["SUDO_USER"] ?? ProcessInfo.processInfo.environment["USER"] ?? "root"
        return APIClient(socketPath: socket, actor: "cli:\(user)")
    }

    /// Sends a request; prints JSON or hands the decoded answer to `text`. A refusal
    /// prints the daemon's message and exits non-zero.
    func call<T: Decodable>(_ method: String, _ path: String, body: (some Encodable)? = Optional<String>.none,
                            as type: T.Type, text: (T) -> String) throws {
        let data = try body.map { try JSONEncoder().encode($0) }
        let reply = try client.request(method, path, body: data)
        guard (200..<300).contains(reply.status) else {
            let message = (try? JSONDecoder().decode(ErrorReply.self, from: reply.body))?.error
                ?? String(decoding: reply.body, as: UTF8.self)
            FileHandle.standardError.write(Data("error: \(message)\n".utf8))
            throw ExitCode(reply.status == 404 ? 3 : 2)
        }
        if json {
            print(String(decoding: reply.body, as: UTF8.self))
        } else {
            let decoder = JSONDecoder()
            decoder.dateDecodingStrategy = .iso8601
            print(text(try decoder.decode(T.self, from: reply.body)))
        }
    }
}

struct ErrorReply: Decodable { let error: String }

extension APIClient.Failure: LocalizedError {
    var errorDescription: String? { description }
}
