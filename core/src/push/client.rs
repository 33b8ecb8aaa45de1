//! The device side of the push protocol (`docs/push-protocol.md` §2–§5,
//! §10.2): pairing, fetching and verifying prompts, answering them, and the
//! device's own management calls. The stream lives in [`super::stream`].
//!
//! Every request carries a `Tessera-Proof` signed by the device key, with
//! `htu` = the server URL + the path (no query) and `iat` from the
//! [`PushClock`]. Every prompt is verified under the **pinned** server key
//! before anything of it is shown.

use std::fmt;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::error::PushError;
use super::handoff::{HandoffClaims, HandoffOffer, MAX_HANDOFF_LIFETIME};
use super::http::{Answer, PROOF_HEADER};
use super::jws::{self, KeyRef, PublicKey, SigningKey, UnverifiedJws};
use super::messages::{
    AnswerClaims, Decision, MessageError, PromptClaims, PromptFreshness, PromptMode, ProofClaims,
    ProofRequest,
};
use super::pairing::{self, PairingUri};
use super::time::PushClock;
use super::wake::check_prompt_id;
use crate::account::{PushPart, PushPartFields};
use crate::http::Http;

/// `typ` of the server's enrollment answer.
pub const ENROLLMENT_TYP: &str = "tessera-enrollment+jwt";

/// The longest device name sent at enrollment, in characters.
pub const MAX_DEVICE_NAME: usize = 64;

/// The longest device id accepted from a server, in characters.
pub const MAX_DEVICE_ID: usize = 128;

/// The most prompts read from one `GET /v1/device/prompts`.
const MAX_PENDING: usize = 64;

/// The largest JSON answer read from the server (bytes): a prompt list
/// of [`MAX_PENDING`] prompts of up to 16 KiB each would be more, but the
/// server keeps at most 3 pending per user.
const MAX_ANSWER_BYTES: usize = 256 * 1024;

/// How the server reaches this device (§2 step 3). The server reads the
/// same type.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase", deny_unknown_fields)]
pub enum Delivery {
    /// The device keeps `GET /v1/device/stream` open (desktop, phones
    /// without a push service).
    Stream,
    /// Web push / UnifiedPush: the server POSTs wake-ups to `endpoint`.
    Webpush {
        /// The push endpoint URL (https, or http on loopback).
        endpoint: String,
    },
    /// Firebase Cloud Messaging.
    Fcm {
        /// The FCM registration token.
        token: String,
    },
    /// Apple Push Notification service.
    Apns {
        /// The APNs device token.
        token: String,
    },
}

impl fmt::Debug for Delivery {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Tokens and endpoints address this device: kept out of logs.
        f.write_str(match self {
            Self::Stream => "Delivery::Stream",
            Self::Webpush { .. } => "Delivery::Webpush(<endpoint redacted>)",
            Self::Fcm { .. } => "Delivery::Fcm(<token redacted>)",
            Self::Apns { .. } => "Delivery::Apns(<token redacted>)",
        })
    }
}

impl Delivery {
    /// The protocol's name for the kind (`stream`, `webpush`, `fcm`, `apns`).
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Stream => "stream",
            Self::Webpush { .. } => "webpush",
            Self::Fcm { .. } => "fcm",
            Self::Apns { .. } => "apns",
        }
    }

    /// Checks the endpoint or token before it is sent.
    pub fn validate(&self) -> Result<(), PushError> {
        let bad = |what: &str| Err(PushError::InvalidInput(format!("delivery: {what}")));
        match self {
            Self::Stream => Ok(()),
            Self::Webpush { endpoint } => {
                if endpoint.len() > 2048
                    || endpoint
                        .chars()
                        .any(|c| c.is_whitespace() || c.is_control())
                {
                    return bad("the endpoint must be a URL of at most 2048 characters");
                }
                let uri: http::Uri = endpoint.parse().map_err(|_| {
                    PushError::InvalidInput("delivery: the endpoint is not a URL".into())
                })?;
                let host = uri.host().unwrap_or_default().to_ascii_lowercase();
                match uri.scheme_str() {
                    Some("https") if !host.is_empty() => Ok(()),
                    Some("http") if pairing::is_loopback(&host) => Ok(()),
                    _ => bad("the endpoint must be an https:// URL"),
                }
            }
            Self::Fcm { token } | Self::Apns { token } => {
                if token.is_empty()
                    || token.len() > 4096
                    || !token.bytes().all(|b| b.is_ascii_graphic())
                {
                    bad("the token must be 1 to 4096 printable characters")
                } else {
                    Ok(())
                }
            }
        }
    }
}

