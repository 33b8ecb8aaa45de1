package org.tessera.app

import android.app.Activity
import android.app.AlertDialog
import android.content.Context
import android.content.Intent
import android.os.Bundle
import android.text.Editable
import android.text.TextWatcher
import android.view.View
import android.view.WindowManager
import android.widget.Button
import android.widget.EditText
import android.widget.RadioButton
import android.widget.RadioGroup
import android.widget.TextView
import kotlinx.coroutines.Job
import kotlinx.coroutines.MainScope
import kotlinx.coroutines.cancel
import kotlinx.coroutines.delay
import kotlinx.coroutines.launch
import org.tessera.PromptMode
import org.tessera.PushDecision
import org.tessera.PushPrompt
import org.tessera.TesseraException
import org.tessera.ffi.AnswerOutcome

/**
 * A sign-in request to answer: which site and user, where the sign-in comes from, the time left,
 * and the number the login page shows, typed (or picked among three), before Approve; Deny and
 * "It wasn't me" need no number. The prompt is fetched and verified by the core when the screen
 * opens, and the answer is signed by the core; the outcome is shown here (a wrong number keeps
 * the screen open with the tries left).
 *
 * Opened from [PromptNotifier]'s notification with the prompt's id (and its account when known).
 */
class PushPromptActivity : Activity() {
    private val scope = MainScope()
    private var ticking: Job? = null
    private var prompt: PushPrompt? = null
    private var sending = false
    private lateinit var numberInput: EditText
    private lateinit var choices: RadioGroup
    private lateinit var approve: Button
    private lateinit var deny: Button
    private lateinit var report: Button
    private lateinit var timeLeft: TextView
    private lateinit var outcome: TextView

    private val app get() = application as TesseraApp
    private val client get() = app.client

    override fun onCreate(savedInstanceState: Bundle?) {
        super.onCreate(savedInstanceState)
        window.setFlags(WindowManager.LayoutParams.FLAG_SECURE, WindowManager.LayoutParams.FLAG_SECURE)
        setContentView(R.layout.activity_push_prompt)
        setFinishOnTouchOutside(false)
        numberInput = view(R.id.number_input)
        choices = view(R.id.choices_group)
        approve = view(R.id.approve_button)
        deny = view(R.id.deny_button)
        report = view(R.id.report_button)
        timeLeft = view(R.id.prompt_time_left)
        outcome = view(R.id.prompt_outcome)
        setAnswering(false)
        numberInput.addTextChangedListener(object : TextWatcher {
            override fun beforeTextChanged(s: CharSequence?, start: Int, count: Int, after: Int) = Unit
            override fun onTextChanged(s: CharSequence?, start: Int, before: Int, count: Int) = Unit
            override fun afterTextChanged(s: Editable?) = updateApprove()
        })
        choices.setOnCheckedChangeListener { _, _ -> updateApprove() }
        approve.setOnClickListener { enteredNumber()?.let { answer(PushDecision.APPROVE, it) } }
        deny.setOnClickListener { answer(PushDecision.DENY, null) }
        report.setOnClickListener {
            AlertDialog.Builder(this)
                .setTitle(R.string.report_title)
                .setMessage(R.string.report_message)
                .setPositiveButton(R.string.report_confirm) { _, _ -> answer(PushDecision.FRAUD, null) }
                .setNegativeButton(android.R.string.cancel, null)
                .show()
        }
        view<Button>(R.id.close_button).setOnClickListener { finish() }
        val promptId = intent.getStringExtra(EXTRA_PROMPT_ID).orEmpty()
        val accountId = intent.getStringExtra(EXTRA_ACCOUNT_ID)
        scope.launch { load(promptId, accountId) }
    }

    override fun onDestroy() {
        scope.cancel()
        super.onDestroy()
    }

    private suspend fun load(promptId: String, accountId: String?) {
        outcome.setText(R.string.prompt_loading)
        try {
            if (!client.isUnlocked) {
                client.unlockWithKeystore()
                app.unlocked()
            }
            val prompt = if (accountId != null) client.fetchPrompt(accountId, promptId) else client.findPrompt(promptId)
            show(prompt)
        } catch (e: TesseraException) {
            finished(describe(e))
        }
    }

    private fun show(prompt: PushPrompt) {
        this.prompt = prompt
        view<TextView>(R.id.prompt_site).text = prompt.site
        view<TextView>(R.id.prompt_user).text = getString(R.string.prompt_user, prompt.user)
        view<TextView>(R.id.prompt_details).text = details(prompt)
        when (prompt.mode) {
            PromptMode.ENTRY -> {
                numberInput.visibility = View.VISIBLE
                choices.visibility = View.GONE
                view<TextView>(R.id.number_label).setText(R.string.prompt_enter_number)
            }
            PromptMode.CHOICE -> {
                numberInput.visibility = View.GONE
                choices.visibility = View.VISIBLE
                view<TextView>(R.id.number_label).setText(R.string.prompt_pick_number)
                val buttons = listOf(R.id.choice_1, R.id.choice_2, R.id.choice_3).map { view<RadioButton>(it) }
                buttons.forEachIndexed { i, button ->
                    button.text = prompt.choices.getOrNull(i).orEmpty()
                    button.visibility = if (i < prompt.choices.size) View.VISIBLE else View.GONE
                }
            }
        }
        outcome.text = if (prompt.timeChecked) "" else getString(R.string.prompt_time_unknown)
        setAnswering(true)
        ticking = scope.launch { tick(prompt) }
    }

