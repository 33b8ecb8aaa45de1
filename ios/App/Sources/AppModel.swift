import Foundation
import Observation
import SwiftUI
import Tessera
import TesseraFFI
#if canImport(UIKit)
import UIKit
#endif

/// The app's state: which screen shows, the Tessera client, the clock banner
/// and the push prompt waiting for an answer. Views read it from the
/// environment; every change happens on the main actor, while the client runs
/// the blocking work elsewhere.
@MainActor
@Observable
final class AppModel {
    /// The screen the app shows.
    enum Phase: Equatable {
        /// Opening the data folder and trying the keychain.
        case starting
        /// First launch: no vault yet.
        case needsVault
        /// The vault is locked; `reason` says why the keychain did not open
        /// it, when it tried.
        case locked(reason: String?)
        /// A recovery key to show once (after creating the vault or making a
        /// new key).
        case recoveryKey(String)
        /// The account list.
        case unlocked
        /// Tessera could not start at all.
        case failed(String)
    }

    /// The screen the app shows.
    private(set) var phase: Phase = .starting
    /// The clock's status, for the banner; `nil` until first read.
    private(set) var clock: ClockInfo?
    /// The client, once the data folder is open.
    private(set) var client: TesseraClient?
    /// Bumped at every unlock, so views restart their code streams.
    private(set) var session = 0
    /// A push prompt waiting for the user's answer.
    var pendingPrompt: PushPrompt?
    /// The APNs device token, once iOS gave one: new pairings ask to be
    /// woken through it.
    var apnsToken: Data?

    /// The APNs hand-off; the app delegate forwards push traffic to it.
    let push: PushHandoff

    /// True when the app locked the vault itself on going to the background,
    /// so it may unlock again through the keychain on coming back.
    private var lockedInBackground = false
    /// True while `start()` runs.
    private var starting = false

    init(push: PushHandoff = PushHandoff()) {
        self.push = push
    }

    /// Opens the data folder and the vault (through the keychain when it can).
    func start() async {
        guard !starting, client == nil else { return }
        starting = true
        defer { starting = false }
        phase = .starting
        do {
            let directory = try Self.dataDirectory()
            let client = try await TesseraClient.open(
                config: AuthenticatorConfig(dataDir: directory.path),
                storage: KeychainSecureStorage(),
                http: URLSessionHttpTransport()
            )
            self.client = client
            clock = await client.clockStatus()
            if await client.vaultExists() {
                await unlockWithKeystore()
            } else {
                phase = .needsVault
            }
            Task { await syncClock() }
        } catch {
            phase = .failed(Self.describe(error))
        }
    }

    /// Creates the vault and moves on to showing its recovery key.
    ///
    /// - Parameter password: an optional password, a second way in.
    func createVault(password: String?) async throws {
        guard let client else { return }
        let recoveryKey = try await client.createVault(password: password)
        phase = .recoveryKey(recoveryKey)
    }

    /// Tries the keychain; on failure, asks for the password or recovery key.
    func unlockWithKeystore() async {
        guard let client else { return }
        do {
            try await client.unlockWithKeystore()
            didUnlock()
        } catch {
            phase = .locked(reason: Self.describe(error))
        }
    }

    /// Unlocks with the password.
    func unlock(password: String) async throws {
        guard let client else { return }
        try await client.unlock(password: password)
        didUnlock()
    }

    /// Unlocks with the recovery key.
    func unlock(recoveryKey: String) async throws {
        guard let client else { return }
        try await client.unlock(recoveryKey: recoveryKey)
        didUnlock()
    }

    /// The user has written the recovery key down: on to the accounts.
    func acknowledgeRecoveryKey() {
        didUnlock()
    }

    /// Replaces the recovery key and shows the new one once.
    func makeNewRecoveryKey() async throws {
        guard let client else { return }
        let recoveryKey = try await client.newRecoveryKey()
        phase = .recoveryKey(recoveryKey)
    }

    /// Locks the vault and wipes its secrets from memory.
    func lock() async {
        guard let client else { return }
        await client.lock()
        phase = .locked(reason: nil)
    }

