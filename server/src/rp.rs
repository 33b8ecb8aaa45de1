//! The relying party's endpoints (`docs/push-protocol.md` §10.1, except
//! TOTP): enrolling devices, listing and revoking them, lifting a fraud
//! block, creating prompts and reading their outcome. Every call carries
//! `Authorization: Bearer <API key>` ([`ApiKey`]).

use std::time::Duration;

use axum::extract::rejection::QueryRejection;
use axum::extract::{FromRequest, FromRequestParts, Path, Query, Request, State};
use axum::http::{StatusCode, header};
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use base64::Engine as _;
use bytes::Bytes;
use ring::digest;
use ring::rand::{SecureRandom as _, SystemRandom};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use sqlx::SqlitePool;
use tessera_core::push::pairing::CODE_LEN;
use tessera_core::push::{PairingUri, PromptContext, PromptMode};
use zeroize::Zeroizing;

use crate::config::{ApiKeyHashes, MIN_PROMPT_TTL};
use crate::db::{self, begin_write};
use crate::prompts::{self, NewPrompt, Which};
use crate::{ApiError, AppState};

/// How long an enrollment code stays valid, in seconds (§2).
pub const ENROLLMENT_LIFETIME: i64 = 600;

/// The longest `user`, in characters (§10).
pub const MAX_USER_CHARS: usize = 128;

/// The longest `site`, `account` or context string, in characters (§7).
pub const MAX_TEXT_CHARS: usize = 256;

/// The longest long-poll, in seconds (§10.1).
pub const MAX_WAIT_SECS: u64 = 60;

/// The RP routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/rp/users/{user}/devices/enroll", post(enroll))
        .route("/v1/rp/users/{user}/devices", get(list_devices))
        .route(
            "/v1/rp/users/{user}/devices/{device_id}",
            delete(revoke_device),
        )
        .route("/v1/rp/users/{user}/revoke-all", post(revoke_all))
        .route("/v1/rp/users/{user}/unblock", post(unblock))
        .route("/v1/rp/prompts", post(create_prompt))
        .route("/v1/rp/prompts/{id}", get(get_prompt))
}

// ---------------------------------------------------------------- API keys

/// Proof that the request carried a valid RP API key (an extractor):
/// `Authorization: Bearer <key>`, compared by SHA-256 hash in constant time.
#[derive(Debug, Clone)]
pub struct ApiKey;

impl FromRequestParts<AppState> for ApiKey {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let value = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .ok_or(ApiError::BadApiKey)?;
        let (scheme, key) = value.trim().split_once(' ').ok_or(ApiError::BadApiKey)?;
        // The scheme is case-insensitive (RFC 9110 §11.1).
        if !scheme.eq_ignore_ascii_case("bearer") {
            return Err(ApiError::BadApiKey);
        }
        if state.config.api_keys.accepts(key.trim()) {
            Ok(Self)
        } else {
            Err(ApiError::BadApiKey)
        }
    }
}

/// The hashes of the API keys this server generated (used when none is
/// configured).
pub async fn stored_api_keys(db: &SqlitePool) -> Result<ApiKeyHashes, ApiError> {
    let rows: Vec<(Vec<u8>,)> = sqlx::query_as("SELECT hash FROM api_keys ORDER BY created_at")
        .fetch_all(db)
        .await?;
    let mut hashes = ApiKeyHashes::default();
    for (hash,) in rows {
        let hash: [u8; 32] = hash
            .try_into()
            .map_err(|_| ApiError::internal("api_keys: a stored hash is not 32 bytes"))?;
        hashes.push_hash(hash);
    }
    Ok(hashes)
}

/// Makes a new API key (256 random bits, base64url), stores only its hash,
/// and returns the key — to be shown once.
pub async fn generate_api_key(db: &SqlitePool) -> Result<Zeroizing<String>, ApiError> {
    let mut bytes = Zeroizing::new([0u8; 32]);
    SystemRandom::new()
        .fill(bytes.as_mut())
        .map_err(|_| ApiError::internal("the system random generator failed"))?;
    let key =
        Zeroizing::new(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes.as_ref()));
    sqlx::query("INSERT INTO api_keys (hash, created_at) VALUES (?, ?)")
        .bind(ApiKeyHashes::hash(&key).as_slice())
        .bind(db::now())
        .execute(db)
        .await?;
    Ok(key)
}

