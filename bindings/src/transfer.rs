//! Import, export, backups and device-to-device transfer for the apps
//! (DESIGN §6, `docs/backup-format.md`). Everything runs on
//! `tessera_core::transfer`; this module adapts it and keeps the rules the
//! CLI keeps:
//!
//! - an import is previewed first ([`Authenticator::preview_import`] →
//!   [`ImportSession`]), and [`Authenticator::apply_import`] adds exactly
//!   the accounts that preview listed as new, all or nothing;
//! - every export is read back, decrypted and compared with the vault
//!   before its bytes are handed out, and [`Authenticator::verify_export`]
//!   checks a file again after the app wrote it;
//! - a device-to-device transfer ([`TransferReceiver`],
//!   [`Authenticator::send_transfer`]) applies nothing, and claims no push
//!   hand-off, until the user typed the sending device's confirmation code.
//!
//! Bytes and passwords from the app are wiped once read; errors never hold a
//! secret, a password, a key, an invite or a confirmation code.

use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use tessera_core::http::Http;
use tessera_core::push::{self, HandoffOffer, PushClient, PushClock, SigningKey};
use tessera_core::transfer::device_to_device::{
    self, DeviceTransferError, Invite, Received, Receiver, Rendezvous,
};
use tessera_core::transfer::mailbox::{self, Mailbox, MailboxError};
use tessera_core::transfer::{
    self, ExportWarning as CoreWarning, Format, ImportBatch, MAX_INPUT_BYTES, TransferError,
};
use tessera_core::{Account, OtpKind};
use tokio::sync::{Mutex as AsyncMutex, MutexGuard as AsyncGuard, watch};
use zeroize::Zeroizing;

use crate::TesseraError;
use crate::authenticator::Authenticator;
use crate::push::{PushAccount, PushDelivery};

/// How long `cancel` waits for the server to delete the mailbox.
const CANCEL_TIMEOUT: Duration = Duration::from_secs(5);
/// One mailbox read never asks the server to hold longer than this.
const POLL_SLICE: Duration = Duration::from_secs(mailbox::WAIT_SECS);

/// The file formats Tessera reads and writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum TransferFormat {
    /// Text, one `otpauth://` URI per line (never encrypted).
    OtpauthList,
    /// Tessera's own encrypted backup (Argon2id + AES-256-GCM).
    TesseraBackup,
    /// Google Authenticator's `otpauth-migration://` URIs, one per line
    /// (never encrypted).
    GoogleMigration,
    /// An Aegis vault, encrypted with a password or plain.
    Aegis,
    /// A 2FAS backup, plain or encrypted (import only).
    TwoFas,
}

impl From<TransferFormat> for Format {
    fn from(format: TransferFormat) -> Self {
        match format {
            TransferFormat::OtpauthList => Self::OtpauthList,
            TransferFormat::TesseraBackup => Self::TesseraBackup,
            TransferFormat::GoogleMigration => Self::GoogleMigration,
            TransferFormat::Aegis => Self::Aegis,
            TransferFormat::TwoFas => Self::TwoFas,
        }
    }
}

impl From<Format> for TransferFormat {
    fn from(format: Format) -> Self {
        match format {
            Format::OtpauthList => Self::OtpauthList,
            Format::TesseraBackup => Self::TesseraBackup,
            Format::GoogleMigration => Self::GoogleMigration,
            Format::Aegis => Self::Aegis,
            Format::TwoFas => Self::TwoFas,
        }
    }
}

/// An account an import or a transfer would add (or skips), as the UI
/// lists it: never its secret.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct PreviewAccount {
    /// "Issuer (label)", or whichever of the two there is.
    pub name: String,
    /// The service; may be empty.
    pub issuer: String,
    /// The account name at the service.
    pub label: String,
    /// TOTP, HOTP or Steam.
    pub kind: Option<OtpKind>,
    /// True when the secret is shorter than 128 bits.
    pub weak_secret: bool,
}

impl From<&Account> for PreviewAccount {
    fn from(account: &Account) -> Self {
        let otp = account.otp.as_ref();
        Self {
            name: account.display_name(),
            issuer: account.issuer.clone(),
            label: account.label.clone(),
            kind: otp.map(|o| o.params.kind),
            weak_secret: otp.is_some_and(|o| o.secret.is_weak()),
        }
    }
}

/// An entry of the file that could not be read; the others still can.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct RejectedEntry {
    /// Its 0-based position in the file (line, list entry…).
    pub index: u32,
    /// Why it was refused (never its secret).
    pub reason: String,
}

/// What an import would do: show it, then apply or discard the session.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct ImportPreview {
    /// The format the file was read as.
    pub format: TransferFormat,
    /// The accounts `apply_import` adds, in file order.
    pub new_accounts: Vec<PreviewAccount>,
    /// Accounts already in the vault (or repeated in the file): skipped.
    pub duplicates: Vec<PreviewAccount>,
    /// Entries that could not be read: skipped.
    pub rejected: Vec<RejectedEntry>,
}

