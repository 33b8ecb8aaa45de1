//! The prompt state machine (`docs/push-protocol.md` §3, §5–§7) and what
//! the RP and device endpoints share: creating and delivering prompts,
//! applying answers, expiry, revocation and the long-poll wake-ups.
//!
//! ```text
//! pending ──approve + right number──▶ approved
//!    │ ├──deny────────────────────────▶ denied
//!    │ ├──fraud───────────────────────▶ fraud_reported  (user blocked)
//!    │ ├──3rd wrong number────────────▶ failed
//!    │ └──exp passes──────────────────▶ expired
//! ```
//!
//! Every state change happens in one `BEGIN IMMEDIATE` transaction that
//! re-reads the prompt first, so two answers racing from two devices (or an
//! answer racing the sweeper) settle the prompt exactly once.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ring::digest;
use ring::rand::{SecureRandom as _, SystemRandom};
use serde::Serialize;
use sqlx::SqliteConnection;
use tessera_core::push::messages::{VERSION, random_id};
use tessera_core::push::{
    AnswerClaims, Decision, PromptClaims, PromptContext, PromptMode, ProofClaims, jws,
};
use tokio::sync::watch;
use tokio::time::Instant;

use crate::config::constant_time_eq;
use crate::db::{self, begin_write};
use crate::device::Device;
use crate::hub::StreamEvent;
use crate::notify::{Delivery, NotifyError, Wakeup};
use crate::{ApiError, AppState};

/// Wrong numbers allowed before a prompt fails (§5).
pub const MAX_ATTEMPTS: u32 = 3;

/// How many choices a `choice` prompt offers (§3.2).
pub const CHOICES: usize = 3;

/// How long finished prompts (and their deliveries) are kept for the RP to
/// read, in seconds.
pub const RETENTION_SECS: i64 = 7 * 24 * 3600;

/// How long a used answer's hash is kept. After that the prompt it answered
/// is long finished, so a replay is refused as `prompt_finished` instead.
const USED_ANSWER_RETENTION_SECS: i64 = 3600;

/// How often the sweeper runs its slower clean-ups, in sweeps (seconds).
const CLEANUP_EVERY: u32 = 60;

/// The longest a long-poll sleeps before it re-reads the database: picks up
/// changes made by another server instance or missed by the in-memory wake.
const POLL_SLICE: Duration = Duration::from_secs(1);

/// A prompt's state (§6).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PromptState {
    /// Waiting for an answer.
    Pending,
    /// Approved with the right number.
    Approved,
    /// Denied.
    Denied,
    /// Denied with a fraud report; the user is blocked.
    FraudReported,
    /// Three wrong numbers.
    Failed,
    /// Not answered in time, or no device left to answer it.
    Expired,
}

impl PromptState {
    /// The name stored and sent.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Approved => "approved",
            Self::Denied => "denied",
            Self::FraudReported => "fraud_reported",
            Self::Failed => "failed",
            Self::Expired => "expired",
        }
    }

    /// Parses a stored name.
    pub fn parse(text: &str) -> Result<Self, ApiError> {
        Ok(match text {
            "pending" => Self::Pending,
            "approved" => Self::Approved,
            "denied" => Self::Denied,
            "fraud_reported" => Self::FraudReported,
            "failed" => Self::Failed,
            "expired" => Self::Expired,
            other => {
                return Err(ApiError::internal(format!(
                    "unknown prompt state {other:?}"
                )));
            }
        })
    }
}

/// A prompt as stored.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct PromptRow {
    /// The prompt's id.
    pub id: String,
    /// The RP's user.
    pub user: String,
    /// The stored state (see [`PromptRow::state_at`] for the effective one).
    pub state: String,
    /// The right number (secret until answered).
    pub number: String,
    /// The nonce every delivery of this prompt carries.
    pub nonce: String,
    /// Expiry time.
    pub exp: i64,
    /// Wrong numbers still allowed.
    pub attempts_left: i64,
    /// When it left `pending`.
    pub decided_at: Option<i64>,
    /// The device that settled it.
    pub device_id: Option<String>,
    /// Whether a fraud report settled it.
    pub fraud: bool,
}

const PROMPT_COLUMNS: &str =
    "id, user, state, number, nonce, exp, attempts_left, decided_at, device_id, fraud";

