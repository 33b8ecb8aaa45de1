//! The time the push client works with: the trusted clock's best estimate,
//! or nothing when the time is unknown (DESIGN §4). Request proofs then use
//! the system clock, and a prompt's expiry is left to the server.

use std::time::{SystemTime, UNIX_EPOCH};

use super::messages::DeviceTime;
use crate::clock::{ClockReading, ClockStatus, TrustedClock};

/// Where the push client gets the time from.
pub trait PushClock: Send + Sync {
    /// The best known time and its uncertainty, or `None` when unknown.
    fn device_time(&self) -> Option<DeviceTime>;

    /// Seconds since the epoch for request proofs and answers: the known
    /// time, else the system clock.
    fn now_secs(&self) -> u64 {
        self.device_time().map_or_else(system_secs, |t| t.now)
    }
}

/// The system clock's seconds since the epoch (0 before 1970).
pub fn system_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// The trusted clock's estimate. Its offset is used whenever the estimate
/// is trusted, even with code correction switched off: the switch is about
/// which instant codes are shown for, while a prompt's expiry and a proof's
/// `iat` are judged by the server's clock, which the estimate tracks.
impl PushClock for TrustedClock {
    fn device_time(&self) -> Option<DeviceTime> {
        let reading = ClockReading::now();
        let (offset, uncertainty) = match self.status(&reading) {
            ClockStatus::InSync {
                offset_micros,
                uncertainty_micros,
                ..
            }
            | ClockStatus::Corrected {
                offset_micros,
                uncertainty_micros,
            }
            | ClockStatus::Uncorrected {
                offset_micros,
                uncertainty_micros,
            } => (offset_micros, uncertainty_micros),
            ClockStatus::Unknown { .. } => return None,
        };
        let micros = reading.system_micros.saturating_add(offset);
        let now = u64::try_from(micros / 1_000_000).ok()?;
        // Whole seconds: the truncation adds up to one second of doubt.
        Some(DeviceTime {
            now,
            uncertainty: uncertainty.div_ceil(1_000_000) + 1,
        })
    }
}

/// A clock that does not know the time: proofs use the system clock and
/// prompts are marked as not checked for expiry.
#[derive(Debug, Clone, Copy, Default)]
pub struct UnknownTime;

impl PushClock for UnknownTime {
    fn device_time(&self) -> Option<DeviceTime> {
        None
    }
}

/// A fixed, known time (tests, or an app that keeps its own estimate).
#[derive(Debug, Clone, Copy)]
pub struct KnownTime(pub DeviceTime);

impl PushClock for KnownTime {
    fn device_time(&self) -> Option<DeviceTime> {
        Some(self.0)
    }
}

/// The system clock, taken as known with the given uncertainty (tests and
/// tools that trust the host clock).
#[derive(Debug, Clone, Copy)]
pub struct SystemTimeKnown {
    /// Seconds of doubt to add.
    pub uncertainty: u64,
}

impl PushClock for SystemTimeKnown {
    fn device_time(&self) -> Option<DeviceTime> {
        Some(DeviceTime {
            now: system_secs(),
            uncertainty: self.uncertainty,
        })
    }
}
