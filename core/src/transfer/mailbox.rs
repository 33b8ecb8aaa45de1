//! The client side of a transfer mailbox (`docs/push-protocol.md` §10.3):
//! the receiver opens one and waits for the envelope, the sender leaves
//! the envelope in it. Through the same HTTP port as the push client
//! ([`crate::http`]), with the same rule: `https://`, or `http://` only to
//! a loopback host.
//!
//! The mailbox never sees a key or an account: only the envelope, already
//! encrypted to the receiver's ephemeral key
//! ([`super::device_to_device`]).

use std::time::Duration;

use serde::Deserialize;

use super::device_to_device::{MAX_ENVELOPE_BYTES, Rendezvous, is_mailbox_id};
use crate::http::Http;
use crate::push::PushError;
use crate::push::http::Answer;

/// How long one waiting read asks the server to hold (seconds). Below the
/// HTTP client's own 20 s request limit, so a long-poll never times out on
/// our side first.
pub const WAIT_SECS: u64 = 15;

/// Why a mailbox call failed. Never holds the envelope or the mailbox id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MailboxError {
    /// `409 mailbox_used`: another envelope is already in the mailbox.
    #[error(
        "someone else already answered this invite — start again on the new device (a new invite)"
    )]
    Used,
    /// `404`: the mailbox is unknown, expired, or was already read.
    #[error(
        "the transfer mailbox is gone (expired, cancelled or already read) — start again on the new device"
    )]
    Gone,
    /// `429 mailbox_limit`: the server has too many transfers open.
    #[error("the server has too many transfers in progress; try again in a few minutes")]
    Busy,
    /// The mailbox expired while the receiver waited.
    #[error("nothing arrived before the invite expired (10 minutes) — start again")]
    Expired,
    /// The server URL is not usable, or the answer is not the protocol's.
    #[error("transfer mailbox: {0}")]
    Protocol(String),
    /// The network or the server failed.
    #[error("transfer mailbox: {0}")]
    Push(PushError),
}

impl From<PushError> for MailboxError {
    fn from(error: PushError) -> Self {
        Self::Push(error)
    }
}

/// An open mailbox on the receiving side.
#[derive(Clone)]
pub struct Mailbox {
    base: String,
    id: String,
    expires_at: u64,
    http: Http,
}

impl std::fmt::Debug for Mailbox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The id is the capability to write and read the mailbox.
        f.debug_struct("Mailbox")
            .field("server", &self.base)
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

/// The server URL without a trailing `/`, after the push client's check.
fn base_url(server: &str) -> Result<String, MailboxError> {
    crate::push::pairing::check_server(server)
        .map_err(|e| MailboxError::Protocol(format!("server URL: {e}")))?;
    Ok(server.trim_end_matches('/').to_string())
}

fn refusal(answer: &Answer) -> MailboxError {
    match (
        answer.status,
        PushError::from_answer(answer.status, &answer.body, answer.retry_after(), "mailbox"),
    ) {
        (404, _) => MailboxError::Gone,
        (
            _,
            PushError::Server {
                code: Some(code), ..
            },
        ) if code == "mailbox_used" => MailboxError::Used,
        (
            _,
            PushError::Server {
                code: Some(code), ..
            },
        ) if code == "mailbox_limit" => MailboxError::Busy,
        (_, other) => MailboxError::Push(other),
    }
}

impl Mailbox {
    /// Opens a mailbox: `POST {server}/v1/mailbox`, through `http`.
    pub async fn create(http: Http, server: &str) -> Result<Self, MailboxError> {
        let base = base_url(server)?;
        let answer = http
            .call("POST", &format!("{base}/v1/mailbox"), &[], Vec::new(), 4096)
            .await?;
        if answer.status != 201 {
            return Err(refusal(&answer));
        }
        #[derive(Deserialize)]
        struct Created {
            id: String,
            expires_at: u64,
        }
        let created: Created = serde_json::from_slice(&answer.body)
            .map_err(|_| MailboxError::Protocol("the server's answer is not a mailbox".into()))?;
        if !is_mailbox_id(&created.id) {
            return Err(MailboxError::Protocol(
                "the server gave a malformed mailbox id".into(),
            ));
        }
        Ok(Self {
            base,
            id: created.id,
            expires_at: created.expires_at,
            http,
        })
    }

