//! Tessera's own encrypted backup: every account, every field, under a
//! password (Argon2id, then AES-256-GCM with the header as associated data).
//! The format is specified in `docs/backup-format.md`.
//!
//! Push pairings are never in a backup: they hold the device's private key,
//! and a pairing copied to a second device would let both answer prompts
//! as one. Accounts keep their OTP part and lose the push part; push-only
//! accounts are left out, each listed in [`Exported::warnings`] (without
//! refusing: this is policy, not a limit of the format), and are paired
//! again on the new device. A backup that carries push parts anyway (made
//! by hand) is read without them.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use super::{
    Export, ExportWarning, Exported, Format, Import, ImportBatch, Loss, TransferError, check_size,
    json_error, plan_export, to_json_wiping,
};
use crate::account::Account;
use crate::aead::{self as crypto, NONCE_LEN as GCM_NONCE_LEN};
use crate::vault::{KdfParams, VaultError};

/// The `format` field of every Tessera backup.
pub const FORMAT: &str = "tessera-backup";
/// The backup format version this Tessera writes and reads.
pub const VERSION: u32 = 1;
/// The only key-derivation function of version 1.
const KDF_ALGORITHM: &str = "argon2id";
/// Salt length written (bytes).
const SALT_LEN: usize = 16;
/// The shortest and longest salt accepted when reading.
const SALT_RANGE: std::ops::RangeInclusive<usize> = 16..=64;

/// The Tessera backup format, with the Argon2id cost used for writing.
#[derive(Debug, Clone, Copy, Default)]
pub struct TesseraBackup {
    /// Argon2id cost for new backups (reading uses the file's own).
    pub kdf: KdfParams,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct KdfHeader {
    algorithm: String,
    memory_kib: u32,
    iterations: u32,
    parallelism: u32,
    salt: String,
}

/// The authenticated header: serialised, it is the associated data.
#[derive(Serialize)]
struct HeaderAad<'a> {
    format: &'a str,
    version: u32,
    kdf: &'a KdfHeader,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct BackupFile {
    format: String,
    version: u32,
    kdf: KdfHeader,
    nonce: String,
    ciphertext: String,
}

#[derive(Deserialize)]
struct Probe {
    format: Option<String>,
    version: Option<i64>,
}

#[derive(Serialize, Deserialize)]
struct Payload {
    accounts: Vec<Account>,
}

fn aad(kdf: &KdfHeader) -> Result<Vec<u8>, TransferError> {
    serde_json::to_vec(&HeaderAad {
        format: FORMAT,
        version: VERSION,
        kdf,
    })
    .map_err(|_| TransferError::Crypto("could not encode the header".into()))
}

fn malformed(reason: impl Into<String>) -> TransferError {
    TransferError::Malformed {
        format: Format::TesseraBackup,
        reason: reason.into(),
    }
}

fn derive(
    params: &KdfParams,
    password: &str,
    salt: &[u8],
) -> Result<Zeroizing<[u8; 32]>, TransferError> {
    params.derive(password, salt).map_err(|e| match e {
        VaultError::Corrupt(reason) => TransferError::UnsafeParameters(reason),
        _ => TransferError::Crypto("Argon2 failed".into()),
    })
}

