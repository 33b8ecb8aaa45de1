package org.tessera

import org.tessera.ffi.InternalException as FfiInternalException
import org.tessera.ffi.TesseraException as FfiTesseraException

/**
 * Everything a [TesseraClient] call can fail with, grouped by what the app should do about it.
 *
 * The hierarchy is sealed, so a `when` over it is checked for completeness by the compiler.
 * Reasons are short, never contain a secret, a password, a recovery key or a URI, and may be
 * shown to the user as they are.
 */
sealed class TesseraException(message: String, cause: Throwable? = null) : Exception(message, cause) {

    /** The otpauth URI was refused; [field] names the part at fault (`secret`, `digits`, …). */
    class InvalidUri(val field: String, val reason: String, cause: Throwable? = null) :
        TesseraException(reason, cause)

    /**
     * The image has no readable QR code, is larger than 40 megapixels, or its pixels do not
     * match its size.
     */
    class InvalidImage(val reason: String, cause: Throwable? = null) : TesseraException(reason, cause)

    /** Another argument is unusable (an empty password, a bad position, an HOTP call on a TOTP account…). */
    class InvalidInput(val reason: String, cause: Throwable? = null) : TesseraException(reason, cause)

    /** No account has the [id] asked for. */
    class AccountNotFound(val id: String, cause: Throwable? = null) :
        TesseraException("no account with id $id", cause)

    /** The same account (issuer, label and secret) is already in the vault. */
    class DuplicateAccount(val name: String, cause: Throwable? = null) :
        TesseraException("$name is already in the vault", cause)

    /** No vault exists yet: call [TesseraClient.createVault]. */
    class NoVault(cause: Throwable? = null) : TesseraException("no vault exists yet", cause)

    /** A vault already exists: unlock it instead of creating one. */
    class VaultExists(cause: Throwable? = null) : TesseraException("a vault already exists", cause)

    /** The vault must be unlocked first. */
    class Locked(cause: Throwable? = null) : TesseraException("the vault is locked", cause)

    /** The password is wrong. */
    class WrongPassword(cause: Throwable? = null) : TesseraException("wrong password", cause)

    /** The recovery key is wrong. */
    class WrongRecoveryKey(cause: Throwable? = null) : TesseraException("wrong recovery key", cause)

    /**
     * The keystore cannot open the vault (none configured, or it lost its key): unlock with the
     * password or the recovery key, which also restores the keystore slot.
     */
    class KeystoreUnavailable(val reason: String, cause: Throwable? = null) : TesseraException(reason, cause)

    /**
     * The app's `SecureStorage` threw. [cause] is the exception the storage threw (for example
     * Android's `UserNotAuthenticatedException` when the key needs the user to authenticate
     * first), so the app can react to it.
     */
    class Storage(val reason: String, cause: Throwable? = null) :
        TesseraException("secure storage failed: $reason", cause)

    /** The vault file is damaged or was written by a newer version. */
    class VaultDamaged(val reason: String, cause: Throwable? = null) : TesseraException(reason, cause)

    /** No time source could be reached or believed; the previous clock estimate is kept. */
    class Time(val reason: String, cause: Throwable? = null) : TesseraException(reason, cause)

    /**
     * The push server refused the pairing: its QR code was already used or has expired, or the
     * server's key does not match the code's fingerprint. Ask the site for a new QR code.
     */
    class PairingRefused(val reason: String, cause: Throwable? = null) : TesseraException(reason, cause)

    /**
     * The push server revoked this device (or no longer knows it): pair again, or remove the
     * pairing with `unpairPush(accountId, force = true)`.
     */
    class DeviceRevoked(val reason: String, cause: Throwable? = null) : TesseraException(reason, cause)

    /** The prompt can no longer be shown or answered: it expired, was answered, or is unknown. */
    class PromptUnavailable(val reason: String, cause: Throwable? = null) : TesseraException(reason, cause)

    /**
     * A prompt failed verification under the server key pinned at pairing (forged, for another
     * device, malformed). It was dropped: never show it.
     */
    class UntrustedPrompt(val reason: String, cause: Throwable? = null) : TesseraException(reason, cause)

    /** A push message's payload is not Tessera's wake-up (`{"prompt_id": "…"}`). */
    class InvalidPushPayload(val reason: String, cause: Throwable? = null) : TesseraException(reason, cause)

    /**
     * The push server could not be reached or answered oddly (offline, a timeout, a server
     * error, this device's clock far off): try again later.
     */
    class PushNetwork(val reason: String, cause: Throwable? = null) : TesseraException(reason, cause)

    /** The push server refused the request (prompts blocked after a fraud report, …). */
    class PushRefused(val reason: String, cause: Throwable? = null) : TesseraException(reason, cause)

    /** The file is encrypted: ask for its password and try again. */
    class PasswordRequired(cause: Throwable? = null) :
        TesseraException("this file is encrypted: a password is needed", cause)

