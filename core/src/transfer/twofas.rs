//! 2FAS backup JSON (import only), plain and encrypted.
//!
//! Plain: `{services: [{name, secret, otp: {account, issuer, digits, period,
//! algorithm, tokenType, counter}, groupId}], groups: [{id, name}],
//! schemaVersion}`. Encrypted: `servicesEncrypted` is three base64 parts
//! `ciphertext:salt:iv`; the key is PBKDF2-HMAC-SHA256 (10,000 iterations)
//! of the password and salt, and the ciphertext (tag appended) is AES-256-GCM
//! of the `services` array.

use std::num::NonZeroU32;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde::Deserialize;
use serde_json::Value;
use zeroize::Zeroizing;

use super::{Format, Import, ImportBatch, TransferError, check_size, json_error, new_account};
use crate::account::Account;
use crate::aead as crypto;
use crate::otp::{Algorithm, OtpKind, OtpParams};
use crate::secret::Secret;

/// PBKDF2 iterations 2FAS uses.
const PBKDF2_ITERATIONS: u32 = 10_000;
/// The newest schema version read.
const MAX_SCHEMA_VERSION: i64 = 4;

/// The 2FAS backup format.
#[derive(Debug, Clone, Copy, Default)]
pub struct TwoFas;

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Backup {
    #[serde(default)]
    services: Vec<Value>,
    #[serde(default)]
    groups: Vec<Group>,
    schema_version: Option<i64>,
    services_encrypted: Option<String>,
}

#[derive(Deserialize)]
struct Group {
    id: String,
    name: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Service {
    #[serde(default)]
    name: String,
    secret: String,
    #[serde(default)]
    otp: Otp,
    #[serde(default)]
    group_id: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct Otp {
    account: Option<String>,
    issuer: Option<String>,
    digits: Option<u8>,
    period: Option<u32>,
    algorithm: Option<String>,
    token_type: Option<String>,
    counter: Option<u64>,
}

fn malformed(reason: impl Into<String>) -> TransferError {
    TransferError::Malformed {
        format: Format::TwoFas,
        reason: reason.into(),
    }
}

fn decrypt(encrypted: &str, password: Option<&str>) -> Result<Zeroizing<Vec<u8>>, TransferError> {
    let parts: Vec<&str> = encrypted.split(':').collect();
    let [ciphertext, salt, iv] = parts.as_slice() else {
        return Err(malformed("servicesEncrypted does not have three parts"));
    };
    let decode = |text: &str, what: &str| {
        STANDARD
            .decode(text.trim())
            .map_err(|_| malformed(format!("the {what} is not base64")))
    };
    let (ciphertext, salt, iv) = (
        decode(ciphertext, "ciphertext")?,
        decode(salt, "salt")?,
        decode(iv, "iv")?,
    );
    let password = password.ok_or(TransferError::PasswordRequired)?;
    let mut key = Zeroizing::new([0u8; 32]);
    let iterations = NonZeroU32::new(PBKDF2_ITERATIONS)
        .ok_or_else(|| TransferError::Crypto("PBKDF2 iterations".into()))?;
    ring::pbkdf2::derive(
        ring::pbkdf2::PBKDF2_HMAC_SHA256,
        iterations,
        &salt,
        password.as_bytes(),
        key.as_mut(),
    );
    crypto::open(key.as_ref(), &iv, b"", &ciphertext)?.ok_or(TransferError::WrongPassword)
}

fn to_account(value: &Value, groups: &[Group]) -> Result<Account, String> {
    let service: Service = Service::deserialize(value)
        .map_err(|_| "a field is missing or has the wrong type".to_string())?;
    let otp = &service.otp;
    let kind = match otp.token_type.as_deref().unwrap_or("TOTP") {
        "TOTP" => OtpKind::Totp,
        "HOTP" => OtpKind::Hotp,
        "STEAM" => OtpKind::Steam,
        other => return Err(format!("token type \"{other}\" is not supported")),
    };
    let algorithm = match otp.algorithm.as_deref().unwrap_or("SHA1") {
        "SHA1" => Algorithm::Sha1,
        "SHA224" => return Err("uses SHA224, which Tessera does not support".into()),
        "SHA256" => Algorithm::Sha256,
        "SHA384" => return Err("uses SHA384, which Tessera does not support".into()),
        "SHA512" => Algorithm::Sha512,
        "MD5" => return Err("uses MD5, which Tessera does not support".into()),
        other => return Err(format!("unknown algorithm \"{other}\"")),
    };
    let default_digits = if kind == OtpKind::Steam { 5 } else { 6 };
    let params = OtpParams {
        kind,
        algorithm,
        digits: otp.digits.unwrap_or(default_digits),
        period: otp.period.unwrap_or(30),
        counter: otp.counter.unwrap_or(0),
    };
    let secret =
        Secret::from_base32(&Zeroizing::new(service.secret.clone())).map_err(|e| e.to_string())?;
    let issuer = otp
        .issuer
        .clone()
        .filter(|i| !i.is_empty())
        .unwrap_or_else(|| service.name.clone());
    let label = otp.account.clone().unwrap_or_default();
    let mut account = new_account(&issuer, &label, params, secret)?;
    if let Some(group) = service
        .group_id
        .as_ref()
        .and_then(|id| groups.iter().find(|g| &g.id == id))
    {
        account.tags.push(group.name.clone());
    }
    Ok(account)
}

impl Import for TwoFas {
    fn import(&self, bytes: &[u8], password: Option<&str>) -> Result<ImportBatch, TransferError> {
        check_size(bytes)?;
        let backup: Backup =
            serde_json::from_slice(bytes).map_err(|e| json_error(Format::TwoFas, &e))?;
        match backup.schema_version {
            Some(v) if (1..=MAX_SCHEMA_VERSION).contains(&v) => {}
            Some(found) => {
                return Err(TransferError::UnsupportedVersion {
                    format: Format::TwoFas,
                    found,
                });
            }
            None => return Err(malformed("the schemaVersion field is missing")),
        }
        let services: Vec<Value> = match &backup.services_encrypted {
            Some(encrypted) if !encrypted.is_empty() => {
                let plain = decrypt(encrypted, password)?;
                serde_json::from_slice(&plain).map_err(|e| json_error(Format::TwoFas, &e))?
            }
            _ => backup.services,
        };
        let mut batch = ImportBatch::default();
        for (index, value) in services.iter().enumerate() {
            match to_account(value, &backup.groups) {
                Ok(account) => batch.accounts.push(account),
                Err(reason) => batch.reject(index, reason),
            }
        }
        Ok(batch)
    }
}
