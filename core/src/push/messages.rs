//! The signed messages of the push protocol and the checks both ends apply:
//! prompts (§3.3, server → device), request proofs (§4, device → server) and
//! answers (§5, device → server).
//!
//! Times are seconds since the Unix epoch and always arguments: this module
//! never reads a clock.

use std::collections::HashMap;
use std::sync::Mutex;

use ring::digest;
use serde::{Deserialize, Serialize};

use super::jws::{self, JwsError, KeyRef, PublicKey, SigningKey, b64url, b64url_decode, quoted};

/// The protocol version carried in prompts and answers.
pub const VERSION: u32 = 1;

/// `typ` of a signed prompt.
pub const PROMPT_TYP: &str = "tessera-prompt+jwt";
/// `typ` of a request proof.
pub const PROOF_TYP: &str = "tessera-proof+jwt";
/// `typ` of a signed answer.
pub const ANSWER_TYP: &str = "tessera-answer+jwt";

/// The longest a prompt may live (`exp - iat`), in seconds.
pub const MAX_PROMPT_LIFETIME: u64 = 600;
/// How far a proof's `iat` may be from the verifier's clock, in seconds.
pub const PROOF_IAT_WINDOW: u64 = 60;
/// How long a proof's `jti` is remembered, in seconds.
pub const JTI_MEMORY: u64 = 120;

/// Why a message was refused. Names the field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MessageError {
    /// The JWS itself (form, header, signature, payload JSON).
    #[error(transparent)]
    Jws(#[from] JwsError),
    /// `v` is not 1.
    #[error("v: version {found} is not supported (only 1)")]
    UnsupportedVersion {
        /// The version found.
        found: u32,
    },
    /// The prompt is for another device.
    #[error("device_id: the prompt is for another device")]
    WrongDevice,
    /// `exp` is not after `iat`.
    #[error("exp: must be after iat")]
    ExpiresBeforeIssued,
    /// `exp - iat` is over [`MAX_PROMPT_LIFETIME`].
    #[error("exp: the prompt lives {lifetime} s; the limit is {max} s", max = MAX_PROMPT_LIFETIME)]
    LifetimeTooLong {
        /// `exp - iat`.
        lifetime: u64,
    },
    /// The prompt has expired (counting the clock's uncertainty).
    #[error("exp: the prompt expired")]
    Expired,
    /// `mode` and `choices` disagree, or a choice is not a 4–8 digit number.
    #[error("choices: {reason}")]
    BadChoices {
        /// What is wrong.
        reason: &'static str,
    },
    /// A random value (`nonce`, `jti`) is not base64url of 16 bytes.
    #[error("{field}: must be 128 random bits in base64url")]
    BadRandom {
        /// `nonce` or `jti`.
        field: &'static str,
    },
    /// A text field is empty.
    #[error("{field}: must not be empty")]
    Empty {
        /// The field's name.
        field: &'static str,
    },
    /// The proof's `htm` is not the request's method.
    #[error("htm: \"{found}\" does not match the request method")]
    MethodMismatch {
        /// The method in the proof (shortened).
        found: String,
    },
    /// The proof's `htu` is not the request's URL.
    #[error("htu: \"{found}\" does not match the request URL")]
    UrlMismatch {
        /// The URL in the proof (shortened).
        found: String,
    },
    /// The proof's `iat` is more than [`PROOF_IAT_WINDOW`] from now.
    #[error("iat: {iat} is more than {window} s from now ({now})", window = PROOF_IAT_WINDOW)]
    IatOutOfWindow {
        /// The proof's `iat`.
        iat: u64,
        /// The verifier's time.
        now: u64,
    },
    /// The proof's `bh` is not the hash of the body.
    #[error("bh: does not match the request body")]
    BodyHashMismatch,
    /// The proof's `jti` was seen before.
    #[error("jti: the proof was already used")]
    Replayed,
    /// The answer's `prompt_id` is not the prompt's.
    #[error("prompt_id: the answer is for another prompt")]
    PromptIdMismatch,
    /// The answer's `nonce` is not the prompt's.
    #[error("nonce: does not match the prompt's")]
    NonceMismatch,
    /// An `approve` answer without `number`, or a number that is not 4–8 digits.
    #[error("number: {reason}")]
    BadNumber {
        /// What is wrong.
        reason: &'static str,
    },
    /// The header's `kid` is not the expected key id.
    #[error("header.kid: not the expected key id")]
    WrongKid,
}

