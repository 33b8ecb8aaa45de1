package org.tessera

import java.io.File
import kotlinx.coroutines.runBlocking
import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Tag
import org.junit.jupiter.api.Test

/**
 * Measures `codes()` for 1,000 accounts through the Kotlin bindings (goal: ≤ 1 ms per call).
 *
 * A timing loop, not JMH: warm up, then time [BATCHES] batches of [CALLS] calls and report the
 * median and the best batch in ms per call, through the generated object and through
 * [TesseraClient] (which adds a hop to the I/O dispatcher). The report goes to standard output
 * and to the file named by the `tessera.benchmark.report` system property. The test never fails
 * on the timing: it only checks that every call returns 1,000 codes.
 */
@Tag("benchmark")
class CodesBenchmarkTest {
    private companion object {
        const val ACCOUNTS = 1000
        const val WARMUP = 200
        const val BATCHES = 10
        const val CALLS = 50
    }

    /** Median and minimum of [BATCHES] batches, in ms per call. */
    private inline fun time(call: () -> Int): Pair<Double, Double> {
        repeat(WARMUP) { assertEquals(ACCOUNTS, call()) }
        val perCall = List(BATCHES) {
            val start = System.nanoTime()
            repeat(CALLS) { assertEquals(ACCOUNTS, call()) }
            (System.nanoTime() - start) / 1e6 / CALLS
        }.sorted()
        return perCall[BATCHES / 2] to perCall.first()
    }

    @Test
    fun `codes() for 1000 accounts`(): Unit = runBlocking {
        val dir = tempDataDir()
        val storage = InMemoryStorage()
        val setupStart = System.nanoTime()
        TesseraClient.open(offlineConfig(dir), storage).use { client ->
            client.createVault()
            repeat(ACCOUNTS) { i ->
                val algorithm = listOf("SHA1", "SHA256", "SHA512")[i % 3]
                val period = if (i % 10 == 0) 60 else 30
                client.addUri(
                    "otpauth://totp/Bench:user$i?secret=JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP&issuer=Bench" +
                        "&algorithm=$algorithm&digits=${6 + i % 3}&period=$period",
                )
            }
        }
        val setupS = (System.nanoTime() - setupStart) / 1e9

        val raw = org.tessera.ffi.Authenticator(offlineConfig(dir), storage, null).use { auth ->
            auth.unlockWithKeystore()
            time { auth.codes(null).size }
        }
        val wrapped = TesseraClient.open(offlineConfig(dir), storage).use { client ->
            client.unlockWithKeystore()
            time { runBlocking { client.codes().size } }
        }
        val library = System.getProperty("uniffi.component.tessera_ffi.libraryOverride")
            ?: (System.getProperty("jna.library.path") ?: "the library path") + "/libtessera_ffi.so"
        val report = listOf(
            "codes() with $ACCOUNTS TOTP accounts (SHA-1/256/512 mixed), $library:",
            "  generated Authenticator.codes(null): median %.3f ms/call, best batch %.3f ms/call".format(raw.first, raw.second),
            "  TesseraClient.codes() (suspend, Dispatchers.IO): median %.3f ms/call, best batch %.3f ms/call"
                .format(wrapped.first, wrapped.second),
            "  ($WARMUP warm-up calls, then $BATCHES batches of $CALLS calls; goal <= 1 ms/call; " +
                "adding the $ACCOUNTS accounts took %.1f s)".format(setupS),
        ).joinToString("\n")
        println(report)
        System.getProperty("tessera.benchmark.report")?.let { File(it).writeText(report + "\n") }
    }
}
