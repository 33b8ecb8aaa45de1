//! The encrypted vault: every account in one file, its key behind slots.
//!
//! A random 256-bit vault key encrypts the accounts (AES-256-GCM). Slots each
//! wrap that key: a **keystore** slot (a key-encryption key kept in the
//! platform keystore), a **password** slot (Argon2id) and a **recovery-key**
//! slot (a printed key shown once). Losing the keystore never loses accounts.
//!
//! Every change is a transaction: take the file lock, re-read the file (another
//! process may have written), apply the change, write a new generation
//! atomically, release. See `docs/vault-format.md`.

mod crypto;
mod format;
mod storage;

use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use zeroize::Zeroizing;

pub use crypto::KdfParams;
pub use format::{SlotKind, VERSION};

use crate::account::{Account, AccountId, PushPart};
use crate::keystore::{KeyStore, KeyStoreError};
use crate::otp::{Code, OtpError, OtpGenerator, OtpKind, Timestamp};
use crypto::{KEY_LEN, Key};
use format::{Contents, EncryptedVault, Header, Slot};
use storage::VaultFiles;

/// Bytes of randomness in a recovery key (160 bits).
const RECOVERY_KEY_BYTES: usize = 20;

/// Why a vault operation failed. Messages say what to do; none contains a
/// secret.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VaultError {
    /// There is no vault file at the path.
    #[error("no vault at {0} (create one first)")]
    NotFound(PathBuf),
    /// `create` found a vault already there.
    #[error("a vault already exists at {0}")]
    AlreadyExists(PathBuf),
    /// A vault file from a newer (or unknown) format version.
    #[error(
        "the vault file is format version {found}; this Tessera reads version {supported}: update Tessera",
        supported = VERSION
    )]
    UnsupportedVersion {
        /// The version found in the file.
        found: u32,
    },
    /// The file is damaged, truncated or not a vault.
    #[error("the vault file is damaged: {0}")]
    Corrupt(String),
    /// The password did not open the password slot.
    #[error("wrong password")]
    WrongPassword,
    /// The recovery key did not open the recovery slot.
    #[error("wrong recovery key")]
    WrongRecoveryKey,
    /// The vault has no slot of the kind asked for.
    #[error("this vault has no {0} slot")]
    NoSuchSlot(&'static str),
    /// The keystore no longer holds this vault's key (reset, new device…).
    #[error(
        "the keystore no longer holds this vault's key; unlock with your password or recovery key"
    )]
    KeystoreKeyMissing,
    /// The keystore could not be used.
    #[error("{0}")]
    KeyStore(#[from] KeyStoreError),
    /// A file operation failed.
    #[error("could not {action} {}: {reason}", path.display())]
    Io {
        /// What was being done.
        action: String,
        /// The file concerned.
        path: PathBuf,
        /// The operating system's reason.
        reason: String,
    },
    /// No account has this id.
    #[error("no account with id {0}")]
    AccountNotFound(AccountId),
    /// The same issuer, label and secret are already in the vault.
    #[error("{0} is already in the vault")]
    DuplicateAccount(String),
    /// The account's OTP parameters are invalid, or it has no OTP part.
    #[error("{0}")]
    Otp(#[from] OtpError),
    /// The account has no codes (a push-only account).
    #[error("{0} has no OTP codes")]
    NoCodes(String),
    /// Input the caller gave is unusable (an empty password, a bad index…).
    #[error("{0}")]
    InvalidInput(String),
    /// A cryptographic primitive failed (the system RNG, for instance).
    #[error("cryptography failed: {0}")]
    Crypto(String),
    /// The file now belongs to a different vault than the one open.
    #[error("the vault file was replaced by a different vault; open it again")]
    Replaced,
}

/// The seconds since the epoch, for metadata (never for codes).
pub(crate) fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// How to unlock a vault.
pub enum Unlock<'a> {
    /// Through the platform keystore slot.
    KeyStore(&'a dyn KeyStore),
    /// Through the password slot.
    Password(&'a str),
    /// Through the recovery-key slot (the printed key, any case, dashes optional).
    RecoveryKey(&'a str),
}

/// Which slot opened the vault.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpenedWith {
    /// The platform keystore.
    KeyStore,
    /// The password.
    Password,
    /// The recovery key.
    RecoveryKey,
    /// Just created.
    Creation,
}

/// The printed recovery key, e.g. `ABCD-EFGH-…` (8 groups of 4). Show it once.
pub struct RecoveryKey(Zeroizing<String>);

impl RecoveryKey {
    /// The key as the user should write it down.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for RecoveryKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RecoveryKey(<redacted>)")
    }
}

/// How to protect a new vault. At least one of `keystore` and `password`.
/// A recovery key is always made.
pub struct CreateOptions<'a> {
    /// Add a keystore slot in this keystore.
    pub keystore: Option<&'a dyn KeyStore>,
    /// Add a password slot with this password.
    pub password: Option<&'a str>,
    /// Argon2id cost for the password slot.
    pub kdf: KdfParams,
}

