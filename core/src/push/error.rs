//! The push client's one error type: what went wrong, named, never with a
//! token, key, enrollment code or number in it.

use super::jws::{JwkError, JwsError};
use super::messages::MessageError;

/// The longest server message kept in an error, in characters.
const MAX_SERVER_MESSAGE: usize = 200;

/// Why a push operation failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PushError {
    // ------------------------------------------------ the server's §8 codes
    /// `enrollment_invalid`: the pairing code is unknown, used or expired
    /// (the server deliberately does not say which).
    #[error(
        "the pairing code was refused (already used or expired): ask the site for a new QR code"
    )]
    EnrollmentInvalid,
    /// `device_revoked`: the server revoked this device, for `reason`
    /// (§9.3; `revoked` when the server gave none).
    #[error("{}", reason.sentence())]
    DeviceRevoked {
        /// Why, as the server stored it.
        reason: RevokeReason,
    },
    /// `user_blocked`: a fraud report blocks prompts for the user.
    #[error("prompts for this user are blocked after a fraud report: the site must unblock them")]
    UserBlocked,
    /// `not_found`: the server does not know the prompt (or device).
    #[error("the server does not know this {what}")]
    NotFound {
        /// What was asked for (`prompt`, `device`).
        what: &'static str,
    },
    /// `prompt_finished`: the prompt was already settled.
    #[error("the prompt was already answered")]
    PromptFinished,
    /// `prompt_expired` (from the server), or the trusted clock says the
    /// prompt's expiry has passed.
    #[error("the prompt has expired")]
    PromptExpired,
    /// `answer_replayed`: this exact answer was sent before.
    #[error("the server had already received this answer")]
    AnswerReplayed,
    /// `too_many_pending`.
    #[error("the user has too many pending prompts")]
    TooManyPending,
    /// `cooldown`: too many denials; wait.
    #[error("too many denied prompts: wait {} s", retry_after.unwrap_or(60))]
    Cooldown {
        /// Seconds to wait (`Retry-After`), when given.
        retry_after: Option<u64>,
    },
    /// `bad_proof`: the server refused the request proof (often this
    /// device's clock, more than 60 s off).
    #[error(
        "the server refused this device's request signature ({message}); check the device clock"
    )]
    BadProof {
        /// The server's sentence (shortened, control characters removed).
        message: String,
    },
    /// `bad_request`: the server found the request malformed.
    #[error("the server refused the request: {message}")]
    BadRequest {
        /// The server's sentence (shortened).
        message: String,
    },
    /// Any other error answer (an unknown code, a 5xx, a non-JSON error).
    #[error("the server answered HTTP {status}{}: {message}", code.as_deref().map(|c| format!(" ({c})")).unwrap_or_default())]
    Server {
        /// The HTTP status.
        status: u16,
        /// The error code, when the body had one (shortened).
        code: Option<String>,
        /// The server's sentence, or a description of the body (shortened).
        message: String,
    },

    // ------------------------------------------------ transport
    /// The server URL is not usable (not https, and not loopback http).
    #[error("server URL: {reason}")]
    BadServerUrl {
        /// What is wrong.
        reason: String,
    },
    /// Connecting or talking to the server failed (DNS, refused, TLS…).
    #[error("cannot reach the push server: {reason}")]
    Network {
        /// The transport's reason (shortened).
        reason: String,
    },
    /// No answer in time.
    #[error("the push server did not answer within {seconds} s")]
    Timeout {
        /// The limit.
        seconds: u64,
    },
    /// The answer is not what the protocol says (wrong JSON, too large…).
    #[error("the push server's answer is malformed: {reason}")]
    BadResponse {
        /// What is wrong.
        reason: String,
    },

    // ------------------------------------------------ trust
    /// The enrollment's server key is not the one the QR code names.
    #[error("the server's key does not match the fingerprint in the QR code: pairing refused")]
    KeyMismatch,
    /// The enrollment answer failed verification.
    #[error("the server's enrollment answer is not valid ({0})")]
    BadEnrollment(MessageError),
    /// A prompt failed verification (signed by another key, for another
    /// device, malformed…): dropped, never shown.
    #[error("a prompt was refused and dropped: {reason}")]
    UntrustedPrompt {
        /// Which check failed.
        reason: MessageError,
    },

    // ------------------------------------------------ local
    /// The stored device key cannot be used, or signing failed.
    #[error("the device key: {0}")]
    Key(JwsError),
    /// The answer cannot be made (no number to approve, a malformed number,
    /// a number that is not one of the choices).
    #[error("answer: {reason}")]
    InvalidAnswer {
        /// What is wrong.
        reason: String,
    },
    /// A wake-up payload (web push, FCM, APNs) was refused.
    #[error("push payload: {reason}")]
    BadWakeUp {
        /// What is wrong.
        reason: &'static str,
    },
    /// An argument is unusable (a prompt id with odd characters, a bad
    /// delivery endpoint…).
    #[error("{0}")]
    InvalidInput(String),
}

