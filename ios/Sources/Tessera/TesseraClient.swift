import Dispatch
import Foundation
import TesseraFFI

/// Tessera for one profile, for Swift concurrency: the vault, its accounts
/// and codes, and the trusted clock.
///
/// `TesseraClient` wraps the generated `Authenticator`. Its calls are blocking
/// (they touch the vault file and the keystore, and deriving a password key
/// takes a noticeable fraction of a second), so every method here runs them on
/// a private dispatch queue and suspends until they finish: the caller, even
/// on the main actor, never blocks, and the Swift concurrency thread pool is
/// never held up either. A blocking call that has started runs to completion
/// even if the awaiting task is cancelled.
///
/// Errors are always ``TesseraClientError``.
///
/// Network access (HTTPS time sources, push approval, device transfer) goes
/// through an `HttpTransport`: ``URLSessionHttpTransport`` unless another one,
/// or `nil` for none, is given.
///
/// ```swift
/// let client = try await TesseraClient.open(
///     config: AuthenticatorConfig(dataDir: folder.path),
///     storage: KeychainSecureStorage()
/// )
/// if await client.vaultExists() { try await client.unlockWithKeystore() }
/// for await states in client.codeStates() { render(states) }
/// ```
public final class TesseraClient: Sendable {
    /// The generated object; thread-safe on the Rust side.
    private let core: Authenticator
    /// Where blocking calls run. Concurrent: Rust serialises what must be.
    private let queue: DispatchQueue

    /// Wraps an existing `Authenticator`.
    ///
    /// - Parameter authenticator: the object to drive; the client does not
    ///   take exclusive ownership, it only calls it.
    public init(authenticator: Authenticator) {
        self.core = authenticator
        self.queue = DispatchQueue(
            label: "org.tessera.client",
            qos: .userInitiated,
            attributes: .concurrent
        )
    }

    /// Sets up Tessera over `config.dataDir`, synchronously. The call is
    /// quick (it reads the saved clock estimate), but prefer
    /// ``open(config:storage:http:)`` on the main actor.
    ///
    /// - Parameters:
    ///   - config: the data folder, time sources and correction setting.
    ///   - storage: where the vault's keystore key is kept (for example
    ///     ``KeychainSecureStorage``); `nil` for password-only vaults.
    ///   - http: how Tessera reaches the network (by default
    ///     ``defaultTransport()``); `nil` for no network access (`ntp://`
    ///     time sources still work).
    /// - Throws: ``TesseraClientError/invalidInput(reason:)`` for an empty
    ///   data folder, ``TesseraClientError/time(reason:)`` for a time source
    ///   that is not an `ntp://` or `https://` URL.
    public convenience init(
        config: AuthenticatorConfig,
        storage: (any SecureStorage)?,
        http: (any HttpTransport)? = TesseraClient.defaultTransport()
    ) throws {
        let authenticator: Authenticator
        do {
            authenticator = try Authenticator(config: config, storage: storage, http: http)
        } catch {
            throw TesseraClientError(error)
        }
        self.init(authenticator: authenticator)
    }

    /// Sets up Tessera over `config.dataDir` off the calling thread.
    ///
    /// Nothing is unlocked yet: call ``createVault(password:)`` the first
    /// time, then one of the `unlock…` methods.
    ///
    /// - Parameters:
    ///   - config: the data folder, time sources and correction setting.
    ///   - storage: where the vault's keystore key is kept; `nil` for
    ///     password-only vaults.
    ///   - http: how Tessera reaches the network (HTTPS time sources, push
    ///     approval, device transfer), by default ``defaultTransport()``;
    ///     `nil` for no network access, when every network call fails with
    ///     an error saying so (`ntp://` time sources still work).
    /// - Returns: a client with a locked vault.
    public static func open(
        config: AuthenticatorConfig,
        storage: (any SecureStorage)?,
        http: (any HttpTransport)? = TesseraClient.defaultTransport()
    ) async throws -> TesseraClient {
        try await withCheckedThrowingContinuation { continuation in
            DispatchQueue.global(qos: .userInitiated).async {
                continuation.resume(with: Result { try TesseraClient(config: config, storage: storage, http: http) })
            }
        }
    }

