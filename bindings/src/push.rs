//! Push approval for the apps (DESIGN §5, `docs/push-protocol.md`): pairing,
//! the prompts of a paired account, answers, the prompt stream and the
//! wake-ups of FCM and APNs. Everything runs on `tessera_core::push`; this
//! module only adapts it.
//!
//! Pairings live in the vault (the push part of an account), so every call
//! but [`Authenticator::handle_push_payload`] needs the vault unlocked. The
//! network calls are async and run on tokio; the trusted clock judges
//! expiry and dates the request proofs.

use std::sync::Arc;
use std::time::Duration;

use tessera_core::push::{
    self, AnswerOutcome as CoreOutcome, Decision, Delivery, PairingError, PairingUri, PromptMode,
    PushClient, PushClock, PushError, PushEvent as CoreEvent, Subscription, VerifiedPrompt,
};
use tessera_core::{Account, PushPart};
use tokio::sync::{Mutex as AsyncMutex, watch};

use crate::TesseraError;
use crate::authenticator::Authenticator;

/// How long `unpair_push` waits for the server.
const UNPAIR_TIMEOUT: Duration = Duration::from_secs(15);

/// How the number is given, as the prompt's site chose it.
#[uniffi::remote(Enum)]
pub enum PromptMode {
    /// The user types the number the login page shows.
    Entry,
    /// The user picks the number the login page shows among three.
    Choice,
}

/// How the push server reaches this device.
///
/// Tokens and endpoints address the device: they are sent to the paired
/// server only and never appear in an error.
#[derive(Clone, PartialEq, Eq, uniffi::Enum)]
pub enum PushDelivery {
    /// The app keeps the prompt stream open (`subscribe_push`): phones
    /// without a push service, or an app in the foreground.
    Stream,
    /// Web push or UnifiedPush: the server POSTs wake-ups to `endpoint`.
    Webpush {
        /// The push endpoint URL (https).
        endpoint: String,
    },
    /// Firebase Cloud Messaging.
    Fcm {
        /// The FCM registration token.
        token: String,
    },
    /// Apple Push Notification service.
    Apns {
        /// The APNs device token, in hex.
        token: String,
    },
}

impl std::fmt::Debug for PushDelivery {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(&Delivery::from(self.clone()), f)
    }
}

impl From<PushDelivery> for Delivery {
    fn from(delivery: PushDelivery) -> Self {
        match delivery {
            PushDelivery::Stream => Self::Stream,
            PushDelivery::Webpush { endpoint } => Self::Webpush { endpoint },
            PushDelivery::Fcm { token } => Self::Fcm { token },
            PushDelivery::Apns { token } => Self::Apns { token },
        }
    }
}

/// The user's answer to a prompt.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum PushDecision {
    /// It is me: approve, with the number the login page shows.
    Approve,
    /// Deny (no number needed).
    Deny,
    /// It is not me: deny and report fraud. The site is told and further
    /// prompts for the user are blocked until the site clears the report.
    Fraud,
}

impl From<PushDecision> for Decision {
    fn from(decision: PushDecision) -> Self {
        match decision {
            PushDecision::Approve => Self::Approve,
            PushDecision::Deny => Self::Deny,
            PushDecision::Fraud => Self::Fraud,
        }
    }
}

/// How an answer ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum AnswerOutcome {
    /// Approved with the right number: the sign-in goes ahead.
    Approved,
    /// Denied.
    Denied,
    /// Denied and reported as fraud.
    FraudReported,
    /// The number was wrong; the prompt is still waiting for an answer.
    WrongNumber {
        /// Tries left (1 or 2).
        attempts_left: u32,
    },
    /// The third wrong number: the prompt failed.
    Failed,
    /// The prompt expired before the answer.
    Expired,
    /// The prompt was already settled (on another device, or before).
    Finished,
}

impl From<CoreOutcome> for AnswerOutcome {
    fn from(outcome: CoreOutcome) -> Self {
        match outcome {
            CoreOutcome::Approved => Self::Approved,
            CoreOutcome::Denied => Self::Denied,
            CoreOutcome::FraudReported => Self::FraudReported,
            CoreOutcome::WrongNumber { attempts_left } => Self::WrongNumber { attempts_left },
            CoreOutcome::Failed => Self::Failed,
            CoreOutcome::Expired => Self::Expired,
            CoreOutcome::Finished => Self::Finished,
        }
    }
}

