//! Aegis vault JSON, plain and encrypted, as Aegis documents it.
//!
//! `{version: 1, header: {slots, params}, db}`. Plain: `slots` and `params`
//! are null and `db` is an object `{version, entries, groups}`. Encrypted:
//! `db` is the base64 AES-256-GCM ciphertext of that object under a random
//! master key (`params` holds its hex nonce and tag); each password slot
//! holds the master key encrypted under `scrypt(password, salt, n, r, p)`.
//! Entry types other than TOTP, HOTP and Steam are refused one by one.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use zeroize::Zeroizing;

use super::{
    Export, Exported, Format, Import, ImportBatch, Loss, TransferError, check_size, json_error,
    new_account, plan_export, to_json_pretty_wiping, to_json_wiping,
};
use crate::account::Account;
use crate::aead::{self as crypto, NONCE_LEN as GCM_NONCE_LEN, TAG_LEN};
use crate::otp::{Algorithm, OtpKind, OtpParams};
use crate::secret::Secret;

/// The file version Aegis writes and this reader accepts.
const FILE_VERSION: i64 = 1;
/// The database version written; 1 to 3 are read.
const DB_VERSION: i64 = 3;
/// Password slots have type 1.
const SLOT_PASSWORD: i64 = 1;
/// The largest scrypt `log2(n)` accepted when reading (2^20).
const MAX_LOG_N: u8 = 20;
/// The largest scrypt `r` and `p` accepted when reading.
const MAX_R: u32 = 32;
/// See [`MAX_R`].
const MAX_P: u32 = 16;
/// The most memory (128·r·n bytes) scrypt may use when reading: 512 MiB.
const MAX_SCRYPT_MEMORY: u64 = 512 * 1024 * 1024;
/// The most scrypt work (n × r × p) one slot may ask for: 16 times Aegis's
/// own 2^15 × 8 × 1, about 1.5 s here. The per-parameter bounds alone
/// allowed 2^20 × 4 × 16 (22 s a slot, found by fuzzing).
const MAX_SCRYPT_WORK: u64 = 1 << 22;
/// Password slots tried per file: Aegis writes one; a crafted file with
/// many expensive slots must not multiply the work.
const MAX_PASSWORD_SLOTS: usize = 4;

/// The Aegis format, with the scrypt cost used for writing encrypted files.
#[derive(Debug, Clone, Copy)]
pub struct Aegis {
    /// `log2(n)` for new password slots (Aegis uses 15; r = 8, p = 1).
    pub scrypt_log_n: u8,
}

impl Default for Aegis {
    fn default() -> Self {
        Self { scrypt_log_n: 15 }
    }
}

#[derive(Serialize, Deserialize)]
struct AegisFile {
    version: i64,
    header: Header,
    db: Value,
}

#[derive(Serialize, Deserialize)]
struct Header {
    slots: Option<Vec<Value>>,
    params: Option<GcmParams>,
}

#[derive(Serialize, Deserialize)]
struct GcmParams {
    nonce: String,
    tag: String,
}

#[derive(Serialize, Deserialize)]
struct PasswordSlot {
    #[serde(rename = "type")]
    kind: i64,
    uuid: String,
    key: String,
    key_params: GcmParams,
    n: u64,
    r: u32,
    p: u32,
    salt: String,
    #[serde(default)]
    repaired: bool,
    #[serde(default)]
    is_backup: bool,
}

#[derive(Serialize, Deserialize)]
struct Db {
    version: i64,
    entries: Vec<Value>,
    #[serde(default)]
    groups: Vec<Group>,
}

#[derive(Serialize, Deserialize)]
struct Group {
    uuid: String,
    name: String,
}

#[derive(Serialize, Deserialize)]
struct Entry {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    uuid: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    issuer: String,
    #[serde(default)]
    note: Option<String>,
    #[serde(default)]
    favorite: bool,
    #[serde(default)]
    icon: Option<String>,
    info: Info,
    #[serde(default)]
    groups: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    group: Option<String>,
}

#[derive(Serialize, Deserialize)]
struct Info {
    secret: String,
    algo: String,
    digits: u8,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    period: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    counter: Option<u64>,
}

fn malformed(reason: impl Into<String>) -> TransferError {
    TransferError::Malformed {
        format: Format::Aegis,
        reason: reason.into(),
    }
}

