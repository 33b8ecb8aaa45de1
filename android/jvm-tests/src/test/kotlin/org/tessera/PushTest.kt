package org.tessera

import java.io.BufferedReader
import java.io.File
import java.io.InputStreamReader
import java.net.URI
import java.net.http.HttpClient
import java.net.http.HttpRequest
import java.net.http.HttpResponse
import java.nio.file.Files
import java.time.Duration
import java.util.concurrent.TimeUnit
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.channels.Channel
import kotlinx.coroutines.flow.collect
import kotlinx.coroutines.flow.onCompletion
import kotlinx.coroutines.launch
import kotlinx.coroutines.runBlocking
import kotlinx.coroutines.withTimeout
import org.json.JSONObject
import org.junit.jupiter.api.AfterAll
import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertFalse
import org.junit.jupiter.api.Assertions.assertNull
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.Assumptions.assumeTrue
import org.junit.jupiter.api.BeforeAll
import org.junit.jupiter.api.Test
import org.junit.jupiter.api.TestInstance
import org.junit.jupiter.api.assertThrows
import org.tessera.ffi.AnswerOutcome
import org.tessera.ffi.PushDelivery
import org.tessera.ffi.PushEvent

/**
 * Push approval through the Kotlin wrapper against the real reference server: a
 * `tessera-server` process (the binary scripts/kotlin-tests.sh builds and passes as the system
 * property `tessera.server.bin`) on a loopback port, driven through its relying-party API as a
 * site would. Payload parsing is tested without a server.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class PushTest {
    private var server: Process? = null
    private lateinit var url: String
    private lateinit var serverDir: File
    private val http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(10)).build()

    @BeforeAll
    fun startServer() {
        val bin = System.getProperty("tessera.server.bin")?.let(::File)
        if (bin == null || !bin.canExecute()) return
        serverDir = Files.createTempDirectory("tessera-server").toFile()
        val process = ProcessBuilder(
            bin.path, "--listen", "127.0.0.1:0", "--issuer", "Example",
            "--database", File(serverDir, "server.db").path,
        )
            .redirectError(File(serverDir, "server.log"))
            .redirectInput(ProcessBuilder.Redirect.from(File("/dev/null")))
            .also {
                it.environment()["TESSERA_SERVER_API_KEYS"] = API_KEY
                it.environment().remove("TESSERA_SERVER_CONFIG")
            }
            .start()
        server = process
        val stdout = BufferedReader(InputStreamReader(process.inputStream))
        val line = stdout.readLine().orEmpty()
        check(line.startsWith(LISTENING)) { "the server did not start: $line\n${File(serverDir, "server.log").readText()}" }
        url = line.removePrefix(LISTENING).trim()
        // Keep draining stdout so the server never blocks on a full pipe.
        Thread { stdout.useLines { lines -> lines.forEach { } } }.apply { isDaemon = true }.start()
    }

    @AfterAll
    fun stopServer() {
        server?.let {
            it.destroy()
            if (!it.waitFor(5, TimeUnit.SECONDS)) it.destroyForcibly()
        }
        if (::serverDir.isInitialized) serverDir.deleteRecursively()
    }

    private fun needServer() =
        assumeTrue(server != null, "set -Dtessera.server.bin to the tessera-server binary (scripts/kotlin-tests.sh does)")

    /** One relying-party call; returns the status and the JSON answer. */
    private fun rp(method: String, path: String, body: JSONObject? = null): Pair<Int, JSONObject> {
        val request = HttpRequest.newBuilder(URI.create(url + path))
            .header("Authorization", "Bearer $API_KEY")
            .header("Content-Type", "application/json")
            .timeout(Duration.ofSeconds(30))
            .method(method, body?.let { HttpRequest.BodyPublishers.ofString(it.toString()) } ?: HttpRequest.BodyPublishers.noBody())
            .build()
        val response = http.send(request, HttpResponse.BodyHandlers.ofString())
        return response.statusCode() to JSONObject(response.body().ifEmpty { "{}" })
    }

    private fun enroll(user: String): String {
        val (status, body) = rp("POST", "/v1/rp/users/$user/devices/enroll", JSONObject().put("account", "$user@example.com"))
        assertEquals(201, status, body.toString())
        return body.getString("enrollment_uri")
    }

    /** Creates a prompt; returns its id and number. */
    private fun prompt(user: String): Pair<String, String> {
        val request = JSONObject()
            .put("user", user)
            .put("ttl", 120)
            .put("context", JSONObject().put("ip", "203.0.113.7").put("app", "Web login"))
        val (status, body) = rp("POST", "/v1/rp/prompts", request)
        assertEquals(201, status, body.toString())
        return body.getString("prompt_id") to body.getString("number")
    }

    private fun state(id: String): String = rp("GET", "/v1/rp/prompts/$id").second.getString("state")

    private suspend fun unlockedClient() =
        TesseraClient.open(offlineConfig(tempDataDir()), null).also { it.createVault("pw") }

    private fun wrong(number: String) = number.map { if (it == '9') '0' else '9' }.joinToString("")

    @Test
    fun `push payloads are read strictly, with typed errors`(): Unit = runBlocking {
        unlockedClient().use { client ->
            assertEquals("p-1_A.b", client.handlePushPayload("""{"prompt_id":"p-1_A.b"}""".toByteArray()))
            for (payload in listOf("", "[]", "{}", """{"prompt_id":1}""", """{"prompt_id":"../x"}""", "{")) {
                val e = assertThrows<TesseraException.InvalidPushPayload>(payload) {
                    client.handlePushPayload(payload.toByteArray())
                }
                assertTrue(e.reason.startsWith("push payload: "), e.reason)
            }
            // No vault needed to read a payload.
            client.lock()
            assertEquals("abc", client.handlePushPayload("""{"prompt_id":"abc"}""".toByteArray()))
            assertThrows<TesseraException.Locked> { runBlocking { client.pushAccounts() } }
            client.unlockWithPassword("pw")
            val bad = assertThrows<TesseraException.InvalidInput> {
                runBlocking { client.pairPush("tessera-push://pair?v=1&codeSECRETCODE", "JVM") }
            }
            assertFalse(bad.reason.contains("SECRETCODE"))
            assertThrows<TesseraException.AccountNotFound> { runBlocking { client.fetchPrompt("nope", "p") } }
            assertThrows<TesseraException.AccountNotFound> { runBlocking { client.pushEvents("nope").collect() } }
            assertThrows<TesseraException.PromptUnavailable> { runBlocking { client.findPrompt("p") } }
        }
    }

    @Test
    fun `pair, take a prompt from the flow, answer it, unpair`(): Unit = runBlocking {
        needServer()
        unlockedClient().use { client ->
            val paired = client.pairPush(enroll("alice"), "JVM test", PushDelivery.Stream)
            assertEquals("Example", paired.issuer)
            assertEquals("alice@example.com", paired.label)
            assertEquals("alice", paired.user)
            assertFalse(paired.hasCodes)
            assertEquals(listOf(paired), client.pushAccounts())
            val account = paired.accountId

            val events = Channel<PushEvent>(Channel.UNLIMITED)
            var completed = false
            val collecting = launch(Dispatchers.Default) {
                client.pushEvents(account).onCompletion { completed = true }.collect { events.send(it) }
            }
            suspend fun nextPrompt(): PushPrompt = withTimeout(30_000) {
                while (true) {
                    when (val event = events.receive()) {
                        is PushEvent.Prompt -> return@withTimeout event.prompt
                        is PushEvent.Connected, is PushEvent.Disconnected -> continue
                        else -> error("unexpected $event")
                    }
                }
                @Suppress("UNREACHABLE_CODE")
                error("unreachable")
            }
            assertEquals(PushEvent.Connected, withTimeout(30_000) { events.receive() })

            val (id, number) = prompt("alice")
            val shown = nextPrompt()
            assertEquals(id, shown.id)
            assertEquals(account, shown.accountId)
            assertEquals("Example", shown.site)
            assertEquals("alice", shown.user)
            assertEquals("203.0.113.7", shown.ip)
            assertEquals("Web login", shown.app)
            assertNull(shown.location)
            assertEquals(PromptMode.ENTRY, shown.mode)
            assertTrue(shown.choices.isEmpty())
            assertTrue(shown.secondsLeft.toLong() in 100..120, "${shown.secondsLeft}")
            assertFalse(shown.timeChecked, "no time sources: the server judges expiry")

            assertEquals(
                AnswerOutcome.WrongNumber(2u),
                client.answerPrompt(account, id, PushDecision.APPROVE, wrong(number)),
            )
            assertThrows<TesseraException.InvalidInput> {
                runBlocking { client.answerPrompt(account, id, PushDecision.APPROVE) }
            }
            assertEquals(AnswerOutcome.Approved, client.answerPrompt(account, id, PushDecision.APPROVE, number))
            assertEquals("approved", state(id))
            assertEquals(AnswerOutcome.Finished, client.answerPrompt(account, id, PushDecision.DENY))

            // A wake-up, as FCM delivers it: payload -> prompt id -> fetch -> deny.
            val (woken, _) = prompt("alice")
            val promptId = client.handlePushPayload(JSONObject().put("prompt_id", woken).toString().toByteArray())
            assertEquals(woken, client.findPrompt(promptId).id)
            assertEquals(woken, client.fetchPrompt(account, promptId).id)
            assertEquals(listOf(woken), client.pendingPrompts(account).map { it.id })
            assertEquals(AnswerOutcome.Denied, client.answerPrompt(account, promptId, PushDecision.DENY))
            assertEquals("denied", state(woken))
            assertThrows<TesseraException.PromptUnavailable> { runBlocking { client.fetchPrompt(account, woken) } }

            // Cancelling the collector ends the flow (and closes the native subscription).
            collecting.cancel()
            withTimeout(10_000) { collecting.join() }
            assertTrue(completed)

            client.updatePushDelivery(account, PushDelivery.Fcm("fcm-token-for-tests"))
            val devices = rp("GET", "/v1/rp/users/alice/devices").second.getJSONArray("devices")
            assertEquals("fcm", devices.getJSONObject(0).getString("delivery"))

            assertTrue(client.unpairPush(account))
            assertTrue(client.pushAccounts().isEmpty())
            assertTrue(client.accounts().isEmpty(), "a push-only account goes with its pairing")
        }
    }

    @Test
    fun `a used pairing code is refused without repeating it`(): Unit = runBlocking {
        needServer()
        val uri = enroll("bob")
        unlockedClient().use { first -> first.pairPush(uri, "First") }
        unlockedClient().use { second ->
            val e = assertThrows<TesseraException.PairingRefused> { runBlocking { second.pairPush(uri, "Second") } }
            val code = uri.substringAfter("code=").substringBefore('&')
            assertFalse(e.message!!.contains(code))
        }
    }

    private companion object {
        const val API_KEY = "jvm-test-api-key-0123456789abcdef"
        const val LISTENING = "tessera-server listening on "
    }
}
