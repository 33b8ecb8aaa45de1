//! Accuracy and latency of trusted time, for `docs/benchmarks.md`.
//!
//! In-process fake servers on 127.0.0.1 (`tessera_tests::fake_time`, shared
//! with the trusted-time tests) simulate a clock error: SNTP responders (one
//! thread each) and minimal HTTP servers whose `Date` header is skewed
//! (tokio tasks on a runtime of their own, in another thread, so serving
//! them does not delay the client's timestamps). Every
//! round sets a simulated offset (cycling through +90 s, −37.25 s and
//! +0.4 s), runs [`tessera_core::clock::sync`] over a set of sources and
//! records the error of the estimate against the simulated offset, whether
//! the estimate's stated uncertainty covers it, how long the round took,
//! and the SNTP samples' measured round trip. Rounds are spaced 137 ms
//! apart so `Date` samples fall at every phase of the second (its
//! whole-second resolution is the dominant error).
//!
//! Source sets: SNTP only (3 servers); `Date` only (1 and 3 servers);
//! SNTP + `Date`; 3 sources with one, then two, dead (they never answer)
//! and a 1 s timeout, which measures the time to an estimate when sources
//! are down (asked one after another, two dead sources would take 2 s).
//!
//! Run with `cargo bench -p tessera-tests --bench time_accuracy` (a plain
//! `main`, no criterion; about 140 s, most of it the dead-source rounds).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::UdpSocket;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, Instant};

use tessera_core::clock::{self, SourceKind, TimeSource};
use tessera_tests::fake_time::{DateHeader, DateServers, FakeNtp, NtpSpec, time_source};

/// Rounds per source set.
const ROUNDS: usize = 50;
/// Simulated offsets (server minus system clock), in microseconds.
const OFFSETS_MICROS: [i64; 3] = [90_000_000, -37_250_000, 400_000];
/// The per-round timeout.
const TIMEOUT: Duration = Duration::from_secs(1);
/// Pause between rounds (not a divisor of a second, to vary the phase).
const SPACING: Duration = Duration::from_millis(137);

/// What one source set measured.
struct Row {
    name: &'static str,
    estimates: usize,
    errors_micros: Vec<u64>,
    covered: usize,
    uncertainties_micros: Vec<u64>,
    times: Vec<Duration>,
    ntp_round_trips_micros: Vec<u64>,
}

fn mean(values: impl Iterator<Item = f64>) -> f64 {
    let (sum, n) = values.fold((0.0, 0usize), |(s, n), v| (s + v, n + 1));
    if n == 0 { f64::NAN } else { sum / n as f64 }
}

async fn measure(name: &'static str, sources: &[Arc<dyn TimeSource>], offset: &AtomicI64) -> Row {
    let mut row = Row {
        name,
        estimates: 0,
        errors_micros: Vec::new(),
        covered: 0,
        uncertainties_micros: Vec::new(),
        times: Vec::new(),
        ntp_round_trips_micros: Vec::new(),
    };
    for round in 0..ROUNDS {
        let simulated = OFFSETS_MICROS[round % OFFSETS_MICROS.len()];
        offset.store(simulated, Ordering::Relaxed);
        tokio::time::sleep(SPACING).await;
        let started = Instant::now();
        let report = clock::sync(sources, TIMEOUT).await;
        row.times.push(started.elapsed());
        row.ntp_round_trips_micros.extend(
            report
                .samples
                .iter()
                .filter(|s| s.kind == SourceKind::Ntp)
                .map(|s| s.round_trip_micros),
        );
        if let Ok(estimate) = report.estimate {
            let error = (estimate.offset_micros - simulated).unsigned_abs();
            row.estimates += 1;
            row.errors_micros.push(error);
            row.uncertainties_micros.push(estimate.uncertainty_micros);
            if error <= estimate.uncertainty_micros {
                row.covered += 1;
            }
        }
    }
    row
}