fn hex(text: &str, what: &str) -> Result<Vec<u8>, TransferError> {
    crate::encoding::hex_decode(text).ok_or_else(|| malformed(format!("{what} is not hex")))
}

/// The slot key: scrypt with the file's parameters, within bounds.
fn slot_key(
    password: &str,
    salt: &[u8],
    n: u64,
    r: u32,
    p: u32,
) -> Result<Zeroizing<[u8; 32]>, TransferError> {
    if n < 2 || !n.is_power_of_two() {
        return Err(TransferError::UnsafeParameters(
            "scrypt n must be a power of two".into(),
        ));
    }
    let log_n = u8::try_from(n.trailing_zeros()).unwrap_or(u8::MAX);
    let memory = 128u64.saturating_mul(u64::from(r)).saturating_mul(n);
    let work = n.saturating_mul(u64::from(r)).saturating_mul(u64::from(p));
    if log_n > MAX_LOG_N
        || !(1..=MAX_R).contains(&r)
        || !(1..=MAX_P).contains(&p)
        || memory > MAX_SCRYPT_MEMORY
        || work > MAX_SCRYPT_WORK
    {
        return Err(TransferError::UnsafeParameters(format!(
            "scrypt n = 2^{log_n}, r = {r}, p = {p} is beyond the limits (n ≤ 2^{MAX_LOG_N}, r ≤ {MAX_R}, p ≤ {MAX_P}, 512 MiB, n × r × p ≤ 2^22)"
        )));
    }
    let params = scrypt::Params::new(log_n, r, p)
        .map_err(|_| TransferError::UnsafeParameters("invalid scrypt parameters".into()))?;
    let mut key = Zeroizing::new([0u8; 32]);
    scrypt::scrypt(password.as_bytes(), salt, &params, key.as_mut())
        .map_err(|_| TransferError::Crypto("scrypt failed".into()))?;
    Ok(key)
}

/// Joins ciphertext and tag and decrypts without associated data.
fn open_split(
    key: &[u8],
    params: &GcmParams,
    ciphertext: &[u8],
    what: &str,
) -> Result<Option<Zeroizing<Vec<u8>>>, TransferError> {
    let nonce = hex(&params.nonce, &format!("the {what} nonce"))?;
    let tag = hex(&params.tag, &format!("the {what} tag"))?;
    if tag.len() != TAG_LEN || nonce.len() != GCM_NONCE_LEN {
        return Err(malformed(format!(
            "the {what} nonce or tag has a wrong length"
        )));
    }
    let mut joined = Zeroizing::new(Vec::with_capacity(ciphertext.len() + TAG_LEN));
    joined.extend_from_slice(ciphertext);
    joined.extend_from_slice(&tag);
    Ok(crypto::open(key, &nonce, b"", &joined)?)
}

/// Decrypts an encrypted file's db with the first password slot that opens.
fn decrypt_db(
    header: &Header,
    db: &str,
    password: Option<&str>,
) -> Result<Zeroizing<Vec<u8>>, TransferError> {
    let slots = header
        .slots
        .as_ref()
        .ok_or_else(|| malformed("an encrypted file without slots"))?;
    let params = header
        .params
        .as_ref()
        .ok_or_else(|| malformed("an encrypted file without nonce and tag"))?;
    let password_slots: Vec<&Value> = slots
        .iter()
        .filter(|s| s.get("type").and_then(Value::as_i64) == Some(SLOT_PASSWORD))
        .collect();
    if password_slots.is_empty() {
        return Err(malformed(
            "the file has no password slot (biometric slots only work inside Aegis)",
        ));
    }
    if password_slots.len() > MAX_PASSWORD_SLOTS {
        return Err(TransferError::UnsafeParameters(format!(
            "the file has {} password slots; Aegis writes one (at most {MAX_PASSWORD_SLOTS} are tried)",
            password_slots.len()
        )));
    }
    let password = password.ok_or(TransferError::PasswordRequired)?;
    let mut master = None;
    for slot in password_slots {
        let slot: PasswordSlot = serde_json::from_value(slot.clone())
            .map_err(|_| malformed("a password slot is missing a field"))?;
        let salt = hex(&slot.salt, "the slot salt")?;
        let key = slot_key(password, &salt, slot.n, slot.r, slot.p)?;
        let encrypted = hex(&slot.key, "the slot key")?;
        if let Some(opened) = open_split(key.as_ref(), &slot.key_params, &encrypted, "slot")? {
            master = Some(opened);
            break;
        }
    }
    let master = master.ok_or(TransferError::WrongPassword)?;
    if master.len() != 32 {
        return Err(malformed("the master key has a wrong length"));
    }
    let ciphertext = STANDARD
        .decode(db.trim())
        .map_err(|_| malformed("the encrypted db is not base64"))?;
    open_split(&master, params, &ciphertext, "db")?.ok_or(TransferError::Tampered)
}