    /// The transport a client gets when none is given: a new
    /// ``URLSessionHttpTransport`` on Apple platforms. Elsewhere there is
    /// none (swift-corelibs-foundation's `URLSession` cannot stream a body),
    /// so pass a transport of your own for network access there.
    public static func defaultTransport() -> (any HttpTransport)? {
        #if canImport(Darwin)
        return URLSessionHttpTransport()
        #else
        return nil
        #endif
    }

    // MARK: - Running blocking calls

    /// Runs `body` with the `Authenticator` on the client's queue and
    /// returns its result, with any error mapped to ``TesseraClientError``.
    private func perform<T: Sendable>(
        _ body: @escaping @Sendable (Authenticator) throws -> T
    ) async throws -> T {
        let core = self.core
        let queue = self.queue
        return try await withCheckedThrowingContinuation { continuation in
            queue.async {
                do {
                    continuation.resume(returning: try body(core))
                } catch {
                    continuation.resume(throwing: TesseraClientError(error))
                }
            }
        }
    }

    /// Runs an infallible `body` with the `Authenticator` on the client's queue.
    private func query<T: Sendable>(
        _ body: @escaping @Sendable (Authenticator) -> T
    ) async -> T {
        let core = self.core
        let queue = self.queue
        return await withCheckedContinuation { continuation in
            queue.async {
                continuation.resume(returning: body(core))
            }
        }
    }

    // MARK: - The vault

    /// True when a vault exists in the data folder.
    public func vaultExists() async -> Bool {
        await query { core in core.vaultExists() }
    }

    /// True when the vault is open.
    public func isUnlocked() async -> Bool {
        await query { core in core.isUnlocked() }
    }

    /// Creates the vault and unlocks it. It is protected by the secure
    /// storage (when the client has one) and by `password` (when given);
    /// at least one of the two is needed.
    ///
    /// - Parameter password: an optional vault password.
    /// - Returns: the recovery key. Show it once and ask the user to write
    ///   it down; it is never shown again.
    /// - Throws: ``TesseraClientError/vaultExists`` when there already is
    ///   one, ``TesseraClientError/invalidInput(reason:)`` when there is
    ///   neither storage nor password.
    public func createVault(password: String? = nil) async throws -> String {
        try await perform { core in try core.createVault(password: password) }
    }

    /// Unlocks through the secure storage, with no user input.
    ///
    /// - Throws: ``TesseraClientError/keystoreUnavailable(reason:)`` when the
    ///   storage cannot open the vault (for example after a restore onto a
    ///   new device): ask for the password or the recovery key then.
    public func unlockWithKeystore() async throws {
        try await perform { core in try core.unlockWithKeystore() }
    }

    /// Unlocks with the vault password. When the secure storage had lost its
    /// key, a fresh one is stored so the next unlock needs no password.
    ///
    /// - Parameter password: the vault password.
    /// - Throws: ``TesseraClientError/wrongPassword``.
    public func unlock(password: String) async throws {
        try await perform { core in try core.unlockWithPassword(password: password) }
    }

    /// Unlocks with the recovery key (any case, dashes optional), and
    /// restores the keystore key like ``unlock(password:)``.
    ///
    /// - Parameter recoveryKey: the key shown when the vault was created.
    /// - Throws: ``TesseraClientError/wrongRecoveryKey``.
    public func unlock(recoveryKey: String) async throws {
        try await perform { core in try core.unlockWithRecoveryKey(recoveryKey: recoveryKey) }
    }

    /// Closes the vault and wipes its key and secrets from memory. Running
    /// ``codeStates()`` streams end at their next tick.
    public func lock() async {
        await query { core in core.lock() }
    }

