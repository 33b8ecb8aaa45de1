//! The trusted clock an app keeps: its sources, its saved estimate and
//! whether codes are corrected. The desktop CLI and the mobile library both
//! use it, so they judge time the same way.

use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use super::anchor::ClockReading;
use super::estimate::{ClockEstimate, ClockStatus};
use super::sources::{SourceSpec, TimeSource};
use super::{SyncReport, persist, sync};
use crate::http::Http;
use crate::otp::Timestamp;

/// Sources, the current estimate (saved to `state_path` when given) and the
/// correction switch. Safe to share between threads.
#[derive(Debug)]
pub struct TrustedClock {
    sources: Vec<SourceSpec>,
    http: Http,
    correction: bool,
    state_path: Option<PathBuf>,
    estimate: Mutex<Option<ClockEstimate>>,
}

impl TrustedClock {
    /// A clock over `sources` (HTTPS ones reached through `http`), starting
    /// from the estimate saved at `state_path` (if any). Also returns why a
    /// saved estimate could not be read, for the user: the time is then
    /// unknown until the next sync.
    pub fn new(
        sources: Vec<SourceSpec>,
        http: Http,
        correction: bool,
        state_path: Option<PathBuf>,
    ) -> (Self, Option<String>) {
        let (estimate, problem) = match state_path.as_deref().map(persist::load) {
            Some(Ok(estimate)) => (estimate, None),
            Some(Err(problem)) => (None, Some(problem)),
            None => (None, None),
        };
        let clock = Self {
            sources,
            http,
            correction,
            state_path,
            estimate: Mutex::new(estimate),
        };
        (clock, problem)
    }

    fn estimate_lock(&self) -> MutexGuard<'_, Option<ClockEstimate>> {
        self.estimate
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The configured sources.
    pub fn sources(&self) -> &[SourceSpec] {
        &self.sources
    }

    /// Whether codes are corrected.
    pub fn correction(&self) -> bool {
        self.correction
    }

    /// The current estimate, if any.
    pub fn estimate(&self) -> Option<ClockEstimate> {
        self.estimate_lock().clone()
    }

    /// The status at `reading`.
    pub fn status(&self, reading: &ClockReading) -> ClockStatus {
        let estimate = self.estimate_lock();
        if self.sources.is_empty() && estimate.is_none() {
            return ClockStatus::Unknown {
                reason: "no time sources are configured".into(),
            };
        }
        ClockStatus::of(estimate.as_ref(), reading, self.correction)
    }

    /// The instant for codes now, and the status it was computed under.
    pub fn now(&self) -> (Timestamp, ClockStatus) {
        let reading = ClockReading::now();
        let status = self.status(&reading);
        (status.code_time(&reading), status)
    }

    /// True when the time should be checked again (no estimate, untrusted,
    /// old, or the wall clock changed), correction is on and there are sources.
    pub fn needs_refresh(&self) -> bool {
        if !self.correction || self.sources.is_empty() {
            return false;
        }
        match self.estimate_lock().as_ref() {
            None => true,
            Some(estimate) => estimate.assess(&ClockReading::now()).needs_recheck,
        }
    }

    /// Asks every source at once (bounded by `timeout`); a good estimate is
    /// kept and saved, a failed sync leaves the previous one in place.
    pub async fn sync(&self, timeout: Duration) -> SyncReport {
        let sources: Vec<Arc<dyn TimeSource>> = self
            .sources
            .iter()
            .cloned()
            .map(|spec| spec.into_source(&self.http))
            .collect();
        let report = sync(&sources, timeout).await;
        if let Ok(estimate) = &report.estimate {
            *self.estimate_lock() = Some(estimate.clone());
            if let Some(path) = self.state_path.clone() {
                let saved = estimate.clone();
                // File I/O off the async workers. A failed save only costs
                // a re-check at the next start.
                let _ = tokio::task::spawn_blocking(move || persist::save(&path, &saved)).await;
            }
        }
        report
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn without_sources_the_time_is_unknown_and_never_refreshed() {
        let (clock, problem) = TrustedClock::new(Vec::new(), Http::none(), true, None);
        assert_eq!(problem, None);
        assert!(!clock.needs_refresh());
        let (_, status) = clock.now();
        assert_eq!(status.state(), "unknown");
        assert!(status.to_string().contains("no time sources"));
    }

    #[test]
    fn a_damaged_state_file_is_reported() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("clock.json");
        std::fs::write(&path, b"garbage").unwrap();
        let sources = vec![SourceSpec::parse("ntp://127.0.0.1:9").unwrap()];
        let (clock, problem) = TrustedClock::new(sources, Http::none(), true, Some(path));
        assert!(problem.unwrap().contains("damaged"));
        assert!(clock.estimate().is_none());
        assert!(clock.needs_refresh());
    }
}
