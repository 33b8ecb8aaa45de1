//! The one error type the foreign side sees.
//!
//! Rule: a reason is short and says what to do; it never contains a secret,
//! a password, a recovery key, a URI (URIs carry secrets), a device key, a
//! push token, an enrollment code or a prompt's number. Core errors are built
//! to that rule already, so their messages are passed on.

use tessera_core::clock::TimeError;
use tessera_core::qr::QrError;
use tessera_core::{KeyStoreError, UriError, VaultError};

/// Everything that can go wrong, grouped by what the app should do about it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, uniffi::Error)]
pub enum TesseraError {
    /// The otpauth URI was refused; `field` names the part at fault.
    #[error("invalid otpauth URI: {reason}")]
    InvalidUri {
        /// The URI field at fault (`secret`, `digits`, …).
        field: String,
        /// Why.
        reason: String,
    },
    /// The image has no readable QR code.
    #[error("{reason}")]
    InvalidImage {
        /// Why.
        reason: String,
    },
    /// Another argument is unusable (an empty password, a bad position…).
    #[error("{reason}")]
    InvalidInput {
        /// Why.
        reason: String,
    },
    /// No account has that id.
    #[error("no account with id {id}")]
    AccountNotFound {
        /// The id asked for.
        id: String,
    },
    /// The same account is already in the vault.
    #[error("{name} is already in the vault")]
    DuplicateAccount {
        /// Issuer and label of the account.
        name: String,
    },
    /// No vault exists yet: create one.
    #[error("no vault exists yet")]
    NoVault,
    /// A vault already exists: unlock it instead.
    #[error("a vault already exists")]
    VaultExists,
    /// The vault must be unlocked first.
    #[error("the vault is locked")]
    Locked,
    /// The password is wrong.
    #[error("wrong password")]
    WrongPassword,
    /// The recovery key is wrong.
    #[error("wrong recovery key")]
    WrongRecoveryKey,
    /// The keystore cannot open the vault (unavailable, or it lost the key):
    /// unlock with the password or recovery key.
    #[error("{reason}")]
    KeystoreUnavailable {
        /// Why.
        reason: String,
    },
    /// The app's `SecureStorage` failed.
    #[error("secure storage failed: {reason}")]
    Storage {
        /// Why.
        reason: String,
    },
    /// The vault file is damaged or from a newer version.
    #[error("{reason}")]
    VaultDamaged {
        /// Why.
        reason: String,
    },
    /// No time source could be reached or believed.
    #[error("{reason}")]
    Time {
        /// Why.
        reason: String,
    },
    /// The push server refused the pairing (a used or expired QR code, or a
    /// server whose key does not match the code's fingerprint): ask the
    /// site for a new QR code.
    #[error("{reason}")]
    PairingRefused {
        /// Why.
        reason: String,
    },
    /// The push server revoked this device (or forgot it): pair again, or
    /// remove the pairing with `unpair_push(force = true)`.
    #[error("{reason}")]
    DeviceRevoked {
        /// Why.
        reason: String,
    },
    /// The prompt can no longer be shown or answered: it expired, was
    /// already answered, or the server does not know it.
    #[error("{reason}")]
    PromptUnavailable {
        /// Why.
        reason: String,
    },
    /// A prompt failed verification under the pinned server key (forged,
    /// for another device, malformed): it was dropped and must not be shown.
    #[error("{reason}")]
    UntrustedPrompt {
        /// Which check failed.
        reason: String,
    },
    /// A push wake-up's payload is not Tessera's `{"prompt_id": "…"}`.
    #[error("{reason}")]
    InvalidPushPayload {
        /// What is wrong.
        reason: String,
    },
    /// The push server could not be reached or answered oddly (offline, a
    /// timeout, a server error, this device's clock far off): try again
    /// later.
    #[error("{reason}")]
    PushNetwork {
        /// Why.
        reason: String,
    },
    /// The push server refused the request (prompts blocked after a fraud
    /// report, too many prompts, a malformed request…).
    #[error("{reason}")]
    PushRefused {
        /// The server's reason.
        reason: String,
    },
    /// The file is encrypted: ask for its password and try again.
    #[error("this file is encrypted: a password is needed")]
    PasswordRequired,
    /// The file cannot be read: damaged or altered (authentication failed),
    /// truncated, too large, from a newer version, or in no format Tessera
    /// reads.
    #[error("{reason}")]
    InvalidFile {
        /// What is wrong with it.
        reason: String,
    },
    /// The export format cannot carry everything: nothing was exported.
    /// Show the warnings; export again with `force` to leave those details
    /// (or accounts) out.
    #[error("the export would lose information for {} account(s)", .warnings.len())]
    WouldLoseInformation {
        /// What would be lost, per account.
        warnings: Vec<crate::transfer::ExportWarning>,
    },
    /// The device-to-device transfer cannot go on (the invite expired, was
    /// cancelled or answered by another device, or the data was not
    /// encrypted for this device): start again on the new device.
    #[error("{reason}")]
    Transfer {
        /// Why.
        reason: String,
    },
    /// The code typed is not this transfer's confirmation code: nothing was
    /// applied and the transfer is over. The data may come from someone
    /// else's device; start again.
    #[error("the confirmation code does not match: nothing was added; start the transfer again")]
    ConfirmationMismatch,
    /// For `HttpTransport` implementations: a request got no response (no
    /// connection, a TLS failure, a timeout). Tessera reports it to its
    /// caller as the error of the operation that needed the network.
    #[error("{reason}")]
    Network {
        /// Why, naming at most the host.
        reason: String,
    },
    /// Anything else (file system, crypto): the reason says what happened.
    #[error("{reason}")]
    Internal {
        /// Why.
        reason: String,
    },
}

