package com.google.firebase.messaging

import android.app.Service
import android.content.Intent
import android.os.IBinder

/**
 * COMPILE-ONLY STUB of Firebase's `FirebaseMessagingService`, with only the members Tessera
 * overrides. It exists so that CI can compile the FCM glue without Google's Maven repository;
 * it is never packaged. A real build uses `com.google.firebase:firebase-messaging`.
 */
abstract class FirebaseMessagingService : Service() {
    /** Called when a message arrives. */
    open fun onMessageReceived(message: RemoteMessage) {}

    /** Called when FCM issues a new registration token. */
    open fun onNewToken(token: String) {}

    /** The real class binds internally; services of this kind are not bound by apps. */
    final override fun onBind(intent: Intent?): IBinder? = null
}
