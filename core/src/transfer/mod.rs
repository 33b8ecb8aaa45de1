//! Moving accounts in and out: import and export behind two small traits,
//! one file per format.
//!
//! Every importer turns bytes (and a password, for encrypted formats) into an
//! [`ImportBatch`]: the accounts it could read, and the entries it refused,
//! each with its position and a reason. A bad entry never stops the others; a
//! damaged file, a wrong password or an unknown version stops everything with
//! a typed [`TransferError`]. No error or reason ever contains a secret.
//!
//! Every exporter first lists what the format cannot carry
//! ([`ExportWarning`]). Without `force` such an export is refused with the
//! list; with `force` it goes ahead, leaving out the accounts it cannot write
//! faithfully, and returns the list alongside the bytes.
//!
//! Push pairings ([`crate::account::PushPart`]) never leave the device
//! through any format: the other formats carry OTP fields only, and
//! Tessera's own backup drops them on purpose (see [`tessera_backup`]).
//!
//! [`detect`] guesses the format from the bytes; [`preview`] splits a batch
//! into new accounts and duplicates of what the vault already holds.

pub mod aegis;
pub mod device_to_device;
pub mod google_migration;
pub mod mailbox;
pub mod otpauth_list;
pub mod tessera_backup;
pub mod twofas;

use std::fmt;

use zeroize::Zeroizing;

use crate::account::Account;
use crate::otp::OtpParams;
use crate::otpauth::OtpauthUri;
use crate::secret::Secret;

/// The largest input any importer reads (16 MiB). Real exports are a few
/// kilobytes; anything bigger is a mistake or an attack.
pub const MAX_INPUT_BYTES: usize = 16 * 1024 * 1024;

/// The formats Tessera reads and writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Format {
    /// Text: one `otpauth://` URI per line.
    OtpauthList,
    /// Tessera's own encrypted backup (`docs/backup-format.md`).
    TesseraBackup,
    /// Google Authenticator's `otpauth-migration://offline?data=…` URIs.
    GoogleMigration,
    /// Aegis vault JSON, plain or encrypted.
    Aegis,
    /// 2FAS backup JSON, plain or encrypted (import only).
    TwoFas,
}

impl Format {
    /// A short human name.
    pub fn name(self) -> &'static str {
        match self {
            Self::OtpauthList => "otpauth URI list",
            Self::TesseraBackup => "Tessera backup",
            Self::GoogleMigration => "Google Authenticator export",
            Self::Aegis => "Aegis vault",
            Self::TwoFas => "2FAS backup",
        }
    }

    /// The importer for this format.
    pub fn importer(self) -> Box<dyn Import> {
        match self {
            Self::OtpauthList => Box::new(otpauth_list::OtpauthList),
            Self::TesseraBackup => Box::new(tessera_backup::TesseraBackup::default()),
            Self::GoogleMigration => Box::new(google_migration::GoogleMigration),
            Self::Aegis => Box::new(aegis::Aegis::default()),
            Self::TwoFas => Box::new(twofas::TwoFas),
        }
    }

    /// The exporter for this format, or `None` for import-only formats.
    pub fn exporter(self) -> Option<Box<dyn Export>> {
        match self {
            Self::OtpauthList => Some(Box::new(otpauth_list::OtpauthList)),
            Self::TesseraBackup => Some(Box::new(tessera_backup::TesseraBackup::default())),
            Self::GoogleMigration => Some(Box::new(google_migration::GoogleMigration)),
            Self::Aegis => Some(Box::new(aegis::Aegis::default())),
            Self::TwoFas => None,
        }
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Reads accounts from the bytes of one format.
pub trait Import {
    /// Reads `bytes`; `password` is needed for encrypted files only.
    fn import(&self, bytes: &[u8], password: Option<&str>) -> Result<ImportBatch, TransferError>;
}

/// Writes accounts in one format.
pub trait Export {
    /// Writes `accounts`, encrypted when the format supports it and a
    /// `password` is given. Refuses with [`TransferError::WouldLoseInformation`]
    /// when something cannot be carried, unless `force` is set.
    fn export(
        &self,
        accounts: &[Account],
        password: Option<&str>,
        force: bool,
    ) -> Result<Exported, TransferError>;
}

/// An entry an importer could not take, and why (never with its secret).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RejectedEntry {
    /// The entry's 0-based position in the input (line, list entry…).
    pub index: usize,
    /// Why it was refused.
    pub reason: String,
}

