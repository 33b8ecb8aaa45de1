package org.tessera.android

import android.security.keystore.KeyPermanentlyInvalidatedException
import java.io.File
import java.io.IOException
import java.nio.file.Files
import java.security.GeneralSecurityException
import java.util.concurrent.Callable
import java.util.concurrent.Executors
import java.util.concurrent.TimeUnit
import javax.crypto.KeyGenerator
import javax.crypto.SecretKey
import kotlinx.coroutines.runBlocking
import org.junit.jupiter.api.AfterEach
import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertFalse
import org.junit.jupiter.api.Assertions.assertInstanceOf
import org.junit.jupiter.api.Assertions.assertNotEquals
import org.junit.jupiter.api.Assertions.assertNull
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.Test
import org.junit.jupiter.api.assertThrows
import org.tessera.TesseraClient
import org.tessera.TesseraException
import org.tessera.ffi.AuthenticatorConfig

/**
 * [KeystoreSecureStorage] on the JVM. There is no `AndroidKeyStore` here, so the AES key comes
 * from a software [KeystoreSecureStorage.KeySource], and the preferences are in memory; the
 * storage's own code (format, associated data, lost and invalidated keys, failed commits,
 * locking) is the real one, as is the core it serves in the last tests.
 */
class KeystoreSecureStorageTest {

    /** A software AES-256 key that can be lost or invalidated, standing in for the Keystore. */
    private class SoftwareKey : KeystoreSecureStorage.KeySource {
        var key: SecretKey? = null
        var deletions = 0

        /** Makes the current key unusable, as Android does after a new fingerprint is enrolled. */
        fun invalidate() {
            key = object : SecretKey {
                override fun getAlgorithm() = "AES"
                override fun getFormat() = "RAW"
                override fun getEncoded(): ByteArray = throw KeyPermanentlyInvalidatedException()
            }
        }

        override fun key(create: Boolean): SecretKey? {
            if (key == null && create) key = KeyGenerator.getInstance("AES").apply { init(256) }.generateKey()
            return key
        }

        override fun delete() {
            key = null
            deletions++
        }
    }

    private val keys = SoftwareKey()
    private val prefs = InMemoryPreferences()
    private val dirs = mutableListOf<File>()

    @AfterEach
    fun cleanUp() = dirs.forEach { it.deleteRecursively() }

    private fun tempDir() = Files.createTempDirectory("tessera-android").toFile().also { dirs += it }

    @Test
    fun `values round-trip and are stored encrypted`() {
        val storage = KeystoreSecureStorage(prefs, keys)
        assertNull(storage.get("kek"))
        storage.set("kek", "a secret value é")
        assertEquals("a secret value é", storage.get("kek"))
        val stored = prefs.getString("kek", null)!!
        assertTrue(stored.startsWith("v1:"), stored)
        assertFalse(stored.contains("secret"))
        // A fresh IV per write.
        storage.set("kek", "a secret value é")
        assertNotEquals(stored, prefs.getString("kek", null))
        // Another instance over the same preferences and key reads it.
        assertEquals("a secret value é", KeystoreSecureStorage(prefs, keys).get("kek"))
        storage.delete("kek")
        storage.delete("kek")
        assertNull(storage.get("kek"))
    }

    @Test
    fun `a value moved to another name does not decrypt`() {
        val storage = KeystoreSecureStorage(prefs, keys)
        storage.set("a", "value of a")
        prefs.edit().putString("b", prefs.getString("a", null)).commit()
        assertThrows<GeneralSecurityException> { storage.get("b") }
        prefs.edit().putString("c", "v2:AAAA:AAAA").commit()
        assertThrows<GeneralSecurityException> { storage.get("c") }
    }

    @Test
    fun `a lost key forgets the values instead of failing forever`() {
        val storage = KeystoreSecureStorage(prefs, keys)
        storage.set("kek", "value")
        keys.key = null // restored app data, cleared credentials
        assertNull(storage.get("kek"))
        assertTrue(prefs.all.isEmpty())
        storage.set("kek", "new value")
        assertEquals("new value", storage.get("kek"))
    }

    @Test
    fun `an invalidated key is deleted and replaced`() {
        val storage = KeystoreSecureStorage(prefs, keys)
        storage.set("kek", "value")
        keys.invalidate()
        assertNull(storage.get("kek"))
        assertEquals(1, keys.deletions)
        assertTrue(prefs.all.isEmpty())

        keys.invalidate()
        storage.set("kek", "written after a new fingerprint")
        assertEquals(2, keys.deletions)
        assertEquals("written after a new fingerprint", storage.get("kek"))
    }

    @Test
    fun `a failed commit is an error, not a silent loss`() {
        val storage = KeystoreSecureStorage(prefs, keys)
        prefs.failCommits = true
        assertThrows<IOException> { storage.set("kek", "value") }
    }

    @Test
    fun `many threads at once`() {
        val storage = KeystoreSecureStorage(prefs, keys)
        val pool = Executors.newFixedThreadPool(8)
        try {
            val tasks = (0 until 400).map { i ->
                pool.submit(
                    Callable {
                        storage.set("key${i % 10}", "value$i")
                        storage.get("key${i % 10}")!!.startsWith("value")
                    },
                )
            }
            tasks.forEach { assertTrue(it.get(30, TimeUnit.SECONDS)) }
        } finally {
            pool.shutdown()
        }
        (0 until 10).forEach { assertTrue(storage.get("key$it")!!.startsWith("value")) }
    }

    @Test
    fun `the core keeps its keystore slot key in it`(): Unit = runBlocking {
        val config = AuthenticatorConfig(dataDir = tempDir().absolutePath, timeSources = listOf())
        TesseraClient.open(config, KeystoreSecureStorage(prefs, keys)).use { client ->
            client.createVault()
            client.addUri("otpauth://totp/Test:alice?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&issuer=Test&digits=8")
        }
        assertEquals(1, prefs.all.size)
        TesseraClient.open(config, KeystoreSecureStorage(prefs, keys)).use { client ->
            client.unlockWithKeystore()
            // RFC 6238's first SHA-1 vector.
            assertEquals("94287082", client.codes(59_000).single().code)
        }
        // After a new fingerprint the slot key is gone: the core asks for the password.
        keys.invalidate()
        TesseraClient.open(config, KeystoreSecureStorage(prefs, keys)).use { client ->
            assertThrows<TesseraException.KeystoreUnavailable> { runBlocking { client.unlockWithKeystore() } }
        }
    }

    @Test
    fun `a storage that cannot commit surfaces as TesseraException Storage`(): Unit = runBlocking {
        val config = AuthenticatorConfig(dataDir = tempDir().absolutePath, timeSources = listOf())
        prefs.failCommits = true
        TesseraClient.open(config, KeystoreSecureStorage(prefs, keys)).use { client ->
            val e = assertThrows<TesseraException.Storage> { runBlocking { client.createVault() } }
            assertInstanceOf(IOException::class.java, e.cause)
        }
    }
}
