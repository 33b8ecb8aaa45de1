package org.tessera

import java.io.BufferedReader
import java.io.File
import java.io.InputStreamReader
import java.nio.file.Files
import java.util.concurrent.TimeUnit
import kotlinx.coroutines.runBlocking
import org.junit.jupiter.api.AfterAll
import org.junit.jupiter.api.Assertions.assertArrayEquals
import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertFalse
import org.junit.jupiter.api.Assertions.assertNull
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.Assumptions.assumeTrue
import org.junit.jupiter.api.BeforeAll
import org.junit.jupiter.api.Test
import org.junit.jupiter.api.TestInstance
import org.junit.jupiter.api.assertThrows
import org.tessera.ffi.PushDelivery

/**
 * Import, export and device-to-device transfer through the Kotlin wrapper: the preview → apply
 * flow with its typed errors, a backup written to a file, read back and verified, and a transfer
 * between two clients through the mailbox of the real `tessera-server` (when
 * `-Dtessera.server.bin` names it, as scripts/kotlin-tests.sh does).
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class TransferTest {
    private var server: Process? = null
    private lateinit var url: String
    private lateinit var serverDir: File

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
                it.environment()["TESSERA_SERVER_API_KEYS"] = "transfer-test-api-key-0123456789"
                it.environment().remove("TESSERA_SERVER_CONFIG")
            }
            .start()
        server = process
        val stdout = BufferedReader(InputStreamReader(process.inputStream))
        val line = stdout.readLine().orEmpty()
        check(line.startsWith(LISTENING)) { "the server did not start: $line" }
        url = line.removePrefix(LISTENING).trim()
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

    private suspend fun unlockedClient() =
        TesseraClient.open(offlineConfig(tempDataDir()), null).also { it.createVault("pw") }

    private suspend fun seeded() = unlockedClient().also { client ->
        client.addUri(totpUri("alice"))
        client.addUri(totpUri("bob", period = 60, digits = 8))
        client.addUri("otpauth://hotp/Forge:carol?secret=MFRGGZDFMZTWQ2LKNNWG23TPOBYXE43U&issuer=Forge&counter=7")
    }

    /** Accounts and their codes at a fixed instant, comparable between two clients. */
    private suspend fun fingerprint(client: TesseraClient): List<String> {
        val codes = client.codes(1_700_000_000_000).associateBy { it.accountId }
        return client.accounts()
            .map { "${it.issuer}|${it.label}|${it.kind}|${it.digits}|${it.periodSeconds}|${it.counter}|${codes[it.id]?.code}" }
            .sorted()
    }

    @Test
    fun `an import is previewed, then applied exactly as shown`(): Unit = runBlocking {
        seeded().use { a ->
            val list = a.exportAccounts(TransferFormat.OTPAUTH_LIST)
            assertTrue(list.unencrypted)
            assertEquals(3, list.accounts.toInt())
            unlockedClient().use { b ->
                b.addUri(totpUri("alice"))
                val session = b.previewImport(list.bytes + "otpauth://totp/Broken?secret=!!!\n".toByteArray())
                session.use {
                    val preview = it.preview()
                    assertEquals(TransferFormat.OTPAUTH_LIST, preview.format)
                    assertEquals(listOf("Forge (carol)", "Test (bob)"), preview.newAccounts.map { p -> p.name }.sorted())
                    assertEquals(listOf("Test (alice)"), preview.duplicates.map { p -> p.name })
                    assertEquals(1, preview.rejected.size)
                    assertEquals(2, b.applyImport(it).size)
                    assertThrows<TesseraException.InvalidInput> { b.applyImport(it) }
                }
                assertEquals(fingerprint(a), fingerprint(b))
            }
            // Typed errors.
            unlockedClient().use { c ->
                assertThrows<TesseraException.InvalidFile> { c.previewImport("hello".toByteArray()) }
                val backup = a.backup("backup password")
                assertThrows<TesseraException.PasswordRequired> { c.previewImport(backup.bytes) }
                assertThrows<TesseraException.WrongPassword> { c.previewImport(backup.bytes, "nope") }
                assertTrue(c.accounts().isEmpty())
            }
        }
    }

    @Test
    fun `a backup and an Aegis export round-trip through a written file`(): Unit = runBlocking {
        seeded().use { a ->
            for ((format, password) in listOf(
                TransferFormat.TESSERA_BACKUP to "backup password",
                TransferFormat.AEGIS to "aegis password",
                TransferFormat.AEGIS to null,
            )) {
                val exported = if (format == TransferFormat.TESSERA_BACKUP) a.backup(password!!) else a.exportAccounts(format, password)
                assertEquals(password == null, exported.unencrypted)
                // Written, read back, checked again, as the app does with a SAF document.
                val file = Files.createTempFile("tessera-export", ".json").toFile()
                file.writeBytes(exported.bytes)
                val written = file.readBytes()
                assertArrayEquals(exported.bytes, written)
                assertEquals(3, a.verifyExport(format, written, password))
                unlockedClient().use { b ->
                    b.previewImport(written, password).use { session ->
                        assertEquals(format, session.preview().format)
                        b.applyImport(session)
                    }
                    assertEquals(fingerprint(a), fingerprint(b))
                }
                file.delete()
            }
            // A changed file does not verify.
            val backup = a.backup("backup password")
            val altered = backup.bytes.copyOf().also { it[it.size / 2] = (it[it.size / 2].toInt() xor 1).toByte() }
            assertThrows<TesseraException.InvalidFile> { a.verifyExport(TransferFormat.TESSERA_BACKUP, altered, "backup password") }
            // Google exports cannot carry a 60-second period: refused with the list, unless forced.
            val refused = assertThrows<TesseraException.WouldLoseInformation> { a.exportAccounts(TransferFormat.GOOGLE_MIGRATION) }
            assertTrue(refused.warnings.isNotEmpty())
            val forced = a.exportAccounts(TransferFormat.GOOGLE_MIGRATION, force = true)
            assertEquals(refused.warnings, forced.warnings)
        }
    }

    @Test
    fun `a device-to-device transfer through the real server`(): Unit = runBlocking {
        assumeTrue(server != null, "set -Dtessera.server.bin to the tessera-server binary (scripts/kotlin-tests.sh does)")
        seeded().use { a ->
            unlockedClient().use { b ->
                // A wrong code applies nothing.
                b.startReceive(url).use { receiver ->
                    val invite = receiver.invite()
                    assertTrue(invite.uri.startsWith("tessera-transfer://receive?"))
                    assertTrue(invite.acceptsPushHandoff)
                    assertNull(b.waitForTransfer(receiver, 100))
                    val sent = a.sendTransfer(invite.uri)
                    assertNull(sent.envelope)
                    val received = b.waitForTransfer(receiver, 30_000)!!
                    assertEquals(sent.confirmationCode, received.confirmationCode)
                    assertEquals(3, received.newAccounts.size)
                    val wrong = sent.confirmationCode.map { if (it == '9') '0' else '9' }.joinToString("")
                    assertThrows<TesseraException.ConfirmationMismatch> { b.applyTransfer(receiver, wrong, "new phone") }
                    assertTrue(b.accounts().isEmpty())
                    assertThrows<TesseraException.Transfer> { b.applyTransfer(receiver, sent.confirmationCode, "new phone") }
                }
                // The right code applies every account.
                b.startReceive(url).use { receiver ->
                    val sent = a.sendTransfer(receiver.invite().uri)
                    val received = b.waitForTransfer(receiver, 30_000)!!
                    assertEquals(sent.confirmationCode, received.confirmationCode)
                    val applied = b.applyTransfer(receiver, sent.confirmationCode, "new phone", PushDelivery.Stream)
                    assertEquals(3, applied.addedIds.size)
                    assertTrue(applied.pushFailed.isEmpty())
                }
                assertEquals(fingerprint(a), fingerprint(b))
                // Cancelled: the sender is told to start again.
                b.startReceive(url).use { receiver ->
                    b.cancelTransfer(receiver)
                    assertThrows<TesseraException.Transfer> { a.sendTransfer(receiver.invite().uri) }
                    assertFalse(b.accounts().isEmpty())
                }
            }
        }
    }

    private companion object {
        const val LISTENING = "tessera-server listening on "
    }
}
