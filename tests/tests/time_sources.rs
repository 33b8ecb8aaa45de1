//! Trusted-time sources against real sockets on 127.0.0.1.
//!
//! Two servers live in this file:
//!
//! - [`FakeNtp`]: an SNTP responder on a UDP socket (its own thread) that
//!   answers every request like a server whose clock is the system clock
//!   plus a chosen offset (originate timestamp = the request's transmit
//!   timestamp, receive/transmit = now + offset), with configurable stratum,
//!   leap indicator, mode and reference id, or with a bad reply: a short
//!   packet, garbage, kiss-of-death, a wrong originate timestamp, a zero or
//!   inconsistent transmit timestamp, or no reply at all;
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

use std::net::{SocketAddr, UdpSocket};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use tessera_core::clock::{self, SourceKind, SourceSpec, TimeError, TimeSample, TimeSource};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Seconds from the NTP epoch (1900) to the Unix epoch (1970).
const NTP_UNIX_DELTA: i128 = 2_208_988_800;
/// The accuracy goal for SNTP on loopback.
const NTP_TOLERANCE_MICROS: i64 = 20_000;
/// The accuracy goal for an HTTP `Date` header (whole seconds).
const DATE_TOLERANCE_MICROS: i64 = 600_000;
/// The per-source timeout of most tests.
const TIMEOUT: Duration = Duration::from_secs(1);

fn now_micros() -> i128 {
    i128::try_from(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_micros(),
    )
    .unwrap()
}

fn secs(seconds: f64) -> i64 {
    (seconds * 1e6).round() as i64
}

// ---------------------------------------------------------------------------
// The SNTP responder.
// ---------------------------------------------------------------------------

/// How the responder answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Reply {
    /// A well-formed reply with the configured header fields.
    Normal,
    /// Only the first 20 bytes of a reply.
    Short,
    /// 48 bytes of 0xFF (version 7, leap indicator 3, mode 7).
    Garbage,
    /// The originate timestamp is not the request's transmit timestamp.
    WrongOriginate,
    /// The transmit timestamp is zero.
    ZeroTransmit,
    /// The server claims it sent its reply 10 s after receiving the request
    /// (negative round trip).
    Inconsistent,
    /// Nothing at all.
    Silent,
}

/// The responder's configuration.
#[derive(Debug, Clone, Copy)]
struct NtpSpec {
    /// Server time minus system time, in microseconds.
    offset_micros: i64,
    stratum: u8,
    leap: u8,
    mode: u8,
    refid: [u8; 4],
    reply: Reply,
}

impl NtpSpec {
    /// A healthy stratum-2 server `offset_micros` ahead of the system clock.
    fn offset(offset_micros: i64) -> Self {
        Self {
            offset_micros,
            stratum: 2,
            leap: 0,
            mode: 4,
            refid: [127, 0, 0, 1],
            reply: Reply::Normal,
        }
    }

    fn reply(self, reply: Reply) -> Self {
        Self { reply, ..self }
    }
}

/// An SNTP responder on 127.0.0.1, stopped (and joined) on drop.
struct FakeNtp {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl FakeNtp {
    fn start(spec: NtpSpec) -> Self {
        let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
        socket
            .set_read_timeout(Some(Duration::from_millis(20)))
            .unwrap();
        let addr = socket.local_addr().unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let stopping = Arc::clone(&stop);
        let thread = std::thread::spawn(move || {
            let mut buffer = [0u8; 512];
            // Bounded by the stop flag, checked at least every 20 ms.
            while !stopping.load(Ordering::Relaxed) {
                let Ok((len, peer)) = socket.recv_from(&mut buffer) else {
                    continue;
                };
                if spec.reply == Reply::Silent {
                    continue;
                }
                let received = now_micros();
                let packet = ntp_reply(&spec, &buffer[..len], received);
                let _ = socket.send_to(&packet, peer);
            }
        });
        Self {
            addr,
            stop,
            thread: Some(thread),
        }
    }

    fn url(&self) -> String {
        format!("ntp://{}", self.addr)
    }

