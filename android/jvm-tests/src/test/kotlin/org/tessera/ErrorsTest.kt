package org.tessera

import java.io.IOException
import kotlinx.coroutines.runBlocking
import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertFalse
import org.junit.jupiter.api.Assertions.assertSame
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.Test
import org.junit.jupiter.api.assertThrows
import org.tessera.ffi.TesseraException as FfiTesseraException

/** Bad input gives the right [TesseraException] subclass, with the detail the app needs. */
class ErrorsTest {

    private suspend fun unlockedClient(storage: InMemoryStorage = InMemoryStorage()) =
        TesseraClient.open(offlineConfig(tempDataDir()), storage).also { it.createVault() }

    /** Fails to compile if the hierarchy gains a case this `when` does not handle. */
    private fun advice(e: TesseraException): String = when (e) {
        is TesseraException.InvalidUri -> "fix the ${e.field}"
        is TesseraException.InvalidImage, is TesseraException.InvalidInput -> "try other input"
        is TesseraException.AccountNotFound, is TesseraException.DuplicateAccount -> "refresh the list"
        is TesseraException.NoVault -> "create a vault"
        is TesseraException.VaultExists, is TesseraException.Locked -> "unlock"
        is TesseraException.WrongPassword, is TesseraException.WrongRecoveryKey -> "try again"
        is TesseraException.KeystoreUnavailable, is TesseraException.Storage -> "use the password"
        is TesseraException.VaultDamaged -> "restore a backup"
        is TesseraException.Time -> "check the network"
        is TesseraException.PairingRefused -> "ask the site for a new QR code"
        is TesseraException.DeviceRevoked -> "pair again"
        is TesseraException.PromptUnavailable -> "nothing to answer"
        is TesseraException.UntrustedPrompt -> "warn the user"
        is TesseraException.InvalidPushPayload -> "ignore the message"
        is TesseraException.PushNetwork -> "try again later"
        is TesseraException.PushRefused -> "tell the user why"
        is TesseraException.PasswordRequired -> "ask for the file's password"
        is TesseraException.InvalidFile -> "choose another file"
        is TesseraException.WouldLoseInformation -> "show ${e.warnings.size} warning(s), offer to force"
        is TesseraException.Transfer, is TesseraException.ConfirmationMismatch -> "start the transfer again"
        is TesseraException.Network -> "check the connection"
        is TesseraException.Internal -> "report a bug"
        is TesseraException.Closed -> "reopen"
    }

    @Test
    fun `an invalid URI names the field at fault`(): Unit = runBlocking {
        unlockedClient().use { client ->
            val e = assertThrows<TesseraException.InvalidUri> {
                runBlocking { client.addUri("otpauth://totp/Example:alice?secret=not*base32!") }
            }
            assertEquals("secret", e.field)
            assertFalse(e.message!!.contains("not*base32!"), "the message must not repeat the secret")
            assertEquals("fix the secret", advice(e))
            assertTrue(e.cause is FfiTesseraException.InvalidUri, "the generated error is kept as the cause")

            val digits = assertThrows<TesseraException.InvalidUri> {
                runBlocking { client.addUri("otpauth://totp/Example:alice?secret=$RFC_SECRET&digits=4") }
            }
            assertEquals("digits", digits.field)
            val algorithm = assertThrows<TesseraException.InvalidUri> {
                runBlocking { client.addUri("otpauth://totp/Example:alice?secret=$RFC_SECRET&algorithm=MD5") }
            }
            assertEquals("algorithm", algorithm.field)
        }
    }

    @Test
    fun `every shared malformed URI is refused naming its field`(): Unit = runBlocking {
        val cases = loadJson("tessera.malformed", "../../tests/vectors/malformed-uris.json").getJSONArray("cases")
        unlockedClient().use { client ->
            for (i in 0 until cases.length()) {
                val case = cases.getJSONObject(i)
                var uri = case.getString("uri")
                case.optJSONObject("repeat")?.let { r ->
                    uri = uri.replace(r.getString("marker"), r.getString("text").repeat(r.getInt("count")))
                }
                val e = assertThrows<TesseraException.InvalidUri>("case ${case.getString("why")}") {
                    runBlocking { client.addUri(uri) }
                }
                assertEquals(case.getString("field"), e.field, "case ${case.getString("why")}")
            }
            assertTrue(client.accounts().isEmpty())
        }
    }

    @Test
    fun `a duplicate account is refused`(): Unit = runBlocking {
        unlockedClient().use { client ->
            client.addUri(totpUri("alice"))
            val e = assertThrows<TesseraException.DuplicateAccount> { runBlocking { client.addUri(totpUri("alice")) } }
            assertTrue(e.name.contains("alice"))
        }
    }

    @Test
    fun `wrong password and wrong recovery key`(): Unit = runBlocking {
        val dir = tempDataDir()
        TesseraClient.open(offlineConfig(dir)).use { it.createVault(password = "right password") }
        TesseraClient.open(offlineConfig(dir)).use { client ->
            assertThrows<TesseraException.WrongPassword> { runBlocking { client.unlockWithPassword("wrong password") } }
            assertThrows<TesseraException.WrongRecoveryKey> {
                runBlocking { client.unlockWithRecoveryKey("AAAA-BBBB-CCCC-DDDD-EEEE-FFFF-GGGG-HHHH") }
            }
            assertFalse(client.isUnlocked)
            // Without a storage there is no keystore way in at all.
            assertThrows<TesseraException.KeystoreUnavailable> { runBlocking { client.unlockWithKeystore() } }
            client.unlockWithPassword("right password")
            assertTrue(client.isUnlocked)
        }
    }

