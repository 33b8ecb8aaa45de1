//! Trusted time: detect and correct device clock drift, and say plainly when
//! the time is unknown.
//!
//! - [`sources`]: the [`TimeSource`] port and its two real sources, SNTP and
//!   the HTTPS `Date` header, each giving a [`TimeSample`] (offset ±
//!   uncertainty) or a reason for refusing the reply.
//! - [`estimate`]: combines samples (outliers rejected, authenticated sources
//!   outweigh unauthenticated ones) into a [`ClockEstimate`], anchored to the
//!   boot-time clock so a later change of the wall clock is detected, aged so
//!   it expires, and serialisable so start-up is instant.
//! - [`sync`] asks every source at once with one deadline; [`TrustedClock`]
//!   keeps the sources, the current estimate and the correction switch for
//!   an app.
//!
//! Nothing here changes the system clock: codes are computed for
//! `system time + offset` ([`ClockEstimate::assess`]).

pub mod anchor;
pub mod estimate;
pub mod persist;
pub mod sources;
pub mod trusted;

use std::sync::Arc;
use std::time::Duration;

pub use anchor::{BootAnchor, ClockReading};
pub use estimate::{Assessment, ClockEstimate, ClockStatus, MAX_ABS_OFFSET_MICROS, combine};
pub use sources::{SourceKind, SourceSpec, TimeSample, TimeSource, default_sources, parse_sources};
pub use trusted::TrustedClock;

/// Why a source's answer, or the whole estimate, was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TimeError {
    /// A source list entry is not understood.
    #[error("time source \"{source_text}\": {reason}")]
    BadSource {
        /// The entry as given.
        source_text: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The source did not answer in time.
    #[error("no answer within {0} ms")]
    Timeout(u64),
    /// The network failed (DNS, refused, unreachable, TLS).
    #[error("network: {0}")]
    Network(String),
    /// The NTP reply was refused (malformed, kiss-of-death, unsynchronised…).
    #[error("bad NTP reply: {0}")]
    BadNtpReply(String),
    /// The HTTP reply had no usable `Date` header.
    #[error("bad Date header: {0}")]
    BadDate(String),
    /// The measured offset is beyond any sane clock error.
    #[error("offset of {seconds} s is beyond the sane bound of {bound} s", bound = MAX_ABS_OFFSET_MICROS / 1_000_000)]
    OffsetTooLarge {
        /// The offset measured, in whole seconds.
        seconds: i64,
    },
    /// No source gave a usable sample.
    #[error("no time source answered usefully")]
    NoSamples,
    /// The sources disagree and none outweighs the others.
    #[error("the time sources disagree with each other ({0})")]
    Disagreement(String),
}

/// What one round of asking the sources produced.
#[derive(Debug, Clone)]
pub struct SyncReport {
    /// Usable samples, one per source that answered well.
    pub samples: Vec<TimeSample>,
    /// Sources that failed, with why.
    pub failures: Vec<(String, TimeError)>,
    /// The combined estimate, or why there is none.
    pub estimate: Result<ClockEstimate, TimeError>,
}

/// Asks every source concurrently; the whole round takes at most `timeout`
/// (plus scheduling), never the sum of per-source timeouts.
pub async fn sync(sources: &[Arc<dyn TimeSource>], timeout: Duration) -> SyncReport {
    let mut tasks = tokio::task::JoinSet::new();
    for (index, source) in sources.iter().enumerate() {
        let source = Arc::clone(source);
        tasks.spawn(async move {
            let result = match tokio::time::timeout(timeout, source.sample(timeout)).await {
                Ok(result) => result,
                Err(_) => Err(TimeError::Timeout(
                    u64::try_from(timeout.as_millis()).unwrap_or(u64::MAX),
                )),
            };
            (index, source.describe(), result)
        });
    }
    let mut results = Vec::new();
    while let Some(joined) = tasks.join_next().await {
        if let Ok(result) = joined {
            results.push(result);
        }
    }
    // Report in the configured order, whatever order answers came in.
    results.sort_by_key(|(index, _, _)| *index);
    let mut samples = Vec::new();
    let mut failures = Vec::new();
    for (_, name, result) in results {
        match result.and_then(estimate::check_sane) {
            Ok(sample) => samples.push(sample),
            Err(error) => failures.push((name, error)),
        }
    }
    let reading = ClockReading::now();
    let estimate = combine(&samples, &reading);
    SyncReport {
        samples,
        failures,
        estimate,
    }
}