    fn source(&self) -> Arc<dyn TimeSource> {
        SourceSpec::parse(&self.url()).unwrap().into_source()
    }
}

impl Drop for FakeNtp {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// An NTP timestamp (seconds since 1900, 32.32 fixed point) for Unix
/// microseconds.
fn ntp_timestamp(unix_micros: i128) -> [u8; 8] {
    let seconds = unix_micros.div_euclid(1_000_000) + NTP_UNIX_DELTA;
    let fraction = (unix_micros.rem_euclid(1_000_000) << 32) / 1_000_000;
    let mut out = [0u8; 8];
    out[..4].copy_from_slice(&(seconds as u32).to_be_bytes());
    out[4..].copy_from_slice(&(fraction as u32).to_be_bytes());
    out
}

fn ntp_reply(spec: &NtpSpec, request: &[u8], received_micros: i128) -> Vec<u8> {
    match spec.reply {
        Reply::Garbage => return vec![0xFF; 48],
        Reply::Silent => return Vec::new(),
        _ => {}
    }
    let offset = i128::from(spec.offset_micros);
    let mut packet = vec![0u8; 48];
    packet[0] = (spec.leap << 6) | (4 << 3) | spec.mode;
    packet[1] = spec.stratum;
    packet[2] = 6; // poll
    packet[3] = (-20i8) as u8; // precision: about a microsecond
    packet[12..16].copy_from_slice(&spec.refid);
    packet[16..24].copy_from_slice(&ntp_timestamp(received_micros + offset - 16_000_000));
    let mut originate = [0u8; 8];
    if request.len() >= 48 {
        originate.copy_from_slice(&request[40..48]);
    }
    if spec.reply == Reply::WrongOriginate {
        originate[7] ^= 0x5A;
        originate[3] ^= 0x01;
    }
    packet[24..32].copy_from_slice(&originate);
    packet[32..40].copy_from_slice(&ntp_timestamp(received_micros + offset));
    let transmit = match spec.reply {
        Reply::ZeroTransmit => [0u8; 8],
        Reply::Inconsistent => ntp_timestamp(received_micros + offset + 10_000_000),
        _ => ntp_timestamp(now_micros() + offset),
    };
    packet[40..48].copy_from_slice(&transmit);
    if spec.reply == Reply::Short {
        packet.truncate(20);
    }
    packet
}

// ---------------------------------------------------------------------------
// The HTTP server.
// ---------------------------------------------------------------------------

/// What the HTTP server puts in its reply.
#[derive(Debug, Clone)]
enum DateHeader {
    /// `Date:` for the system clock plus this many microseconds.
    Skewed(i64),
    /// No `Date` header.
    Missing,
    /// This exact header value (any bytes).
    Raw(Vec<u8>),
    /// Reads the request and never answers.
    Hang,
}

/// Starts the server as a task on the current runtime (it ends with the
/// test's runtime) and returns its `http://127.0.0.1:PORT/` URL.
async fn start_http(date: DateHeader) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            let date = date.clone();
            tokio::spawn(async move {
                // Read the request head (bounded), whatever it says.
                let mut request = Vec::new();
                let mut chunk = [0u8; 1024];
                while !request.windows(4).any(|w| w == b"\r\n\r\n") && request.len() < 16_384 {
                    match stream.read(&mut chunk).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => request.extend_from_slice(&chunk[..n]),
                    }
                }
                let mut response = b"HTTP/1.1 200 OK\r\n".to_vec();
                match &date {
                    DateHeader::Skewed(offset) => {
                        let at = if *offset >= 0 {
                            SystemTime::now() + Duration::from_micros(offset.unsigned_abs())
                        } else {
                            SystemTime::now() - Duration::from_micros(offset.unsigned_abs())
                        };
                        response.extend_from_slice(
                            format!("Date: {}\r\n", httpdate::fmt_http_date(at)).as_bytes(),
                        );
                    }
                    DateHeader::Missing => {}
                    DateHeader::Raw(value) => {
                        response.extend_from_slice(b"Date: ");
                        response.extend_from_slice(value);
                        response.extend_from_slice(b"\r\n");
                    }
                    DateHeader::Hang => {
                        tokio::time::sleep(Duration::from_secs(60)).await;
                        return;
                    }
                }
                response.extend_from_slice(
                    b"Server: fake-date\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                );
                let _ = stream.write_all(&response).await;
                let _ = stream.shutdown().await;
            });
        }
    });
    format!("http://{addr}/")
}

fn http_source(url: &str) -> Arc<dyn TimeSource> {
    SourceSpec::parse(url).unwrap().into_source()
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
            base.reply(Reply::Short),
            &["bad NTP reply", "too short"],
        ),
        (
            "garbage",
            base.reply(Reply::Garbage),
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
            base.reply(Reply::WrongOriginate),
            &["bad NTP reply", "originate timestamp"],
        ),
        // rsntp reads an all-zero timestamp as NTP era 1 (2036), so its own
        // zero check never fires; the reply is refused for its negative
        // round trip instead.
        (
            "zero transmit",
            base.reply(Reply::ZeroTransmit),
            &["bad NTP reply", "inconsistent"],
        ),
        (
            "negative round trip",
            base.reply(Reply::Inconsistent),
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
    let silent = FakeNtp::start(NtpSpec::offset(0).reply(Reply::Silent));
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
        .into_source();
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
        let sample = http_source(&url).sample(TIMEOUT).await.unwrap();
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
            "not text",
        ),
    ];
    for (name, header, needle) in cases {
        let url = start_http(header).await;
        let error = http_source(&url).sample(TIMEOUT).await.unwrap_err();
        assert!(matches!(error, TimeError::BadDate(_)), "{name}: {error:?}");
        let text = error.to_string();
        assert!(text.starts_with("bad Date header"), "{name}: {text}");
        assert!(
            text.contains(needle),
            "{name}: \"{text}\" lacks \"{needle}\""
        );

        let report = clock::sync(&[http_source(&url)], TIMEOUT).await;
        assert_nothing_applied(&report, 1);
        assert_eq!(report.failures[0].1, error, "{name}");
    }
}

#[tokio::test]
async fn a_hanging_http_server_times_out() {
    let url = start_http(DateHeader::Hang).await;
    let timeout = Duration::from_millis(300);
    let started = Instant::now();
    let error = http_source(&url).sample(timeout).await.unwrap_err();
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
            http_source(&far_http),
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
    let report = clock::sync(&[http_source(&http), ntp.source()], TIMEOUT).await;
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
    let report = clock::sync(&[http_source(&http)], TIMEOUT).await;
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
    let dead = FakeNtp::start(NtpSpec::offset(0).reply(Reply::Silent));

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
    let dead2 = FakeNtp::start(NtpSpec::offset(0).reply(Reply::Silent));
    let hanging = start_http(DateHeader::Hang).await;
    let started = Instant::now();
    let report = clock::sync(
        &[dead.source(), dead2.source(), http_source(&hanging)],
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