    /// Adds or replaces the vault password.
    ///
    /// - Parameter password: the new password.
    public func setPassword(_ password: String) async throws {
        try await perform { core in try core.setPassword(password: password) }
    }

    /// Makes a new recovery key; the old one stops working.
    ///
    /// - Returns: the new key, to show once.
    public func newRecoveryKey() async throws -> String {
        try await perform { core in try core.newRecoveryKey() }
    }

    /// Where the vault is, its format version and its ways in.
    public func vaultInfo() async throws -> VaultInfo {
        try await perform { core in try core.vaultInfo() }
    }

    // MARK: - Accounts

    /// Adds an account from an `otpauth://` URI (typed, pasted or scanned).
    ///
    /// - Parameter uri: the URI; it carries the secret, so it is never logged.
    /// - Returns: the new account and the warnings to show (a weak secret, …).
    /// - Throws: ``TesseraClientError/invalidUri(field:reason:)`` naming the
    ///   part at fault, ``TesseraClientError/duplicateAccount(name:)``.
    public func addAccount(uri: String) async throws -> AddedAccount {
        try await perform { core in try core.addUri(uri: uri) }
    }

    /// Adds every account whose QR code is in a grey image. All or nothing:
    /// one bad code adds none.
    ///
    /// - Parameters:
    ///   - width: pixels per row.
    ///   - height: rows.
    ///   - grey: one byte per pixel (0 black … 255 white), row by row from
    ///     the top: exactly `width × height` bytes.
    /// - Returns: the new accounts, in the order found.
    /// - Throws: ``TesseraClientError/invalidImage(reason:)`` when `grey`
    ///   has another length or no QR code can be read.
    public func addFromQrPixels(width: UInt32, height: UInt32, grey: Data) async throws -> [AddedAccount] {
        try await perform { core in try core.addFromQrPixels(width: width, height: height, grey: grey) }
    }

    #if canImport(ImageIO)
    /// Adds every account whose QR code is in an image file. All or nothing:
    /// one bad code adds none.
    ///
    /// The image is decoded here, off the calling thread, by ImageIO (PNG,
    /// JPEG, HEIC and every other format it reads; transparency counts as
    /// white), then read like ``addFromQrPixels(width:height:grey:)``.
    ///
    /// - Parameter data: the file's bytes.
    /// - Returns: the new accounts, in the order found.
    /// - Throws: ``TesseraClientError/invalidImage(reason:)`` when the file
    ///   is no readable image, is larger than 40 megapixels, or has no
    ///   readable QR code.
    public func addFromQrImage(data: Data) async throws -> [AddedAccount] {
        try await perform { core in
            let image = try GreyImage(decoding: data)
            return try core.addFromQrPixels(width: image.width, height: image.height, grey: image.pixels)
        }
    }
    #endif

    /// Every account, in display order.
    public func accounts() async throws -> [AccountRecord] {
        try await perform { core in try core.accounts() }
    }

    /// Changes an account's issuer and/or label; `nil` keeps the old value.
    public func renameAccount(id: String, issuer: String?, label: String?) async throws {
        try await perform { core in try core.renameAccount(id: id, issuer: issuer, label: label) }
    }

    /// Removes an account.
    public func removeAccount(id: String) async throws {
        try await perform { core in try core.removeAccount(id: id) }
    }

    /// Moves an account to `position` (0 is the top).
    public func moveAccount(id: String, to position: Int) async throws {
        guard let index = UInt32(exactly: position) else {
            throw TesseraClientError.invalidInput(reason: "position \(position) is out of range")
        }
        try await perform { core in try core.moveAccount(id: id, position: index) }
    }

    /// Replaces an account's tags.
    public func setTags(id: String, tags: [String]) async throws {
        try await perform { core in try core.setTags(id: id, tags: tags) }
    }

