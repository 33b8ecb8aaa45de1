package org.tessera.app

import android.app.Activity
import android.app.KeyguardManager
import android.content.ClipData
import android.content.ClipboardManager
import android.content.Intent
import android.os.Bundle
import android.security.keystore.UserNotAuthenticatedException
import android.view.View
import android.view.WindowManager
import android.widget.Button
import android.widget.ListView
import android.widget.TextView
import android.widget.Toast
import kotlinx.coroutines.CompletableDeferred
import kotlinx.coroutines.Job
import kotlinx.coroutines.MainScope
import kotlinx.coroutines.cancel
import kotlinx.coroutines.launch
import org.tessera.ClockState
import org.tessera.ClockStatus
import org.tessera.OtpKind
import org.tessera.TesseraException

/**
 * The account list: every account with its code and countdown, ticking once a second from
 * [org.tessera.TesseraClient.codeStates], and a banner when the device clock is off or unknown.
 * Unlocks the vault first (creating it on first start and showing the recovery key once).
 */
class MainActivity : Activity() {
    private val scope = MainScope()
    private var ticking: Job? = null
    private var authResult: CompletableDeferred<Boolean>? = null
    private lateinit var banner: TextView
    private lateinit var empty: TextView
    private lateinit var adapter: AccountAdapter

    private val app get() = application as TesseraApp
    private val client get() = app.client

    override fun onCreate(savedInstanceState: Bundle?) {
        super.onCreate(savedInstanceState)
        // Codes on screen: keep them out of screenshots and the recent-apps preview.
        window.setFlags(WindowManager.LayoutParams.FLAG_SECURE, WindowManager.LayoutParams.FLAG_SECURE)
        setContentView(R.layout.activity_main)
        banner = view(R.id.clock_banner)
        empty = view(R.id.empty_text)
        adapter = AccountAdapter(this)
        val list = view<ListView>(R.id.accounts_list)
        list.adapter = adapter
        list.emptyView = empty
        list.setOnItemClickListener { _, _, position, _ -> onAccountTapped(position) }
        view<Button>(R.id.add_button).setOnClickListener {
            startActivity(Intent(this, AddAccountActivity::class.java))
        }
        view<Button>(R.id.transfer_button).setOnClickListener {
            startActivity(Intent(this, TransferActivity::class.java))
        }
    }

    override fun onStart() {
        super.onStart()
        ticking = scope.launch { showCodes() }
        app.syncClockSoon { showBanner(client.clockStatus()) }
    }

    override fun onStop() {
        ticking?.cancel()
        super.onStop()
    }

    override fun onDestroy() {
        scope.cancel()
        super.onDestroy()
    }

    private suspend fun showCodes() {
        try {
            if (!unlock()) {
                empty.setText(R.string.locked)
                return
            }
            adapter.setAccounts(client.accounts())
            showBanner(client.clockStatus())
            client.codeStates().collect { states ->
                if (states.any { adapter.isUnknown(it.accountId) }) adapter.setAccounts(client.accounts())
                adapter.setStates(states)
                showBanner(client.clockStatus())
            }
        } catch (e: TesseraException) {
            empty.text = e.message
            adapter.setAccounts(emptyList())
        }
    }

    /** Opens the vault: creates it the first time, else the keystore, else the password. */
    private suspend fun unlock(): Boolean {
        if (client.isUnlocked) return true
        val unlocked = unlockVault()
        // A push token that arrived while the vault was locked can be sent now.
        if (unlocked) app.unlocked()
        return unlocked
    }

    private suspend fun unlockVault(): Boolean {
        if (!client.vaultExists()) {
            val recoveryKey = client.createVault()
            showMessage(R.string.recovery_key_title, getString(R.string.recovery_key_message, recoveryKey))
            return true
        }
        while (true) {
            try {
                client.unlockWithKeystore()
                return true
            } catch (e: TesseraException.Storage) {
                // The Keystore key is bound to the screen lock and it was not used recently.
                if (e.cause is UserNotAuthenticatedException && confirmScreenLock()) continue
                return unlockWithPassword(e.message)
            } catch (e: TesseraException.KeystoreUnavailable) {
                return unlockWithPassword(e.message)
            }
        }
    }

    private suspend fun unlockWithPassword(why: String?): Boolean {
        var message = why
        while (true) {
            val password = askPassword(R.string.unlock_title, message) ?: return false
            try {
                client.unlockWithPassword(password)
                return true
            } catch (e: TesseraException.WrongPassword) {
                message = getString(R.string.wrong_password)
            }
        }
    }

    /** Shows the system's screen-lock confirmation; true when the user passed it. */
    private suspend fun confirmScreenLock(): Boolean {
        val keyguard = getSystemService(KeyguardManager::class.java) ?: return false
        @Suppress("DEPRECATION")
        val intent = keyguard.createConfirmDeviceCredentialIntent(
            getString(R.string.app_name),
            getString(R.string.confirm_screen_lock),
        ) ?: return false
        val result = CompletableDeferred<Boolean>()
        authResult = result
        @Suppress("DEPRECATION")
        startActivityForResult(intent, REQUEST_SCREEN_LOCK)
        return result.await()
    }

    @Deprecated("Framework Activity result API; this app uses no AndroidX.")
    override fun onActivityResult(requestCode: Int, resultCode: Int, data: Intent?) {
        @Suppress("DEPRECATION")
        super.onActivityResult(requestCode, resultCode, data)
        if (requestCode == REQUEST_SCREEN_LOCK) authResult?.complete(resultCode == RESULT_OK)
    }

    private fun onAccountTapped(position: Int) {
        val account = adapter.getItem(position)
        if (account.kind == OtpKind.HOTP) {
            scope.launch {
                try {
                    val code = client.nextHotpCode(account.id)
                    adapter.setHotpCode(account.id, code.code)
                    copy(account.displayName, code.code)
                } catch (e: TesseraException) {
                    Toast.makeText(this@MainActivity, e.message, Toast.LENGTH_LONG).show()
                }
            }
            return
        }
        adapter.stateOf(account.id)?.let { copy(account.displayName, it.code) }
    }

    private fun copy(label: String, code: String) {
        val clipboard = getSystemService(ClipboardManager::class.java) ?: return
        clipboard.setPrimaryClip(ClipData.newPlainText(label, code))
        Toast.makeText(this, R.string.copied, Toast.LENGTH_SHORT).show()
    }

    private fun showBanner(status: ClockStatus) {
        if (!status.needsBanner) {
            banner.visibility = View.GONE
            return
        }
        banner.visibility = View.VISIBLE
        banner.text = status.message
        val color = when (status.state) {
            ClockState.CORRECTED -> R.color.banner_info
            ClockState.UNCORRECTED -> R.color.banner_error
            ClockState.UNKNOWN, ClockState.IN_SYNC -> R.color.banner_warning
        }
        banner.setBackgroundColor(getColor(color))
    }

    private companion object {
        const val REQUEST_SCREEN_LOCK = 1
    }
}
