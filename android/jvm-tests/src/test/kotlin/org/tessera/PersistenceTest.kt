package org.tessera

import kotlinx.coroutines.runBlocking
import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertFalse
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.Test
import org.junit.jupiter.api.assertThrows

/** The vault outlives its `Authenticator`: two instances over one data folder and one storage. */
class PersistenceTest {
    private val at = 1_700_000_000_000L

    @Test
    fun `a second instance sees what the first one wrote`(): Unit = runBlocking {
        val dir = tempDataDir()
        val storage = InMemoryStorage()

        val written = TesseraClient.open(offlineConfig(dir), storage).use { first ->
            assertFalse(first.vaultExists())
            val recoveryKey = first.createVault()
            assertTrue(recoveryKey.isNotBlank())
            assertTrue(first.isUnlocked)
            val github = first.addUri(totpUri("alice@github")).account
            first.addUri("otpauth://totp/Example:bob?secret=JBSWY3DPEHPK3PXP&issuer=Example&algorithm=SHA256&digits=8&period=60")
            val hotp = first.addUri("otpauth://hotp/Counter:carol?secret=$RFC_SECRET&issuer=Counter&counter=5").account
            first.renameAccount(github.id, issuer = "GitHub", label = "alice")
            first.setTags(github.id, listOf("work", "dev"))
            first.moveAccount(hotp.id, 0)
            assertEquals(5, first.nextHotpCode(hotp.id).counter)
            Triple(first.accounts(), first.codes(at), hotp.id)
        }
        val (accounts, codes, hotpId) = written
        assertEquals(3, accounts.size)
        assertTrue(storage.values.isNotEmpty(), "the keystore slot key is in the app's storage")

        TesseraClient.open(offlineConfig(dir), storage).use { second ->
            assertTrue(second.vaultExists())
            assertFalse(second.isUnlocked)
            second.unlockWithKeystore()
            assertTrue(second.isUnlocked)
            assertEquals(accounts, second.accounts())
            assertEquals(codes, second.codes(at))
            val github = second.accounts().single { it.issuer == "GitHub" }
            assertEquals("alice", github.label)
            assertEquals(listOf("work", "dev"), github.tags)
            assertEquals(hotpId, second.accounts().first().id)
            // The HOTP counter was saved before the first code was handed out.
            assertEquals(6, second.nextHotpCode(hotpId).counter)
            assertEquals(3, second.vaultStatus().accounts)
        }
    }

    @Test
    fun `a lost storage key is replaced after a password unlock`(): Unit = runBlocking {
        val dir = tempDataDir()
        TesseraClient.open(offlineConfig(dir), InMemoryStorage()).use { first ->
            first.createVault(password = "correct horse battery staple")
            first.addUri(totpUri("dave"))
        }
        // A new phone, or a Keystore key invalidated: the app's storage is empty.
        val fresh = InMemoryStorage()
        TesseraClient.open(offlineConfig(dir), fresh).use { second ->
            assertThrows<TesseraException.KeystoreUnavailable> { runBlocking { second.unlockWithKeystore() } }
            second.unlockWithPassword("correct horse battery staple")
            assertEquals(listOf("dave"), second.accounts().map { it.label })
        }
        assertTrue(fresh.values.isNotEmpty(), "the password unlock made a new keystore slot")
        TesseraClient.open(offlineConfig(dir), fresh).use { third ->
            third.unlockWithKeystore()
            assertEquals(1, third.accounts().size)
            val kinds = third.vaultStatus().slots.map { it.first }.toSet()
            assertTrue(kinds.containsAll(listOf("keystore", "password", "recovery")), "$kinds")
        }
    }

    @Test
    fun `the recovery key opens the vault`(): Unit = runBlocking {
        val dir = tempDataDir()
        val recoveryKey = TesseraClient.open(offlineConfig(dir), InMemoryStorage()).use { first ->
            first.createVault().also { first.addUri(totpUri("erin")) }
        }
        TesseraClient.open(offlineConfig(dir), InMemoryStorage()).use { second ->
            second.unlockWithRecoveryKey(recoveryKey.lowercase())
            assertEquals(listOf("erin"), second.accounts().map { it.label })
            second.lock()
            assertFalse(second.isUnlocked)
        }
    }
}
