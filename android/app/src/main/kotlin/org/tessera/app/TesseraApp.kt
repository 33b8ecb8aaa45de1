package org.tessera.app

import android.app.Application
import android.content.Context
import android.os.SystemClock
import java.io.File
import kotlinx.coroutines.CoroutineScope
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.SupervisorJob
import kotlinx.coroutines.launch
import org.tessera.TesseraClient
import org.tessera.TesseraException
import org.tessera.android.KeystoreSecureStorage
import org.tessera.android.PushPayloadHandler
import org.tessera.android.TesseraPushHandler
import org.tessera.ffi.AuthenticatorConfig
import org.tessera.ffi.PushDelivery

/**
 * The application: owns the one [TesseraClient] of the app, over `filesDir/tessera` and a
 * [KeystoreSecureStorage], keeps the trusted clock synced in the background, and is the app's
 * [PushPayloadHandler]: FCM wake-ups and tokens go to a [TesseraPushHandler], whose prompts
 * [PromptNotifier] shows as notifications that open [PushPromptActivity].
 */
class TesseraApp : Application(), PushPayloadHandler {
    /** Work that outlives an activity: clock syncs, push wake-ups. */
    val appScope = CoroutineScope(SupervisorJob() + Dispatchers.Main)

    /** The app's Tessera client, opened on first use. */
    val client: TesseraClient by lazy {
        val dir = File(filesDir, "tessera").apply { mkdirs() }
        TesseraClient.openBlocking(
            AuthenticatorConfig(dataDir = dir.absolutePath, timeCorrection = true),
            KeystoreSecureStorage(this),
        )
    }

    /** Push approval: wake-ups, tokens, and the notifications they lead to. */
    val push: TesseraPushHandler by lazy {
        TesseraPushHandler({ client }, appScope, PromptNotifier(this))
    }

    @Volatile
    private var lastSyncAt = Long.MIN_VALUE

    override fun onPushPayload(payload: ByteArray) = push.onPushPayload(payload)

    override fun onNewPushToken(token: String) {
        // Kept for pairings made later (see pushDelivery), then sent to the paired servers.
        getSharedPreferences(PREFS, Context.MODE_PRIVATE).edit().putString(KEY_FCM_TOKEN, token).apply()
        push.onNewPushToken(token)
    }

    /**
     * How new pairings ask to be woken: FCM with the last token FCM gave this app, or the stream
     * when there is none (no Google services, or no `google-services.json` in the build).
     */
    fun pushDelivery(): PushDelivery =
        getSharedPreferences(PREFS, Context.MODE_PRIVATE).getString(KEY_FCM_TOKEN, null)
            ?.let { PushDelivery.Fcm(it) }
            ?: PushDelivery.Stream

    /** After an unlock: sends an FCM token that arrived while the vault was locked. */
    fun unlocked() {
        appScope.launch {
            try {
                push.sendPendingToken()
            } catch (e: TesseraException) {
                // Reported by the handler; tried again with the next token or unlock.
            }
        }
    }

    /**
     * Syncs the trusted clock in the background unless it was done in the last ten minutes;
     * calls [done] on the main thread afterwards, whatever the outcome.
     */
    fun syncClockSoon(done: () -> Unit = {}) {
        val now = SystemClock.elapsedRealtime()
        if (lastSyncAt != Long.MIN_VALUE && now - lastSyncAt < SYNC_INTERVAL_MS) return
        lastSyncAt = now
        appScope.launch {
            try {
                client.syncClock()
            } catch (e: TesseraException) {
                // Offline, or the sources disagree: the banner shows the clock as unknown.
            }
            done()
        }
    }

    private companion object {
        const val SYNC_INTERVAL_MS = 10 * 60 * 1000L
        const val PREFS = "tessera.push"
        const val KEY_FCM_TOKEN = "fcm_token"
    }
}
