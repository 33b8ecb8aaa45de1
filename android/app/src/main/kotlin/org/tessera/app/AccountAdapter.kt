package org.tessera.app

import android.content.Context
import android.view.LayoutInflater
import android.view.View
import android.view.ViewGroup
import android.widget.BaseAdapter
import android.widget.ProgressBar
import android.widget.TextView
import org.tessera.Account
import org.tessera.CodeState
import org.tessera.OtpKind

/**
 * The account list: name, current code and countdown of each account. Time-based codes come
 * from the ticking flow ([setStates]); an HOTP account shows a code only after a tap ([setHotpCode]).
 */
class AccountAdapter(private val context: Context) : BaseAdapter() {
    private var accounts: List<Account> = emptyList()
    private var states: Map<String, CodeState> = emptyMap()
    private val hotpCodes = mutableMapOf<String, String>()

    /** Replaces the accounts shown. */
    fun setAccounts(accounts: List<Account>) {
        this.accounts = accounts
        notifyDataSetChanged()
    }

    /** Shows one tick of the code flow. */
    fun setStates(states: List<CodeState>) {
        this.states = states.associateBy { it.accountId }
        notifyDataSetChanged()
    }

    /** Shows the code just taken for an HOTP account. */
    fun setHotpCode(accountId: String, code: String) {
        hotpCodes[accountId] = code
        notifyDataSetChanged()
    }

    /** True when [accountId] is not in the list (it was added since the list was loaded). */
    fun isUnknown(accountId: String): Boolean = accounts.none { it.id == accountId }

    /** The current code state of [accountId], if it is time-based. */
    fun stateOf(accountId: String): CodeState? = states[accountId]

    override fun getCount(): Int = accounts.size

    override fun getItem(position: Int): Account = accounts[position]

    override fun getItemId(position: Int): Long = accounts[position].id.hashCode().toLong()

    override fun hasStableIds(): Boolean = true

    override fun getView(position: Int, convertView: View?, parent: ViewGroup): View {
        val view = convertView ?: LayoutInflater.from(context).inflate(R.layout.item_account, parent, false)
        val account = accounts[position]
        view.child<TextView>(R.id.account_issuer).text =
            account.issuer.ifEmpty { context.getString(R.string.no_issuer) }
        view.child<TextView>(R.id.account_label).text = account.label
        val code = view.child<TextView>(R.id.account_code)
        val seconds = view.child<TextView>(R.id.account_seconds_left)
        val progress = view.child<ProgressBar>(R.id.account_countdown)
        val state = states[account.id]
        when {
            state != null -> {
                code.text = grouped(state.code)
                seconds.text = context.getString(R.string.seconds_left, state.secondsLeft)
                seconds.visibility = View.VISIBLE
                progress.visibility = View.VISIBLE
                progress.max = PROGRESS_STEPS
                progress.progress = (state.progress * PROGRESS_STEPS).toInt()
            }
            account.kind == OtpKind.HOTP -> {
                code.text = hotpCodes[account.id]?.let(::grouped) ?: context.getString(R.string.tap_for_code)
                seconds.visibility = View.GONE
                progress.visibility = View.GONE
            }
            else -> {
                code.text = context.getString(R.string.no_code)
                seconds.visibility = View.GONE
                progress.visibility = View.GONE
            }
        }
        return view
    }

    private companion object {
        const val PROGRESS_STEPS = 1000

        /** "123456" as "123 456", "12345678" as "1234 5678"; Steam's five characters as they are. */
        fun grouped(code: String): String =
            if (code.length >= 6 && code.all(Char::isDigit)) {
                code.substring(0, code.length / 2) + " " + code.substring(code.length / 2)
            } else {
                code
            }
    }
}