/// One slot, described for status output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SlotInfo {
    /// `keystore`, `password` or `recovery`.
    pub kind: &'static str,
    /// Details: the keystore's name or the Argon2id cost.
    pub detail: String,
}

/// What `tessera vault status` shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VaultStatus {
    /// The vault file.
    pub path: PathBuf,
    /// The file format version.
    pub format_version: u32,
    /// The vault's random id.
    pub vault_id: String,
    /// Writes so far.
    pub generation: u64,
    /// The slots.
    pub slots: Vec<SlotInfo>,
    /// How many accounts.
    pub accounts: usize,
}

/// Something the user should be told after opening (the vault still opened).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OpenWarning {
    /// The current file was unreadable; the previous generation was used.
    /// The damaged file is moved aside (not deleted) on the next change.
    UsedPreviousGeneration {
        /// Why the current file was refused.
        reason: String,
    },
}

impl std::fmt::Display for OpenWarning {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::UsedPreviousGeneration { reason } => write!(
                f,
                "the current vault file could not be used ({reason}); opened the previous generation instead (the current file is kept, never deleted)"
            ),
        }
    }
}

/// The state read from disk: header, accounts, and whether the current file
/// had to be skipped.
struct Loaded {
    encrypted: EncryptedVault,
    main_damaged: Option<String>,
    /// The current file's version when it is from a newer Tessera.
    main_newer: Option<u32>,
}

/// An open vault. Holds the vault key in memory (zeroized on drop).
pub struct Vault {
    files: VaultFiles,
    vault_key: Key,
    header: Header,
    contents: Contents,
    generators: Vec<Option<OtpGenerator>>,
    opened_with: OpenedWith,
    warnings: Vec<OpenWarning>,
}

impl std::fmt::Debug for Vault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Vault")
            .field("path", &self.files.main())
            .field("generation", &self.header.generation)
            .field("accounts", &self.contents.accounts.len())
            .finish_non_exhaustive()
    }
}

fn load(files: &VaultFiles) -> Result<Loaded, VaultError> {
    let main_error = match files.read_main()? {
        None if files.read_previous()?.is_none() => {
            return Err(VaultError::NotFound(files.main().to_path_buf()));
        }
        None => VaultError::Corrupt("the vault file is missing".into()),
        Some(bytes) => match EncryptedVault::parse(&bytes) {
            Ok(encrypted) => {
                return Ok(Loaded {
                    encrypted,
                    main_damaged: None,
                    main_newer: None,
                });
            }
            Err(error) => error,
        },
    };
    // A file from a newer Tessera is read through the previous generation
    // but never replaced: writing would undo the newer app's changes.
    let main_newer = match main_error {
        VaultError::UnsupportedVersion { found } => Some(found),
        _ => None,
    };
    match files.read_previous()?.map(|b| EncryptedVault::parse(&b)) {
        Some(Ok(encrypted)) => Ok(Loaded {
            encrypted,
            main_damaged: Some(main_error.to_string()),
            main_newer,
        }),
        _ => Err(main_error),
    }
}

