//! The device's endpoints (`docs/push-protocol.md` §10.2, except the
//! stream transport, which `crate::stream` serves through
//! [`open_stream`]): enrollment, pending prompts, answers, delivery updates
//! and unpairing.
//!
//! Every request carries `Tessera-Proof` (§4): a JWS signed by the device
//! key over the method, `public_url` + path, a fresh `jti` and the body's
//! hash. Proof ids are remembered in the database, so a restart does not
//! reopen the replay window.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sqlx::SqliteConnection;
use tessera_core::push::jws::UnverifiedJws;
use tessera_core::push::messages::{PROOF_TYP, VERSION};
use tessera_core::push::{KeyRef, ProofClaims, ProofRequest, PublicKey, ReplayGuard};

use crate::db::{self, begin_write};
use crate::hub::StreamEvent;
use crate::notify::Delivery;
use crate::prompts::{self, Answerer, PromptState, Which};
use crate::rp::{RawBody, check_text, code_hash, parse_json};
use crate::{ApiError, AppState};

/// The request header carrying the proof (§4).
pub const PROOF_HEADER: &str = "tessera-proof";

/// `typ` of the enrollment answer (§10.2).
pub const ENROLLMENT_TYP: &str = "tessera-enrollment+jwt";

/// The path of the stream, as proofs name it.
pub const STREAM_PATH: &str = "/v1/device/stream";

/// The longest device name, in characters.
pub const MAX_NAME_CHARS: usize = 128;

/// The longest push endpoint or token, in bytes.
pub const MAX_DELIVERY_LEN: usize = 4096;

/// The device routes (the stream is routed by `crate::stream`).
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/device/enroll", post(enroll))
        .route("/v1/device/prompts", get(list_prompts))
        .route("/v1/device/prompts/{id}", get(get_prompt))
        .route("/v1/device/answer", post(answer))
        .route("/v1/device/delivery", post(update_delivery))
        .route("/v1/device", delete(unpair))
}

/// A device as stored.
#[derive(Debug, Clone)]
pub struct Device {
    /// Its id.
    pub id: String,
    /// Its RP user.
    pub user: String,
    /// Its registered public key.
    pub key: PublicKey,
    /// Whether it was revoked.
    pub revoked: bool,
    /// When it was revoked.
    pub revoked_at: Option<i64>,
    /// Why it was revoked (`revoked`, `replaced`, `handoff`).
    pub revoke_reason: Option<String>,
}

/// Loads a device by id, revoked or not.
pub(crate) async fn load_device(
    conn: &mut SqliteConnection,
    id: &str,
) -> Result<Option<Device>, ApiError> {
    #[allow(clippy::type_complexity)]
    let row: Option<(String, String, String, Option<i64>, Option<String>)> = sqlx::query_as(
        "SELECT id, user, public_jwk, revoked_at, revoke_reason FROM devices WHERE id = ?",
    )
    .bind(id)
    .fetch_optional(conn)
    .await?;
    let Some((id, user, jwk, revoked_at, revoke_reason)) = row else {
        return Ok(None);
    };
    let key = PublicKey::from_jwk_json(&jwk)
        .map_err(|e| ApiError::internal(format!("stored device key: {e}")))?;
    Ok(Some(Device {
        id,
        user,
        key,
        revoked: revoked_at.is_some(),
        revoked_at,
        revoke_reason,
    }))
}

/// The proof check's replay step is done against the database afterwards
/// (inside a transaction), so the in-memory guard the core's check asks for
/// accepts everything.
pub(crate) struct CheckedInDatabase;

impl ReplayGuard for CheckedInDatabase {
    fn first_use(&self, _jti: &str, _iat: u64) -> bool {
        true
    }
}

pub(crate) fn bad_proof(reason: impl std::fmt::Display) -> ApiError {
    ApiError::BadProof(reason.to_string())
}

/// Records a proof id; a second use within the replay window is refused.
pub(crate) async fn remember_jti(
    conn: &mut SqliteConnection,
    claims: &ProofClaims,
) -> Result<(), ApiError> {
    let iat = i64::try_from(claims.iat).map_err(|_| bad_proof("iat: out of range"))?;
    let inserted =
        sqlx::query("INSERT INTO proof_jtis (jti, iat) VALUES (?, ?) ON CONFLICT (jti) DO NOTHING")
            .bind(&claims.jti)
            .bind(iat)
            .execute(conn)
            .await?;
    if inserted.rows_affected() == 0 {
        return Err(bad_proof("jti: the proof was already used"));
    }
    Ok(())
}