// ------------------------------------------------------------------- bodies

/// The exact request body bytes, with the §8 error for a body over the
/// limit (`body_too_large`) instead of axum's plain-text answer.
#[derive(Debug, Clone)]
pub struct RawBody(pub Bytes);

impl<S: Send + Sync> FromRequest<S> for RawBody {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        match Bytes::from_request(request, state).await {
            Ok(bytes) => Ok(Self(bytes)),
            Err(rejection) if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE => {
                Err(ApiError::BodyTooLarge)
            }
            Err(_) => Err(ApiError::BadRequest("body: could not be read".into())),
        }
    }
}

/// Parses a JSON body into `T`, naming the problem (field, line, column)
/// in a `bad_request`.
pub fn parse_json<T: DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    serde_json::from_slice(body).map_err(|e| {
        let mut reason = e.to_string();
        // Keep messages short; serde quotes (part of) the input.
        if let Some((cut, _)) = reason.char_indices().nth(200) {
            reason.truncate(cut);
        }
        ApiError::BadRequest(format!("body: {reason}"))
    })
}

/// Checks a text field: 1 to `max` characters, no control characters.
pub fn check_text(value: &str, field: &str, max: usize) -> Result<(), ApiError> {
    let count = value.chars().count();
    if count == 0 || count > max {
        return Err(ApiError::BadRequest(format!(
            "{field}: must be 1 to {max} characters"
        )));
    }
    if value.chars().any(char::is_control) {
        return Err(ApiError::BadRequest(format!(
            "{field}: must not contain control characters"
        )));
    }
    Ok(())
}

/// Checks an RP user name (§10: 1–128 characters).
pub fn check_user(user: &str) -> Result<(), ApiError> {
    check_text(user, "user", MAX_USER_CHARS)
}

// --------------------------------------------------------------- enrollment

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct EnrollRequest {
    account: Option<String>,
    #[serde(default)]
    replace: bool,
}

/// `POST /v1/rp/users/{user}/devices/enroll`: a one-time pairing code, as
/// a URI and QR codes.
async fn enroll(
    _key: ApiKey,
    State(state): State<AppState>,
    Path(user): Path<String>,
    RawBody(body): RawBody,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    check_user(&user)?;
    let request: EnrollRequest = if body.iter().all(u8::is_ascii_whitespace) {
        EnrollRequest::default()
    } else {
        parse_json(&body)?
    };
    let account = request.account.unwrap_or_else(|| user.clone());
    check_text(&account, "account", MAX_TEXT_CHARS)?;

    let mut random = Zeroizing::new([0u8; 16]);
    SystemRandom::new()
        .fill(random.as_mut())
        .map_err(|_| ApiError::internal("the system random generator failed"))?;
    let code = Zeroizing::new(data_encoding::BASE32_NOPAD.encode(random.as_ref()));
    debug_assert_eq!(code.len(), CODE_LEN);
    let uri = PairingUri {
        server: state.config.public_url.clone(),
        code: code.to_string(),
        fingerprint: state.keys.thumbprint().to_string(),
        issuer: state.config.issuer.clone(),
        account,
    };
    uri.validate()
        .map_err(|e| ApiError::internal(format!("pairing URI: {}", e.field())))?;
    let uri_text = Zeroizing::new(uri.to_string());
    let (qr_png, qr_svg) = render_qr(&uri_text)?;

    let now = db::now();
    let expires_at = now + ENROLLMENT_LIFETIME;
    sqlx::query(
        "INSERT INTO enrollments (code_hash, user, account, replace_devices, created_at, expires_at)
         VALUES (?, ?, ?, ?, ?, ?)",
    )
    .bind(code_hash(&code).as_slice())
    .bind(&user)
    .bind(&uri.account)
    .bind(request.replace)
    .bind(now)
    .bind(expires_at)
    .execute(&state.writer)
    .await?;
    tracing::info!(replace = request.replace, "enrollment code issued");
    Ok((
        StatusCode::CREATED,
        Json(json!({
            "enrollment_uri": uri_text.as_str(),
            "qr_png": qr_png,
            "qr_svg": qr_svg,
            "expires_at": expires_at,
        })),
    ))
}

