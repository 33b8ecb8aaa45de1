package org.tessera

import java.io.File
import java.nio.file.Files
import java.util.concurrent.ConcurrentHashMap
import java.util.concurrent.atomic.AtomicInteger
import org.json.JSONObject
import org.tessera.ffi.AuthenticatorConfig
import org.tessera.ffi.SecureStorage

/** A thread-safe in-memory [SecureStorage], standing in for the Android Keystore-backed one. */
class InMemoryStorage : SecureStorage {
    /** What is stored, by key. */
    val values = ConcurrentHashMap<String, String>()

    /** How many times the core called this storage. */
    val calls = AtomicInteger()

    override fun get(key: String): String? {
        calls.incrementAndGet()
        return values[key]
    }

    override fun set(key: String, value: String) {
        calls.incrementAndGet()
        values[key] = value
    }

    override fun delete(key: String) {
        calls.incrementAndGet()
        values.remove(key)
    }
}

/** A [SecureStorage] that fails every call, as a keystore whose key needs user authentication would. */
class FailingStorage(private val error: () -> Exception) : SecureStorage {
    override fun get(key: String): String? = throw error()
    override fun set(key: String, value: String) = throw error()
    override fun delete(key: String) = throw error()
}

/** A config over [dir] that never asks the network. */
fun offlineConfig(dir: File) = AuthenticatorConfig(
    dataDir = dir.absolutePath,
    usePlatformKeystore = false,
    timeSources = listOf(),
    timeCorrection = true,
)

/** A fresh temporary data folder, deleted when the JVM exits. */
fun tempDataDir(prefix: String = "tessera-test"): File =
    Files.createTempDirectory(prefix).toFile().also { dir ->
        Runtime.getRuntime().addShutdownHook(Thread { dir.deleteRecursively() })
    }

/** The shared vectors file (tests/vectors/otp-vectors.json), located through a system property. */
fun loadJson(property: String, fallback: String): JSONObject {
    val path = System.getProperty(property) ?: fallback
    return JSONObject(File(path).readText())
}

/** RFC 6238's SHA-1 seed ("12345678901234567890") in base32. */
const val RFC_SECRET = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"

/** A TOTP URI for [label] with the RFC seed. */
fun totpUri(label: String, period: Int = 30, digits: Int = 6, secret: String = RFC_SECRET) =
    "otpauth://totp/Test:$label?secret=$secret&issuer=Test&period=$period&digits=$digits"
