package org.tessera.android

import android.content.Context

/**
 * Where [TesseraMessagingService] hands FCM traffic: new registration tokens and the payload
 * bytes of data messages. The app's `Application` implements it, normally by delegating to a
 * [TesseraPushHandler], which passes everything to the Rust core: the core owns the protocol
 * (reading the wake-up, fetching and verifying the signed prompt, signing the answer).
 *
 * Both calls come on the service's main thread and must return quickly: start the work in a
 * coroutine scope that outlives the service.
 */
interface PushPayloadHandler {
    /** FCM issued a new registration token: tell every paired push server. */
    fun onNewPushToken(token: String)

    /** A data message arrived: its payload bytes, exactly as delivered (see `payloadOf`). */
    fun onPushPayload(payload: ByteArray)

    /** Lookup. */
    companion object {
        /** The handler the app registered by implementing this interface on its `Application`, if any. */
        fun from(context: Context): PushPayloadHandler? = context.applicationContext as? PushPayloadHandler
    }
}
