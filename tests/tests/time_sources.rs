//! Trusted-time sources against real sockets on 127.0.0.1.
//!
//! The servers are the shared fakes of `tessera_tests::fake_time`:
//!
//! - [`FakeNtp`]: an SNTP responder on a UDP socket (its own thread) that
//!   answers every request like a server whose clock is the system clock
//!   plus a chosen offset, with configurable stratum, leap indicator, mode
//!   and reference id, or with a bad reply: a short packet, garbage,
//!   kiss-of-death, a wrong originate timestamp, a zero or inconsistent
//!   transmit timestamp, or no reply at all;
//! - [`start_http`]: a minimal HTTP/1.1 server (a tokio task) whose `Date`
//!   header is skewed by a chosen offset, missing, garbage, not text, or
//!   never sent.
//!
//! They are asked through the public API only
//! (`SourceSpec::parse(..).into_source().sample(..)` and `clock::sync`), and
//! every test checks that a measured offset is within the source's stated
//! uncertainty of the simulated one (≤ 20 ms for SNTP, ≤ 600 ms for `Date`),
//! that every bad reply is an `Err` naming the problem and never reaches an
//! estimate, and that a dead source costs one timeout, not the sum.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::UdpSocket;
use std::time::{Duration, Instant};

use tessera_core::clock::{self, SourceKind, SourceSpec, TimeError, TimeSample};
use tessera_tests::fake_time::{DateHeader, FakeNtp, NtpReply, NtpSpec, start_http, time_source};

/// The accuracy goal for SNTP on loopback.
const NTP_TOLERANCE_MICROS: i64 = 20_000;
/// The accuracy goal for an HTTP `Date` header (whole seconds).
const DATE_TOLERANCE_MICROS: i64 = 600_000;
/// The per-source timeout of most tests.
const TIMEOUT: Duration = Duration::from_secs(1);

fn secs(seconds: f64) -> i64 {
    (seconds * 1e6).round() as i64
}

// ---------------------------------------------------------------------------
// Helpers.
// ---------------------------------------------------------------------------

/// Asserts that `sample` measured `simulated` within `tolerance` and within
/// its own stated uncertainty.
#[track_caller]
fn assert_close(sample: &TimeSample, simulated: i64, tolerance: i64) {
    let error = sample.offset_micros - simulated;
    assert!(
        error.abs() <= tolerance,
        "{}: measured {} µs, simulated {simulated} µs (error {error} µs > {tolerance} µs)",
        sample.source,
        sample.offset_micros
    );
    assert!(
        error.unsigned_abs() <= sample.uncertainty_micros,
        "{}: error {error} µs is outside the stated ± {} µs",
        sample.source,
        sample.uncertainty_micros
    );
}

/// Asserts that a `sync` over these sources applied nothing and reported
/// every source as failed.
#[track_caller]
fn assert_nothing_applied(report: &clock::SyncReport, failed: usize) {
    assert!(report.samples.is_empty(), "{report:?}");
    assert_eq!(report.failures.len(), failed, "{report:?}");
    assert_eq!(
        report.estimate.as_ref().unwrap_err(),
        &TimeError::NoSamples,
        "{report:?}"
    );
}

// ---------------------------------------------------------------------------
// SNTP.
// ---------------------------------------------------------------------------

#[tokio::test]
async fn sntp_measures_simulated_offsets_within_20_ms() {
    for seconds in [90.0, -37.25, 0.4, 0.0, -3600.5] {
        let simulated = secs(seconds);
        let server = FakeNtp::start(NtpSpec::offset(simulated));
        let sample = server.source().sample(TIMEOUT).await.unwrap();
        assert_eq!(sample.kind, SourceKind::Ntp);
        assert_eq!(sample.source, server.url());
        assert!(sample.detail.contains("stratum 2"), "{}", sample.detail);
        assert!(
            sample.uncertainty_micros >= 1_000,
            "an NTP sample is never claimed better than 1 ms: {sample:?}"
        );
        assert_close(&sample, simulated, NTP_TOLERANCE_MICROS);
    }
}