    // MARK: - Codes

    /// The current code of every time-based account, in display order.
    /// HOTP accounts are left out: use ``nextHotpCode(id:)``.
    ///
    /// - Parameter nowMs: the instant (ms since the Unix epoch), or `nil` for
    ///   the trusted time now.
    public func codes(at nowMs: UInt64? = nil) async throws -> [CodeRecord] {
        try await perform { core in try core.codes(nowMs: nowMs) }
    }

    /// The next code of an HOTP account. The advanced counter is saved
    /// before the code is returned, so a code is never shown twice.
    public func nextHotpCode(id: String) async throws -> CodeRecord {
        try await perform { core in try core.nextHotpCode(id: id) }
    }

    /// Every account with its current code at one trusted instant, computed
    /// off the calling thread. See ``CodeState``.
    public func codeStates(at nowMs: UInt64) async throws -> [CodeState] {
        try await perform { core in try TesseraClient.states(of: core, at: nowMs) }
    }

    /// A stream of every account with its current code, for a ticking list.
    ///
    /// It yields at once, then exactly when the next whole second begins by
    /// ``trustedNowMs()``, and so on: since code periods are whole seconds,
    /// each period boundary gets a fresh element with the new code, and the
    /// countdown in between moves by one second per element. All states of
    /// an element are computed at the same instant (``CodeState/nowMs``).
    ///
    /// The stream ends when the vault is locked (or another call fails) and
    /// when the consuming task is cancelled; start a new one after
    /// unlocking. Only the newest element is buffered, so a slow consumer
    /// skips ticks instead of falling behind.
    public func codeStates() -> AsyncStream<[CodeState]> {
        let core = self.core
        let client = self
        return AsyncStream(bufferingPolicy: .bufferingNewest(1)) { continuation in
            let ticker = Task.detached(priority: .userInitiated) {
                while !Task.isCancelled {
                    let nowMs = core.trustedNowMs()
                    guard let states = try? await client.codeStates(at: nowMs) else {
                        break
                    }
                    continuation.yield(states)
                    await TesseraClient.sleepUntilSecondChanges(from: nowMs, core: core)
                }
                continuation.finish()
            }
            continuation.onTermination = { _ in ticker.cancel() }
        }
    }

    /// Returns once the whole second of the trusted clock differs from the
    /// one of `instantMs` (normally at the start of the next one), or when
    /// the task is cancelled. The trusted clock can be re-estimated while
    /// asleep, so it is read again on every wake-up.
    private static func sleepUntilSecondChanges(from instantMs: UInt64, core: Authenticator) async {
        let second = instantMs / 1000
        while !Task.isCancelled {
            let now = core.trustedNowMs()
            if now / 1000 != second {
                return
            }
            let untilNextSecondMs = 1000 - now % 1000
            do {
                try await Task.sleep(nanoseconds: untilNextSecondMs * 1_000_000)
            } catch {
                return
            }
        }
    }

    /// Builds the states of every account at `nowMs` (blocking).
    private static func states(of core: Authenticator, at nowMs: UInt64) throws -> [CodeState] {
        let accounts = try core.accounts()
        let codes = try core.codes(nowMs: nowMs)
        var byAccount: [String: CodeRecord] = [:]
        for code in codes {
            byAccount[code.accountId] = code
        }
        return accounts.map { account in
            CodeState(account: account, code: byAccount[account.id], nowMs: nowMs)
        }
    }

    // MARK: - Trusted time

    /// The trusted time now (ms since the Unix epoch): the device clock
    /// corrected by the clock estimate when correction is on and the
    /// estimate is trusted. Countdowns must use this same instant.
    ///
    /// This reads memory only, so it is synchronous.
    public func trustedNowMs() -> UInt64 {
        core.trustedNowMs()
    }

    /// The clock's status, for the clock banner.
    public func clockStatus() async -> ClockInfo {
        await query { core in core.clockStatus() }
    }