impl PromptRow {
    /// The state at `now`: a pending prompt past its expiry is expired even
    /// before the sweeper has written so.
    pub fn state_at(&self, now: i64) -> Result<PromptState, ApiError> {
        let state = PromptState::parse(&self.state)?;
        Ok(if state == PromptState::Pending && self.exp <= now {
            PromptState::Expired
        } else {
            state
        })
    }

    /// What the RP sees (§10.1, "the outcome of a prompt").
    pub fn outcome(&self, now: i64) -> Result<Outcome, ApiError> {
        let state = self.state_at(now)?;
        let decided_at = match (state, self.decided_at) {
            (PromptState::Expired, None) => Some(self.exp),
            (_, decided) => decided,
        };
        Ok(Outcome {
            prompt_id: self.id.clone(),
            user: self.user.clone(),
            state,
            attempts_left: u32::try_from(self.attempts_left).unwrap_or(0),
            expires_at: self.exp,
            decided_at,
            device_id: self.device_id.clone(),
            fraud_reported: self.fraud,
        })
    }
}

/// The outcome of a prompt as the RP reads it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Outcome {
    /// The prompt's id.
    pub prompt_id: String,
    /// The RP's user.
    pub user: String,
    /// The state.
    pub state: PromptState,
    /// Wrong numbers still allowed.
    pub attempts_left: u32,
    /// Expiry time.
    pub expires_at: i64,
    /// When it left `pending` (`null` while pending).
    pub decided_at: Option<i64>,
    /// The device that settled it.
    pub device_id: Option<String>,
    /// Whether the user reported fraud.
    pub fraud_reported: bool,
}

/// Reads a prompt.
pub async fn fetch(conn: &mut SqliteConnection, id: &str) -> Result<Option<PromptRow>, ApiError> {
    let sql = format!("SELECT {PROMPT_COLUMNS} FROM prompts WHERE id = ?");
    Ok(sqlx::query_as(&sql).bind(id).fetch_optional(conn).await?)
}

// ------------------------------------------------------------ long-poll wakes

/// Long-pollers waiting on prompts, by prompt id. In memory: a wake is only
/// a hint to re-read the database, which stays the truth (and is re-read
/// every [`POLL_SLICE`] anyway for changes made by another instance).
#[derive(Debug, Default)]
pub struct Waiters {
    by_prompt: Mutex<HashMap<String, watch::Sender<()>>>,
}

impl Waiters {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, watch::Sender<()>>> {
        // Every update leaves the map consistent; a poisoned lock is still usable.
        self.by_prompt.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn subscribe(&self, prompt_id: &str) -> watch::Receiver<()> {
        self.lock()
            .entry(prompt_id.to_string())
            .or_insert_with(|| watch::channel(()).0)
            .subscribe()
    }

    /// Wakes the long-polls waiting on `prompt_id` (after a committed change).
    pub fn changed(&self, prompt_id: &str) {
        if let Some(sender) = self.lock().remove(prompt_id) {
            sender.send_replace(());
        }
    }

