import Foundation
import TesseraFFI

/// Everything that can go wrong in ``TesseraClient``, grouped by what the app
/// should do about it.
///
/// Each case mirrors one case of the generated `TesseraError` (whose Swift
/// names keep Rust's capitals, `TesseraError.InvalidUri`), in Swift's naming,
/// with a user-facing ``errorDescription``. Reasons are short, say what to do,
/// and never contain a secret, a password, a recovery key or a URI.
public enum TesseraClientError: Error, Equatable, Hashable, LocalizedError {
    /// The otpauth URI was refused; `field` names the part at fault
    /// (`secret`, `digits`, `algorithm`, …).
    case invalidUri(field: String, reason: String)
    /// The image has no readable QR code.
    case invalidImage(reason: String)
    /// Another argument is unusable (an empty password, a bad position, …).
    case invalidInput(reason: String)
    /// No account has that id.
    case accountNotFound(id: String)
    /// The same account (issuer, label and secret) is already in the vault.
    case duplicateAccount(name: String)
    /// No vault exists yet: create one.
    case noVault
    /// A vault already exists: unlock it instead.
    case vaultExists
    /// The vault must be unlocked first.
    case locked
    /// The password is wrong.
    case wrongPassword
    /// The recovery key is wrong.
    case wrongRecoveryKey
    /// The keystore cannot open the vault (unavailable, or it lost the key):
    /// unlock with the password or the recovery key.
    case keystoreUnavailable(reason: String)
    /// The app's `SecureStorage` failed.
    case storage(reason: String)
    /// The vault file is damaged or from a newer version of Tessera.
    case vaultDamaged(reason: String)
    /// No time source could be reached or believed.
    case time(reason: String)
    /// The push server refused the pairing (its QR code was used or has
    /// expired, or the server's key does not match the code): ask the site
    /// for a new QR code.
    case pairingRefused(reason: String)
    /// The push server revoked this device, or no longer knows it: pair
    /// again, or remove the pairing with `unpairPush(accountId:force: true)`.
    case deviceRevoked(reason: String)
    /// The prompt can no longer be shown or answered: it expired, was
    /// answered, or is unknown.
    case promptUnavailable(reason: String)
    /// A prompt failed verification under the pinned server key (forged,
    /// for another device, malformed): it was dropped; never show it.
    case untrustedPrompt(reason: String)
    /// A notification's payload is not Tessera's wake-up (`{"prompt_id": …}`).
    case invalidPushPayload(reason: String)
    /// The push server could not be reached or answered oddly (offline, a
    /// timeout, a server error, the device clock far off): try again later.
    case pushNetwork(reason: String)
    /// The push server refused the request (prompts blocked after a fraud
    /// report, too many prompts, …).
    case pushRefused(reason: String)
    /// The file is encrypted: ask for its password and try again.
    case passwordRequired
    /// The file cannot be read: damaged or altered, truncated, too large,
    /// from a newer version, or in no format Tessera reads. For a written
    /// export that does not read back: delete it and export again.
    case invalidFile(reason: String)
    /// The export format cannot carry everything; nothing was exported.
    /// Show `warnings`, then export with `force: true` to leave that out.
    case wouldLoseInformation(warnings: [ExportWarning])
    /// The device-to-device transfer cannot go on (expired, cancelled,
    /// answered by another device, or not for this device): start again.
    case transfer(reason: String)
    /// The code typed is not the transfer's confirmation code: nothing was
    /// applied and the transfer is over; start again.
    case confirmationMismatch
    /// A network request failed (no connection, an unknown host, an
    /// untrusted certificate, no answer in time): try again later.
    case network(reason: String)
    /// Anything else (file system, crypto, or the bindings themselves).
    case internalError(reason: String)

