package org.tessera.android

import kotlinx.coroutines.CoroutineScope
import kotlinx.coroutines.launch
import org.tessera.PushPrompt
import org.tessera.TesseraClient
import org.tessera.TesseraException
import org.tessera.ffi.PushDelivery

/**
 * The [PushPayloadHandler] backed by Tessera's core: a wake-up's bytes go to
 * [TesseraClient.handlePushPayload], the prompt it names is fetched and verified from the paired
 * server ([TesseraClient.findPrompt]) and handed to the [presenter] (which shows a notification
 * that opens the prompt screen); a new FCM token goes to every paired server with
 * [TesseraClient.updatePushDelivery].
 *
 * Pairings live in the vault. When it is locked, the handler opens it through the secure storage
 * (no user input); when that is not possible (the key needs the screen lock), the presenter is
 * asked to show a prompt without details ([Presenter.showLockedPrompt]), and a new token is kept
 * until [sendPendingToken] is called after the next unlock.
 *
 * Uses no Android API itself, so it is tested on the plain JVM.
 *
 * @param client the app's client (called on each event, so it may be opened lazily).
 * @param scope where the work of [onPushPayload] and [onNewPushToken] runs; it must outlive the
 *   messaging service (the application's scope).
 * @param presenter shows prompts and reports problems.
 */
class TesseraPushHandler(
    private val client: () -> TesseraClient,
    private val scope: CoroutineScope,
    private val presenter: Presenter,
) : PushPayloadHandler {

    /** What the app shows for push events. Called from the handler's scope. */
    interface Presenter {
        /** A verified prompt to answer: show a notification that opens the prompt screen. */
        fun showPrompt(prompt: PushPrompt)

        /**
         * A prompt arrived while the vault could not be opened without the user: show a
         * notification without details that opens the app (the prompt screen unlocks first).
         */
        fun showLockedPrompt(promptId: String)

        /** Something went wrong that the user may want to know (never holds a secret). */
        fun reportProblem(message: String)
    }

    /** What became of one wake-up. */
    sealed interface Handled {
        /** A verified prompt was handed to [Presenter.showPrompt]. */
        data class Shown(val prompt: PushPrompt) : Handled

        /** The vault could not be opened; [Presenter.showLockedPrompt] was called. */
        data class NeedsUnlock(val promptId: String) : Handled

        /** Nothing to show: the reason is for logs (an invalid payload, an expired prompt, …). */
        data class Ignored(val error: TesseraException) : Handled
    }

    @Volatile
    private var pendingToken: String? = null

    override fun onPushPayload(payload: ByteArray) {
        scope.launch { handlePayload(payload) }
    }

    override fun onNewPushToken(token: String) {
        scope.launch { updateToken(token) }
    }

    /**
     * Handles one wake-up: reads the payload, opens the vault if it can, fetches and verifies
     * the prompt, and hands it to the presenter.
     */
    suspend fun handlePayload(payload: ByteArray): Handled {
        val client = client()
        val promptId = try {
            client.handlePushPayload(payload)
        } catch (e: TesseraException) {
            presenter.reportProblem("A push message was not Tessera's: ${e.message}")
            return Handled.Ignored(e)
        }
        if (!unlocked(client)) {
            presenter.showLockedPrompt(promptId)
            return Handled.NeedsUnlock(promptId)
        }
        return try {
            val prompt = client.findPrompt(promptId)
            presenter.showPrompt(prompt)
            Handled.Shown(prompt)
        } catch (e: TesseraException.PromptUnavailable) {
            // Answered on another device, or expired meanwhile: nothing to ask.
            Handled.Ignored(e)
        } catch (e: TesseraException) {
            presenter.reportProblem("A sign-in request could not be read: ${e.message}")
            Handled.Ignored(e)
        }
    }

    /**
     * Sends a new FCM token to every paired push server. Returns how many were told; when the
     * vault cannot be opened the token is kept for [sendPendingToken] and 0 is returned.
     */
    suspend fun updateToken(token: String): Int {
        val client = client()
        if (!unlocked(client)) {
            pendingToken = token
            return 0
        }
        pendingToken = null
        var told = 0
        for (account in client.pushAccounts()) {
            try {
                client.updatePushDelivery(account.accountId, PushDelivery.Fcm(token))
                told++
            } catch (e: TesseraException) {
                presenter.reportProblem("${account.issuer}: the new push token could not be sent: ${e.message}")
                pendingToken = token
            }
        }
        return told
    }

    /** Sends a token kept while the vault was locked (call after unlocking); 0 when none. */
    suspend fun sendPendingToken(): Int = pendingToken?.let { updateToken(it) } ?: 0

    private suspend fun unlocked(client: TesseraClient): Boolean {
        if (client.isUnlocked) return true
        return try {
            client.unlockWithKeystore()
            true
        } catch (e: TesseraException) {
            false
        }
    }
}
