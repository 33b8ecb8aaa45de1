package org.tessera.app

import android.app.Activity
import android.view.View

/**
 * The view with [id] in this activity's layout; fails loudly when the layout lacks it.
 * (`requireViewById` would do, but it needs API 28 and the app supports API 26.)
 */
fun <T : View> Activity.view(id: Int): T = findViewById<T>(id) ?: error("no view ${resources.getResourceName(id)}")

/** The view with [id] under this view; fails loudly when there is none. */
fun <T : View> View.child(id: Int): T = findViewById<T>(id) ?: error("no view ${resources.getResourceName(id)}")