    /** Where the sign-in comes from, one line per detail the site gave. */
    private fun details(prompt: PushPrompt): String = listOfNotNull(
        prompt.location?.let { getString(R.string.prompt_location, it) },
        prompt.ip?.let { getString(R.string.prompt_ip, it) },
        prompt.userAgent?.let { getString(R.string.prompt_browser, it) },
        prompt.app?.let { getString(R.string.prompt_app, it) },
    ).joinToString("\n")

    /** The countdown, by the trusted clock; at zero the answer buttons go. */
    private suspend fun tick(prompt: PushPrompt) {
        while (true) {
            val leftMs = prompt.expiresAt.toLong() * 1000 - client.trustedNowMs()
            if (leftMs <= 0) {
                finished(getString(R.string.prompt_expired))
                return
            }
            val seconds = (leftMs + 999) / 1000
            timeLeft.text = getString(R.string.prompt_time_left, seconds / 60, seconds % 60)
            delay(leftMs - (seconds - 1) * 1000)
        }
    }

    private fun enteredNumber(): String? {
        val prompt = prompt ?: return null
        return when (prompt.mode) {
            PromptMode.ENTRY -> numberInput.text.toString().trim().takeIf(::isNumber)
            PromptMode.CHOICE -> when (choices.checkedRadioButtonId) {
                R.id.choice_1 -> prompt.choices.getOrNull(0)
                R.id.choice_2 -> prompt.choices.getOrNull(1)
                R.id.choice_3 -> prompt.choices.getOrNull(2)
                else -> null
            }
        }
    }

    private fun updateApprove() {
        approve.isEnabled = !sending && prompt != null && enteredNumber() != null
    }

    private fun setAnswering(enabled: Boolean) {
        deny.isEnabled = enabled && !sending
        report.isEnabled = enabled && !sending
        numberInput.isEnabled = enabled && !sending
        choices.isEnabled = enabled && !sending
        if (enabled) updateApprove() else approve.isEnabled = false
    }

    private fun answer(decision: PushDecision, number: String?) {
        val prompt = prompt ?: return
        sending = true
        setAnswering(false)
        outcome.setText(R.string.prompt_sending)
        scope.launch {
            try {
                when (val result = client.answerPrompt(prompt.accountId, prompt.id, decision, number)) {
                    is AnswerOutcome.WrongNumber -> {
                        sending = false
                        numberInput.text.clear()
                        choices.clearCheck()
                        outcome.text = resources.getQuantityString(
                            R.plurals.prompt_wrong_number,
                            result.attemptsLeft.toInt(),
                            result.attemptsLeft.toInt(),
                        )
                        setAnswering(true)
                    }
                    else -> finished(getString(outcomeText(result)))
                }
            } catch (e: TesseraException) {
                sending = false
                outcome.text = describe(e)
                setAnswering(true)
            }
        }
    }

    /** The prompt is settled (or gone): shows why, keeps only Close. */
    private fun finished(message: String) {
        ticking?.cancel()
        prompt?.let { PromptNotifier.cancel(this, it.id) }
        prompt = null
        setAnswering(false)
        timeLeft.text = ""
        outcome.text = message
    }

    private fun outcomeText(outcome: AnswerOutcome): Int = when (outcome) {
        AnswerOutcome.Approved -> R.string.outcome_approved
        AnswerOutcome.Denied -> R.string.outcome_denied
        AnswerOutcome.FraudReported -> R.string.outcome_fraud_reported
        AnswerOutcome.Failed -> R.string.outcome_failed
        AnswerOutcome.Expired -> R.string.prompt_expired
        AnswerOutcome.Finished -> R.string.outcome_finished
        is AnswerOutcome.WrongNumber -> R.string.outcome_failed
    }

    private fun describe(e: TesseraException): String = when (e) {
        is TesseraException.Locked, is TesseraException.KeystoreUnavailable, is TesseraException.Storage ->
            getString(R.string.unlock_first)
        is TesseraException.PromptUnavailable -> getString(R.string.prompt_gone)
        is TesseraException.UntrustedPrompt -> getString(R.string.prompt_untrusted)
        is TesseraException.PushNetwork -> getString(R.string.prompt_offline, e.reason)
        is TesseraException.Network -> getString(R.string.prompt_offline, e.reason)
        else -> e.message ?: e.javaClass.simpleName
    }

    /** Intent extras and a builder. */
    companion object {
        /** The prompt's id (String). */
        const val EXTRA_PROMPT_ID = "org.tessera.app.PROMPT_ID"

        /** The paired account it is for (String), when known. */
        const val EXTRA_ACCOUNT_ID = "org.tessera.app.ACCOUNT_ID"

        /** An intent that shows one prompt; without [accountId] every paired account is asked. */
        fun intent(context: Context, promptId: String, accountId: String?): Intent =
            Intent(context, PushPromptActivity::class.java)
                .putExtra(EXTRA_PROMPT_ID, promptId)
                .putExtra(EXTRA_ACCOUNT_ID, accountId)
                .addFlags(Intent.FLAG_ACTIVITY_NEW_TASK or Intent.FLAG_ACTIVITY_CLEAR_TOP)

        /** A number from the login page: 4 to 8 digits (docs/push-protocol.md §3.2). */
        fun isNumber(text: String): Boolean = text.length in 4..8 && text.all { it in '0'..'9' }
    }
}
