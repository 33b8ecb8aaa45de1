//! Accounts: one identity at one relying party, with what makes its codes.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use zeroize::Zeroizing;

use crate::otp::{Code, OtpError, OtpGenerator, OtpParams, Timestamp};
use crate::otpauth::OtpauthUri;
use crate::push::jws::{JwsError, PublicKey, SigningKey, b64url, b64url_decode};
use crate::secret::Secret;

/// A stable, random account identifier (a UUID in text form).
pub type AccountId = String;

/// The OTP part of an account: the parameters and the shared secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OtpPart {
    /// Kind, algorithm, digits, period and (HOTP) the next counter.
    pub params: OtpParams,
    /// The shared secret.
    pub secret: Secret,
    /// otpauth parameters Tessera does not interpret, kept for lossless export.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub extra_uri_params: Vec<(String, String)>,
}

impl OtpPart {
    /// A generator with the HMAC key prepared, for many codes in a row.
    pub fn generator(&self) -> Result<OtpGenerator, OtpError> {
        OtpGenerator::new(self.params, &self.secret)
    }

    /// The current code at `now` (see [`OtpGenerator::code_at`]).
    pub fn code_at(&self, now: Timestamp) -> Result<Code, OtpError> {
        Ok(self.generator()?.code_at(now))
    }
}

/// The push part of an account: this device's pairing with a push server
/// (`docs/push-protocol.md` §2). It holds the device's private key, so it is
/// never exported or backed up: a new phone pairs again (DESIGN §5).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PushPart {
    /// The push server's base URL (`https://…`, or `http://` on loopback).
    pub server: String,
    /// The id the server gave this device at enrollment.
    pub device_id: String,
    /// The user name at the relying party, as the server signed it.
    pub user: String,
    /// The site's name, as the server signed it at enrollment.
    pub issuer: String,
    /// The account name shown in the pairing QR code.
    pub account: String,
    /// The name this device gave itself at enrollment.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub device_name: String,
    /// The pinned server key: every prompt must be signed by it.
    pub server_key: PublicKey,
    /// The device's P-256 private key (PKCS#8), base64url in the vault.
    device_key: DeviceKeyBytes,
    /// When the pairing was made, seconds since the epoch.
    pub paired_at: u64,
}

/// PKCS#8 bytes, zeroized on drop; serialised as base64url text.
#[derive(Clone, PartialEq, Eq)]
struct DeviceKeyBytes(Zeroizing<Vec<u8>>);

impl Serialize for DeviceKeyBytes {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let text = Zeroizing::new(b64url(&self.0));
        serializer.serialize_str(&text)
    }
}

impl<'de> Deserialize<'de> for DeviceKeyBytes {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = Zeroizing::new(String::deserialize(deserializer)?);
        // The key is checked when it is used, not here: one damaged pairing
        // must not keep the whole vault from opening.
        b64url_decode(&text)
            .filter(|bytes| !bytes.is_empty() && bytes.len() <= 1024)
            .map(|bytes| Self(Zeroizing::new(bytes)))
            .ok_or_else(|| serde::de::Error::custom("device_key: not base64url of a key"))
    }
}

impl fmt::Debug for PushPart {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PushPart")
            .field("server", &self.server)
            .field("device_id", &self.device_id)
            .field("user", &self.user)
            .field("issuer", &self.issuer)
            .field("account", &self.account)
            .field("device_name", &self.device_name)
            .field("server_key", &self.server_key)
            .field("device_key", &"[redacted]")
            .field("paired_at", &self.paired_at)
            .finish()
    }
}

/// What a [`PushPart`] is made of (everything but the private key).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushPartFields {
    /// The push server's base URL.
    pub server: String,
    /// The device id the server gave.
    pub device_id: String,
    /// The user name at the relying party.
    pub user: String,
    /// The site's name.
    pub issuer: String,
    /// The account name from the pairing QR code.
    pub account: String,
    /// This device's name, as enrolled.
    pub device_name: String,
    /// The server key to pin.
    pub server_key: PublicKey,
    /// When the pairing was made, seconds since the epoch.
    pub paired_at: u64,
}