    @Test
    fun `a locked vault refuses account calls`(): Unit = runBlocking {
        val dir = tempDataDir()
        val storage = InMemoryStorage()
        TesseraClient.open(offlineConfig(dir), storage).use { client ->
            client.createVault()
            client.addUri(totpUri("alice"))
            client.lock()
            assertThrows<TesseraException.Locked> { runBlocking { client.accounts() } }
            assertThrows<TesseraException.Locked> { runBlocking { client.codes() } }
            assertThrows<TesseraException.Locked> { runBlocking { client.addUri(totpUri("bob")) } }
        }
        TesseraClient.open(offlineConfig(dir), storage).use { client ->
            assertThrows<TesseraException.Locked> { runBlocking { client.codes(0) } }
        }
    }

    @Test
    fun `unknown account ids`(): Unit = runBlocking {
        unlockedClient().use { client ->
            val removed = assertThrows<TesseraException.AccountNotFound> { runBlocking { client.removeAccount("nope") } }
            assertEquals("nope", removed.id)
            assertThrows<TesseraException.AccountNotFound> { runBlocking { client.nextHotpCode("nope") } }
            assertThrows<TesseraException.AccountNotFound> { runBlocking { client.renameAccount("nope", label = "x") } }
        }
    }

    @Test
    fun `other bad input`(): Unit = runBlocking {
        val dir = tempDataDir()
        assertThrows<TesseraException.InvalidInput> {
            runBlocking { TesseraClient.open(offlineConfig(dir).copy(dataDir = "")) }
        }
        assertThrows<TesseraException.Time> {
            runBlocking { TesseraClient.open(offlineConfig(dir).copy(timeSources = listOf("gopher://example"))) }
        }
        TesseraClient.open(offlineConfig(dir)).use { client ->
            assertThrows<TesseraException.NoVault> { runBlocking { client.unlockWithPassword("anything") } }
            // No storage and no password: nothing would protect the vault.
            assertThrows<TesseraException.InvalidInput> { runBlocking { client.createVault() } }
            assertThrows<TesseraException.Time> { runBlocking { client.syncClock() } }
        }
        unlockedClient().use { client ->
            assertThrows<TesseraException.VaultExists> { runBlocking { client.createVault() } }
            val totp = client.addUri(totpUri("alice")).account
            assertThrows<TesseraException.InvalidInput> { runBlocking { client.nextHotpCode(totp.id) } }
            assertThrows<TesseraException.InvalidInput> { runBlocking { client.codes(-1) } }
            assertThrows<TesseraException.InvalidInput> { runBlocking { client.moveAccount(totp.id, -1) } }
        }
    }

    @Test
    fun `QR pixels that hold no code are an invalid image`(): Unit = runBlocking {
        unlockedClient().use { client ->
            val short = assertThrows<TesseraException.InvalidImage> {
                runBlocking { client.addFromQrPixels(4, 4, ByteArray(15)) }
            }
            assertTrue(short.reason.contains("15"), short.reason)
            assertThrows<TesseraException.InvalidImage> { runBlocking { client.addFromQrPixels(0, 0, ByteArray(0)) } }
            val white = ByteArray(64 * 64) { 0xFF.toByte() }
            val blank = assertThrows<TesseraException.InvalidImage> { runBlocking { client.addFromQrPixels(64, 64, white) } }
            assertTrue(blank.reason.contains("no QR code"), blank.reason)
            assertEquals("try other input", advice(blank))
            val huge = assertThrows<TesseraException.InvalidImage> {
                runBlocking { client.addFromQrPixels(100_000, 100_000, ByteArray(0)) }
            }
            assertTrue(huge.reason.contains("too large"), huge.reason)
            assertThrows<TesseraException.InvalidInput> { runBlocking { client.addFromQrPixels(-1, 4, ByteArray(0)) } }
            assertTrue(client.accounts().isEmpty())
        }
    }

    @Test
    fun `a throwing storage surfaces as Storage with the app's exception as cause`(): Unit = runBlocking {
        val dir = tempDataDir()
        val problem = IOException("user not authenticated")
        TesseraClient.open(offlineConfig(dir), FailingStorage { problem }).use { client ->
            val e = assertThrows<TesseraException.Storage> { runBlocking { client.createVault() } }
            assertSame(problem, e.cause)
            assertTrue(e.reason.contains("user not authenticated"), e.reason)
            assertFalse(client.vaultExists(), "nothing is written when the keystore slot cannot be made")
        }
        // A vault made with a working storage, then opened while the storage fails.
        TesseraClient.open(offlineConfig(dir), InMemoryStorage()).use { it.createVault(password = "pw") }
        TesseraClient.open(offlineConfig(dir), FailingStorage { problem }).use { client ->
            val e = assertThrows<TesseraException.Storage> { runBlocking { client.unlockWithKeystore() } }
            assertSame(problem, e.cause)
            assertEquals("use the password", advice(e))
            // A password unlock also tries to restore the keystore slot. Today the core fails the
            // whole unlock when the storage throws; opening the vault anyway would be fine too.
            // Either way a storage failure is never swallowed into another error.
            try {
                client.unlockWithPassword("pw")
                assertTrue(client.isUnlocked)
            } catch (again: TesseraException.Storage) {
                assertSame(problem, again.cause)
            }
        }
    }

    @Test
    fun `the generated layer reports a throwing storage as a typed error too`() {
        val dir = tempDataDir()
        val raw = org.tessera.ffi.Authenticator(offlineConfig(dir), FailingStorage { IllegalStateException("boom") }, null)
        raw.use {
            val e = assertThrows<FfiTesseraException> { it.createVault(null) }
            assertTrue(
                e is FfiTesseraException.Storage || e is FfiTesseraException.KeystoreUnavailable,
                "got ${e::class.simpleName}: ${e.message}",
            )
            assertTrue(e.message!!.contains("boom"), e.message)
        }
    }
}
