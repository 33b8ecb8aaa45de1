package org.tessera.android

import android.util.Log
import com.google.firebase.messaging.FirebaseMessagingService
import com.google.firebase.messaging.RemoteMessage
import org.json.JSONObject

/**
 * Receives Firebase Cloud Messaging events and hands them, unchanged, to the app's
 * [PushPayloadHandler] (normally a [TesseraPushHandler]).
 *
 * The service decides nothing and verifies nothing: a wake-up only names a prompt, which the
 * core then fetches from the paired server and verifies under the pinned key. It forwards the
 * message's raw payload when it has one, or else its data map as a JSON object in UTF-8 (the
 * server sends `{"prompt_id": "…"}` as data). With no handler registered, events are logged and
 * dropped.
 *
 * Register it in the app manifest with the `com.google.firebase.MESSAGING_EVENT` intent filter.
 */
class TesseraMessagingService : FirebaseMessagingService() {

    override fun onNewToken(token: String) {
        val handler = PushPayloadHandler.from(this)
        if (handler == null) {
            Log.i(TAG, "new push token ignored: the app has no push handler")
            return
        }
        handler.onNewPushToken(token)
    }

    override fun onMessageReceived(message: RemoteMessage) {
        val handler = PushPayloadHandler.from(this)
        if (handler == null) {
            Log.w(TAG, "push message dropped: the app has no push handler")
            return
        }
        handler.onPushPayload(payloadOf(message))
    }

    /** Helpers. */
    companion object {
        private const val TAG = "TesseraPush"

        /** The bytes handed to the core: the raw payload, or the data map as a JSON object. */
        fun payloadOf(message: RemoteMessage): ByteArray =
            message.rawData ?: JSONObject(message.data as Map<*, *>).toString().toByteArray(Charsets.UTF_8)
    }
}
