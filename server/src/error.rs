//! The server's one error type: every refusal has a stable code, an HTTP
//! status and one sentence a relying party or device can act on
//! (`docs/push-protocol.md` §8). Messages never contain secrets, codes or
//! tokens.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
pub use tessera_core::push::error::RevokeReason;

/// Why a request was refused.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// The request is malformed; the text names the field.
    #[error("{0}")]
    BadRequest(String),
    /// The RP's API key is missing or unknown.
    #[error("the API key is missing or not known to this server")]
    BadApiKey,
    /// The device's `Tessera-Proof` was refused; the text says why.
    #[error("the request proof was refused: {0}")]
    BadProof(String),
    /// The device has been revoked; the answer names the stored reason
    /// (§9.3), so a device that was offline learns why.
    #[error("{}", revoked_sentence(*reason))]
    DeviceRevoked {
        /// Why it was revoked.
        reason: RevokeReason,
    },
    /// A fraud report blocks prompts for this user until the RP unblocks.
    #[error("prompts for this user are blocked after a fraud report")]
    UserBlocked,
    /// The named thing does not exist.
    #[error("{0} not found")]
    NotFound(&'static str),
    /// The prompt already reached a final state.
    #[error("the prompt is already finished")]
    PromptFinished,
    /// This exact answer was already used.
    #[error("this answer was already used")]
    AnswerReplayed,
    /// The enrollment code is unknown, used or expired (deliberately not
    /// saying which).
    #[error("the enrollment code is not valid; ask the site for a new one")]
    EnrollmentInvalid,
    /// The prompt expired.
    #[error("the prompt has expired")]
    PromptExpired,
    /// The number typed does not match.
    #[error("the number does not match the one on the login page ({attempts_left} tries left)")]
    WrongNumber {
        /// Tries left before the prompt fails (0: it just failed).
        attempts_left: u32,
    },
    /// The user has too many prompts pending.
    #[error("this user already has the most pending prompts allowed")]
    TooManyPending,
    /// Prompts for this user are cooling down after denials.
    #[error("too many denied prompts; try again in {retry_after} s")]
    Cooldown {
        /// Seconds to wait.
        retry_after: u64,
    },
    /// The TOTP code is wrong.
    #[error("the code is not valid")]
    TotpInvalid,
    /// The TOTP code's time step was already used.
    #[error("this code was already used; wait for the next one")]
    TotpReplayed,
    /// Too many wrong TOTP codes.
    #[error("too many wrong codes; try again in {retry_after} s")]
    TotpLocked {
        /// Seconds to wait.
        retry_after: u64,
    },
    /// The request body is over the endpoint's limit (16 KiB for the API,
    /// §7; 4 MiB for a transfer mailbox).
    #[error("the request body is larger than this endpoint accepts")]
    BodyTooLarge,
    /// The transfer mailbox already holds an envelope.
    #[error("this transfer mailbox was already written; start the transfer again")]
    MailboxUsed,
    /// Too many transfer mailboxes are open on this server.
    #[error("too many transfers are in progress on this server; try again in a few minutes")]
    MailboxLimit,
    /// A hand-off authorization (§9) was refused; the text names the check
    /// that failed (never a key or the token).
    #[error("the hand-off authorization was refused: {0}")]
    HandoffInvalid(String),
    /// This hand-off authorization was already used.
    #[error("this hand-off authorization was already used; start the transfer again")]
    HandoffReplayed,
    /// Something failed inside the server; details are logged, not sent.
    #[error("internal error; the server log has the details")]
    Internal(String),
}

