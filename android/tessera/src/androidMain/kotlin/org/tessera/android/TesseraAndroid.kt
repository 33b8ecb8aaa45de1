package org.tessera.android

import android.content.Context
import java.util.concurrent.atomic.AtomicBoolean

/**
 * Android start-up for the Tessera library. Call [init] once, from `Application.onCreate`, before
 * the first network call (push pairing and prompts, transfer mailboxes, HTTPS time sources).
 *
 * The core's HTTPS checks server certificates with `rustls-platform-verifier`, which on Android
 * asks the system's trust store through JNI: it needs the JVM and the application [Context]
 * first, and fails every TLS handshake until then. The Kotlin half of the verifier ships as the
 * `rustls:rustls-platform-verifier` Android library (see tessera/build.gradle.kts).
 */
object TesseraAndroid {
    private val initialized = AtomicBoolean(false)

    /**
     * Loads the native library and hands the application context to the platform verifier.
     * Idempotent and thread-safe.
     *
     * @throws RuntimeException when the verifier cannot reach the JVM (thrown from native code).
     */
    fun init(context: Context) {
        if (!initialized.compareAndSet(false, true)) return
        try {
            // The same library the generated bindings load through JNA; loading it here too
            // registers this class's native method with the JVM.
            System.loadLibrary("tessera_ffi")
            initNative(context.applicationContext)
        } catch (e: Throwable) {
            initialized.set(false)
            throw e
        }
    }

    /** Implemented in Rust: bindings/src/android.rs. */
    @JvmStatic
    private external fun initNative(context: Context)
}