/// The payload of the server's enrollment answer (§10.2).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct EnrollmentClaims {
    /// Protocol version (1).
    pub v: u32,
    /// The id the server gave this device.
    pub device_id: String,
    /// The user at the relying party.
    pub user: String,
    /// The site's name.
    #[serde(default)]
    pub issuer: String,
    /// The server's public key (to pin).
    pub server_key: PublicKey,
}

/// Verifies the server's enrollment JWS against the pairing URI: the
/// `server_key` inside must have the URI's `fp` as its RFC 7638 thumbprint
/// (else [`PushError::KeyMismatch`]), the JWS must verify under that key with
/// `typ` `tessera-enrollment+jwt` (and `kid`, when present, equal to `fp`),
/// `v` must be 1, and `device_id` and `user` well formed.
pub fn verify_enrollment(token: &str, uri: &PairingUri) -> Result<EnrollmentClaims, PushError> {
    verify_enrollment_for(token, &uri.fingerprint)
}

/// [`verify_enrollment`] against a key fingerprint: the QR code's `fp` at
/// pairing, or the thumbprint of the key pinned by the old device at a
/// hand-off.
fn verify_enrollment_for(token: &str, fingerprint: &str) -> Result<EnrollmentClaims, PushError> {
    let unverified = UnverifiedJws::parse(token, ENROLLMENT_TYP)
        .map_err(|e| PushError::BadEnrollment(e.into()))?;
    let claims: EnrollmentClaims = jws::decode_claims(unverified.unverified_payload())
        .map_err(|e| PushError::BadEnrollment(e.into()))?;
    if claims.server_key.thumbprint() != fingerprint {
        return Err(PushError::KeyMismatch);
    }
    if unverified
        .header()
        .kid
        .as_deref()
        .is_some_and(|kid| kid != fingerprint)
    {
        return Err(PushError::BadEnrollment(MessageError::WrongKid));
    }
    unverified
        .verify(&claims.server_key)
        .map_err(|e| PushError::BadEnrollment(e.into()))?;
    if claims.v != 1 {
        return Err(PushError::BadEnrollment(MessageError::UnsupportedVersion {
            found: claims.v,
        }));
    }
    check_device_id(&claims.device_id)?;
    if claims.user.is_empty() || claims.user.chars().count() > 256 {
        return Err(PushError::BadEnrollment(MessageError::Empty {
            field: "user",
        }));
    }
    Ok(claims)
}

fn check_device_id(id: &str) -> Result<(), PushError> {
    let ok = !id.is_empty()
        && id.len() <= MAX_DEVICE_ID
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
    if ok {
        Ok(())
    } else {
        Err(PushError::BadEnrollment(MessageError::Empty {
            field: "device_id",
        }))
    }
}

/// The server URL without a trailing `/`, after checking it is https (or
/// http on a loopback host).
fn base_url(server: &str) -> Result<String, PushError> {
    pairing::check_server(server).map_err(|e| PushError::BadServerUrl {
        reason: e.to_string(),
    })?;
    Ok(server.trim_end_matches('/').to_string())
}

fn json_body<T: Serialize>(value: &T) -> Result<Vec<u8>, PushError> {
    serde_json::to_vec(value).map_err(|e| PushError::InvalidInput(format!("cannot encode: {e}")))
}