impl ApiError {
    /// The stable error code of §8.
    pub fn code(&self) -> &'static str {
        match self {
            Self::BadRequest(_) => "bad_request",
            Self::BadApiKey => "bad_api_key",
            Self::BadProof(_) => "bad_proof",
            Self::DeviceRevoked { .. } => "device_revoked",
            Self::UserBlocked => "user_blocked",
            Self::NotFound(_) => "not_found",
            Self::PromptFinished => "prompt_finished",
            Self::AnswerReplayed => "answer_replayed",
            Self::EnrollmentInvalid => "enrollment_invalid",
            Self::PromptExpired => "prompt_expired",
            Self::WrongNumber { .. } => "wrong_number",
            Self::TooManyPending => "too_many_pending",
            Self::Cooldown { .. } => "cooldown",
            Self::TotpInvalid => "totp_invalid",
            Self::TotpReplayed => "totp_replayed",
            Self::TotpLocked { .. } => "totp_locked",
            Self::BodyTooLarge => "body_too_large",
            Self::MailboxUsed => "mailbox_used",
            Self::MailboxLimit => "mailbox_limit",
            Self::HandoffInvalid(_) => "handoff_invalid",
            Self::HandoffReplayed => "handoff_replayed",
            Self::Internal(_) => "internal_error",
        }
    }

    /// The HTTP status of §8.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::BadRequest(_) => StatusCode::BAD_REQUEST,
            Self::BadApiKey | Self::BadProof(_) => StatusCode::UNAUTHORIZED,
            Self::DeviceRevoked { .. } | Self::UserBlocked => StatusCode::FORBIDDEN,
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::PromptFinished | Self::AnswerReplayed | Self::TotpReplayed => {
                StatusCode::CONFLICT
            }
            Self::EnrollmentInvalid | Self::PromptExpired => StatusCode::GONE,
            Self::WrongNumber { .. } | Self::TotpInvalid => StatusCode::UNPROCESSABLE_ENTITY,
            Self::TooManyPending | Self::Cooldown { .. } | Self::TotpLocked { .. } => {
                StatusCode::TOO_MANY_REQUESTS
            }
            Self::BodyTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Self::MailboxUsed => StatusCode::CONFLICT,
            Self::MailboxLimit => StatusCode::TOO_MANY_REQUESTS,
            Self::HandoffInvalid(_) => StatusCode::FORBIDDEN,
            Self::HandoffReplayed => StatusCode::CONFLICT,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// `device_revoked` for a device whose stored `revoke_reason` is
    /// `stored` (a missing or unknown one counts as `revoked`).
    pub fn device_revoked(stored: Option<&str>) -> Self {
        Self::DeviceRevoked {
            reason: stored.map_or(RevokeReason::Revoked, RevokeReason::from_wire),
        }
    }

    /// Wraps an internal failure (logged with its detail when answered).
    pub fn internal(error: impl std::fmt::Display) -> Self {
        Self::Internal(error.to_string())
    }
}

/// The `device_revoked` sentence for each reason.
fn revoked_sentence(reason: RevokeReason) -> &'static str {
    match reason {
        RevokeReason::Revoked => "this device has been revoked; pair it again",
        RevokeReason::Replaced => {
            "this device was replaced: the account was activated on a new device"
        }
        RevokeReason::Handoff => "this device handed its pairing off to a new device",
    }
}

impl From<sqlx::Error> for ApiError {
    fn from(error: sqlx::Error) -> Self {
        Self::internal(format!("database: {error}"))
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if let Self::Internal(detail) = &self {
            tracing::error!(%detail, "internal error");
        }
        let mut body = serde_json::json!({"error": self.code(), "message": self.to_string()});
        match &self {
            Self::WrongNumber { attempts_left } => body["attempts_left"] = (*attempts_left).into(),
            Self::DeviceRevoked { reason } => body["reason"] = reason.as_str().into(),
            _ => {}
        }
        let retry_after = match self {
            Self::Cooldown { retry_after } | Self::TotpLocked { retry_after } => Some(retry_after),
            _ => None,
        };
        let mut response = (self.status(), Json(body)).into_response();
        if let Some(seconds) = retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(seconds.max(1)));
        }
        response
    }
}
