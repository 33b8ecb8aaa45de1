//! Moving to a new phone (`docs/push-protocol.md` §9): the hand-off of a
//! pairing from the old device to a new one, and the old device's report
//! that a replacing enrollment was not the user's doing.
//!
//! `POST /v1/device/handoff` — the new device presents the old device's
//! signed authorization; its request proof is signed by the new key and
//! carries it as `jwk` (as at enrollment), which proves it holds the key
//! the authorization names. In one transaction the server records the
//! authorization's nonce (single use), creates the new device for the same
//! user and revokes the old one with reason `handoff`; then the old
//! device's stream is told.
//!
//! `POST /v1/device/report` — `{"reason": "not_me"}` from a device that a
//! replacing enrollment revoked (within [`REPORT_WINDOW_SECS`]), or from an
//! active one: blocks prompts for the user exactly like a fraud answer,
//! until the relying party unblocks.

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::routing::post;
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};
use tessera_core::push::handoff::HandoffClaims;
use tessera_core::push::messages::MessageError;

use crate::db::{self, begin_write};
use crate::device::{
    MAX_NAME_CHARS, check_delivery, load_device, proof_header, remember_jti, sign_enrollment,
    verify_new_key_proof,
};
use crate::notify::Delivery;
use crate::prompts::{self, Which};
use crate::rp::{RawBody, check_text, parse_json};
use crate::{ApiError, AppState};

/// How long after a replacing enrollment the replaced device may still
/// report it (seconds): 7 days, so a phone that was off for a while can
/// still raise the alarm.
pub const REPORT_WINDOW_SECS: i64 = 7 * 24 * 3600;

/// The routes of §9.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/device/handoff", post(handoff))
        .route("/v1/device/report", post(report))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct HandoffRequest {
    authorization: String,
    name: String,
    delivery: Delivery,
}

/// The name of a failed authorization check, for the refusal. The core's
/// messages name the field and never quote a key.
fn invalid(error: &MessageError) -> ApiError {
    ApiError::HandoffInvalid(match error {
        MessageError::Expired => "it has expired (authorizations live 10 minutes)".into(),
        MessageError::Jws(_) => format!(
            "{} (it is not signed by the paired device's key)",
            error.field()
        ),
        other => other.to_string(),
    })
}