impl MessageError {
    /// The field at fault (`exp`, `nonce`, `header.alg`, …).
    pub fn field(&self) -> &'static str {
        match self {
            Self::Jws(e) => e.field(),
            Self::UnsupportedVersion { .. } => "v",
            Self::WrongDevice => "device_id",
            Self::ExpiresBeforeIssued | Self::LifetimeTooLong { .. } | Self::Expired => "exp",
            Self::BadChoices { .. } => "choices",
            Self::BadRandom { field } | Self::Empty { field } => field,
            Self::MethodMismatch { .. } => "htm",
            Self::UrlMismatch { .. } => "htu",
            Self::IatOutOfWindow { .. } => "iat",
            Self::BodyHashMismatch => "bh",
            Self::Replayed => "jti",
            Self::PromptIdMismatch => "prompt_id",
            Self::NonceMismatch => "nonce",
            Self::BadNumber { .. } => "number",
            Self::WrongKid => "header.kid",
        }
    }
}

/// 128 random bits, base64url (22 characters): a `nonce` or a `jti`.
pub fn random_id() -> Result<String, MessageError> {
    let bytes = crate::aead::random_bytes::<16>().map_err(|_| JwsError::Rng)?;
    Ok(b64url(&bytes))
}

fn check_random(value: &str, field: &'static str) -> Result<(), MessageError> {
    if value.len() == 22 && b64url_decode(value).is_some_and(|b| b.len() == 16) {
        Ok(())
    } else {
        Err(MessageError::BadRandom { field })
    }
}

fn check_nonempty(value: &str, field: &'static str) -> Result<(), MessageError> {
    if value.is_empty() {
        Err(MessageError::Empty { field })
    } else {
        Ok(())
    }
}

fn is_number(value: &str) -> bool {
    (4..=8).contains(&value.len()) && value.bytes().all(|b| b.is_ascii_digit())
}

// ---------------------------------------------------------------- prompts

/// How the user gives the number (§3.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PromptMode {
    /// The user types the number shown on the login page.
    Entry,
    /// The user picks it among three.
    Choice,
}

/// Where the login attempt comes from, as the relying party described it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PromptContext {
    /// The client's IP address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip: Option<String>,
    /// An approximate location.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location: Option<String>,
    /// The browser or client.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_agent: Option<String>,
    /// The application or flow (e.g. "Web login").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub app: Option<String>,
}

/// The payload of a signed prompt (§3.3).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PromptClaims {
    /// Protocol version (1).
    pub v: u32,
    /// The prompt's id.
    pub prompt_id: String,
    /// The device it is for.
    pub device_id: String,
    /// The user at the relying party.
    pub user: String,
    /// The relying party's name.
    pub site: String,
    /// Where the login comes from.
    #[serde(default)]
    pub context: PromptContext,
    /// Entry or choice.
    pub mode: PromptMode,
    /// The three numbers to pick from (`choice` mode only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub choices: Option<Vec<String>>,
    /// Issued at.
    pub iat: u64,
    /// Expires at.
    pub exp: u64,
    /// 128 random bits, echoed in the answer.
    pub nonce: String,
}

/// The device's idea of the time: the trusted clock's estimate and its
/// uncertainty, both in seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeviceTime {
    /// Seconds since the Unix epoch.
    pub now: u64,
    /// How far off `now` may be.
    pub uncertainty: u64,
}

/// Whether the prompt's expiry could be checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PromptFreshness {
    /// `now + uncertainty < exp`.
    Fresh,
    /// The device does not know the time; the server decides (§3.3).
    TimeUnknown,
}

impl PromptClaims {
    /// The §3.3 checks on a prompt whose signature already verified:
    /// `v` is 1, `device_id` is ours, `exp > iat`, `exp - iat ≤ 600`, the
    /// fields are well formed, and (when the time is known)
    /// `now + uncertainty < exp`.
    pub fn check(
        &self,
        our_device_id: &str,
        time: Option<DeviceTime>,
    ) -> Result<PromptFreshness, MessageError> {
        if self.v != VERSION {
            return Err(MessageError::UnsupportedVersion { found: self.v });
        }
        if self.device_id != our_device_id {
            return Err(MessageError::WrongDevice);
        }
        check_nonempty(&self.prompt_id, "prompt_id")?;
        check_random(&self.nonce, "nonce")?;
        if self.exp <= self.iat {
            return Err(MessageError::ExpiresBeforeIssued);
        }
        let lifetime = self.exp - self.iat;
        if lifetime > MAX_PROMPT_LIFETIME {
            return Err(MessageError::LifetimeTooLong { lifetime });
        }
        match (self.mode, &self.choices) {
            (PromptMode::Entry, None) => {}
            (PromptMode::Entry, Some(_)) => {
                return Err(MessageError::BadChoices {
                    reason: "an entry prompt must not carry choices",
                });
            }
            (PromptMode::Choice, None) => {
                return Err(MessageError::BadChoices {
                    reason: "a choice prompt needs three choices",
                });
            }
            (PromptMode::Choice, Some(choices)) => {
                let distinct = choices
                    .iter()
                    .enumerate()
                    .all(|(i, c)| !choices[..i].contains(c));
                if choices.len() != 3 || !distinct || !choices.iter().all(|c| is_number(c)) {
                    return Err(MessageError::BadChoices {
                        reason: "must be three different numbers of 4 to 8 digits",
                    });
                }
            }
        }
        match time {
            None => Ok(PromptFreshness::TimeUnknown),
            Some(t) if t.now.saturating_add(t.uncertainty) < self.exp => Ok(PromptFreshness::Fresh),
            Some(_) => Err(MessageError::Expired),
        }
    }