/// Decrypts what [`load`] found. When the current file parses but its
/// contents fail authentication (a flipped bit in the payload or the header),
/// the previous generation of the same vault is used instead, as for a file
/// that does not parse.
fn decrypt_loaded(
    files: &VaultFiles,
    loaded: Loaded,
    vault_key: &[u8; KEY_LEN],
) -> Result<(Loaded, Contents), VaultError> {
    let error = match loaded.encrypted.decrypt(vault_key) {
        Ok(contents) => return Ok((loaded, contents)),
        Err(error @ VaultError::Corrupt(_)) if loaded.main_damaged.is_none() => error,
        Err(error) => return Err(error),
    };
    let previous = match files.read_previous()?.map(|b| EncryptedVault::parse(&b)) {
        Some(Ok(previous)) if previous.header.vault_id == loaded.encrypted.header.vault_id => {
            previous
        }
        _ => return Err(error),
    };
    match previous.decrypt(vault_key) {
        Ok(contents) => Ok((
            Loaded {
                encrypted: previous,
                main_damaged: Some(error.to_string()),
                main_newer: None,
            },
            contents,
        )),
        Err(_) => Err(error),
    }
}

/// Reads the header without unlocking: for status before a password is asked.
pub fn peek_slots(path: &Path) -> Result<Vec<SlotInfo>, VaultError> {
    Ok(load(&VaultFiles::new(path))?
        .encrypted
        .header
        .slots
        .iter()
        .map(slot_info)
        .collect())
}

fn slot_info(slot: &Slot) -> SlotInfo {
    match &slot.kind {
        SlotKind::Keystore { keystore, .. } => SlotInfo {
            kind: "keystore",
            detail: keystore.clone(),
        },
        SlotKind::Password { kdf, .. } => SlotInfo {
            kind: "password",
            detail: format!(
                "Argon2id, {} MiB, {} passes, {} lane(s)",
                kdf.memory_kib / 1024,
                kdf.iterations,
                kdf.parallelism
            ),
        },
        SlotKind::Recovery { .. } => SlotInfo {
            kind: "recovery",
            detail: "printed recovery key".into(),
        },
    }
}

fn keystore_slot(
    vault_id: &str,
    keystore: &dyn KeyStore,
    vault_key: &[u8; KEY_LEN],
) -> Result<Slot, VaultError> {
    let kek = crypto::random_key()?;
    let item = format!("{vault_id}/{}", uuid::Uuid::new_v4());
    let text = crate::secret::encode_base32(kek.as_ref());
    // The key goes into the keystore before any file refers to it.
    keystore.set(&item, &text)?;
    Slot::wrap(
        vault_id,
        SlotKind::Keystore {
            keystore: keystore.name(),
            item,
        },
        &kek,
        vault_key,
    )
}

fn password_slot(
    vault_id: &str,
    password: &str,
    kdf: KdfParams,
    vault_key: &[u8; KEY_LEN],
) -> Result<Slot, VaultError> {
    if password.is_empty() {
        return Err(VaultError::InvalidInput("the password is empty".into()));
    }
    let salt = format::new_salt()?;
    let kind = SlotKind::Password { kdf, salt };
    let probe = Slot {
        id: String::new(),
        kind: kind.clone(),
        nonce: String::new(),
        wrapped_key: String::new(),
    };
    let kek = kdf.derive(password, &probe.salt()?)?;
    Slot::wrap(vault_id, kind, &kek, vault_key)
}

fn recovery_slot(
    vault_id: &str,
    vault_key: &[u8; KEY_LEN],
) -> Result<(Slot, RecoveryKey), VaultError> {
    let secret = Zeroizing::new(crypto::random_bytes::<RECOVERY_KEY_BYTES>()?);
    let salt = format::new_salt()?;
    let kind = SlotKind::Recovery { salt: salt.clone() };
    let salt_bytes = Slot {
        id: String::new(),
        kind: kind.clone(),
        nonce: String::new(),
        wrapped_key: String::new(),
    }
    .salt()?;
    let kek = crypto::derive_recovery(secret.as_ref(), &salt_bytes)?;
    let slot = Slot::wrap(vault_id, kind, &kek, vault_key)?;
    let text = crate::secret::encode_base32(secret.as_ref());
    let grouped: Vec<&str> = text
        .as_bytes()
        .chunks(4)
        .filter_map(|c| std::str::from_utf8(c).ok())
        .collect();
    Ok((slot, RecoveryKey(Zeroizing::new(grouped.join("-")))))
}