/// A read import file, waiting for the user's word: holds the parsed
/// accounts, so that `apply_import` adds exactly what `preview()` showed.
/// Single use; `discard()` (or closing it) wipes the accounts.
#[derive(uniffi::Object)]
pub struct ImportSession {
    owner: Weak<Authenticator>,
    preview: ImportPreview,
    /// The new accounts of the preview; `None` once applied or discarded.
    accounts: Mutex<Option<Vec<Account>>>,
}

#[uniffi::export]
impl ImportSession {
    /// What applying this session would add and skip.
    pub fn preview(&self) -> ImportPreview {
        self.preview.clone()
    }

    /// Forgets the accounts read (wiped from memory). Applying it afterwards
    /// fails. Idempotent.
    pub fn discard(&self) {
        *lock(&self.accounts) = None;
    }
}

/// Something an export format cannot carry for one account.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct ExportWarning {
    /// The account concerned.
    pub account_id: String,
    /// Its "Issuer (label)".
    pub account_name: String,
    /// What is lost, and what happens to the account when forced.
    pub what: String,
}

/// An export's bytes, already read back and compared with the vault.
#[derive(Clone, PartialEq, Eq, uniffi::Record)]
pub struct ExportedFile {
    /// The file to write (it holds the secrets: encrypted for Tessera
    /// backups and password-protected Aegis files, plain otherwise).
    pub bytes: Vec<u8>,
    /// How many accounts it holds.
    pub accounts: u32,
    /// What was left out (empty unless `force` was needed; for backups,
    /// the push-only accounts, whose pairings are never backed up).
    pub warnings: Vec<ExportWarning>,
    /// True when anyone who reads the file can make the codes: tell the user.
    pub unencrypted: bool,
}

impl std::fmt::Debug for ExportedFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ExportedFile")
            .field("bytes", &format_args!("<{} bytes>", self.bytes.len()))
            .field("accounts", &self.accounts)
            .field("warnings", &self.warnings)
            .field("unencrypted", &self.unencrypted)
            .finish()
    }
}

/// What the QR code of a transfer shows, and where the data will come.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct TransferInvite {
    /// The `tessera-transfer://receive?…` URI: show it as a QR code for the
    /// old device to scan. It names an ephemeral public key, never a secret.
    pub uri: String,
    /// The mailbox's server, or `None` when the data comes as a file.
    pub server: Option<String>,
    /// When the mailbox expires (server time, seconds since the epoch).
    pub expires_at: Option<u64>,
    /// True: the invite carries a push key, so the old device can hand
    /// push pairings over.
    pub accepts_push_handoff: bool,
}

/// A push pairing the old device handed off.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct HandoffPreview {
    /// "Issuer (account)".
    pub name: String,
    /// The push server.
    pub server: String,
    /// The user name at the site.
    pub user: String,
    /// False when this device already has a pairing for that account: it
    /// is left as it is and the old device keeps its own.
    pub will_move: bool,
}

/// What arrived: compare `confirmation_code` with the old device's screen
/// before calling `apply` with it.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct ReceivedTransfer {
    /// The 6-digit code both devices show.
    pub confirmation_code: String,
    /// The accounts `apply` adds.
    pub new_accounts: Vec<PreviewAccount>,
    /// Accounts already on this device: skipped.
    pub duplicates: Vec<PreviewAccount>,
    /// Push pairings handed off with the accounts.
    pub push_handoffs: Vec<HandoffPreview>,
}

/// A push hand-off that could not be claimed.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct HandoffFailure {
    /// "Issuer (account)".
    pub name: String,
    /// Why; the pairing stays on the old device (pair again, or hand off
    /// again).
    pub reason: String,
}

/// What `apply` did.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct TransferApplied {
    /// The ids of the accounts added.
    pub added_ids: Vec<String>,
    /// How many received accounts were already here (skipped).
    pub duplicates_skipped: u32,
    /// The pairings moved to this device (the old device was signed out of
    /// them by the server).
    pub push_moved: Vec<PushAccount>,
    /// The pairings that could not be moved.
    pub push_failed: Vec<HandoffFailure>,
}

/// What the sending device did: show `confirmation_code` until the new
/// device confirmed it.
#[derive(Clone, PartialEq, Eq, uniffi::Record)]
pub struct SentTransfer {
    /// The code the new device must show (and the user types there).
    pub confirmation_code: String,
    /// How many accounts were sent, with their codes.
    pub accounts: u32,
    /// Push-only accounts that stay behind (their pairings are never
    /// copied; they move by hand-off or are paired again).
    pub push_only_left_out: u32,
    /// Push pairings handed off.
    pub handoffs: u32,
    /// Pairings that were not handed off (the invite cannot take them, the
    /// hand-off was not asked for, or a pairing's key cannot sign).
    pub pairings_not_handed_off: u32,
    /// For an invite that asks for a file (`file=1`): the encrypted data to
    /// carry to the new device. `None` when it went to the mailbox.
    pub envelope: Option<Vec<u8>>,
}

