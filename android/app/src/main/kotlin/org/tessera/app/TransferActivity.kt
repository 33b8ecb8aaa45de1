package org.tessera.app

import android.app.Activity
import android.app.AlertDialog
import android.content.Intent
import android.graphics.Bitmap
import android.graphics.BitmapFactory
import android.graphics.Color
import android.net.Uri
import android.os.Bundle
import android.text.InputType
import android.view.View
import android.view.WindowManager
import android.widget.Button
import android.widget.EditText
import android.widget.ImageView
import android.widget.LinearLayout
import android.widget.ScrollView
import android.widget.TextView
import com.google.zxing.BarcodeFormat
import com.google.zxing.BinaryBitmap
import com.google.zxing.RGBLuminanceSource
import com.google.zxing.common.HybridBinarizer
import com.google.zxing.qrcode.QRCodeReader
import com.google.zxing.qrcode.QRCodeWriter
import java.io.ByteArrayOutputStream
import java.io.IOException
import kotlin.coroutines.resume
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.Job
import kotlinx.coroutines.MainScope
import kotlinx.coroutines.cancel
import kotlinx.coroutines.isActive
import kotlinx.coroutines.launch
import kotlinx.coroutines.suspendCancellableCoroutine
import kotlinx.coroutines.withContext
import org.tessera.ExportedFile
import org.tessera.ImportSession
import org.tessera.ReceivedTransfer
import org.tessera.TesseraException
import org.tessera.TransferFormat
import org.tessera.TransferReceiver

/**
 * Moving accounts in and out, with the safety rules of the core:
 * - import: pick a file (Storage Access Framework), see what would be added, skipped and refused,
 *   then confirm; exactly the previewed accounts are added, all or nothing;
 * - export and backup: the core makes the bytes and checks them; the app writes them to a document
 *   the user creates, reads the document back and has the core check it again (a mismatch deletes
 *   it);
 * - receive (new phone): shows the invite's QR code, waits for the old phone, shows what arrived,
 *   and applies it only once the user typed the code the old phone shows;
 * - send (old phone): reads the new phone's QR code from a picture (or a pasted link), sends, and
 *   shows the confirmation code.
 */
class TransferActivity : Activity() {
    private val scope = MainScope()
    private lateinit var status: TextView
    private lateinit var qr: ImageView
    private lateinit var inviteText: EditText

    /** What waits for a document to be created: the checked bytes and how to check them again. */
    private var pendingExport: Triple<ExportedFile, TransferFormat, String?>? = null
    private var pendingEnvelope: ByteArray? = null
    private var receiver: TransferReceiver? = null
    private var receiving: Job? = null

    private val app get() = application as TesseraApp
    private val client get() = app.client

    override fun onCreate(savedInstanceState: Bundle?) {
        super.onCreate(savedInstanceState)
        // Codes, invites and confirmation codes on screen: keep them out of screenshots.
        window.setFlags(WindowManager.LayoutParams.FLAG_SECURE, WindowManager.LayoutParams.FLAG_SECURE)
        title = getString(R.string.transfer_title)
        val column = LinearLayout(this).apply {
            orientation = LinearLayout.VERTICAL
            setPadding(32, 32, 32, 32)
        }
        fun button(text: Int, action: () -> Unit) = Button(this).apply {
            setText(text)
            setOnClickListener { action() }
            column.addView(this)
        }
        button(R.string.import_file) { open(REQUEST_IMPORT, "*/*") }
        button(R.string.export_file) { scope.launch { export() } }
        button(R.string.backup_file) { scope.launch { backup() } }
        button(R.string.receive_transfer) { scope.launch { receive() } }
        button(R.string.receive_open_file) { open(REQUEST_ENVELOPE, "*/*") }
        button(R.string.send_transfer) { open(REQUEST_INVITE_IMAGE, "image/*") }
        inviteText = EditText(this).apply {
            setHint(R.string.send_invite_hint)
            inputType = InputType.TYPE_CLASS_TEXT or InputType.TYPE_TEXT_VARIATION_URI
            column.addView(this)
        }
        button(R.string.send_go) { scope.launch { send(inviteText.text.toString()) } }
        status = TextView(this).apply { column.addView(this) }
        qr = ImageView(this).apply {
            visibility = View.GONE
            column.addView(this)
        }
        setContentView(ScrollView(this).apply { addView(column) })
    }