/// Checks a device request's proof (§4) and returns the device: the proof
/// names a known device (`kid`), verifies under its key for this method,
/// URL and body within ±60 s, and its `jti` is new. A revoked device gets
/// `device_revoked` with the stored reason (`revoked`, `replaced`,
/// `handoff`, §9.3) — only once its proof verified, so the answer tells a
/// stranger nothing. Records the `jti` and `last_seen` in one commit.
pub async fn authenticate(
    state: &AppState,
    method: &str,
    path: &str,
    proof: Option<&str>,
    body: &[u8],
) -> Result<Device, ApiError> {
    authenticate_allowing(state, method, path, proof, body, |_| false).await
}

/// [`authenticate`], also accepting a revoked device when `allow_revoked`
/// says so (a device reporting the replacement that revoked it, §9).
pub(crate) async fn authenticate_allowing(
    state: &AppState,
    method: &str,
    path: &str,
    proof: Option<&str>,
    body: &[u8],
    allow_revoked: impl Fn(&Device) -> bool,
) -> Result<Device, ApiError> {
    let proof = proof.ok_or_else(|| bad_proof("the Tessera-Proof header is missing"))?;
    let (device, claims) = verify_proof(state, method, path, proof, body, allow_revoked).await?;
    let mut tx = begin_write(&state.writer).await?;
    record_proof(&mut tx, &device, &claims).await?;
    tx.commit().await?;
    Ok(device)
}

/// [`authenticate`] without recording the proof: the caller must call
/// [`record_proof`] in the transaction that acts on the request, so the
/// request costs one commit rather than two.
pub(crate) async fn verify_proof(
    state: &AppState,
    method: &str,
    path: &str,
    proof: &str,
    body: &[u8],
    allow_revoked: impl Fn(&Device) -> bool,
) -> Result<(Device, ProofClaims), ApiError> {
    let unverified = UnverifiedJws::parse(proof, PROOF_TYP).map_err(bad_proof)?;
    let kid = unverified
        .header()
        .kid
        .clone()
        .ok_or_else(|| bad_proof("header.kid: missing"))?;
    let device = {
        let mut conn = state.db.acquire().await?;
        load_device(&mut conn, &kid).await?
    }
    .ok_or_else(|| bad_proof("header.kid: not a device of this server"))?;
    let url = format!("{}{}", state.config.public_url, path);
    let request = ProofRequest {
        method,
        url: &url,
        body,
    };
    let claims = ProofClaims::verify(
        proof,
        &device.key,
        request,
        db::now_u64(),
        &CheckedInDatabase,
    )
    .map_err(bad_proof)?;
    if device.revoked && !allow_revoked(&device) {
        return Err(ApiError::device_revoked(device.revoke_reason.as_deref()));
    }
    Ok((device, claims))
}

/// Records a verified proof's `jti` (refusing a second use) and the
/// device's `last_seen`, inside `conn`'s transaction.
pub(crate) async fn record_proof(
    conn: &mut SqliteConnection,
    device: &Device,
    claims: &ProofClaims,
) -> Result<(), ApiError> {
    remember_jti(conn, claims).await?;
    sqlx::query("UPDATE devices SET last_seen = ? WHERE id = ?")
        .bind(db::now())
        .bind(&device.id)
        .execute(conn)
        .await?;
    Ok(())
}

pub(crate) fn proof_header(headers: &HeaderMap) -> Option<&str> {
    headers.get(PROOF_HEADER).and_then(|v| v.to_str().ok())
}