impl std::fmt::Debug for SentTransfer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SentTransfer")
            .field("accounts", &self.accounts)
            .field("push_only_left_out", &self.push_only_left_out)
            .field("handoffs", &self.handoffs)
            .field("pairings_not_handed_off", &self.pairings_not_handed_off)
            .field("envelope", &self.envelope.as_ref().map(Vec::len))
            .finish_non_exhaustive()
    }
}

// ------------------------------------------------------------------ errors

impl From<TransferError> for TesseraError {
    fn from(error: TransferError) -> Self {
        let reason = error.to_string();
        match error {
            TransferError::PasswordRequired => Self::PasswordRequired,
            TransferError::WrongPassword => Self::WrongPassword,
            TransferError::WouldLoseInformation(_) => Self::InvalidInput { reason },
            TransferError::InvalidInput(_) => Self::InvalidInput { reason },
            TransferError::Crypto(_) => Self::Internal { reason },
            TransferError::TooLarge { .. }
            | TransferError::Tampered
            | TransferError::Truncated(_)
            | TransferError::UnsupportedVersion { .. }
            | TransferError::Malformed { .. }
            | TransferError::BadEntry { .. }
            | TransferError::UnsafeParameters(_)
            | TransferError::MissingBatchParts { .. } => Self::InvalidFile { reason },
        }
    }
}

impl From<DeviceTransferError> for TesseraError {
    fn from(error: DeviceTransferError) -> Self {
        let reason = error.to_string();
        match error {
            DeviceTransferError::BadInvite(_) => Self::InvalidInput { reason },
            DeviceTransferError::Crypto(_) => Self::Internal { reason },
            DeviceTransferError::Malformed(_)
            | DeviceTransferError::TooLarge { .. }
            | DeviceTransferError::UnsupportedVersion { .. }
            | DeviceTransferError::NotForThisInvite => Self::Transfer { reason },
        }
    }
}

impl From<MailboxError> for TesseraError {
    fn from(error: MailboxError) -> Self {
        match error {
            MailboxError::Push(error) => error.into(),
            MailboxError::Busy => Self::PushRefused {
                reason: error.to_string(),
            },
            MailboxError::Used
            | MailboxError::Gone
            | MailboxError::Expired
            | MailboxError::Protocol(_) => Self::Transfer {
                reason: error.to_string(),
            },
        }
    }
}

