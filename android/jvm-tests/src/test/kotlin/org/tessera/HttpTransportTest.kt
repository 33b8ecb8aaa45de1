package org.tessera

import com.sun.net.httpserver.HttpExchange
import com.sun.net.httpserver.HttpServer
import java.io.ByteArrayOutputStream
import java.net.InetAddress
import java.net.InetSocketAddress
import java.net.ServerSocket
import java.util.concurrent.CountDownLatch
import java.util.concurrent.CopyOnWriteArrayList
import java.util.concurrent.Executors
import java.util.concurrent.TimeUnit
import java.util.concurrent.atomic.AtomicInteger
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.async
import kotlinx.coroutines.delay
import kotlinx.coroutines.runBlocking
import kotlinx.coroutines.withTimeout
import org.junit.jupiter.api.AfterAll
import org.junit.jupiter.api.Assertions.assertArrayEquals
import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertFalse
import org.junit.jupiter.api.Assertions.assertNull
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.BeforeAll
import org.junit.jupiter.api.Test
import org.junit.jupiter.api.TestInstance
import org.junit.jupiter.api.assertThrows
import org.tessera.ffi.HttpBody
import org.tessera.ffi.HttpHeader
import org.tessera.ffi.HttpRequest
import org.tessera.ffi.HttpResponse
import org.tessera.ffi.TesseraException as FfiTesseraException

