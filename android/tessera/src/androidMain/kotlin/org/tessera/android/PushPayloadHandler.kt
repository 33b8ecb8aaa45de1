package org.tessera.android

import android.content.Context

/**
 * Where the Android push glue hands its input: FCM tokens and payloads from
 * [TesseraMessagingService], and the user's answers from the push prompt screen.
 *
 * Push approval is not in Tessera's core API yet. When it lands (the push issue), the app's
 * `Application` implements this interface and forwards everything to the core: the core owns
 * the protocol (verifying the signed prompt, fetching its details, signing the answer). Until
 * then nothing implements it, and the glue says so instead of pretending to work.
 */
interface PushPayloadHandler {
    /** FCM issued a new registration token; the core will register it with the push servers. */
    fun onNewPushToken(token: String)

    /** A push message arrived: its raw payload bytes, exactly as delivered, to be verified by the core. */
    fun onPushPayload(payload: ByteArray)

    /** The user answered a push prompt on the prompt screen. */
    fun onPromptAnswered(answer: PushPromptAnswer)

    /** Lookup. */
    companion object {
        /** The handler the app registered by implementing this interface on its `Application`, if any. */
        fun from(context: Context): PushPayloadHandler? = context.applicationContext as? PushPayloadHandler
    }
}

/** What the user decided about a push prompt. */
enum class PushDecision {
    /** It was me: approve, with the number the login page shows. */
    APPROVE,

    /** Not now: deny. */
    DENY,

    /** It was not me: deny and tell the site. */
    REPORT_FRAUD,
}

/**
 * The user's answer to one prompt.
 *
 * @property promptId the prompt's id, as delivered.
 * @property decision approve, deny or report fraud.
 * @property enteredNumber the number typed from the login page (number matching); `null` unless
 *   approving.
 */
data class PushPromptAnswer(val promptId: String, val decision: PushDecision, val enteredNumber: String?)
