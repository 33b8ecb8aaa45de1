//! Combining samples into one clock estimate, and judging it later.
//!
//! Each sample says "the true offset is within `offset ± uncertainty`". The
//! estimate keeps the largest group of samples whose intervals share a point
//! (Marzullo's idea), counting authenticated samples first: a network
//! attacker can forge every NTP reply but not an HTTPS one, so no number of
//! agreeing NTP replies outvotes HTTPS. The combined offset is the
//! precision-weighted mean of the group, clamped into the group's common
//! interval, so a source can never move the result further than its
//! agreement with the others allows.

use std::collections::BTreeSet;
use std::fmt;

use serde::{Deserialize, Serialize};

use super::TimeError;
use super::anchor::ClockReading;
use super::sources::TimeSample;
use crate::otp::Timestamp;

/// Offsets beyond a year are refused: no working device is that wrong, and
/// a source claiming so is broken or hostile.
pub const MAX_ABS_OFFSET_MICROS: i64 = 366 * 24 * 3600 * 1_000_000;
/// Within a second the clock counts as in sync.
pub const IN_SYNC_MICROS: i64 = 1_000_000;
/// How fast uncertainty grows with age: 50 ppm (4.3 s a day) bounds the
/// drift of phone and PC oscillators, with margin.
pub const DRIFT_PPM: u64 = 50;
/// An estimate anchored to the boot clock is trusted for three days.
pub const MAX_AGE_ANCHORED_SECS: u64 = 3 * 24 * 3600;
/// Without the anchor (another boot, a platform without one), a day.
pub const MAX_AGE_UNANCHORED_SECS: u64 = 24 * 3600;
/// After six hours an estimate is still used but should be re-checked.
pub const REFRESH_AFTER_SECS: u64 = 6 * 3600;
/// Without the anchor a wall-clock change cannot be seen, so re-check hourly.
pub const REFRESH_UNANCHORED_SECS: u64 = 3600;
/// A wall-clock change larger than this since the estimate is reported.
pub const JUMP_THRESHOLD_MICROS: i64 = 2_000_000;
/// Codes cannot be trusted once the uncertainty passes ten seconds.
pub const MAX_TRUSTED_UNCERTAINTY_MICROS: u64 = 10_000_000;

/// Refuses a sample whose offset is beyond any sane clock error.
pub fn check_sane(sample: TimeSample) -> Result<TimeSample, TimeError> {
    if sample.offset_micros.unsigned_abs() > MAX_ABS_OFFSET_MICROS.unsigned_abs() {
        return Err(TimeError::OffsetTooLarge {
            seconds: sample.offset_micros / 1_000_000,
        });
    }
    Ok(sample)
}

/// The combined result of one sync, anchored to when it was made.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClockEstimate {
    /// True time minus system time at `at`, in microseconds.
    pub offset_micros: i64,
    /// The true offset lies within `offset ± uncertainty` at `at`.
    pub uncertainty_micros: u64,
    /// The clocks when the estimate was made.
    pub at: ClockReading,
    /// The samples that agreed and were combined.
    pub samples: Vec<TimeSample>,
    /// Samples left out as outliers, with why.
    pub rejected: Vec<(TimeSample, String)>,
}

fn interval(sample: &TimeSample) -> (i64, i64) {
    let u = i64::try_from(sample.uncertainty_micros).unwrap_or(i64::MAX / 4);
    (
        sample.offset_micros.saturating_sub(u),
        sample.offset_micros.saturating_add(u),
    )
}

