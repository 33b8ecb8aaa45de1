//! The transfer mailbox (`docs/push-protocol.md` §10.3): a rendezvous for
//! device-to-device transfer that holds one ciphertext, for a short time,
//! for one read.
//!
//! The server never sees anything but an envelope encrypted to the
//! receiving device's ephemeral key (`tessera_core::transfer::device_to_device`).
//! The mailbox id (128 random bits) is the only capability: whoever has the
//! invite QR code can write once and read once, and the confirmation code
//! shown on both devices catches a wrong writer. No API key is needed, so
//! the number of open mailboxes and their size are capped.

use std::time::Duration;

use axum::extract::{DefaultBodyLimit, Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use serde::Deserialize;
use tessera_core::transfer::device_to_device::{MAX_ENVELOPE_BYTES, is_mailbox_id};

use crate::db;
use crate::rp::RawBody;
use crate::{ApiError, AppState};

/// How long a mailbox lives, written or not (seconds).
pub const MAILBOX_LIFETIME: u64 = 600;
/// The most mailboxes open at once on one server.
pub const MAX_OPEN_MAILBOXES: i64 = 1_000;
/// The longest a read may wait for the envelope (seconds).
pub const MAX_WAIT: u64 = 60;
/// How often a waiting read looks again.
const POLL_EVERY: Duration = Duration::from_millis(100);

/// The mailbox routes.
pub fn router() -> Router<AppState> {
    Router::new().route("/v1/mailbox", post(create)).route(
        "/v1/mailbox/{id}",
        axum::routing::put(write)
            .get(read)
            .delete(remove)
            // The envelope is far larger than any API body.
            .layer(DefaultBodyLimit::max(MAX_ENVELOPE_BYTES)),
    )
}

fn now() -> i64 {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    i64::try_from(secs).unwrap_or(i64::MAX)
}

fn check_id(id: &str) -> Result<(), ApiError> {
    if is_mailbox_id(id) {
        Ok(())
    } else {
        Err(ApiError::NotFound("mailbox"))
    }
}

async fn create(State(state): State<AppState>) -> Result<Response, ApiError> {
    let now = now();
    let mut tx = db::begin_write(&state.writer).await?;
    sqlx::query("DELETE FROM mailboxes WHERE expires_at <= ?")
        .bind(now)
        .execute(&mut *tx)
        .await?;
    let open: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM mailboxes")
        .fetch_one(&mut *tx)
        .await?;
    if open >= MAX_OPEN_MAILBOXES {
        return Err(ApiError::MailboxLimit);
    }
    let id = tessera_core::push::messages::random_id().map_err(ApiError::internal)?;
    let expires_at = now + MAILBOX_LIFETIME as i64;
    sqlx::query("INSERT INTO mailboxes (id, created_at, expires_at) VALUES (?, ?, ?)")
        .bind(&id)
        .bind(now)
        .bind(expires_at)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    let body = serde_json::json!({
        "id": id,
        "expires_at": expires_at,
        "max_bytes": MAX_ENVELOPE_BYTES,
    });
    Ok((StatusCode::CREATED, Json(body)).into_response())
}

async fn write(
    State(state): State<AppState>,
    Path(id): Path<String>,
    RawBody(body): RawBody,
) -> Result<Response, ApiError> {
    check_id(&id)?;
    if body.is_empty() {
        return Err(ApiError::BadRequest("the envelope is empty".into()));
    }
    // Write once: only an open, empty, unexpired mailbox takes data.
    let stored = sqlx::query(
        "UPDATE mailboxes SET data = ? WHERE id = ? AND data IS NULL AND expires_at > ?",
    )
    .bind(body.as_ref())
    .bind(&id)
    .bind(now())
    .execute(&state.writer)
    .await?;
    if stored.rows_affected() == 1 {
        return Ok((
            StatusCode::CREATED,
            Json(serde_json::json!({"stored": true})),
        )
            .into_response());
    }
    let exists: Option<i64> =
        sqlx::query_scalar("SELECT 1 FROM mailboxes WHERE id = ? AND expires_at > ?")
            .bind(&id)
            .bind(now())
            .fetch_optional(&state.db)
            .await?;
    Err(match exists {
        Some(_) => ApiError::MailboxUsed,
        None => ApiError::NotFound("mailbox"),
    })
}

/// `?wait=N`: how long to wait for the envelope.
#[derive(Debug, Deserialize)]
struct Wait {
    wait: Option<u64>,
}

async fn read(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Query(wait): Query<Wait>,
) -> Result<Response, ApiError> {
    check_id(&id)?;
    let deadline =
        tokio::time::Instant::now() + Duration::from_secs(wait.wait.unwrap_or(0).min(MAX_WAIT));
    loop {
        // Look on the read pool first: waiting readers must not keep the
        // single write connection busy.
        let full: Option<i64> = sqlx::query_scalar(
            "SELECT 1 FROM mailboxes WHERE id = ? AND data IS NOT NULL AND expires_at > ?",
        )
        .bind(&id)
        .bind(now())
        .fetch_optional(&state.db)
        .await?;
        // Single read: the row goes in the same statement that returns it.
        let taken: Option<Option<Vec<u8>>> = match full {
            Some(_) => {
                sqlx::query_scalar(
                    "DELETE FROM mailboxes WHERE id = ? AND data IS NOT NULL AND expires_at > ? RETURNING data",
                )
                .bind(&id)
                .bind(now())
                .fetch_optional(&state.writer)
                .await?
            }
            None => None,
        };
        if let Some(Some(data)) = taken {
            return Ok((
                StatusCode::OK,
                [(header::CONTENT_TYPE, "application/octet-stream")],
                data,
            )
                .into_response());
        }
        let open: Option<i64> =
            sqlx::query_scalar("SELECT 1 FROM mailboxes WHERE id = ? AND expires_at > ?")
                .bind(&id)
                .bind(now())
                .fetch_optional(&state.db)
                .await?;
        if open.is_none() {
            return Err(ApiError::NotFound("mailbox"));
        }
        if tokio::time::Instant::now() >= deadline {
            return Ok(StatusCode::NO_CONTENT.into_response());
        }
        tokio::time::sleep(POLL_EVERY).await;
    }
}

async fn remove(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    check_id(&id)?;
    let gone = sqlx::query("DELETE FROM mailboxes WHERE id = ?")
        .bind(&id)
        .execute(&state.writer)
        .await?;
    if gone.rows_affected() == 0 {
        return Err(ApiError::NotFound("mailbox"));
    }
    Ok(Json(serde_json::json!({"removed": true})).into_response())
}