    /// Signs the prompt with the server key (`kid` = its thumbprint).
    pub fn sign(&self, server_key: &SigningKey) -> Result<String, MessageError> {
        let kid = KeyRef::Kid(server_key.public_key().thumbprint());
        Ok(server_key.sign_json(PROMPT_TYP, &kid, self)?)
    }

    /// Verifies a prompt JWS under the **pinned** server key, then applies
    /// [`PromptClaims::check`].
    pub fn verify(
        token: &str,
        pinned: &PublicKey,
        our_device_id: &str,
        time: Option<DeviceTime>,
    ) -> Result<(Self, PromptFreshness), MessageError> {
        let verified = jws::verify(token, pinned, PROMPT_TYP)?;
        let claims: Self = jws::decode_claims(&verified.payload)?;
        let freshness = claims.check(our_device_id, time)?;
        Ok((claims, freshness))
    }
}

// ---------------------------------------------------------------- proofs

/// The payload of a request proof (§4).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProofClaims {
    /// The HTTP method.
    pub htm: String,
    /// The request URL.
    pub htu: String,
    /// Issued at.
    pub iat: u64,
    /// 128 random bits, single use.
    pub jti: String,
    /// base64url SHA-256 of the exact body bytes.
    pub bh: String,
}

/// The request a proof must match, as the verifier saw it.
#[derive(Debug, Clone, Copy)]
pub struct ProofRequest<'a> {
    /// The HTTP method (`GET`, `POST`, …).
    pub method: &'a str,
    /// The full request URL, exactly as the proof must name it.
    pub url: &'a str,
    /// The exact body bytes (empty for `GET`).
    pub body: &'a [u8],
}

/// base64url SHA-256 of `body`: the `bh` claim.
pub fn body_hash(body: &[u8]) -> String {
    b64url(digest::digest(&digest::SHA256, body).as_ref())
}

/// Remembers proof ids (`jti`) to refuse a replay.
pub trait ReplayGuard {
    /// `true` the first time `jti` is seen (and records it), `false` for a
    /// replay. `iat` is the proof's issue time, to know when to forget it.
    fn first_use(&self, jti: &str, iat: u64) -> bool;
}

/// An in-memory [`ReplayGuard`] that forgets a `jti` once its `iat` is more
/// than [`JTI_MEMORY`] seconds older than the newest `iat` seen. Proofs are
/// accepted only within ±[`PROOF_IAT_WINDOW`] of now, so the newest `iat`
/// is at most `now + 60` and a forgotten entry (`iat < now - 60`) could no
/// longer pass the time check anyway.
#[derive(Debug, Default)]
pub struct MemoryReplayGuard {
    state: Mutex<GuardState>,
}

#[derive(Debug, Default)]
struct GuardState {
    newest: u64,
    seen: HashMap<String, u64>,
}

impl MemoryReplayGuard {
    /// An empty guard.
    pub fn new() -> Self {
        Self::default()
    }

    /// How many ids are remembered.
    pub fn len(&self) -> usize {
        self.lock().seen.len()
    }

    /// Whether no id is remembered.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, GuardState> {
        // A panic while holding the lock leaves a consistent map.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl ReplayGuard for MemoryReplayGuard {
    fn first_use(&self, jti: &str, iat: u64) -> bool {
        let mut state = self.lock();
        if iat > state.newest {
            state.newest = iat;
            let horizon = iat.saturating_sub(JTI_MEMORY);
            state.seen.retain(|_, seen_iat| *seen_iat >= horizon);
        }
        if state.seen.contains_key(jti) {
            return false;
        }
        state.seen.insert(jti.to_string(), iat);
        true
    }
}

