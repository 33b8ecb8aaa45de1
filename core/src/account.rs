//! Accounts: one identity at one relying party, with what makes its codes.

use serde::{Deserialize, Serialize};

use crate::otp::{Code, OtpError, OtpGenerator, OtpParams, Timestamp};
use crate::otpauth::OtpauthUri;
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

    /// The secret, if any (for export paths only).
    pub fn secret(&self) -> Option<&Secret> {
        self.otp.as_ref().map(|o| &o.secret)
    }
}
