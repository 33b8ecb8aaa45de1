//! Readings of the wall clock together with a clock the user cannot set.
//!
//! On Linux and Android the boot-time clock (`CLOCK_BOOTTIME`) counts from
//! boot, including suspend, and cannot be changed; with the kernel's boot id
//! it tells how much real time passed between two readings, even across
//! processes. Comparing that with how far the wall clock moved reveals a
//! wall-clock change. Elsewhere the anchor is absent and estimates are given
//! a shorter life instead.

use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

/// A point on the boot-time clock, valid only within one boot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BootAnchor {
    /// The kernel's random id of the current boot.
    pub boot_id: String,
    /// Microseconds since boot, including suspend.
    pub boottime_micros: u64,
}

/// The wall clock and (where available) the boot clock, read together.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClockReading {
    /// The wall clock, microseconds since the Unix epoch.
    pub system_micros: i64,
    /// The boot clock, where the platform has one.
    pub boot: Option<BootAnchor>,
}

impl ClockReading {
    /// Reads the clocks now.
    pub fn now() -> Self {
        Self {
            system_micros: system_micros(),
            boot: boot_anchor(),
        }
    }

    /// Microseconds of real time between `earlier` and this reading, measured
    /// on the boot clock; `None` when either lacks it or a reboot happened.
    pub fn boot_elapsed_since(&self, earlier: &ClockReading) -> Option<i64> {
        match (&self.boot, &earlier.boot) {
            (Some(now), Some(then)) if now.boot_id == then.boot_id => {
                let now = i64::try_from(now.boottime_micros).ok()?;
                let then = i64::try_from(then.boottime_micros).ok()?;
                Some(now - then)
            }
            _ => None,
        }
    }
}

fn system_micros() -> i64 {
    match SystemTime::now().duration_since(UNIX_EPOCH) {
        Ok(after) => i64::try_from(after.as_micros()).unwrap_or(i64::MAX),
        Err(before) => -i64::try_from(before.duration().as_micros()).unwrap_or(i64::MAX),
    }
}

#[cfg(any(target_os = "linux", target_os = "android"))]
fn boot_anchor() -> Option<BootAnchor> {
    let boot_id = std::fs::read_to_string("/proc/sys/kernel/random/boot_id").ok()?;
    let time = rustix::time::clock_gettime(rustix::time::ClockId::Boottime);
    let micros =
        u64::try_from(time.tv_sec).ok()? * 1_000_000 + u64::try_from(time.tv_nsec).ok()? / 1_000;
    Some(BootAnchor {
        boot_id: boot_id.trim().to_string(),
        boottime_micros: micros,
    })
}

#[cfg(not(any(target_os = "linux", target_os = "android")))]
fn boot_anchor() -> Option<BootAnchor> {
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn boot_clock_advances_with_real_time() {
        let first = ClockReading::now();
        std::thread::sleep(std::time::Duration::from_millis(20));
        let second = ClockReading::now();
        if cfg!(any(target_os = "linux", target_os = "android")) {
            let elapsed = second.boot_elapsed_since(&first).unwrap();
            assert!((15_000..2_000_000).contains(&elapsed), "{elapsed}");
        }
        let other_boot = ClockReading {
            system_micros: 0,
            boot: Some(BootAnchor {
                boot_id: "another".into(),
                boottime_micros: 0,
            }),
        };
        assert_eq!(second.boot_elapsed_since(&other_boot), None);
    }
}
