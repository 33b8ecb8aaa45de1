import Foundation

// Push approval (DESIGN.md §5) is not in the Rust API yet: `Authenticator`
// gains pairing, prompt verification and signed answers with the push issue,
// and the implementation of `PushPayloadHandler` (a thin adapter over those
// methods) lands with it. Until then the app installs no handler: the APNs
// hand-off below forwards every payload to the handler slot, which is empty,
// and reports that nothing was done. No prompt is ever made up on this side.

/// How the user proves they are looking at the sign-in page: they type the
/// number it shows, or pick it among a few (NIST SP 800-63B number matching).
public enum PushNumberMatching: Sendable, Hashable {
    /// Type the number shown on the sign-in page; it has `digits` digits.
    case enter(digits: Int)
    /// Pick the number shown on the sign-in page among `options`.
    case choose(options: [String])
}

/// Where a sign-in attempt comes from, as the push server signed it. Every
/// part is optional: show what is there.
public struct PushRequestContext: Sendable, Hashable {
    /// The IP address of the browser or app that is signing in.
    public var ipAddress: String?
    /// An approximate place derived from that address ("Lyon, France").
    public var location: String?
    /// The browser or application ("Firefox on Linux").
    public var application: String?

    /// Makes a context.
    public init(ipAddress: String? = nil, location: String? = nil, application: String? = nil) {
        self.ipAddress = ipAddress
        self.location = location
        self.application = application
    }
}

/// A sign-in request waiting for the user's answer, verified by the handler
/// (signature, pinned server key, expiry) before it is shown.
public struct PushPrompt: Sendable, Hashable, Identifiable {
    /// The challenge id, unique per prompt.
    public var id: String
    /// The site asking ("GitHub").
    public var site: String
    /// The account at that site.
    public var accountName: String
    /// Where the attempt comes from.
    public var context: PushRequestContext
    /// When the server issued the challenge.
    public var issuedAt: Date
    /// When it stops being answerable.
    public var expiresAt: Date
    /// How the number is entered.
    public var numberMatching: PushNumberMatching

    /// Makes a prompt.
    public init(
        id: String,
        site: String,
        accountName: String,
        context: PushRequestContext,
        issuedAt: Date,
        expiresAt: Date,
        numberMatching: PushNumberMatching
    ) {
        self.id = id
        self.site = site
        self.accountName = accountName
        self.context = context
        self.issuedAt = issuedAt
        self.expiresAt = expiresAt
        self.numberMatching = numberMatching
    }

    /// True when the prompt can no longer be answered at `date`.
    public func isExpired(at date: Date = Date()) -> Bool {
        date >= expiresAt
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
}

/// What Tessera's push glue does with APNs traffic. One implementation,
/// backed by the Rust core's push client, arrives with the push issue (see
/// the note at the top of this file).
///
/// Implementations are thread-safe: the hand-off calls them from any task.
public protocol PushPayloadHandler: AnyObject, Sendable {
    /// Passes the APNs device token on, so the push servers the device is
    /// paired with can wake it.
    ///
    /// - Parameter token: the token from
    ///   `application(_:didRegisterForRemoteNotificationsWithDeviceToken:)`.
    func registerDeviceToken(_ token: Data) async throws

    /// Handles one remote notification: a wake-up that names a challenge.
    /// The handler fetches the signed details from the push server and
    /// verifies them.
    ///
    /// - Parameter payload: the notification's `userInfo` as JSON.
    /// - Returns: the prompt to show, or `nil` when the payload needs no
    ///   user action (not Tessera's, already answered, expired).
    func handleRemoteNotification(_ payload: Data) async throws -> PushPrompt?

    /// Sends the user's answer to a prompt, signed by the device key.
    ///
    /// - Parameters:
    ///   - answer: approve (with the number), deny or report.
    ///   - prompt: the prompt answered.
    func answer(_ answer: PushAnswer, to prompt: PushPrompt) async throws
}
