package org.tessera

import org.tessera.ffi.AccountRecord
import org.tessera.ffi.AddedAccount
import org.tessera.ffi.ClockInfo
import org.tessera.ffi.CodeRecord
import org.tessera.ffi.VaultInfo

/** Which kind of one-time password an account produces (TOTP, HOTP or Steam). */
typealias OtpKind = org.tessera.ffi.OtpKind

/** The HMAC hash function of an account (SHA-1, SHA-256 or SHA-512). */
typealias Algorithm = org.tessera.ffi.Algorithm

/** What the clock banner shows: in sync, corrected, uncorrected or unknown. */
typealias ClockState = org.tessera.ffi.ClockState

/**
 * An account paired with a push server: its id (the same as [Account.id]), site, user, server,
 * this device's id and name there, when it was paired, and whether it also has codes.
 */
typealias PushAccount = org.tessera.ffi.PushAccount

/**
 * A verified sign-in request: account, id, site, user, where it comes from (IP, location,
 * browser, app), how the number is given ([PromptMode]; `choices` in choice mode), when it was
 * issued and expires, the seconds left when it was read, and whether the expiry was checked
 * against a known time. Its text comes from the site: show it as plain text.
 */
typealias PushPrompt = org.tessera.ffi.PushPrompt

/** How the number is given: typed ([PromptMode.ENTRY]) or picked among three ([PromptMode.CHOICE]). */
typealias PromptMode = org.tessera.ffi.PromptMode


/** The user's answer: approve (with the number), deny, or report fraud. */
typealias PushDecision = org.tessera.ffi.PushDecision

// The sealed push types are used as generated, from org.tessera.ffi: Kotlin does not reach a
// sealed class's variants through a type alias. `PushDelivery` (Stream, Webpush, Fcm, Apns),
// `AnswerOutcome` (Approved, …, WrongNumber(attemptsLeft)) and `PushEvent` (Connected,
// Prompt(prompt), Rejected(reason), Disconnected(reason, retryInMs), Revoked(reason)).



/**
 * An account as the UI shows it. It never carries the secret.
 *
 * @property id stable id, used by every other call.
 * @property issuer the service ("GitHub"); may be empty.
 * @property label the account name at the service.
 * @property kind TOTP, HOTP or Steam; `null` for a push-only account.
 * @property algorithm the hash, when the account has codes.
 * @property digits code length.
 * @property periodSeconds seconds per code for time-based kinds.
 * @property counter the next HOTP counter.
 * @property tags the user's tags.
 * @property weakSecret true when the secret is shorter than 128 bits.
 */
data class Account(
    val id: String,
    val issuer: String,
    val label: String,
    val kind: OtpKind?,
    val algorithm: Algorithm?,
    val digits: Int,
    val periodSeconds: Int,
    val counter: Long,
    val tags: List<String>,
    val weakSecret: Boolean,
) {
    /** "Issuer (label)", or only the label when there is no issuer. */
    val displayName: String get() = if (issuer.isEmpty()) label else "$issuer ($label)"
}

/**
 * An account just added.
 *
 * @property account the new account.
 * @property warnings what the user should be told (weak secret, issuer mismatch, …).
 */
data class AddResult(val account: Account, val warnings: List<String>)

/**
 * One code of one account.
 *
 * @property accountId the account.
 * @property code the digits (or Steam's five characters).
 * @property counter the HOTP counter or TOTP time step it was computed from.
 * @property validFromMs when the code became current (ms since the epoch); `null` for HOTP.
 * @property validUntilMs when the next code takes over (ms since the epoch); `null` for HOTP.
 */
data class Code(
    val accountId: String,
    val code: String,
    val counter: Long,
    val validFromMs: Long?,
    val validUntilMs: Long?,
)

/**
 * A time-based code as a countdown shows it at one instant ([nowMs], trusted time).
 *
 * @property accountId the account.
 * @property code the current code.
 * @property counter the time step it was computed from.
 * @property periodSeconds seconds per code.
 * @property secondsLeft whole seconds until the next code, rounded up: from [periodSeconds]
 *   right after a turn-over down to 1 in the last second.
 * @property progress the part of the period still left, from 1.0 (just turned over) towards 0.0.
 * @property validUntilMs when the next code takes over (ms since the epoch).
 * @property nowMs the trusted instant this state was computed for.
 */
