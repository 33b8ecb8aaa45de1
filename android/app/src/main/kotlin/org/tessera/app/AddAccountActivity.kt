package org.tessera.app

import android.app.Activity
import android.content.Intent
import android.net.Uri
import android.os.Bundle
import android.view.WindowManager
import android.widget.Button
import android.widget.EditText
import android.widget.TextView
import android.widget.Toast
import java.io.IOException
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.MainScope
import kotlinx.coroutines.cancel
import kotlinx.coroutines.launch
import kotlinx.coroutines.withContext
import org.tessera.AddResult
import org.tessera.TesseraException
import org.tessera.android.QrImages

/**
 * Adds accounts: from an `otpauth://` URI typed or pasted (or opened from a link), or from a
 * picture of a QR code picked from the gallery or files (decoded by Android, its code read by the
 * core, see [QrImages]). A
 * `tessera-push://pair?…` URI pairs this phone with the site's push server instead (woken through
 * FCM when the app has a token, see [TesseraApp.pushDelivery]).
 *
 * Live camera scanning needs a camera library (CameraX lives on Google's Maven repository);
 * picking a screenshot or photo covers the same QR codes with framework APIs only.
 */
class AddAccountActivity : Activity() {
    private val scope = MainScope()
    private lateinit var uriInput: EditText
    private lateinit var status: TextView
    private val client get() = (application as TesseraApp).client

    override fun onCreate(savedInstanceState: Bundle?) {
        super.onCreate(savedInstanceState)
        // The URI carries the secret.
        window.setFlags(WindowManager.LayoutParams.FLAG_SECURE, WindowManager.LayoutParams.FLAG_SECURE)
        setContentView(R.layout.activity_add_account)
        uriInput = view(R.id.uri_input)
        status = view(R.id.status_text)
        intent?.data?.takeIf { it.scheme == "otpauth" || it.scheme == "tessera-push" }
            ?.let { uriInput.setText(it.toString()) }
        view<Button>(R.id.add_uri_button).setOnClickListener {
            val text = uriInput.text.toString().trim()
            if (text.lowercase().startsWith("tessera-push:")) {
                scope.launch { pair(text) }
            } else {
                scope.launch { add { listOf(client.addUri(text)) } }
            }
        }
        view<Button>(R.id.scan_image_button).setOnClickListener {
            val pick = Intent(Intent.ACTION_GET_CONTENT)
                .setType("image/*")
                .addCategory(Intent.CATEGORY_OPENABLE)
            @Suppress("DEPRECATION")
            startActivityForResult(pick, REQUEST_IMAGE)
        }
    }

    override fun onDestroy() {
        scope.cancel()
        super.onDestroy()
    }

    @Deprecated("Framework Activity result API; this app uses no AndroidX.")
    override fun onActivityResult(requestCode: Int, resultCode: Int, data: Intent?) {
        @Suppress("DEPRECATION")
        super.onActivityResult(requestCode, resultCode, data)
        val image = data?.data
        if (requestCode != REQUEST_IMAGE || resultCode != RESULT_OK || image == null) return
        scope.launch { add { QrImages.addFromQrImage(client, readImage(image)) } }
    }

    private suspend fun readImage(uri: Uri): ByteArray = withContext(Dispatchers.IO) {
        val stream = contentResolver.openInputStream(uri) ?: throw IOException("cannot open the image")
        stream.use { input ->
            // InputStream.readNBytes is API 33+; read in chunks, bounded.
            val out = java.io.ByteArrayOutputStream()
            val buffer = ByteArray(64 * 1024)
            while (true) {
                val n = input.read(buffer)
                if (n < 0) break
                out.write(buffer, 0, n)
                if (out.size() > MAX_IMAGE_BYTES) throw IOException("the image is larger than 20 MB")
            }
            out.toByteArray()
        }
    }

    private suspend fun add(adding: suspend () -> List<AddResult>) {
        status.setText(R.string.adding)
        val added = try {
            adding()
        } catch (e: TesseraException) {
            status.text = describe(e)
            return
        } catch (e: IOException) {
            status.text = e.message
            return
        }
        val warnings = added.flatMap { result -> result.warnings.map { "${result.account.displayName}: $it" } }
        if (warnings.isNotEmpty()) showMessage(R.string.added_with_warnings, warnings.joinToString("\n"))
        val names = added.joinToString(", ") { it.account.displayName }
        Toast.makeText(this, getString(R.string.added, names), Toast.LENGTH_SHORT).show()
        finish()
    }

    private suspend fun pair(uri: String) {
        status.setText(R.string.pairing)
        val paired = try {
            client.pairPush(uri, android.os.Build.MODEL.take(64), (application as TesseraApp).pushDelivery())
        } catch (e: TesseraException) {
            status.text = describe(e)
            return
        }
        val name = if (paired.issuer.isEmpty()) paired.label else "${paired.issuer} (${paired.label})"
        Toast.makeText(this, getString(R.string.paired, name), Toast.LENGTH_SHORT).show()
        finish()
    }

    private fun describe(e: TesseraException): String = when (e) {
        is TesseraException.InvalidUri -> getString(R.string.invalid_uri, e.field, e.reason)
        is TesseraException.InvalidImage -> getString(R.string.invalid_image, e.reason)
        is TesseraException.DuplicateAccount -> getString(R.string.duplicate_account, e.name)
        is TesseraException.Locked -> getString(R.string.unlock_first)
        else -> e.message ?: e.javaClass.simpleName
    }

    private companion object {
        const val REQUEST_IMAGE = 2
        const val MAX_IMAGE_BYTES = 20 * 1024 * 1024
    }
}