    /// Asks the time sources again and refreshes the banner. Offline, the
    /// banner keeps the last known status.
    func syncClock() async {
        guard let client else { return }
        do {
            clock = try await client.syncClock()
        } catch {
            clock = await client.clockStatus()
        }
    }

    /// Locks when the app goes to the background (secrets leave memory), and
    /// unlocks through the keychain when it comes back.
    func scenePhaseChanged(to scenePhase: ScenePhase) async {
        switch scenePhase {
        case .background:
            if phase == .unlocked {
                await lock()
                lockedInBackground = true
            }
        case .active:
            if lockedInBackground {
                lockedInBackground = false
                await unlockWithKeystore()
            }
        case .inactive:
            break
        @unknown default:
            break
        }
    }

    /// Shows every prompt the push hand-off publishes, one at a time.
    func listenForPrompts() async {
        for await prompt in push.prompts {
            pendingPrompt = prompt
        }
    }

    /// Sends the answer to a prompt. A wrong number leaves it open (the
    /// outcome says how many tries are left); any other outcome settles it,
    /// and the sheet closes with ``closePrompt(_:)`` once it was read.
    func answer(_ answer: PushAnswer, to prompt: PushPrompt) async throws -> AnswerOutcome {
        try await push.answer(answer, to: prompt)
    }

    /// Closes the prompt sheet once the user has seen the outcome.
    func closePrompt(_ prompt: PushPrompt) {
        if pendingPrompt?.id == prompt.id {
            pendingPrompt = nil
        }
    }

    /// Pairs this device with a site's push server from its QR code's URI;
    /// it is woken through APNs when iOS gave a token, else only while the
    /// app is open.
    func pair(uri: String) async throws -> PushAccount {
        guard let client else { throw PushHandoffError.noHandler }
        let delivery: PushDelivery = apnsToken.map { .apns(token: TesseraPushHandler.hexToken($0)) } ?? .stream
        return try await client.pairPush(uri: uri, deviceName: Self.deviceName(), delivery: delivery)
    }

    /// The name this device takes over handed-off push pairings with.
    func deviceNameForTransfer() -> String {
        Self.deviceName()
    }

    /// How handed-off push pairings ask to wake this device: APNs when iOS
    /// gave a token, else the stream.
    func pushDeliveryForTransfer() -> PushDelivery {
        apnsToken.map { .apns(token: TesseraPushHandler.hexToken($0)) } ?? .stream
    }

    /// The name a site lists this device as.
    private static func deviceName() -> String {
        #if canImport(UIKit)
        return String(UIDevice.current.name.prefix(64))
        #else
        return "Tessera"
        #endif
    }

    /// After an unlock: installs the push handler, asks iOS for a device
    /// token, and shows the prompts that arrived while the vault was locked.
    private func startPush(client: TesseraClient) async {
        await push.install(TesseraPushHandler(client: client))
        #if canImport(UIKit)
        UIApplication.shared.registerForRemoteNotifications()
        #endif
        // A token iOS gave while the vault was locked (the handler was not
        // installed yet, so it went nowhere): send it to every paired
        // server now, through `update_push_delivery`.
        if let apnsToken {
            _ = try? await push.registerDeviceToken(apnsToken)
        }
        guard let accounts = try? await client.pushAccounts() else { return }
        for account in accounts {
            for prompt in (try? await client.pendingPrompts(accountId: account.accountId)) ?? [] {
                push.show(prompt)
            }
        }
    }

    /// A sentence for the user about `error`.
    nonisolated static func describe(_ error: any Error) -> String {
        if let error = error as? LocalizedError, let description = error.errorDescription {
            return description
        }
        return error.localizedDescription
    }

    private func didUnlock() {
        session += 1
        phase = .unlocked
        if let client {
            Task { await startPush(client: client) }
        }
    }

    /// Application Support/Tessera: private to the app. The vault in it is
    /// encrypted; its keychain key never leaves the device, so a backup
    /// restored elsewhere opens with the password or recovery key.
    private static func dataDirectory() throws -> URL {
        let support = try FileManager.default.url(
            for: .applicationSupportDirectory,
            in: .userDomainMask,
            appropriateFor: nil,
            create: true
        )
        let directory = support.appendingPathComponent("Tessera", isDirectory: true)
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        return directory
    }
}
