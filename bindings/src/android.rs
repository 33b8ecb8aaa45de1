//! Android start-up: gives `rustls-platform-verifier` the JVM and the
//! application `Context` it needs before the first HTTPS request (the push
//! client, the transfer mailbox, HTTPS `Date` time sources). On Android the
//! verifier asks the system's `X509TrustManager` through JNI, and fails
//! every TLS handshake until it is initialised.
//!
//! Kotlin calls this once, from `org.tessera.android.TesseraAndroid.init`
//! (the app's `Application.onCreate`), which loads the library and calls
//! the native method below. Per the crate's documented API
//! (`rustls_platform_verifier::android::init_with_env`, jni 0.22's
//! `EnvUnowned::with_env`). Compiled only for `target_os = "android"`.

use jni::EnvUnowned;
use jni::errors::ThrowRuntimeExAndDefault;
use jni::objects::{JClass, JObject};

/// `TesseraAndroid.initNative(context)`: initialises the platform
/// verifier with the application context. Idempotent (the verifier keeps
/// the first initialisation); a JNI failure is thrown to Kotlin as a
/// `RuntimeException`.
// JNI finds a native method by its exact symbol name, so it must not be
// mangled; `no_mangle` is an unsafe attribute (two symbols of one name
// would clash at link time), and the workspace denies unsafe code. This is
// the one exported JNI symbol of the library, and its name is unique.
#[allow(unsafe_code)]
#[unsafe(no_mangle)]
pub extern "system" fn Java_org_tessera_android_TesseraAndroid_initNative<'caller>(
    mut unowned_env: EnvUnowned<'caller>,
    _class: JClass<'caller>,
    context: JObject<'caller>,
) {
    unowned_env
        .with_env(|env| -> jni::errors::Result<()> {
            rustls_platform_verifier::android::init_with_env(env, context)
        })
        .resolve::<ThrowRuntimeExAndDefault>();
}