/// An account paired with a push server, as the UI lists it.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct PushAccount {
    /// The account's id (the same as in `accounts()`).
    pub account_id: String,
    /// The site's name.
    pub issuer: String,
    /// The account name at the site.
    pub label: String,
    /// The push server's base URL.
    pub server: String,
    /// The user name at the site, as the server signed it.
    pub user: String,
    /// This device's id at the server.
    pub device_id: String,
    /// The name this device enrolled with.
    pub device_name: String,
    /// When the pairing was made (seconds since the epoch).
    pub paired_at: u64,
    /// True when the account also has codes (the pairing was attached to an
    /// existing account); unpairing then keeps the account.
    pub has_codes: bool,
}

impl PushAccount {
    pub(crate) fn of(account: &Account, part: &PushPart) -> Self {
        Self {
            account_id: account.id.clone(),
            issuer: account.issuer.clone(),
            label: account.label.clone(),
            server: part.server.clone(),
            user: part.user.clone(),
            device_id: part.device_id.clone(),
            device_name: part.device_name.clone(),
            paired_at: part.paired_at,
            has_codes: account.otp.is_some(),
        }
    }
}

/// A sign-in request that passed every check under the server key pinned
/// at pairing (signature, this device, lifetime, and expiry when the time is
/// known). Text fields come from the site: show them as plain text.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct PushPrompt {
    /// The paired account it is for.
    pub account_id: String,
    /// The prompt's id (for `fetch_prompt` and `answer_prompt`).
    pub id: String,
    /// The site asking.
    pub site: String,
    /// The user at the site.
    pub user: String,
    /// The IP address the sign-in comes from, when the site gave it.
    pub ip: Option<String>,
    /// An approximate location, when the site gave it.
    pub location: Option<String>,
    /// The browser or client, when the site gave it.
    pub user_agent: Option<String>,
    /// The application or flow ("Web login"), when the site gave it.
    pub app: Option<String>,
    /// Whether the user types the number or picks it.
    pub mode: PromptMode,
    /// The three numbers to pick from in `Choice` mode; empty in `Entry`
    /// mode (the number itself is never in a prompt).
    pub choices: Vec<String>,
    /// When the server issued it (seconds since the epoch).
    pub issued_at: u64,
    /// When it expires (seconds since the epoch).
    pub expires_at: u64,
    /// Seconds left when this record was made, by the trusted clock (or the
    /// device clock when the time is unknown).
    pub seconds_left: u64,
    /// False when the device did not know the time: the expiry was not
    /// checked here and the server decides. Tell the user.
    pub time_checked: bool,
}

impl PushPrompt {
    fn of(account_id: &str, prompt: &VerifiedPrompt, now: u64) -> Self {
        let claims = &prompt.claims;
        Self {
            account_id: account_id.to_string(),
            id: claims.prompt_id.clone(),
            site: claims.site.clone(),
            user: claims.user.clone(),
            ip: claims.context.ip.clone(),
            location: claims.context.location.clone(),
            user_agent: claims.context.user_agent.clone(),
            app: claims.context.app.clone(),
            mode: claims.mode,
            choices: prompt.choices().map(<[String]>::to_vec).unwrap_or_default(),
            issued_at: claims.iat,
            expires_at: claims.exp,
            seconds_left: prompt.seconds_left(now),
            time_checked: prompt.time_checked(),
        }
    }
}

/// Something that happened on a prompt stream.
// Not boxed: it is serialised across the FFI at once, and one event at a time
// lives on the Rust side.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Enum)]
pub enum PushEvent {
    /// The stream is (again) connected.
    Connected,
    /// A verified prompt: show it.
    Prompt {
        /// The prompt.
        prompt: PushPrompt,
    },
    /// A prompt failed a check (signed by another key, for another device,
    /// already expired…) and was dropped. Never show it as valid.
    Rejected {
        /// Which check failed.
        reason: String,
    },
    /// The connection failed or ended; it is retried by itself.
    Disconnected {
        /// Why.
        reason: String,
        /// When the next attempt starts, in milliseconds.
        retry_in_ms: u64,
    },
    /// The server revoked this device (`revoked`, `replaced`, `handoff`):
    /// the stream is over and the pairing is dead. Pair again, or remove it
    /// with `unpair_push(force = true)`.
    Revoked {
        /// The server's reason.
        reason: String,
    },
}

impl PushEvent {
    fn of(account_id: &str, event: CoreEvent, clock: &dyn PushClock) -> Self {
        match event {
            CoreEvent::Connected => Self::Connected,
            CoreEvent::Prompt(prompt) => Self::Prompt {
                prompt: PushPrompt::of(account_id, &prompt, clock.now_secs()),
            },
            CoreEvent::Rejected(error) => Self::Rejected {
                reason: error.to_string(),
            },
            CoreEvent::Disconnected { error, retry_in } => Self::Disconnected {
                reason: error.to_string(),
                retry_in_ms: u64::try_from(retry_in.as_millis()).unwrap_or(u64::MAX),
            },
            CoreEvent::Revoked { reason } => Self::Revoked { reason },
        }
    }
}