fn parse_recovery_key(text: &str) -> Result<Zeroizing<Vec<u8>>, VaultError> {
    let normalised: Zeroizing<String> = Zeroizing::new(
        text.chars()
            .filter(|c| c.is_ascii_alphanumeric())
            .map(|c| c.to_ascii_uppercase())
            .collect(),
    );
    crate::secret::decode_base32(&normalised)
        .filter(|bytes| bytes.len() == RECOVERY_KEY_BYTES)
        .ok_or(VaultError::WrongRecoveryKey)
}

fn unlock_key(header: &Header, unlock: &Unlock<'_>) -> Result<(Key, OpenedWith), VaultError> {
    let vault_id = header.vault_id.as_str();
    let slots_of = |want: &'static str| {
        header
            .slots
            .iter()
            .filter(move |s| slot_info(s).kind == want)
    };
    match unlock {
        Unlock::KeyStore(keystore) => {
            let mut any = false;
            for slot in slots_of("keystore") {
                any = true;
                let SlotKind::Keystore { item, .. } = &slot.kind else {
                    continue;
                };
                let Some(text) = keystore.get(item)? else {
                    continue;
                };
                let kek = crate::secret::decode_base32(&text)
                    .and_then(|bytes| <[u8; KEY_LEN]>::try_from(bytes.as_slice()).ok())
                    .map(Zeroizing::new);
                if let Some(kek) = kek
                    && let Some(key) = slot.unwrap_key(vault_id, &kek)?
                {
                    return Ok((key, OpenedWith::KeyStore));
                }
            }
            if any {
                Err(VaultError::KeystoreKeyMissing)
            } else {
                Err(VaultError::NoSuchSlot("keystore"))
            }
        }
        Unlock::Password(password) => {
            let mut any = false;
            for slot in slots_of("password") {
                any = true;
                let SlotKind::Password { kdf, .. } = &slot.kind else {
                    continue;
                };
                let kek = kdf.derive(password, &slot.salt()?)?;
                if let Some(key) = slot.unwrap_key(vault_id, &kek)? {
                    return Ok((key, OpenedWith::Password));
                }
            }
            if any {
                Err(VaultError::WrongPassword)
            } else {
                Err(VaultError::NoSuchSlot("password"))
            }
        }
        Unlock::RecoveryKey(text) => {
            let secret = parse_recovery_key(text)?;
            let mut any = false;
            for slot in slots_of("recovery") {
                any = true;
                let kek = crypto::derive_recovery(&secret, &slot.salt()?)?;
                if let Some(key) = slot.unwrap_key(vault_id, &kek)? {
                    return Ok((key, OpenedWith::RecoveryKey));
                }
            }
            if any {
                Err(VaultError::WrongRecoveryKey)
            } else {
                Err(VaultError::NoSuchSlot("recovery"))
            }
        }
    }
}

fn build_generators(contents: &Contents) -> Vec<Option<OtpGenerator>> {
    contents
        .accounts
        .iter()
        .map(|a| a.otp.as_ref().and_then(|otp| otp.generator().ok()))
        .collect()
}

impl Vault {
    /// Creates a new vault at `path` with a keystore and/or password slot and
    /// a recovery-key slot. Returns the recovery key: show it once.
    pub fn create(
        path: &Path,
        options: CreateOptions<'_>,
    ) -> Result<(Self, RecoveryKey), VaultError> {
        if options.keystore.is_none() && options.password.is_none() {
            return Err(VaultError::InvalidInput(
                "a vault needs a keystore or a password".into(),
            ));
        }
        let files = VaultFiles::new(path);
        let lock = files.lock()?;
        if files.exists() || files.previous().exists() {
            return Err(VaultError::AlreadyExists(path.to_path_buf()));
        }
        let vault_key = crypto::random_key()?;
        let vault_id = uuid::Uuid::new_v4().to_string();
        let mut slots = Vec::new();
        if let Some(keystore) = options.keystore {
            slots.push(keystore_slot(&vault_id, keystore, &vault_key)?);
        }
        if let Some(password) = options.password {
            slots.push(password_slot(&vault_id, password, options.kdf, &vault_key)?);
        }
        let (recovery, recovery_key) = recovery_slot(&vault_id, &vault_key)?;
        slots.push(recovery);
        let now = unix_now();
        let header = Header {
            vault_id,
            generation: 1,
            created_at: now,
            written_at: now,
            slots,
        };
        let contents = Contents::default();
        files.write(
            &format::encode(&header, &contents, &vault_key)?,
            false,
            &lock,
        )?;
        let vault = Self {
            files,
            vault_key,
            header,
            generators: Vec::new(),
            contents,
            opened_with: OpenedWith::Creation,
            warnings: Vec::new(),
        };
        Ok((vault, recovery_key))
    }

