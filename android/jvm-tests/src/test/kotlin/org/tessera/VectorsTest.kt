package org.tessera

import kotlinx.coroutines.runBlocking
import org.json.JSONObject
import org.junit.jupiter.api.AfterAll
import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.BeforeAll
import org.junit.jupiter.api.Test
import org.junit.jupiter.api.TestInstance

/**
 * The shared RFC 4226 / RFC 6238 / Steam vectors (tests/vectors/otp-vectors.json), computed
 * through the Kotlin bindings: each vector's parameters become an otpauth URI, added to a vault,
 * and the code is read back with `codes(nowMs)` or `nextHotpCode`.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class VectorsTest {
    private val vectors = loadJson("tessera.vectors", "../../tests/vectors/otp-vectors.json")
        .getJSONArray("vectors").let { array -> (0 until array.length()).map { array.getJSONObject(it) } }
    private lateinit var client: TesseraClient

    @BeforeAll
    fun openVault() = runBlocking {
        client = TesseraClient.open(offlineConfig(tempDataDir()), InMemoryStorage())
        client.createVault()
        Unit
    }

    @AfterAll
    fun closeVault() = client.close()

    private fun JSONObject.kind() = getString("kind")

    @Test
    fun `the file has every kind`() {
        val kinds = vectors.groupingBy { it.kind() }.eachCount()
        assertTrue(kinds.getValue("totp") >= 18, "$kinds")
        assertTrue(kinds.getValue("hotp") >= 10, "$kinds")
        assertTrue(kinds.getValue("steam") >= 1, "$kinds")
    }

    @Test
    fun `TOTP and Steam vectors through codes(nowMs)`(): Unit = runBlocking {
        val timed = vectors.filter { it.kind() == "totp" || it.kind() == "steam" }
        // One account per distinct (kind, algorithm, digits, period, secret).
        val ids = mutableMapOf<String, String>()
        fun keyOf(v: JSONObject) = listOf(
            v.kind(), v.getString("algorithm"), v.getInt("digits"), v.getInt("period"), v.getString("secret_base32"),
        ).joinToString("/")
        for (v in timed) {
            val key = keyOf(v)
            if (key in ids) continue
            val label = "${v.kind()}-${ids.size}"
            val uri = if (v.kind() == "steam") {
                "otpauth://totp/Steam:$label?secret=${v.getString("secret_base32")}&issuer=Steam&encoder=steam"
            } else {
                "otpauth://totp/Vectors:$label?secret=${v.getString("secret_base32")}&issuer=Vectors" +
                    "&algorithm=${v.getString("algorithm")}&digits=${v.getInt("digits")}&period=${v.getInt("period")}"
            }
            val added = client.addUri(uri)
            val expectedKind = if (v.kind() == "steam") OtpKind.STEAM else OtpKind.TOTP
            assertEquals(expectedKind, added.account.kind, uri)
            ids[key] = added.account.id
        }
        var checked = 0
        for (v in timed) {
            val time = v.getLong("time")
            val period = v.getLong("period")
            val codes = client.codes(time * 1000)
            val code = codes.single { it.accountId == ids.getValue(keyOf(v)) }
            assertEquals(v.getString("code"), code.code, "vector $v")
            assertEquals(time / period, code.counter, "time step of $v")
            assertEquals(time / period * period * 1000, code.validFromMs, "valid_from of $v")
            assertEquals((time / period + 1) * period * 1000, code.validUntilMs, "valid_until of $v")
            checked++
        }
        assertEquals(timed.size, checked)
    }

    @Test
    fun `HOTP vectors through nextHotpCode`(): Unit = runBlocking {
        val hotp = vectors.filter { it.kind() == "hotp" }
        // Each vector on its own account starting at its counter…
        for ((i, v) in hotp.withIndex()) {
            val uri = "otpauth://hotp/Vectors:hotp-$i?secret=${v.getString("secret_base32")}&issuer=Vectors" +
                "&algorithm=${v.getString("algorithm")}&digits=${v.getInt("digits")}&counter=${v.getLong("counter")}"
            val account = client.addUri(uri).account
            assertEquals(OtpKind.HOTP, account.kind)
            val code = client.nextHotpCode(account.id)
            assertEquals(v.getString("code"), code.code, "vector $v")
            assertEquals(v.getLong("counter"), code.counter)
            assertEquals(null, code.validUntilMs)
        }
        // …and all of them in order from one account, whose counter advances by one per call.
        val sequence = hotp.sortedBy { it.getLong("counter") }
        val first = sequence.first()
        val uri = "otpauth://hotp/Vectors:hotp-sequence?secret=${first.getString("secret_base32")}" +
            "&issuer=Vectors&counter=${first.getLong("counter")}"
        val id = client.addUri(uri).account.id
        for (v in sequence) {
            assertEquals(v.getString("code"), client.nextHotpCode(id).code, "vector $v")
        }
        // HOTP accounts never appear in codes().
        val hotpIds = client.accounts().filter { it.kind == OtpKind.HOTP }.map { it.id }.toSet()
        assertTrue(client.codes(59_000).none { it.accountId in hotpIds })
    }
}
