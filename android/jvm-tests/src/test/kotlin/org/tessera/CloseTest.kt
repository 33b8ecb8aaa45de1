package org.tessera

import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.async
import kotlinx.coroutines.awaitAll
import kotlinx.coroutines.delay
import kotlinx.coroutines.runBlocking
import kotlinx.coroutines.withContext
import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertFalse
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.Test
import org.junit.jupiter.api.assertThrows

/** Native objects are released by `close()` / `use {}`, and later calls fail cleanly. */
class CloseTest {

    @Test
    fun `use closes the client and later calls fail with Closed`(): Unit = runBlocking {
        val client = TesseraClient.open(offlineConfig(tempDataDir()), InMemoryStorage())
        client.use {
            it.createVault()
            it.addUri(totpUri("alice"))
            assertFalse(it.isClosed)
        }
        assertTrue(client.isClosed)
        assertThrows<TesseraException.Closed> { runBlocking { client.accounts() } }
        assertThrows<TesseraException.Closed> { runBlocking { client.codes() } }
        assertThrows<TesseraException.Closed> { client.trustedNowMs() }
        assertThrows<TesseraException.Closed> { client.clockStatus() }
        assertThrows<TesseraException.Closed> { client.isUnlocked }
        assertThrows<TesseraException.Closed> { runBlocking { client.syncClock() } }
        client.close() // a second close does nothing
    }

    @Test
    fun `closing while calls are in flight`(): Unit = runBlocking {
        val client = TesseraClient.open(offlineConfig(tempDataDir()), InMemoryStorage())
        client.createVault()
        repeat(10) { client.addUri(totpUri("user$it")) }
        val outcomes = withContext(Dispatchers.Default) {
            val workers = (1..20).map {
                async {
                    var ok = 0
                    while (true) {
                        try {
                            assertEquals(10, client.codes().size)
                            ok++
                        } catch (e: TesseraException.Closed) {
                            return@async ok
                        }
                    }
                    @Suppress("UNREACHABLE_CODE")
                    ok
                }
            }
            delay(200)
            client.close()
            workers.awaitAll()
        }
        assertEquals(20, outcomes.size)
        assertTrue(outcomes.sum() > 0, "the workers ran before the close")
    }

    @Test
    fun `the generated Authenticator is AutoCloseable`() {
        val dir = tempDataDir()
        val raw = org.tessera.ffi.Authenticator(offlineConfig(dir), InMemoryStorage(), null)
        raw.use { it.createVault(null) }
        assertTrue(raw.uniffiIsDestroyed)
        val e = assertThrows<IllegalStateException> { raw.accounts() }
        assertTrue(e.message!!.contains("destroyed"), e.message)
        // The vault it wrote is intact for the next instance.
        org.tessera.ffi.Authenticator(offlineConfig(dir), null, null).use { assertTrue(it.vaultExists()) }
    }
}
