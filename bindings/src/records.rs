//! Plain data crossing the FFI boundary.

use tessera_core::clock::ClockStatus;
use tessera_core::{Account, Algorithm, Code, OtpKind};

/// Which kind of one-time password an account produces.
#[uniffi::remote(Enum)]
pub enum OtpKind {
    /// Time-based (RFC 6238).
    Totp,
    /// Counter-based (RFC 4226).
    Hotp,
    /// Steam Guard.
    Steam,
}

/// The HMAC hash function.
#[uniffi::remote(Enum)]
pub enum Algorithm {
    /// HMAC-SHA-1.
    Sha1,
    /// HMAC-SHA-256.
    Sha256,
    /// HMAC-SHA-512.
    Sha512,
}

/// An account as the UI shows it (never its secret).
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct AccountRecord {
    /// Stable id.
    pub id: String,
    /// The service ("GitHub"); may be empty.
    pub issuer: String,
    /// The account name at the service.
    pub label: String,
    /// TOTP, HOTP or Steam; `None` for a push-only account.
    pub kind: Option<OtpKind>,
    /// The hash, when the account has codes.
    pub algorithm: Option<Algorithm>,
    /// Code length.
    pub digits: u8,
    /// Seconds per code (time-based kinds).
    pub period: u32,
    /// The next HOTP counter.
    pub counter: u64,
    /// Tags.
    pub tags: Vec<String>,
    /// True when the secret is shorter than 128 bits.
    pub weak_secret: bool,
}

impl From<&Account> for AccountRecord {
    fn from(account: &Account) -> Self {
        let otp = account.otp.as_ref();
        Self {
            id: account.id.clone(),
            issuer: account.issuer.clone(),
            label: account.label.clone(),
            kind: otp.map(|o| o.params.kind),
            algorithm: otp.map(|o| o.params.algorithm),
            digits: otp.map_or(0, |o| o.params.digits),
            period: otp.map_or(0, |o| o.params.period),
            counter: otp.map_or(0, |o| o.params.counter),
            tags: account.tags.clone(),
            weak_secret: otp.is_some_and(|o| o.secret.is_weak()),
        }
    }
}

/// An account just added, with what the user should be told about it.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct AddedAccount {
    /// The new account.
    pub account: AccountRecord,
    /// Warnings to show (weak secret, issuer mismatch, …).
    pub warnings: Vec<String>,
}

/// One account's current code.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct CodeRecord {
    /// The account.
    pub account_id: String,
    /// The digits (or Steam characters).
    pub code: String,
    /// The HOTP counter or TOTP time step it was computed from.
    pub counter: u64,
    /// When the code became current (ms since the epoch); `None` for HOTP.
    pub valid_from_ms: Option<u64>,
    /// When the next code takes over (ms since the epoch); `None` for HOTP.
    pub valid_until_ms: Option<u64>,
}

impl CodeRecord {
    /// A record for `code` of the account `account_id`.
    pub fn new(account_id: &str, code: &Code) -> Self {
        Self {
            account_id: account_id.to_string(),
            code: code.value.clone(),
            counter: code.counter,
            valid_from_ms: code.validity.map(|v| v.from.unix_millis()),
            valid_until_ms: code.validity.map(|v| v.until.unix_millis()),
        }
    }
}

/// What the clock banner shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum ClockState {
    /// Within a second of true time.
    InSync,
    /// Off, and codes are corrected.
    Corrected,
    /// Off, and correction is disabled: codes are likely wrong.
    Uncorrected,
    /// No trustworthy estimate: codes use the device clock unchecked.
    Unknown,
}

/// The trusted clock's status.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct ClockInfo {
    /// The state.
    pub state: ClockState,
    /// True time minus device time, in milliseconds (when known).
    pub offset_ms: Option<f64>,
    /// The offset's uncertainty, in milliseconds (when known).
    pub uncertainty_ms: Option<f64>,
    /// A sentence for the user.
    pub message: String,
}

impl From<&ClockStatus> for ClockInfo {
    fn from(status: &ClockStatus) -> Self {
        let ms = |micros: i64| micros as f64 / 1000.0;
        let (state, offset, uncertainty) = match status {
            ClockStatus::InSync {
                offset_micros,
                uncertainty_micros,
                ..
            } => (
                ClockState::InSync,
                Some(*offset_micros),
                Some(*uncertainty_micros),
            ),
            ClockStatus::Corrected {
                offset_micros,
                uncertainty_micros,
            } => (
                ClockState::Corrected,
                Some(*offset_micros),
                Some(*uncertainty_micros),
            ),
            ClockStatus::Uncorrected {
                offset_micros,
                uncertainty_micros,
            } => (
                ClockState::Uncorrected,
                Some(*offset_micros),
                Some(*uncertainty_micros),
            ),
            ClockStatus::Unknown { .. } => (ClockState::Unknown, None, None),
        };
        Self {
            state,
            offset_ms: offset.map(ms),
            uncertainty_ms: uncertainty.map(|u| ms(i64::try_from(u).unwrap_or(i64::MAX))),
            message: status.to_string(),
        }
    }
}

/// One way into the vault.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct SlotRecord {
    /// `keystore`, `password` or `recovery`.
    pub kind: String,
    /// The keystore's name or the Argon2id cost.
    pub detail: String,
}

/// The vault's status.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct VaultInfo {
    /// The vault file.
    pub path: String,
    /// Format version.
    pub format_version: u32,
    /// Number of accounts.
    pub accounts: u32,
    /// The ways in.
    pub slots: Vec<SlotRecord>,
}
