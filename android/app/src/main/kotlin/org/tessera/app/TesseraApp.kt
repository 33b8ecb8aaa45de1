package org.tessera.app

import android.app.Application
import android.os.SystemClock
import java.io.File
import kotlinx.coroutines.CoroutineScope
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.SupervisorJob
import kotlinx.coroutines.launch
import org.tessera.TesseraClient
import org.tessera.TesseraException
import org.tessera.android.KeystoreSecureStorage
import org.tessera.ffi.AuthenticatorConfig

/**
 * The application: owns the one [TesseraClient] of the app, over `filesDir/tessera` and a
 * [KeystoreSecureStorage], and keeps the trusted clock synced in the background.
 *
 * When push approval lands in the core, this class implements
 * [org.tessera.android.PushPayloadHandler] and forwards to the client.
 */
class TesseraApp : Application() {
    /** Work that outlives an activity: clock syncs. */
    val appScope = CoroutineScope(SupervisorJob() + Dispatchers.Main)

    /** The app's Tessera client, opened on first use. */
    val client: TesseraClient by lazy {
        val dir = File(filesDir, "tessera").apply { mkdirs() }
        TesseraClient.openBlocking(
            AuthenticatorConfig(dataDir = dir.absolutePath, timeCorrection = true),
            KeystoreSecureStorage(this),
        )
    }

    @Volatile
    private var lastSyncAt = Long.MIN_VALUE

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
    }
}