fn parse_json<T: for<'de> Deserialize<'de>>(answer: &Answer) -> Result<T, PushError> {
    serde_json::from_slice(&answer.body).map_err(|e| PushError::BadResponse {
        reason: super::error::clean_message(&e.to_string()),
    })
}

/// The device name trimmed, after checking it is 1 to [`MAX_DEVICE_NAME`]
/// characters without control characters.
fn check_device_name(device_name: &str) -> Result<&str, PushError> {
    let device_name = device_name.trim();
    if device_name.is_empty()
        || device_name.chars().count() > MAX_DEVICE_NAME
        || device_name.chars().any(char::is_control)
    {
        return Err(PushError::InvalidInput(format!(
            "the device name must be 1 to {MAX_DEVICE_NAME} characters without control characters"
        )));
    }
    Ok(device_name)
}

/// Pairs this device with a push server (§2): makes a fresh P-256 key,
/// enrolls it with `POST /v1/device/enroll` (proof with the public key as
/// `jwk`), verifies the answer with [`verify_enrollment`] and returns the
/// push part to store. `now` is the best known time (seconds since the
/// epoch): the proof's `iat` and `paired_at`; `http` reaches the server.
pub async fn pair(
    http: &Http,
    uri: &PairingUri,
    device_name: &str,
    delivery: &Delivery,
    now: u64,
) -> Result<PushPart, PushError> {
    uri.validate()
        .map_err(|e| PushError::InvalidInput(format!("pairing URI: {e}")))?;
    let device_name = check_device_name(device_name)?;
    delivery.validate()?;
    let base = base_url(&uri.server)?;
    let key = SigningKey::generate()?;
    #[derive(Serialize)]
    struct Enroll<'a> {
        code: &'a str,
        device_key: &'a PublicKey,
        name: &'a str,
        delivery: &'a Delivery,
    }
    let body = json_body(&Enroll {
        code: &uri.code,
        device_key: key.public_key(),
        name: device_name,
        delivery,
    })?;
    let enrollment =
        post_with_new_key(http, &key, &format!("{base}/v1/device/enroll"), body, now).await?;
    let claims = verify_enrollment(&enrollment, uri)?;
    let issuer = if claims.issuer.is_empty() {
        uri.issuer.clone()
    } else {
        claims.issuer
    };
    Ok(PushPart::new(
        PushPartFields {
            server: base,
            device_id: claims.device_id,
            user: claims.user,
            issuer,
            account: uri.account.clone(),
            device_name: device_name.to_string(),
            server_key: claims.server_key,
            paired_at: now,
        },
        &key,
    ))
}

/// POSTs `body` to `url` with a proof signed by a key the server does not
/// know yet (carried as `jwk`: enrollment, hand-off) and returns the signed
/// enrollment token the server answers with (§10.2).
async fn post_with_new_key(
    http: &Http,
    key: &SigningKey,
    url: &str,
    body: Vec<u8>,
    now: u64,
) -> Result<String, PushError> {
    let proof = ProofClaims::create(
        key,
        &KeyRef::Jwk,
        ProofRequest {
            method: "POST",
            url,
            body: &body,
        },
        now,
    )
    .map_err(message_to_key_error)?;
    let answer = http
        .call(
            "POST",
            url,
            &[(PROOF_HEADER, &proof)],
            body,
            MAX_ANSWER_BYTES,
        )
        .await?;
    if !(200..300).contains(&answer.status) {
        return Err(refusal(&answer, "device"));
    }
    #[derive(Deserialize)]
    struct Enrolled {
        enrollment: String,
    }
    let enrolled: Enrolled = parse_json(&answer)?;
    Ok(enrolled.enrollment)
}

