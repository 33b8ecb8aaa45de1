package org.tessera.android

import android.content.SharedPreferences

/**
 * A thread-safe in-memory [SharedPreferences] (string values only, which is all
 * [KeystoreSecureStorage] uses), with a switch to make commits fail like a full disk.
 */
class InMemoryPreferences : SharedPreferences {
    private val values = mutableMapOf<String, Any?>()

    /** When true, `commit()` changes nothing and returns false. */
    @Volatile
    var failCommits = false

    override fun getAll(): Map<String, *> = synchronized(values) { values.toMap() }
    override fun getString(key: String, defValue: String?): String? = synchronized(values) { values[key] as String? ?: defValue }
    override fun getStringSet(key: String, defValues: Set<String>?): Set<String>? = unsupported()
    override fun getInt(key: String, defValue: Int): Int = unsupported()
    override fun getLong(key: String, defValue: Long): Long = unsupported()
    override fun getFloat(key: String, defValue: Float): Float = unsupported()
    override fun getBoolean(key: String, defValue: Boolean): Boolean = unsupported()
    override fun contains(key: String): Boolean = synchronized(values) { key in values }
    override fun edit(): SharedPreferences.Editor = Editor()
    override fun registerOnSharedPreferenceChangeListener(l: SharedPreferences.OnSharedPreferenceChangeListener) = Unit
    override fun unregisterOnSharedPreferenceChangeListener(l: SharedPreferences.OnSharedPreferenceChangeListener) = Unit

    private fun unsupported(): Nothing = throw UnsupportedOperationException("not used by KeystoreSecureStorage")

    private inner class Editor : SharedPreferences.Editor {
        private val changes = mutableMapOf<String, String?>()
        private var clear = false

        override fun putString(key: String, value: String?) = apply { changes[key] = value }
        override fun putStringSet(key: String, values: Set<String>?): SharedPreferences.Editor = unsupported()
        override fun putInt(key: String, value: Int): SharedPreferences.Editor = unsupported()
        override fun putLong(key: String, value: Long): SharedPreferences.Editor = unsupported()
        override fun putFloat(key: String, value: Float): SharedPreferences.Editor = unsupported()
        override fun putBoolean(key: String, value: Boolean): SharedPreferences.Editor = unsupported()
        override fun remove(key: String) = apply { changes[key] = null }
        override fun clear() = apply { clear = true }
        override fun apply() {
            commit()
        }

        override fun commit(): Boolean {
            if (failCommits) return false
            synchronized(values) {
                if (clear) values.clear()
                for ((key, value) in changes) if (value == null) values.remove(key) else values[key] = value
            }
            return true
        }
    }
}
