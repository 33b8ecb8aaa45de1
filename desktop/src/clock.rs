//! The instant codes are computed for.

use std::time::{SystemTime, UNIX_EPOCH};

use tessera_core::Timestamp;

/// The system clock as a [`Timestamp`]. A clock set before 1970 reads as the
/// epoch, which makes every code visibly wrong rather than crashing.
pub fn now() -> Timestamp {
    let millis = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis());
    Timestamp::from_unix_millis(u64::try_from(millis).unwrap_or(u64::MAX))
}
