//! The `Authenticator` façade: one object per app profile.

use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tessera_core::clock::{self, ClockReading, SourceSpec, TrustedClock};
use tessera_core::http::Http;
use tessera_core::vault::{CreateOptions, KdfParams, Unlock, Vault};
use tessera_core::{Account, KeyStore, OtpKind, OtpauthUri, PlatformKeyStore, Timestamp};

use crate::TesseraError;
use crate::http::{ForeignTransport, HttpTransport};
use crate::records::{AccountRecord, AddedAccount, ClockInfo, CodeRecord, SlotRecord, VaultInfo};
use crate::storage::{ForeignKeyStore, SecureStorage};

/// How long `sync_clock` waits for the time sources.
const SYNC_TIMEOUT: Duration = Duration::from_secs(3);

/// Settings for an [`Authenticator`].
#[derive(Debug, Clone, uniffi::Record)]
pub struct AuthenticatorConfig {
    /// A private folder for the vault and the clock state (e.g. Android's
    /// `filesDir`, iOS's Application Support).
    pub data_dir: String,
    /// When no `SecureStorage` is given, use the platform keystore through
    /// keyring-core (desktop, or a mobile app that set it up).
    #[uniffi(default = false)]
    pub use_platform_keystore: bool,
    /// Time sources (`ntp://…`, `https://…`); `None` for the defaults, an
    /// empty list to never ask the network.
    #[uniffi(default = None)]
    pub time_sources: Option<Vec<String>>,
    /// Correct codes for device clock drift.
    #[uniffi(default = true)]
    pub time_correction: bool,
}

/// Tessera for one profile: the vault, its accounts and codes, and the
/// trusted clock.
///
/// Every method is safe to call from many threads. All but `sync_clock` are
/// quick but may touch disk or the keystore, so call them off the UI thread.
#[derive(uniffi::Object)]
pub struct Authenticator {
    vault_path: PathBuf,
    keystore: Option<Arc<dyn KeyStore>>,
    keystore_problem: Option<String>,
    /// Shared with the push clients, which judge expiry and date their
    /// request proofs by it.
    pub(crate) clock: Arc<TrustedClock>,
    /// The app's HTTP transport, or none (every network call then fails
    /// saying so).
    pub(crate) http: Http,
    vault: Mutex<Option<Vault>>,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding the lock leaves the data as consistent as the
    // vault's own transactions make it; keep serving rather than poisoning.
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Authenticator {
    pub(crate) fn with_vault<T>(
        &self,
        f: impl FnOnce(&mut Vault) -> Result<T, TesseraError>,
    ) -> Result<T, TesseraError> {
        let mut guard = lock(&self.vault);
        let vault = guard.as_mut().ok_or(TesseraError::Locked)?;
        f(vault)
    }

    fn keystore(&self) -> Result<&dyn KeyStore, TesseraError> {
        self.keystore
            .as_deref()
            .ok_or_else(|| TesseraError::KeystoreUnavailable {
                reason: self
                    .keystore_problem
                    .clone()
                    .unwrap_or_else(|| "no keystore is configured".into()),
            })
    }

    fn opened(&self, vault: Vault) {
        *lock(&self.vault) = Some(vault);
    }

    /// Keeps a vault opened by password or recovery key, first trying to
    /// give the secure storage a working key again. That is best effort: a
    /// storage that needs user authentication or is broken must not lock
    /// the user out of a vault they just opened; the next keystore unlock
    /// reports its failure.
    fn opened_restoring_keystore(&self, mut vault: Vault) {
        if let Some(keystore) = self.keystore.as_deref() {
            let _ = vault.ensure_keystore_slot(keystore);
        }
        self.opened(vault);
    }
}

#[uniffi::export]
impl Authenticator {
    /// Sets up an authenticator over `config.data_dir`. Nothing is unlocked
    /// yet: call `create_vault` the first time, then an `unlock_…` method.
    ///
    /// `storage` keeps the vault's keystore key (`null`/`nil`: passwords
    /// only, or the platform keystore when the config asks for it). `http`
    /// is the app's HTTP client for HTTPS time sources, push approval and
    /// transfers; without one those fail with a plain error (NTP time
    /// sources still work).
    #[uniffi::constructor]
    pub fn new(
        config: AuthenticatorConfig,
        storage: Option<Arc<dyn SecureStorage>>,
        http: Option<Arc<dyn HttpTransport>>,
    ) -> Result<Arc<Self>, TesseraError> {
        let dir = PathBuf::from(&config.data_dir);
        if config.data_dir.is_empty() {
            return Err(TesseraError::InvalidInput {
                reason: "data_dir is empty".into(),
            });
        }
        let sources = match &config.time_sources {
            None => clock::default_sources(),
            Some(list) => list
                .iter()
                .map(|s| SourceSpec::parse(s))
                .collect::<Result<_, _>>()?,
        };
        let (keystore, keystore_problem): (Option<Arc<dyn KeyStore>>, Option<String>) =
            match (storage, config.use_platform_keystore) {
                (Some(storage), _) => (Some(Arc::new(ForeignKeyStore(storage))), None),
                (None, true) => match PlatformKeyStore::connect() {
                    Ok(store) => (Some(Arc::new(store)), None),
                    Err(e) => (None, Some(e.to_string())),
                },
                (None, false) => (None, Some("no secure storage was given".into())),
            };
        let http = match http {
            Some(transport) => Http::new(Arc::new(ForeignTransport(transport))),
            None => Http::none(),
        };
        // A damaged clock file only means "time unknown until the next sync".
        let (clock, _) = TrustedClock::new(
            sources,
            http.clone(),
            config.time_correction,
            Some(dir.join("clock.json")),
        );
        Ok(Arc::new(Self {
            vault_path: dir.join("vault.json"),
            keystore,
            keystore_problem,
            clock: Arc::new(clock),
            http,
            vault: Mutex::new(None),
        }))
    }