    /// Opens the vault at `path`. A damaged current file falls back to the
    /// previous generation (see [`Vault::warnings`]).
    pub fn open(path: &Path, unlock: Unlock<'_>) -> Result<Self, VaultError> {
        let files = VaultFiles::new(path);
        let loaded = load(&files)?;
        let (vault_key, opened_with) = unlock_key(&loaded.encrypted.header, &unlock)?;
        let (loaded, contents) = decrypt_loaded(&files, loaded, &vault_key)?;
        let warnings = loaded
            .main_damaged
            .map(|reason| OpenWarning::UsedPreviousGeneration { reason })
            .into_iter()
            .collect();
        Ok(Self {
            files,
            vault_key,
            header: loaded.encrypted.header,
            generators: build_generators(&contents),
            contents,
            opened_with,
            warnings,
        })
    }

    /// Which slot opened the vault.
    pub fn opened_with(&self) -> OpenedWith {
        self.opened_with
    }

    /// What the user should be told about how the vault was opened.
    pub fn warnings(&self) -> &[OpenWarning] {
        &self.warnings
    }

    /// The vault file's path.
    pub fn path(&self) -> &Path {
        self.files.main()
    }

    /// Accounts in display order.
    pub fn accounts(&self) -> &[Account] {
        &self.contents.accounts
    }

    /// The account with this id.
    pub fn get(&self, id: &str) -> Option<&Account> {
        self.contents.accounts.iter().find(|a| a.id == id)
    }

    /// Accounts matching a query (see [`Account::matches`]); an exact display
    /// name or id match wins over partial matches.
    pub fn find(&self, query: &str) -> Vec<&Account> {
        let exact: Vec<&Account> = self
            .contents
            .accounts
            .iter()
            .filter(|a| a.id == query || a.display_name().eq_ignore_ascii_case(query))
            .collect();
        if !exact.is_empty() {
            return exact;
        }
        self.contents
            .accounts
            .iter()
            .filter(|a| a.matches(query))
            .collect()
    }

    /// The codes of every time-based account at `now`, in display order, from
    /// keys prepared once. HOTP accounts give `None`: their next code must be
    /// taken with [`Vault::next_hotp_code`] so the counter is saved first.
    pub fn codes_at(&self, now: Timestamp) -> Vec<(&Account, Option<Code>)> {
        self.contents
            .accounts
            .iter()
            .zip(&self.generators)
            .map(|(account, generator)| {
                let code = generator
                    .as_ref()
                    .filter(|g| g.params().is_time_based())
                    .map(|g| g.code_at(now));
                (account, code)
            })
            .collect()
    }

    /// The current code of one time-based account.
    pub fn code_at(&self, id: &str, now: Timestamp) -> Result<Code, VaultError> {
        let account = self
            .get(id)
            .ok_or_else(|| VaultError::AccountNotFound(id.to_string()))?;
        let otp = account
            .otp
            .as_ref()
            .ok_or_else(|| VaultError::NoCodes(account.display_name()))?;
        if otp.params.kind == OtpKind::Hotp {
            return Err(VaultError::InvalidInput(format!(
                "{} is counter-based (HOTP): take its next code instead",
                account.display_name()
            )));
        }
        Ok(otp.code_at(now)?)
    }

    /// Takes the next HOTP code: the counter increment is written to disk
    /// before the code is returned, so a code is never shown twice.
    pub fn next_hotp_code(&mut self, id: &str) -> Result<Code, VaultError> {
        let id = id.to_string();
        self.transact(move |contents| {
            let account = find_mut(contents, &id)?;
            let name = account.display_name();
            let otp = account
                .otp
                .as_mut()
                .ok_or(VaultError::NoCodes(name.clone()))?;
            if otp.params.kind != OtpKind::Hotp {
                return Err(VaultError::InvalidInput(format!(
                    "{name} is time-based, not HOTP"
                )));
            }
            let counter = otp.params.counter;
            let code = otp.code_at(Timestamp::from_unix_secs(0))?;
            otp.params.counter = counter.checked_add(1).ok_or(OtpError::CounterExhausted)?;
            account.updated_at = unix_now();
            Ok(code)
        })
    }