/// One entry as an account, or why it is refused.
fn to_account(value: &Value, groups: &[Group]) -> Result<Account, String> {
    let kind = value.get("type").and_then(Value::as_str).unwrap_or("");
    let kind = match kind {
        "totp" => OtpKind::Totp,
        "hotp" => OtpKind::Hotp,
        "steam" => OtpKind::Steam,
        other => return Err(format!("entry type \"{other}\" is not supported")),
    };
    let entry: Entry = Entry::deserialize(value)
        .map_err(|_| "a field is missing or has the wrong type".to_string())?;
    let algorithm = match entry.info.algo.to_ascii_uppercase().as_str() {
        "SHA1" => Algorithm::Sha1,
        "SHA256" => Algorithm::Sha256,
        "SHA512" => Algorithm::Sha512,
        "MD5" => return Err("uses MD5, which Tessera does not support".into()),
        other => return Err(format!("unknown algorithm \"{other}\"")),
    };
    let secret = Secret::from_base32(&Zeroizing::new(entry.info.secret.clone()))
        .map_err(|e| e.to_string())?;
    let params = OtpParams {
        kind,
        algorithm,
        digits: entry.info.digits,
        period: entry.info.period.unwrap_or(30),
        counter: entry.info.counter.unwrap_or(0),
    };
    let mut account = new_account(&entry.issuer, &entry.name, params, secret)?;
    account.note = entry.note.unwrap_or_default();
    account.tags = entry
        .groups
        .iter()
        .filter_map(|id| {
            groups
                .iter()
                .find(|g| &g.uuid == id)
                .map(|g| g.name.clone())
        })
        .chain(entry.group.filter(|g| !g.is_empty()))
        .collect();
    Ok(account)
}

impl Import for Aegis {
    fn import(&self, bytes: &[u8], password: Option<&str>) -> Result<ImportBatch, TransferError> {
        check_size(bytes)?;
        let file: AegisFile =
            serde_json::from_slice(bytes).map_err(|e| json_error(Format::Aegis, &e))?;
        if file.version != FILE_VERSION {
            return Err(TransferError::UnsupportedVersion {
                format: Format::Aegis,
                found: file.version,
            });
        }
        let db: Db = match &file.db {
            Value::String(encrypted) => {
                let plain = decrypt_db(&file.header, encrypted, password)?;
                serde_json::from_slice(&plain).map_err(|e| json_error(Format::Aegis, &e))?
            }
            Value::Object(_) => Db::deserialize(&file.db)
                .map_err(|_| malformed("the db is missing its version or entries"))?,
            _ => return Err(malformed("the db is neither an object nor encrypted text")),
        };
        if !(1..=DB_VERSION).contains(&db.version) {
            return Err(TransferError::UnsupportedVersion {
                format: Format::Aegis,
                found: db.version,
            });
        }
        let mut batch = ImportBatch::default();
        for (index, value) in db.entries.iter().enumerate() {
            match to_account(value, &db.groups) {
                Ok(account) => batch.accounts.push(account),
                Err(reason) => batch.reject(index, reason),
            }
        }
        Ok(batch)
    }
}

fn losses(account: &Account) -> Loss {
    match &account.otp {
        Some(otp) if !otp.extra_uri_params.is_empty() => {
            let names: Vec<&str> = otp
                .extra_uri_params
                .iter()
                .map(|(k, _)| k.as_str())
                .collect();
            Loss::Partial(vec![format!(
                "extra otpauth parameters ({}) are not carried",
                names.join(", ")
            )])
        }
        _ => Loss::None,
    }
}

