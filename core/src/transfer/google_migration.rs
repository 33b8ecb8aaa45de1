//! Google Authenticator's export: `otpauth-migration://offline?data=…`, where
//! `data` is a base64 protobuf `MigrationPayload`. A large export spans
//! several QR codes ("batches") that share a batch id; import recombines
//! them in index order and names any missing part.
//!
//! The format has no period (always 30 s), digits 6 or 8 only and no Steam
//! type. An MD5, unspecified or unknown algorithm refuses the entry: codes
//! are never computed with a guessed SHA-1. An unspecified digit count means
//! 6, as in Google Authenticator.

use std::collections::BTreeMap;
use std::fmt;

use base64::Engine;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig};
use base64::engine::{DecodePaddingMode, general_purpose};
use percent_encoding::{AsciiSet, CONTROLS, percent_decode_str, utf8_percent_encode};
use prost::Message;
use zeroize::{Zeroize, Zeroizing};

use super::{
    Export, ExportWarning, Exported, Format, Import, ImportBatch, Loss, TransferError, check_size,
    new_account, plan_export,
};
use crate::account::Account;
use crate::aead as crypto;
use crate::otp::{Algorithm, DEFAULT_PERIOD_SECS, OtpKind, OtpParams};
use crate::secret::Secret;

/// The URI prefix of every migration QR code.
pub const URI_PREFIX: &str = "otpauth-migration://offline?";
/// The most accounts written into one QR code.
pub const MAX_ACCOUNTS_PER_URI: usize = 10;
/// The most protobuf bytes written into one QR code (about 2 KB of URI).
pub const MAX_PAYLOAD_BYTES_PER_URI: usize = 1500;
/// The most QR codes one batch may claim when reading.
const MAX_BATCH_SIZE: i32 = 1000;
/// The payload version Google Authenticator writes.
const PAYLOAD_VERSION: i32 = 1;

/// Characters percent-encoded in the `data` parameter (base64's `+ / =`).
const DATA_ENCODE: &AsciiSet = &CONTROLS.add(b'+').add(b'/').add(b'=').add(b' ');

/// Base64 that accepts the padding present or not.
const LENIENT_BASE64: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

#[derive(Clone, PartialEq, Message)]
struct MigrationPayload {
    #[prost(message, repeated, tag = "1")]
    otp_parameters: Vec<OtpParameters>,
    #[prost(int32, tag = "2")]
    version: i32,
    #[prost(int32, tag = "3")]
    batch_size: i32,
    #[prost(int32, tag = "4")]
    batch_index: i32,
    #[prost(int32, tag = "5")]
    batch_id: i32,
}

#[derive(Clone, PartialEq, Message)]
#[prost(skip_debug)]
struct OtpParameters {
    #[prost(bytes = "vec", tag = "1")]
    secret: Vec<u8>,
    #[prost(string, tag = "2")]
    name: String,
    #[prost(string, tag = "3")]
    issuer: String,
    #[prost(enumeration = "GoogleAlgorithm", tag = "4")]
    algorithm: i32,
    #[prost(enumeration = "DigitCount", tag = "5")]
    digits: i32,
    #[prost(enumeration = "OtpType", tag = "6")]
    otp_type: i32,
    #[prost(int64, tag = "7")]
    counter: i64,
}

impl Drop for OtpParameters {
    fn drop(&mut self) {
        self.secret.zeroize();
    }
}

impl fmt::Debug for OtpParameters {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OtpParameters")
            .field("secret", &"<redacted>")
            .field("name", &self.name)
            .field("issuer", &self.issuer)
            .finish_non_exhaustive()
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration)]
#[repr(i32)]
enum GoogleAlgorithm {
    Unspecified = 0,
    Sha1 = 1,
    Sha256 = 2,
    Sha512 = 3,
    Md5 = 4,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration)]
#[repr(i32)]
enum DigitCount {
    Unspecified = 0,
    Six = 1,
    Eight = 2,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration)]