impl From<uniffi::UnexpectedUniFFICallbackError> for TesseraError {
    fn from(error: uniffi::UnexpectedUniFFICallbackError) -> Self {
        // The foreign exception's text is the app's own; keep it short.
        Self::Storage {
            reason: error.reason.chars().take(200).collect(),
        }
    }
}

impl From<UriError> for TesseraError {
    fn from(error: UriError) -> Self {
        Self::InvalidUri {
            field: error.field().to_string(),
            reason: error.to_string(),
        }
    }
}

impl From<QrError> for TesseraError {
    fn from(error: QrError) -> Self {
        Self::InvalidImage {
            reason: error.to_string(),
        }
    }
}

impl From<TimeError> for TesseraError {
    fn from(error: TimeError) -> Self {
        Self::Time {
            reason: error.to_string(),
        }
    }
}

impl From<VaultError> for TesseraError {
    fn from(error: VaultError) -> Self {
        let reason = error.to_string();
        match error {
            VaultError::NotFound(_) => Self::NoVault,
            VaultError::AlreadyExists(_) => Self::VaultExists,
            VaultError::WrongPassword => Self::WrongPassword,
            VaultError::WrongRecoveryKey => Self::WrongRecoveryKey,
            VaultError::KeystoreKeyMissing | VaultError::NoSuchSlot(_) => {
                Self::KeystoreUnavailable { reason }
            }
            VaultError::KeyStore(KeyStoreError::Failed(reason)) => Self::Storage { reason },
            VaultError::KeyStore(KeyStoreError::Unavailable(_)) => {
                Self::KeystoreUnavailable { reason }
            }
            VaultError::Corrupt(_)
            | VaultError::UnsupportedVersion { .. }
            | VaultError::Replaced => Self::VaultDamaged { reason },
            VaultError::AccountNotFound(id) => Self::AccountNotFound { id },
            VaultError::DuplicateAccount(name) => Self::DuplicateAccount { name },
            VaultError::InvalidInput(_) | VaultError::Otp(_) | VaultError::NoCodes(_) => {
                Self::InvalidInput { reason }
            }
            VaultError::Io { .. } | VaultError::Crypto(_) => Self::Internal { reason },
        }
    }
}
