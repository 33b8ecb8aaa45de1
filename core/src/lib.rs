#![doc = include_str!("../README.md")]

pub mod account;
mod aead;
pub mod clock;
mod encoding;
pub mod http;
pub mod keystore;
pub mod otp;
pub mod otpauth;
mod percent;
pub mod push;
pub mod qr;
pub mod secret;
pub mod transfer;
pub mod vault;

pub use account::{Account, AccountId, OtpPart, PushPart, PushPartFields};
pub use keystore::{KeyStore, KeyStoreError, MemoryKeyStore, PlatformKeyStore};
pub use otp::{Algorithm, Code, OtpError, OtpGenerator, OtpKind, OtpParams, Timestamp, Validity};
pub use otpauth::{OtpauthUri, ParsedUri, UriError, UriWarning};
pub use secret::{Secret, SecretError};
pub use vault::{
    CreateOptions, KdfParams, OpenWarning, OpenedWith, RecoveryKey, Unlock, Vault, VaultError,
    VaultStatus,
};
