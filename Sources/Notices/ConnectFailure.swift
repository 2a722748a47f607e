import Foundation
import NIOCore
import NIOPosix

/// The reason a TCP connection could not be made, in words: "connection refused by 192.0.2.25:25",
/// "no answer within 10 s", "cannot resolve mail.example.net". NIO's own descriptions name
/// system calls, which tell the operator less.
enum ConnectFailure {
    static func describe(_ error: any Error) -> String {
        switch error {
        case ChannelError.connectTimeout(let amount):
            return "no answer within \(amount)"
        case let error as NIOConnectionError:
            if !error.connectionErrors.isEmpty {
                return error.connectionErrors.map { "\(describe($0.error)) (\($0.target))" }.joined(separator: "; ")
            }
            if error.dnsAError != nil || error.dnsAAAAError != nil {
                return "cannot resolve host name \(error.host)"
            }
            return "no address to connect to for \(error.host)"
        case let error as IOError:
            return String(cString: strerror(error.errnoCode)).lowercased()
        default:
            return "\(error)"
        }
    }
}
