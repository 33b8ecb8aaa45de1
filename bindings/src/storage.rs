//! The foreign `SecureStorage` trait and its adapter to the core's keystore port.

use std::sync::Arc;

use tessera_core::{KeyStore, KeyStoreError};
use zeroize::Zeroizing;

use crate::TesseraError;

/// Small secrets kept by the app in the platform's secure store: Android
/// Keystore-encrypted storage, or the iOS Keychain. Tessera keeps one
/// key-encryption key per vault here, as text.
///
/// Calls may block (they run off the main thread); implementations must be
/// thread-safe.
#[uniffi::export(with_foreign)]
pub trait SecureStorage: Send + Sync {
    /// The value stored under `key`, or `null`/`nil` when there is none.
    fn get(&self, key: String) -> Result<Option<String>, TesseraError>;
    /// Stores `value` under `key`, replacing any earlier value.
    fn set(&self, key: String, value: String) -> Result<(), TesseraError>;
    /// Removes `key`; removing a missing key is not an error.
    fn delete(&self, key: String) -> Result<(), TesseraError>;
}

/// Lets the core use the app's storage as its keystore.
pub struct ForeignKeyStore(pub Arc<dyn SecureStorage>);

/// The app's own failure, kept as text: `From<VaultError>` turns a failed
/// keystore call back into [`TesseraError::Storage`].
fn failed(error: TesseraError) -> KeyStoreError {
    match error {
        TesseraError::Storage { reason } => KeyStoreError::Failed(reason),
        other => KeyStoreError::Failed(other.to_string()),
    }
}

impl KeyStore for ForeignKeyStore {
    fn name(&self) -> String {
        "app secure storage".to_string()
    }

    fn get(&self, item: &str) -> Result<Option<Zeroizing<String>>, KeyStoreError> {
        Ok(self
            .0
            .get(item.to_string())
            .map_err(failed)?
            .map(Zeroizing::new))
    }

    fn set(&self, item: &str, value: &str) -> Result<(), KeyStoreError> {
        self.0
            .set(item.to_string(), value.to_string())
            .map_err(failed)
    }

    fn delete(&self, item: &str) -> Result<(), KeyStoreError> {
        self.0.delete(item.to_string()).map_err(failed)
    }
}