#[tokio::test]
async fn sntp_bad_replies_are_refused_with_a_reason() {
    let base = NtpSpec::offset(secs(5.0));
    let cases: Vec<(&str, NtpSpec, &[&str])> = vec![
        (
            "short packet",
            base.reply(NtpReply::Short),
            &["bad NTP reply", "too short"],
        ),
        (
            "garbage",
            base.reply(NtpReply::Garbage),
            &["bad NTP reply", "version"],
        ),
        (
            "kiss-of-death RATE",
            NtpSpec {
                stratum: 0,
                refid: *b"RATE",
                ..base
            },
            &["bad NTP reply", "Kiss-o'-Death", "Rate exceeded"],
        ),
        (
            "kiss-of-death DENY",
            NtpSpec {
                stratum: 0,
                refid: *b"DENY",
                ..base
            },
            &["bad NTP reply", "Kiss-o'-Death", "Access denied"],
        ),
        (
            "stratum 16",
            NtpSpec {
                stratum: 16,
                ..base
            },
            &["bad NTP reply", "not synchronized"],
        ),
        (
            "leap indicator 3",
            NtpSpec { leap: 3, ..base },
            &["bad NTP reply", "not synchronized"],
        ),
        (
            "client mode",
            NtpSpec { mode: 3, ..base },
            &["bad NTP reply", "mode"],
        ),
        (
            "originate mismatch",
            base.reply(NtpReply::WrongOriginate),
            &["bad NTP reply", "originate timestamp"],
        ),
        // rsntp reads an all-zero timestamp as NTP era 1 (2036), so its own
        // zero check never fires; the reply is refused for its negative
        // round trip instead.
        (
            "zero transmit",
            base.reply(NtpReply::ZeroTransmit),
            &["bad NTP reply", "inconsistent"],
        ),
        (
            "negative round trip",
            base.reply(NtpReply::Inconsistent),
            &["bad NTP reply", "inconsistent"],
        ),
    ];
    for (name, spec, needles) in cases {
        let server = FakeNtp::start(spec);
        let error = server.source().sample(TIMEOUT).await.unwrap_err();
        assert!(
            matches!(error, TimeError::BadNtpReply(_)),
            "{name}: {error:?}"
        );
        let text = error.to_string();
        for needle in needles {
            assert!(
                text.contains(needle),
                "{name}: \"{text}\" lacks \"{needle}\""
            );
        }

        // Through sync: reported as that source's failure, nothing applied.
        let report = clock::sync(&[server.source()], TIMEOUT).await;
        assert_nothing_applied(&report, 1);
        assert_eq!(report.failures[0].0, server.url(), "{name}");
        assert_eq!(report.failures[0].1, error, "{name}");
    }
}

#[tokio::test]
async fn a_silent_or_closed_ntp_server_fails_without_a_sample() {
    let silent = FakeNtp::start(NtpSpec::offset(0).reply(NtpReply::Silent));
    let timeout = Duration::from_millis(300);
    let started = Instant::now();
    let error = silent.source().sample(timeout).await.unwrap_err();
    let elapsed = started.elapsed();
    assert_eq!(error, TimeError::Timeout(300));
    assert!(error.to_string().contains("no answer within 300 ms"));
    assert!(
        elapsed >= Duration::from_millis(280) && elapsed < Duration::from_secs(2),
        "{elapsed:?}"
    );

    // A port nobody listens on: the ICMP "port unreachable" comes back at once.
    let closed = {
        let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
        socket.local_addr().unwrap()
    };
    let source = SourceSpec::parse(&format!("ntp://{closed}"))
        .unwrap()
        .into_source(&tessera_core::http::Http::none());
    let started = Instant::now();
    let error = source.sample(TIMEOUT).await.unwrap_err();
    if cfg!(target_os = "linux") {
        let TimeError::Network(text) = &error else {
            panic!("expected a network error, got {error:?}");
        };
        assert!(text.to_lowercase().contains("refused"), "{text}");
        assert!(started.elapsed() < TIMEOUT, "{:?}", started.elapsed());
    } else {
        assert!(
            matches!(error, TimeError::Network(_) | TimeError::Timeout(_)),
            "{error:?}"
        );
    }
}

// ---------------------------------------------------------------------------
// HTTP Date.
// ---------------------------------------------------------------------------

#[tokio::test]
async fn http_date_measures_skew_within_600_ms() {
    for seconds in [90.0, -37.25, 0.4, 0.0] {
        let simulated = secs(seconds);
        let url = start_http(DateHeader::Skewed(simulated)).await;
        let sample = time_source(&url).sample(TIMEOUT).await.unwrap();
        assert_eq!(sample.kind, SourceKind::HttpDate);
        assert!(!sample.kind.is_authenticated());
        assert_eq!(sample.source, url);
        assert_eq!(sample.detail, "HTTP 200");
        assert!(
            sample.uncertainty_micros >= 500_000,
            "Date has whole seconds: {sample:?}"
        );
        assert_close(&sample, simulated, DATE_TOLERANCE_MICROS);
    }
}