fn print_table(rows: &[Row]) {
    println!(
        "| sources | rounds with an estimate | mean abs error | max abs error | error within stated ± | mean stated ± | mean time to estimate | max time to estimate | mean SNTP round trip |"
    );
    println!("|---|---|---|---|---|---|---|---|---|");
    for row in rows {
        let ms = |micros: f64| micros / 1000.0;
        let mean_error = ms(mean(row.errors_micros.iter().map(|e| *e as f64)));
        let max_error = ms(row.errors_micros.iter().copied().max().unwrap_or(0) as f64);
        let mean_uncertainty = ms(mean(row.uncertainties_micros.iter().map(|u| *u as f64)));
        let mean_time = mean(row.times.iter().map(|t| t.as_secs_f64() * 1000.0));
        let max_time = row
            .times
            .iter()
            .map(|t| t.as_secs_f64() * 1000.0)
            .fold(0.0, f64::max);
        let round_trip = if row.ntp_round_trips_micros.is_empty() {
            "–".to_string()
        } else {
            let mean_rtt = ms(mean(row.ntp_round_trips_micros.iter().map(|r| *r as f64)));
            format!("{mean_rtt:.3} ms")
        };
        println!(
            "| {} | {}/{ROUNDS} | {mean_error:.3} ms | {max_error:.3} ms | {}/{} | {mean_uncertainty:.3} ms | {mean_time:.1} ms | {max_time:.1} ms | {round_trip} |",
            row.name, row.estimates, row.covered, row.estimates
        );
    }
}

fn main() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let offset = Arc::new(AtomicI64::new(0));
        // Healthy stratum-2 SNTP responders and HTTP servers, all at the
        // shared offset.
        let ntp: Vec<FakeNtp> = (0..3)
            .map(|_| FakeNtp::start_shared(NtpSpec::offset(0), Arc::clone(&offset)))
            .collect();
        let servers = DateServers::start(
            (0..3)
                .map(|_| DateHeader::Adjustable(Arc::clone(&offset)))
                .collect(),
        );
        let http = servers.urls();
        // A dead source: the socket exists (no ICMP "unreachable") but is
        // never read, so asking it costs the whole timeout.
        let dead_socket = UdpSocket::bind("127.0.0.1:0").unwrap();
        let dead = format!("ntp://{}", dead_socket.local_addr().unwrap());
        let dead_socket2 = UdpSocket::bind("127.0.0.1:0").unwrap();
        let dead2 = format!("ntp://{}", dead_socket2.local_addr().unwrap());

        let sets: Vec<(&'static str, Vec<Arc<dyn TimeSource>>)> = vec![
            (
                "SNTP only (3 servers)",
                ntp.iter().map(|n| n.source()).collect(),
            ),
            ("Date only (1 server)", vec![time_source(&http[0])]),
            (
                "Date only (3 servers)",
                http.iter().map(|h| time_source(h)).collect(),
            ),
            (
                "SNTP + Date (2 + 1)",
                vec![ntp[0].source(), ntp[1].source(), time_source(&http[0])],
            ),
            (
                "SNTP ×2 + 1 dead, timeout 1 s",
                vec![ntp[0].source(), time_source(&dead), ntp[1].source()],
            ),
            (
                "SNTP ×1 + 2 dead, timeout 1 s",
                vec![time_source(&dead), ntp[0].source(), time_source(&dead2)],
            ),
        ];
        println!(
            "time_accuracy: {ROUNDS} rounds per row, simulated offsets cycling through +90 s, -37.25 s, +0.4 s; loopback fake servers; timeout {} ms",
            TIMEOUT.as_millis()
        );
        let mut rows = Vec::new();
        for (name, sources) in &sets {
            let row = measure(name, sources, &offset).await;
            eprintln!("  done: {name}");
            rows.push(row);
        }
        print_table(&rows);
        drop((dead_socket, dead_socket2));
    });
}
