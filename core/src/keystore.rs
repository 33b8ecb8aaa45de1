//! The platform keystore port and its implementations.
//!
//! The keystore holds one small key-encryption key per vault, never the
//! accounts themselves. Every call here is blocking (D-Bus, Keychain, JNI):
//! async callers must run them with `spawn_blocking` or on their own thread.
//!
//! Values are stored as text (base32), because some Secret Service backends
//! (KWallet's shim) only keep UTF-8.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex};

use zeroize::Zeroizing;

/// The service name under which Tessera's keystore items are filed.
pub const SERVICE: &str = "org.tessera.vault";

/// Why the keystore could not be used. Never contains the stored value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyStoreError {
    /// No keystore is reachable here (no Secret Service on the bus, a
    /// locked or missing collection, an unsupported platform).
    #[error("no keystore is reachable: {0}")]
    Unavailable(String),
    /// The keystore answered but the call failed.
    #[error("the keystore failed: {0}")]
    Failed(String),
}

/// A place to keep small secrets by name: the platform keystore, or a store
/// the app supplies (UniFFI's foreign `SecureStorage`).
///
/// Implementations block; see the module docs.
pub trait KeyStore: Send + Sync {
    /// A short human name ("Secret Service", "in-memory") for status output.
    fn name(&self) -> String;

    /// Reads an item; `Ok(None)` when there is none.
    fn get(&self, item: &str) -> Result<Option<Zeroizing<String>>, KeyStoreError>;

    /// Creates or replaces an item.
    fn set(&self, item: &str, value: &str) -> Result<(), KeyStoreError>;

    /// Deletes an item; deleting a missing item is not an error.
    fn delete(&self, item: &str) -> Result<(), KeyStoreError>;
}

/// An in-memory keystore for tests and for platforms that supply none.
/// Clones share the same items.
#[derive(Clone, Default)]
pub struct MemoryKeyStore {
    items: Arc<Mutex<HashMap<String, Zeroizing<String>>>>,
}

impl fmt::Debug for MemoryKeyStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("MemoryKeyStore(<redacted>)")
    }
}

impl MemoryKeyStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(
        &self,
    ) -> Result<std::sync::MutexGuard<'_, HashMap<String, Zeroizing<String>>>, KeyStoreError> {
        self.items
            .lock()
            .map_err(|_| KeyStoreError::Failed("the in-memory store was poisoned".into()))
    }
}

impl KeyStore for MemoryKeyStore {
    fn name(&self) -> String {
        "in-memory".to_string()
    }

    fn get(&self, item: &str) -> Result<Option<Zeroizing<String>>, KeyStoreError> {
        Ok(self.lock()?.get(item).cloned())
    }

    fn set(&self, item: &str, value: &str) -> Result<(), KeyStoreError> {
        self.lock()?
            .insert(item.to_string(), Zeroizing::new(value.to_string()));
        Ok(())
    }

    fn delete(&self, item: &str) -> Result<(), KeyStoreError> {
        self.lock()?.remove(item);
        Ok(())
    }
}

/// The platform keystore through a `keyring-core` store: Secret Service on
/// Linux and the BSDs, Keychain on macOS, the data-protection Keychain on
/// iOS, Credential Manager on Windows, Keystore-encrypted preferences on
/// Android. Built with the `platform-keystore` feature; without it,
/// [`PlatformKeyStore::connect`] always reports the keystore unavailable.
pub struct PlatformKeyStore {
    #[cfg(feature = "platform-keystore")]
    store: std::sync::Arc<keyring_core::CredentialStore>,
    name: &'static str,
}

impl fmt::Debug for PlatformKeyStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PlatformKeyStore({})", self.name)
    }
}

#[cfg(not(feature = "platform-keystore"))]
impl PlatformKeyStore {
    /// Always unavailable: this build has no platform keystore support.
    pub fn connect() -> Result<Self, KeyStoreError> {
        Err(KeyStoreError::Unavailable(
            "this build has no platform keystore support (feature `platform-keystore`)".into(),
        ))
    }
}

#[cfg(not(feature = "platform-keystore"))]
impl KeyStore for PlatformKeyStore {
    fn name(&self) -> String {
        self.name.to_string()
    }

    fn get(&self, _item: &str) -> Result<Option<Zeroizing<String>>, KeyStoreError> {
        Err(KeyStoreError::Unavailable("no platform keystore".into()))
    }

    fn set(&self, _item: &str, _value: &str) -> Result<(), KeyStoreError> {
        Err(KeyStoreError::Unavailable("no platform keystore".into()))
    }

    fn delete(&self, _item: &str) -> Result<(), KeyStoreError> {
        Err(KeyStoreError::Unavailable("no platform keystore".into()))
    }
}

#[cfg(feature = "platform-keystore")]
mod platform {
    //! The keyring-core stores, one per operating system.

    use std::sync::Arc;

    use zeroize::Zeroizing;

    use super::{KeyStore, KeyStoreError, PlatformKeyStore, SERVICE};

    impl PlatformKeyStore {
        /// Connects to this platform's keystore. Fails with
        /// [`KeyStoreError::Unavailable`] where none is reachable (a headless box
        /// without a Secret Service, for example).
        pub fn connect() -> Result<Self, KeyStoreError> {
            let (store, name) = platform_store()?;
            let keystore = Self { store, name };
            keystore.probe()?;
            Ok(keystore)
        }

