import Foundation
import TesseraFFI

// Push approval (DESIGN.md §5). The prompt, delivery, decision and outcome
// types are the generated ones (`PushPrompt`, `PushDelivery`, `PushDecision`,
// `AnswerOutcome`, `PushEvent`); this file adds what the UI needs on top and
// the handler the APNs hand-off forwards to.

extension PushPrompt: @retroactive Identifiable {}

extension PushPrompt {
    /// When the server issued the prompt.
    public var issuedAtDate: Date {
        Date(timeIntervalSince1970: TimeInterval(issuedAt))
    }

    /// When the prompt stops being answerable.
    public var expiresAtDate: Date {
        Date(timeIntervalSince1970: TimeInterval(expiresAt))
    }

    /// True when the prompt can no longer be answered at `date` (pass the
    /// trusted time, ``TesseraClient/trustedNowMs()``, when there is one).
    public func isExpired(at date: Date = Date()) -> Bool {
        date >= expiresAtDate
    }
}

/// The user's answer to a prompt.
public enum PushAnswer: Sendable, Hashable {
    /// Approve, with the number the user typed or picked.
    case approve(number: String)
    /// Deny: it was the user, but they changed their mind, or they are not sure.
    case deny
    /// Deny and report: the user did not try to sign in. The server blocks
    /// further prompts and tells the site.
    case reportFraud

    /// The decision and number to send.
    var decision: (PushDecision, String?) {
        switch self {
        case let .approve(number):
            return (.approve, number)
        case .deny:
            return (.deny, nil)
        case .reportFraud:
            return (.fraud, nil)
        }
    }
}

/// What Tessera's push glue does with APNs traffic; ``TesseraPushHandler``
/// is the implementation over the Rust core.
///
/// Implementations are thread-safe: the hand-off calls them from any task.
public protocol PushPayloadHandler: AnyObject, Sendable {
    /// Passes the APNs device token on to every paired push server.
    ///
    /// - Parameter token: the token from
    ///   `application(_:didRegisterForRemoteNotificationsWithDeviceToken:)`.
    func registerDeviceToken(_ token: Data) async throws

    /// Handles one remote notification: a wake-up that names a prompt. The
    /// handler fetches the signed details from the push server and verifies
    /// them.
    ///
    /// - Parameter payload: the notification's `userInfo` as JSON.
    /// - Returns: the prompt to show, or `nil` when the payload needs no
    ///   user action (already answered, expired).
    func handleRemoteNotification(_ payload: Data) async throws -> PushPrompt?

    /// Sends the user's answer to a prompt, signed by the device key.
    ///
    /// - Parameters:
    ///   - answer: approve (with the number), deny or report.
    ///   - prompt: the prompt answered.
    /// - Returns: how it ended; `.wrongNumber(attemptsLeft:)` keeps the
    ///   prompt open.
    func answer(_ answer: PushAnswer, to prompt: PushPrompt) async throws -> AnswerOutcome
}

/// The ``PushPayloadHandler`` over Tessera's core: a payload goes to
/// ``TesseraClient/handlePushPayload(_:)``, the prompt it names is fetched
/// and verified from the paired server (``TesseraClient/findPrompt(promptId:)``),
/// answers are signed and sent by ``TesseraClient/answerPrompt(accountId:promptId:decision:number:)``,
/// and a new device token reaches every paired server as `.apns(token:)`.
///
/// The pairings live in the vault, so the vault must be unlocked; the app
/// unlocks it through the Keychain when a notification wakes it.
public final class TesseraPushHandler: PushPayloadHandler {
    private let client: TesseraClient

    /// Makes a handler over `client`.
    public init(client: TesseraClient) {
        self.client = client
    }

    /// The APNs token as servers take it: lowercase hex.
    public static func hexToken(_ token: Data) -> String {
        token.map { String(format: "%02x", $0) }.joined()
    }

    public func registerDeviceToken(_ token: Data) async throws {
        let delivery = PushDelivery.apns(token: Self.hexToken(token))
        var firstError: (any Error)?
        for account in try await client.pushAccounts() {
            do {
                try await client.updatePushDelivery(accountId: account.accountId, delivery: delivery)
            } catch {
                // One unreachable server must not keep the others from the token.
                firstError = firstError ?? error
            }
        }
        if let firstError {
            throw firstError
        }
    }

    /// Reads the payload, then fetches and verifies the prompt. A vault
    /// that is locked (the app locks it in the background) is opened through
    /// the Keychain for the fetch and locked again afterwards; the prompt is
    /// answered once the user has opened the app.
    public func handleRemoteNotification(_ payload: Data) async throws -> PushPrompt? {
        let promptId = try client.handlePushPayload(payload)
        let wasLocked = !(await client.isUnlocked())
        if wasLocked {
            try await client.unlockWithKeystore()
        }
        do {
            let prompt = try await client.findPrompt(promptId: promptId)
            if wasLocked {
                await client.lock()
            }
            return prompt
        } catch TesseraClientError.promptUnavailable {
            if wasLocked {
                await client.lock()
            }
            return nil
        } catch {
            if wasLocked {
                await client.lock()
            }
            throw error
        }
    }

    public func answer(_ answer: PushAnswer, to prompt: PushPrompt) async throws -> AnswerOutcome {
        let (decision, number) = answer.decision
        return try await client.answerPrompt(
            accountId: prompt.accountId,
            promptId: prompt.id,
            decision: decision,
            number: number
        )
    }
}