// ------------------------------------------------------------------ helpers

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn count(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

/// "123 456" and "123-456" are how the code is read aloud or written down.
fn normalize_code(code: &str) -> String {
    code.chars()
        .filter(|c| !c.is_whitespace() && *c != '-')
        .collect()
}

/// Refuses inputs over the importers' limit before anything parses them.
fn check_size(bytes: &[u8]) -> Result<(), TesseraError> {
    if bytes.len() > MAX_INPUT_BYTES {
        return Err(TransferError::TooLarge { size: bytes.len() }.into());
    }
    Ok(())
}

/// A password from the app: `None` or empty means none.
fn password_of(password: Option<String>) -> Option<Zeroizing<String>> {
    password.filter(|p| !p.is_empty()).map(Zeroizing::new)
}

fn display_name(accounts: &[Account], id: &str) -> String {
    accounts
        .iter()
        .find(|a| a.id == id)
        .map(Account::display_name)
        .unwrap_or_default()
}

fn warning_records(accounts: &[Account], warnings: &[CoreWarning]) -> Vec<ExportWarning> {
    warnings
        .iter()
        .map(|w| ExportWarning {
            account_id: w.account_id.clone(),
            account_name: display_name(accounts, &w.account_id),
            what: w.what.clone(),
        })
        .collect()
}

/// The exporter of `format`, refusing import-only formats and passwords
/// for formats that are never encrypted.
fn exporter_for(
    format: Format,
    password: Option<&str>,
) -> Result<Box<dyn transfer::Export>, TesseraError> {
    if password.is_some() && matches!(format, Format::OtpauthList | Format::GoogleMigration) {
        return Err(TesseraError::InvalidInput {
            reason: format!("a {} is never encrypted: give no password", format.name()),
        });
    }
    format.exporter().ok_or_else(|| TesseraError::InvalidInput {
        reason: format!("{} files can only be imported", format.name()),
    })
}

/// Reads `bytes` back as `format` and checks them against the vault's
/// `accounts`: nothing refused, every account read is a distinct vault
/// account with the same secret and parameters, and every account with
/// codes that the export did not warn about is there. Returns how many
/// accounts the file holds.
fn verify(
    format: Format,
    bytes: &[u8],
    password: Option<&str>,
    accounts: &[Account],
    warnings: &[CoreWarning],
) -> Result<u32, TesseraError> {
    let failed = |problem: String| TesseraError::InvalidFile {
        reason: format!("the export does not read back as written: {problem}"),
    };
    let batch = format
        .importer()
        .import(bytes, password)
        .map_err(|e| failed(e.to_string()))?;
    if !batch.rejected.is_empty() {
        return Err(failed(format!(
            "{} entries are refused",
            batch.rejected.len()
        )));
    }
    let same = |read: &Account, account: &Account| {
        read.same_identity(account)
            && read.otp.as_ref().map(|o| o.params) == account.otp.as_ref().map(|o| o.params)
    };
    let mut matched = vec![false; accounts.len()];
    for read in &batch.accounts {
        let found = accounts
            .iter()
            .enumerate()
            .find(|(i, account)| !matched[*i] && same(read, account));
        match found {
            Some((i, _)) => matched[i] = true,
            None => {
                return Err(failed(format!(
                    "{} is not in the vault as written",
                    read.display_name()
                )));
            }
        }
    }
    for (i, account) in accounts.iter().enumerate() {
        let warned = warnings.iter().any(|w| w.account_id == account.id);
        if account.otp.is_some() && !warned && !matched[i] {
            return Err(failed(format!("{} is missing", account.display_name())));
        }
    }
    Ok(count(batch.accounts.len()))
}

impl Authenticator {
    /// A copy of the vault's accounts, so that slow work (key derivation)
    /// does not hold the vault.
    fn account_snapshot(&self) -> Result<Vec<Account>, TesseraError> {
        self.with_vault(|vault| Ok(vault.accounts().to_vec()))
    }

    fn export_checked(
        &self,
        format: Format,
        password: Option<&str>,
        force: bool,
    ) -> Result<ExportedFile, TesseraError> {
        let exporter = exporter_for(format, password)?;
        let accounts = self.account_snapshot()?;
        let exported = match exporter.export(&accounts, password, force) {
            Err(TransferError::WouldLoseInformation(warnings)) => {
                return Err(TesseraError::WouldLoseInformation {
                    warnings: warning_records(&accounts, &warnings),
                });
            }
            other => other?,
        };
        let written = verify(
            format,
            &exported.bytes,
            password,
            &accounts,
            &exported.warnings,
        )?;
        let warnings = warning_records(&accounts, &exported.warnings);
        let mut exported = exported;
        Ok(ExportedFile {
            // Moved out, not copied: the wiping buffer is left empty.
            bytes: std::mem::take(&mut *exported.bytes),
            accounts: written,
            warnings,
            unencrypted: password.is_none(),
        })
    }
}

#[uniffi::export]
impl Authenticator {
    /// Reads an import file (`format`, or detected from the bytes when
    /// `None`) and splits it against the vault: new accounts, duplicates,
    /// entries refused. Nothing is added: show `preview()` of the session,
    /// then `apply_import` it or `discard()` it. `password` is for
    /// encrypted files; without it such a file fails with
    /// `PasswordRequired`.
    pub fn preview_import(
        self: Arc<Self>,
        bytes: Vec<u8>,
        password: Option<String>,
        format: Option<TransferFormat>,
    ) -> Result<Arc<ImportSession>, TesseraError> {
        let bytes = Zeroizing::new(bytes);
        let password = password_of(password);
        check_size(&bytes)?;
        let format = match format {
            Some(format) => Format::from(format),
            None => transfer::detect(&bytes).ok_or_else(|| TesseraError::InvalidFile {
                reason: "the file is in no format Tessera can import (otpauth list, Tessera \
                         backup, Google Authenticator export, Aegis, 2FAS)"
                    .into(),
            })?,
        };
        let batch: ImportBatch = format
            .importer()
            .import(&bytes, password.as_deref().map(String::as_str))?;
        let (new, preview) = self.with_vault(|vault| {
            let split = transfer::preview(vault.accounts(), &batch);
            let new: Vec<Account> = split.new.iter().map(|a| (*a).clone()).collect();
            let preview = ImportPreview {
                format: format.into(),
                new_accounts: split.new.iter().map(|a| PreviewAccount::from(*a)).collect(),
                duplicates: split
                    .duplicates
                    .iter()
                    .map(|a| PreviewAccount::from(*a))
                    .collect(),
                rejected: batch
                    .rejected
                    .iter()
                    .map(|r| RejectedEntry {
                        index: count(r.index),
                        reason: r.reason.clone(),
                    })
                    .collect(),
            };
            Ok((new, preview))
        })?;
        Ok(Arc::new(ImportSession {
            owner: Arc::downgrade(&self),
            preview,
            accounts: Mutex::new(Some(new)),
        }))
    }

    /// Adds the new accounts of a session from this authenticator's
    /// `preview_import`, exactly as previewed, in one write: all or nothing
    /// (an account that became a duplicate since fails it with
    /// `DuplicateAccount`; preview again). Returns the ids added. A session
    /// applies once.
    pub fn apply_import(&self, session: Arc<ImportSession>) -> Result<Vec<String>, TesseraError> {
        if !std::ptr::eq(session.owner.as_ptr(), self) {
            return Err(TesseraError::InvalidInput {
                reason: "this import was previewed by another authenticator".into(),
            });
        }
        let mut slot = lock(&session.accounts);
        let accounts = slot.take().ok_or_else(|| TesseraError::InvalidInput {
            reason: "this import was already applied or discarded: preview it again".into(),
        })?;
        if accounts.is_empty() {
            return Ok(Vec::new());
        }
        let kept = accounts.clone();
        match self.with_vault(|vault| Ok(vault.add_all(accounts)?)) {
            Ok(ids) => Ok(ids),
            Err(error) => {
                // Nothing was added: the session may be applied again (after
                // an unlock, say).
                *slot = Some(kept);
                Err(error)
            }
        }
    }

    /// Exports every account as `format`, encrypted with `password` for a
    /// Tessera backup (required) or an Aegis vault (plain without one);
    /// otpauth lists and Google exports are never encrypted. When the
    /// format cannot carry everything, nothing is exported and the error
    /// `WouldLoseInformation` lists what would be lost; with `force` the
    /// export leaves that out and lists it in `warnings`. The bytes were
    /// read back and compared with the vault; after writing them, check
    /// the written file with `verify_export`.
    pub fn export_accounts(
        &self,
        format: TransferFormat,
        password: Option<String>,
        force: bool,
    ) -> Result<ExportedFile, TesseraError> {
        let password = password_of(password);
        self.export_checked(
            format.into(),
            password.as_deref().map(String::as_str),
            force,
        )
    }

    /// An encrypted Tessera backup of every account with codes, read back,
    /// decrypted and compared with the vault. Push pairings are never
    /// backed up (they hold this device's key): push-only accounts are in
    /// `warnings`. After writing the bytes, check the written file with
    /// `verify_export`.
    pub fn backup(&self, password: String) -> Result<ExportedFile, TesseraError> {
        let password = Zeroizing::new(password);
        if password.is_empty() {
            return Err(TesseraError::InvalidInput {
                reason: "a backup password cannot be empty".into(),
            });
        }
        self.export_checked(Format::TesseraBackup, Some(&password), false)
    }

    /// Reads a written export back (`bytes` as read from where the app
    /// wrote them) and compares it with the vault, as `export_accounts`
    /// and `backup` did before handing the bytes out. Returns how many
    /// accounts it holds; fails with `InvalidFile` when it does not match
    /// (delete that file and export again).
    pub fn verify_export(
        &self,
        format: TransferFormat,
        bytes: Vec<u8>,
        password: Option<String>,
    ) -> Result<u32, TesseraError> {
        let bytes = Zeroizing::new(bytes);
        let password = password_of(password);
        let format = Format::from(format);
        let exporter = exporter_for(format, password.as_deref().map(String::as_str))?;
        check_size(&bytes)?;
        let accounts = self.account_snapshot()?;
        // What the format leaves out does not depend on the encryption; a
        // backup only ever leaves out push-only accounts, which have no
        // codes to check.
        let warnings = if format == Format::TesseraBackup {
            Vec::new()
        } else {
            exporter.export(&accounts, None, true)?.warnings
        };
        verify(
            format,
            &bytes,
            password.as_deref().map(String::as_str),
            &accounts,
            &warnings,
        )
    }
}

// ------------------------------------------------------------ device to device

/// The new accounts and hand-offs of a received transfer, fixed when they
/// were first shown.
struct Pending {
    confirmation: Zeroizing<String>,
    new_accounts: Vec<Account>,
    duplicates: Vec<PreviewAccount>,
    offers: Vec<(HandoffOffer, bool)>,
    push_key: Option<SigningKey>,
    record: ReceivedTransfer,
}

/// Where a receiver is.
enum ReceiveState {
    /// The invite is out; the key waits for the envelope.
    Waiting {
        receiver: Box<Receiver>,
        mailbox: Option<Box<Mailbox>>,
    },
    /// Opened, but not shown yet (the vault was locked).
    Opened(Box<Received>),
    /// Shown: waiting for the confirmation code.
    Shown(Box<Pending>),
    /// Applied, cancelled, failed or refused: the keys are gone.
    Over,
}

/// The receiving side of a device-to-device transfer (the new device): an
/// invite to show as a QR code, the wait for the old device's data, and
/// the confirmation before anything is applied.
///
/// Made by `Authenticator::start_receive`. Flow: show `invite().uri`;
/// `wait` (mailbox) or `open_envelope` (file) until a `ReceivedTransfer`
/// comes; show its code and accounts; `apply` with the code the user reads
/// on the old device. `cancel()` ends it at any point. Single use: the keys
/// live in memory only and are dropped when it ends.
#[derive(uniffi::Object)]
pub struct TransferReceiver {
    owner: Arc<Authenticator>,
    invite: TransferInvite,
    state: AsyncMutex<ReceiveState>,
    cancelled: watch::Sender<bool>,
}

fn over() -> TesseraError {
    TesseraError::Transfer {
        reason: "this transfer is over (applied, cancelled or refused): start again".into(),
    }
}

impl TransferReceiver {
    async fn state(&self) -> Result<AsyncGuard<'_, ReceiveState>, TesseraError> {
        let mut cancelled = self.cancelled.subscribe();
        if *cancelled.borrow_and_update() {
            return Err(over());
        }
        tokio::select! {
            state = self.state.lock() => Ok(state),
            _ = cancelled.wait_for(|c| *c) => Err(over()),
        }
    }

    /// Opens the envelope (consuming the key) and shows it.
    fn open(
        &self,
        state: &mut ReceiveState,
        envelope: &[u8],
    ) -> Result<ReceivedTransfer, TesseraError> {
        let ReceiveState::Waiting { receiver, .. } = std::mem::replace(state, ReceiveState::Over)
        else {
            return Err(over());
        };
        let received = receiver.open(envelope)?;
        *state = ReceiveState::Opened(Box::new(received));
        self.show(state)
    }

    /// Splits what was opened against the vault, once; later calls return
    /// the same record.
    fn show(&self, state: &mut ReceiveState) -> Result<ReceivedTransfer, TesseraError> {
        let received = match std::mem::replace(state, ReceiveState::Over) {
            ReceiveState::Shown(pending) => {
                let record = pending.record.clone();
                *state = ReceiveState::Shown(pending);
                return Ok(record);
            }
            ReceiveState::Opened(received) => received,
            other => {
                *state = other;
                return Err(TesseraError::InvalidInput {
                    reason: "nothing was received yet".into(),
                });
            }
        };
        let split = self.owner.with_vault(|vault| {
            let batch = ImportBatch {
                accounts: received.accounts.clone(),
                rejected: Vec::new(),
            };
            let split = transfer::preview(vault.accounts(), &batch);
            let new: Vec<Account> = split.new.iter().map(|a| (*a).clone()).collect();
            let duplicates: Vec<PreviewAccount> = split
                .duplicates
                .iter()
                .map(|a| PreviewAccount::from(*a))
                .collect();
            let offers: Vec<(HandoffOffer, bool)> = received
                .handoffs
                .iter()
                .map(|offer| {
                    let free = vault.pairing_target(&offer.issuer, &offer.account).is_ok();
                    (offer.clone(), free)
                })
                .collect();
            Ok((new, duplicates, offers))
        });
        let (new_accounts, duplicates, offers) = match split {
            Ok(split) => split,
            Err(error) => {
                // Locked, say: keep what arrived and show it after an unlock.
                *state = ReceiveState::Opened(received);
                return Err(error);
            }
        };
        let received = *received;
        let record = ReceivedTransfer {
            confirmation_code: received.confirmation.clone(),
            new_accounts: new_accounts.iter().map(PreviewAccount::from).collect(),
            duplicates: duplicates.clone(),
            push_handoffs: offers
                .iter()
                .map(|(offer, free)| HandoffPreview {
                    name: offer_name(offer),
                    server: offer.server.clone(),
                    user: offer.user.clone(),
                    will_move: *free,
                })
                .collect(),
        };
        *state = ReceiveState::Shown(Box::new(Pending {
            confirmation: Zeroizing::new(received.confirmation),
            new_accounts,
            duplicates,
            offers,
            push_key: received.push_key,
            record: record.clone(),
        }));
        Ok(record)
    }
}