    /// Forgets wake-up channels nobody waits on any more.
    fn prune(&self) {
        self.lock().retain(|_, sender| sender.receiver_count() > 0);
    }
}

/// Reads a prompt's outcome, waiting up to `wait` while it is pending.
pub async fn wait_outcome(state: &AppState, id: &str, wait: Duration) -> Result<Outcome, ApiError> {
    let deadline = Instant::now() + wait;
    let mut wake: Option<watch::Receiver<()>> = None;
    loop {
        let row = {
            let mut conn = state.db.acquire().await?;
            fetch(&mut conn, id).await?
        };
        let row = row.ok_or(ApiError::NotFound("prompt"))?;
        let outcome = row.outcome(db::now())?;
        let remaining = deadline.saturating_duration_since(Instant::now());
        if outcome.state != PromptState::Pending || remaining.is_zero() {
            return Ok(outcome);
        }
        match &mut wake {
            // Subscribe, then read again: a change committed between the
            // read above and the subscription is not missed.
            None => wake = Some(state.waiters.subscribe(id)),
            Some(receiver) => {
                let slice = remaining.min(POLL_SLICE);
                if let Ok(Err(_)) = tokio::time::timeout(slice, receiver.changed()).await {
                    // The channel was retired by a change: read, and
                    // subscribe afresh if still pending.
                    wake = None;
                }
            }
        }
    }
}

// ------------------------------------------------------------------ creation

/// A prompt to create, already validated by the RP endpoint.
#[derive(Debug, Clone)]
pub struct NewPrompt {
    /// The RP's user.
    pub user: String,
    /// The site name shown.
    pub site: String,
    /// Where the login comes from.
    pub context: PromptContext,
    /// Lifetime in seconds.
    pub ttl: u64,
    /// Entry or choice.
    pub mode: PromptMode,
}

/// A created prompt (§3.1's answer).
#[derive(Debug, Clone, Serialize)]
pub struct Created {
    /// The prompt's id.
    pub prompt_id: String,
    /// The number the login page shows.
    pub number: String,
    /// Expiry time.
    pub expires_at: i64,
}

/// Creates a prompt: checks the user's block, cooldown, devices and pending
/// count, signs one prompt per active device, stores them, then hands them
/// to open streams and push services.
pub async fn create(state: &AppState, new: NewPrompt) -> Result<Created, ApiError> {
    let digits = state.config.number_digits;
    let number = random_number(digits)?;
    let choices = match new.mode {
        PromptMode::Entry => None,
        PromptMode::Choice => Some(make_choices(&number, digits)?),
    };
    let prompt_id = random_id().map_err(ApiError::internal)?;
    let nonce = random_id().map_err(ApiError::internal)?;
    let ttl = i64::try_from(new.ttl).map_err(ApiError::internal)?;
    let context_json = serde_json::to_string(&new.context).map_err(ApiError::internal)?;
    let choices_json = choices
        .as_ref()
        .map(serde_json::to_string)
        .transpose()
        .map_err(ApiError::internal)?;

    let mut tx = begin_write(&state.writer).await?;
    let now = db::now();
    let exp = now + ttl;
    let user: Option<(bool, i64)> =
        sqlx::query_as("SELECT blocked, cooldown_until FROM users WHERE user = ?")
            .bind(&new.user)
            .fetch_optional(&mut *tx)
            .await?;
    if let Some((blocked, cooldown_until)) = user {
        if blocked {
            return Err(ApiError::UserBlocked);
        }
        if cooldown_until > now {
            return Err(ApiError::Cooldown {
                retry_after: u64::try_from(cooldown_until - now).unwrap_or(1),
            });
        }
    }
    let devices: Vec<(String, String)> = sqlx::query_as(
        "SELECT id, delivery FROM devices WHERE user = ? AND revoked_at IS NULL ORDER BY created_at, id",
    )
    .bind(&new.user)
    .fetch_all(&mut *tx)
    .await?;
    if devices.is_empty() {
        return Err(ApiError::NotFound("active device for this user"));
    }
    let (pending,): (i64,) = sqlx::query_as(
        "SELECT COUNT(*) FROM prompts WHERE user = ? AND state = 'pending' AND exp > ?",
    )
    .bind(&new.user)
    .bind(now)
    .fetch_one(&mut *tx)
    .await?;
    if pending >= i64::from(state.config.max_pending) {
        return Err(ApiError::TooManyPending);
    }
    sqlx::query(
        "INSERT INTO prompts (id, user, site, context, mode, number, choices, nonce, iat, exp,
                              state, attempts_left)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'pending', ?)",
    )
    .bind(&prompt_id)
    .bind(&new.user)
    .bind(&new.site)
    .bind(&context_json)
    .bind(mode_name(new.mode))
    .bind(&number)
    .bind(&choices_json)
    .bind(&nonce)
    .bind(now)
    .bind(exp)
    .bind(i64::from(MAX_ATTEMPTS))
    .execute(&mut *tx)
    .await?;
    let mut deliveries = Vec::with_capacity(devices.len());
    for (device_id, delivery) in devices {
        let claims = PromptClaims {
            v: VERSION,
            prompt_id: prompt_id.clone(),
            device_id: device_id.clone(),
            user: new.user.clone(),
            site: new.site.clone(),
            context: new.context.clone(),
            mode: new.mode,
            choices: choices.clone(),
            iat: u64::try_from(now).unwrap_or(0),
            exp: u64::try_from(exp).unwrap_or(0),
            nonce: nonce.clone(),
        };
        let jws = claims
            .sign(state.keys.signing_key())
            .map_err(|e| ApiError::internal(format!("signing a prompt: {e}")))?;
        let (seq,): (i64,) = sqlx::query_as(
            "INSERT INTO deliveries (prompt_id, device_id, jws) VALUES (?, ?, ?) RETURNING seq",
        )
        .bind(&prompt_id)
        .bind(&device_id)
        .bind(&jws)
        .fetch_one(&mut *tx)
        .await?;
        deliveries.push((device_id, delivery, seq, jws));
    }
    tx.commit().await?;

    for (device_id, delivery, seq, jws) in deliveries {
        state.hub.publish(
            &device_id,
            StreamEvent::Prompt {
                seq,
                jws: Arc::from(jws),
            },
        );
        wake_device(state, device_id, &delivery, &prompt_id);
    }
    tracing::info!(prompt_id = %prompt_id, mode = mode_name(new.mode), ttl, "prompt created");
    Ok(Created {
        prompt_id,
        number,
        expires_at: exp,
    })
}

