//! The instant codes are computed for: the system clock corrected by the
//! trusted-time estimate (see `tessera_core::clock`).

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use tessera_core::Timestamp;
use tessera_core::clock::{
    self, ClockEstimate, ClockReading, ClockStatus, SourceSpec, SyncReport, TrustedClock,
};
use tessera_core::http::Http;

use crate::config::Config;
use crate::error::CliError;

/// How long an explicit `tessera time sync` waits for the sources.
pub const SYNC_TIMEOUT: Duration = Duration::from_secs(3);
/// How long `code`/`watch` wait when they re-check the time on their own.
pub const QUICK_SYNC_TIMEOUT: Duration = Duration::from_millis(1500);

/// The trusted clock of one CLI run, with a runtime for its network checks.
pub struct TimeKeeper {
    clock: Arc<TrustedClock>,
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
        let correction = !no_correction && config.time.correction.unwrap_or(true);
        let state_path = vault_path.with_file_name("clock.json");
        let (clock, load_problem) =
            TrustedClock::new(sources, Http::native(), correction, Some(state_path));
        Ok(Self {
            clock: Arc::new(clock),
            load_problem,
        })
    }

    /// The clock as the push client reads it (shared, so a sync seen by
    /// one is seen by all).
    pub fn push_clock(&self) -> Arc<dyn tessera_core::push::PushClock> {
        Arc::clone(&self.clock) as Arc<dyn tessera_core::push::PushClock>
    }

    /// Whether codes are corrected.
    pub fn correction(&self) -> bool {
        self.clock.correction()
    }

    /// The configured sources.
    pub fn sources(&self) -> &[SourceSpec] {
        self.clock.sources()
    }

    /// The current estimate, if any.
    pub fn estimate(&self) -> Option<ClockEstimate> {
        self.clock.estimate()
    }

    /// The status now.
    pub fn status(&self, reading: &ClockReading) -> ClockStatus {
        self.clock.status(reading)
    }

    /// The instant for codes, and the status it was computed under.
    pub fn now(&self) -> (Timestamp, ClockStatus) {
        self.clock.now()
    }

    /// Asks every source now and keeps a good estimate (saving it).
    pub fn sync(&mut self, timeout: Duration) -> Result<SyncReport, CliError> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| CliError::failure(format!("cannot start the network runtime: {e}")))?;
        Ok(runtime.block_on(self.clock.sync(timeout)))
    }

    /// Re-checks the time when it is due (see [`TrustedClock::needs_refresh`]).
    /// Failures only leave the status as it is; they are reported through it.
    pub fn refresh_if_needed(&mut self) {
        if self.clock.needs_refresh() {
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