/// Claims a pairing handed off by the old device (§9): `POST
/// /v1/device/handoff` with a proof signed by `new_key` (carried as `jwk`,
/// as at enrollment) and the old device's authorization, which must name
/// `new_key`. The answer is verified under the server key the old device
/// pinned (`offer.server_key`), and must be for the same user. Returns the
/// push part to store; the server has then revoked the old device.
pub async fn claim_handoff(
    http: &Http,
    offer: &HandoffOffer,
    new_key: &SigningKey,
    device_name: &str,
    delivery: &Delivery,
    now: u64,
) -> Result<PushPart, PushError> {
    let device_name = check_device_name(device_name)?;
    delivery.validate()?;
    let base = base_url(&offer.server)?;
    #[derive(Serialize)]
    struct Claim<'a> {
        authorization: &'a str,
        name: &'a str,
        delivery: &'a Delivery,
    }
    let body = json_body(&Claim {
        authorization: &offer.authorization,
        name: device_name,
        delivery,
    })?;
    let enrollment = post_with_new_key(
        http,
        new_key,
        &format!("{base}/v1/device/handoff"),
        body,
        now,
    )
    .await?;
    let claims = verify_enrollment_for(&enrollment, &offer.server_key.thumbprint())?;
    if claims.user != offer.user {
        return Err(PushError::BadResponse {
            reason: "the server moved the pairing of another user".into(),
        });
    }
    let issuer = if claims.issuer.is_empty() {
        offer.issuer.clone()
    } else {
        claims.issuer
    };
    Ok(PushPart::new(
        PushPartFields {
            server: base,
            device_id: claims.device_id,
            user: claims.user,
            issuer,
            account: offer.account.clone(),
            device_name: device_name.to_string(),
            server_key: claims.server_key,
            paired_at: now,
        },
        new_key,
    ))
}

/// An error answer as a [`PushError`].
fn refusal(answer: &Answer, what: &'static str) -> PushError {
    PushError::from_answer(answer.status, &answer.body, answer.retry_after(), what)
}

/// Signing a proof or answer fails only through the key or the RNG.
fn message_to_key_error(error: MessageError) -> PushError {
    match error {
        MessageError::Jws(e) => PushError::Key(e),
        other => PushError::InvalidAnswer {
            reason: other.to_string(),
        },
    }
}

/// A prompt that passed every check of §3.3 under the pinned key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedPrompt {
    /// The signed claims.
    pub claims: PromptClaims,
    /// Whether the expiry was checked against a known time.
    pub freshness: PromptFreshness,
    /// The stream's event id it came with, if it came on the stream.
    pub event_id: Option<String>,
}

impl VerifiedPrompt {
    /// The prompt's id.
    pub fn id(&self) -> &str {
        &self.claims.prompt_id
    }

    /// False when the device did not know the time: the expiry was not
    /// checked here, and the server decides (tell the user).
    pub fn time_checked(&self) -> bool {
        self.freshness == PromptFreshness::Fresh
    }

    /// Seconds until the prompt expires, at `now`.
    pub fn seconds_left(&self, now: u64) -> u64 {
        self.claims.exp.saturating_sub(now)
    }

    /// The three numbers to pick from, in `choice` mode.
    pub fn choices(&self) -> Option<&[String]> {
        self.claims.choices.as_deref()
    }
}

/// How an answer ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AnswerOutcome {
    /// Approved with the right number: the login goes ahead.
    Approved,
    /// Denied.
    Denied,
    /// Denied and reported as fraud: the site is told, prompts are blocked.
    FraudReported,
    /// The number was wrong; the prompt is still pending.
    WrongNumber {
        /// Tries left (1 or 2).
        attempts_left: u32,
    },
    /// The third wrong number: the prompt failed.
    Failed,
    /// The prompt expired before the answer.
    Expired,
    /// The prompt had already been settled (by another device, or before).
    Finished,
}

impl AnswerOutcome {
    /// True when the prompt is settled (no further answer is possible).
    pub fn is_final(self) -> bool {
        !matches!(self, Self::WrongNumber { .. })
    }