/// Spawns the push-service wake-up of a device that is not stream-only.
/// Failures are logged; a registration the service says is gone is recorded
/// on the device, so the RP's device list can show it.
fn wake_device(state: &AppState, device_id: String, delivery_json: &str, prompt_id: &str) {
    let delivery: Delivery = match serde_json::from_str(delivery_json) {
        Ok(delivery) => delivery,
        Err(e) => {
            tracing::error!(device_id = %device_id, error = %e, "stored delivery is not valid");
            return;
        }
    };
    if delivery == Delivery::Stream {
        return;
    }
    let notifier = Arc::clone(&state.notifier);
    let db = state.db.clone();
    let wakeup = Wakeup {
        device_id,
        prompt_id: prompt_id.to_string(),
    };
    tokio::spawn(async move {
        match notifier.wake(&delivery, &wakeup).await {
            Ok(()) => {}
            Err(NotifyError::Unregistered(service)) => {
                tracing::warn!(device_id = %wakeup.device_id, service, "push registration is gone");
                let recorded =
                    sqlx::query("UPDATE devices SET delivery_failed_at = ? WHERE id = ?")
                        .bind(db::now())
                        .bind(&wakeup.device_id)
                        .execute(&db)
                        .await;
                if let Err(e) = recorded {
                    tracing::error!(error = %e, "recording an unregistered device failed");
                }
            }
            Err(e) => {
                tracing::warn!(device_id = %wakeup.device_id, error = %e, "wake-up failed");
            }
        }
    });
}

/// The stored name of a mode.
pub fn mode_name(mode: PromptMode) -> &'static str {
    match mode {
        PromptMode::Entry => "entry",
        PromptMode::Choice => "choice",
    }
}

/// A uniformly random integer in `0..bound` from the system CSPRNG, by
/// rejection sampling (a plain `% bound` would favour small values).
pub fn random_below(bound: u32) -> Result<u32, ApiError> {
    if bound == 0 {
        return Err(ApiError::internal("random_below(0)"));
    }
    // The largest multiple of `bound` that fits: values at or above it are
    // drawn again so every residue is equally likely.
    let zone = u32::MAX - (u32::MAX % bound);
    let rng = SystemRandom::new();
    loop {
        let mut bytes = [0u8; 4];
        rng.fill(&mut bytes)
            .map_err(|_| ApiError::internal("the system random generator failed"))?;
        let value = u32::from_le_bytes(bytes);
        if value < zone {
            return Ok(value % bound);
        }
    }
}

/// `digits` random decimal digits (leading zeros kept).
pub fn random_number(digits: u32) -> Result<String, ApiError> {
    let bound = 10u32
        .checked_pow(digits)
        .ok_or_else(|| ApiError::internal("number_digits out of range"))?;
    let value = random_below(bound)?;
    Ok(format!("{value:0width$}", width = digits as usize))
}

/// Three different numbers including `right`, in random order.
fn make_choices(right: &str, digits: u32) -> Result<Vec<String>, ApiError> {
    let mut choices = vec![right.to_string()];
    while choices.len() < CHOICES {
        let candidate = random_number(digits)?;
        if !choices.contains(&candidate) {
            choices.push(candidate);
        }
    }
    // Fisher–Yates, so the right number's position carries no information.
    for i in (1..choices.len()).rev() {
        let j = random_below(u32::try_from(i + 1).map_err(ApiError::internal)?)? as usize;
        choices.swap(i, j);
    }
    Ok(choices)
}

// ------------------------------------------------------------------- answers

/// The result of an accepted answer (§10.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct AnswerResult {
    /// The prompt's state after the answer.
    pub state: PromptState,
    /// Wrong numbers still allowed.
    pub attempts_left: u32,
}

/// The answering device, as authenticated by its request proof.
#[derive(Debug, Clone, Copy)]
pub struct Answerer<'a> {
    /// The device (verified by its request proof).
    pub device: &'a Device,
    /// The request's proof, recorded in the answer's transaction.
    pub proof: &'a ProofClaims,
}

