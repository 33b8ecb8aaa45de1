package org.tessera.app

import android.app.Notification
import android.app.NotificationChannel
import android.app.NotificationManager
import android.app.PendingIntent
import android.content.Context
import android.util.Log
import org.tessera.PushPrompt
import org.tessera.android.TesseraPushHandler

/**
 * Shows sign-in requests as notifications that open [PushPromptActivity]. The notification says
 * which site and user; the details and the answer are on the prompt screen, behind the vault.
 */
class PromptNotifier(private val context: Context) : TesseraPushHandler.Presenter {
    private val manager = context.getSystemService(NotificationManager::class.java)

    override fun showPrompt(prompt: PushPrompt) {
        notify(
            prompt.id,
            context.getString(R.string.prompt_notification_title, prompt.site),
            context.getString(R.string.prompt_notification_text, prompt.user),
            PushPromptActivity.intent(context, prompt.id, prompt.accountId),
        )
    }

    override fun showLockedPrompt(promptId: String) {
        notify(
            promptId,
            context.getString(R.string.prompt_notification_locked_title),
            context.getString(R.string.prompt_notification_locked_text),
            PushPromptActivity.intent(context, promptId, null),
        )
    }

    override fun reportProblem(message: String) {
        Log.w(TAG, message)
    }

    private fun notify(promptId: String, title: String, text: String, intent: android.content.Intent) {
        val manager = manager ?: return
        manager.createNotificationChannel(
            NotificationChannel(CHANNEL, context.getString(R.string.prompt_channel), NotificationManager.IMPORTANCE_HIGH),
        )
        val open = PendingIntent.getActivity(
            context,
            promptId.hashCode(),
            intent,
            PendingIntent.FLAG_UPDATE_CURRENT or PendingIntent.FLAG_IMMUTABLE,
        )
        val notification = Notification.Builder(context, CHANNEL)
            .setSmallIcon(R.drawable.ic_launcher_foreground)
            .setContentTitle(title)
            .setContentText(text)
            .setCategory(Notification.CATEGORY_CALL)
            .setVisibility(Notification.VISIBILITY_PRIVATE)
            .setContentIntent(open)
            .setAutoCancel(true)
            .setTimeoutAfter(TIMEOUT_MS)
            .build()
        // Without POST_NOTIFICATIONS (Android 13+, refused by the user) this shows nothing.
        try {
            manager.notify(TAG, promptId.hashCode(), notification)
        } catch (e: SecurityException) {
            Log.w(TAG, "notifications are not allowed")
        }
    }

    /** Channel and tags. */
    companion object {
        private const val TAG = "TesseraPush"
        private const val CHANNEL = "sign_in_requests"

        /** Prompts live at most 10 minutes (docs/push-protocol.md §3.1). */
        private const val TIMEOUT_MS = 10 * 60 * 1000L

        /** Removes the notification of a prompt once it is answered. */
        fun cancel(context: Context, promptId: String) {
            context.getSystemService(NotificationManager::class.java)?.cancel(TAG, promptId.hashCode())
        }
    }
}