data class CodeState(
    val accountId: String,
    val code: String,
    val counter: Long,
    val periodSeconds: Int,
    val secondsLeft: Int,
    val progress: Float,
    val validUntilMs: Long,
    val nowMs: Long,
) {
    companion object {
        /** The state of [code] at [nowMs]; `null` for a code without a validity window (HOTP). */
        fun of(code: Code, nowMs: Long): CodeState? {
            val from = code.validFromMs ?: return null
            val until = code.validUntilMs ?: return null
            val periodMs = (until - from).coerceAtLeast(1)
            val leftMs = (until - nowMs).coerceIn(0, periodMs)
            val periodSeconds = ((periodMs + 999) / 1000).toInt()
            return CodeState(
                accountId = code.accountId,
                code = code.code,
                counter = code.counter,
                periodSeconds = periodSeconds,
                secondsLeft = ((leftMs + 999) / 1000).toInt().coerceIn(1, periodSeconds),
                progress = leftMs.toFloat() / periodMs.toFloat(),
                validUntilMs = until,
                nowMs = nowMs,
            )
        }
    }
}

/**
 * The trusted clock's status, for the clock banner.
 *
 * @property state in sync, corrected, uncorrected or unknown.
 * @property offsetMs true time minus device time, in milliseconds, when known.
 * @property uncertaintyMs the offset's uncertainty, in milliseconds, when known.
 * @property message a sentence for the user.
 */
data class ClockStatus(
    val state: ClockState,
    val offsetMs: Double?,
    val uncertaintyMs: Double?,
    val message: String,
) {
    /** True when the banner should be shown: the clock is off by more than a second or unknown. */
    val needsBanner: Boolean get() = state != ClockState.IN_SYNC
}

/**
 * Where the vault is and how it can be opened.
 *
 * @property path the vault file.
 * @property formatVersion the vault format version.
 * @property accounts the number of accounts.
 * @property slots the ways in, as (kind, detail): `keystore`, `password` or `recovery`.
 */
data class VaultStatus(
    val path: String,
    val formatVersion: Int,
    val accounts: Int,
    val slots: List<Pair<String, String>>,
)

internal fun AccountRecord.toAccount() = Account(
    id = id,
    issuer = issuer,
    label = label,
    kind = kind,
    algorithm = algorithm,
    digits = digits.toInt(),
    periodSeconds = period.toInt(),
    counter = counter.toLong(),
    tags = tags,
    weakSecret = weakSecret,
)

internal fun AddedAccount.toAddResult() = AddResult(account.toAccount(), warnings)

internal fun CodeRecord.toCode() = Code(
    accountId = accountId,
    code = code,
    counter = counter.toLong(),
    validFromMs = validFromMs?.toLong(),
    validUntilMs = validUntilMs?.toLong(),
)

internal fun ClockInfo.toStatus() = ClockStatus(state, offsetMs, uncertaintyMs, message)

internal fun VaultInfo.toStatus() = VaultStatus(
    path = path,
    formatVersion = formatVersion.toInt(),
    accounts = accounts.toInt(),
    slots = slots.map { it.kind to it.detail },
)

// ------------------------------------------------------------------ import, export, transfer
// The generated records and objects, under this package (see the Rust docs for each field).

/** The file formats Tessera reads and writes. */
typealias TransferFormat = org.tessera.ffi.TransferFormat

/** A read import file waiting for the user's word; apply it with [TesseraClient.applyImport]. */
typealias ImportSession = org.tessera.ffi.ImportSession

/** What an import would add and skip. */
typealias ImportPreview = org.tessera.ffi.ImportPreview

/** An account an import or transfer would add or skip (never its secret). */
typealias PreviewAccount = org.tessera.ffi.PreviewAccount

/** An entry of an import file that could not be read. */
typealias RejectedEntry = org.tessera.ffi.RejectedEntry

/** Something an export format cannot carry for one account. */
typealias ExportWarning = org.tessera.ffi.ExportWarning

/** An export's bytes, read back and compared with the vault. */
typealias ExportedFile = org.tessera.ffi.ExportedFile

/** What a transfer's QR code shows. */
typealias TransferInvite = org.tessera.ffi.TransferInvite

/** The receiving side of a device-to-device transfer (close it when done). */
typealias TransferReceiver = org.tessera.ffi.TransferReceiver

/** What a transfer brought, with its confirmation code. */
typealias ReceivedTransfer = org.tessera.ffi.ReceivedTransfer

/** A push pairing handed off in a transfer. */
typealias HandoffPreview = org.tessera.ffi.HandoffPreview

/** A push hand-off that could not be claimed. */
typealias HandoffFailure = org.tessera.ffi.HandoffFailure

/** What applying a transfer did. */
typealias TransferApplied = org.tessera.ffi.TransferApplied

/** What sending a transfer did, with the code to show. */
typealias SentTransfer = org.tessera.ffi.SentTransfer