/// Applies a device's signed answer (§5): the answer must verify under the
/// device's key, be for a pending, unexpired prompt delivered to this
/// device, carry its nonce and not have been used before. The answer's hash
/// is recorded in the same transaction as the state change.
pub async fn answer(
    state: &AppState,
    answerer: Answerer<'_>,
    token: &str,
) -> Result<AnswerResult, ApiError> {
    let bad = |e: &dyn std::fmt::Display| ApiError::BadRequest(format!("answer: {e}"));
    // The prompt id is needed to find the nonce the strict check compares;
    // read it from the payload once the signature is known to be the
    // device's.
    let verified = jws::verify(
        token,
        &answerer.device.key,
        tessera_core::push::messages::ANSWER_TYP,
    )
    .map_err(|e| bad(&e))?;
    #[derive(serde::Deserialize)]
    struct PromptIdOnly {
        prompt_id: String,
    }
    let PromptIdOnly { prompt_id } =
        serde_json::from_slice(&verified.payload).map_err(|_| bad(&"prompt_id: missing"))?;

    let mut tx = begin_write(&state.writer).await?;
    crate::device::record_proof(&mut tx, answerer.device, answerer.proof).await?;
    let now = db::now();
    let row = fetch(&mut tx, &prompt_id).await?;
    let delivered: Option<(i64,)> =
        sqlx::query_as("SELECT seq FROM deliveries WHERE prompt_id = ? AND device_id = ?")
            .bind(&prompt_id)
            .bind(&answerer.device.id)
            .fetch_optional(&mut *tx)
            .await?;
    // One answer for "no such prompt" and "not yours": no oracle.
    let row = match row {
        Some(row) if row.user == answerer.device.user && delivered.is_some() => row,
        _ => return Err(ApiError::NotFound("prompt")),
    };
    let claims = AnswerClaims::verify(
        token,
        &answerer.device.key,
        &answerer.device.id,
        &row.id,
        &row.nonce,
    )
    .map_err(|e| bad(&e))?;

    let hash = digest::digest(&digest::SHA256, token.as_bytes());
    let used: Option<(i64,)> = sqlx::query_as("SELECT 1 FROM used_answers WHERE hash = ?")
        .bind(hash.as_ref())
        .fetch_optional(&mut *tx)
        .await?;
    if used.is_some() {
        return Err(ApiError::AnswerReplayed);
    }
    match row.state_at(now)? {
        PromptState::Pending => {}
        PromptState::Expired => {
            if row.state == "pending" {
                sqlx::query(
                    "UPDATE prompts SET state = 'expired', decided_at = exp
                     WHERE id = ? AND state = 'pending'",
                )
                .bind(&row.id)
                .execute(&mut *tx)
                .await?;
                tx.commit().await?;
                state.waiters.changed(&row.id);
            }
            return Err(ApiError::PromptExpired);
        }
        _ => return Err(ApiError::PromptFinished),
    }
    sqlx::query("INSERT INTO used_answers (hash, prompt_id, used_at) VALUES (?, ?, ?)")
        .bind(hash.as_ref())
        .bind(&row.id)
        .bind(now)
        .execute(&mut *tx)
        .await?;

    let attempts_left = u32::try_from(row.attempts_left).unwrap_or(0);
    let (new_state, attempts_left) = match claims.decision {
        Decision::Approve => {
            let typed = claims.number.as_deref().unwrap_or_default();
            if constant_time_eq(typed.as_bytes(), row.number.as_bytes()) {
                (PromptState::Approved, attempts_left)
            } else {
                let left = attempts_left.saturating_sub(1);
                let state = if left == 0 {
                    PromptState::Failed
                } else {
                    PromptState::Pending
                };
                (state, left)
            }
        }
        Decision::Deny => (PromptState::Denied, attempts_left),
        Decision::Fraud => (PromptState::FraudReported, attempts_left),
    };
    if new_state == PromptState::Pending {
        sqlx::query("UPDATE prompts SET attempts_left = ? WHERE id = ?")
            .bind(i64::from(attempts_left))
            .bind(&row.id)
            .execute(&mut *tx)
            .await?;
    } else {
        sqlx::query(
            "UPDATE prompts SET state = ?, attempts_left = ?, decided_at = ?, device_id = ?,
                                fraud = ?
             WHERE id = ?",
        )
        .bind(new_state.as_str())
        .bind(i64::from(attempts_left))
        .bind(now)
        .bind(&answerer.device.id)
        .bind(new_state == PromptState::FraudReported)
        .bind(&row.id)
        .execute(&mut *tx)
        .await?;
    }
    match new_state {
        PromptState::Denied => record_denial(&mut tx, &row.user, now, state).await?,
        PromptState::FraudReported => {
            sqlx::query(
                "INSERT INTO users (user, blocked, blocked_reason, blocked_at)
                 VALUES (?, 1, 'fraud', ?)
                 ON CONFLICT (user) DO UPDATE SET blocked = 1, blocked_reason = 'fraud',
                                                  blocked_at = excluded.blocked_at",
            )
            .bind(&row.user)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        }
        _ => {}
    }
    tx.commit().await?;
    state.waiters.changed(&row.id);
    tracing::info!(prompt_id = %row.id, state = new_state.as_str(), "prompt answered");

    let wrong = claims.decision == Decision::Approve
        && matches!(new_state, PromptState::Pending | PromptState::Failed);
    if wrong {
        return Err(ApiError::WrongNumber { attempts_left });
    }
    Ok(AnswerResult {
        state: new_state,
        attempts_left,
    })
}