    /// A short stable name (`approved`, `wrong_number`, …).
    pub fn name(self) -> &'static str {
        match self {
            Self::Approved => "approved",
            Self::Denied => "denied",
            Self::FraudReported => "fraud_reported",
            Self::WrongNumber { .. } => "wrong_number",
            Self::Failed => "failed",
            Self::Expired => "expired",
            Self::Finished => "finished",
        }
    }
}

/// A client for one pairing: the server, this device's key and the pinned
/// server key. Cheap to clone (shared inside); needs a tokio runtime.
#[derive(Clone)]
pub struct PushClient {
    inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub(crate) base: String,
    pub(crate) device_id: String,
    pub(crate) key: SigningKey,
    pub(crate) pinned: PublicKey,
    pub(crate) http: Http,
    pub(crate) clock: Arc<dyn PushClock>,
}

impl fmt::Debug for PushClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PushClient")
            .field("server", &self.inner.base)
            .field("device_id", &self.inner.device_id)
            .field("pinned", &self.inner.pinned)
            .finish_non_exhaustive()
    }
}

impl PushClient {
    /// A client for the pairing in `part`, telling time with `clock` and
    /// reaching the server through `http`.
    pub fn new(http: Http, part: &PushPart, clock: Arc<dyn PushClock>) -> Result<Self, PushError> {
        let base = base_url(&part.server)?;
        Ok(Self {
            inner: Arc::new(Inner {
                base,
                device_id: part.device_id.clone(),
                key: part.device_key()?,
                pinned: part.server_key.clone(),
                http,
                clock,
            }),
        })
    }

    pub(crate) fn inner(&self) -> &Inner {
        &self.inner
    }

    /// The server's base URL.
    pub fn server(&self) -> &str {
        &self.inner.base
    }

    /// This device's id at the server.
    pub fn device_id(&self) -> &str {
        &self.inner.device_id
    }

    /// Verifies a prompt JWS (§3.3): signature under the pinned key, our
    /// device id, version, lifetime, and expiry against the trusted time
    /// (unknown time: accepted and marked, the server decides).
    pub fn verify_prompt(
        &self,
        token: &str,
        event_id: Option<String>,
    ) -> Result<VerifiedPrompt, PushError> {
        let time = self.inner.clock.device_time();
        match PromptClaims::verify(token, &self.inner.pinned, &self.inner.device_id, time) {
            Ok((claims, freshness)) => Ok(VerifiedPrompt {
                claims,
                freshness,
                event_id,
            }),
            Err(MessageError::Expired) => Err(PushError::PromptExpired),
            Err(reason) => Err(PushError::UntrustedPrompt { reason }),
        }
    }

    /// Sends a signed request and reads the answer.
    pub(crate) async fn request(
        &self,
        method: &str,
        path: &str,
        body: Vec<u8>,
    ) -> Result<Answer, PushError> {
        let url = format!("{}{path}", self.inner.base);
        let proof = self.proof(method, &url, &body)?;
        self.inner
            .http
            .call(
                method,
                &url,
                &[(PROOF_HEADER, &proof)],
                body,
                MAX_ANSWER_BYTES,
            )
            .await
    }

    /// A fresh proof for one request.
    pub(crate) fn proof(&self, method: &str, url: &str, body: &[u8]) -> Result<String, PushError> {
        ProofClaims::create(
            &self.inner.key,
            &KeyRef::Kid(self.inner.device_id.clone()),
            ProofRequest { method, url, body },
            self.inner.clock.now_secs(),
        )
        .map_err(message_to_key_error)
    }

    /// Every pending prompt for this device (`GET /v1/device/prompts`), each
    /// verified on its own: a bad one is an `Err` in the list, never shown.
    pub async fn pending(&self) -> Result<Vec<Result<VerifiedPrompt, PushError>>, PushError> {
        let answer = self
            .request("GET", "/v1/device/prompts", Vec::new())
            .await?;
        if answer.status != 200 {
            return Err(refusal(&answer, "device"));
        }
        #[derive(Deserialize)]
        struct Prompts {
            prompts: Vec<String>,
        }
        let prompts: Prompts = parse_json(&answer)?;
        Ok(prompts
            .prompts
            .iter()
            .take(MAX_PENDING)
            .map(|token| self.verify_prompt(token, None))
            .collect())
    }