/// What an import read.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImportBatch {
    /// The accounts read, in input order, each with a fresh id (except from
    /// Tessera's own backups, which keep theirs).
    pub accounts: Vec<Account>,
    /// The entries refused, in input order.
    pub rejected: Vec<RejectedEntry>,
}

impl ImportBatch {
    fn reject(&mut self, index: usize, reason: impl Into<String>) {
        self.rejected.push(RejectedEntry {
            index,
            reason: reason.into(),
        });
    }
}

/// Something an export cannot carry for one account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExportWarning {
    /// The account concerned.
    pub account_id: String,
    /// What is lost, and what happens to the account when forced.
    pub what: String,
    /// Whether a forced export leaves the account out (true) or writes it
    /// without the details named in `what` (false).
    pub left_out: bool,
}

impl fmt::Display for ExportWarning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "account {}: {}", self.account_id, self.what)
    }
}

/// An export's bytes and what it left out.
pub struct Exported {
    /// The file (or, for Google, the URIs one per line). Secret: zeroized on drop.
    pub bytes: Zeroizing<Vec<u8>>,
    /// What the format could not carry (empty unless forced).
    pub warnings: Vec<ExportWarning>,
}

impl fmt::Debug for Exported {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Exported")
            .field(
                "bytes",
                &format_args!("<{} bytes redacted>", self.bytes.len()),
            )
            .field("warnings", &self.warnings)
            .finish()
    }
}

/// Why an import or export failed. Names the problem; never holds a secret.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TransferError {
    /// The input is over [`MAX_INPUT_BYTES`].
    #[error("the file is {size} bytes; the limit is {max}", max = MAX_INPUT_BYTES)]
    TooLarge {
        /// The input's size.
        size: usize,
    },
    /// The file is encrypted and no password was given.
    #[error("this file is encrypted: a password is needed")]
    PasswordRequired,
    /// The password does not open the file. Authenticated encryption
    /// cannot tell a wrong password from altered data when the key comes
    /// from the password, so the message names both.
    #[error("wrong password (or the file was altered)")]
    WrongPassword,
    /// The encrypted data fails authentication: it was changed or damaged.
    #[error("the file was altered or damaged (authentication failed)")]
    Tampered,
    /// The input ends early.
    #[error("the file is truncated: {0}")]
    Truncated(String),
    /// A format version this Tessera does not read.
    #[error("{format} version {found} is not supported (update Tessera)")]
    UnsupportedVersion {
        /// Which format.
        format: Format,
        /// The version found.
        found: i64,
    },
    /// Not this format, or a required field is missing or malformed.
    #[error("not a valid {format}: {reason}")]
    Malformed {
        /// Which format.
        format: Format,
        /// What is wrong.
        reason: String,
    },
    /// One entry is unusable in a way that makes the whole file unusable.
    #[error("entry {index}: {reason}")]
    BadEntry {
        /// The entry's 0-based position.
        index: usize,
        /// What is wrong with it.
        reason: String,
    },
    /// Key-derivation parameters beyond what Tessera agrees to compute.
    #[error("the file asks for unsafe key-derivation parameters: {0}")]
    UnsafeParameters(String),
    /// Some parts of a Google Authenticator batch are missing.
    #[error(
        "batch {batch_id} of the Google Authenticator export is incomplete: {} of {size} QR codes missing (numbers {})",
        missing.len(),
        missing.iter().map(|i| (i + 1).to_string()).collect::<Vec<_>>().join(", ")
    )]
    MissingBatchParts {
        /// The batch id shared by its parts.
        batch_id: i32,
        /// How many parts the batch has.
        size: i32,
        /// The 0-based indexes of the parts not given.
        missing: Vec<i32>,
    },
    /// The export would lose information; pass `force` to accept.
    #[error("the export would lose information for {} account(s)", .0.len())]
    WouldLoseInformation(Vec<ExportWarning>),
    /// The caller's input is unusable (an empty password…).
    #[error("{0}")]
    InvalidInput(String),
    /// A cryptographic primitive failed (the system RNG, for instance).
    #[error("cryptography failed: {0}")]
    Crypto(String),
}