fn build_db(accounts: &[&Account]) -> Result<Db, TransferError> {
    let mut groups: Vec<Group> = Vec::new();
    let mut entries = Vec::with_capacity(accounts.len());
    for account in accounts {
        let Some(otp) = &account.otp else { continue };
        let mut group_ids = Vec::new();
        for tag in &account.tags {
            let id = match groups.iter().find(|g| &g.name == tag) {
                Some(g) => g.uuid.clone(),
                None => {
                    let uuid = uuid::Uuid::new_v4().to_string();
                    groups.push(Group {
                        uuid: uuid.clone(),
                        name: tag.clone(),
                    });
                    uuid
                }
            };
            group_ids.push(id);
        }
        let p = otp.params;
        let entry = Entry {
            kind: match p.kind {
                OtpKind::Totp => "totp",
                OtpKind::Hotp => "hotp",
                OtpKind::Steam => "steam",
            }
            .into(),
            uuid: uuid::Uuid::parse_str(&account.id)
                .map_or_else(|_| uuid::Uuid::new_v4().to_string(), |u| u.to_string()),
            name: account.label.clone(),
            issuer: account.issuer.clone(),
            note: Some(account.note.clone()),
            favorite: false,
            icon: None,
            info: Info {
                secret: otp.secret.to_base32().to_string(),
                algo: p.algorithm.as_str().into(),
                digits: p.digits,
                period: (p.kind != OtpKind::Hotp).then_some(p.period),
                counter: (p.kind == OtpKind::Hotp).then_some(p.counter),
            },
            groups: group_ids,
            group: None,
        };
        entries.push(
            serde_json::to_value(&entry)
                .map_err(|_| TransferError::InvalidInput("could not encode an entry".into()))?,
        );
    }
    Ok(Db {
        version: DB_VERSION,
        entries,
        groups,
    })
}

/// Encrypts `plain` and returns (ciphertext without tag, params).
fn seal_split(key: &[u8], plain: &[u8]) -> Result<(Vec<u8>, GcmParams), TransferError> {
    let nonce = crypto::random_bytes::<GCM_NONCE_LEN>()?;
    let mut sealed = crypto::seal(key, nonce, b"", plain)?;
    let tag = sealed.split_off(sealed.len().saturating_sub(TAG_LEN));
    Ok((
        sealed,
        GcmParams {
            nonce: crate::encoding::hex_encode(&nonce),
            tag: crate::encoding::hex_encode(&tag),
        },
    ))
}

impl Export for Aegis {
    fn export(
        &self,
        accounts: &[Account],
        password: Option<&str>,
        force: bool,
    ) -> Result<Exported, TransferError> {
        let (kept, warnings) = plan_export(accounts, force, true, losses)?;
        let db = build_db(&kept)?;
        let file = match password {
            None => AegisFile {
                version: FILE_VERSION,
                header: Header {
                    slots: None,
                    params: None,
                },
                db: serde_json::to_value(&db)
                    .map_err(|_| TransferError::InvalidInput("could not encode the db".into()))?,
            },
            Some("") => {
                return Err(TransferError::InvalidInput(
                    "an export password cannot be empty".into(),
                ));
            }
            Some(password) => {
                let plain = to_json_wiping(&db)?;
                let master = Zeroizing::new(crypto::random_bytes::<32>()?);
                let (ciphertext, params) = seal_split(master.as_ref(), &plain)?;
                let salt = crypto::random_bytes::<32>()?;
                let (r, p) = (8, 1);
                let n = 1u64 << self.scrypt_log_n;
                let key = slot_key(password, &salt, n, r, p)?;
                let (wrapped, key_params) = seal_split(key.as_ref(), master.as_ref())?;
                let slot = PasswordSlot {
                    kind: SLOT_PASSWORD,
                    uuid: uuid::Uuid::new_v4().to_string(),
                    key: crate::encoding::hex_encode(&wrapped),
                    key_params,
                    n,
                    r,
                    p,
                    salt: crate::encoding::hex_encode(&salt),
                    repaired: true,
                    is_backup: false,
                };
                AegisFile {
                    version: FILE_VERSION,
                    header: Header {
                        slots: Some(vec![serde_json::to_value(&slot).map_err(|_| {
                            TransferError::InvalidInput("could not encode the slot".into())
                        })?]),
                        params: Some(params),
                    },
                    db: Value::String(STANDARD.encode(ciphertext)),
                }
            }
        };
        Ok(Exported {
            bytes: to_json_pretty_wiping(&file)?,
            warnings,
        })
    }
}