    /// Where the sender must leave the envelope (for the invite).
    pub fn rendezvous(&self) -> Rendezvous {
        Rendezvous::Mailbox {
            server: self.base.clone(),
            id: self.id.clone(),
        }
    }

    /// When the mailbox expires (server time, seconds since the epoch).
    pub fn expires_at(&self) -> u64 {
        self.expires_at
    }

    fn url(&self) -> String {
        format!("{}/v1/mailbox/{}", self.base, self.id)
    }

    /// One waiting read (`GET …?wait=N`, N ≤ [`WAIT_SECS`]): the envelope,
    /// or `None` while the mailbox is still empty. A read empties the
    /// mailbox for good.
    pub async fn poll(&self, wait: Duration) -> Result<Option<Vec<u8>>, MailboxError> {
        let wait = wait.as_secs().min(WAIT_SECS);
        let answer = self
            .http
            .call(
                "GET",
                &format!("{}?wait={wait}", self.url()),
                &[],
                Vec::new(),
                MAX_ENVELOPE_BYTES,
            )
            .await?;
        match answer.status {
            200 => Ok(Some(answer.body)),
            204 => Ok(None),
            _ => Err(refusal(&answer)),
        }
    }

    /// Waits for the envelope until the mailbox expires by `now()` (the
    /// caller's best time, seconds since the epoch), reading in a loop.
    pub async fn receive(&self, now: impl Fn() -> u64) -> Result<Vec<u8>, MailboxError> {
        loop {
            if now() >= self.expires_at {
                return Err(MailboxError::Expired);
            }
            match self.poll(Duration::from_secs(WAIT_SECS)).await {
                Ok(Some(envelope)) => return Ok(envelope),
                Ok(None) => {}
                // The server expired it a moment before our clock did.
                Err(MailboxError::Gone) if now() + 5 >= self.expires_at => {
                    return Err(MailboxError::Expired);
                }
                // A network hiccup: try again while the mailbox lives.
                Err(MailboxError::Push(error)) if error.is_transient() => {
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
                Err(other) => return Err(other),
            }
        }
    }

    /// Cancels: `DELETE` the mailbox (the receiver gave up). An already
    /// gone mailbox counts as done.
    pub async fn cancel(&self) -> Result<(), MailboxError> {
        let answer = self
            .http
            .call("DELETE", &self.url(), &[], Vec::new(), 4096)
            .await?;
        match answer.status {
            200 | 404 => Ok(()),
            _ => Err(refusal(&answer)),
        }
    }
}

/// Leaves `envelope` in the mailbox of an invite: `PUT
/// {server}/v1/mailbox/{id}`. [`MailboxError::Used`] when another envelope
/// got there first.
pub async fn deliver(
    http: &Http,
    server: &str,
    id: &str,
    envelope: Vec<u8>,
) -> Result<(), MailboxError> {
    let base = base_url(server)?;
    if !is_mailbox_id(id) {
        return Err(MailboxError::Protocol("not a mailbox id".into()));
    }
    let answer = http
        .call(
            "PUT",
            &format!("{base}/v1/mailbox/{id}"),
            &[],
            envelope,
            4096,
        )
        .await?;
    match answer.status {
        200 | 201 => Ok(()),
        _ => Err(refusal(&answer)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(status: u16, body: &str) -> Answer {
        Answer {
            status,
            headers: Default::default(),
            body: body.as_bytes().to_vec(),
        }
    }

    #[test]
    fn refusals_are_named() {
        assert_eq!(
            refusal(&answer(409, r#"{"error":"mailbox_used","message":"x"}"#)),
            MailboxError::Used
        );
        assert_eq!(
            refusal(&answer(404, r#"{"error":"not_found","message":"x"}"#)),
            MailboxError::Gone
        );
        assert_eq!(
            refusal(&answer(429, r#"{"error":"mailbox_limit","message":"x"}"#)),
            MailboxError::Busy
        );
        assert!(matches!(
            refusal(&answer(500, "oops")),
            MailboxError::Push(_)
        ));
    }

    #[test]
    fn plain_http_is_for_loopback_only() {
        assert!(base_url("http://127.0.0.1:8080/").is_ok());
        assert!(base_url("http://example.com").is_err());
        assert_eq!(
            base_url("https://push.example.com/").expect("ok"),
            "https://push.example.com"
        );
    }
}