    /// True when a vault exists in the data folder.
    pub fn vault_exists(&self) -> bool {
        let mut previous = self.vault_path.clone().into_os_string();
        previous.push(".prev");
        self.vault_path.exists() || PathBuf::from(previous).exists()
    }

    /// True when the vault is open.
    pub fn is_unlocked(&self) -> bool {
        lock(&self.vault).is_some()
    }

    /// Creates the vault, protected by the secure storage (when there is one)
    /// and/or `password`, and unlocks it. Returns the recovery key: show it
    /// once and ask the user to write it down.
    pub fn create_vault(&self, password: Option<String>) -> Result<String, TesseraError> {
        let options = CreateOptions {
            keystore: self.keystore.as_deref(),
            password: password.as_deref(),
            kdf: KdfParams::default(),
        };
        if options.keystore.is_none() && options.password.is_none() {
            return Err(TesseraError::InvalidInput {
                reason: format!(
                    "a password is needed: {}",
                    self.keystore_problem.as_deref().unwrap_or("no keystore")
                ),
            });
        }
        let (vault, recovery) = Vault::create(&self.vault_path, options)?;
        self.opened(vault);
        Ok(recovery.expose().to_string())
    }

    /// Unlocks through the secure storage (no user input).
    pub fn unlock_with_keystore(&self) -> Result<(), TesseraError> {
        let vault = Vault::open(&self.vault_path, Unlock::KeyStore(self.keystore()?))?;
        self.opened(vault);
        Ok(())
    }

    /// Unlocks with the password. When the secure storage lost its key, a
    /// fresh keystore slot is made so the next unlock needs no password.
    pub fn unlock_with_password(&self, password: String) -> Result<(), TesseraError> {
        let vault = Vault::open(&self.vault_path, Unlock::Password(&password))?;
        self.opened_restoring_keystore(vault);
        Ok(())
    }

    /// Unlocks with the recovery key (any case, dashes optional), and
    /// restores the keystore slot like `unlock_with_password`.
    pub fn unlock_with_recovery_key(&self, recovery_key: String) -> Result<(), TesseraError> {
        let vault = Vault::open(&self.vault_path, Unlock::RecoveryKey(&recovery_key))?;
        self.opened_restoring_keystore(vault);
        Ok(())
    }

    /// Closes the vault and wipes its key and secrets from memory.
    pub fn lock(&self) {
        *lock(&self.vault) = None;
    }

    /// Adds an account from an `otpauth://` URI.
    pub fn add_uri(&self, uri: String) -> Result<AddedAccount, TesseraError> {
        let mut added = self.add_uris(vec![uri])?;
        added.pop().ok_or_else(|| TesseraError::Internal {
            reason: "no account was added".into(),
        })
    }

    /// Adds accounts from several `otpauth://` URIs in one write: all or
    /// nothing (one bad or duplicate URI adds none).
    pub fn add_uris(&self, uris: Vec<String>) -> Result<Vec<AddedAccount>, TesseraError> {
        let parsed = uris
            .iter()
            .map(|text| OtpauthUri::parse(text))
            .collect::<Result<Vec<_>, _>>()?;
        let mut added = Vec::new();
        let mut accounts = Vec::new();
        for uri in parsed {
            let warnings = uri.warnings.iter().map(ToString::to_string).collect();
            let account = Account::from_uri(uri.uri, now_secs());
            added.push(AddedAccount {
                account: AccountRecord::from(&account),
                warnings,
            });
            accounts.push(account);
        }
        self.with_vault(|vault| Ok(vault.add_all(accounts)?))?;
        Ok(added)
    }

    /// Adds every account whose QR code is in an image, given as grey
    /// pixels: one byte per pixel (0 black to 255 white), row by row,
    /// `width × height` bytes. The app decodes the picture with the
    /// platform's decoder (any format it reads) and converts it to grey. All
    /// or nothing: one bad code adds none.
    pub fn add_from_qr_pixels(
        &self,
        width: u32,
        height: u32,
        grey: Vec<u8>,
    ) -> Result<Vec<AddedAccount>, TesseraError> {
        self.add_uris(tessera_core::qr::decode_grey(width, height, &grey)?)
    }