    override fun onDestroy() {
        receiver?.let { r -> app.appScope.launch { runCatching { client.cancelTransfer(r) }; r.close() } }
        scope.cancel()
        super.onDestroy()
    }

    private fun open(request: Int, type: String) {
        @Suppress("DEPRECATION")
        startActivityForResult(
            Intent(Intent.ACTION_OPEN_DOCUMENT).addCategory(Intent.CATEGORY_OPENABLE).setType(type),
            request,
        )
    }

    private fun create(request: Int, name: String, type: String) {
        @Suppress("DEPRECATION")
        startActivityForResult(
            Intent(Intent.ACTION_CREATE_DOCUMENT).addCategory(Intent.CATEGORY_OPENABLE)
                .setType(type).putExtra(Intent.EXTRA_TITLE, name),
            request,
        )
    }

    @Deprecated("Framework Activity result API; this app uses no AndroidX.")
    override fun onActivityResult(requestCode: Int, resultCode: Int, data: Intent?) {
        @Suppress("DEPRECATION")
        super.onActivityResult(requestCode, resultCode, data)
        val uri = data?.data
        if (resultCode != RESULT_OK || uri == null) {
            pendingExport = null
            pendingEnvelope = null
            return
        }
        scope.launch {
            try {
                when (requestCode) {
                    REQUEST_IMPORT -> import(read(uri))
                    REQUEST_EXPORT -> writeExport(uri)
                    REQUEST_ENVELOPE -> openEnvelope(read(uri))
                    REQUEST_SAVE_ENVELOPE -> pendingEnvelope?.let { write(uri, it) }.also { pendingEnvelope = null }
                    REQUEST_INVITE_IMAGE -> send(decodeQr(read(uri)))
                }
            } catch (e: IOException) {
                showMessage(R.string.transfer_title, e.message ?: e.toString())
            } catch (e: TesseraException) {
                showMessage(R.string.transfer_title, e.message ?: e.toString())
            }
        }
    }

    // ------------------------------------------------------------------ import

    private suspend fun import(bytes: ByteArray) {
        var password: String? = null
        val session: ImportSession = try {
            client.previewImport(bytes)
        } catch (e: TesseraException.PasswordRequired) {
            password = askPassword(R.string.import_password_title) ?: return
            client.previewImport(bytes, password)
        }
        session.use {
            val preview = it.preview()
            val lines = buildList {
                preview.newAccounts.forEach { a -> add("+ ${a.name}") }
                preview.duplicates.forEach { a -> add("= ${a.name}") }
                preview.rejected.forEach { r -> add("× #${r.index.toLong() + 1}: ${r.reason}") }
            }.joinToString("\n")
            if (preview.newAccounts.isEmpty()) {
                showMessage(R.string.import_preview_title, getString(R.string.import_nothing) + "\n\n" + lines)
                return
            }
            if (!confirm(getString(R.string.import_preview_title), lines, getString(R.string.import_apply, preview.newAccounts.size))) {
                it.discard()
                return
            }
            val added = client.applyImport(it)
            status.text = getString(R.string.import_done, added.size)
        }
    }

    // ------------------------------------------------------------------ export and backup

    private suspend fun export() {
        val formats = listOf(
            TransferFormat.TESSERA_BACKUP to "Tessera backup",
            TransferFormat.AEGIS to "Aegis",
            TransferFormat.OTPAUTH_LIST to "otpauth:// list",
            TransferFormat.GOOGLE_MIGRATION to "Google Authenticator",
        )
        val index = choose(getString(R.string.export_choose_format), formats.map { it.second }) ?: return
        val format = formats[index].first
        val password = when (format) {
            TransferFormat.TESSERA_BACKUP -> askPassword(R.string.backup_password_title) ?: return
            TransferFormat.AEGIS -> (askPassword(R.string.export_password_title) ?: return).ifEmpty { null }
            else -> null
        }
        val file = try {
            client.exportAccounts(format, password)
        } catch (e: TesseraException.WouldLoseInformation) {
            val list = e.warnings.joinToString("\n") { "${it.accountName}: ${it.what}" }
            if (!confirm(getString(R.string.export_warnings_title), list, getString(R.string.export_anyway))) return
            client.exportAccounts(format, password, force = true)
        }
        if (file.unencrypted) showMessage(R.string.transfer_title, getString(R.string.export_unencrypted))
        pendingExport = Triple(file, format, password)
        val name = if (format == TransferFormat.OTPAUTH_LIST || format == TransferFormat.GOOGLE_MIGRATION) "tessera-export.txt" else "tessera-export.json"
        create(REQUEST_EXPORT, name, "application/octet-stream")
    }