/// The SHA-256 of an enrollment code, as stored.
pub fn code_hash(code: &str) -> [u8; 32] {
    let mut out = [0u8; 32];
    out.copy_from_slice(digest::digest(&digest::SHA256, code.as_bytes()).as_ref());
    out
}

/// The QR code of `text` as a base64 PNG and as SVG text.
fn render_qr(text: &str) -> Result<(String, String), ApiError> {
    let code = qrcode::QrCode::new(text.as_bytes())
        .map_err(|e| ApiError::internal(format!("QR code: {e}")))?;
    let image = code
        .render::<image::Luma<u8>>()
        .min_dimensions(256, 256)
        .build();
    let mut png = Vec::new();
    image::DynamicImage::ImageLuma8(image)
        .write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
        .map_err(|e| ApiError::internal(format!("QR PNG: {e}")))?;
    let svg = code
        .render::<qrcode::render::svg::Color<'_>>()
        .min_dimensions(256, 256)
        .build();
    Ok((base64::engine::general_purpose::STANDARD.encode(&png), svg))
}

// ------------------------------------------------------------------ devices

#[derive(sqlx::FromRow)]
struct DeviceListRow {
    id: String,
    name: String,
    delivery: String,
    created_at: i64,
    last_seen: i64,
    revoked_at: Option<i64>,
    revoke_reason: Option<String>,
    delivery_failed_at: Option<i64>,
    fraud_reported_at: Option<i64>,
}

/// `GET /v1/rp/users/{user}/devices`: every device, revoked ones included.
async fn list_devices(
    _key: ApiKey,
    State(state): State<AppState>,
    Path(user): Path<String>,
) -> Result<Json<Value>, ApiError> {
    check_user(&user)?;
    let rows: Vec<DeviceListRow> = sqlx::query_as(
        "SELECT id, name, delivery, created_at, last_seen, revoked_at, revoke_reason,
                delivery_failed_at, fraud_reported_at
         FROM devices WHERE user = ? ORDER BY created_at, id",
    )
    .bind(&user)
    .fetch_all(&state.db)
    .await?;
    let devices: Vec<Value> = rows
        .into_iter()
        .map(|row| {
            let kind = serde_json::from_str::<crate::notify::Delivery>(&row.delivery)
                .map(|d| d.kind())
                .unwrap_or("unknown");
            json!({
                "device_id": row.id,
                "name": row.name,
                "delivery": kind,
                "created_at": row.created_at,
                "last_seen": row.last_seen,
                "revoked_at": row.revoked_at,
                "revoke_reason": row.revoke_reason,
                "delivery_failed_at": row.delivery_failed_at,
                "fraud_reported_at": row.fraud_reported_at,
            })
        })
        .collect();
    Ok(Json(json!({ "devices": devices })))
}