/// `POST /v1/device/handoff` (§9).
async fn handoff(
    State(state): State<AppState>,
    uri: Uri,
    headers: HeaderMap,
    RawBody(body): RawBody,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    // The proof first, signed by the new key it carries.
    let (new_key, proof_claims) =
        verify_new_key_proof(&state, &uri, &headers, &body, "for a hand-off")?;

    let request: HandoffRequest = parse_json(&body)?;
    check_text(&request.name, "name", MAX_NAME_CHARS)?;
    check_delivery(&request.delivery)?;

    // The authorization: signed by the old device's registered key.
    let old_id = HandoffClaims::kid(&request.authorization).map_err(|e| invalid(&e))?;
    let old = {
        let mut conn = state.db.acquire().await?;
        load_device(&mut conn, &old_id).await?
    }
    .ok_or_else(|| ApiError::HandoffInvalid("header.kid: not a device of this server".into()))?;
    let claims = HandoffClaims::verify(&request.authorization, &old.key, &old.id, db::now_u64())
        .map_err(|e| invalid(&e))?;
    if claims.handoff_to.thumbprint() != new_key.thumbprint() {
        return Err(ApiError::HandoffInvalid(
            "handoff_to: names another key than the one that signed this request".into(),
        ));
    }
    // A used authorization is named as such, even though its device is
    // revoked by now (the transaction below checks again, atomically).
    let used: Option<(i64,)> = sqlx::query_as("SELECT 1 FROM handoff_nonces WHERE nonce = ?")
        .bind(&claims.nonce)
        .fetch_optional(&state.db)
        .await?;
    if used.is_some() {
        return Err(ApiError::HandoffReplayed);
    }
    if old.revoked {
        return Err(ApiError::device_revoked(old.revoke_reason.as_deref()));
    }
    let delivery_json = serde_json::to_string(&request.delivery).map_err(ApiError::internal)?;
    let exp = i64::try_from(claims.exp).map_err(|_| ApiError::HandoffInvalid("exp".into()))?;
    let new_id = tessera_core::push::messages::random_id().map_err(ApiError::internal)?;

    let mut tx = begin_write(&state.writer).await?;
    let now = db::now();
    // Nonces are needed only until their authorization expires.
    sqlx::query("DELETE FROM handoff_nonces WHERE exp < ?")
        .bind(now - 60)
        .execute(&mut *tx)
        .await?;
    let fresh = sqlx::query(
        "INSERT INTO handoff_nonces (nonce, device_id, exp, used_at) VALUES (?, ?, ?, ?)
         ON CONFLICT (nonce) DO NOTHING",
    )
    .bind(&claims.nonce)
    .bind(&old.id)
    .bind(exp)
    .bind(now)
    .execute(&mut *tx)
    .await?;
    if fresh.rows_affected() == 0 {
        return Err(ApiError::HandoffReplayed);
    }
    remember_jti(&mut tx, &proof_claims).await?;
    // Checked again inside the transaction: a concurrent revocation wins.
    let now_row: Option<(Option<i64>, Option<String>)> =
        sqlx::query_as("SELECT revoked_at, revoke_reason FROM devices WHERE id = ?")
            .bind(&old.id)
            .fetch_optional(&mut *tx)
            .await?;
    match now_row {
        Some((None, _)) => {}
        Some((Some(_), reason)) => return Err(ApiError::device_revoked(reason.as_deref())),
        None => return Err(ApiError::device_revoked(None)),
    }
    sqlx::query(
        "INSERT INTO devices (id, user, name, public_jwk, delivery, created_at, last_seen)
         VALUES (?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(&new_id)
    .bind(&old.user)
    .bind(&request.name)
    .bind(new_key.to_jwk_json())
    .bind(&delivery_json)
    .bind(now)
    .bind(now)
    .execute(&mut *tx)
    .await?;
    let revoked =
        prompts::revoke_in(&mut tx, &old.user, Which::One(&old.id), "handoff", now).await?;
    let enrollment = sign_enrollment(&state, &new_id, &old.user)?;
    tx.commit().await?;
    // Tells the old device's stream ("moved to your new device").
    revoked.announce(&state);
    tracing::info!(
        device_id = %new_id,
        from = %old.id,
        delivery = request.delivery.kind(),
        "pairing handed off"
    );
    Ok((
        StatusCode::CREATED,
        Json(json!({ "enrollment": enrollment })),
    ))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ReportRequest {
    reason: String,
}

/// `POST /v1/device/report` (§9, lost phone).
async fn report(
    State(state): State<AppState>,
    uri: Uri,
    headers: HeaderMap,
    RawBody(body): RawBody,
) -> Result<Json<Value>, ApiError> {
    let now = db::now();
    let device = crate::device::authenticate_allowing(
        &state,
        "POST",
        uri.path(),
        proof_header(&headers),
        &body,
        |device| {
            device.revoke_reason.as_deref() == Some("replaced")
                && device
                    .revoked_at
                    .is_some_and(|at| now - at <= REPORT_WINDOW_SECS)
        },
    )
    .await?;
    let request: ReportRequest = parse_json(&body)?;
    if request.reason != "not_me" {
        return Err(ApiError::BadRequest("reason: must be \"not_me\"".into()));
    }
    let mut tx = begin_write(&state.writer).await?;
    sqlx::query(
        "INSERT INTO users (user, blocked, blocked_reason, blocked_at)
         VALUES (?, 1, 'not_me', ?)
         ON CONFLICT (user) DO UPDATE SET blocked = 1, blocked_reason = 'not_me',
                                          blocked_at = excluded.blocked_at",
    )
    .bind(&device.user)
    .bind(now)
    .execute(&mut *tx)
    .await?;
    sqlx::query("UPDATE devices SET fraud_reported_at = ? WHERE id = ?")
        .bind(now)
        .bind(&device.id)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    tracing::warn!(device_id = %device.id, "device reported a replacement it did not make; user blocked");
    Ok(Json(json!({ "blocked": true })))
}