impl PushError {
    /// A short, stable name for the error, for logs and the FFI.
    pub fn code(&self) -> &'static str {
        match self {
            Self::EnrollmentInvalid => "enrollment_invalid",
            Self::DeviceRevoked { .. } => "device_revoked",
            Self::UserBlocked => "user_blocked",
            Self::NotFound { .. } => "not_found",
            Self::PromptFinished => "prompt_finished",
            Self::PromptExpired => "prompt_expired",
            Self::AnswerReplayed => "answer_replayed",
            Self::TooManyPending => "too_many_pending",
            Self::Cooldown { .. } => "cooldown",
            Self::BadProof { .. } => "bad_proof",
            Self::BadRequest { .. } => "bad_request",
            Self::Server { .. } => "server_error",
            Self::BadServerUrl { .. } => "bad_server_url",
            Self::Network { .. } => "network",
            Self::Timeout { .. } => "timeout",
            Self::BadResponse { .. } => "bad_response",
            Self::KeyMismatch => "key_mismatch",
            Self::BadEnrollment(_) => "bad_enrollment",
            Self::UntrustedPrompt { .. } => "untrusted_prompt",
            Self::Key(_) => "device_key",
            Self::InvalidAnswer { .. } => "invalid_answer",
            Self::BadWakeUp { .. } => "bad_wake_up",
            Self::InvalidInput(_) => "invalid_input",
        }
    }

    /// True when trying again later may work (network trouble, a server
    /// error, a clock-related proof refusal), false when it never will.
    pub fn is_transient(&self) -> bool {
        match self {
            Self::Network { .. }
            | Self::Timeout { .. }
            | Self::BadProof { .. }
            | Self::Cooldown { .. }
            | Self::TooManyPending
            | Self::BadResponse { .. } => true,
            Self::Server { status, .. } => *status >= 500 || *status == 429 || *status == 408,
            _ => false,
        }
    }

    /// Maps a server's §8 error answer to a variant. `body` is the answer's
    /// bytes; `what` names the thing a `not_found` refers to.
    pub(crate) fn from_answer(
        status: u16,
        body: &[u8],
        retry_after: Option<u64>,
        what: &'static str,
    ) -> Self {
        #[derive(serde::Deserialize)]
        struct ErrorBody {
            error: String,
            #[serde(default)]
            message: String,
            #[serde(default)]
            reason: Option<String>,
        }
        let Ok(parsed) = serde_json::from_slice::<ErrorBody>(body) else {
            return Self::Server {
                status,
                code: None,
                message: if body.is_empty() {
                    "no details".into()
                } else {
                    "the error answer is not the protocol's JSON".into()
                },
            };
        };
        let message = clean_message(&parsed.message);
        match parsed.error.as_str() {
            "enrollment_invalid" => Self::EnrollmentInvalid,
            "device_revoked" => Self::DeviceRevoked {
                reason: parsed
                    .reason
                    .as_deref()
                    .map_or(RevokeReason::Revoked, RevokeReason::from_wire),
            },
            "user_blocked" => Self::UserBlocked,
            "not_found" => Self::NotFound { what },
            "prompt_finished" => Self::PromptFinished,
            "prompt_expired" => Self::PromptExpired,
            "answer_replayed" => Self::AnswerReplayed,
            "too_many_pending" => Self::TooManyPending,
            "cooldown" => Self::Cooldown { retry_after },
            "bad_proof" => Self::BadProof { message },
            "bad_request" => Self::BadRequest { message },
            other => Self::Server {
                status,
                code: Some(clean_message(other).chars().take(40).collect()),
                message: if message.is_empty() {
                    "no details".into()
                } else {
                    message
                },
            },
        }
    }
}

/// Why the server revoked a device (`docs/push-protocol.md` §9.3): the
/// `reason` of the stream's `revoked` event and of a `device_revoked`
/// error.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum RevokeReason {
    /// The site revoked it (or signed the user out everywhere), or the
    /// device unpaired itself. Also any reason this version does not know.
    #[default]
    Revoked,
    /// A replacing enrollment (lost phone) activated the account on another
    /// device: ask the user whether that was them (§9.2).
    Replaced,
    /// The pairing was handed off to a new device (§9.1): it moved.
    Handoff,
}