/// `DELETE /v1/rp/users/{user}/devices/{device_id}`.
async fn revoke_device(
    _key: ApiKey,
    State(state): State<AppState>,
    Path((user, device_id)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    check_user(&user)?;
    let revoked = prompts::revoke(&state, &user, Which::One(&device_id), "revoked").await?;
    Ok(Json(json!({ "revoked": revoked })))
}

/// `POST /v1/rp/users/{user}/revoke-all`: "sign out everywhere".
async fn revoke_all(
    _key: ApiKey,
    State(state): State<AppState>,
    Path(user): Path<String>,
) -> Result<Json<Value>, ApiError> {
    check_user(&user)?;
    let revoked = prompts::revoke(&state, &user, Which::All, "revoked").await?;
    Ok(Json(json!({ "revoked": revoked })))
}

/// `POST /v1/rp/users/{user}/unblock`: lifts a fraud block.
async fn unblock(
    _key: ApiKey,
    State(state): State<AppState>,
    Path(user): Path<String>,
) -> Result<Json<Value>, ApiError> {
    check_user(&user)?;
    let mut tx = begin_write(&state.writer).await?;
    sqlx::query(
        "UPDATE users SET blocked = 0, blocked_reason = NULL, blocked_at = NULL WHERE user = ?",
    )
    .bind(&user)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    tracing::info!("user unblocked");
    Ok(Json(json!({ "blocked": false })))
}

// ------------------------------------------------------------------ prompts

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CreatePrompt {
    user: String,
    site: Option<String>,
    context: Option<serde_json::Map<String, Value>>,
    ttl: Option<u64>,
    mode: Option<PromptMode>,
}

/// `POST /v1/rp/prompts` (§3.1).
async fn create_prompt(
    _key: ApiKey,
    State(state): State<AppState>,
    RawBody(body): RawBody,
) -> Result<(StatusCode, Json<prompts::Created>), ApiError> {
    let request: CreatePrompt = parse_json(&body)?;
    check_user(&request.user)?;
    let site = request.site.unwrap_or_else(|| state.config.issuer.clone());
    check_text(&site, "site", MAX_TEXT_CHARS)?;
    let context = context_from(request.context.unwrap_or_default())?;
    let ttl = request.ttl.unwrap_or(state.config.prompt_ttl);
    if !(MIN_PROMPT_TTL..=state.config.max_prompt_ttl).contains(&ttl) {
        return Err(ApiError::BadRequest(format!(
            "ttl: use {MIN_PROMPT_TTL} to {} seconds",
            state.config.max_prompt_ttl
        )));
    }
    let created = prompts::create(
        &state,
        NewPrompt {
            user: request.user,
            site,
            context,
            ttl,
            mode: request.mode.unwrap_or(PromptMode::Entry),
        },
    )
    .await?;
    Ok((StatusCode::CREATED, Json(created)))
}

/// The §3.1 context: `ip`, `location`, `user_agent`, `app`, each a string of
/// at most 256 characters. Anything else is refused rather than dropped, so
/// an RP learns at once that a field will not be shown.
fn context_from(map: serde_json::Map<String, Value>) -> Result<PromptContext, ApiError> {
    let mut context = PromptContext::default();
    for (name, value) in map {
        let slot = match name.as_str() {
            "ip" => &mut context.ip,
            "location" => &mut context.location,
            "user_agent" => &mut context.user_agent,
            "app" => &mut context.app,
            _ => {
                return Err(ApiError::BadRequest(
                    "context: unknown field (use ip, location, user_agent, app)".into(),
                ));
            }
        };
        match value {
            Value::Null => {}
            Value::String(text) => {
                check_text(&text, &format!("context.{name}"), MAX_TEXT_CHARS)?;
                *slot = Some(text);
            }
            _ => {
                return Err(ApiError::BadRequest(format!(
                    "context.{name}: must be a string"
                )));
            }
        }
    }
    Ok(context)
}

#[derive(Debug, Deserialize)]
struct WaitQuery {
    wait: Option<u64>,
}

/// `GET /v1/rp/prompts/{id}[?wait=N]` (§6).
async fn get_prompt(
    _key: ApiKey,
    State(state): State<AppState>,
    Path(id): Path<String>,
    query: Result<Query<WaitQuery>, QueryRejection>,
) -> Result<Json<prompts::Outcome>, ApiError> {
    let wait = match query {
        Ok(Query(WaitQuery { wait })) => wait.unwrap_or(0),
        Err(_) => {
            return Err(ApiError::BadRequest(format!(
                "wait: must be a number of seconds from 0 to {MAX_WAIT_SECS}"
            )));
        }
    };
    if wait > MAX_WAIT_SECS {
        return Err(ApiError::BadRequest(format!(
            "wait: must be a number of seconds from 0 to {MAX_WAIT_SECS}"
        )));
    }
    if id.is_empty() || id.len() > 64 {
        return Err(ApiError::NotFound("prompt"));
    }
    let outcome = prompts::wait_outcome(&state, &id, Duration::from_secs(wait)).await?;
    Ok(Json(outcome))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn context_accepts_the_four_fields_only() {
        let map = |v: Value| v.as_object().unwrap().clone();
        let context = context_from(map(json!({"ip": "203.0.113.7", "app": "Web login"}))).unwrap();
        assert_eq!(context.ip.as_deref(), Some("203.0.113.7"));
        assert!(context_from(map(json!({"browser": "x"}))).is_err());
        assert!(context_from(map(json!({"ip": 7}))).is_err());
        assert!(context_from(map(json!({"ip": "x".repeat(257)}))).is_err());
        assert!(context_from(map(json!({"location": "a\nb"}))).is_err());
    }

    #[test]
    fn qr_codes_render() {
        let (png, svg) = render_qr("tessera-push://pair?v=1").unwrap();
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(png)
            .unwrap();
        assert!(bytes.starts_with(b"\x89PNG"));
        assert!(svg.contains("<svg"));
    }
}
