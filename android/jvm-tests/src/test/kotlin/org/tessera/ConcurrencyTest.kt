package org.tessera

import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.async
import kotlinx.coroutines.awaitAll
import kotlinx.coroutines.runBlocking
import kotlinx.coroutines.withContext
import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.Test

/** Many coroutines on one client at once: same answers, no lost updates. */
class ConcurrencyTest {
    private val at = 1_234_567_890_000L

    @Test
    fun `64 coroutines calling codes() at once agree`(): Unit = runBlocking {
        TesseraClient.open(offlineConfig(tempDataDir()), InMemoryStorage()).use { client ->
            client.createVault()
            repeat(20) { client.addUri(totpUri("user$it", period = if (it % 2 == 0) 30 else 60)) }
            val expected = client.codes(at)
            assertEquals(20, expected.size)

            val results = withContext(Dispatchers.Default) {
                (1..64).map { n ->
                    async {
                        // Each coroutine mixes fixed-time and trusted-time calls, and reads accounts.
                        List(25) { i ->
                            if ((n + i) % 5 == 0) {
                                val now = client.codes().first().let { it.validFromMs!! }
                                assertTrue(now > at)
                            }
                            client.accounts().size.also { size -> assertEquals(20, size) }
                            client.codes(at)
                        }
                    }
                }.awaitAll().flatten()
            }
            assertEquals(64 * 25, results.size)
            results.forEach { assertEquals(expected, it) }
        }
    }

    @Test
    fun `50 coroutines taking HOTP codes get 50 distinct counters`(): Unit = runBlocking {
        TesseraClient.open(offlineConfig(tempDataDir()), InMemoryStorage()).use { client ->
            client.createVault()
            val id = client.addUri("otpauth://hotp/Test:counter?secret=$RFC_SECRET&issuer=Test&counter=0").account.id
            val codes = withContext(Dispatchers.IO) {
                (1..50).map { async { client.nextHotpCode(id) } }.awaitAll()
            }
            assertEquals((0L until 50L).toList(), codes.map { it.counter }.sorted())
            assertEquals(50L, client.accounts().single().counter)
        }
    }

    @Test
    fun `the generated object is safe from plain threads too`() {
        val dir = tempDataDir()
        org.tessera.ffi.Authenticator(offlineConfig(dir), InMemoryStorage(), null).use { raw ->
            raw.createVault(null)
            repeat(5) { raw.addUri(totpUri("thread$it")) }
            val expected = raw.codes(at.toULong())
            val failures = java.util.concurrent.ConcurrentLinkedQueue<Throwable>()
            val threads = List(16) {
                Thread {
                    try {
                        repeat(100) { check(raw.codes(at.toULong()) == expected) }
                    } catch (e: Throwable) {
                        failures += e
                    }
                }
            }
            threads.forEach { it.start() }
            threads.forEach { it.join() }
            assertTrue(failures.isEmpty(), "$failures")
        }
    }
}
