//! The prompt stream (`GET /v1/device/stream`, §3.4 and §10.2): a task that
//! keeps the Server-Sent-Events connection open, verifies each prompt under
//! the pinned key, and reconnects after any failure with exponential backoff
//! and jitter (capped at [`MAX_BACKOFF`]), sending `Last-Event-ID` so the
//! server resends what was missed.
//!
//! [`PushClient::subscribe`] returns a [`Subscription`]: `next().await` gives
//! [`PushEvent`]s, `cancel()` (or dropping it) stops the task.

use std::time::Duration;

use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::client::{PushClient, VerifiedPrompt};
use super::error::PushError;
use super::http::{PROOF_HEADER, network};
use super::sse::{SseItem, SseParser};

/// The first reconnection delay (before jitter).
pub const FIRST_BACKOFF: Duration = Duration::from_millis(500);
/// The longest reconnection delay.
pub const MAX_BACKOFF: Duration = Duration::from_secs(30);
/// Silence after which the stream is taken as dead: three missed 15 s
/// heartbeats.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(45);
/// How long connecting may take, up to the response headers.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(20);

/// Something that happened on the stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PushEvent {
    /// The stream is (again) connected.
    Connected,
    /// A prompt that passed every check: show it. (Boxed: it is by far the
    /// largest event.)
    Prompt(Box<VerifiedPrompt>),
    /// A prompt that failed a check (signed by another key, for another
    /// device, expired…): dropped, never to be shown as valid. Report it.
    Rejected(PushError),
    /// The connection failed or ended; the next try is in `retry_in`.
    Disconnected {
        /// Why.
        error: PushError,
        /// When the next connection attempt starts.
        retry_in: Duration,
    },
    /// The server revoked this device (`revoked`, `replaced`, `handoff`):
    /// the stream is over and the pairing is dead. Given both for the
    /// stream's `revoked` event and when a (re)connect is refused
    /// `device_revoked` (the device was revoked while offline); read it
    /// with [`super::error::RevokeReason::from_wire`].
    Revoked {
        /// The server's reason (shortened).
        reason: String,
    },
}

/// Exponential backoff with "equal jitter": attempt `n` waits a random
/// time between half and all of `min(FIRST_BACKOFF × 2ⁿ, MAX_BACKOFF)`, so
/// many devices cut off at once do not all come back at the same instant.
#[derive(Debug, Clone, Default)]
pub struct Backoff {
    attempt: u32,
}

impl Backoff {
    /// A backoff at its first step.
    pub fn new() -> Self {
        Self::default()
    }

    /// The delay for `attempt` (0-based) with `jitter` in `[0, 1]`.
    pub fn delay(attempt: u32, jitter: f64) -> Duration {
        let ceiling = FIRST_BACKOFF
            .saturating_mul(2u32.saturating_pow(attempt.min(16)))
            .min(MAX_BACKOFF);
        let jitter = if jitter.is_finite() {
            jitter.clamp(0.0, 1.0)
        } else {
            1.0
        };
        ceiling / 2 + ceiling.div_f64(2.0).mul_f64(jitter)
    }

    /// The next delay, with fresh random jitter.
    pub fn next_delay(&mut self) -> Duration {
        let jitter = crate::aead::random_bytes::<4>()
            .map(|b| f64::from(u32::from_le_bytes(b)) / f64::from(u32::MAX))
            .unwrap_or(1.0);
        let delay = Self::delay(self.attempt, jitter);
        self.attempt = self.attempt.saturating_add(1);
        delay
    }

    /// Back to the first step (after a good connection).
    pub fn reset(&mut self) {
        self.attempt = 0;
    }
}

/// A running stream subscription. Dropping it cancels it.
#[derive(Debug)]
pub struct Subscription {
    events: mpsc::Receiver<PushEvent>,
    task: JoinHandle<()>,
}

impl Subscription {
    /// The next event; `None` once the stream is over (cancelled, or the
    /// device was revoked).
    pub async fn next(&mut self) -> Option<PushEvent> {
        self.events.recv().await
    }