/// Combines checked samples into an estimate; see the module docs.
pub fn combine(samples: &[TimeSample], at: &ClockReading) -> Result<ClockEstimate, TimeError> {
    if samples.is_empty() {
        return Err(TimeError::NoSamples);
    }
    let intervals: Vec<(i64, i64)> = samples.iter().map(interval).collect();
    // Every point where the set of covering intervals can change.
    let mut points: Vec<i64> = intervals.iter().flat_map(|(lo, hi)| [*lo, *hi]).collect();
    points.sort_unstable();
    let midpoints: Vec<i64> = points
        .windows(2)
        .map(|w| w[0] + (w[1] - w[0]) / 2)
        .collect();
    points.extend(midpoints);

    let score = |members: &BTreeSet<usize>| {
        let authenticated = members
            .iter()
            .filter(|i| samples[**i].kind.is_authenticated())
            .count();
        (authenticated, members.len())
    };
    let mut best: Option<((usize, usize), BTreeSet<usize>)> = None;
    let mut tied = false;
    for x in points {
        let members: BTreeSet<usize> = intervals
            .iter()
            .enumerate()
            .filter(|(_, (lo, hi))| *lo <= x && x <= *hi)
            .map(|(i, _)| i)
            .collect();
        let s = score(&members);
        match &best {
            Some((top, set)) if s == *top && members != *set => tied = true,
            Some((top, _)) if s <= *top => {}
            _ => {
                best = Some((s, members));
                tied = false;
            }
        }
    }
    let Some((_, members)) = best else {
        return Err(TimeError::NoSamples);
    };
    if tied {
        return Err(TimeError::Disagreement(describe_spread(samples)));
    }
    if members.len() == 1 && samples.len() > 1 && !samples[first(&members)].kind.is_authenticated()
    {
        // Several unauthenticated sources and no two agree: nobody to believe.
        return Err(TimeError::Disagreement(describe_spread(samples)));
    }

    let lo = members.iter().map(|i| intervals[*i].0).max().unwrap_or(0);
    let hi = members.iter().map(|i| intervals[*i].1).min().unwrap_or(0);
    let (mut sum, mut weights) = (0f64, 0f64);
    for i in &members {
        let u = samples[*i].uncertainty_micros.max(1) as f64;
        let w = 1.0 / (u * u);
        sum += samples[*i].offset_micros as f64 * w;
        weights += w;
    }
    let offset = ((sum / weights).round() as i64).clamp(lo, hi);
    let uncertainty = (offset - lo).max(hi - offset).unsigned_abs().max(1);

    let agreed: Vec<TimeSample> = members.iter().map(|i| samples[*i].clone()).collect();
    let rejected = (0..samples.len())
        .filter(|i| !members.contains(i))
        .map(|i| {
            let reason = format!(
                "outlier: {} from the {} agreeing source(s)",
                describe_offset(samples[i].offset_micros - offset),
                agreed.len()
            );
            (samples[i].clone(), reason)
        })
        .collect();
    Ok(ClockEstimate {
        offset_micros: offset,
        uncertainty_micros: uncertainty,
        at: at.clone(),
        samples: agreed,
        rejected,
    })
}

fn first(set: &BTreeSet<usize>) -> usize {
    set.iter().next().copied().unwrap_or(0)
}

fn describe_spread(samples: &[TimeSample]) -> String {
    samples
        .iter()
        .map(|s| format!("{} says {}", s.source, signed_seconds(s.offset_micros)))
        .collect::<Vec<_>>()
        .join(", ")
}

fn signed_seconds(micros: i64) -> String {
    format!("{:+.3} s", micros as f64 / 1e6)
}

fn describe_offset(micros: i64) -> String {
    format!("{:.3} s away", micros.unsigned_abs() as f64 / 1e6)
}

/// How an estimate stands at a later moment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Assessment {
    /// The offset to apply now (adjusted for any wall-clock change).
    pub offset_micros: i64,
    /// The uncertainty now, grown with age.
    pub uncertainty_micros: u64,
    /// Real time since the estimate, in seconds.
    pub age_secs: u64,
    /// How far the wall clock was changed since the estimate, if detected.
    pub wall_clock_change_micros: Option<i64>,
    /// True when the estimate should be refreshed (old, wall clock changed,
    /// or a reboot since).
    pub needs_recheck: bool,
    /// `None` when the estimate can be used for codes, else why not.
    pub untrusted: Option<String>,
}

impl ClockEstimate {
    /// Judges the estimate at `now`: applies any wall-clock change measured
    /// on the boot clock, grows the uncertainty with age, expires it.
    pub fn assess(&self, now: &ClockReading) -> Assessment {
        let wall_elapsed = now.system_micros - self.at.system_micros;
        // Made in another boot: the anchor no longer applies, check again once.
        let other_boot =
            matches!((&now.boot, &self.at.boot), (Some(a), Some(b)) if a.boot_id != b.boot_id);
        let (age_micros, change, anchored) = match now.boot_elapsed_since(&self.at) {
            Some(real) => {
                let change = wall_elapsed - real;
                (
                    real,
                    (change.abs() > JUMP_THRESHOLD_MICROS).then_some(change),
                    true,
                )
            }
            None => (wall_elapsed.abs(), None, false),
        };
        let age_micros = age_micros.max(0).unsigned_abs();
        let age_secs = age_micros / 1_000_000;
        // When the wall clock moved by `change`, true = system + offset - change.
        let offset = self.offset_micros - change.unwrap_or(0);
        let uncertainty = self.uncertainty_micros + age_micros * DRIFT_PPM / 1_000_000;
        let max_age = if anchored {
            MAX_AGE_ANCHORED_SECS
        } else {
            MAX_AGE_UNANCHORED_SECS
        };
        let untrusted = if age_secs > max_age {
            Some(format!(
                "the last time check is {} old (limit {})",
                describe_age(age_secs),
                describe_age(max_age)
            ))
        } else if uncertainty > MAX_TRUSTED_UNCERTAINTY_MICROS {
            Some(format!(
                "the last time check is too uncertain (±{:.1} s)",
                uncertainty as f64 / 1e6
            ))
        } else if !anchored && wall_elapsed < -JUMP_THRESHOLD_MICROS {
            Some("the clock went back in time since the last check".to_string())
        } else {
            None
        };
        Assessment {
            offset_micros: offset,
            uncertainty_micros: uncertainty,
            age_secs,
            wall_clock_change_micros: change,
            needs_recheck: untrusted.is_some()
                || change.is_some()
                || other_boot
                || age_secs
                    > if anchored {
                        REFRESH_AFTER_SECS
                    } else {
                        REFRESH_UNANCHORED_SECS
                    },
            untrusted,
        }
    }
}

