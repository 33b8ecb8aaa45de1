package org.tessera

import java.util.concurrent.atomic.AtomicBoolean
import kotlinx.coroutines.CoroutineDispatcher
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.delay
import kotlinx.coroutines.flow.Flow
import kotlinx.coroutines.flow.flow
import kotlinx.coroutines.withContext
import org.tessera.ffi.AnswerOutcome
import org.tessera.ffi.Authenticator
import org.tessera.ffi.AuthenticatorConfig
import org.tessera.ffi.HttpTransport
import org.tessera.ffi.PushDelivery
import org.tessera.ffi.PushEvent
import org.tessera.ffi.SecureStorage
import org.tessera.ffi.InternalException as FfiInternalException
import org.tessera.ffi.TesseraException as FfiTesseraException

/**
 * Tessera for one profile, for Kotlin callers: the vault, its accounts and codes, and the
 * trusted clock.
 *
 * A thin, idiomatic layer over the generated `org.tessera.ffi.Authenticator`:
 * - every call that may touch disk or the secure storage is a `suspend` function that runs on
 *   [ioDispatcher] (by default [Dispatchers.IO]), so it is safe to call from the main thread;
 * - [codeStates] is a [Flow] of code countdowns that ticks on whole seconds of the trusted clock;
 * - failures are [TesseraException]s, a sealed hierarchy; an exception thrown by the app's
 *   [SecureStorage] comes back as [TesseraException.Storage] with the original as its cause;
 * - the client is [AutoCloseable]: [close] releases the native object, and any later call fails
 *   with [TesseraException.Closed].
 *
 * All methods are safe to call from many coroutines at once.
 *
 * Open one with [TesseraClient.open].
 */
