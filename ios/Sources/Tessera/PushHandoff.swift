import Foundation
import TesseraFFI

/// What became of one forwarded remote notification.
public enum PushHandoffResult: Sendable, Equatable {
    /// A verified prompt, now waiting on ``PushHandoff/prompts``.
    case prompt(PushPrompt)
    /// The handler read the payload and found nothing for the user.
    case nothingToDo
    /// No ``PushPayloadHandler`` is installed (the vault is not open yet);
    /// the payload was dropped.
    case noHandler
    /// The notification's `userInfo` could not be turned into JSON.
    case unreadable
    /// The handler failed; the reason is for logs and never holds a secret.
    case failed(reason: String)
}

/// Errors of ``PushHandoff`` itself.
public enum PushHandoffError: Error, Equatable, LocalizedError {
    /// No ``PushPayloadHandler`` is installed.
    case noHandler

    /// A sentence for the user.
    public var errorDescription: String? {
        switch self {
        case .noHandler:
            return "Open Tessera and unlock it to answer sign-in requests."
        }
    }
}

/// The APNs hand-off: the one place the app delegate forwards push traffic
/// to, and the UI listens to.
///
/// The app delegate calls ``registerDeviceToken(_:)`` and
/// ``deliver(_:)`` (with ``payload(fromUserInfo:)``); the UI reads
/// ``prompts`` and answers through ``answer(_:to:)``. The work is done by
/// the installed ``PushPayloadHandler``; with none installed, nothing
/// happens and the calls say so.
public actor PushHandoff {
    /// The handler (``TesseraPushHandler`` once the app's client is open).
    private var handler: (any PushPayloadHandler)?
    private nonisolated let promptSink: AsyncStream<PushPrompt>.Continuation

    /// Verified prompts, in arrival order, for the UI to show. Keeps the
    /// newest few while nobody listens. Consume it from one place.
    public nonisolated let prompts: AsyncStream<PushPrompt>

    /// Makes a hand-off.
    ///
    /// - Parameter handler: the push handler, or `nil` while there is none.
    public init(handler: (any PushPayloadHandler)? = nil) {
        let (stream, continuation) = AsyncStream.makeStream(
            of: PushPrompt.self,
            bufferingPolicy: .bufferingNewest(8)
        )
        self.prompts = stream
        self.promptSink = continuation
        self.handler = handler
    }

    /// True when a handler is installed: only then is it worth registering
    /// for remote notifications.
    public var hasHandler: Bool {
        handler != nil
    }

    /// Installs (or, with `nil`, removes) the handler.
    public func install(_ handler: (any PushPayloadHandler)?) {
        self.handler = handler
    }

    /// Forwards the APNs device token to the handler.
    ///
    /// - Returns: false when no handler is installed (the token is dropped).
    @discardableResult
    public func registerDeviceToken(_ token: Data) async throws -> Bool {
        guard let handler else { return false }
        try await handler.registerDeviceToken(token)
        return true
    }

    /// Forwards one remote notification's payload to the handler, and
    /// publishes the prompt it yields on ``prompts``.
    ///
    /// - Parameter payload: the notification's `userInfo` as JSON (see
    ///   ``payload(fromUserInfo:)``), or `nil` when it could not be converted.
    /// - Returns: what became of it, for the delegate's completion result.
    public func deliver(_ payload: Data?) async -> PushHandoffResult {
        guard let handler else { return .noHandler }
        guard let payload else { return .unreadable }
        do {
            guard let prompt = try await handler.handleRemoteNotification(payload) else {
                return .nothingToDo
            }
            promptSink.yield(prompt)
            return .prompt(prompt)
        } catch {
            return .failed(reason: error.localizedDescription)
        }
    }

    /// Sends the user's answer to a prompt through the handler.
    ///
    /// - Returns: how it ended.
    /// - Throws: ``PushHandoffError/noHandler`` without a handler, or the
    ///   handler's error.
    public func answer(_ answer: PushAnswer, to prompt: PushPrompt) async throws -> AnswerOutcome {
        guard let handler else { throw PushHandoffError.noHandler }
        return try await handler.answer(answer, to: prompt)
    }

    /// Publishes a prompt found another way (the stream, or the pending list
    /// at start-up) on ``prompts``.
    public nonisolated func show(_ prompt: PushPrompt) {
        promptSink.yield(prompt)
    }

    /// The bytes to forward for a notification's `userInfo`: its string-keyed
    /// entries as JSON with sorted keys, or `nil` when they are not
    /// JSON-compatible. Call it where the `userInfo` arrives (it is not
    /// `Sendable`), then pass the bytes on.
    public static func payload(fromUserInfo userInfo: [AnyHashable: Any]) -> Data? {
        var object: [String: Any] = [:]
        for (key, value) in userInfo {
            if let key = key.base as? String {
                object[key] = value
            }
        }
        guard JSONSerialization.isValidJSONObject(object) else { return nil }
        return try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])
    }
}