    private suspend fun backup() {
        val password = askPassword(R.string.backup_password_title) ?: return
        pendingExport = Triple(client.backup(password), TransferFormat.TESSERA_BACKUP, password)
        create(REQUEST_EXPORT, "tessera-backup.json", "application/json")
    }

    /** Writes the export, reads the document back, and has the core check it; deletes it on a mismatch. */
    private suspend fun writeExport(uri: Uri) {
        val (file, format, password) = pendingExport ?: return
        pendingExport = null
        write(uri, file.bytes)
        try {
            val count = client.verifyExport(format, read(uri), password)
            status.text = getString(R.string.export_done, count)
        } catch (e: TesseraException.InvalidFile) {
            withContext(Dispatchers.IO) { runCatching { android.provider.DocumentsContract.deleteDocument(contentResolver, uri) } }
            showMessage(R.string.transfer_title, getString(R.string.export_failed, e.reason))
        }
    }

    // ------------------------------------------------------------------ receive (new phone)

    private suspend fun receive() {
        val server = askText(getString(R.string.receive_server_hint)) ?: return
        val started = client.startReceive(server.trim().ifEmpty { null })
        receiver?.close()
        receiver = started
        val invite = started.invite()
        qr.setImageBitmap(qrBitmap(invite.uri))
        qr.visibility = View.VISIBLE
        status.text = getString(R.string.receive_scan_this)
        if (invite.server == null) return // file mode: the user opens the file when it arrives
        receiving?.cancel()
        receiving = scope.launch {
            status.append("\n" + getString(R.string.receive_waiting))
            try {
                while (isActive) {
                    val received = client.waitForTransfer(started, 15_000) ?: continue
                    confirmAndApply(started, received)
                    break
                }
            } catch (e: TesseraException) {
                status.text = getString(R.string.transfer_failed, e.message)
            }
        }
    }

    private suspend fun openEnvelope(bytes: ByteArray) {
        val started = receiver ?: client.startReceive(null).also { receiver = it }
        confirmAndApply(started, client.openTransferFile(started, bytes))
    }

    private suspend fun confirmAndApply(receiver: TransferReceiver, received: ReceivedTransfer) {
        qr.visibility = View.GONE
        val moving = received.pushHandoffs.count { it.willMove }
        val summary = getString(R.string.receive_summary, received.newAccounts.size, received.duplicates.size, moving) +
            "\n\n" + received.newAccounts.joinToString("\n") { "+ ${it.name}" }
        status.text = summary
        // The user types the code the OLD phone shows; this phone's own code is not shown, so a
        // look-alike cannot be confirmed by habit.
        val code = askText(getString(R.string.receive_code_title), numeric = true) ?: run {
            client.cancelTransfer(receiver)
            return
        }
        try {
            val applied = client.applyTransfer(receiver, code, android.os.Build.MODEL.take(64), app.pushDelivery())
            status.text = getString(R.string.receive_done, applied.addedIds.size, applied.pushMoved.size) +
                applied.pushFailed.joinToString("") { "\n× ${it.name}: ${it.reason}" }
        } catch (e: TesseraException.ConfirmationMismatch) {
            status.text = e.message
        } finally {
            receiver.close()
            if (this.receiver === receiver) this.receiver = null
        }
    }

    // ------------------------------------------------------------------ send (old phone)

    private suspend fun send(invite: String) {
        if (invite.isBlank()) return
        val sent = client.sendTransfer(invite.trim(), includePushHandoff = true)
        status.text = getString(R.string.send_code, sent.confirmationCode, sent.accounts.toInt(), sent.handoffs.toInt())
        sent.envelope?.let {
            pendingEnvelope = it
            create(REQUEST_SAVE_ENVELOPE, "tessera-transfer.json", "application/json")
        }
    }