fn offer_name(offer: &HandoffOffer) -> String {
    if offer.issuer.is_empty() {
        offer.account.clone()
    } else {
        format!("{} ({})", offer.issuer, offer.account)
    }
}

#[uniffi::export(async_runtime = "tokio")]
impl TransferReceiver {
    /// The invite to show as a QR code, and where the data will come.
    pub fn invite(&self) -> TransferInvite {
        self.invite.clone()
    }

    /// Waits up to `timeout_ms` for the old device's data in the mailbox.
    /// `null`/`nil` when nothing came yet (call it again); the received
    /// transfer once it came (and again on every later call). Fails with
    /// `Transfer` when the mailbox expired or was taken, or the data is
    /// not for this invite, and when the receiver was cancelled.
    pub async fn wait(&self, timeout_ms: u64) -> Result<Option<ReceivedTransfer>, TesseraError> {
        let mut state = self.state().await?;
        let mailbox = match &*state {
            ReceiveState::Waiting {
                mailbox: Some(mailbox),
                ..
            } => mailbox.clone(),
            ReceiveState::Waiting { mailbox: None, .. } => {
                return Err(TesseraError::InvalidInput {
                    reason: "this invite asks for a file: pass it to open_envelope".into(),
                });
            }
            ReceiveState::Opened(_) | ReceiveState::Shown(_) => {
                return self.show(&mut state).map(Some);
            }
            ReceiveState::Over => return Err(over()),
        };
        let deadline = Instant::now() + Duration::from_millis(timeout_ms);
        let mut cancelled = self.cancelled.subscribe();
        let envelope = loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if unix_now() >= mailbox.expires_at() {
                *state = ReceiveState::Over;
                return Err(MailboxError::Expired.into());
            }
            let polled = tokio::select! {
                polled = mailbox.poll(left.min(POLL_SLICE)) => polled,
                _ = cancelled.wait_for(|c| *c) => return Err(over()),
            };
            match polled {
                Ok(Some(envelope)) => break Zeroizing::new(envelope),
                Ok(None) => {}
                Err(MailboxError::Push(error)) if error.is_transient() => {
                    tokio::time::sleep(Duration::from_secs(1).min(left)).await;
                }
                Err(error) => {
                    *state = ReceiveState::Over;
                    return Err(error.into());
                }
            }
            if Instant::now() >= deadline {
                return Ok(None);
            }
        };
        self.open(&mut state, &envelope).map(Some)
    }

    /// Opens the data of a file-mode transfer (`file=1` invites), which the
    /// user carried from the old device. Fails with `Transfer` when it is
    /// not for this invite or was altered: the transfer is then over.
    pub async fn open_envelope(&self, envelope: Vec<u8>) -> Result<ReceivedTransfer, TesseraError> {
        let envelope = Zeroizing::new(envelope);
        let mut state = self.state().await?;
        match &*state {
            ReceiveState::Waiting { mailbox: None, .. } => self.open(&mut state, &envelope),
            ReceiveState::Waiting { .. } => Err(TesseraError::InvalidInput {
                reason: "this invite waits on a mailbox: call wait".into(),
            }),
            ReceiveState::Opened(_) | ReceiveState::Shown(_) => self.show(&mut state),
            ReceiveState::Over => Err(over()),
        }
    }

    /// Applies the received transfer once the user typed the code the old
    /// device shows (spaces and dashes are ignored). A wrong code applies
    /// nothing and ends the transfer (`ConfirmationMismatch`): the data may
    /// come from someone else. With the right code, the new accounts are
    /// added (all or nothing), then each handed-off push pairing is claimed
    /// from its server as `device_name`, reached through `delivery`; a
    /// pairing that fails is reported in `push_failed` and stays on the old
    /// device.
    pub async fn apply(
        &self,
        confirmation_code: String,
        device_name: String,
        delivery: PushDelivery,
    ) -> Result<TransferApplied, TesseraError> {
        let mut state = self.state().await?;
        let pending = match std::mem::replace(&mut *state, ReceiveState::Over) {
            ReceiveState::Shown(pending) => pending,
            ReceiveState::Over => return Err(over()),
            other => {
                *state = other;
                return Err(TesseraError::InvalidInput {
                    reason: "nothing was received and shown yet: wait for it first".into(),
                });
            }
        };
        let given = Zeroizing::new(normalize_code(&confirmation_code));
        if given.as_bytes() != pending.confirmation.as_bytes() {
            // The state stays Over: the keys and the accounts are dropped.
            return Err(TesseraError::ConfirmationMismatch);
        }
        let mut added_ids: Vec<String> = Vec::new();
        if !pending.new_accounts.is_empty() {
            let accounts = pending.new_accounts.clone();
            match self.owner.with_vault(|vault| Ok(vault.add_all(accounts)?)) {
                Ok(ids) => added_ids = ids,
                Err(error) => {
                    // Nothing was added and the code was right: let the user
                    // retry (after an unlock, say).
                    *state = ReceiveState::Shown(pending);
                    return Err(error);
                }
            }
        }
        let mut push_moved = Vec::new();
        let mut push_failed = Vec::new();
        let delivery = push::Delivery::from(delivery);
        if let Some(key) = &pending.push_key {
            let clock = self.owner.push_clock();
            for (offer, _) in &pending.offers {
                let name = offer_name(offer);
                // Checked again: a claim signs the old device out, so it
                // must not be made for a pairing that cannot be stored.
                let free = self.owner.with_vault(|vault| {
                    Ok(vault
                        .pairing_target(&offer.issuer, &offer.account)
                        .map(|_| ())?)
                });
                if let Err(error) = free {
                    push_failed.push(HandoffFailure {
                        name,
                        reason: error.to_string(),
                    });
                    continue;
                }
                let claimed = push::claim_handoff(
                    &self.owner.http,
                    offer,
                    key,
                    &device_name,
                    &delivery,
                    clock.now_secs(),
                )
                .await;
                let stored = claimed.map_err(TesseraError::from).and_then(|part| {
                    self.owner.with_vault(|vault| {
                        let (id, _) = vault.add_pairing(&offer.issuer, &offer.account, part)?;
                        let account = vault.get(&id).ok_or_else(|| TesseraError::Internal {
                            reason: "the moved pairing was not stored".into(),
                        })?;
                        let part = account
                            .push
                            .as_ref()
                            .ok_or_else(|| TesseraError::Internal {
                                reason: "the moved pairing was not stored".into(),
                            })?;
                        Ok(PushAccount::of(account, part))
                    })
                });
                match stored {
                    Ok(account) => push_moved.push(account),
                    Err(error) => push_failed.push(HandoffFailure {
                        name,
                        reason: error.to_string(),
                    }),
                }
            }
        }
        Ok(TransferApplied {
            added_ids,
            duplicates_skipped: count(pending.duplicates.len()),
            push_moved,
            push_failed,
        })
    }

    /// Ends the transfer: a waiting `wait` fails, the mailbox is deleted on
    /// the server (best effort), and the keys and anything received are
    /// dropped. Idempotent.
    pub async fn cancel(&self) {
        self.cancelled.send_replace(true);
        let previous = {
            let mut state = self.state.lock().await;
            std::mem::replace(&mut *state, ReceiveState::Over)
        };
        if let ReceiveState::Waiting {
            mailbox: Some(mailbox),
            ..
        } = previous
        {
            let _ = tokio::time::timeout(CANCEL_TIMEOUT, mailbox.cancel()).await;
        }
    }
}