class TesseraClient private constructor(
    private val inner: Authenticator,
    private val storage: FailureRecordingStorage?,
    private val ioDispatcher: CoroutineDispatcher,
) : AutoCloseable {

    private val closed = AtomicBoolean(false)

    /** Builders. */
    companion object {
        /**
         * Opens Tessera over [config]'s data folder. Nothing is unlocked yet: call [createVault]
         * the first time (see [vaultExists]), then one of the `unlock…` functions.
         *
         * @param config the data folder, time sources and clock correction. Use
         *   `timeSources = emptyList()` to never touch the network.
         * @param storage the app's secure storage (Android Keystore-backed on Android) that keeps
         *   the vault's keystore slot key; `null` to use only a password (or the platform keystore
         *   when `config.usePlatformKeystore` is set).
         * @param http how the core reaches the network (HTTPS time sources, push approval,
         *   transfer mailboxes): by default [UrlConnectionHttpTransport], the platform's HTTP stack
         *   and certificate checks. `null` makes those calls fail; NTP time sources still work.
         * @param ioDispatcher where blocking native calls run.
         * @throws TesseraException.InvalidInput for an empty data folder.
         * @throws TesseraException.Time for a time source that cannot be parsed.
         */
        suspend fun open(
            config: AuthenticatorConfig,
            storage: SecureStorage? = null,
            http: HttpTransport? = UrlConnectionHttpTransport(),
            ioDispatcher: CoroutineDispatcher = Dispatchers.IO,
        ): TesseraClient = withContext(ioDispatcher) { openBlocking(config, storage, http, ioDispatcher) }

        /**
         * Like [open], but on the calling thread (it reads a small clock file): for places that
         * cannot suspend, such as an `Application.onCreate` that must not wait.
         */
        fun openBlocking(
            config: AuthenticatorConfig,
            storage: SecureStorage? = null,
            http: HttpTransport? = UrlConnectionHttpTransport(),
            ioDispatcher: CoroutineDispatcher = Dispatchers.IO,
        ): TesseraClient {
            val recording = storage?.let(::FailureRecordingStorage)
            val inner = translate(recording) { Authenticator(config, recording, http) }
            return TesseraClient(inner, recording, ioDispatcher)
        }

        /** Runs one native call and turns its failures into [TesseraException]s. */
        private inline fun <T> translate(storage: FailureRecordingStorage?, call: () -> T): T {
            storage?.takeFailure()
            try {
                return call()
            } catch (e: FfiTesseraException) {
                throw fromStorage(storage, e.toPublic())
            } catch (e: FfiInternalException) {
                throw fromStorage(storage, e.toPublic())
            } finally {
                storage?.takeFailure()
            }
        }

        /**
         * The core reports a failing secure storage as "keystore unavailable"; when the app's
         * storage threw during this call, say so and keep the app's exception as the cause.
         */
        private fun fromStorage(storage: FailureRecordingStorage?, error: TesseraException): TesseraException {
            val failure = storage?.takeFailure() ?: return error
            return when (error) {
                is TesseraException.KeystoreUnavailable,
                is TesseraException.Storage,
                is TesseraException.Internal,
                -> TesseraException.Storage(describe(failure), failure).also { it.addSuppressed(error) }
                else -> error.also { it.addSuppressed(failure) }
            }
        }
    }

    /** True once [close] was called. */
    val isClosed: Boolean get() = closed.get()

    /** Runs a blocking native call on the calling thread, with errors translated. */
    private inline fun <T> blocking(call: (Authenticator) -> T): T {
        if (closed.get()) throw TesseraException.Closed()
        try {
            return translate(storage) { call(inner) }
        } catch (e: IllegalStateException) {
            // The generated object throws this once destroyed (a close() racing this call).
            if (closed.get() || inner.uniffiIsDestroyed) throw TesseraException.Closed(e)
            throw e
        }
    }

    /** Runs a blocking native call on [ioDispatcher]. */
    private suspend inline fun <T> io(crossinline call: (Authenticator) -> T): T =
        withContext(ioDispatcher) { blocking(call) }

    /** True when a vault exists in the data folder. */
    suspend fun vaultExists(): Boolean = io { it.vaultExists() }

    /** True when the vault is open. Quick: no disk access. */
    val isUnlocked: Boolean get() = blocking { it.isUnlocked() }

    /**
     * Creates the vault, protected by the secure storage (when there is one) and/or [password],
     * and unlocks it. Returns the recovery key: show it once and ask the user to write it down.
     *
     * @throws TesseraException.VaultExists when there is one already.
     * @throws TesseraException.InvalidInput when there is neither a storage nor a password.
     */
    suspend fun createVault(password: String? = null): String = io { it.createVault(password) }

    /**
     * Unlocks through the secure storage, without user input.
     *
     * @throws TesseraException.KeystoreUnavailable when the storage has no key for this vault.
     * @throws TesseraException.Storage when the storage threw (see its cause).
     */
    suspend fun unlockWithKeystore(): Unit = io { it.unlockWithKeystore() }

    /**
     * Unlocks with the password; when the storage lost its key, a fresh keystore slot is made.
     *
     * @throws TesseraException.WrongPassword when it is wrong.
     */
    suspend fun unlockWithPassword(password: String): Unit = io { it.unlockWithPassword(password) }

    /**
     * Unlocks with the recovery key (any case, dashes optional), and restores the keystore slot.
     *
     * @throws TesseraException.WrongRecoveryKey when it is wrong.
     */
    suspend fun unlockWithRecoveryKey(recoveryKey: String): Unit = io { it.unlockWithRecoveryKey(recoveryKey) }

    /** Closes the vault and wipes its key and secrets from native memory. */
    suspend fun lock(): Unit = io { it.lock() }

    /**
     * Adds an account from an `otpauth://` URI.
     *
     * @throws TesseraException.InvalidUri naming the field at fault.
     * @throws TesseraException.DuplicateAccount when it is already there.
     */
    suspend fun addUri(uri: String): AddResult = io { it.addUri(uri).toAddResult() }

    /**
     * Adds every account whose QR code is in an image of [width] × [height] [grey] pixels: one
     * byte per pixel, 0 black to 255 white, row by row (see [argbToGrey]; on Android,
     * `QrImages.addFromQrImage` decodes a picture's bytes). All or nothing.
     *
     * @throws TesseraException.InvalidImage when [grey] does not hold `width * height` bytes, the
     *   image is larger than 40 megapixels, or no QR code can be read.
     * @throws TesseraException.InvalidInput for a negative width or height.
     */
    suspend fun addFromQrPixels(width: Int, height: Int, grey: ByteArray): List<AddResult> = io { inner ->
        if (width < 0 || height < 0) throw TesseraException.InvalidInput("the image size must not be negative")
        inner.addFromQrPixels(width.toUInt(), height.toUInt(), grey).map { it.toAddResult() }
    }

    /** Every account, in display order. */
    suspend fun accounts(): List<Account> = io { inner -> inner.accounts().map { it.toAccount() } }

    /** Changes an account's issuer and/or label; `null` leaves that part as it is. */
    suspend fun renameAccount(id: String, issuer: String? = null, label: String? = null): Unit =
        io { it.renameAccount(id, issuer, label) }

    /** Removes an account. */
    suspend fun removeAccount(id: String): Unit = io { it.removeAccount(id) }

    /** Moves an account to [position] (0 is the top). */
    suspend fun moveAccount(id: String, position: Int): Unit = io {
        if (position < 0) throw TesseraException.InvalidInput("position must not be negative")
        it.moveAccount(id, position.toUInt())
    }

    /** Replaces an account's tags. */
    suspend fun setTags(id: String, tags: List<String>): Unit = io { it.setTags(id, tags) }

    /**
     * The current code of every time-based account, in display order, at [nowMs] (ms since the
     * epoch), or at the trusted time when `null`. HOTP accounts are left out: see [nextHotpCode].
     */
    suspend fun codes(nowMs: Long? = null): List<Code> = io { inner -> codesBlocking(inner, nowMs) }

    private fun codesBlocking(inner: Authenticator, nowMs: Long?): List<Code> {
        if (nowMs != null && nowMs < 0) throw TesseraException.InvalidInput("time must not be before 1970")
        return inner.codes(nowMs?.toULong()).map { it.toCode() }
    }

    /** The next code of an HOTP account; the counter is saved before the code is returned. */
    suspend fun nextHotpCode(id: String): Code = io { it.nextHotpCode(id).toCode() }

    /**
     * The trusted time now, in ms since the epoch: the device clock corrected by the clock
     * estimate when correction is on and trusted. Countdowns use this same instant. Quick.
     */
    fun trustedNowMs(): Long = blocking { it.trustedNowMs().toLong() }

    /** The clock's status for the banner. Quick: no disk or network access. */
    fun clockStatus(): ClockStatus = blocking { it.clockStatus().toStatus() }

    /**
     * Asks the time sources now, keeps and saves a good estimate, and returns the new status.
     *
     * @throws TesseraException.Time when no estimate could be made (offline, sources disagree, or
     *   none configured); the previous estimate is kept.
     */
    suspend fun syncClock(): ClockStatus = suspending { it.syncClock().toStatus() }

    /**
     * Runs a native async call (it suspends without holding a thread), with errors translated.
     */
    private suspend inline fun <T> suspending(call: (Authenticator) -> T): T {
        if (closed.get()) throw TesseraException.Closed()
        try {
            return call(inner)
        } catch (e: FfiTesseraException) {
            throw e.toPublic()
        } catch (e: FfiInternalException) {
            throw e.toPublic()
        } catch (e: IllegalStateException) {
            if (closed.get() || inner.uniffiIsDestroyed) throw TesseraException.Closed(e)
            throw e
        }
    }

    // ------------------------------------------------------------------ push approval

    /**
     * Pairs this device with a site's push server from the `tessera-push://pair?…` URI of its QR
     * code and stores the pairing in the vault: beside the codes of the account with the same
     * issuer and label, or as a new push-only account. An account already paired is refused
     * (with [TesseraException.InvalidInput]) before the site's one-time code is used.
     *
     * @param deviceName how the site lists this device ("Pixel 9").
     * @param delivery how the server wakes this device: [PushDelivery.Fcm] with the FCM token, or
     *   [PushDelivery.Stream] when the app keeps [pushEvents] open.
     * @throws TesseraException.PairingRefused when the code was used or expired, or the server's
     *   key does not match the code.
     * @throws TesseraException.PushNetwork when the server cannot be reached.
     */
    suspend fun pairPush(uri: String, deviceName: String, delivery: PushDelivery = PushDelivery.Stream): PushAccount =
        suspending { it.pairPush(uri, deviceName, delivery) }

    /** Every account paired with a push server, in display order. */
    suspend fun pushAccounts(): List<PushAccount> = io { it.pushAccounts() }

    /**
     * Reads a push message's payload (an FCM data message's bytes, see
     * `TesseraMessagingService.payloadOf`) and returns the id of the prompt it announces. Quick
     * and strict; needs no unlocked vault.
     *
     * @throws TesseraException.InvalidPushPayload when it is not Tessera's wake-up.
     */
    fun handlePushPayload(payload: ByteArray): String = blocking { it.handlePushPayload(payload) }

    /** Every pending, verified prompt of a paired account (for start-up and polling). */
    suspend fun pendingPrompts(accountId: String): List<PushPrompt> = suspending { it.pendingPrompts(accountId) }

    /**
     * Fetches and verifies one prompt of a paired account.
     *
     * @throws TesseraException.PromptUnavailable when it expired, was answered or is unknown.
     * @throws TesseraException.UntrustedPrompt when it fails verification (never show it).
     */
    suspend fun fetchPrompt(accountId: String, promptId: String): PushPrompt =
        suspending { it.fetchPrompt(accountId, promptId) }

    /**
     * Finds a prompt among every paired account: for a wake-up, which names only the prompt.
     *
     * @throws TesseraException.PromptUnavailable when no paired account has it pending.
     */
    suspend fun findPrompt(promptId: String): PushPrompt {
        var last: TesseraException = TesseraException.PromptUnavailable("no paired account knows this prompt")
        for (account in pushAccounts()) {
            try {
                return fetchPrompt(account.accountId, promptId)
            } catch (e: TesseraException.PromptUnavailable) {
                last = e
            } catch (e: TesseraException.DeviceRevoked) {
                last = e
            }
        }
        throw last
    }

    /**
     * Answers a prompt, signed by this device's key. [number] is the one the user typed or
     * picked; it is needed to approve. A wrong number is an outcome ([AnswerOutcome.WrongNumber]
     * with the tries left), not an exception.
     *
     * @throws TesseraException.InvalidInput when approving without a number, or with one that is
     *   not among the choices.
     */
    suspend fun answerPrompt(
        accountId: String,
        promptId: String,
        decision: PushDecision,
        number: String? = null,
    ): AnswerOutcome = suspending { it.answerPrompt(accountId, promptId, decision, number) }

    /**
     * Unpairs an account: the server revokes this device, then the pairing leaves the vault (a
     * push-only account with it). When the server cannot be told nothing changes, unless [force]
     * is set. Returns true when the server was told.
     */
    suspend fun unpairPush(accountId: String, force: Boolean = false): Boolean =
        suspending { it.unpairPush(accountId, force) }

    /** Tells the server of a paired account a new way to reach this device (a new FCM token). */
    suspend fun updatePushDelivery(accountId: String, delivery: PushDelivery): Unit =
        suspending { it.updatePushDelivery(accountId, delivery) }

    /**
     * The prompt stream of a paired account, as a cold [Flow]: collecting it opens the
     * connection (it reconnects by itself and emits [PushEvent.Disconnected] meanwhile), and
     * cancelling the collector cancels the native subscription and closes it. The flow
     * completes after [PushEvent.Revoked]; it fails with [TesseraException.Locked],
     * [TesseraException.InvalidInput] (not paired) or [TesseraException.AccountNotFound] at
     * the start.
     */
    fun pushEvents(accountId: String): Flow<PushEvent> = flow {
        val subscription = io { it.subscribePush(accountId) }
        try {
            while (true) {
                val event = subscription.next() ?: break
                emit(event)
            }
        } finally {
            subscription.cancel()
            subscription.close()
        }
    }

    // ------------------------------------------------------------------ import, export, transfer

    /**
     * Reads an import file ([format], or detected when `null`) and splits it against the vault:
     * new accounts, duplicates, entries refused. Nothing is added yet: show
     * [ImportSession.preview], then [applyImport] or [ImportSession.discard] (and close it).
     *
     * @throws TesseraException.PasswordRequired for an encrypted file without [password].
     * @throws TesseraException.WrongPassword when [password] does not open it.
     * @throws TesseraException.InvalidFile when it is damaged, altered or in no known format.
     */
    suspend fun previewImport(bytes: ByteArray, password: String? = null, format: TransferFormat? = null): ImportSession =
        io { it.previewImport(bytes, password, format) }

    /**
     * Adds exactly the new accounts [session]'s preview listed, in one write (all or nothing),
     * and returns their ids. A session applies once.
     *
     * @throws TesseraException.DuplicateAccount when one was added meanwhile (preview again).
     */
    suspend fun applyImport(session: ImportSession): List<String> = io { it.applyImport(session) }

    /**
     * Exports every account as [format]: a Tessera backup needs [password]; an Aegis vault is
     * encrypted with one and plain without; otpauth lists and Google exports are never encrypted.
     * The bytes were read back and compared with the vault. After writing them (a SAF document),
     * read them back and call [verifyExport].
     *
     * @throws TesseraException.WouldLoseInformation (with the per-account warnings) when the
     *   format cannot carry everything and [force] is off; nothing was exported.
     */
    suspend fun exportAccounts(format: TransferFormat, password: String? = null, force: Boolean = false): ExportedFile =
        io { it.exportAccounts(format, password, force) }

    /** An encrypted Tessera backup of every account with codes, read back and compared with the vault. */
    suspend fun backup(password: String): ExportedFile = io { it.backup(password) }

    /**
     * Checks written export [bytes] (read back from where the app wrote them) against the vault.
     * Returns how many accounts they hold.
     *
     * @throws TesseraException.InvalidFile when they do not match: delete the file, export again.
     */
    suspend fun verifyExport(format: TransferFormat, bytes: ByteArray, password: String? = null): Int =
        io { it.verifyExport(format, bytes, password).toInt() }

    /**
     * Starts receiving a transfer on this (new) device: a mailbox on the Tessera server at
     * [serverUrl], or file mode when `null`. Show [TransferReceiver.invite]'s `uri` as a QR code,
     * then [waitForTransfer]. Close the receiver when done.
     */
    suspend fun startReceive(serverUrl: String?): TransferReceiver = suspending { it.startReceive(serverUrl) }

    /** Waits up to [timeoutMs] for the old device's data; `null` when nothing came yet. */
    suspend fun waitForTransfer(receiver: TransferReceiver, timeoutMs: Long = 15_000): ReceivedTransfer? =
        translated { receiver.wait(timeoutMs.coerceAtLeast(0).toULong()) }

    /** Opens the data of a file-mode transfer that the user carried from the old device. */
    suspend fun openTransferFile(receiver: TransferReceiver, envelope: ByteArray): ReceivedTransfer =
        translated { receiver.openEnvelope(envelope) }

    /**
     * Applies a received transfer with the [confirmationCode] the user read on the old device:
     * the new accounts (all or nothing), then the push pairings handed off, claimed as
     * [deviceName] and reached through [delivery].
     *
     * @throws TesseraException.ConfirmationMismatch for a wrong code: nothing was applied and the
     *   transfer is over.
     */
    suspend fun applyTransfer(
        receiver: TransferReceiver,
        confirmationCode: String,
        deviceName: String,
        delivery: PushDelivery = PushDelivery.Stream,
    ): TransferApplied = translated { receiver.apply(confirmationCode, deviceName, delivery) }

    /** Ends a receiver: the mailbox is deleted and the keys dropped. */
    suspend fun cancelTransfer(receiver: TransferReceiver): Unit = translated { receiver.cancel() }

    /**
     * Sends every account (and, with [includePushHandoff], the push pairings) to the new device
     * whose invite was scanned. Show the returned `confirmationCode`; for a file-mode invite, save
     * its `envelope` for the user to carry over.
     */
    suspend fun sendTransfer(inviteUri: String, includePushHandoff: Boolean = true): SentTransfer =
        suspending { it.sendTransfer(inviteUri, includePushHandoff) }

    /** Runs a call on a transfer object, with errors translated. */
    private suspend inline fun <T> translated(call: () -> T): T {
        if (closed.get()) throw TesseraException.Closed()
        try {
            return call()
        } catch (e: FfiTesseraException) {
            throw e.toPublic()
        } catch (e: FfiInternalException) {
            throw e.toPublic()
        }
    }

    /** Adds or replaces the vault password. */
    suspend fun setPassword(password: String): Unit = io { it.setPassword(password) }

    /** Makes a new recovery key (the old one stops working) and returns it. */
    suspend fun newRecoveryKey(): String = io { it.newRecoveryKey() }

    /** Where the vault is, its format and its ways in. */
    suspend fun vaultStatus(): VaultStatus = io { it.vaultInfo().toStatus() }

    /**
     * The codes of all time-based accounts as countdowns, ticking once a second.
     *
     * The flow emits at once, then each time a new whole second of the trusted clock
     * ([trustedNowMs]) begins. Every emission computes the codes and the countdown from one and
     * the same trusted instant, so a code turns over exactly when its period boundary is reached
     * and [CodeState.secondsLeft] goes period, …, 2, 1, then the next code with a full period.
     * The delay to the next tick is computed from the trusted clock each time, not a fixed
     * 1000 ms, so ticks do not drift and follow a clock correction.
     *
     * Accounts added or removed show up on the next tick. The flow is cold and never completes;
     * it fails with [TesseraException.Locked] when the vault is locked and with
     * [TesseraException.Closed] when the client is closed. Native calls run on the I/O dispatcher;
     * the waiting happens in the collector's context.
     */
    fun codeStates(): Flow<List<CodeState>> = flow {
        var boundary = Long.MIN_VALUE
        while (true) {
            var now = trustedNowMs()
            // Timers and the wall clock may disagree by a millisecond or so: never compute a
            // tick before the whole second it is for.
            while (now < boundary) {
                delay(boundary - now)
                now = trustedNowMs()
            }
            val tickAt = now
            val codes = io { codesBlocking(it, tickAt) }
            emit(codes.mapNotNull { CodeState.of(it, tickAt) })
            val after = trustedNowMs()
            boundary = (after / 1000 + 1) * 1000
            delay(boundary - after)
        }
    }

    /**
     * Releases the native object. Idempotent. Calls in flight finish first; later calls fail with
     * [TesseraException.Closed].
     */
    override fun close() {
        if (closed.compareAndSet(false, true)) inner.close()
    }
}

/**
 * Wraps the app's [SecureStorage] to remember, per thread, the exception it last threw, so that
 * [TesseraClient] can report it as the cause of [TesseraException.Storage]. The native side calls
 * the storage synchronously on the thread of the call that needs it.
 */
internal class FailureRecordingStorage(private val app: SecureStorage) : SecureStorage {
    private val failure = ThreadLocal<Throwable?>()

    /** The exception recorded on this thread since the last call, cleared. */
    fun takeFailure(): Throwable? = failure.get().also { failure.remove() }

    private inline fun <T> recorded(call: () -> T): T = try {
        call()
    } catch (e: Throwable) {
        failure.set(e)
        throw e as? FfiTesseraException ?: FfiTesseraException.Storage(describe(e))
    }

    override fun get(key: String): String? = recorded { app.get(key) }

    override fun set(key: String, value: String) = recorded { app.set(key, value) }

    override fun delete(key: String) = recorded { app.delete(key) }
}

/** A short description of a storage failure: its class and message, at most 200 characters. */
internal fun describe(e: Throwable): String =
    listOfNotNull(e.javaClass.simpleName, e.message).joinToString(": ").take(200)
