package com.google.firebase.messaging

/**
 * COMPILE-ONLY STUB of Firebase's `RemoteMessage` (see [FirebaseMessagingService]): only the
 * getters Tessera reads, with the real class's names and types. Never packaged.
 *
 * @property data the message's data payload (`getData()`).
 * @property rawData the raw payload, when the message was sent with one (`getRawData()`).
 * @property messageId the message id (`getMessageId()`).
 */
class RemoteMessage(
    val data: Map<String, String> = emptyMap(),
    val rawData: ByteArray? = null,
    val messageId: String? = null,
)