/// This device's clock for the mailbox's expiry (a few seconds off only
/// shortens or lengthens the wait; the server has the last word).
fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Hand-off offers for every pairing in `accounts`; a pairing whose key
/// cannot sign is counted as not handed off.
fn offers(
    accounts: &[Account],
    key: &push::PublicKey,
    clock: &Arc<dyn PushClock>,
) -> Vec<HandoffOffer> {
    accounts
        .iter()
        .filter_map(|account| {
            let part = account.push.as_ref()?;
            // Signing only: the offer travels inside the envelope.
            PushClient::new(Http::none(), part, Arc::clone(clock))
                .and_then(|client| client.handoff_offer(part, account, key))
                .ok()
        })
        .collect()
}

#[uniffi::export(async_runtime = "tokio")]
impl Authenticator {
    /// Starts receiving a transfer on this (new) device: an ephemeral key
    /// pair, a mailbox on the Tessera server at `server_url` (`https://`,
    /// or `http://` to a loopback host), or file mode when `None`, and a
    /// push key so the old device can hand push pairings over. The vault
    /// must be unlocked. Show the receiver's `invite().uri` as a QR code.
    pub async fn start_receive(
        self: Arc<Self>,
        server_url: Option<String>,
    ) -> Result<Arc<TransferReceiver>, TesseraError> {
        if !self.is_unlocked() {
            return Err(TesseraError::Locked);
        }
        let mailbox = match server_url.as_deref().map(str::trim) {
            Some(server) if !server.is_empty() => {
                Some(Box::new(Mailbox::create(self.http.clone(), server).await?))
            }
            _ => None,
        };
        let rendezvous = mailbox
            .as_ref()
            .map_or(Rendezvous::File, |m| m.rendezvous());
        let receiver = Receiver::with_push(rendezvous)?;
        let invite = TransferInvite {
            uri: receiver.invite().to_string(),
            server: match &receiver.invite().rendezvous {
                Rendezvous::Mailbox { server, .. } => Some(server.clone()),
                Rendezvous::File => None,
            },
            expires_at: mailbox.as_ref().map(|m| m.expires_at()),
            accepts_push_handoff: receiver.invite().push_key.is_some(),
        };
        let (cancelled, _) = watch::channel(false);
        Ok(Arc::new(TransferReceiver {
            owner: self,
            invite,
            state: AsyncMutex::new(ReceiveState::Waiting {
                receiver: Box::new(receiver),
                mailbox,
            }),
            cancelled,
        }))
    }