/// Where a subscription is.
enum StreamState {
    /// `next()` was not called yet: not connected.
    Idle(PushClient),
    /// Connected (or reconnecting) in the background.
    Running(Subscription),
    /// Cancelled, or the device was revoked.
    Over,
}

/// The prompt stream of one paired account: a handle that keeps the
/// connection open in the background and reconnects by itself (the
/// matrix-rust-sdk pattern of a handle with `cancel()`).
///
/// Connects when `next()` is first awaited. Take events with `next()` from
/// one place at a time; `cancel()` (from anywhere) ends the stream and makes
/// `next()` return `null`/`nil`. Dropping or closing the object cancels it
/// too.
#[derive(uniffi::Object)]
pub struct PushSubscription {
    account_id: String,
    clock: Arc<dyn PushClock>,
    state: AsyncMutex<StreamState>,
    cancelled: watch::Sender<bool>,
}

#[uniffi::export(async_runtime = "tokio")]
impl PushSubscription {
    /// The next event, waiting as long as it takes; `null`/`nil` once the
    /// stream is over: after `cancel()`, or after a `Revoked` event.
    pub async fn next(&self) -> Option<PushEvent> {
        let mut cancelled = self.cancelled.subscribe();
        if *cancelled.borrow_and_update() {
            return None;
        }
        let mut state = tokio::select! {
            state = self.state.lock() => state,
            _ = cancelled.wait_for(|c| *c) => return None,
        };
        if *cancelled.borrow() {
            *state = StreamState::Over;
            return None;
        }
        if let StreamState::Idle(client) = &*state {
            let subscription = client.subscribe();
            *state = StreamState::Running(subscription);
        }
        let StreamState::Running(subscription) = &mut *state else {
            return None;
        };
        let event = tokio::select! {
            biased;
            _ = cancelled.wait_for(|c| *c) => None,
            event = subscription.next() => event,
        };
        match event {
            Some(event) => Some(PushEvent::of(&self.account_id, event, self.clock.as_ref())),
            None => {
                // Cancelled, or the stream ended after a revocation.
                *state = StreamState::Over;
                None
            }
        }
    }

    /// Ends the stream: the connection is closed, a waiting `next()` returns
    /// `null`/`nil`, and so does every later one. Idempotent.
    pub fn cancel(&self) {
        self.cancelled.send_replace(true);
        // When `next()` holds the state, it drops the stream itself.
        if let Ok(mut state) = self.state.try_lock() {
            *state = StreamState::Over;
        }
    }

    /// The paired account this stream is for.
    pub fn account_id(&self) -> String {
        self.account_id.clone()
    }
}

/// A push error as the one public error, by what the app should do about
/// it. Core push errors never hold a key, a token, an enrollment code or a
/// number, so their sentences are passed on.
impl From<PushError> for TesseraError {
    fn from(error: PushError) -> Self {
        let reason = error.to_string();
        match error {
            PushError::EnrollmentInvalid | PushError::KeyMismatch | PushError::BadEnrollment(_) => {
                Self::PairingRefused { reason }
            }
            PushError::DeviceRevoked { .. } | PushError::NotFound { what: "device" } => {
                Self::DeviceRevoked { reason }
            }
            PushError::NotFound { .. }
            | PushError::PromptExpired
            | PushError::PromptFinished
            | PushError::AnswerReplayed => Self::PromptUnavailable { reason },
            PushError::UntrustedPrompt { .. } => Self::UntrustedPrompt { reason },
            PushError::BadWakeUp { .. } => Self::InvalidPushPayload { reason },
            PushError::InvalidInput(_)
            | PushError::InvalidAnswer { .. }
            | PushError::BadServerUrl { .. } => Self::InvalidInput { reason },
            PushError::Key(_) => Self::Internal { reason },
            ref transient if transient.is_transient() => Self::PushNetwork { reason },
            PushError::UserBlocked
            | PushError::Cooldown { .. }
            | PushError::TooManyPending
            | PushError::BadRequest { .. }
            | PushError::Server { .. }
            | PushError::BadProof { .. }
            | PushError::Network { .. }
            | PushError::Timeout { .. }
            | PushError::BadResponse { .. } => Self::PushRefused { reason },
        }
    }
}