        /// Reads a missing item so a store that connects lazily (D-Bus
        /// activation, a locked collection) reports trouble now, not mid-write.
        fn probe(&self) -> Result<(), KeyStoreError> {
            self.get("tessera-probe").map(|_| ())
        }

        fn entry(&self, item: &str) -> Result<keyring_core::Entry, KeyStoreError> {
            self.store.build(SERVICE, item, None).map_err(map_error)
        }
    }

    impl KeyStore for PlatformKeyStore {
        fn name(&self) -> String {
            self.name.to_string()
        }

        fn get(&self, item: &str) -> Result<Option<Zeroizing<String>>, KeyStoreError> {
            match self.entry(item)?.get_password() {
                Ok(value) => Ok(Some(Zeroizing::new(value))),
                Err(keyring_core::Error::NoEntry) => Ok(None),
                Err(error) => Err(map_error(error)),
            }
        }

        fn set(&self, item: &str, value: &str) -> Result<(), KeyStoreError> {
            self.entry(item)?.set_password(value).map_err(map_error)
        }

        fn delete(&self, item: &str) -> Result<(), KeyStoreError> {
            match self.entry(item)?.delete_credential() {
                Ok(()) | Err(keyring_core::Error::NoEntry) => Ok(()),
                Err(error) => Err(map_error(error)),
            }
        }
    }

    /// Keeps the platform's reason but never a stored value: `BadEncoding` and
    /// `BadDataFormat` carry the item's bytes, so they are reduced to a label.
    fn map_error(error: keyring_core::Error) -> KeyStoreError {
        use keyring_core::Error as E;
        match error {
            E::NoStorageAccess(inner) => KeyStoreError::Unavailable(inner.to_string()),
            E::NoDefaultStore => KeyStoreError::Unavailable("no keystore configured".into()),
            E::NotSupportedByStore(what) => KeyStoreError::Unavailable(what),
            E::PlatformFailure(inner) => KeyStoreError::Failed(inner.to_string()),
            E::BadEncoding(_) => KeyStoreError::Failed("the stored item is not text".into()),
            E::BadDataFormat(_, _) => KeyStoreError::Failed("the stored item is malformed".into()),
            E::NoEntry => KeyStoreError::Failed("the item is missing".into()),
            other => KeyStoreError::Failed(short_reason(&other)),
        }
    }

    fn short_reason(error: &keyring_core::Error) -> String {
        let text = error.to_string();
        text.chars().take(200).collect()
    }

    #[cfg(any(
        target_os = "linux",
        target_os = "freebsd",
        target_os = "openbsd",
        target_os = "netbsd"
    ))]
    fn platform_store() -> Result<(Arc<keyring_core::CredentialStore>, &'static str), KeyStoreError>
    {
        let store = zbus_secret_service_keyring_store::Store::new().map_err(unavailable)?;
        Ok((store, "Secret Service"))
    }

    #[cfg(target_os = "macos")]
    fn platform_store() -> Result<(Arc<keyring_core::CredentialStore>, &'static str), KeyStoreError>
    {
        let store = apple_native_keyring_store::keychain::Store::new().map_err(unavailable)?;
        Ok((store, "macOS Keychain"))
    }

    #[cfg(target_os = "ios")]
    fn platform_store() -> Result<(Arc<keyring_core::CredentialStore>, &'static str), KeyStoreError>
    {
        let store = apple_native_keyring_store::protected::Store::new().map_err(unavailable)?;
        Ok((store, "iOS Keychain"))
    }

    #[cfg(target_os = "windows")]
    fn platform_store() -> Result<(Arc<keyring_core::CredentialStore>, &'static str), KeyStoreError>
    {
        let store = windows_native_keyring_store::Store::new().map_err(unavailable)?;
        Ok((store, "Windows Credential Manager"))
    }

    #[cfg(target_os = "android")]
    fn platform_store() -> Result<(Arc<keyring_core::CredentialStore>, &'static str), KeyStoreError>
    {
        let store = android_native_keyring_store::Store::new().map_err(unavailable)?;
        Ok((store, "Android Keystore"))
    }

    #[cfg(not(any(
        target_os = "linux",
        target_os = "freebsd",
        target_os = "openbsd",
        target_os = "netbsd",
        target_os = "macos",
        target_os = "ios",
        target_os = "windows",
        target_os = "android"
    )))]
    fn platform_store() -> Result<(Arc<keyring_core::CredentialStore>, &'static str), KeyStoreError>
    {
        Err(KeyStoreError::Unavailable(
            "this platform has no supported keystore".into(),
        ))
    }

    #[allow(dead_code)] // unused on platforms without a keyring-core store
    fn unavailable(error: keyring_core::Error) -> KeyStoreError {
        KeyStoreError::Unavailable(short_reason(&error))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_store_round_trip() {
        let store = MemoryKeyStore::new();
        assert_eq!(store.get("a").unwrap(), None);
        store.set("a", "value").unwrap();
        assert_eq!(store.get("a").unwrap().unwrap().as_str(), "value");
        let shared = store.clone();
        shared.delete("a").unwrap();
        assert_eq!(store.get("a").unwrap(), None);
        store.delete("a").unwrap();
        assert!(!format!("{store:?}").contains("value"));
    }
}