/// Authenticates a stream request (`GET /v1/device/stream`, proof in
/// `proof`) and returns the device id and the pending prompts it should
/// get first: those with a sequence above `last_event_id` (all without it),
/// unexpired, in sequence order.
pub async fn open_stream(
    state: &AppState,
    proof: Option<&str>,
    last_event_id: Option<i64>,
) -> Result<(String, Vec<StreamEvent>), ApiError> {
    let device = authenticate(state, "GET", STREAM_PATH, proof, b"").await?;
    let rows: Vec<(i64, String)> = sqlx::query_as(
        "SELECT d.seq, d.jws FROM deliveries d JOIN prompts p ON p.id = d.prompt_id
         WHERE d.device_id = ? AND d.seq > ? AND p.state = 'pending' AND p.exp > ?
         ORDER BY d.seq",
    )
    .bind(&device.id)
    .bind(last_event_id.unwrap_or(0))
    .bind(db::now())
    .fetch_all(&state.db)
    .await?;
    let events = rows
        .into_iter()
        .map(|(seq, jws)| StreamEvent::Prompt {
            seq,
            jws: Arc::from(jws),
        })
        .collect();
    Ok((device.id, events))
}

// ---------------------------------------------------------------- enrollment

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct EnrollRequest {
    code: String,
    device_key: Value,
    name: String,
    delivery: Delivery,
}

/// The enrollment answer's payload (§10.2).
#[derive(Debug, Serialize)]
struct EnrollmentClaims<'a> {
    v: u32,
    device_id: &'a str,
    user: &'a str,
    issuer: &'a str,
    server_key: &'a PublicKey,
}

/// Checks a delivery: endpoints are https URLs (http only on loopback, for
/// tests), tokens are printable and bounded.
pub(crate) fn check_delivery(delivery: &Delivery) -> Result<(), ApiError> {
    let bad = |reason: &str| Err(ApiError::BadRequest(format!("delivery: {reason}")));
    match delivery {
        Delivery::Stream => Ok(()),
        Delivery::Webpush { endpoint } => {
            let lower = endpoint.to_ascii_lowercase();
            let loopback = ["http://127.0.0.1", "http://localhost", "http://[::1]"]
                .iter()
                .any(|p| lower.starts_with(p));
            if endpoint.len() > MAX_DELIVERY_LEN
                || !(lower.starts_with("https://") || loopback)
                || endpoint
                    .chars()
                    .any(|c| c.is_whitespace() || c.is_control())
            {
                return bad("endpoint must be an https URL of at most 4096 bytes");
            }
            Ok(())
        }
        Delivery::Fcm { token } | Delivery::Apns { token } => {
            if token.is_empty()
                || token.len() > MAX_DELIVERY_LEN
                || !token.bytes().all(|b| b.is_ascii_graphic())
            {
                return bad("token must be 1 to 4096 printable characters");
            }
            Ok(())
        }
    }
}

/// Checks the proof of a request made by a key the server does not know
/// yet (enrollment, hand-off): signed by the key carried in its `jwk`
/// header, for `POST` to this URL and body. `when` finishes the sentence
/// "header.jwk: required …". The `jti` is for the caller to record.
pub(crate) fn verify_new_key_proof(
    state: &AppState,
    uri: &Uri,
    headers: &HeaderMap,
    body: &[u8],
    when: &str,
) -> Result<(PublicKey, ProofClaims), ApiError> {
    let proof =
        proof_header(headers).ok_or_else(|| bad_proof("the Tessera-Proof header is missing"))?;
    let unverified = UnverifiedJws::parse(proof, PROOF_TYP).map_err(bad_proof)?;
    let key = unverified
        .header()
        .jwk
        .clone()
        .ok_or_else(|| bad_proof(format!("header.jwk: required {when}")))?;
    let url = format!("{}{}", state.config.public_url, uri.path());
    let claims = ProofClaims::verify(
        proof,
        &key,
        ProofRequest {
            method: "POST",
            url: &url,
            body,
        },
        db::now_u64(),
        &CheckedInDatabase,
    )
    .map_err(bad_proof)?;
    Ok((key, claims))
}