fn describe_age(secs: u64) -> String {
    match secs {
        s if s < 120 => format!("{s} s"),
        s if s < 7200 => format!("{} min", s / 60),
        s if s < 172_800 => format!("{} h", s / 3600),
        s => format!("{} days", s / 86_400),
    }
}

/// What the UI shows about the clock.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClockStatus {
    /// Within a second of true time.
    InSync {
        /// Offset in microseconds (true minus system).
        offset_micros: i64,
        /// Uncertainty in microseconds.
        uncertainty_micros: u64,
        /// Whether codes add the (small) offset: false with correction off.
        applied: bool,
    },
    /// Off by more than a second; codes use the corrected time.
    Corrected {
        /// Offset in microseconds (true minus system).
        offset_micros: i64,
        /// Uncertainty in microseconds.
        uncertainty_micros: u64,
    },
    /// Off by more than a second and correction is disabled: codes use the
    /// device clock and are likely wrong.
    Uncorrected {
        /// Offset in microseconds (true minus system).
        offset_micros: i64,
        /// Uncertainty in microseconds.
        uncertainty_micros: u64,
    },
    /// No trustworthy estimate: codes use the device clock, unchecked.
    Unknown {
        /// Why.
        reason: String,
    },
}

impl ClockStatus {
    /// The status for an estimate (or its absence) at `now`.
    pub fn of(estimate: Option<&ClockEstimate>, now: &ClockReading, correction: bool) -> Self {
        let Some(estimate) = estimate else {
            return Self::Unknown {
                reason: "the time has not been checked yet".into(),
            };
        };
        let assessment = estimate.assess(now);
        if let Some(reason) = assessment.untrusted {
            return Self::Unknown { reason };
        }
        let (offset_micros, uncertainty_micros) =
            (assessment.offset_micros, assessment.uncertainty_micros);
        if offset_micros.abs() <= IN_SYNC_MICROS {
            Self::InSync {
                offset_micros,
                uncertainty_micros,
                applied: correction,
            }
        } else if correction {
            Self::Corrected {
                offset_micros,
                uncertainty_micros,
            }
        } else {
            Self::Uncorrected {
                offset_micros,
                uncertainty_micros,
            }
        }
    }

    /// The offset to add to the system clock for codes (0 unless corrected).
    pub fn applied_offset_micros(&self) -> i64 {
        match self {
            Self::InSync {
                offset_micros,
                applied: true,
                ..
            }
            | Self::Corrected { offset_micros, .. } => *offset_micros,
            Self::InSync { applied: false, .. }
            | Self::Uncorrected { .. }
            | Self::Unknown { .. } => 0,
        }
    }

    /// The instant codes should be computed for: the system clock plus the
    /// applied offset. A countdown must come from this same instant.
    pub fn code_time(&self, now: &ClockReading) -> Timestamp {
        let micros = now
            .system_micros
            .saturating_add(self.applied_offset_micros());
        Timestamp::from_unix_millis(u64::try_from(micros / 1000).unwrap_or(0))
    }

    /// True when codes may be wrong and the user should be told.
    pub fn is_warning(&self) -> bool {
        matches!(self, Self::Uncorrected { .. } | Self::Unknown { .. })
    }

    /// A short machine-readable state name.
    pub fn state(&self) -> &'static str {
        match self {
            Self::InSync { .. } => "in-sync",
            Self::Corrected { .. } => "corrected",
            Self::Uncorrected { .. } => "uncorrected",
            Self::Unknown { .. } => "unknown",
        }
    }
}

