package org.tessera.app

import android.app.Activity
import android.app.AlertDialog
import android.text.InputType
import android.widget.EditText
import kotlin.coroutines.resume
import kotlinx.coroutines.suspendCancellableCoroutine

/** Asks for a password; `null` when the user cancels. */
suspend fun Activity.askPassword(title: Int, message: String? = null): String? =
    suspendCancellableCoroutine { continuation ->
        val input = EditText(this).apply {
            inputType = InputType.TYPE_CLASS_TEXT or InputType.TYPE_TEXT_VARIATION_PASSWORD
            setHint(R.string.password_hint)
        }
        val dialog = AlertDialog.Builder(this)
            .setTitle(title)
            .setMessage(message)
            .setView(input)
            .setPositiveButton(android.R.string.ok) { _, _ -> continuation.resume(input.text.toString()) }
            .setNegativeButton(android.R.string.cancel) { _, _ -> continuation.resume(null) }
            .setOnCancelListener { if (continuation.isActive) continuation.resume(null) }
            .show()
        continuation.invokeOnCancellation { dialog.dismiss() }
    }

/** Shows a message and waits until it is dismissed. */
suspend fun Activity.showMessage(title: Int, message: String): Unit =
    suspendCancellableCoroutine { continuation ->
        val dialog = AlertDialog.Builder(this)
            .setTitle(title)
            .setMessage(message)
            .setPositiveButton(android.R.string.ok, null)
            .setOnDismissListener { if (continuation.isActive) continuation.resume(Unit) }
            .show()
        continuation.invokeOnCancellation { dialog.dismiss() }
    }