    // ------------------------------------------------------------------ helpers

    private suspend fun read(uri: Uri): ByteArray = withContext(Dispatchers.IO) {
        val stream = contentResolver.openInputStream(uri) ?: throw IOException("cannot open the file")
        stream.use { input ->
            val out = ByteArrayOutputStream()
            val buffer = ByteArray(64 * 1024)
            while (true) {
                val n = input.read(buffer)
                if (n < 0) break
                out.write(buffer, 0, n)
                if (out.size() > MAX_FILE_BYTES) throw IOException("the file is larger than 16 MiB")
            }
            out.toByteArray()
        }
    }

    private suspend fun write(uri: Uri, bytes: ByteArray) = withContext(Dispatchers.IO) {
        val stream = contentResolver.openOutputStream(uri, "wt") ?: throw IOException("cannot write the file")
        stream.use { it.write(bytes) }
    }

    /** The first QR code in a picture, decoded by ZXing. */
    private suspend fun decodeQr(image: ByteArray): String = withContext(Dispatchers.Default) {
        val bitmap = BitmapFactory.decodeByteArray(image, 0, image.size) ?: throw IOException("not an image")
        val pixels = IntArray(bitmap.width * bitmap.height)
        bitmap.getPixels(pixels, 0, bitmap.width, 0, 0, bitmap.width, bitmap.height)
        val source = RGBLuminanceSource(bitmap.width, bitmap.height, pixels)
        try {
            QRCodeReader().decode(BinaryBitmap(HybridBinarizer(source))).text
        } catch (e: com.google.zxing.ReaderException) {
            throw IOException("no QR code in the picture")
        }
    }

    private fun qrBitmap(text: String): Bitmap {
        val size = 720
        val matrix = QRCodeWriter().encode(text, BarcodeFormat.QR_CODE, size, size)
        val pixels = IntArray(size * size) { i -> if (matrix.get(i % size, i / size)) Color.BLACK else Color.WHITE }
        return Bitmap.createBitmap(pixels, size, size, Bitmap.Config.ARGB_8888)
    }

    private suspend fun confirm(title: String, message: String, yes: String): Boolean =
        suspendCancellableCoroutine { continuation ->
            val dialog = AlertDialog.Builder(this)
                .setTitle(title)
                .setMessage(message)
                .setPositiveButton(yes) { _, _ -> continuation.resume(true) }
                .setNegativeButton(R.string.cancel) { _, _ -> continuation.resume(false) }
                .setOnCancelListener { if (continuation.isActive) continuation.resume(false) }
                .show()
            continuation.invokeOnCancellation { dialog.dismiss() }
        }

    private suspend fun choose(title: String, items: List<String>): Int? =
        suspendCancellableCoroutine { continuation ->
            val dialog = AlertDialog.Builder(this)
                .setTitle(title)
                .setItems(items.toTypedArray()) { _, which -> continuation.resume(which) }
                .setOnCancelListener { if (continuation.isActive) continuation.resume(null) }
                .show()
            continuation.invokeOnCancellation { dialog.dismiss() }
        }

    private suspend fun askText(title: String, numeric: Boolean = false): String? =
        suspendCancellableCoroutine { continuation ->
            val input = EditText(this).apply {
                inputType = if (numeric) InputType.TYPE_CLASS_NUMBER else InputType.TYPE_CLASS_TEXT or InputType.TYPE_TEXT_VARIATION_URI
            }
            val dialog = AlertDialog.Builder(this)
                .setTitle(title)
                .setView(input)
                .setPositiveButton(android.R.string.ok) { _, _ -> continuation.resume(input.text.toString()) }
                .setNegativeButton(R.string.cancel) { _, _ -> continuation.resume(null) }
                .setOnCancelListener { if (continuation.isActive) continuation.resume(null) }
                .show()
            continuation.invokeOnCancellation { dialog.dismiss() }
        }

    private companion object {
        const val REQUEST_IMPORT = 10
        const val REQUEST_EXPORT = 11
        const val REQUEST_ENVELOPE = 12
        const val REQUEST_SAVE_ENVELOPE = 13
        const val REQUEST_INVITE_IMAGE = 14
        const val MAX_FILE_BYTES = 16 * 1024 * 1024
    }
}