#[repr(i32)]
enum OtpType {
    Unspecified = 0,
    Hotp = 1,
    Totp = 2,
}

/// The Google Authenticator migration format.
#[derive(Debug, Clone, Copy, Default)]
pub struct GoogleMigration;

fn malformed(reason: impl Into<String>) -> TransferError {
    TransferError::Malformed {
        format: Format::GoogleMigration,
        reason: reason.into(),
    }
}

/// Decodes one migration URI (the `n`th given, for messages).
fn decode_uri(uri: &str, n: usize) -> Result<MigrationPayload, TransferError> {
    let Some(prefix) = uri.get(..URI_PREFIX.len()) else {
        return Err(malformed(format!(
            "QR code {n} is not an otpauth-migration URI"
        )));
    };
    if !prefix.eq_ignore_ascii_case(URI_PREFIX) {
        return Err(malformed(format!(
            "QR code {n} is not an otpauth-migration URI"
        )));
    }
    let query = &uri[URI_PREFIX.len()..];
    let data = query
        .split('&')
        .find_map(|pair| pair.strip_prefix("data="))
        .ok_or_else(|| malformed(format!("QR code {n} has no data parameter")))?;
    let decoded = Zeroizing::new(percent_decode_str(data).collect::<Vec<u8>>());
    // Some tools write the URL-safe alphabet.
    let standard: Zeroizing<Vec<u8>> = Zeroizing::new(
        decoded
            .iter()
            .filter(|b| !b.is_ascii_whitespace())
            .map(|b| match b {
                b'-' => b'+',
                b'_' => b'/',
                other => *other,
            })
            .collect(),
    );
    let bytes = Zeroizing::new(
        LENIENT_BASE64
            .decode(standard.as_slice())
            .map_err(|_| malformed(format!("QR code {n}: the data is not base64")))?,
    );
    let payload = MigrationPayload::decode(bytes.as_slice()).map_err(|_| {
        TransferError::Truncated(format!(
            "QR code {n}: the data is cut short or not a migration payload"
        ))
    })?;
    if payload.version != 0 && payload.version != PAYLOAD_VERSION {
        return Err(TransferError::UnsupportedVersion {
            format: Format::GoogleMigration,
            found: i64::from(payload.version),
        });
    }
    Ok(payload)
}

/// One entry as an account, or the reason it is refused.
fn to_account(entry: &OtpParameters) -> Result<Account, String> {
    let algorithm = match GoogleAlgorithm::try_from(entry.algorithm) {
        Ok(GoogleAlgorithm::Sha1) => Algorithm::Sha1,
        Ok(GoogleAlgorithm::Sha256) => Algorithm::Sha256,
        Ok(GoogleAlgorithm::Sha512) => Algorithm::Sha512,
        Ok(GoogleAlgorithm::Md5) => {
            return Err("uses MD5, which Tessera does not support".into());
        }
        Ok(GoogleAlgorithm::Unspecified) => return Err("no algorithm is given".into()),
        Err(_) => return Err(format!("unknown algorithm number {}", entry.algorithm)),
    };
    let digits = match DigitCount::try_from(entry.digits) {
        Ok(DigitCount::Unspecified | DigitCount::Six) => 6,
        Ok(DigitCount::Eight) => 8,
        Err(_) => return Err(format!("unknown digit count number {}", entry.digits)),
    };
    let (kind, counter) = match OtpType::try_from(entry.otp_type) {
        Ok(OtpType::Totp) => (OtpKind::Totp, 0),
        Ok(OtpType::Hotp) => (
            OtpKind::Hotp,
            u64::try_from(entry.counter).map_err(|_| "the HOTP counter is negative")?,
        ),
        Ok(OtpType::Unspecified) => return Err("no type (TOTP or HOTP) is given".into()),
        Err(_) => return Err(format!("unknown type number {}", entry.otp_type)),
    };
    let secret = Secret::from_bytes(entry.secret.clone()).map_err(|e| e.to_string())?;
    let (issuer, label) = split_name(&entry.name, &entry.issuer);
    let params = OtpParams {
        kind,
        algorithm,
        digits,
        period: DEFAULT_PERIOD_SECS,
        counter,
    };
    new_account(&issuer, &label, params, secret)
}