/// Imported accounts split against the vault.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Preview<'a> {
    /// Accounts not in the vault (nor earlier in the batch).
    pub new: Vec<&'a Account>,
    /// Accounts already in the vault or repeated in the batch
    /// (same issuer, label and secret).
    pub duplicates: Vec<&'a Account>,
}

/// Splits `batch` into new accounts and duplicates of `vault_accounts` (or of
/// an earlier account of the batch), using [`Account::same_identity`].
pub fn preview<'a>(vault_accounts: &[Account], batch: &'a ImportBatch) -> Preview<'a> {
    let mut new: Vec<&'a Account> = Vec::new();
    let mut duplicates = Vec::new();
    for account in &batch.accounts {
        let known = vault_accounts.iter().any(|a| a.same_identity(account))
            || new.iter().any(|a| a.same_identity(account));
        if known {
            duplicates.push(account);
        } else {
            new.push(account);
        }
    }
    Preview { new, duplicates }
}

/// Guesses the format from the bytes; `None` when it is none Tessera reads.
pub fn detect(bytes: &[u8]) -> Option<Format> {
    let text = std::str::from_utf8(bytes).ok()?;
    let text = text.trim_start_matches('\u{feff}').trim_start();
    if text.starts_with('{') {
        let value: serde_json::Value = serde_json::from_str(text).ok()?;
        let object = value.as_object()?;
        if object.get("format").and_then(|f| f.as_str()) == Some(tessera_backup::FORMAT) {
            return Some(Format::TesseraBackup);
        }
        if object.contains_key("header") && object.contains_key("db") {
            return Some(Format::Aegis);
        }
        if object.contains_key("services") || object.contains_key("servicesEncrypted") {
            return Some(Format::TwoFas);
        }
        return None;
    }
    let first = text
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty() && !l.starts_with('#'))?;
    let scheme = first.split(':').next()?.to_ascii_lowercase();
    match scheme.as_str() {
        "otpauth-migration" => Some(Format::GoogleMigration),
        "otpauth" => Some(Format::OtpauthList),
        _ => None,
    }
}

/// Detects the format and imports with it.
pub fn import_any(bytes: &[u8], password: Option<&str>) -> Result<ImportBatch, TransferError> {
    check_size(bytes)?;
    let format = detect(bytes).ok_or_else(|| TransferError::InvalidInput(
        "the file is in no format Tessera can import (otpauth list, Tessera backup, Google Authenticator export, Aegis, 2FAS)".into(),
    ))?;
    format.importer().import(bytes, password)
}

/// Refuses inputs over [`MAX_INPUT_BYTES`].
fn check_size(bytes: &[u8]) -> Result<(), TransferError> {
    if bytes.len() > MAX_INPUT_BYTES {
        return Err(TransferError::TooLarge { size: bytes.len() });
    }
    Ok(())
}

/// The seconds since the epoch for `created_at` of imported accounts.
fn now_secs() -> u64 {
    crate::vault::unix_now()
}

/// A new account with a fresh id, after checking the parameters.
fn new_account(
    issuer: &str,
    label: &str,
    params: OtpParams,
    secret: Secret,
) -> Result<Account, String> {
    params.validate().map_err(|e| e.to_string())?;
    Ok(Account::from_uri(
        OtpauthUri {
            params,
            secret,
            issuer: issuer.to_string(),
            label: label.to_string(),
            extra: Vec::new(),
        },
        now_secs(),
    ))
}