    /// Adds an account at the end. Refuses an exact duplicate (same issuer,
    /// label and secret) and invalid OTP parameters.
    pub fn add(&mut self, account: Account) -> Result<(), VaultError> {
        self.add_all(vec![account]).map(drop)
    }

    /// Adds accounts at the end in one write: all or nothing. Refuses any
    /// duplicate (of the vault or within the batch) and invalid parameters.
    /// An account whose id is already taken by a different account (a
    /// backup restored after the original was renamed, say) gets a fresh id;
    /// the ids as stored are returned, in order.
    pub fn add_all(&mut self, accounts: Vec<Account>) -> Result<Vec<AccountId>, VaultError> {
        for account in &accounts {
            if let Some(otp) = &account.otp {
                otp.params.validate()?;
            }
            if let Some(push) = &account.push {
                check_push_part(push)?;
            }
        }
        self.transact(move |contents| {
            let mut ids = Vec::with_capacity(accounts.len());
            for mut account in accounts {
                if contents.accounts.iter().any(|a| a.same_identity(&account)) {
                    return Err(VaultError::DuplicateAccount(account.display_name()));
                }
                if contents.accounts.iter().any(|a| a.id == account.id) {
                    account.id = uuid::Uuid::new_v4().to_string();
                }
                ids.push(account.id.clone());
                contents.accounts.push(account);
            }
            Ok(ids)
        })
    }

    /// Removes an account and returns it.
    pub fn remove(&mut self, id: &str) -> Result<Account, VaultError> {
        let id = id.to_string();
        self.transact(move |contents| {
            let index = position(contents, &id)?;
            Ok(contents.accounts.remove(index))
        })
    }

    /// Changes issuer and/or label.
    pub fn rename(
        &mut self,
        id: &str,
        issuer: Option<String>,
        label: Option<String>,
    ) -> Result<(), VaultError> {
        let id = id.to_string();
        self.transact(move |contents| {
            let account = find_mut(contents, &id)?;
            if let Some(issuer) = issuer {
                account.issuer = issuer;
            }
            if let Some(label) = label {
                account.label = label;
            }
            account.updated_at = unix_now();
            Ok(())
        })
    }

    /// Replaces an account's tags (trimmed, empty ones dropped, deduplicated).
    pub fn set_tags(&mut self, id: &str, tags: Vec<String>) -> Result<(), VaultError> {
        let id = id.to_string();
        self.transact(move |contents| {
            let account = find_mut(contents, &id)?;
            let mut clean: Vec<String> = Vec::new();
            for tag in tags.iter().map(|t| t.trim()).filter(|t| !t.is_empty()) {
                if !clean.iter().any(|c| c == tag) {
                    clean.push(tag.to_string());
                }
            }
            account.tags = clean;
            account.updated_at = unix_now();
            Ok(())
        })
    }

    /// Moves an account to `index` in the display order.
    pub fn move_to(&mut self, id: &str, index: usize) -> Result<(), VaultError> {
        let id = id.to_string();
        self.transact(move |contents| {
            let from = position(contents, &id)?;
            if index >= contents.accounts.len() {
                return Err(VaultError::InvalidInput(format!(
                    "position {} is past the end (there are {} accounts)",
                    index + 1,
                    contents.accounts.len()
                )));
            }
            let account = contents.accounts.remove(from);
            contents.accounts.insert(index, account);
            Ok(())
        })
    }

    /// The accounts paired with a push server, in display order.
    pub fn push_accounts(&self) -> Vec<&Account> {
        self.contents
            .accounts
            .iter()
            .filter(|a| a.push.is_some())
            .collect()
    }

    /// Where a new pairing for `issuer` and `label` would go: `Ok(Some)`
    /// the existing account (same issuer and label, exactly) it would be
    /// attached to, `Ok(None)` a new push-only account. Refused with
    /// [`VaultError::InvalidInput`] when that account is already paired
    /// (unpair it first). Call it before enrolling, so a refused pairing
    /// does not use up the site's one-time code.
    pub fn pairing_target(
        &self,
        issuer: &str,
        label: &str,
    ) -> Result<Option<&Account>, VaultError> {
        match self
            .contents
            .accounts
            .iter()
            .find(|a| a.issuer == issuer && a.label == label)
        {
            Some(account) if account.push.is_some() => Err(already_paired(account)),
            found => Ok(found),
        }
    }

