package org.tessera.android

import java.nio.file.Files
import java.util.Collections
import kotlinx.coroutines.CoroutineScope
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.runBlocking
import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.Test
import org.tessera.PushPrompt
import org.tessera.TesseraClient
import org.tessera.TesseraException
import org.tessera.ffi.AuthenticatorConfig

/**
 * [TesseraPushHandler] over the real core on the plain JVM: what it does with payloads and tokens
 * when there is nothing to fetch. Fetching real prompts from a real server is covered by the
 * wrapper's PushTest in android/jvm-tests.
 */
class TesseraPushHandlerTest {

    private class Recorder : TesseraPushHandler.Presenter {
        val shown: MutableList<PushPrompt> = Collections.synchronizedList(mutableListOf())
        val locked: MutableList<String> = Collections.synchronizedList(mutableListOf())
        val problems: MutableList<String> = Collections.synchronizedList(mutableListOf())
        override fun showPrompt(prompt: PushPrompt) { shown += prompt }
        override fun showLockedPrompt(promptId: String) { locked += promptId }
        override fun reportProblem(message: String) { problems += message }
    }

    private fun client(): TesseraClient {
        val dir = Files.createTempDirectory("tessera-push-handler").toFile().apply { deleteOnExit() }
        return TesseraClient.openBlocking(
            AuthenticatorConfig(dataDir = dir.absolutePath, usePlatformKeystore = false, timeSources = listOf(), timeCorrection = true),
        )
    }

    @Test
    fun `a payload that is not Tessera's is reported and ignored`(): Unit = runBlocking {
        client().use { client ->
            client.createVault("pw")
            val presenter = Recorder()
            val handler = TesseraPushHandler({ client }, CoroutineScope(Dispatchers.Default), presenter)
            val handled = handler.handlePayload("""{"aps":{}}""".toByteArray())
            assertTrue(handled is TesseraPushHandler.Handled.Ignored, "$handled")
            assertTrue((handled as TesseraPushHandler.Handled.Ignored).error is TesseraException.InvalidPushPayload)
            assertEquals(1, presenter.problems.size)
            assertTrue(presenter.shown.isEmpty())
        }
    }

    @Test
    fun `a locked vault shows the prompt without details and keeps the token`(): Unit = runBlocking {
        client().use { client ->
            client.createVault("pw")
            client.lock()
            val presenter = Recorder()
            val handler = TesseraPushHandler({ client }, CoroutineScope(Dispatchers.Default), presenter)
            // No secure storage: the vault cannot be opened without the user.
            assertEquals(
                TesseraPushHandler.Handled.NeedsUnlock("p-1"),
                handler.handlePayload("""{"prompt_id":"p-1"}""".toByteArray()),
            )
            assertEquals(listOf("p-1"), presenter.locked)
            assertEquals(0, handler.updateToken("fcm-token"))
            client.unlockWithPassword("pw")
            // Kept, and sent after the unlock: to no one, as nothing is paired.
            assertEquals(0, handler.sendPendingToken())
            assertEquals(
                TesseraPushHandler.Handled.Ignored::class,
                handler.handlePayload("""{"prompt_id":"p-1"}""".toByteArray())::class,
            )
            assertTrue(presenter.shown.isEmpty())
        }
    }
}