    /// Asks the time sources now, keeps and saves a good estimate, and
    /// returns the new status.
    ///
    /// - Throws: ``TesseraClientError/time(reason:)`` when no estimate could
    ///   be made (offline, or the sources disagree); the previous estimate
    ///   is kept.
    public func syncClock() async throws -> ClockInfo {
        try await native { core in try await core.syncClock() }
    }

    /// Runs an async call of the `Authenticator` (it suspends without
    /// holding a thread), with any error mapped to ``TesseraClientError``.
    private func native<T: Sendable>(
        _ body: @Sendable (Authenticator) async throws -> T
    ) async throws -> T {
        do {
            return try await body(core)
        } catch {
            throw TesseraClientError(error)
        }
    }

    // MARK: - Push approval

    /// Pairs this device with a site's push server from the
    /// `tessera-push://pair?…` URI of its QR code, and stores the pairing in
    /// the vault: beside the codes of the account with the same issuer and
    /// label, or as a new push-only account. An account already paired is
    /// refused before the site's one-time code is used.
    ///
    /// - Parameters:
    ///   - uri: the scanned pairing URI.
    ///   - deviceName: how the site lists this device ("Alice's iPhone").
    ///   - delivery: how the server wakes this device: `.apns(token:)` with
    ///     the hex device token, or `.stream` when the app keeps
    ///     ``pushEvents(accountId:)`` open.
    /// - Returns: the paired account.
    /// - Throws: ``TesseraClientError/pairingRefused(reason:)`` for a used or
    ///   expired code, ``TesseraClientError/pushNetwork(reason:)`` offline.
    public func pairPush(uri: String, deviceName: String, delivery: PushDelivery) async throws -> PushAccount {
        try await native { core in
            try await core.pairPush(uri: uri, deviceName: deviceName, delivery: delivery)
        }
    }

    /// Every account paired with a push server, in display order.
    public func pushAccounts() async throws -> [PushAccount] {
        try await perform { core in try core.pushAccounts() }
    }

    /// Reads a notification's payload (the `userInfo` as JSON, see
    /// ``PushHandoff/payload(fromUserInfo:)``) and returns the id of the
    /// prompt it announces. Quick and strict; needs no unlocked vault.
    ///
    /// - Throws: ``TesseraClientError/invalidPushPayload(reason:)``.
    public func handlePushPayload(_ payload: Data) throws -> String {
        do {
            return try core.handlePushPayload(payload: payload)
        } catch {
            throw TesseraClientError(error)
        }
    }

    /// Every pending, verified prompt of a paired account.
    public func pendingPrompts(accountId: String) async throws -> [PushPrompt] {
        try await native { core in try await core.pendingPrompts(accountId: accountId) }
    }

    /// Fetches and verifies one prompt of a paired account.
    ///
    /// - Throws: ``TesseraClientError/promptUnavailable(reason:)`` when it
    ///   expired, was answered or is unknown;
    ///   ``TesseraClientError/untrustedPrompt(reason:)`` when it fails
    ///   verification (never show it).
    public func fetchPrompt(accountId: String, promptId: String) async throws -> PushPrompt {
        try await native { core in try await core.fetchPrompt(accountId: accountId, promptId: promptId) }
    }

    /// Finds a prompt among every paired account: a wake-up names only the
    /// prompt.
    ///
    /// - Throws: ``TesseraClientError/promptUnavailable(reason:)`` when no
    ///   paired account has it pending.
    public func findPrompt(promptId: String) async throws -> PushPrompt {
        var last = TesseraClientError.promptUnavailable(reason: "no paired account knows this prompt")
        for account in try await pushAccounts() {
            do {
                return try await fetchPrompt(accountId: account.accountId, promptId: promptId)
            } catch let error as TesseraClientError {
                switch error {
                case .promptUnavailable, .deviceRevoked:
                    last = error
                default:
                    throw error
                }
            }
        }
        throw last
    }