impl RevokeReason {
    /// The protocol's name: `revoked`, `replaced` or `handoff`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Revoked => "revoked",
            Self::Replaced => "replaced",
            Self::Handoff => "handoff",
        }
    }

    /// Reads the protocol's name; anything else (a later protocol's
    /// reason) counts as [`RevokeReason::Revoked`].
    pub fn from_wire(text: &str) -> Self {
        match text.trim() {
            "replaced" => Self::Replaced,
            "handoff" => Self::Handoff,
            _ => Self::Revoked,
        }
    }

    /// One sentence saying what happened, for [`PushError::DeviceRevoked`].
    fn sentence(self) -> &'static str {
        match self {
            Self::Revoked => "this device was revoked by the server (revoked): pair it again",
            Self::Replaced => {
                "this device was revoked by the server (replaced): the account was activated \
                 on a new device; if that was not you, report it"
            }
            Self::Handoff => {
                "this device was revoked by the server (handoff): the pairing moved to a new \
                 device"
            }
        }
    }
}

impl std::fmt::Display for RevokeReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl From<JwsError> for PushError {
    fn from(error: JwsError) -> Self {
        Self::Key(error)
    }
}

impl From<JwkError> for PushError {
    fn from(error: JwkError) -> Self {
        Self::BadResponse {
            reason: format!("server_key: {error}"),
        }
    }
}

/// A server-provided sentence made safe to show: control characters
/// replaced, shortened.
pub(crate) fn clean_message(text: &str) -> String {
    let mut out: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(MAX_SERVER_MESSAGE)
        .collect();
    if text.chars().count() > MAX_SERVER_MESSAGE {
        out.push('…');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps_every_protocol_code() {
        let cases = [
            ("enrollment_invalid", PushError::EnrollmentInvalid),
            (
                "device_revoked",
                PushError::DeviceRevoked {
                    reason: RevokeReason::Revoked,
                },
            ),
            ("user_blocked", PushError::UserBlocked),
            ("not_found", PushError::NotFound { what: "prompt" }),
            ("prompt_finished", PushError::PromptFinished),
            ("prompt_expired", PushError::PromptExpired),
            ("answer_replayed", PushError::AnswerReplayed),
            ("too_many_pending", PushError::TooManyPending),
            (
                "cooldown",
                PushError::Cooldown {
                    retry_after: Some(7),
                },
            ),
        ];
        for (code, expected) in cases {
            let body = format!(r#"{{"error":"{code}","message":"x"}}"#);
            assert_eq!(
                PushError::from_answer(400, body.as_bytes(), Some(7), "prompt"),
                expected
            );
        }
        let proof = PushError::from_answer(
            401,
            br#"{"error":"bad_proof","message":"iat\nout of window"}"#,
            None,
            "prompt",
        );
        assert_eq!(
            proof,
            PushError::BadProof {
                message: "iat out of window".into()
            }
        );
        assert!(proof.is_transient());
        let unknown = PushError::from_answer(503, b"<html>", None, "prompt");
        assert!(matches!(
            unknown,
            PushError::Server {
                status: 503,
                code: None,
                ..
            }
        ));
        assert!(unknown.is_transient());
        let odd = PushError::from_answer(418, br#"{"error":"teapot"}"#, None, "prompt");
        assert_eq!(
            odd.to_string(),
            "the server answered HTTP 418 (teapot): no details"
        );
        assert!(
            !PushError::DeviceRevoked {
                reason: RevokeReason::Revoked
            }
            .is_transient()
        );
    }

    #[test]
    fn device_revoked_carries_the_reason() {
        for (wire, reason) in [
            ("revoked", RevokeReason::Revoked),
            ("replaced", RevokeReason::Replaced),
            ("handoff", RevokeReason::Handoff),
            ("something-later", RevokeReason::Revoked),
        ] {
            let body = format!(r#"{{"error":"device_revoked","message":"x","reason":"{wire}"}}"#);
            let error = PushError::from_answer(403, body.as_bytes(), None, "device");
            assert_eq!(error, PushError::DeviceRevoked { reason });
            assert_eq!(error.code(), "device_revoked");
            assert!(error.to_string().contains(reason.as_str()), "{error}");
        }
        assert_eq!(RevokeReason::Handoff.to_string(), "handoff");
        assert_eq!(
            RevokeReason::from_wire(RevokeReason::Replaced.as_str()),
            RevokeReason::Replaced
        );
    }

    #[test]
    fn long_server_messages_are_shortened() {
        let long = "a".repeat(1000);
        let cleaned = clean_message(&long);
        assert_eq!(cleaned.chars().count(), MAX_SERVER_MESSAGE + 1);
    }
}
