package org.tessera

import kotlinx.coroutines.flow.first
import kotlinx.coroutines.flow.take
import kotlinx.coroutines.flow.toList
import kotlinx.coroutines.async
import kotlinx.coroutines.runBlocking
import kotlinx.coroutines.withTimeout
import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertNotEquals
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.Test
import org.junit.jupiter.api.assertThrows

/** The ticking [TesseraClient.codeStates] flow, against the real clock (no network). */
class CodeFlowTest {

    @Test
    fun `codes tick on whole seconds and turn over exactly at period boundaries`(): Unit = runBlocking {
        TesseraClient.open(offlineConfig(tempDataDir()), InMemoryStorage()).use { client ->
            client.createVault()
            // A 2-second period turns over twice in five ticks; a 30-second one counts down.
            val fast = client.addUri(totpUri("fast", period = 2)).account
            val slow = client.addUri(totpUri("slow", period = 30)).account
            client.addUri("otpauth://hotp/Test:counter?secret=$RFC_SECRET&issuer=Test").account

            val received = mutableListOf<Pair<Long, List<CodeState>>>()
            withTimeout(15_000) {
                client.codeStates().take(6).collect { received += System.nanoTime() to it }
            }
            val ticks = received.map { it.second }

            // HOTP accounts have no countdown and are left out.
            ticks.forEach { tick -> assertEquals(setOf(fast.id, slow.id), tick.map { it.accountId }.toSet()) }

            // After the first, every tick is computed right at the start of a trusted second…
            for (tick in ticks.drop(1)) {
                val ms = tick.first().nowMs % 1000
                assertTrue(ms < 400, "tick at ${tick.first().nowMs} is $ms ms into its second")
            }
            // …one second after the one before, by the trusted clock and by the monotonic clock.
            // (A badly overloaded machine may skip a second; the checks below that need
            // consecutive seconds are made only on consecutive pairs, and most pairs must be.)
            fun second(i: Int) = ticks[i].first().nowMs / 1000
            val consecutive = (2 until ticks.size).filter { second(it) - second(it - 1) == 1L }
            (2 until ticks.size).forEach { assertTrue(second(it) > second(it - 1), "ticks go forward") }
            assertTrue(consecutive.size >= 3, "consecutive ticks: $consecutive")
            for (i in consecutive) {
                val gapMs = (received[i].first - received[i - 1].first) / 1_000_000
                assertTrue(gapMs in 500..1500, "ticks $gapMs ms apart")
            }

            var turnovers = 0
            for (i in 1 until ticks.size) {
                val before = ticks[i - 1].single { it.accountId == fast.id }
                val after = ticks[i].single { it.accountId == fast.id }
                // Every state agrees with the time step of its own instant.
                val expectedStep = after.nowMs / 2000
                assertEquals(expectedStep, after.counter)
                assertEquals((expectedStep + 1) * 2000, after.validUntilMs)
                assertEquals(((after.validUntilMs - after.nowMs + 999) / 1000).toInt(), after.secondsLeft)
                if (after.counter != before.counter) {
                    turnovers++
                    if (i in consecutive) {
                        assertEquals(1, before.secondsLeft, "the old code was in its last second")
                        assertEquals(2, after.secondsLeft, "the new code starts with a full period")
                        assertTrue(after.progress > 0.75f, "progress restarts near 1.0: ${after.progress}")
                        assertEquals(0, after.nowMs / 1000 % 2, "turned over on a period boundary")
                    }
                } else {
                    assertEquals(before.code, after.code)
                    if (i in consecutive) assertEquals(before.secondsLeft - 1, after.secondsLeft)
                }
            }
            assertTrue(turnovers >= 2, "saw $turnovers turn-overs")

            for (i in consecutive) {
                val before = ticks[i - 1].single { it.accountId == slow.id }
                val after = ticks[i].single { it.accountId == slow.id }
                if (after.counter == before.counter) {
                    assertEquals(before.secondsLeft - 1, after.secondsLeft)
                } else {
                    assertEquals(1, before.secondsLeft)
                    assertEquals(30, after.secondsLeft)
                    assertNotEquals(before.code, after.code)
                }
            }

            // A state matches codes() for its instant.
            val last = ticks.last()
            val direct = client.codes(last.first().nowMs)
            assertEquals(direct.map { it.accountId to it.code }, last.map { it.accountId to it.code })
        }
    }

    @Test
    fun `a new account shows up on the next tick`(): Unit = runBlocking {
        TesseraClient.open(offlineConfig(tempDataDir()), InMemoryStorage()).use { client ->
            client.createVault()
            client.addUri(totpUri("first"))
            val sizes = mutableListOf<Int>()
            withTimeout(10_000) {
                client.codeStates().take(3).collect { states ->
                    sizes += states.size
                    if (sizes.size == 1) client.addUri(totpUri("second"))
                }
            }
            assertEquals(listOf(1, 2, 2), sizes)
        }
    }

    @Test
    fun `the flow fails with Locked once the vault is locked, and with Closed after close`(): Unit = runBlocking {
        val client = TesseraClient.open(offlineConfig(tempDataDir()), InMemoryStorage())
        client.createVault()
        client.addUri(totpUri("alice"))
        assertEquals(1, client.codeStates().first().size)
        client.lock()
        assertThrows<TesseraException.Locked> { runBlocking { client.codeStates().first() } }
        client.unlockWithKeystore()

        // Closing the client while a collector is waiting for its next tick ends that collection.
        val seen = mutableListOf<List<CodeState>>()
        val outcome = async {
            runCatching { client.codeStates().collect { seen += it; if (seen.size == 1) client.close() } }
        }
        val error = withTimeout(5_000) { outcome.await() }.exceptionOrNull()
        assertTrue(error is TesseraException.Closed, "ended with $error")
        assertEquals(1, seen.size)
        assertThrows<TesseraException.Closed> { runBlocking { client.codeStates().toList() } }
    }

    @Test
    fun `countdown arithmetic at and around a boundary`() {
        val code = Code("a", "123456", 56_666_666, 1_699_999_980_000, 1_700_000_010_000)
        val start = CodeState.of(code, 1_699_999_980_000)!!
        assertEquals(30, start.secondsLeft)
        assertEquals(1.0f, start.progress)
        val lastMs = CodeState.of(code, 1_700_000_009_999)!!
        assertEquals(1, lastMs.secondsLeft)
        val middle = CodeState.of(code, 1_699_999_995_000)!!
        assertEquals(15, middle.secondsLeft)
        assertEquals(0.5f, middle.progress)
        assertEquals(30, middle.periodSeconds)
        assertEquals(null, CodeState.of(Code("h", "123456", 3, null, null), 0))
    }
}