/// Records a denial and starts (or lengthens) the user's cooldown when the
/// window holds enough of them (§7): the first cooldown is
/// `initial_secs`, each further denial inside the window doubles it up to
/// `max_secs`; a window without denials starts over.
async fn record_denial(
    conn: &mut SqliteConnection,
    user: &str,
    now: i64,
    state: &AppState,
) -> Result<(), ApiError> {
    let rules = state.config.cooldown;
    let window = i64::try_from(rules.window_secs).unwrap_or(i64::MAX);
    let since = now.saturating_sub(window);
    let (earlier,): (i64,) =
        sqlx::query_as("SELECT COUNT(*) FROM denials WHERE user = ? AND at > ?")
            .bind(user)
            .bind(since)
            .fetch_one(&mut *conn)
            .await?;
    sqlx::query("INSERT INTO denials (user, at) VALUES (?, ?)")
        .bind(user)
        .bind(now)
        .execute(&mut *conn)
        .await?;
    sqlx::query("INSERT INTO users (user) VALUES (?) ON CONFLICT (user) DO NOTHING")
        .bind(user)
        .execute(&mut *conn)
        .await?;
    if earlier == 0 {
        // A quiet window: the doubling starts over.
        sqlx::query("UPDATE users SET cooldown_level = 0 WHERE user = ?")
            .bind(user)
            .execute(&mut *conn)
            .await?;
    }
    if earlier + 1 < i64::from(rules.denials) {
        return Ok(());
    }
    let (level,): (i64,) = sqlx::query_as("SELECT cooldown_level FROM users WHERE user = ?")
        .bind(user)
        .fetch_one(&mut *conn)
        .await?;
    let seconds = cooldown_secs(rules.initial_secs, rules.max_secs, level);
    sqlx::query(
        "UPDATE users SET cooldown_until = ?, cooldown_level = cooldown_level + 1 WHERE user = ?",
    )
    .bind(now.saturating_add(i64::try_from(seconds).unwrap_or(i64::MAX)))
    .bind(user)
    .execute(&mut *conn)
    .await?;
    tracing::info!(cooldown_secs = seconds, "denial cooldown started");
    Ok(())
}

/// `initial · 2^level`, at most `max`.
fn cooldown_secs(initial: u64, max: u64, level: i64) -> u64 {
    let shift = u32::try_from(level.clamp(0, 32)).unwrap_or(32);
    initial
        .checked_mul(1u64 << shift)
        .map_or(max, |secs| secs.min(max))
}

// ---------------------------------------------------------------- revocation

