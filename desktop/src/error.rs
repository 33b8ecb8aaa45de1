//! The CLI's one error type: a line a user can act on, and an exit code.

use std::fmt;

use tessera_core::push::PushError;
use tessera_core::{KeyStoreError, UriError, VaultError};

/// Exit codes, documented in `tessera --help` and the README.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// Anything not covered below (I/O, keystore failures).
    Failure = 1,
    /// No vault, or no account matches.
    NotFound = 3,
    /// The input is unusable: a bad URI or image, an ambiguous query.
    BadInput = 4,
    /// The vault stays locked: wrong password, no way to unlock.
    Locked = 5,
    /// The vault file is damaged or from a newer Tessera.
    Damaged = 6,
}

/// A failure of one command.
#[derive(Debug)]
pub struct CliError {
    /// Which exit code the process ends with.
    pub exit: Exit,
    /// One line, no secrets.
    pub message: String,
}

impl CliError {
    /// An error with an explicit exit code.
    pub fn new(exit: Exit, message: impl Into<String>) -> Self {
        Self {
            exit,
            message: message.into(),
        }
    }

    /// Bad input.
    pub fn bad_input(message: impl Into<String>) -> Self {
        Self::new(Exit::BadInput, message)
    }

    /// Something not found.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(Exit::NotFound, message)
    }

    /// The vault cannot be unlocked.
    pub fn locked(message: impl Into<String>) -> Self {
        Self::new(Exit::Locked, message)
    }

    /// Any other failure.
    pub fn failure(message: impl Into<String>) -> Self {
        Self::new(Exit::Failure, message)
    }
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl From<VaultError> for CliError {
    fn from(error: VaultError) -> Self {
        let exit = match &error {
            VaultError::NotFound(_) | VaultError::AccountNotFound(_) => Exit::NotFound,
            VaultError::WrongPassword
            | VaultError::WrongRecoveryKey
            | VaultError::NoSuchSlot(_)
            | VaultError::KeystoreKeyMissing => Exit::Locked,
            VaultError::Corrupt(_)
            | VaultError::UnsupportedVersion { .. }
            | VaultError::Replaced => Exit::Damaged,
            VaultError::DuplicateAccount(_)
            | VaultError::InvalidInput(_)
            | VaultError::Otp(_)
            | VaultError::NoCodes(_)
            | VaultError::AlreadyExists(_) => Exit::BadInput,
            VaultError::KeyStore(_) | VaultError::Io { .. } | VaultError::Crypto(_) => {
                Exit::Failure
            }
        };
        Self::new(exit, error.to_string())
    }
}

impl From<UriError> for CliError {
    fn from(error: UriError) -> Self {
        Self::bad_input(format!("invalid otpauth URI: {error}"))
    }
}

impl From<KeyStoreError> for CliError {
    fn from(error: KeyStoreError) -> Self {
        Self::failure(error.to_string())
    }
}

impl From<PushError> for CliError {
    fn from(error: PushError) -> Self {
        let exit = match &error {
            PushError::NotFound { .. } => Exit::NotFound,
            PushError::EnrollmentInvalid
            | PushError::InvalidAnswer { .. }
            | PushError::InvalidInput(_)
            | PushError::BadWakeUp { .. }
            | PushError::BadServerUrl { .. } => Exit::BadInput,
            _ => Exit::Failure,
        };
        Self::new(exit, error.to_string())
    }
}