/**
 * [UrlConnectionHttpTransport] against a real HTTP server on a loopback port (the JDK's
 * `com.sun.net.httpserver`): what it sends, what it hands back, streaming, closing, failures.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class HttpTransportTest {
    private lateinit var server: HttpServer
    private lateinit var base: String
    private val transport = UrlConnectionHttpTransport()

    /** What /echo received, one entry per request. */
    private val received = CopyOnWriteArrayList<Received>()
    private val redirectTargetHits = AtomicInteger()

    /** Released by a test to let a held response (/stream, /silent) go on. */
    @Volatile
    private var release = CountDownLatch(1)

    private class Received(val method: String, val query: String?, val headers: Map<String, List<String>>, val body: ByteArray)

    @BeforeAll
    fun startServer() {
        server = HttpServer.create(InetSocketAddress(InetAddress.getLoopbackAddress(), 0), 0)
        server.createContext("/echo") { exchange ->
            val body = exchange.requestBody.readBytes()
            received += Received(
                exchange.requestMethod,
                exchange.requestURI.rawQuery,
                exchange.requestHeaders.mapKeys { it.key.lowercase() },
                body,
            )
            exchange.responseHeaders.add("X-Reply", "one")
            exchange.responseHeaders.add("X-Reply", "two")
            if (exchange.requestMethod == "HEAD") {
                exchange.sendResponseHeaders(201, -1)
            } else {
                exchange.sendResponseHeaders(201, body.size.toLong().takeIf { it > 0 } ?: -1)
                exchange.responseBody.use { it.write(body) }
            }
            exchange.close()
        }
        server.createContext("/redirect") { exchange ->
            exchange.responseHeaders.add("Location", "$base/redirect-target")
            exchange.sendResponseHeaders(302, -1)
            exchange.close()
        }
        server.createContext("/redirect-target") { exchange ->
            redirectTargetHits.incrementAndGet()
            exchange.sendResponseHeaders(204, -1)
            exchange.close()
        }
        server.createContext("/missing") { exchange ->
            val body = "no such thing".toByteArray()
            exchange.sendResponseHeaders(404, body.size.toLong())
            exchange.responseBody.use { it.write(body) }
            exchange.close()
        }
        server.createContext("/stream") { exchange -> stream(exchange) }
        server.createContext("/silent") { exchange ->
            // Takes the request, then holds back the status line.
            release.await(30, TimeUnit.SECONDS)
            exchange.sendResponseHeaders(204, -1)
            exchange.close()
        }
        server.executor = Executors.newCachedThreadPool { task -> Thread(task).apply { isDaemon = true } }
        server.start()
        base = "http://127.0.0.1:${server.address.port}"
    }

    /** An event stream: "first" at once (chunked), "second" once released, then the end. */
    private fun stream(exchange: HttpExchange) {
        exchange.responseHeaders.add("Content-Type", "text/event-stream")
        exchange.sendResponseHeaders(200, 0)
        val out = exchange.responseBody
        try {
            out.write("first".toByteArray())
            out.flush()
            release.await(30, TimeUnit.SECONDS)
            out.write("second".toByteArray())
            out.close()
        } catch (e: java.io.IOException) {
            // The client hung up first: that is what some tests do.
        }
        exchange.close()
    }

    @AfterAll
    fun stopServer() {
        release.countDown()
        server.stop(0)
    }

    private fun request(
        path: String,
        method: String = "GET",
        headers: List<HttpHeader> = emptyList(),
        body: ByteArray = ByteArray(0),
        timeoutMs: Long = 10_000,
    ) = HttpRequest(method, base + path, headers, body, timeoutMs.toULong())

    private fun HttpResponse.header(name: String): List<String> =
        headers.filter { it.name.equals(name, ignoreCase = true) }.map { it.value }

    private suspend fun HttpBody.readAll(): ByteArray {
        val out = ByteArrayOutputStream()
        while (true) out.write(read() ?: break)
        return out.toByteArray()
    }

    @Test
    fun `method, headers and body arrive as sent, and the answer comes back whole`(): Unit = runBlocking {
        val body = ByteArray(100_000) { (it % 251).toByte() }
        val headers = listOf(
            HttpHeader("Content-Type", "application/octet-stream"),
            HttpHeader("User-Agent", "tessera-test/1"),
            HttpHeader("X-Twice", "a"),
            HttpHeader("X-Twice", "b"),
        )
        received.clear()
        val response = transport.send(request("/echo?x=1", "POST", headers, body))
        try {
            assertEquals(201.toUShort(), response.status)
            assertEquals(listOf("one", "two"), response.header("X-Reply"))
            assertArrayEquals(body, response.body.readAll())
            assertNull(response.body.read(), "the end stays the end")
        } finally {
            response.body.cancel()
        }
        val sent = received.single()
        assertEquals("POST", sent.method)
        assertEquals("x=1", sent.query)
        assertEquals(listOf("application/octet-stream"), sent.headers["content-type"])
        assertEquals(listOf("tessera-test/1"), sent.headers["user-agent"])
        assertEquals(listOf("a", "b"), sent.headers["x-twice"])
        assertEquals(listOf(body.size.toString()), sent.headers["content-length"])
        assertArrayEquals(body, sent.body)

        for (method in listOf("GET", "HEAD", "DELETE", "PUT")) {
            received.clear()
            val answer = transport.send(request("/echo", method))
            assertEquals(201.toUShort(), answer.status, method)
            assertEquals(0, answer.body.readAll().size, method)
            answer.body.cancel()
            assertEquals(method, received.single().method)
            assertEquals(0, received.single().body.size, method)
        }
    }

    @Test
    fun `a redirect is handed back, not followed`(): Unit = runBlocking {
        val response = transport.send(request("/redirect"))
        response.body.cancel()
        assertEquals(302.toUShort(), response.status)
        assertEquals(listOf("$base/redirect-target"), response.header("Location"))
        assertEquals(0, redirectTargetHits.get())
    }

    @Test
    fun `an error status has a readable body`(): Unit = runBlocking {
        val response = transport.send(request("/missing"))
        try {
            assertEquals(404.toUShort(), response.status)
            assertEquals("no such thing", String(response.body.readAll()))
        } finally {
            response.body.cancel()
        }
    }

    @Test
    fun `a streamed body arrives piece by piece, before the server finishes`(): Unit = runBlocking {
        release = CountDownLatch(1)
        val response = transport.send(request("/stream"))
        try {
            assertEquals(listOf("text/event-stream"), response.header("Content-Type"))
            // The server holds the rest until released: this read must not wait for it.
            val first = withTimeout(10_000) { response.body.read() }
            assertEquals("first", first?.let(::String))
            release.countDown()
            assertEquals("second", String(withTimeout(10_000) { response.body.readAll() }))
        } finally {
            release.countDown()
            response.body.cancel()
        }
    }

    @Test
    fun `cancel ends a pending read`(): Unit = runBlocking {
        release = CountDownLatch(1)
        val response = transport.send(request("/stream"))
        try {
            assertEquals("first", response.body.read()?.let(::String))
            val pending = async(Dispatchers.Default) { response.body.read() }
            delay(300)
            assertFalse(pending.isCompleted, "nothing more was sent")
            response.body.cancel()
            assertNull(withTimeout(5_000) { pending.await() })
            assertNull(response.body.read(), "a closed body reads as ended")
            response.body.cancel() // a second cancel does nothing
        } finally {
            release.countDown()
        }
    }

    @Test
    fun `no answer within the timeout is a network error`(): Unit = runBlocking {
        release = CountDownLatch(1)
        try {
            val started = System.nanoTime()
            val e = assertThrows<FfiTesseraException.Network> {
                runBlocking { transport.send(request("/silent", timeoutMs = 500)) }
            }
            val tookMs = (System.nanoTime() - started) / 1_000_000
            assertTrue(tookMs < 5_000, "gave up after $tookMs ms")
            assertTrue(e.reason.contains("127.0.0.1"), e.reason)
        } finally {
            release.countDown()
        }
    }

    @Test
    fun `an unreachable server is a network error naming only the host`(): Unit = runBlocking {
        // A port that was free a moment ago: nothing listens there.
        val port = ServerSocket(0, 1, InetAddress.getLoopbackAddress()).use { it.localPort }
        val request = HttpRequest(
            "GET",
            "http://127.0.0.1:$port/v1/pair?code=SECRETCODE",
            listOf(HttpHeader("Authorization", "Bearer SECRETTOKEN")),
            ByteArray(0),
            5_000UL,
        )
        val e = assertThrows<FfiTesseraException.Network> { runBlocking { transport.send(request) } }
        assertTrue(e.reason.contains("127.0.0.1:$port"), e.reason)
        assertFalse(e.reason.contains("SECRET"), e.reason)
        assertFalse(e.reason.contains("/v1/pair"), e.reason)

        val notHttp = assertThrows<FfiTesseraException.Network> {
            runBlocking { transport.send(HttpRequest("GET", "file:///etc/passwd", emptyList(), ByteArray(0), 5_000UL)) }
        }
        assertFalse(notHttp.reason.contains("passwd"), notHttp.reason)
    }
}
