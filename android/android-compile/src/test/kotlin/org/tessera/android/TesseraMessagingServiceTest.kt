package org.tessera.android

import com.google.firebase.messaging.RemoteMessage
import org.json.JSONObject
import org.junit.jupiter.api.Assertions.assertArrayEquals
import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Test

/**
 * What [TesseraMessagingService] hands to the core. Runs on the JVM against the compile-only
 * Firebase stubs and Android's own org.json (from the framework jar); the service's lifecycle
 * and handler lookup need an Android runtime and are not tested here.
 */
class TesseraMessagingServiceTest {

    @Test
    fun `a raw payload is forwarded byte for byte`() {
        val raw = byteArrayOf(1, 2, 3, 0, -1)
        assertArrayEquals(raw, TesseraMessagingService.payloadOf(RemoteMessage(rawData = raw)))
    }

    @Test
    fun `a data message is forwarded as a JSON object`() {
        val message = RemoteMessage(data = mapOf("prompt" to "abc", "server" to "https://push.example/é"))
        val json = JSONObject(String(TesseraMessagingService.payloadOf(message), Charsets.UTF_8))
        assertEquals(setOf("prompt", "server"), json.keys().asSequence().toSet())
        assertEquals("abc", json.getString("prompt"))
        assertEquals("https://push.example/é", json.getString("server"))
    }
}