    /// Maps any error thrown by the generated bindings.
    ///
    /// - Parameter error: a `TesseraError`, a `TesseraClientError` (kept as
    ///   it is), or anything else (a failure inside the bindings, reported
    ///   as ``internalError(reason:)``).
    public init(_ error: any Error) {
        if let mapped = error as? TesseraClientError {
            self = mapped
            return
        }
        guard let error = error as? TesseraError else {
            self = .internalError(reason: String(describing: error))
            return
        }
        switch error {
        case let .InvalidUri(field, reason):
            self = .invalidUri(field: field, reason: reason)
        case let .InvalidImage(reason):
            self = .invalidImage(reason: reason)
        case let .InvalidInput(reason):
            self = .invalidInput(reason: reason)
        case let .AccountNotFound(id):
            self = .accountNotFound(id: id)
        case let .DuplicateAccount(name):
            self = .duplicateAccount(name: name)
        case .NoVault:
            self = .noVault
        case .VaultExists:
            self = .vaultExists
        case .Locked:
            self = .locked
        case .WrongPassword:
            self = .wrongPassword
        case .WrongRecoveryKey:
            self = .wrongRecoveryKey
        case let .KeystoreUnavailable(reason):
            self = .keystoreUnavailable(reason: reason)
        case let .Storage(reason):
            self = .storage(reason: reason)
        case let .VaultDamaged(reason):
            self = .vaultDamaged(reason: reason)
        case let .Time(reason):
            self = .time(reason: reason)
        case let .PairingRefused(reason):
            self = .pairingRefused(reason: reason)
        case let .DeviceRevoked(reason):
            self = .deviceRevoked(reason: reason)
        case let .PromptUnavailable(reason):
            self = .promptUnavailable(reason: reason)
        case let .UntrustedPrompt(reason):
            self = .untrustedPrompt(reason: reason)
        case let .InvalidPushPayload(reason):
            self = .invalidPushPayload(reason: reason)
        case let .PushNetwork(reason):
            self = .pushNetwork(reason: reason)
        case let .PushRefused(reason):
            self = .pushRefused(reason: reason)
        case .PasswordRequired:
            self = .passwordRequired
        case let .InvalidFile(reason):
            self = .invalidFile(reason: reason)
        case let .WouldLoseInformation(warnings):
            self = .wouldLoseInformation(warnings: warnings)
        case let .Transfer(reason):
            self = .transfer(reason: reason)
        case .ConfirmationMismatch:
            self = .confirmationMismatch
        case let .Network(reason):
            self = .network(reason: reason)
        case let .Internal(reason):
            self = .internalError(reason: reason)
        }
    }

    /// True when the user can still get in by typing the password or the
    /// recovery key: the keystore route failed, not the vault.
    public var needsManualUnlock: Bool {
        switch self {
        case .keystoreUnavailable, .storage:
            return true
        default:
            return false
        }
    }

    /// A sentence for the user (the same wording as the Rust library's).
    public var errorDescription: String? {
        switch self {
        case let .invalidUri(_, reason):
            return "invalid otpauth URI: \(reason)"
        case let .invalidImage(reason),
            let .invalidInput(reason),
            let .keystoreUnavailable(reason),
            let .vaultDamaged(reason),
            let .time(reason),
            let .pairingRefused(reason),
            let .deviceRevoked(reason),
            let .promptUnavailable(reason),
            let .untrustedPrompt(reason),
            let .invalidPushPayload(reason),
            let .pushNetwork(reason),
            let .pushRefused(reason),
            let .invalidFile(reason),
            let .transfer(reason),
            let .network(reason),
            let .internalError(reason):
            return reason
        case .passwordRequired:
            return "this file is encrypted: a password is needed"
        case let .wouldLoseInformation(warnings):
            return "the export would lose information for \(Set(warnings.map(\.accountId)).count) account(s)"
        case .confirmationMismatch:
            return "the confirmation code does not match: nothing was added; start the transfer again"
        case let .accountNotFound(id):
            return "no account with id \(id)"
        case let .duplicateAccount(name):
            return "\(name) is already in the vault"
        case .noVault:
            return "no vault exists yet"
        case .vaultExists:
            return "a vault already exists"
        case .locked:
            return "the vault is locked"
        case .wrongPassword:
            return "wrong password"
        case .wrongRecoveryKey:
            return "wrong recovery key"
        case let .storage(reason):
            return "secure storage failed: \(reason)"
        }
    }

    /// What the user can do next, when there is something to say.
    public var recoverySuggestion: String? {
        switch self {
        case .invalidUri, .invalidImage:
            return "Check the code or link the site gave you, or scan it again."
        case .keystoreUnavailable, .storage:
            return "Unlock with your password or recovery key."
        case .vaultDamaged:
            return "Update Tessera if the vault came from a newer version; otherwise restore it from a backup."
        case .time:
            return "Check the network connection; codes use the device clock until then."
        case .pairingRefused:
            return "Ask the site for a new QR code and scan it again."
        case .deviceRevoked:
            return "Pair this device with the site again, or remove the pairing."
        case .untrustedPrompt:
            return "Do not approve a sign-in you did not start."
        case .pushNetwork, .network:
            return "Check the network connection and try again."
        case .wrongPassword, .wrongRecoveryKey:
            return "Try again, paying attention to capital letters."
        case .passwordRequired:
            return "Type the password the file was exported with."
        case .wouldLoseInformation:
            return "Export anyway to leave the listed details out, or choose another format."
        case .transfer, .confirmationMismatch:
            return "Start the transfer again on the new device."
        case .invalidInput, .accountNotFound, .duplicateAccount, .noVault, .vaultExists, .locked,
            .promptUnavailable, .invalidPushPayload, .pushRefused, .invalidFile, .internalError:
            return nil
        }
    }
}