    /// Every account, in display order.
    pub fn accounts(&self) -> Result<Vec<AccountRecord>, TesseraError> {
        self.with_vault(|vault| Ok(vault.accounts().iter().map(AccountRecord::from).collect()))
    }

    /// Changes an account's issuer and/or label.
    pub fn rename_account(
        &self,
        id: String,
        issuer: Option<String>,
        label: Option<String>,
    ) -> Result<(), TesseraError> {
        self.with_vault(|vault| Ok(vault.rename(&id, issuer, label)?))
    }

    /// Removes an account.
    pub fn remove_account(&self, id: String) -> Result<(), TesseraError> {
        self.with_vault(|vault| vault.remove(&id).map(|_| ()).map_err(Into::into))
    }

    /// Moves an account to `position` (0 is the top).
    pub fn move_account(&self, id: String, position: u32) -> Result<(), TesseraError> {
        self.with_vault(|vault| Ok(vault.move_to(&id, position as usize)?))
    }

    /// Replaces an account's tags.
    pub fn set_tags(&self, id: String, tags: Vec<String>) -> Result<(), TesseraError> {
        self.with_vault(|vault| Ok(vault.set_tags(&id, tags)?))
    }

    /// The current code of every time-based account, in display order, at
    /// `now_ms` (ms since the epoch), or at the trusted time when `None`.
    /// HOTP accounts are left out: take theirs with `next_hotp_code`.
    pub fn codes(&self, now_ms: Option<u64>) -> Result<Vec<CodeRecord>, TesseraError> {
        let now = now_ms.map_or_else(|| self.trusted_now(), Timestamp::from_unix_millis);
        self.with_vault(|vault| {
            Ok(vault
                .codes_at(now)
                .into_iter()
                .filter_map(|(account, code)| code.map(|c| CodeRecord::new(&account.id, &c)))
                .collect())
        })
    }

    /// The next code of an HOTP account; the counter is saved before the
    /// code is returned.
    pub fn next_hotp_code(&self, id: String) -> Result<CodeRecord, TesseraError> {
        self.with_vault(|vault| {
            let is_hotp = vault
                .get(&id)
                .and_then(|a| a.otp.as_ref())
                .is_some_and(|o| o.params.kind == OtpKind::Hotp);
            if !is_hotp && vault.get(&id).is_some() {
                return Err(TesseraError::InvalidInput {
                    reason: "this account is time-based; use codes()".into(),
                });
            }
            Ok(CodeRecord::new(&id, &vault.next_hotp_code(&id)?))
        })
    }

    /// The trusted time now (ms since the epoch): the device clock corrected
    /// by the clock estimate when correction is on and the estimate is
    /// trusted. Countdowns must use this same instant.
    pub fn trusted_now_ms(&self) -> u64 {
        self.trusted_now().unix_millis()
    }

    /// The clock's status for the banner.
    pub fn clock_status(&self) -> ClockInfo {
        ClockInfo::from(&self.clock.status(&ClockReading::now()))
    }

    /// Adds or replaces the vault password.
    pub fn set_password(&self, password: String) -> Result<(), TesseraError> {
        self.with_vault(|vault| Ok(vault.set_password(&password, KdfParams::default())?))
    }

    /// Makes a new recovery key (the old one stops working) and returns it.
    pub fn new_recovery_key(&self) -> Result<String, TesseraError> {
        self.with_vault(|vault| Ok(vault.new_recovery_key()?.expose().to_string()))
    }

    /// Where the vault is, its format and its ways in.
    pub fn vault_info(&self) -> Result<VaultInfo, TesseraError> {
        self.with_vault(|vault| {
            let status = vault.status();
            Ok(VaultInfo {
                path: status.path.display().to_string(),
                format_version: status.format_version,
                accounts: u32::try_from(status.accounts).unwrap_or(u32::MAX),
                slots: status
                    .slots
                    .into_iter()
                    .map(|s| SlotRecord {
                        kind: s.kind.to_string(),
                        detail: s.detail,
                    })
                    .collect(),
            })
        })
    }
}

#[uniffi::export(async_runtime = "tokio")]
impl Authenticator {
    /// Asks the time sources now, keeps and saves a good estimate, and
    /// returns the new status. Fails with `Time` when no estimate could be
    /// made (offline, or the sources disagree); the previous one is kept.
    pub async fn sync_clock(&self) -> Result<ClockInfo, TesseraError> {
        if self.clock.sources().is_empty() {
            return Err(TesseraError::Time {
                reason: "no time sources are configured".into(),
            });
        }
        self.clock.sync(SYNC_TIMEOUT).await.estimate?;
        Ok(self.clock_status())
    }
}

impl Authenticator {
    fn trusted_now(&self) -> Timestamp {
        self.clock.now().0
    }
}

fn now_secs() -> u64 {
    u64::try_from(ClockReading::now().system_micros / 1_000_000).unwrap_or(0)
}