/// Which devices to revoke.
#[derive(Debug, Clone, Copy)]
pub enum Which<'a> {
    /// One device (of the user).
    One(&'a str),
    /// Every active device of the user.
    All,
    /// Every active device of the user but this one (a replacing
    /// enrollment).
    AllBut(&'a str),
}

/// What a revocation did, to finish after the commit.
#[derive(Debug, Default)]
#[must_use = "call Revoked::announce after the commit"]
pub struct Revoked {
    /// The devices revoked now.
    pub devices: Vec<String>,
    /// The prompts that ended `expired` because no active device was left.
    pub expired_prompts: Vec<String>,
    reason: &'static str,
}

impl Revoked {
    /// Tells the revoked devices' streams and the prompts' long-polls, once
    /// the change is committed.
    pub fn announce(&self, state: &AppState) {
        for device in &self.devices {
            state.hub.close(device, self.reason);
        }
        for prompt in &self.expired_prompts {
            state.waiters.changed(prompt);
        }
        if !self.devices.is_empty() {
            tracing::info!(
                count = self.devices.len(),
                reason = self.reason,
                "devices revoked"
            );
        }
    }
}

/// Revokes devices of `user` inside a transaction: marks them revoked with
/// `reason` (`revoked`, `replaced`) and ends `expired` the user's pending
/// prompts that no active device can answer any more.
pub async fn revoke_in(
    conn: &mut SqliteConnection,
    user: &str,
    which: Which<'_>,
    reason: &'static str,
    now: i64,
) -> Result<Revoked, ApiError> {
    let devices: Vec<(String,)> = match which {
        Which::One(id) => {
            sqlx::query_as(
                "UPDATE devices SET revoked_at = ?, revoke_reason = ?
                 WHERE id = ? AND user = ? AND revoked_at IS NULL RETURNING id",
            )
            .bind(now)
            .bind(reason)
            .bind(id)
            .bind(user)
            .fetch_all(&mut *conn)
            .await?
        }
        Which::All => {
            sqlx::query_as(
                "UPDATE devices SET revoked_at = ?, revoke_reason = ?
                 WHERE user = ? AND revoked_at IS NULL RETURNING id",
            )
            .bind(now)
            .bind(reason)
            .bind(user)
            .fetch_all(&mut *conn)
            .await?
        }
        Which::AllBut(keep) => {
            sqlx::query_as(
                "UPDATE devices SET revoked_at = ?, revoke_reason = ?
                 WHERE user = ? AND id != ? AND revoked_at IS NULL RETURNING id",
            )
            .bind(now)
            .bind(reason)
            .bind(user)
            .bind(keep)
            .fetch_all(&mut *conn)
            .await?
        }
    };
    let expired: Vec<(String,)> = if devices.is_empty() {
        Vec::new()
    } else {
        sqlx::query_as(
            "UPDATE prompts SET state = 'expired', decided_at = ?
             WHERE user = ? AND state = 'pending'
               AND NOT EXISTS (SELECT 1 FROM deliveries d JOIN devices v ON v.id = d.device_id
                               WHERE d.prompt_id = prompts.id AND v.revoked_at IS NULL)
             RETURNING id",
        )
        .bind(now)
        .bind(user)
        .fetch_all(&mut *conn)
        .await?
    };
    Ok(Revoked {
        devices: devices.into_iter().map(|(id,)| id).collect(),
        expired_prompts: expired.into_iter().map(|(id,)| id).collect(),
        reason,
    })
}

/// Revokes devices of `user` in a transaction of its own and announces it;
/// returns how many were revoked now.
pub async fn revoke(
    state: &AppState,
    user: &str,
    which: Which<'_>,
    reason: &'static str,
) -> Result<usize, ApiError> {
    let mut tx = begin_write(&state.writer).await?;
    if let Which::One(id) = which {
        let exists: Option<(i64,)> =
            sqlx::query_as("SELECT 1 FROM devices WHERE id = ? AND user = ?")
                .bind(id)
                .bind(user)
                .fetch_optional(&mut *tx)
                .await?;
        if exists.is_none() {
            return Err(ApiError::NotFound("device"));
        }
    }
    let revoked = revoke_in(&mut tx, user, which, reason, db::now()).await?;
    tx.commit().await?;
    revoked.announce(state);
    Ok(revoked.devices.len())
}

// ------------------------------------------------------------------- sweeper

/// Marks pending prompts past their expiry `expired` and wakes their
/// long-polls; returns how many.
pub async fn expire_due(state: &AppState) -> Result<usize, ApiError> {
    let expired: Vec<(String,)> = sqlx::query_as(
        "UPDATE prompts SET state = 'expired', decided_at = exp
         WHERE state = 'pending' AND exp <= ? RETURNING id",
    )
    .bind(db::now())
    .fetch_all(&state.writer)
    .await?;
    for (id,) in &expired {
        state.waiters.changed(id);
    }
    Ok(expired.len())
}

/// Forgets what is no longer needed: proof ids past the replay window, used
/// enrollment codes and old denials, used-answer hashes, and finished
/// prompts past [`RETENTION_SECS`].
pub async fn clean_up(state: &AppState) -> Result<(), ApiError> {
    let now = db::now();
    let jti_horizon = now
        - i64::try_from(
            tessera_core::push::messages::JTI_MEMORY
                + tessera_core::push::messages::PROOF_IAT_WINDOW,
        )
        .unwrap_or(180);
    let window = i64::try_from(state.config.cooldown.window_secs).unwrap_or(i64::MAX);
    let mut tx = begin_write(&state.writer).await?;
    sqlx::query("DELETE FROM proof_jtis WHERE iat < ?")
        .bind(jti_horizon)
        .execute(&mut *tx)
        .await?;
    sqlx::query("DELETE FROM enrollments WHERE expires_at < ?")
        .bind(now - 24 * 3600)
        .execute(&mut *tx)
        .await?;
    sqlx::query("DELETE FROM denials WHERE at < ?")
        .bind(now.saturating_sub(window))
        .execute(&mut *tx)
        .await?;
    sqlx::query("DELETE FROM used_answers WHERE used_at < ?")
        .bind(now - USED_ANSWER_RETENTION_SECS)
        .execute(&mut *tx)
        .await?;
    sqlx::query(
        "DELETE FROM deliveries WHERE prompt_id IN
           (SELECT id FROM prompts WHERE state != 'pending' AND exp < ?)",
    )
    .bind(now - RETENTION_SECS)
    .execute(&mut *tx)
    .await?;
    sqlx::query("DELETE FROM prompts WHERE state != 'pending' AND exp < ?")
        .bind(now - RETENTION_SECS)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    state.waiters.prune();
    Ok(())
}

/// Starts the sweeper: every second it expires due prompts; every minute it
/// also runs [`clean_up`]. Errors are logged and the next tick tries again.
pub fn spawn_sweeper(state: AppState) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut ticker = tokio::time::interval(Duration::from_secs(1));
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut ticks: u32 = 0;
        loop {
            ticker.tick().await;
            if let Err(e) = expire_due(&state).await {
                tracing::error!(error = %e, "expiring prompts failed");
            }
            ticks = ticks.wrapping_add(1);
            if ticks.is_multiple_of(CLEANUP_EVERY)
                && let Err(e) = clean_up(&state).await
            {
                tracing::error!(error = %e, "database clean-up failed");
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_have_the_digits_asked() {
        for digits in 4..=8 {
            for _ in 0..50 {
                let n = random_number(digits).unwrap();
                assert_eq!(n.len(), digits as usize);
                assert!(n.bytes().all(|b| b.is_ascii_digit()));
            }
        }
    }

    #[test]
    fn random_below_is_in_range_and_covers_it() {
        let mut seen = [false; 3];
        for _ in 0..200 {
            let v = random_below(3).unwrap();
            seen[v as usize] = true;
        }
        assert!(seen.iter().all(|s| *s));
        assert!(random_below(0).is_err());
    }

    #[test]
    fn choices_are_three_distinct_including_the_right_one() {
        let mut positions = [0; 3];
        for _ in 0..300 {
            let right = random_number(4).unwrap();
            let choices = make_choices(&right, 4).unwrap();
            assert_eq!(choices.len(), 3);
            assert!(choices.contains(&right));
            assert!(
                choices[0] != choices[1] && choices[1] != choices[2] && choices[0] != choices[2]
            );
            positions[choices.iter().position(|c| *c == right).unwrap()] += 1;
        }
        // Shuffled: every position is used.
        assert!(positions.iter().all(|p| *p > 30), "{positions:?}");
    }

    #[test]
    fn cooldown_doubles_to_the_cap() {
        assert_eq!(cooldown_secs(60, 900, 0), 60);
        assert_eq!(cooldown_secs(60, 900, 1), 120);
        assert_eq!(cooldown_secs(60, 900, 3), 480);
        assert_eq!(cooldown_secs(60, 900, 4), 900);
        assert_eq!(cooldown_secs(60, 900, 400), 900);
    }

    #[test]
    fn past_expiry_reads_as_expired() {
        let row = PromptRow {
            id: "p".into(),
            user: "u".into(),
            state: "pending".into(),
            number: "123456".into(),
            nonce: "n".into(),
            exp: 100,
            attempts_left: 3,
            decided_at: None,
            device_id: None,
            fraud: false,
        };
        assert_eq!(row.state_at(99).unwrap(), PromptState::Pending);
        let outcome = row.outcome(100).unwrap();
        assert_eq!(outcome.state, PromptState::Expired);
        assert_eq!(outcome.decided_at, Some(100));
    }
}