/// A refused pairing URI. A malformed parameter is not quoted: it may be
/// part of the one-time enrollment code.
fn pairing_uri_error(error: PairingError) -> TesseraError {
    let reason = match error {
        PairingError::MalformedParameter { .. } => "a parameter is malformed".to_string(),
        other => other.to_string(),
    };
    TesseraError::InvalidInput {
        reason: format!("invalid pairing URI: {reason}"),
    }
}

impl Authenticator {
    /// The push clock: the trusted clock.
    pub(crate) fn push_clock(&self) -> Arc<dyn PushClock> {
        Arc::clone(&self.clock) as Arc<dyn PushClock>
    }

    /// The pairing of `account_id`, copied out of the vault.
    fn push_part(&self, account_id: &str) -> Result<PushPart, TesseraError> {
        self.with_vault(|vault| {
            let account = vault
                .get(account_id)
                .ok_or_else(|| TesseraError::AccountNotFound {
                    id: account_id.to_string(),
                })?;
            account
                .push
                .clone()
                .ok_or_else(|| TesseraError::InvalidInput {
                    reason: format!("{} is not paired for push", account.display_name()),
                })
        })
    }

    /// A client for the pairing of `account_id`.
    fn push_client(&self, account_id: &str) -> Result<PushClient, TesseraError> {
        Ok(PushClient::new(
            self.http.clone(),
            &self.push_part(account_id)?,
            self.push_clock(),
        )?)
    }

    fn prompt_record(&self, account_id: &str, prompt: &VerifiedPrompt) -> PushPrompt {
        PushPrompt::of(account_id, prompt, self.push_clock().now_secs())
    }
}

#[uniffi::export]
impl Authenticator {
    /// Every account paired with a push server, in display order.
    pub fn push_accounts(&self) -> Result<Vec<PushAccount>, TesseraError> {
        self.with_vault(|vault| {
            Ok(vault
                .push_accounts()
                .into_iter()
                .filter_map(|account| {
                    let part = account.push.as_ref()?;
                    Some(PushAccount::of(account, part))
                })
                .collect())
        })
    }

    /// Reads a wake-up's payload (the bytes of an FCM data message or an
    /// APNs notification's JSON, `{"prompt_id": "…"}`) and returns the id of
    /// the prompt to fetch with `fetch_prompt`. Strict: anything else fails
    /// with `InvalidPushPayload`. Needs no unlocked vault.
    pub fn handle_push_payload(&self, payload: Vec<u8>) -> Result<String, TesseraError> {
        Ok(push::handle_push_payload(&payload)?)
    }

    /// A handle on the prompt stream of a paired account. Nothing connects
    /// until its `next()` is awaited.
    pub fn subscribe_push(
        &self,
        account_id: String,
    ) -> Result<Arc<PushSubscription>, TesseraError> {
        let client = self.push_client(&account_id)?;
        let (cancelled, _) = watch::channel(false);
        Ok(Arc::new(PushSubscription {
            account_id,
            clock: self.push_clock(),
            state: AsyncMutex::new(StreamState::Idle(client)),
            cancelled,
        }))
    }
}

#[uniffi::export(async_runtime = "tokio")]
impl Authenticator {
    /// Pairs this device with a site's push server from the
    /// `tessera-push://pair?…` URI of its QR code, and stores the pairing in
    /// the vault: beside the codes of the account with the same issuer and
    /// label, or as a new push-only account. An account already paired is
    /// refused before the site's one-time code is used. `device_name` is
    /// what the site lists this device as.
    pub async fn pair_push(
        &self,
        uri: String,
        device_name: String,
        delivery: PushDelivery,
    ) -> Result<PushAccount, TesseraError> {
        let uri = PairingUri::parse(uri.trim()).map_err(pairing_uri_error)?;
        // Checked first: a pairing that cannot be stored must not use up the
        // site's one-time code.
        self.with_vault(|vault| {
            Ok(vault
                .pairing_target(&uri.issuer, &uri.account)
                .map(|_| ())?)
        })?;
        let clock = self.push_clock();
        let part = push::pair(
            &self.http,
            &uri,
            &device_name,
            &delivery.into(),
            clock.now_secs(),
        )
        .await?;
        let client = PushClient::new(self.http.clone(), &part, clock);
        let stored = self.with_vault(|vault| {
            let (id, _) = vault.add_pairing(&uri.issuer, &uri.account, part)?;
            let account = vault.get(&id).ok_or_else(|| TesseraError::Internal {
                reason: "the new pairing was not stored".into(),
            })?;
            let part = account
                .push
                .as_ref()
                .ok_or_else(|| TesseraError::Internal {
                    reason: "the new pairing was not stored".into(),
                })?;
            Ok(PushAccount::of(account, part))
        });
        if stored.is_err() {
            // The server knows a device whose key is now lost: revoke it.
            if let Ok(client) = client {
                let _ = tokio::time::timeout(UNPAIR_TIMEOUT, client.unpair()).await;
            }
        }
        stored
    }