fn fast_or_slow(offset_micros: i64) -> String {
    // A positive offset means true time is ahead: the device is slow.
    let seconds = offset_micros.unsigned_abs() as f64 / 1e6;
    let direction = if offset_micros > 0 { "slow" } else { "fast" };
    format!("{seconds:.1} s {direction}")
}

impl fmt::Display for ClockStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::InSync {
                offset_micros,
                uncertainty_micros,
                ..
            } => write!(
                f,
                "in sync (off by {:.3} s ± {:.3} s)",
                *offset_micros as f64 / 1e6,
                *uncertainty_micros as f64 / 1e6
            ),
            Self::Corrected {
                offset_micros,
                uncertainty_micros,
            } => write!(
                f,
                "this device's clock is {} (± {:.3} s); codes are corrected",
                fast_or_slow(*offset_micros),
                *uncertainty_micros as f64 / 1e6
            ),
            Self::Uncorrected { offset_micros, .. } => write!(
                f,
                "this device's clock is {} and time correction is off: codes will likely be rejected",
                fast_or_slow(*offset_micros)
            ),
            Self::Unknown { reason } => write!(
                f,
                "the time is unknown ({reason}); codes use this device's clock unchecked"
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::anchor::BootAnchor;
    use super::super::sources::SourceKind;
    use super::*;

    fn sample(name: &str, kind: SourceKind, offset_ms: i64, uncertainty_ms: u64) -> TimeSample {
        TimeSample {
            source: name.into(),
            kind,
            offset_micros: offset_ms * 1000,
            uncertainty_micros: uncertainty_ms * 1000,
            round_trip_micros: 0,
            taken_at_micros: 0,
            detail: String::new(),
        }
    }

    fn reading(system_s: i64, boot_s: Option<u64>) -> ClockReading {
        ClockReading {
            system_micros: system_s * 1_000_000,
            boot: boot_s.map(|b| BootAnchor {
                boot_id: "boot".into(),
                boottime_micros: b * 1_000_000,
            }),
        }
    }

    use SourceKind::{HttpsDate, Ntp};

    #[test]
    fn agreeing_ntp_refines_https() {
        let at = reading(1000, Some(10));
        let estimate = combine(
            &[
                sample("https", HttpsDate, 90_300, 520),
                sample("ntp1", Ntp, 90_012, 1),
                sample("ntp2", Ntp, 90_011, 1),
            ],
            &at,
        )
        .unwrap();
        assert!(
            (estimate.offset_micros - 90_011_500).abs() <= 1_000,
            "{estimate:?}"
        );
        assert!(estimate.uncertainty_micros <= 1_500);
        assert_eq!(estimate.samples.len(), 3);
    }

    #[test]
    fn https_outweighs_disagreeing_ntp() {
        let at = reading(1000, Some(10));
        let estimate = combine(
            &[
                sample("https", HttpsDate, 200, 510),
                sample("ntp1", Ntp, 3_600_000, 1),
                sample("ntp2", Ntp, 3_600_001, 1),
            ],
            &at,
        )
        .unwrap();
        assert_eq!(estimate.samples.len(), 1);
        assert_eq!(estimate.rejected.len(), 2);
        assert!(estimate.rejected[0].1.contains("outlier"));
        assert!((estimate.offset_micros - 200_000).abs() < 1000);
    }

    #[test]
    fn a_lone_ntp_outlier_is_outvoted() {
        let at = reading(1000, Some(10));
        let estimate = combine(
            &[
                sample("a", Ntp, 5, 1),
                sample("b", Ntp, 6, 1),
                sample("liar", Ntp, 90_000, 1),
            ],
            &at,
        )
        .unwrap();
        assert_eq!(estimate.rejected.len(), 1);
        assert_eq!(estimate.rejected[0].0.source, "liar");
        assert!(estimate.offset_micros.abs() < 10_000);
    }

    #[test]
    fn two_disagreeing_unauthenticated_sources_give_no_estimate() {
        let at = reading(1000, Some(10));
        let error =
            combine(&[sample("a", Ntp, 0, 1), sample("b", Ntp, 90_000, 1)], &at).unwrap_err();
        assert!(matches!(error, TimeError::Disagreement(_)), "{error}");
        let error = combine(
            &[
                sample("a", HttpsDate, 0, 500),
                sample("b", HttpsDate, 90_000, 500),
            ],
            &at,
        )
        .unwrap_err();
        assert!(matches!(error, TimeError::Disagreement(_)), "{error}");
        assert_eq!(combine(&[], &at).unwrap_err(), TimeError::NoSamples);
    }

    #[test]
    fn a_single_source_is_used() {
        let at = reading(1000, Some(10));
        let estimate = combine(&[sample("ntp", Ntp, -90_000, 1)], &at).unwrap();
        assert_eq!(estimate.offset_micros, -90_000_000);
    }

    #[test]
    fn refuses_absurd_offsets() {
        let absurd = sample("x", Ntp, MAX_ABS_OFFSET_MICROS / 1000 + 1000, 1);
        assert!(matches!(
            check_sane(absurd),
            Err(TimeError::OffsetTooLarge { .. })
        ));
    }

    #[test]
    fn detects_a_wall_clock_change_and_keeps_true_time() {
        let estimate = combine(&[sample("ntp", Ntp, 90_000, 1)], &reading(1000, Some(10))).unwrap();
        // 100 s of real time later the user set the clock 90 s forward.
        let now = reading(1190, Some(110));
        let assessment = estimate.assess(&now);
        assert_eq!(assessment.wall_clock_change_micros, Some(90_000_000));
        assert!(assessment.offset_micros.abs() < 10_000);
        assert!(assessment.needs_recheck);
        assert!(assessment.untrusted.is_none());
        let status = ClockStatus::of(Some(&estimate), &now, true);
        assert_eq!(status.state(), "in-sync");
        assert_eq!(status.code_time(&now).unix_secs(), 1190);
    }

    #[test]
    fn expires_and_grows_uncertain_with_age() {
        let estimate = combine(&[sample("ntp", Ntp, 90_000, 1)], &reading(1000, Some(10))).unwrap();
        let hour_later = estimate.assess(&reading(4600, Some(3610)));
        assert_eq!(hour_later.uncertainty_micros, 1_000 + 3600 * DRIFT_PPM);
        assert!(hour_later.untrusted.is_none());
        let days = MAX_AGE_ANCHORED_SECS as i64 + 10;
        let stale = estimate.assess(&reading(1000 + days, Some(10 + days as u64)));
        assert!(stale.untrusted.unwrap().contains("old"));
        assert_eq!(
            ClockStatus::of(
                Some(&estimate),
                &reading(1000 + days, Some(10 + days as u64)),
                true
            )
            .state(),
            "unknown"
        );
        // Another boot: the anchor no longer applies; shorter life, re-check once.
        let mut after_reboot = reading(1100, Some(5));
        if let Some(boot) = after_reboot.boot.as_mut() {
            boot.boot_id = "another boot".into();
        }
        let rebooted = estimate.assess(&after_reboot);
        assert!(rebooted.needs_recheck);
        assert!(rebooted.untrusted.is_none());
        // A platform without a boot clock re-checks hourly, not on every call.
        let unanchored = combine(&[sample("ntp", Ntp, 90_000, 1)], &reading(1000, None)).unwrap();
        assert!(!unanchored.assess(&reading(1100, None)).needs_recheck);
        assert!(unanchored.assess(&reading(1000 + 3700, None)).needs_recheck);
    }

    #[test]
    fn status_reports_and_applies_the_offset() {
        let estimate = combine(&[sample("ntp", Ntp, 90_000, 1)], &reading(1000, Some(10))).unwrap();
        let now = reading(1001, Some(11));
        let corrected = ClockStatus::of(Some(&estimate), &now, true);
        assert_eq!(corrected.state(), "corrected");
        assert_eq!(corrected.code_time(&now).unix_secs(), 1091);
        assert!(corrected.to_string().contains("90.0 s slow"));
        let off = ClockStatus::of(Some(&estimate), &now, false);
        assert_eq!(off.state(), "uncorrected");
        assert_eq!(off.code_time(&now).unix_secs(), 1001);
        assert!(off.is_warning());
        let small = combine(&[sample("ntp", Ntp, 400, 1)], &reading(1000, Some(10))).unwrap();
        let in_sync_off = ClockStatus::of(Some(&small), &now, false);
        assert_eq!(in_sync_off.state(), "in-sync");
        assert_eq!(in_sync_off.applied_offset_micros(), 0);
        assert_eq!(
            ClockStatus::of(Some(&small), &now, true).applied_offset_micros(),
            400_000
        );
        let unknown = ClockStatus::of(None, &now, true);
        assert_eq!(unknown.state(), "unknown");
        assert_eq!(unknown.code_time(&now).unix_secs(), 1001);
    }
}