    /// Fetches and verifies one prompt (after a wake-up,
    /// [`super::handle_push_payload`]).
    pub async fn fetch(&self, prompt_id: &str) -> Result<VerifiedPrompt, PushError> {
        check_prompt_id(prompt_id)?;
        let answer = self
            .request(
                "GET",
                &format!("/v1/device/prompts/{prompt_id}"),
                Vec::new(),
            )
            .await?;
        if answer.status != 200 {
            return Err(refusal(&answer, "prompt"));
        }
        #[derive(Deserialize)]
        struct One {
            prompt: String,
        }
        let one: One = parse_json(&answer)?;
        let prompt = self.verify_prompt(&one.prompt, None)?;
        if prompt.id() != prompt_id {
            return Err(PushError::UntrustedPrompt {
                reason: MessageError::PromptIdMismatch,
            });
        }
        Ok(prompt)
    }

    /// Answers a prompt (§5). `number` is what the user typed (entry mode)
    /// or picked (choice mode, where it must be one of the choices); it is
    /// required to approve and not sent otherwise. A prompt the trusted
    /// clock knows to be expired is not sent: [`AnswerOutcome::Expired`].
    pub async fn answer(
        &self,
        prompt: &VerifiedPrompt,
        decision: Decision,
        number: Option<&str>,
    ) -> Result<AnswerOutcome, PushError> {
        let number = match decision {
            Decision::Approve => {
                let number = number
                    .map(str::trim)
                    .filter(|n| !n.is_empty())
                    .ok_or_else(|| PushError::InvalidAnswer {
                        reason: "the number shown on the login page is needed to approve".into(),
                    })?;
                if prompt.claims.mode == PromptMode::Choice
                    && !prompt
                        .choices()
                        .is_some_and(|choices| choices.iter().any(|c| c == number))
                {
                    return Err(PushError::InvalidAnswer {
                        reason: "pick one of the three numbers shown".into(),
                    });
                }
                Some(number)
            }
            Decision::Deny | Decision::Fraud => None,
        };
        if let Some(time) = self.inner.clock.device_time()
            && time.now.saturating_add(time.uncertainty) >= prompt.claims.exp
        {
            return Ok(AnswerOutcome::Expired);
        }
        let token = AnswerClaims::create(
            &self.inner.key,
            &prompt.claims,
            decision,
            number,
            self.inner.clock.now_secs(),
        )
        .map_err(|e| match e {
            MessageError::BadNumber { reason } => PushError::InvalidAnswer {
                reason: format!("the number {reason}"),
            },
            other => message_to_key_error(other),
        })?;
        #[derive(Serialize)]
        struct Body<'a> {
            answer: &'a str,
        }
        let answer = self
            .request(
                "POST",
                "/v1/device/answer",
                json_body(&Body { answer: &token })?,
            )
            .await?;
        #[derive(Deserialize)]
        struct State {
            #[serde(default)]
            state: String,
            #[serde(default)]
            attempts_left: Option<u32>,
        }
        if answer.status == 200 {
            let state: State = parse_json(&answer)?;
            return match state.state.as_str() {
                "approved" => Ok(AnswerOutcome::Approved),
                "denied" => Ok(AnswerOutcome::Denied),
                "fraud_reported" => Ok(AnswerOutcome::FraudReported),
                "failed" => Ok(AnswerOutcome::Failed),
                "expired" => Ok(AnswerOutcome::Expired),
                "pending" => match state.attempts_left {
                    Some(0) => Ok(AnswerOutcome::Failed),
                    Some(attempts_left) => Ok(AnswerOutcome::WrongNumber { attempts_left }),
                    None => Err(PushError::BadResponse {
                        reason: "the prompt is still pending after the answer".into(),
                    }),
                },
                other => Err(PushError::BadResponse {
                    reason: format!("unknown state \"{}\"", jws::quoted(other)),
                }),
            };
        }
        match refusal(&answer, "prompt") {
            PushError::PromptExpired => Ok(AnswerOutcome::Expired),
            PushError::PromptFinished => Ok(AnswerOutcome::Finished),
            PushError::Server {
                code: Some(code), ..
            } if code == "wrong_number" => {
                let state: State = parse_json(&answer)?;
                match state.attempts_left {
                    Some(0) | None => Ok(AnswerOutcome::Failed),
                    Some(attempts_left) => Ok(AnswerOutcome::WrongNumber { attempts_left }),
                }
            }
            other => Err(other),
        }
    }

    /// Signs a hand-off authorization (§9) that lets the device holding
    /// `new_key` take over this pairing, valid for
    /// [`MAX_HANDOFF_LIFETIME`] seconds from the clock's time.
    pub fn sign_handoff(&self, new_key: &PublicKey) -> Result<String, PushError> {
        HandoffClaims::create(
            &self.inner.key,
            &self.inner.device_id,
            new_key,
            self.inner.clock.now_secs(),
            MAX_HANDOFF_LIFETIME,
        )
        .map_err(message_to_key_error)
    }

    /// The offer to put in a transfer envelope for this pairing: the
    /// authorization for `new_key` and what the new device needs to use
    /// it. `account` is the vault account holding the pairing.
    pub fn handoff_offer(
        &self,
        part: &PushPart,
        account: &crate::account::Account,
        new_key: &PublicKey,
    ) -> Result<HandoffOffer, PushError> {
        Ok(HandoffOffer {
            server: self.inner.base.clone(),
            issuer: account.issuer.clone(),
            account: account.label.clone(),
            user: part.user.clone(),
            server_key: self.inner.pinned.clone(),
            authorization: self.sign_handoff(new_key)?,
            account_id: Some(account.id.clone()),
        })
    }

    /// Tells the server that the replacing enrollment which revoked this
    /// device was **not** the user's doing (§9, lost phone): `POST
    /// /v1/device/report` with `{"reason": "not_me"}`. The server blocks
    /// prompts for the user, as after a fraud report, until the site
    /// clears it. Accepted from a device revoked as `replaced` within the
    /// last 7 days, and from an active one.
    pub async fn report_replaced(&self) -> Result<(), PushError> {
        #[derive(Serialize)]
        struct Body {
            reason: &'static str,
        }
        let answer = self
            .request(
                "POST",
                "/v1/device/report",
                json_body(&Body { reason: "not_me" })?,
            )
            .await?;
        if answer.status == 200 {
            Ok(())
        } else {
            Err(refusal(&answer, "device"))
        }
    }

    /// Unpairs: `DELETE /v1/device` (the server revokes this device). A
    /// device the server already revoked or forgot counts as done.
    pub async fn unpair(&self) -> Result<(), PushError> {
        let answer = self.request("DELETE", "/v1/device", Vec::new()).await?;
        if answer.status == 200 {
            return Ok(());
        }
        match refusal(&answer, "device") {
            PushError::DeviceRevoked { .. } | PushError::NotFound { .. } => Ok(()),
            other => Err(other),
        }
    }

    /// Tells the server a new way to reach this device (a new FCM token,
    /// web push endpoint, …): `POST /v1/device/delivery`.
    pub async fn update_delivery(&self, delivery: &Delivery) -> Result<(), PushError> {
        delivery.validate()?;
        #[derive(Serialize)]
        struct Body<'a> {
            delivery: &'a Delivery,
        }
        let answer = self
            .request(
                "POST",
                "/v1/device/delivery",
                json_body(&Body { delivery })?,
            )
            .await?;
        if answer.status == 200 {
            Ok(())
        } else {
            Err(refusal(&answer, "device"))
        }
    }
}
