package org.tessera.android

import android.content.Context
import android.content.SharedPreferences
import android.os.Build
import android.security.keystore.KeyGenParameterSpec
import android.security.keystore.KeyPermanentlyInvalidatedException
import android.security.keystore.KeyProperties
import java.io.IOException
import java.security.GeneralSecurityException
import java.security.KeyStore
import java.util.Base64
import javax.crypto.Cipher
import javax.crypto.KeyGenerator
import javax.crypto.SecretKey
import javax.crypto.spec.GCMParameterSpec
import org.tessera.ffi.SecureStorage

/**
 * Tessera's [SecureStorage] on Android: each value is encrypted with AES-256-GCM under a key
 * that never leaves the Android Keystore, and kept in private [SharedPreferences] as
 * `v1:<base64 IV>:<base64 ciphertext>`. The entry's name is the GCM associated data, so a value
 * copied under another name does not decrypt.
 *
 * Tessera keeps one key-encryption key per vault here; the vault itself stays a file, so losing
 * this storage (a new phone, a cleared Keystore) only means unlocking once with the password or
 * the recovery key, which writes a fresh entry.
 *
 * When the Keystore key is gone or permanently invalidated (for example a new fingerprint was
 * enrolled while the key was bound to user authentication), [get] forgets every entry and
 * returns `null`: the core then reports the keystore slot as lost and asks for the password.
 * When the key needs the user to authenticate first, calls throw Android's
 * `UserNotAuthenticatedException`; `TesseraClient` hands it back as the cause of
 * `TesseraException.Storage`, so the app can ask for the screen lock and retry.
 *
 * Thread-safe: every call holds one lock, and a write is committed before it returns.
 *
 * @param prefs where the encrypted values are kept.
 * @param keys where the AES key comes from; [AndroidKeystoreKey] by default. Tests pass a
 *   software key, since the JVM has no `AndroidKeyStore`.
 */