    /// Stops the stream; [`Subscription::next`] then returns `None` once the
    /// events already received are taken.
    pub fn cancel(&self) {
        self.task.abort();
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// How one connection ended.
enum End {
    /// The subscriber is gone.
    Closed,
    /// The device was revoked.
    Revoked(String),
    /// A failure: reconnect.
    Failed(PushError),
}

impl PushClient {
    /// Opens the prompt stream in a background task (on the current tokio
    /// runtime) and returns its handle.
    pub fn subscribe(&self) -> Subscription {
        let (sender, events) = mpsc::channel(32);
        let client = self.clone();
        let task = tokio::spawn(async move { run(client, sender).await });
        Subscription { events, task }
    }

    /// Connects once and forwards events until the connection ends.
    async fn stream_once(
        &self,
        last_event_id: &mut Option<String>,
        backoff: &mut Backoff,
        events: &mpsc::Sender<PushEvent>,
    ) -> End {
        let url = format!("{}/v1/device/stream", self.inner().base);
        let proof = match self.proof("GET", &url, b"") {
            Ok(proof) => proof,
            Err(error) => return End::Failed(error),
        };
        let mut headers = vec![
            (PROOF_HEADER, proof.as_str()),
            ("accept", "text/event-stream"),
            ("cache-control", "no-cache"),
        ];
        if let Some(id) = last_event_id.as_deref() {
            headers.push(("last-event-id", id));
        }
        let response = match self
            .inner()
            .http
            .request("GET", &url, &headers, Vec::new(), CONNECT_TIMEOUT)
            .await
        {
            Ok(response) => response,
            Err(error) => return End::Failed(error),
        };
        let status = response.status;
        if status != 200 {
            let retry_after = response
                .header("retry-after")
                .and_then(|v| v.trim().parse().ok());
            let body = tokio::time::timeout(CONNECT_TIMEOUT, response.read_to_end(16 * 1024))
                .await
                .ok()
                .and_then(Result::ok)
                .unwrap_or_default();
            return End::Failed(PushError::from_answer(status, &body, retry_after, "device"));
        }
        let is_event_stream = response
            .header("content-type")
            .is_some_and(|v| v.trim_start().starts_with("text/event-stream"));
        if !is_event_stream {
            return End::Failed(PushError::BadResponse {
                reason: "the stream is not text/event-stream".into(),
            });
        }
        backoff.reset();
        if events.send(PushEvent::Connected).await.is_err() {
            return End::Closed;
        }
        let mut parser = SseParser::new();
        let mut body = response.body;
        loop {
            let data = match tokio::time::timeout(IDLE_TIMEOUT, body.chunk()).await {
                Err(_) => {
                    return End::Failed(PushError::Timeout {
                        seconds: IDLE_TIMEOUT.as_secs(),
                    });
                }
                Ok(Ok(None)) => {
                    return End::Failed(PushError::Network {
                        reason: "the server closed the stream".into(),
                    });
                }
                Ok(Err(error)) => return End::Failed(network(error)),
                Ok(Ok(Some(data))) => data,
            };
            let items = match parser.feed(&data) {
                Ok(items) => items,
                Err(error) => {
                    return End::Failed(PushError::BadResponse {
                        reason: error.to_string(),
                    });
                }
            };
            for item in items {
                let SseItem::Event(event) = item else {
                    // Heartbeats only keep the idle timer from firing.
                    continue;
                };
                if event.id.is_some() {
                    last_event_id.clone_from(&event.id);
                }
                let forward = match event.event.as_str() {
                    "prompt" => match self.verify_prompt(event.data.trim(), event.id.clone()) {
                        Ok(prompt) => PushEvent::Prompt(Box::new(prompt)),
                        Err(error) => PushEvent::Rejected(error),
                    },
                    "revoked" => {
                        #[derive(serde::Deserialize)]
                        struct Reason {
                            reason: String,
                        }
                        let reason = serde_json::from_str::<Reason>(&event.data)
                            .map(|r| super::error::clean_message(&r.reason))
                            .unwrap_or_else(|_| "revoked".into());
                        return End::Revoked(reason);
                    }
                    // Unknown events are for later protocol versions.
                    _ => continue,
                };
                if events.send(forward).await.is_err() {
                    return End::Closed;
                }
            }
        }
    }
}

/// The subscription's task: connect, forward, back off, reconnect.
async fn run(client: PushClient, events: mpsc::Sender<PushEvent>) {
    let mut backoff = Backoff::new();
    let mut last_event_id = None;
    loop {
        let error = match client
            .stream_once(&mut last_event_id, &mut backoff, &events)
            .await
        {
            End::Closed => return,
            End::Revoked(reason) => {
                let _ = events.send(PushEvent::Revoked { reason }).await;
                return;
            }
            // Refused at (re)connect: the same event as the stream's own
            // `revoked`, with the reason the server stored.
            End::Failed(PushError::DeviceRevoked { reason }) => {
                let _ = events
                    .send(PushEvent::Revoked {
                        reason: reason.as_str().into(),
                    })
                    .await;
                return;
            }
            End::Failed(error) => error,
        };
        let mut retry_in = backoff.next_delay();
        if let PushError::Cooldown {
            retry_after: Some(seconds),
        } = &error
        {
            retry_in = retry_in.max(Duration::from_secs(*seconds)).min(MAX_BACKOFF);
        }
        if events
            .send(PushEvent::Disconnected { error, retry_in })
            .await
            .is_err()
        {
            return;
        }
        tokio::time::sleep(retry_in).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_to_the_cap_with_jitter_in_the_upper_half() {
        assert_eq!(Backoff::delay(0, 1.0), Duration::from_millis(500));
        assert_eq!(Backoff::delay(0, 0.0), Duration::from_millis(250));
        assert_eq!(Backoff::delay(1, 1.0), Duration::from_secs(1));
        assert_eq!(Backoff::delay(3, 1.0), Duration::from_secs(4));
        assert_eq!(Backoff::delay(6, 1.0), Duration::from_secs(30));
        assert_eq!(Backoff::delay(60, 1.0), Duration::from_secs(30));
        assert_eq!(Backoff::delay(60, 0.0), Duration::from_secs(15));
        assert_eq!(Backoff::delay(u32::MAX, f64::NAN), Duration::from_secs(30));
        assert_eq!(Backoff::delay(2, 7.0), Duration::from_secs(2));
        let mut backoff = Backoff::new();
        for attempt in 0..20 {
            let delay = backoff.next_delay();
            let ceiling = Backoff::delay(attempt, 1.0);
            assert!(
                delay <= ceiling && delay >= ceiling / 2,
                "{attempt}: {delay:?}"
            );
        }
        backoff.reset();
        assert!(backoff.next_delay() <= Duration::from_millis(500));
    }
}