/// `POST /v1/device/enroll` (§2 steps 3–4).
async fn enroll(
    State(state): State<AppState>,
    uri: Uri,
    headers: HeaderMap,
    RawBody(body): RawBody,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let (key, claims) = verify_new_key_proof(&state, &uri, &headers, &body, "at enrollment")?;

    let request: EnrollRequest = parse_json(&body)?;
    let device_key = PublicKey::from_jwk_value(&request.device_key)
        .map_err(|e| ApiError::BadRequest(format!("device_key: {e}")))?;
    if device_key != key {
        return Err(ApiError::BadRequest(
            "device_key: not the key that signed the proof".into(),
        ));
    }
    check_text(&request.name, "name", MAX_NAME_CHARS)?;
    check_delivery(&request.delivery)?;
    let delivery_json = serde_json::to_string(&request.delivery).map_err(ApiError::internal)?;
    let device_id = tessera_core::push::messages::random_id().map_err(ApiError::internal)?;

    let mut tx = begin_write(&state.writer).await?;
    let now = db::now();
    // Unknown, used and expired codes look the same from outside (§2).
    let enrollment: Option<(String, bool)> = sqlx::query_as(
        "UPDATE enrollments SET used_at = ?, device_id = ?
         WHERE code_hash = ? AND used_at IS NULL AND expires_at > ?
         RETURNING user, replace_devices",
    )
    .bind(now)
    .bind(&device_id)
    .bind(code_hash(&request.code).as_slice())
    .bind(now)
    .fetch_optional(&mut *tx)
    .await?;
    let (user, replace) = enrollment.ok_or(ApiError::EnrollmentInvalid)?;
    remember_jti(&mut tx, &claims).await?;
    sqlx::query(
        "INSERT INTO devices (id, user, name, public_jwk, delivery, created_at, last_seen)
         VALUES (?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(&device_id)
    .bind(&user)
    .bind(&request.name)
    .bind(device_key.to_jwk_json())
    .bind(&delivery_json)
    .bind(now)
    .bind(now)
    .execute(&mut *tx)
    .await?;
    sqlx::query("INSERT INTO users (user) VALUES (?) ON CONFLICT (user) DO NOTHING")
        .bind(&user)
        .execute(&mut *tx)
        .await?;
    let replaced = if replace {
        Some(prompts::revoke_in(&mut tx, &user, Which::AllBut(&device_id), "replaced", now).await?)
    } else {
        None
    };
    let enrollment = sign_enrollment(&state, &device_id, &user)?;
    tx.commit().await?;
    if let Some(replaced) = replaced {
        replaced.announce(&state);
    }
    tracing::info!(device_id = %device_id, delivery = request.delivery.kind(), replace, "device enrolled");
    Ok((
        StatusCode::CREATED,
        Json(json!({ "enrollment": enrollment })),
    ))
}

/// The enrollment answer (§10.2) for a device of `user`, signed by the
/// server key: also the answer to a hand-off (§9).
pub(crate) fn sign_enrollment(
    state: &AppState,
    device_id: &str,
    user: &str,
) -> Result<String, ApiError> {
    state
        .keys
        .signing_key()
        .sign_json(
            ENROLLMENT_TYP,
            &KeyRef::Kid(state.keys.thumbprint().to_string()),
            &EnrollmentClaims {
                v: VERSION,
                device_id,
                user,
                issuer: &state.config.issuer,
                server_key: state.keys.public_key(),
            },
        )
        .map_err(|e| ApiError::internal(format!("signing the enrollment: {e}")))
}

// ------------------------------------------------------------------ prompts

/// `GET /v1/device/prompts`: every pending, unexpired prompt for this device.
async fn list_prompts(
    State(state): State<AppState>,
    uri: Uri,
    headers: HeaderMap,
) -> Result<Json<Value>, ApiError> {
    let device = authenticate(&state, "GET", uri.path(), proof_header(&headers), b"").await?;
    let rows: Vec<(String,)> = sqlx::query_as(
        "SELECT d.jws FROM deliveries d JOIN prompts p ON p.id = d.prompt_id
         WHERE d.device_id = ? AND p.state = 'pending' AND p.exp > ?
         ORDER BY d.seq",
    )
    .bind(&device.id)
    .bind(db::now())
    .fetch_all(&state.db)
    .await?;
    let prompts: Vec<String> = rows.into_iter().map(|(jws,)| jws).collect();
    Ok(Json(json!({ "prompts": prompts })))
}

/// `GET /v1/device/prompts/{id}`: one prompt's JWS while it is pending.
async fn get_prompt(
    State(state): State<AppState>,
    Path(id): Path<String>,
    uri: Uri,
    headers: HeaderMap,
) -> Result<Json<Value>, ApiError> {
    let device = authenticate(&state, "GET", uri.path(), proof_header(&headers), b"").await?;
    let row: Option<(String, String, i64)> = sqlx::query_as(
        "SELECT d.jws, p.state, p.exp FROM deliveries d JOIN prompts p ON p.id = d.prompt_id
         WHERE d.prompt_id = ? AND d.device_id = ?",
    )
    .bind(&id)
    .bind(&device.id)
    .fetch_optional(&state.db)
    .await?;
    let (jws, stored, exp) = row.ok_or(ApiError::NotFound("prompt"))?;
    match PromptState::parse(&stored)? {
        PromptState::Pending if exp > db::now() => Ok(Json(json!({ "prompt": jws }))),
        PromptState::Pending | PromptState::Expired => Err(ApiError::PromptExpired),
        _ => Err(ApiError::PromptFinished),
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AnswerRequest {
    answer: String,
}

/// `POST /v1/device/answer` (§5).
async fn answer(
    State(state): State<AppState>,
    uri: Uri,
    headers: HeaderMap,
    RawBody(body): RawBody,
) -> Result<Json<prompts::AnswerResult>, ApiError> {
    let proof =
        proof_header(&headers).ok_or_else(|| bad_proof("the Tessera-Proof header is missing"))?;
    // The proof is recorded in the answer's own transaction (one commit per
    // answer, which matters at 1,000 answers/s on one write connection).
    let (device, claims) =
        verify_proof(&state, "POST", uri.path(), proof, &body, |_| false).await?;
    // A replayed request is refused as such before anything else (the
    // transaction below would refuse it too, on a race).
    let used: Option<i64> = sqlx::query_scalar("SELECT 1 FROM proof_jtis WHERE jti = ?")
        .bind(&claims.jti)
        .fetch_optional(&state.db)
        .await?;
    if used.is_some() {
        return Err(bad_proof("jti: the proof was already used"));
    }
    let result = match parse_json::<AnswerRequest>(&body) {
        Ok(request) => {
            let answerer = Answerer {
                device: &device,
                proof: &claims,
            };
            prompts::answer(&state, answerer, &request.answer).await
        }
        Err(e) => Err(e),
    };
    if let Err(error) = &result
        && !matches!(error, ApiError::BadProof(_))
    {
        // A refused answer still uses its proof up: record it on its own
        // unless the answer's transaction committed it already (a wrong
        // number is refused after its commit).
        let mut tx = begin_write(&state.writer).await?;
        match record_proof(&mut tx, &device, &claims).await {
            Ok(()) => tx.commit().await?,
            Err(ApiError::BadProof(_)) => {}
            Err(other) => return Err(other),
        }
    }
    Ok(Json(result?))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct DeliveryRequest {
    delivery: Delivery,
}

/// `POST /v1/device/delivery`: a new push token or endpoint.
async fn update_delivery(
    State(state): State<AppState>,
    uri: Uri,
    headers: HeaderMap,
    RawBody(body): RawBody,
) -> Result<Json<Value>, ApiError> {
    let device = authenticate(&state, "POST", uri.path(), proof_header(&headers), &body).await?;
    let request: DeliveryRequest = parse_json(&body)?;
    check_delivery(&request.delivery)?;
    let delivery_json = serde_json::to_string(&request.delivery).map_err(ApiError::internal)?;
    let mut tx = begin_write(&state.writer).await?;
    sqlx::query(
        "UPDATE devices SET delivery = ?, delivery_failed_at = NULL
         WHERE id = ? AND revoked_at IS NULL",
    )
    .bind(&delivery_json)
    .bind(&device.id)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(Json(json!({ "delivery": request.delivery.kind() })))
}

/// `DELETE /v1/device`: the device unpairs itself.
async fn unpair(
    State(state): State<AppState>,
    uri: Uri,
    headers: HeaderMap,
    RawBody(body): RawBody,
) -> Result<Json<Value>, ApiError> {
    let device = authenticate(&state, "DELETE", uri.path(), proof_header(&headers), &body).await?;
    let revoked = prompts::revoke(&state, &device.user, Which::One(&device.id), "revoked").await?;
    Ok(Json(json!({ "revoked": revoked })))
}
