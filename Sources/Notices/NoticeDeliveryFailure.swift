/// What the outbox needs from any delivery error, e-mail or webhook: a message for the operator
/// and whether to try again, so it can treat both channels alike.
public protocol NoticeDeliveryFailure: Error, Sendable, CustomStringConvertible {
    /// True when retrying the same notice cannot succeed until the operator changes something;
    /// false when a later attempt may (the receiver was down, busy or slow).
    var isPermanent: Bool { get }
}

extension SMTPSubmissionError: NoticeDeliveryFailure {}
extension WebhookDeliveryError: NoticeDeliveryFailure {}