    /**
     * The file cannot be read: damaged or altered, truncated, too large, from a newer version, or
     * in no format Tessera reads. For a written export that does not read back: delete it and
     * export again.
     */
    class InvalidFile(val reason: String, cause: Throwable? = null) : TesseraException(reason, cause)

    /**
     * The export format cannot carry everything; nothing was exported. Show [warnings], then
     * export with `force = true` to leave that out.
     */
    class WouldLoseInformation(val warnings: List<ExportWarning>, cause: Throwable? = null) :
        TesseraException("the export would lose information for ${warnings.map { it.accountId }.toSet().size} account(s)", cause)

    /**
     * The device-to-device transfer cannot go on (expired, cancelled, answered by another device,
     * or the data is not for this device): start again on the new device.
     */
    class Transfer(val reason: String, cause: Throwable? = null) : TesseraException(reason, cause)

    /**
     * The code typed is not the transfer's confirmation code: nothing was applied and the
     * transfer is over. The data may come from someone else's device; start again.
     */
    class ConfirmationMismatch(cause: Throwable? = null) :
        TesseraException("the confirmation code does not match: nothing was added; start the transfer again", cause)

    /**
     * A network request got no response (offline, an unknown host, a TLS failure, a timeout):
     * try again later. [reason] names at most the host.
     */
    class Network(val reason: String, cause: Throwable? = null) : TesseraException(reason, cause)

    /** Anything else (file system, crypto, a bug in the core): [reason] says what happened. */
    class Internal(val reason: String, cause: Throwable? = null) : TesseraException(reason, cause)

    /** The [TesseraClient] was closed; open a new one. */
    class Closed(cause: Throwable? = null) : TesseraException("the Tessera client is closed", cause)
}

/**
 * Maps the generated error to the public hierarchy. The `when` is exhaustive over the generated
 * sealed class, so a new Rust variant fails this compile instead of slipping through.
 */
internal fun FfiTesseraException.toPublic(): TesseraException = when (this) {
    is FfiTesseraException.InvalidUri -> TesseraException.InvalidUri(field, reason, this)
    is FfiTesseraException.InvalidImage -> TesseraException.InvalidImage(reason, this)
    is FfiTesseraException.InvalidInput -> TesseraException.InvalidInput(reason, this)
    is FfiTesseraException.AccountNotFound -> TesseraException.AccountNotFound(id, this)
    is FfiTesseraException.DuplicateAccount -> TesseraException.DuplicateAccount(name, this)
    is FfiTesseraException.NoVault -> TesseraException.NoVault(this)
    is FfiTesseraException.VaultExists -> TesseraException.VaultExists(this)
    is FfiTesseraException.Locked -> TesseraException.Locked(this)
    is FfiTesseraException.WrongPassword -> TesseraException.WrongPassword(this)
    is FfiTesseraException.WrongRecoveryKey -> TesseraException.WrongRecoveryKey(this)
    is FfiTesseraException.KeystoreUnavailable -> TesseraException.KeystoreUnavailable(reason, this)
    is FfiTesseraException.Storage -> TesseraException.Storage(reason, this)
    is FfiTesseraException.VaultDamaged -> TesseraException.VaultDamaged(reason, this)
    is FfiTesseraException.Time -> TesseraException.Time(reason, this)
    is FfiTesseraException.PairingRefused -> TesseraException.PairingRefused(reason, this)
    is FfiTesseraException.DeviceRevoked -> TesseraException.DeviceRevoked(reason, this)
    is FfiTesseraException.PromptUnavailable -> TesseraException.PromptUnavailable(reason, this)
    is FfiTesseraException.UntrustedPrompt -> TesseraException.UntrustedPrompt(reason, this)
    is FfiTesseraException.InvalidPushPayload -> TesseraException.InvalidPushPayload(reason, this)
    is FfiTesseraException.PushNetwork -> TesseraException.PushNetwork(reason, this)
    is FfiTesseraException.PushRefused -> TesseraException.PushRefused(reason, this)
    is FfiTesseraException.PasswordRequired -> TesseraException.PasswordRequired(this)
    is FfiTesseraException.InvalidFile -> TesseraException.InvalidFile(reason, this)
    is FfiTesseraException.WouldLoseInformation -> TesseraException.WouldLoseInformation(warnings, this)
    is FfiTesseraException.Transfer -> TesseraException.Transfer(reason, this)
    is FfiTesseraException.ConfirmationMismatch -> TesseraException.ConfirmationMismatch(this)
    is FfiTesseraException.Network -> TesseraException.Network(reason, this)
    is FfiTesseraException.Internal -> TesseraException.Internal(reason, this)
}

/** A Rust panic reaches Kotlin as the generated `InternalException`. */
internal fun FfiInternalException.toPublic(): TesseraException =
    TesseraException.Internal(message ?: "internal error", this)
