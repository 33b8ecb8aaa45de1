package org.tessera

import java.io.IOException
import java.io.InputStream
import java.net.ConnectException
import java.net.HttpURLConnection
import java.net.MalformedURLException
import java.net.NoRouteToHostException
import java.net.SocketTimeoutException
import java.net.URL
import java.net.UnknownHostException
import java.util.concurrent.atomic.AtomicBoolean
import javax.net.ssl.SSLException
import kotlinx.coroutines.CancellationException
import kotlinx.coroutines.CompletableDeferred
import kotlinx.coroutines.CoroutineScope
import kotlinx.coroutines.Deferred
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.SupervisorJob
import kotlinx.coroutines.TimeoutCancellationException
import kotlinx.coroutines.async
import kotlinx.coroutines.launch
import kotlinx.coroutines.selects.select
import kotlinx.coroutines.withTimeout
import org.tessera.ffi.HttpBody
import org.tessera.ffi.HttpHeader
import org.tessera.ffi.HttpRequest
import org.tessera.ffi.HttpResponse
import org.tessera.ffi.HttpTransport
import org.tessera.ffi.TesseraException as FfiTesseraException

/**
 * Tessera's network access (HTTPS time sources, push approval, transfer mailboxes) over
 * [HttpURLConnection], which Android and the JVM both have. It is what [TesseraClient.open] uses
 * unless told otherwise.
 *
 * Server certificates are checked by the platform with its default trust: on Android the system's
 * trust store and the app's network security config. As the core asks, redirects are not followed
 * (a 3xx comes back as it is), caches are not used, and the response is handed over as soon as the
 * status and headers arrive, its body read piece by piece (the push stream never ends). Cookies
 * and credentials are added only if the app itself installs a process-wide
 * `java.net.CookieHandler` or `java.net.Authenticator`, which [HttpURLConnection] consults on its
 * own.
 *
 * Failures (unknown host, no connection, TLS, timeouts) are thrown as the generated
 * `TesseraException.Network`, whose reason names the host and never the rest of the URL or a
 * header value.
 */
class UrlConnectionHttpTransport : HttpTransport {

    /**
     * Sends [request] and returns once its status and headers have arrived, within
     * `request.timeoutMs` for connecting and for that answer.
     */
    override suspend fun send(request: HttpRequest): HttpResponse {
        val exchange = Exchange(request)
        val limitMs = exchange.limitMs
        val answer = background.async { exchange.run() }
        try {
            return withTimeout(limitMs.toLong()) { answer.await() }
        } catch (e: TimeoutCancellationException) {
            exchange.abandon()
            throw FfiTesseraException.Network("${exchange.host} did not answer within $limitMs ms")
        } catch (e: CancellationException) {
            // The core no longer wants the answer.
            exchange.abandon()
            throw e
        }
    }
}

/**
 * Where the blocking connection work runs: threads meant for blocking I/O, and a supervisor so
 * that one failed request does not cancel the others.
 */
private val background = CoroutineScope(SupervisorJob() + Dispatchers.IO)

/** The most one [ConnectionBody.read] returns. */
private const val READ_BUFFER_BYTES = 16 * 1024

/**
 * The socket read timeout, at least. [HttpURLConnection] fixes it when it connects and keeps it
 * for the body too, so it must outlast the push stream's quiet spells: the core gives up on a
 * stream itself after 45 s without data. The wait for the status line has its own, shorter,
 * deadline (in [UrlConnectionHttpTransport.send]).
 */
private const val MIN_READ_TIMEOUT_MS = 60_000

/** One request on one connection, up to its status and headers. */
private class Exchange(private val request: HttpRequest) {
    private val url: URL = parse(request.url)

    /** The host (and port, when the URL names one) for error messages. */
    val host: String = if (url.port == -1) url.host else "${url.host}:${url.port}"

    /** The limit for connecting and for the status and headers, in ms (0 would mean none). */
    val limitMs: Int = request.timeoutMs.coerceIn(1UL, Int.MAX_VALUE.toULong()).toInt()

    private val connection: HttpURLConnection = try {
        url.openConnection() as HttpURLConnection
    } catch (e: IOException) {
        throw networkFailure(host, e)
    }
    private val abandoned = AtomicBoolean(false)

    /** Connects, sends the request and waits for the status and headers. Blocking. */
    fun run(): HttpResponse {
        val response = try {
            exchange()
        } catch (e: Exception) {
            connection.disconnect()
            // Besides IOExceptions, HttpURLConnection refuses some input with unchecked exceptions
            // whose messages may quote a header value, which the generated layer would pass on.
            throw e as? FfiTesseraException ?: networkFailure(host, e)
        }
        // An abandon() that ran while the connection was still being made could not cut it.
        if (abandoned.get()) {
            connection.disconnect()
            throw FfiTesseraException.Network("the request to $host was abandoned")
        }
        return response
    }