    /// Stores a new pairing: attached to the account with the same issuer
    /// and label when there is one without a push part, else as a new
    /// push-only account (see [`Vault::pairing_target`]). Returns the id of
    /// the account holding it, and whether it was attached to an existing
    /// account.
    pub fn add_pairing(
        &mut self,
        issuer: &str,
        label: &str,
        part: PushPart,
    ) -> Result<(AccountId, bool), VaultError> {
        check_push_part(&part)?;
        let (issuer, label) = (issuer.to_string(), label.to_string());
        self.transact(move |contents| {
            let now = unix_now();
            match contents
                .accounts
                .iter_mut()
                .find(|a| a.issuer == issuer && a.label == label)
            {
                Some(account) if account.push.is_some() => Err(already_paired(account)),
                Some(account) => {
                    account.push = Some(part);
                    account.updated_at = now;
                    Ok((account.id.clone(), true))
                }
                None => {
                    let account = Account::from_pairing(issuer, label, part, now);
                    let id = account.id.clone();
                    contents.accounts.push(account);
                    Ok((id, false))
                }
            }
        })
    }

    /// Sets (or replaces) the push part of an account.
    pub fn set_push(&mut self, id: &str, part: PushPart) -> Result<(), VaultError> {
        check_push_part(&part)?;
        let id = id.to_string();
        self.transact(move |contents| {
            let account = find_mut(contents, &id)?;
            account.push = Some(part);
            account.updated_at = unix_now();
            Ok(())
        })
    }

    /// Removes an account's push part. A push-only account is removed
    /// with it (it would hold nothing); returns true in that case.
    pub fn clear_push(&mut self, id: &str) -> Result<bool, VaultError> {
        let id = id.to_string();
        self.transact(move |contents| {
            let index = position(contents, &id)?;
            let account = &mut contents.accounts[index];
            if account.push.is_none() {
                return Err(VaultError::InvalidInput(format!(
                    "{} is not paired for push",
                    account.display_name()
                )));
            }
            if account.otp.is_none() {
                contents.accounts.remove(index);
                return Ok(true);
            }
            account.push = None;
            account.updated_at = unix_now();
            Ok(false)
        })
    }

    /// Adds or replaces the password slot.
    pub fn set_password(&mut self, password: &str, kdf: KdfParams) -> Result<(), VaultError> {
        let slot = password_slot(&self.header.vault_id, password, kdf, &self.vault_key)?;
        self.transact_slots(move |slots| {
            slots.retain(|s| !matches!(s.kind, SlotKind::Password { .. }));
            slots.push(slot);
            Ok(())
        })
    }

    /// Removes the password slot; refused when it is the only way in besides
    /// the recovery key and no keystore slot exists.
    pub fn remove_password(&mut self) -> Result<(), VaultError> {
        self.transact_slots(|slots| {
            if !slots.iter().any(|s| matches!(s.kind, SlotKind::Keystore { .. })) {
                return Err(VaultError::InvalidInput(
                    "the password is the only everyday way in (no keystore slot); set up the keystore first".into(),
                ));
            }
            slots.retain(|s| !matches!(s.kind, SlotKind::Password { .. }));
            Ok(())
        })
    }

    /// Replaces the recovery key with a new one and returns it (show it once).
    /// The old key stops working.
    pub fn new_recovery_key(&mut self) -> Result<RecoveryKey, VaultError> {
        let (slot, key) = recovery_slot(&self.header.vault_id, &self.vault_key)?;
        self.transact_slots(move |slots| {
            slots.retain(|s| !matches!(s.kind, SlotKind::Recovery { .. }));
            slots.push(slot);
            Ok(())
        })?;
        Ok(key)
    }