impl ProofClaims {
    /// Makes and signs a proof for a request at time `now`. `key_ref` is
    /// `Kid(device_id)`, or `Jwk` at enrollment.
    pub fn create(
        device_key: &SigningKey,
        key_ref: &KeyRef,
        request: ProofRequest<'_>,
        now: u64,
    ) -> Result<String, MessageError> {
        let claims = Self {
            htm: request.method.to_string(),
            htu: request.url.to_string(),
            iat: now,
            jti: random_id()?,
            bh: body_hash(request.body),
        };
        Ok(device_key.sign_json(PROOF_TYP, key_ref, &claims)?)
    }

    /// Verifies a proof under the device's registered key: signature, `htm`
    /// and `htu` exactly equal, `|now - iat| ≤ 60`, `bh` equal to the body's
    /// hash, and — last, so a refused proof does not use up its id — `jti`
    /// not seen before.
    pub fn verify(
        token: &str,
        device_key: &PublicKey,
        request: ProofRequest<'_>,
        now: u64,
        guard: &dyn ReplayGuard,
    ) -> Result<Self, MessageError> {
        let verified = jws::verify(token, device_key, PROOF_TYP)?;
        let claims: Self = jws::decode_claims(&verified.payload)?;
        claims.check(request, now)?;
        if !guard.first_use(&claims.jti, claims.iat) {
            return Err(MessageError::Replayed);
        }
        Ok(claims)
    }

    fn check(&self, request: ProofRequest<'_>, now: u64) -> Result<(), MessageError> {
        if self.htm != request.method {
            return Err(MessageError::MethodMismatch {
                found: quoted(&self.htm),
            });
        }
        if self.htu != request.url {
            return Err(MessageError::UrlMismatch {
                found: quoted(&self.htu),
            });
        }
        if self.iat.abs_diff(now) > PROOF_IAT_WINDOW {
            return Err(MessageError::IatOutOfWindow { iat: self.iat, now });
        }
        check_random(&self.jti, "jti")?;
        if self.bh != body_hash(request.body) {
            return Err(MessageError::BodyHashMismatch);
        }
        Ok(())
    }
}

// ---------------------------------------------------------------- answers

/// The user's decision (§5).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Decision {
    /// Approve; `number` is required.
    Approve,
    /// Deny.
    Deny,
    /// Deny and report fraud.
    Fraud,
}

/// The payload of a signed answer (§5).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AnswerClaims {
    /// Protocol version (1).
    pub v: u32,
    /// The prompt answered.
    pub prompt_id: String,
    /// The prompt's nonce.
    pub nonce: String,
    /// The decision.
    pub decision: Decision,
    /// The number typed or picked (required for `approve`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub number: Option<String>,
    /// Issued at.
    pub iat: u64,
}

impl AnswerClaims {
    /// Makes and signs the answer to `prompt` with the device key
    /// (`kid` = `prompt.device_id`).
    pub fn create(
        device_key: &SigningKey,
        prompt: &PromptClaims,
        decision: Decision,
        number: Option<&str>,
        now: u64,
    ) -> Result<String, MessageError> {
        let claims = Self {
            v: VERSION,
            prompt_id: prompt.prompt_id.clone(),
            nonce: prompt.nonce.clone(),
            decision,
            number: number.map(str::to_string),
            iat: now,
        };
        claims.check_number()?;
        let kid = KeyRef::Kid(prompt.device_id.clone());
        Ok(device_key.sign_json(ANSWER_TYP, &kid, &claims)?)
    }

    /// Verifies an answer: signed by the device's key with `kid` equal to
    /// `device_id`, `v` 1, `prompt_id` and `nonce` those of the prompt, and
    /// a number present (4–8 digits) for `approve`. Whether the number is
    /// right, and single use, are the server's state to check.
    pub fn verify(
        token: &str,
        device_key: &PublicKey,
        device_id: &str,
        prompt_id: &str,
        nonce: &str,
    ) -> Result<Self, MessageError> {
        let verified = jws::verify(token, device_key, ANSWER_TYP)?;
        if verified.header.kid.as_deref() != Some(device_id) {
            return Err(MessageError::WrongKid);
        }
        let claims: Self = jws::decode_claims(&verified.payload)?;
        if claims.v != VERSION {
            return Err(MessageError::UnsupportedVersion { found: claims.v });
        }
        if claims.prompt_id != prompt_id {
            return Err(MessageError::PromptIdMismatch);
        }
        if claims.nonce != nonce {
            return Err(MessageError::NonceMismatch);
        }
        claims.check_number()?;
        Ok(claims)
    }

    fn check_number(&self) -> Result<(), MessageError> {
        match (&self.number, self.decision) {
            (None, Decision::Approve) => Err(MessageError::BadNumber {
                reason: "required to approve",
            }),
            (Some(n), _) if !is_number(n) => Err(MessageError::BadNumber {
                reason: "must be 4 to 8 digits",
            }),
            _ => Ok(()),
        }
    }
}