    /// Answers a prompt, signed by this device's key. A wrong number is an
    /// outcome (`.wrongNumber(attemptsLeft:)`), not an error.
    ///
    /// - Parameters:
    ///   - accountId: the paired account.
    ///   - promptId: the prompt.
    ///   - decision: approve, deny or report fraud.
    ///   - number: the number typed or picked; needed to approve.
    public func answerPrompt(
        accountId: String,
        promptId: String,
        decision: PushDecision,
        number: String? = nil
    ) async throws -> AnswerOutcome {
        try await native { core in
            try await core.answerPrompt(accountId: accountId, promptId: promptId, decision: decision, number: number)
        }
    }

    /// Unpairs an account: the server revokes this device, then the pairing
    /// leaves the vault (a push-only account with it). When the server
    /// cannot be told nothing changes, unless `force` is set.
    ///
    /// - Returns: true when the server was told.
    @discardableResult
    public func unpairPush(accountId: String, force: Bool = false) async throws -> Bool {
        try await native { core in try await core.unpairPush(accountId: accountId, force: force) }
    }

    /// Tells the server of a paired account a new way to reach this device
    /// (a new APNs device token).
    public func updatePushDelivery(accountId: String, delivery: PushDelivery) async throws {
        try await native { core in try await core.updatePushDelivery(accountId: accountId, delivery: delivery) }
    }

    /// The prompt stream of a paired account, as an `AsyncSequence`.
    ///
    /// Iterating it opens the connection; it reconnects by itself (yielding
    /// `.disconnected` meanwhile). It finishes after `.revoked`, throws a
    /// ``TesseraClientError`` when the account cannot be subscribed to
    /// (locked, not paired), and cancels the native subscription when the
    /// consuming task is cancelled or stops iterating.
    public func pushEvents(accountId: String) -> AsyncThrowingStream<PushEvent, any Error> {
        let core = self.core
        return AsyncThrowingStream { continuation in
            let reader = Task.detached(priority: .userInitiated) {
                let subscription: PushSubscription
                do {
                    subscription = try core.subscribePush(accountId: accountId)
                } catch {
                    continuation.finish(throwing: TesseraClientError(error))
                    return
                }
                await withTaskCancellationHandler {
                    while let event = await subscription.next() {
                        continuation.yield(event)
                    }
                } onCancel: {
                    subscription.cancel()
                }
                subscription.cancel()
                continuation.finish()
            }
            continuation.onTermination = { _ in reader.cancel() }
        }
    }

    // MARK: - Import, export and transfer

    /// Reads an import file and splits it against the vault (new accounts,
    /// duplicates, entries refused). Nothing is added yet: show
    /// `session.preview()`, then ``applyImport(_:)`` or `session.discard()`.
    ///
    /// - Parameters:
    ///   - data: the file's bytes (otpauth list, Tessera backup, Google
    ///     Authenticator export, Aegis, 2FAS).
    ///   - password: for encrypted files.
    ///   - format: the format, or `nil` to detect it.
    /// - Throws: ``TesseraClientError/passwordRequired`` for an encrypted file
    ///   without a password, ``TesseraClientError/wrongPassword``,
    ///   ``TesseraClientError/invalidFile(reason:)``.
    public func previewImport(
        _ data: Data,
        password: String? = nil,
        format: TransferFormat? = nil
    ) async throws -> ImportSession {
        try await perform { core in try core.previewImport(bytes: data, password: password, format: format) }
    }

    /// Adds exactly the new accounts the session's preview listed, all or
    /// nothing, and returns their ids. A session applies once.
    public func applyImport(_ session: ImportSession) async throws -> [String] {
        try await perform { core in try core.applyImport(session: session) }
    }