#[tokio::test]
async fn bad_date_headers_are_refused_with_a_reason() {
    let cases: Vec<(&str, DateHeader, &str)> = vec![
        ("missing", DateHeader::Missing, "no Date header"),
        (
            "garbage",
            DateHeader::Raw(b"yesterday at noon, roughly".to_vec()),
            "\"yesterday at noon, roughly\" is not an HTTP date",
        ),
        (
            "almost a date",
            DateHeader::Raw(b"Sun, 31 Feb 2026 25:61:00 GMT".to_vec()),
            "is not an HTTP date",
        ),
        ("empty", DateHeader::Raw(Vec::new()), "is not an HTTP date"),
        (
            "not text",
            DateHeader::Raw(b"Sun, 22 Nov 2026 \xff\xfe:00:00 GMT".to_vec()),
            "is not an HTTP date",
        ),
    ];
    for (name, header, needle) in cases {
        let url = start_http(header).await;
        let error = time_source(&url).sample(TIMEOUT).await.unwrap_err();
        assert!(matches!(error, TimeError::BadDate(_)), "{name}: {error:?}");
        let text = error.to_string();
        assert!(text.starts_with("bad Date header"), "{name}: {text}");
        assert!(
            text.contains(needle),
            "{name}: \"{text}\" lacks \"{needle}\""
        );

        let report = clock::sync(&[time_source(&url)], TIMEOUT).await;
        assert_nothing_applied(&report, 1);
        assert_eq!(report.failures[0].1, error, "{name}");
    }
}

#[tokio::test]
async fn a_hanging_http_server_times_out() {
    let url = start_http(DateHeader::Hang).await;
    let timeout = Duration::from_millis(300);
    let started = Instant::now();
    let error = time_source(&url).sample(timeout).await.unwrap_err();
    assert_eq!(error, TimeError::Timeout(300), "{error:?}");
    assert!(started.elapsed() < Duration::from_secs(2));
}

// ---------------------------------------------------------------------------
// sync: sanity bound, outliers, combination, deadlines.
// ---------------------------------------------------------------------------

#[tokio::test]
async fn offsets_beyond_a_year_are_rejected_by_sync() {
    let year = 366 * 24 * 3600 * 1_000_000i64;
    let far_ntp = FakeNtp::start(NtpSpec::offset(year + secs(86_400.0)));
    let far_back_ntp = FakeNtp::start(NtpSpec::offset(-2 * year));
    let far_http = start_http(DateHeader::Skewed(3 * year)).await;

    // The source itself measures it…
    let raw = far_ntp.source().sample(TIMEOUT).await.unwrap();
    assert!(raw.offset_micros > year, "{raw:?}");

    // …and sync refuses it, alone or beside a good source.
    let report = clock::sync(
        &[
            far_ntp.source(),
            far_back_ntp.source(),
            time_source(&far_http),
        ],
        TIMEOUT,
    )
    .await;
    assert_nothing_applied(&report, 3);
    for (source, error) in &report.failures {
        assert!(
            matches!(error, TimeError::OffsetTooLarge { .. }),
            "{source}: {error:?}"
        );
        assert!(
            error.to_string().contains("beyond the sane bound"),
            "{error}"
        );
    }

    let good = FakeNtp::start(NtpSpec::offset(secs(2.5)));
    let report = clock::sync(&[good.source(), far_ntp.source()], TIMEOUT).await;
    let estimate = report.estimate.unwrap();
    assert!((estimate.offset_micros - secs(2.5)).abs() <= NTP_TOLERANCE_MICROS);
    assert_eq!(estimate.samples.len(), 1);
    assert_eq!(report.failures.len(), 1);
    assert_eq!(report.failures[0].0, far_ntp.url());
    assert!(matches!(
        report.failures[0].1,
        TimeError::OffsetTooLarge { .. }
    ));
}

#[tokio::test]
async fn sync_rejects_an_ntp_outlier() {
    let a = FakeNtp::start(NtpSpec::offset(secs(5.0)));
    let b = FakeNtp::start(NtpSpec::offset(secs(5.0)));
    let liar = FakeNtp::start(NtpSpec::offset(secs(300.0)));
    let report = clock::sync(&[a.source(), liar.source(), b.source()], TIMEOUT).await;
    assert!(report.failures.is_empty(), "{:?}", report.failures);
    assert_eq!(report.samples.len(), 3);
    let estimate = report.estimate.unwrap();
    assert!(
        (estimate.offset_micros - secs(5.0)).abs() <= NTP_TOLERANCE_MICROS,
        "{estimate:?}"
    );
    assert!(estimate.uncertainty_micros < 20_000, "{estimate:?}");
    assert_eq!(estimate.samples.len(), 2);
    assert_eq!(estimate.rejected.len(), 1);
    let (rejected, reason) = &estimate.rejected[0];
    assert_eq!(rejected.source, liar.url());
    assert!(reason.contains("outlier"), "{reason}");
    assert!(reason.contains("295."), "{reason}");
}