class KeystoreSecureStorage(
    private val prefs: SharedPreferences,
    private val keys: KeySource = AndroidKeystoreKey(),
) : SecureStorage {

    /**
     * Storage in the app's private preferences file [preferencesName].
     *
     * @param context any context; only its application context is used.
     * @param keys where the AES key comes from; [AndroidKeystoreKey] by default.
     * @param preferencesName the private preferences file that holds the encrypted values.
     */
    constructor(
        context: Context,
        keys: KeySource = AndroidKeystoreKey(),
        preferencesName: String = DEFAULT_PREFERENCES,
    ) : this(context.applicationContext.getSharedPreferences(preferencesName, Context.MODE_PRIVATE), keys)

    /** Where the AES-256 key that encrypts the stored values comes from. */
    interface KeySource {
        /** The key, generated first when [create] is true and there is none; `null` when absent. */
        fun key(create: Boolean): SecretKey?

        /** Deletes the key (after it was permanently invalidated). */
        fun delete()
    }

    /**
     * Requires the user to have authenticated (screen lock or strong biometric) within the last
     * [timeoutSeconds] before the key can be used. Per-use authentication (a timeout of 0) is not
     * offered: the core calls the storage synchronously, with no `BiometricPrompt` crypto object.
     *
     * @property timeoutSeconds how long one authentication unlocks the key; at least 1.
     * @property allowDeviceCredential accept the PIN/pattern/password as well as a strong
     *   biometric (Android 11 and later; older versions always accept both).
     */
    data class UserAuthentication(val timeoutSeconds: Int, val allowDeviceCredential: Boolean = true) {
        init {
            require(timeoutSeconds >= 1) { "timeoutSeconds must be at least 1" }
        }
    }

    /**
     * An AES-256-GCM key in `AndroidKeyStore` under [alias], generated on first use.
     *
     * @param alias the Keystore alias.
     * @param userAuthentication bind the key to user authentication, or `null` (the default) to
     *   let it be used whenever the device is on (a push prompt may arrive while it is locked).
     */
    class AndroidKeystoreKey(
        private val alias: String = DEFAULT_ALIAS,
        private val userAuthentication: UserAuthentication? = null,
    ) : KeySource {
        private fun keyStore(): KeyStore = KeyStore.getInstance(ANDROID_KEYSTORE).apply { load(null) }

        override fun key(create: Boolean): SecretKey? {
            (keyStore().getKey(alias, null) as SecretKey?)?.let { return it }
            if (!create) return null
            val spec = KeyGenParameterSpec.Builder(
                alias,
                KeyProperties.PURPOSE_ENCRYPT or KeyProperties.PURPOSE_DECRYPT,
            )
                .setKeySize(256)
                .setBlockModes(KeyProperties.BLOCK_MODE_GCM)
                .setEncryptionPaddings(KeyProperties.ENCRYPTION_PADDING_NONE)
                .setRandomizedEncryptionRequired(true)
                .apply { userAuthentication?.let { requireAuthentication(it) } }
                .build()
            return KeyGenerator.getInstance(KeyProperties.KEY_ALGORITHM_AES, ANDROID_KEYSTORE)
                .apply { init(spec) }
                .generateKey()
        }

        private fun KeyGenParameterSpec.Builder.requireAuthentication(auth: UserAuthentication) {
            setUserAuthenticationRequired(true)
            setInvalidatedByBiometricEnrollment(true)
            if (Build.VERSION.SDK_INT >= Build.VERSION_CODES.R) {
                val kinds = if (auth.allowDeviceCredential) {
                    KeyProperties.AUTH_BIOMETRIC_STRONG or KeyProperties.AUTH_DEVICE_CREDENTIAL
                } else {
                    KeyProperties.AUTH_BIOMETRIC_STRONG
                }
                setUserAuthenticationParameters(auth.timeoutSeconds, kinds)
            } else {
                @Suppress("DEPRECATION")
                setUserAuthenticationValidityDurationSeconds(auth.timeoutSeconds)
            }
        }

        override fun delete() {
            keyStore().deleteEntry(alias)
        }
    }

    private val lock = Any()

    override fun get(key: String): String? = synchronized(lock) {
        val stored = prefs.getString(key, null) ?: return null
        val secretKey = keys.key(create = false)
        if (secretKey == null) {
            // The values were written under a key that no longer exists (restored app data,
            // cleared Keystore): they can never be read again.
            forgetAll()
            return null
        }
        try {
            decrypt(secretKey, key, stored)
        } catch (e: KeyPermanentlyInvalidatedException) {
            keys.delete()
            forgetAll()
            null
        }
    }

    override fun set(key: String, value: String): Unit = synchronized(lock) {
        val encrypted = try {
            encrypt(checkNotNull(keys.key(create = true)), key, value)
        } catch (e: KeyPermanentlyInvalidatedException) {
            // Every value under the old key is lost anyway; start over with a new key.
            keys.delete()
            forgetAll()
            encrypt(checkNotNull(keys.key(create = true)), key, value)
        }
        if (!prefs.edit().putString(key, encrypted).commit()) throw IOException("could not save $key")
    }

    override fun delete(key: String): Unit = synchronized(lock) {
        if (prefs.contains(key) && !prefs.edit().remove(key).commit()) throw IOException("could not remove $key")
    }

    private fun forgetAll() {
        prefs.edit().clear().commit()
    }

    private fun encrypt(secretKey: SecretKey, name: String, value: String): String {
        val cipher = Cipher.getInstance(TRANSFORMATION)
        cipher.init(Cipher.ENCRYPT_MODE, secretKey)
        cipher.updateAAD(aad(name))
        val ciphertext = cipher.doFinal(value.toByteArray(Charsets.UTF_8))
        val b64 = Base64.getEncoder()
        return "$FORMAT:${b64.encodeToString(cipher.iv)}:${b64.encodeToString(ciphertext)}"
    }

    private fun decrypt(secretKey: SecretKey, name: String, stored: String): String {
        val parts = stored.split(':')
        if (parts.size != 3 || parts[0] != FORMAT) throw GeneralSecurityException("unknown format for $name")
        val b64 = Base64.getDecoder()
        val iv = b64.decode(parts[1])
        val cipher = Cipher.getInstance(TRANSFORMATION)
        cipher.init(Cipher.DECRYPT_MODE, secretKey, GCMParameterSpec(TAG_BITS, iv))
        cipher.updateAAD(aad(name))
        return String(cipher.doFinal(b64.decode(parts[2])), Charsets.UTF_8)
    }

    private fun aad(name: String) = "tessera-secure-storage/$FORMAT/$name".toByteArray(Charsets.UTF_8)

    /** Names and formats. */
    companion object {
        /** The Keystore alias of the default key. */
        const val DEFAULT_ALIAS = "org.tessera.secure-storage"

        /** The default preferences file name. */
        const val DEFAULT_PREFERENCES = "org.tessera.secure-storage"

        private const val ANDROID_KEYSTORE = "AndroidKeyStore"
        private const val TRANSFORMATION = "AES/GCM/NoPadding"
        private const val TAG_BITS = 128
        private const val FORMAT = "v1"
    }
}