    private fun exchange(): HttpResponse {
        connection.instanceFollowRedirects = false
        connection.useCaches = false
        connection.allowUserInteraction = false
        connection.connectTimeout = limitMs
        connection.readTimeout = maxOf(limitMs, MIN_READ_TIMEOUT_MS)
        connection.requestMethod = request.method
        for (header in request.headers) connection.addRequestProperty(header.name, header.value)
        // Android asks for gzip by itself and unzips out of sight, dropping Content-Length and
        // Content-Encoding; the JVM does not. Either way the core now gets what the server sent.
        if (request.headers.none { it.name.equals("Accept-Encoding", ignoreCase = true) }) {
            connection.setRequestProperty("Accept-Encoding", "identity")
        }
        if (request.body.isNotEmpty()) {
            connection.doOutput = true
            connection.setFixedLengthStreamingMode(request.body.size)
            connection.outputStream.use { it.write(request.body) }
        }
        val status = connection.responseCode
        if (status !in 100..999) throw FfiTesseraException.Network("$host did not answer in HTTP")
        // Error statuses have their body in errorStream (null when there is none).
        val body = if (status >= 400) connection.errorStream else connection.inputStream
        return HttpResponse(status.toUShort(), headers(), ConnectionBody(connection, body, host))
    }

    /**
     * The response headers in the order received. By index, because the JVM's `headerFields`
     * lists the values of a repeated header last first.
     */
    private fun headers(): List<HttpHeader> {
        val headers = mutableListOf<HttpHeader>()
        var index = 0
        while (true) {
            val value = connection.getHeaderField(index) ?: break
            // The JVM puts the status line first, without a name.
            val name = connection.getHeaderFieldKey(index)
            if (name != null) headers += HttpHeader(name, value)
            index++
        }
        return headers
    }

    /** Cuts the connection: the core stopped waiting for it. */
    fun abandon() {
        abandoned.set(true)
        connection.disconnect()
    }

    private companion object {
        /** The URL as [URL], refusing schemes other than HTTP(S) before anything is opened. */
        fun parse(text: String): URL {
            val url = try {
                URL(text)
            } catch (e: MalformedURLException) {
                throw FfiTesseraException.Network("not a valid URL")
            }
            if (url.protocol != "https" && url.protocol != "http") {
                throw FfiTesseraException.Network("only http and https URLs can be requested")
            }
            if (url.host.isEmpty()) throw FfiTesseraException.Network("the URL names no host")
            return url
        }
    }
}

/**
 * A response body read from [stream] (null for none). One blocking read runs at a time, on
 * [background]; [read] waits for it or for [cancel], so that cancelling ends a pending read at once
 * even where [HttpURLConnection.disconnect] cannot interrupt it (the JVM's `disconnect` waits for
 * a read in progress to finish).
 */
private class ConnectionBody(
    private val connection: HttpURLConnection,
    private val stream: InputStream?,
    private val host: String,
) : HttpBody {
    private val lock = Any()
    private var closed = false

    /**
     * The blocking read in progress. A [read] cancelled by the core leaves it here for the next
     * one, so that no piece of the body is lost.
     */
    private var pending: Deferred<ByteArray?>? = null
    private val closing = CompletableDeferred<Unit>()

    override suspend fun read(): ByteArray? {
        val stream = stream ?: return null
        val piece = synchronized(lock) {
            if (closed) return null
            pending ?: background.async { readBlocking(stream) }.also { pending = it }
        }
        try {
            return select {
                piece.onAwait { it }
                closing.onAwait { null }
            }
        } finally {
            synchronized(lock) {
                if (pending === piece && piece.isCompleted) pending = null
            }
        }
    }

    /** What one [InputStream.read] gives: the bytes that arrived, or null at the end. */
    private fun readBlocking(stream: InputStream): ByteArray? {
        val buffer = ByteArray(READ_BUFFER_BYTES)
        val count = try {
            stream.read(buffer)
        } catch (e: IOException) {
            // A read cut short by cancel() is the end the core asked for, not a failure.
            if (synchronized(lock) { closed }) return null
            throw networkFailure(host, e)
        }
        return if (count < 0) null else buffer.copyOf(count)
    }

    override fun cancel() {
        synchronized(lock) {
            if (closed) return
            closed = true
        }
        closing.complete(Unit)
        // Not on the caller's thread: on the JVM, disconnect() blocks while a read is pending.
        background.launch { connection.disconnect() }
    }
}

/**
 * A failure as the generated `TesseraException.Network`, with a reason that names [host] and the
 * kind of failure but not the exception's own message, which may quote the URL.
 */
private fun networkFailure(host: String, e: Exception): FfiTesseraException.Network {
    val reason = when (e) {
        is UnknownHostException -> "unknown host $host"
        is SocketTimeoutException -> "$host did not answer in time"
        is ConnectException, is NoRouteToHostException -> "cannot connect to $host"
        is SSLException -> "TLS with $host failed (${e.javaClass.simpleName})"
        else -> "the request to $host failed (${e.javaClass.simpleName})"
    }
    return FfiTesseraException.Network(reason)
}