#[tokio::test]
async fn sync_gives_no_estimate_when_two_unauthenticated_sources_disagree() {
    let a = FakeNtp::start(NtpSpec::offset(secs(1.0)));
    let b = FakeNtp::start(NtpSpec::offset(secs(90.0)));
    let report = clock::sync(&[a.source(), b.source()], TIMEOUT).await;
    assert_eq!(report.samples.len(), 2);
    let error = report.estimate.unwrap_err();
    assert!(matches!(error, TimeError::Disagreement(_)), "{error:?}");
    assert!(error.to_string().contains("disagree"), "{error}");
}

#[tokio::test]
async fn sync_combines_ntp_and_date() {
    let simulated = secs(-37.25);
    let ntp = FakeNtp::start(NtpSpec::offset(simulated));
    let http = start_http(DateHeader::Skewed(simulated)).await;
    let report = clock::sync(&[time_source(&http), ntp.source()], TIMEOUT).await;
    assert!(report.failures.is_empty(), "{:?}", report.failures);
    let estimate = report.estimate.unwrap();
    assert_eq!(estimate.samples.len(), 2, "{estimate:?}");
    assert!(estimate.rejected.is_empty());
    // The precise NTP sample dominates the precision-weighted mean.
    assert!(
        (estimate.offset_micros - simulated).abs() <= NTP_TOLERANCE_MICROS,
        "{estimate:?}"
    );
    // Samples come back in the configured order.
    assert_eq!(report.samples[0].source, http);
    assert_eq!(report.samples[1].source, ntp.url());

    // Date alone: the estimate is the Date's, within 600 ms.
    let report = clock::sync(&[time_source(&http)], TIMEOUT).await;
    let estimate = report.estimate.unwrap();
    assert!(
        (estimate.offset_micros - simulated).abs() <= DATE_TOLERANCE_MICROS,
        "{estimate:?}"
    );
}

#[tokio::test]
async fn a_dead_source_costs_one_timeout_not_the_sum() {
    let simulated = secs(90.0);
    let a = FakeNtp::start(NtpSpec::offset(simulated));
    let b = FakeNtp::start(NtpSpec::offset(simulated));
    let dead = FakeNtp::start(NtpSpec::offset(0).reply(NtpReply::Silent));

    let started = Instant::now();
    let report = clock::sync(&[a.source(), dead.source(), b.source()], TIMEOUT).await;
    let elapsed = started.elapsed();
    assert!(elapsed < 2 * TIMEOUT, "{elapsed:?}");
    assert!(
        elapsed >= TIMEOUT - Duration::from_millis(50),
        "{elapsed:?}"
    );
    let estimate = report.estimate.unwrap();
    assert!((estimate.offset_micros - simulated).abs() <= NTP_TOLERANCE_MICROS);
    assert_eq!(estimate.samples.len(), 2);
    assert_eq!(report.failures.len(), 1);
    assert_eq!(report.failures[0].0, dead.url());
    assert_eq!(report.failures[0].1, TimeError::Timeout(1000));

    // Three dead sources (two NTP, one HTTP): still one timeout, and no estimate.
    let dead2 = FakeNtp::start(NtpSpec::offset(0).reply(NtpReply::Silent));
    let hanging = start_http(DateHeader::Hang).await;
    let started = Instant::now();
    let report = clock::sync(
        &[dead.source(), dead2.source(), time_source(&hanging)],
        TIMEOUT,
    )
    .await;
    let elapsed = started.elapsed();
    assert!(elapsed < 2 * TIMEOUT, "{elapsed:?}");
    assert_nothing_applied(&report, 3);
    assert!(
        report
            .failures
            .iter()
            .all(|(_, e)| *e == TimeError::Timeout(1000)),
        "{:?}",
        report.failures
    );
}

#[tokio::test]
async fn plain_http_is_for_loopback_only() {
    assert!(SourceSpec::parse("http://127.0.0.1:8080/").is_ok());
    assert!(SourceSpec::parse("http://[::1]:8080/").is_ok());
    let error = SourceSpec::parse("http://192.0.2.1:8080/").unwrap_err();
    assert!(error.to_string().contains("loopback"), "{error}");
}