/// Collects per-account losses; refuses when there are some and `force` is
/// off. Returns the accounts to write (those with no loss that drops them)
/// and the warnings. With `codes_only`, push-only accounts are left out.
fn plan_export(
    accounts: &[Account],
    force: bool,
    codes_only: bool,
    losses: impl Fn(&Account) -> Loss,
) -> Result<(Vec<&Account>, Vec<ExportWarning>), TransferError> {
    let mut kept = Vec::new();
    let mut warnings = Vec::new();
    for account in accounts {
        let loss = if codes_only && account.otp.is_none() {
            Loss::Dropped(vec![
                "has no OTP codes (push-only; push pairings are never exported: pair again on the new device); left out".into(),
            ])
        } else {
            losses(account)
        };
        let (what, keep) = match loss {
            Loss::None => (Vec::new(), true),
            Loss::Partial(what) => (what, true),
            Loss::Dropped(what) => (what, false),
        };
        warnings.extend(what.into_iter().map(|what| ExportWarning {
            account_id: account.id.clone(),
            what,
            left_out: !keep,
        }));
        if keep {
            kept.push(account);
        }
    }
    if !warnings.is_empty() && !force {
        return Err(TransferError::WouldLoseInformation(warnings));
    }
    Ok((kept, warnings))
}

/// What a format loses for one account.
enum Loss {
    /// Nothing.
    None,
    /// These details; the account is still written.
    Partial(Vec<String>),
    /// The account cannot be written faithfully and is left out.
    Dropped(Vec<String>),
}

/// A JSON parse error without the input's text (which may hold a secret).
fn json_error(format: Format, error: &serde_json::Error) -> TransferError {
    use serde_json::error::Category;
    match error.classify() {
        Category::Eof => TransferError::Truncated(format!(
            "the {format} ends early (line {}, column {})",
            error.line(),
            error.column()
        )),
        Category::Syntax | Category::Io => TransferError::Malformed {
            format,
            reason: format!(
                "invalid JSON at line {}, column {}",
                error.line(),
                error.column()
            ),
        },
        Category::Data => TransferError::Malformed {
            format,
            reason: format!(
                "a field is missing or has the wrong type (line {}, column {})",
                error.line(),
                error.column()
            ),
        },
    }
}

/// A growable buffer that wipes every allocation it leaves behind, for
/// serialising plaintext that holds secrets.
#[derive(Default)]
struct WipingBuffer(Zeroizing<Vec<u8>>);

impl std::io::Write for WipingBuffer {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let needed = self.0.len() + buf.len();
        if needed > self.0.capacity() {
            let mut bigger = Zeroizing::new(Vec::with_capacity(needed.max(256) * 2));
            bigger.extend_from_slice(&self.0);
            self.0 = bigger;
        }
        self.0.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Serialises to JSON into a wiping buffer.
fn to_json_wiping<T: serde::Serialize>(value: &T) -> Result<Zeroizing<Vec<u8>>, TransferError> {
    let mut buffer = WipingBuffer::default();
    serde_json::to_writer(&mut buffer, value)
        .map_err(|_| TransferError::InvalidInput("could not encode the accounts as JSON".into()))?;
    Ok(buffer.0)
}

/// Serialises to pretty JSON into a wiping buffer.
fn to_json_pretty_wiping<T: serde::Serialize>(
    value: &T,
) -> Result<Zeroizing<Vec<u8>>, TransferError> {
    let mut buffer = WipingBuffer::default();
    serde_json::to_writer_pretty(&mut buffer, value)
        .map_err(|_| TransferError::InvalidInput("could not encode the accounts as JSON".into()))?;
    Ok(buffer.0)
}

/// Lines of text (URIs holding secrets) as one newline-terminated buffer,
/// sized up front so no partial copy is left in freed memory.
pub(crate) fn join_lines<S: AsRef<str>>(lines: &[S]) -> Zeroizing<Vec<u8>> {
    let len = lines.iter().map(|l| l.as_ref().len() + 1).sum();
    let mut bytes = Zeroizing::new(Vec::with_capacity(len));
    for line in lines {
        bytes.extend_from_slice(line.as_ref().as_bytes());
        bytes.push(b'\n');
    }
    bytes
}

impl From<crate::aead::CryptoFailure> for TransferError {
    fn from(failure: crate::aead::CryptoFailure) -> Self {
        TransferError::Crypto(failure.0.to_string())
    }
}
