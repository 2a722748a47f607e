import Foundation

/// The Date header's format (RFC 5322 3.3), e.g. `Tue, 14 Apr 2026 09:30:00 +0000`.
///
/// en_US_POSIX so day and month names stay English whatever the host's locale; UTC so that
/// notices from different hosts sort and compare without time-zone arithmetic.
enum RFC5322Date {
    static func format(_ date: Date) -> String {
        // DateFormatter is not Sendable, so one per call; a notice is rendered once.
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(secondsFromGMT: 0)
        formatter.dateFormat = "EEE, dd MMM yyyy HH:mm:ss Z"
        return formatter.string(from: date)
    }
}