impl PushPart {
    /// A push part holding `device_key`'s PKCS#8 document.
    pub fn new(fields: PushPartFields, device_key: &SigningKey) -> Self {
        Self {
            server: fields.server,
            device_id: fields.device_id,
            user: fields.user,
            issuer: fields.issuer,
            account: fields.account,
            device_name: fields.device_name,
            server_key: fields.server_key,
            device_key: DeviceKeyBytes(Zeroizing::new(device_key.pkcs8().to_vec())),
            paired_at: fields.paired_at,
        }
    }

    /// Loads the device's signing key (fails when the stored key is damaged).
    pub fn device_key(&self) -> Result<SigningKey, JwsError> {
        SigningKey::from_pkcs8(&self.device_key.0)
    }
}

/// One identity at one relying party.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Account {
    /// Stable identifier, unique in the vault.
    pub id: AccountId,
    /// The service ("GitHub"); may be empty.
    pub issuer: String,
    /// The account name at that service ("alice@example.com").
    pub label: String,
    /// Codes, if the account has them (a push-only account does not).
    pub otp: Option<OtpPart>,
    /// The pairing with a push server, if the account has one. Never
    /// exported or backed up (see [`PushPart`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub push: Option<PushPart>,
    /// User-chosen tags, used for grouping and search.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
    /// A free-text note.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub note: String,
    /// A hint for which icon to show (usually the issuer's domain).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub icon: Option<String>,
    /// When the account was added, in seconds since the epoch.
    pub created_at: u64,
    /// When the account last changed, in seconds since the epoch.
    pub updated_at: u64,
}

impl Account {
    /// A new account from a parsed otpauth URI, with a fresh random id.
    pub fn from_uri(uri: OtpauthUri, now_secs: u64) -> Self {
        Self {
            id: uuid::Uuid::new_v4().to_string(),
            issuer: uri.issuer,
            label: uri.label,
            otp: Some(OtpPart {
                params: uri.params,
                secret: uri.secret,
                extra_uri_params: uri.extra,
            }),
            push: None,
            tags: Vec::new(),
            note: String::new(),
            icon: None,
            created_at: now_secs,
            updated_at: now_secs,
        }
    }

    /// The otpauth URI for this account, or `None` without an OTP part.
    /// The URI contains the secret, so it is zeroized on drop.
    pub fn to_uri(&self) -> Option<zeroize::Zeroizing<String>> {
        let otp = self.otp.as_ref()?;
        Some(
            OtpauthUri {
                params: otp.params,
                secret: otp.secret.clone(),
                issuer: self.issuer.clone(),
                label: self.label.clone(),
                extra: otp.extra_uri_params.clone(),
            }
            .to_uri(),
        )
    }

    /// "Issuer (label)", or just the label without an issuer.
    pub fn display_name(&self) -> String {
        if self.issuer.is_empty() {
            self.label.clone()
        } else if self.label.is_empty() {
            self.issuer.clone()
        } else {
            format!("{} ({})", self.issuer, self.label)
        }
    }

    /// Case-insensitive match on issuer, label, tags or an id prefix.
    pub fn matches(&self, query: &str) -> bool {
        let query = query.to_lowercase();
        self.id.starts_with(&query)
            || self.issuer.to_lowercase().contains(&query)
            || self.label.to_lowercase().contains(&query)
            || self.display_name().to_lowercase() == query
            || self.tags.iter().any(|t| t.to_lowercase() == query)
    }

    /// True when issuer, label and secret equal another account's (a duplicate).
    pub fn same_identity(&self, other: &Account) -> bool {
        self.issuer == other.issuer
            && self.label == other.label
            && self.otp.as_ref().map(|o| &o.secret) == other.otp.as_ref().map(|o| &o.secret)
    }

    /// A new push-only account for a fresh pairing, with a random id.
    pub fn from_pairing(issuer: String, label: String, push: PushPart, now_secs: u64) -> Self {
        Self {
            id: uuid::Uuid::new_v4().to_string(),
            issuer,
            label,
            otp: None,
            push: Some(push),
            tags: Vec::new(),
            note: String::new(),
            icon: None,
            created_at: now_secs,
            updated_at: now_secs,
        }
    }

    /// This account without its push part: what may leave the device
    /// (exports, backups). `None` for a push-only account.
    pub fn without_push(&self) -> Option<Account> {
        self.otp.as_ref()?;
        Some(Account {
            push: None,
            ..self.clone()
        })
    }

    /// The secret, if any (for export paths only).
    pub fn secret(&self) -> Option<&Secret> {
        self.otp.as_ref().map(|o| &o.secret)
    }
}
