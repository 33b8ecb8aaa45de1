//! The instant codes are computed for: the system clock corrected by the
//! trusted-time estimate (see `tessera_core::clock`).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use tessera_core::Timestamp;
use tessera_core::clock::{
    self, ClockEstimate, ClockReading, ClockStatus, SourceSpec, SyncReport, TimeSource, persist,
};

use crate::config::Config;
use crate::error::CliError;

/// How long an explicit `tessera time sync` waits for the sources.
pub const SYNC_TIMEOUT: Duration = Duration::from_secs(3);
/// How long `code`/`watch` wait when they re-check the time on their own.
pub const QUICK_SYNC_TIMEOUT: Duration = Duration::from_millis(1500);

/// The trusted clock of one CLI run: the saved estimate, the sources and
/// whether correction is on.
pub struct TimeKeeper {
    state_path: PathBuf,
    sources: Vec<SourceSpec>,
    correction: bool,
    estimate: Option<ClockEstimate>,
    /// Why the saved estimate could not be read, if it could not.
    pub load_problem: Option<String>,
}

impl TimeKeeper {
    /// Loads the saved estimate kept beside the vault, and the sources from
    /// `TESSERA_TIME_SOURCES`, else the config file, else the defaults.
    pub fn new(vault_path: &Path, config: &Config, no_correction: bool) -> Result<Self, CliError> {
        let sources = match std::env::var("TESSERA_TIME_SOURCES") {
            Ok(list) => clock::parse_sources(&list)
                .map_err(|e| CliError::bad_input(format!("TESSERA_TIME_SOURCES: {e}")))?,
            Err(_) => match &config.time.sources {
                Some(list) => list
                    .iter()
                    .map(|s| SourceSpec::parse(s))
                    .collect::<Result<_, _>>()
                    .map_err(|e| CliError::bad_input(format!("config file: {e}")))?,
                None => clock::default_sources(),
            },
        };
        let state_path = vault_path.with_file_name("clock.json");
        let (estimate, load_problem) = match persist::load(&state_path) {
            Ok(estimate) => (estimate, None),
            Err(problem) => (None, Some(problem)),
        };
        Ok(Self {
            state_path,
            sources,
            correction: !no_correction && config.time.correction.unwrap_or(true),
            estimate,
            load_problem,
        })
    }

    /// Whether codes are corrected.
    pub fn correction(&self) -> bool {
        self.correction
    }

    /// The configured sources.
    pub fn sources(&self) -> &[SourceSpec] {
        &self.sources
    }

    /// The saved estimate, if any.
    pub fn estimate(&self) -> Option<&ClockEstimate> {
        self.estimate.as_ref()
    }

    /// The status now.
    pub fn status(&self, reading: &ClockReading) -> ClockStatus {
        if self.sources.is_empty() && self.estimate.is_none() {
            return ClockStatus::Unknown {
                reason: "no time sources are configured".into(),
            };
        }
        ClockStatus::of(self.estimate.as_ref(), reading, self.correction)
    }

    /// The instant for codes, and the status it was computed under.
    pub fn now(&self) -> (Timestamp, ClockStatus) {
        let reading = ClockReading::now();
        let status = self.status(&reading);
        (status.code_time(&reading), status)
    }

    /// Asks every source now and keeps a good estimate (saving it).
    pub fn sync(&mut self, timeout: Duration) -> Result<SyncReport, CliError> {
        let sources: Vec<Arc<dyn TimeSource>> = self
            .sources
            .iter()
            .cloned()
            .map(SourceSpec::into_source)
            .collect();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| CliError::failure(format!("cannot start the network runtime: {e}")))?;
        let report = runtime.block_on(clock::sync(&sources, timeout));
        if let Ok(estimate) = &report.estimate {
            if let Err(problem) = persist::save(&self.state_path, estimate) {
                eprintln!("note: the time estimate could not be saved: {problem}");
            }
            self.estimate = Some(estimate.clone());
        }
        Ok(report)
    }

    /// Re-checks the time when the estimate is missing, untrusted or due
    /// (and correction is on and there are sources). Failures only leave the
    /// status as it is; they are reported through it.
    pub fn refresh_if_needed(&mut self) {
        if !self.correction || self.sources.is_empty() {
            return;
        }
        let due = match &self.estimate {
            None => true,
            Some(estimate) => estimate.assess(&ClockReading::now()).needs_recheck,
        };
        if due {
            let _ = self.sync(QUICK_SYNC_TIMEOUT);
        }
    }
}

/// Tells the user, on stderr, what the clock means for the codes shown.
pub fn report(status: &ClockStatus) {
    match status {
        ClockStatus::InSync { .. } => {}
        ClockStatus::Corrected { .. } => eprintln!("clock: {status}"),
        ClockStatus::Uncorrected { .. } | ClockStatus::Unknown { .. } => {
            eprintln!("warning: {status}")
        }
    }
}