    /// Makes sure `keystore` can open this vault: when no keystore slot
    /// works with it (none yet, or the keystore lost its key), a fresh one
    /// replaces the old keystore slots. Returns true when a slot was made.
    pub fn ensure_keystore_slot(&mut self, keystore: &dyn KeyStore) -> Result<bool, VaultError> {
        match unlock_key(&self.header, &Unlock::KeyStore(keystore)) {
            Ok(_) => return Ok(false),
            Err(VaultError::KeystoreKeyMissing | VaultError::NoSuchSlot(_)) => {}
            Err(other) => return Err(other),
        }
        let slot = keystore_slot(&self.header.vault_id, keystore, &self.vault_key)?;
        let stale: Vec<String> = self
            .header
            .slots
            .iter()
            .filter_map(|s| match &s.kind {
                SlotKind::Keystore { item, .. } => Some(item.clone()),
                _ => None,
            })
            .collect();
        self.transact_slots(move |slots| {
            slots.retain(|s| !matches!(s.kind, SlotKind::Keystore { .. }));
            slots.push(slot);
            Ok(())
        })?;
        for item in stale {
            // Best effort: the vault no longer refers to these items.
            let _ = keystore.delete(&item);
        }
        Ok(true)
    }

    /// Status for display.
    pub fn status(&self) -> VaultStatus {
        VaultStatus {
            path: self.files.main().to_path_buf(),
            format_version: VERSION,
            vault_id: self.header.vault_id.clone(),
            generation: self.header.generation,
            slots: self.header.slots.iter().map(slot_info).collect(),
            accounts: self.contents.accounts.len(),
        }
    }

    /// Re-reads the vault from disk (another process may have changed it).
    pub fn reload(&mut self) -> Result<(), VaultError> {
        let loaded = load(&self.files)?;
        if loaded.encrypted.header.vault_id != self.header.vault_id {
            return Err(VaultError::Replaced);
        }
        let (loaded, contents) = decrypt_loaded(&self.files, loaded, &self.vault_key)?;
        self.contents = contents;
        self.header = loaded.encrypted.header;
        self.generators = build_generators(&self.contents);
        Ok(())
    }

    /// Runs a change on the freshest contents under the lock and writes it.
    fn transact<T>(
        &mut self,
        change: impl FnOnce(&mut Contents) -> Result<T, VaultError>,
    ) -> Result<T, VaultError> {
        self.transact_all(|_, contents| change(contents))
    }

    fn transact_slots(
        &mut self,
        change: impl FnOnce(&mut Vec<Slot>) -> Result<(), VaultError>,
    ) -> Result<(), VaultError> {
        self.transact_all(|header, _| change(&mut header.slots))
    }

    fn transact_all<T>(
        &mut self,
        change: impl FnOnce(&mut Header, &mut Contents) -> Result<T, VaultError>,
    ) -> Result<T, VaultError> {
        let lock = self.files.lock()?;
        let loaded = load(&self.files)?;
        if let Some(found) = loaded.main_newer {
            return Err(VaultError::UnsupportedVersion { found });
        }
        if loaded.encrypted.header.vault_id != self.header.vault_id {
            return Err(VaultError::Replaced);
        }
        let (loaded, mut contents) = decrypt_loaded(&self.files, loaded, &self.vault_key)?;
        let mut header = loaded.encrypted.header;
        let result = change(&mut header, &mut contents)?;
        header.generation += 1;
        header.written_at = unix_now();
        let bytes = format::encode(&header, &contents, &self.vault_key)?;
        self.files
            .write(&bytes, loaded.main_damaged.is_some(), &lock)?;
        drop(lock);
        self.header = header;
        self.generators = build_generators(&contents);
        self.contents = contents;
        self.warnings.clear();
        Ok(result)
    }
}

fn already_paired(account: &Account) -> VaultError {
    VaultError::InvalidInput(format!(
        "{} is already paired for push: unpair it first",
        account.display_name()
    ))
}

/// A push part must hold a usable key before it is written.
fn check_push_part(part: &PushPart) -> Result<(), VaultError> {
    part.device_key()
        .map(|_| ())
        .map_err(|_| VaultError::InvalidInput("the push pairing's device key is unusable".into()))
}

fn position(contents: &Contents, id: &str) -> Result<usize, VaultError> {
    contents
        .accounts
        .iter()
        .position(|a| a.id == id)
        .ok_or_else(|| VaultError::AccountNotFound(id.to_string()))
}

fn find_mut<'a>(contents: &'a mut Contents, id: &str) -> Result<&'a mut Account, VaultError> {
    let index = position(contents, id)?;
    Ok(&mut contents.accounts[index])
}