    /// Sends every account with codes to the new device whose invite
    /// (`tessera-transfer://receive?…`, from its QR code) is given,
    /// encrypted to its key. With `include_push_handoff`, each push pairing
    /// is handed off too (when the invite can take them): once the new
    /// device confirms, the pairing moves there and stops working here.
    /// Mailbox invites are delivered to the mailbox; file invites return
    /// the data in `envelope` for the user to carry over. Show
    /// `confirmation_code`: the user types it on the new device.
    pub async fn send_transfer(
        &self,
        invite_uri: String,
        include_push_handoff: bool,
    ) -> Result<SentTransfer, TesseraError> {
        let invite = Invite::parse(invite_uri.trim())?;
        let accounts = self.account_snapshot()?;
        let paired = accounts.iter().filter(|a| a.push.is_some()).count();
        let handoffs = match (&invite.push_key, include_push_handoff) {
            (Some(key), true) if paired > 0 => offers(&accounts, key, &self.push_clock()),
            _ => Vec::new(),
        };
        let sealed = device_to_device::seal_with_handoffs(&invite, &accounts, handoffs)?;
        let envelope = match &invite.rendezvous {
            Rendezvous::Mailbox { server, id } => {
                mailbox::deliver(&self.http, server, id, sealed.envelope.clone()).await?;
                None
            }
            Rendezvous::File => Some(sealed.envelope.clone()),
        };
        Ok(SentTransfer {
            confirmation_code: sealed.confirmation.clone(),
            accounts: count(sealed.accounts),
            push_only_left_out: count(sealed.push_only_left_out),
            handoffs: count(sealed.handoffs),
            pairings_not_handed_off: count(paired.saturating_sub(sealed.handoffs)),
            envelope,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_read_aloud_or_written_are_accepted() {
        assert_eq!(normalize_code(" 123 456\n"), "123456");
        assert_eq!(normalize_code("123-456"), "123456");
    }
}