    /// Exports every account; the bytes were read back and compared with the
    /// vault. Without `force`, a format that cannot carry everything throws
    /// ``TesseraClientError/wouldLoseInformation(warnings:)``.
    public func exportAccounts(
        format: TransferFormat,
        password: String? = nil,
        force: Bool = false
    ) async throws -> ExportedFile {
        try await perform { core in try core.exportAccounts(format: format, password: password, force: force) }
    }

    /// An encrypted Tessera backup, read back and compared with the vault.
    public func backup(password: String) async throws -> ExportedFile {
        try await perform { core in try core.backup(password: password) }
    }

    /// Checks written export bytes against the vault; returns how many
    /// accounts they hold.
    public func verifyExport(format: TransferFormat, data: Data, password: String?) async throws -> UInt32 {
        try await perform { core in try core.verifyExport(format: format, bytes: data, password: password) }
    }

    /// Writes an export to `url` (file protection on), reads it back and
    /// checks it against the vault; a file that does not match is removed
    /// and the error thrown.
    ///
    /// - Returns: how many accounts the written file holds.
    public func write(
        _ file: ExportedFile,
        format: TransferFormat,
        password: String?,
        to url: URL
    ) async throws -> UInt32 {
        #if os(iOS)
        let options: Data.WritingOptions = [.atomic, .completeFileProtection]
        #else
        let options: Data.WritingOptions = [.atomic]
        #endif
        do {
            try file.bytes.write(to: url, options: options)
            let written = try Data(contentsOf: url)
            return try await verifyExport(format: format, data: written, password: password)
        } catch {
            try? FileManager.default.removeItem(at: url)
            throw TesseraClientError(error)
        }
    }

    /// Starts receiving a transfer on this (new) device: a mailbox on the
    /// Tessera server at `serverUrl` (or file mode when `nil`). Show
    /// `receiver.invite().uri` as a QR code, then ``waitForTransfer(_:timeoutMs:)``.
    public func startReceive(serverUrl: String?) async throws -> TransferReceiver {
        try await native { core in try await core.startReceive(serverUrl: serverUrl) }
    }

    /// Waits up to `timeoutMs` for the old device's data; `nil` when nothing
    /// came yet.
    public func waitForTransfer(_ receiver: TransferReceiver, timeoutMs: UInt64 = 15_000) async throws -> ReceivedTransfer? {
        do {
            return try await receiver.wait(timeoutMs: timeoutMs)
        } catch {
            throw TesseraClientError(error)
        }
    }

    /// Opens the data of a file-mode transfer, carried from the old device.
    public func openTransferFile(_ receiver: TransferReceiver, data: Data) async throws -> ReceivedTransfer {
        do {
            return try await receiver.openEnvelope(envelope: data)
        } catch {
            throw TesseraClientError(error)
        }
    }

    /// Applies a received transfer with the code the user read on the old
    /// device: the accounts, then the push pairings handed off. A wrong code
    /// throws ``TesseraClientError/confirmationMismatch`` and ends it.
    public func applyTransfer(
        _ receiver: TransferReceiver,
        confirmationCode: String,
        deviceName: String,
        delivery: PushDelivery
    ) async throws -> TransferApplied {
        do {
            return try await receiver.apply(
                confirmationCode: confirmationCode,
                deviceName: deviceName,
                delivery: delivery
            )
        } catch {
            throw TesseraClientError(error)
        }
    }

    /// Ends a receiver: its mailbox is deleted and its keys dropped.
    public func cancelTransfer(_ receiver: TransferReceiver) async throws {
        await receiver.cancel()
    }

    /// Sends every account (and, with `includePushHandoff`, the push
    /// pairings) to the new device whose invite was scanned. Show the
    /// returned `confirmationCode`; for a file-mode invite, save `envelope`.
    public func sendTransfer(inviteUri: String, includePushHandoff: Bool = true) async throws -> SentTransfer {
        try await native { core in
            try await core.sendTransfer(inviteUri: inviteUri, includePushHandoff: includePushHandoff)
        }
    }
}