impl Import for TesseraBackup {
    fn import(&self, bytes: &[u8], password: Option<&str>) -> Result<ImportBatch, TransferError> {
        check_size(bytes)?;
        let probe: Probe =
            serde_json::from_slice(bytes).map_err(|e| json_error(Format::TesseraBackup, &e))?;
        if probe.format.as_deref() != Some(FORMAT) {
            return Err(malformed("the format field is not \"tessera-backup\""));
        }
        match probe.version {
            Some(v) if v == i64::from(VERSION) => {}
            Some(found) => {
                return Err(TransferError::UnsupportedVersion {
                    format: Format::TesseraBackup,
                    found,
                });
            }
            None => return Err(malformed("the version field is missing")),
        }
        let file: BackupFile =
            serde_json::from_slice(bytes).map_err(|e| json_error(Format::TesseraBackup, &e))?;
        if file.kdf.algorithm != KDF_ALGORITHM {
            return Err(malformed(format!(
                "unknown key derivation \"{}\"",
                file.kdf.algorithm
            )));
        }
        let salt = STANDARD
            .decode(&file.kdf.salt)
            .map_err(|_| malformed("the salt is not base64"))?;
        if !SALT_RANGE.contains(&salt.len()) {
            return Err(malformed("the salt has an invalid length"));
        }
        let nonce = STANDARD
            .decode(&file.nonce)
            .map_err(|_| malformed("the nonce is not base64"))?;
        if nonce.len() != GCM_NONCE_LEN {
            return Err(malformed("the nonce has an invalid length"));
        }
        let ciphertext = STANDARD
            .decode(&file.ciphertext)
            .map_err(|_| malformed("the ciphertext is not base64"))?;
        let password = password.ok_or(TransferError::PasswordRequired)?;
        let params = KdfParams {
            memory_kib: file.kdf.memory_kib,
            iterations: file.kdf.iterations,
            parallelism: file.kdf.parallelism,
        };
        let key = derive(&params, password, &salt)?;
        // AES-GCM cannot tell a wrong key from altered data; the password is
        // by far the likelier cause, and both leave nothing to read.
        let plain = crypto::open(key.as_ref(), &nonce, &aad(&file.kdf)?, &ciphertext)?
            .ok_or(TransferError::WrongPassword)?;
        let payload: Payload =
            serde_json::from_slice(&plain).map_err(|e| json_error(Format::TesseraBackup, &e))?;
        let mut batch = ImportBatch::default();
        for (index, account) in payload.accounts.into_iter().enumerate() {
            match account.without_push() {
                Some(account) => batch.accounts.push(account),
                None => batch.reject(
                    index,
                    "a push-only account: push pairings are never restored; pair again with the site",
                ),
            }
        }
        Ok(batch)
    }
}

impl Export for TesseraBackup {
    fn export(
        &self,
        accounts: &[Account],
        password: Option<&str>,
        force: bool,
    ) -> Result<Exported, TransferError> {
        let (_, mut warnings) = plan_export(accounts, force, false, |_| Loss::None)?;
        // Push parts never leave the device (see the module documentation).
        let kept: Vec<Account> = accounts.iter().filter_map(Account::without_push).collect();
        warnings.extend(
            accounts
                .iter()
                .filter(|a| a.otp.is_none())
                .map(|a| ExportWarning {
                    account_id: a.id.clone(),
                    what:
                        "push-only: push pairings are never backed up; pair again on the new device"
                            .into(),
                    left_out: true,
                }),
        );
        let accounts = kept.as_slice();
        let password = password.ok_or(TransferError::PasswordRequired)?;
        if password.is_empty() {
            return Err(TransferError::InvalidInput(
                "a backup password cannot be empty".into(),
            ));
        }
        let salt = crypto::random_bytes::<SALT_LEN>()?;
        let kdf = KdfHeader {
            algorithm: KDF_ALGORITHM.into(),
            memory_kib: self.kdf.memory_kib,
            iterations: self.kdf.iterations,
            parallelism: self.kdf.parallelism,
            salt: STANDARD.encode(salt),
        };
        let key = derive(&self.kdf, password, &salt)?;
        let plain = to_json_wiping(&PayloadRef { accounts })?;
        let nonce = crypto::random_bytes::<GCM_NONCE_LEN>()?;
        let ciphertext = crypto::seal(key.as_ref(), nonce, &aad(&kdf)?, &plain)?;
        let file = BackupFile {
            format: FORMAT.into(),
            version: VERSION,
            kdf,
            nonce: STANDARD.encode(nonce),
            ciphertext: STANDARD.encode(ciphertext),
        };
        let bytes = serde_json::to_vec_pretty(&file)
            .map_err(|_| TransferError::Crypto("could not encode the backup".into()))?;
        Ok(Exported {
            bytes: Zeroizing::new(bytes),
            warnings,
        })
    }
}

#[derive(Serialize)]
struct PayloadRef<'a> {
    accounts: &'a [Account],
}