/// Google writes `name` as "Issuer:label" when there is an issuer.
fn split_name(name: &str, issuer: &str) -> (String, String) {
    // An issuer may itself hold a colon ("A:B" writes "A:B:label"), so the
    // whole issuer is tried as the prefix first (found by fuzzing).
    if let Some(rest) = (!issuer.is_empty())
        .then(|| name.strip_prefix(issuer)?.strip_prefix(':'))
        .flatten()
    {
        return (issuer.to_string(), rest.trim().to_string());
    }
    if let Some((prefix, rest)) = name.split_once(':') {
        let prefix = prefix.trim();
        if issuer.is_empty() || prefix == issuer {
            return (prefix.to_string(), rest.trim().to_string());
        }
    }
    (issuer.to_string(), name.trim().to_string())
}

impl Import for GoogleMigration {
    fn import(&self, bytes: &[u8], _password: Option<&str>) -> Result<ImportBatch, TransferError> {
        check_size(bytes)?;
        let text =
            std::str::from_utf8(bytes).map_err(|_| malformed("the input is not UTF-8 text"))?;
        // Batches in order of first appearance: (id, size, parts by index).
        let mut batches: Vec<(i32, i32, BTreeMap<i32, MigrationPayload>)> = Vec::new();
        for (n, uri) in text.split_whitespace().enumerate() {
            let payload = decode_uri(uri, n + 1)?;
            let size = payload.batch_size.max(1);
            if size > MAX_BATCH_SIZE {
                return Err(malformed(format!(
                    "QR code {} claims a batch of {size} parts",
                    n + 1
                )));
            }
            if !(0..size).contains(&payload.batch_index) {
                return Err(malformed(format!(
                    "QR code {} says it is part {} of {size}",
                    n + 1,
                    payload.batch_index + 1
                )));
            }
            let position = batches
                .iter()
                .position(|(id, _, _)| *id == payload.batch_id);
            let index = match position {
                Some(index) => index,
                None => {
                    batches.push((payload.batch_id, size, BTreeMap::new()));
                    batches.len() - 1
                }
            };
            let Some(batch) = batches.get_mut(index) else {
                continue;
            };
            if batch.1 != size {
                return Err(malformed(format!(
                    "QR codes of batch {} disagree on the number of parts",
                    payload.batch_id
                )));
            }
            // The same QR code scanned twice is harmless.
            batch.2.entry(payload.batch_index).or_insert(payload);
        }
        if batches.is_empty() {
            return Err(malformed("no otpauth-migration URI was given"));
        }
        for (batch_id, size, parts) in &batches {
            let missing: Vec<i32> = (0..*size).filter(|i| !parts.contains_key(i)).collect();
            if !missing.is_empty() {
                return Err(TransferError::MissingBatchParts {
                    batch_id: *batch_id,
                    size: *size,
                    missing,
                });
            }
        }
        let mut batch = ImportBatch::default();
        let entries = batches
            .iter()
            .flat_map(|(_, _, parts)| parts.values())
            .flat_map(|payload| payload.otp_parameters.iter());
        for (index, entry) in entries.enumerate() {
            match to_account(entry) {
                Ok(account) => batch.accounts.push(account),
                Err(reason) => batch.reject(index, reason),
            }
        }
        Ok(batch)
    }
}

/// What Google's format cannot carry for one account.
fn losses(account: &Account) -> Loss {
    let Some(otp) = &account.otp else {
        return Loss::None;
    };
    let p = &otp.params;
    let mut what = Vec::new();
    if p.kind == OtpKind::Steam {
        what.push("Steam Guard codes: the format has no Steam type; left out".to_string());
    } else {
        if p.kind == OtpKind::Totp && p.period != DEFAULT_PERIOD_SECS {
            what.push(format!(
                "a period of {} s: the format always means 30 s; left out",
                p.period
            ));
        }
        if p.digits != 6 && p.digits != 8 {
            what.push(format!(
                "{} digits: the format has only 6 or 8; left out",
                p.digits
            ));
        }
    }
    if what.is_empty() {
        Loss::None
    } else {
        Loss::Dropped(what)
    }
}

