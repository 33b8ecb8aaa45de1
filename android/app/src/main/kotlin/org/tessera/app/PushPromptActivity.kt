package org.tessera.app

import android.app.Activity
import android.app.AlertDialog
import android.content.Context
import android.content.Intent
import android.os.Bundle
import android.text.Editable
import android.text.TextWatcher
import android.view.WindowManager
import android.widget.Button
import android.widget.EditText
import android.widget.TextView
import android.widget.Toast
import org.tessera.android.PushDecision
import org.tessera.android.PushPayloadHandler
import org.tessera.android.PushPromptAnswer

/**
 * A sign-in request to approve: who is signing in where, and a field for the number the login
 * page shows (number matching: approving needs that number, never a single tap), with Approve,
 * Deny and "It wasn't me".
 *
 * PUSH PROTOCOL NOT WIRED YET: the push protocol lands with the push issue. This screen collects
 * the answer and hands it to the app's [PushPayloadHandler]; it checks nothing itself. Without a
 * handler it says that push approval is not available and closes.
 */
class PushPromptActivity : Activity() {
    private lateinit var numberInput: EditText
    private lateinit var approve: Button
    private var promptId: String = ""
    private var expiresAtMs: Long = Long.MAX_VALUE

    override fun onCreate(savedInstanceState: Bundle?) {
        super.onCreate(savedInstanceState)
        window.setFlags(WindowManager.LayoutParams.FLAG_SECURE, WindowManager.LayoutParams.FLAG_SECURE)
        setContentView(R.layout.activity_push_prompt)
        setFinishOnTouchOutside(false)
        promptId = intent.getStringExtra(EXTRA_PROMPT_ID).orEmpty()
        expiresAtMs = intent.getLongExtra(EXTRA_EXPIRES_AT_MS, Long.MAX_VALUE)
        view<TextView>(R.id.prompt_site).text = intent.getStringExtra(EXTRA_SITE).orEmpty()
        view<TextView>(R.id.prompt_details).text = intent.getStringExtra(EXTRA_DETAILS).orEmpty()
        numberInput = view(R.id.number_input)
        approve = view(R.id.approve_button)
        approve.isEnabled = false
        numberInput.addTextChangedListener(object : TextWatcher {
            override fun beforeTextChanged(s: CharSequence?, start: Int, count: Int, after: Int) = Unit
            override fun onTextChanged(s: CharSequence?, start: Int, before: Int, count: Int) = Unit
            override fun afterTextChanged(s: Editable?) {
                approve.isEnabled = isNumber(s?.toString().orEmpty())
            }
        })
        approve.setOnClickListener { answer(PushDecision.APPROVE, numberInput.text.toString()) }
        view<Button>(R.id.deny_button).setOnClickListener { answer(PushDecision.DENY, null) }
        view<Button>(R.id.report_button).setOnClickListener {
            AlertDialog.Builder(this)
                .setTitle(R.string.report_title)
                .setMessage(R.string.report_message)
                .setPositiveButton(R.string.report_confirm) { _, _ -> answer(PushDecision.REPORT_FRAUD, null) }
                .setNegativeButton(android.R.string.cancel, null)
                .show()
        }
    }

    private fun answer(decision: PushDecision, number: String?) {
        if (System.currentTimeMillis() > expiresAtMs) {
            Toast.makeText(this, R.string.prompt_expired, Toast.LENGTH_LONG).show()
            finish()
            return
        }
        val handler = PushPayloadHandler.from(this)
        if (handler == null) {
            Toast.makeText(this, R.string.push_unavailable, Toast.LENGTH_LONG).show()
        } else {
            handler.onPromptAnswered(PushPromptAnswer(promptId, decision, number))
        }
        finish()
    }

    /** Intent extras and a builder. */
    companion object {
        /** The prompt's id (String). */
        const val EXTRA_PROMPT_ID = "org.tessera.app.PROMPT_ID"

        /** The site asking, as the user knows it (String). */
        const val EXTRA_SITE = "org.tessera.app.SITE"

        /** Where and from what the sign-in comes: place, IP, app (String). */
        const val EXTRA_DETAILS = "org.tessera.app.DETAILS"

        /** When the prompt expires, in ms since the epoch (Long). */
        const val EXTRA_EXPIRES_AT_MS = "org.tessera.app.EXPIRES_AT_MS"

        /** An intent that shows one prompt. */
        fun intent(context: Context, promptId: String, site: String, details: String, expiresAtMs: Long): Intent =
            Intent(context, PushPromptActivity::class.java)
                .putExtra(EXTRA_PROMPT_ID, promptId)
                .putExtra(EXTRA_SITE, site)
                .putExtra(EXTRA_DETAILS, details)
                .putExtra(EXTRA_EXPIRES_AT_MS, expiresAtMs)

        /** A number from the login page: 1 to 6 digits. */
        fun isNumber(text: String): Boolean = text.length in 1..6 && text.all { it in '0'..'9' }
    }
}