    /// Every pending prompt of a paired account, each verified; prompts
    /// that fail a check are dropped (the stream reports them as
    /// `Rejected`). For start-up and polling.
    pub async fn pending_prompts(
        &self,
        account_id: String,
    ) -> Result<Vec<PushPrompt>, TesseraError> {
        let client = self.push_client(&account_id)?;
        let prompts = client.pending().await?;
        Ok(prompts
            .iter()
            .filter_map(|prompt| prompt.as_ref().ok())
            .map(|prompt| self.prompt_record(&account_id, prompt))
            .collect())
    }

    /// Fetches and verifies one prompt, after a wake-up
    /// (`handle_push_payload`) or to show it again. Fails with
    /// `PromptUnavailable` when it expired, was settled or is unknown, and
    /// with `UntrustedPrompt` when it fails a check.
    pub async fn fetch_prompt(
        &self,
        account_id: String,
        prompt_id: String,
    ) -> Result<PushPrompt, TesseraError> {
        let client = self.push_client(&account_id)?;
        let prompt = client.fetch(&prompt_id).await?;
        Ok(self.prompt_record(&account_id, &prompt))
    }

    /// Answers a prompt, signed by this device's key. `number` is the one
    /// the user typed or picked; it is needed to approve and not sent
    /// otherwise. The prompt is fetched and verified again first, so an
    /// answer always goes to the prompt the pinned server signed. A wrong
    /// number is an outcome, not an error: `WrongNumber` with the tries
    /// left.
    pub async fn answer_prompt(
        &self,
        account_id: String,
        prompt_id: String,
        decision: PushDecision,
        number: Option<String>,
    ) -> Result<AnswerOutcome, TesseraError> {
        let client = self.push_client(&account_id)?;
        let prompt = match client.fetch(&prompt_id).await {
            Ok(prompt) => prompt,
            Err(PushError::PromptExpired) => return Ok(AnswerOutcome::Expired),
            Err(PushError::PromptFinished) => return Ok(AnswerOutcome::Finished),
            Err(error) => return Err(error.into()),
        };
        let outcome = client
            .answer(&prompt, decision.into(), number.as_deref())
            .await?;
        Ok(outcome.into())
    }

    /// Unpairs an account: the server revokes this device, then the pairing
    /// is removed from the vault (a push-only account with it). When the
    /// server cannot be told, nothing changes and the error says why, unless
    /// `force` is set: then the pairing is removed here anyway (the site
    /// still lists the device until it revokes it). Returns true when the
    /// server was told.
    pub async fn unpair_push(&self, account_id: String, force: bool) -> Result<bool, TesseraError> {
        let told = match self.push_client(&account_id) {
            Ok(client) => match tokio::time::timeout(UNPAIR_TIMEOUT, client.unpair()).await {
                Ok(result) => result.map_err(TesseraError::from),
                Err(_) => Err(TesseraError::PushNetwork {
                    reason: format!(
                        "the push server did not answer within {} s",
                        UNPAIR_TIMEOUT.as_secs()
                    ),
                }),
            },
            // Nothing to unpair: not even `force` helps.
            Err(
                error @ (TesseraError::AccountNotFound { .. }
                | TesseraError::Locked
                | TesseraError::InvalidInput { .. }),
            ) => return Err(error),
            // A damaged pairing cannot reach the server; `force` removes it.
            Err(error) => Err(error),
        };
        match told {
            Ok(()) => {
                self.with_vault(|vault| Ok(vault.clear_push(&account_id)?))?;
                Ok(true)
            }
            Err(_) if force => {
                self.with_vault(|vault| Ok(vault.clear_push(&account_id)?))?;
                Ok(false)
            }
            Err(error) => Err(error),
        }
    }

    /// Tells the server of a paired account a new way to reach this device:
    /// a new FCM registration token or APNs device token, a new web push
    /// endpoint, or the stream only.
    pub async fn update_push_delivery(
        &self,
        account_id: String,
        delivery: PushDelivery,
    ) -> Result<(), TesseraError> {
        let client = self.push_client(&account_id)?;
        Ok(client.update_delivery(&delivery.into()).await?)
    }
}