fn to_entry(account: &Account) -> Option<OtpParameters> {
    let otp = account.otp.as_ref()?;
    let p = &otp.params;
    Some(OtpParameters {
        secret: otp.secret.expose().to_vec(),
        name: if account.issuer.is_empty() {
            account.label.clone()
        } else {
            format!("{}:{}", account.issuer, account.label)
        },
        issuer: account.issuer.clone(),
        algorithm: match p.algorithm {
            Algorithm::Sha1 => GoogleAlgorithm::Sha1,
            Algorithm::Sha256 => GoogleAlgorithm::Sha256,
            Algorithm::Sha512 => GoogleAlgorithm::Sha512,
        } as i32,
        digits: if p.digits == 8 {
            DigitCount::Eight
        } else {
            DigitCount::Six
        } as i32,
        otp_type: if p.kind == OtpKind::Hotp {
            OtpType::Hotp
        } else {
            OtpType::Totp
        } as i32,
        counter: i64::try_from(p.counter).unwrap_or(i64::MAX),
    })
}

/// The export as separate URIs, one per QR code, all sharing a batch id, and
/// what was left out (empty unless `force`).
pub fn export_uris(
    accounts: &[Account],
    force: bool,
) -> Result<(Vec<Zeroizing<String>>, Vec<ExportWarning>), TransferError> {
    let (kept, warnings) = plan_export(accounts, force, true, losses)?;
    let mut chunks: Vec<Vec<OtpParameters>> = Vec::new();
    let mut current: Vec<OtpParameters> = Vec::new();
    let mut current_len = 0;
    for entry in kept.iter().filter_map(|a| to_entry(a)) {
        let len = entry.encoded_len() + 3;
        if !current.is_empty()
            && (current.len() >= MAX_ACCOUNTS_PER_URI
                || current_len + len > MAX_PAYLOAD_BYTES_PER_URI)
        {
            chunks.push(std::mem::take(&mut current));
            current_len = 0;
        }
        current_len += len;
        current.push(entry);
    }
    if !current.is_empty() {
        chunks.push(current);
    }
    let batch_id = i32::from_be_bytes(crypto::random_bytes::<4>()?) & i32::MAX;
    let size = i32::try_from(chunks.len())
        .map_err(|_| TransferError::InvalidInput("too many accounts for one export".into()))?;
    let mut uris = Vec::with_capacity(chunks.len());
    for (index, chunk) in (0..size).zip(chunks) {
        let payload = MigrationPayload {
            otp_parameters: chunk,
            version: PAYLOAD_VERSION,
            batch_size: size,
            batch_index: index,
            batch_id,
        };
        let bytes = Zeroizing::new(payload.encode_to_vec());
        let data = Zeroizing::new(general_purpose::STANDARD.encode(bytes.as_slice()));
        let encoded: Zeroizing<String> =
            Zeroizing::new(utf8_percent_encode(&data, DATA_ENCODE).to_string());
        let mut uri = Zeroizing::new(String::with_capacity(
            URI_PREFIX.len() + "data=".len() + encoded.len(),
        ));
        uri.push_str(URI_PREFIX);
        uri.push_str("data=");
        uri.push_str(&encoded);
        uris.push(uri);
    }
    Ok((uris, warnings))
}

impl Export for GoogleMigration {
    fn export(
        &self,
        accounts: &[Account],
        _password: Option<&str>,
        force: bool,
    ) -> Result<Exported, TransferError> {
        let (uris, warnings) = export_uris(accounts, force)?;
        Ok(Exported {
            bytes: super::join_lines(&uris),
            warnings,
        })
    }
}
