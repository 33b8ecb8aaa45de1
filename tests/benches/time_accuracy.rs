//! Accuracy and latency of trusted time, for `docs/benchmarks.md`.
//!
//! In-process fake servers on 127.0.0.1 simulate a clock error: SNTP
//! responders (one thread each) and minimal HTTP servers whose `Date`
//! header is skewed (tokio tasks on a runtime of their own, in another
//! thread, so serving them does not delay the client's timestamps). Every
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
//! Run with `cargo bench -p tessera-core --bench time_accuracy` (a plain
//! `main`, no criterion; about 140 s, most of it the dead-source rounds).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::UdpSocket;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use tessera_core::clock::{self, SourceKind, SourceSpec, TimeSource};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Rounds per source set.
const ROUNDS: usize = 50;
/// Simulated offsets (server minus system clock), in microseconds.
const OFFSETS_MICROS: [i64; 3] = [90_000_000, -37_250_000, 400_000];
/// The per-round timeout.
const TIMEOUT: Duration = Duration::from_secs(1);
/// Pause between rounds (not a divisor of a second, to vary the phase).
const SPACING: Duration = Duration::from_millis(137);

const NTP_UNIX_DELTA: i128 = 2_208_988_800;

fn now_micros() -> i128 {
    i128::try_from(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_micros(),
    )
    .unwrap()
}

fn ntp_timestamp(unix_micros: i128) -> [u8; 8] {
    let seconds = unix_micros.div_euclid(1_000_000) + NTP_UNIX_DELTA;
    let fraction = (unix_micros.rem_euclid(1_000_000) << 32) / 1_000_000;
    let mut out = [0u8; 8];
    out[..4].copy_from_slice(&(seconds as u32).to_be_bytes());
    out[4..].copy_from_slice(&(fraction as u32).to_be_bytes());
    out
}

/// A healthy stratum-2 SNTP responder whose clock is the system clock plus
/// the shared offset; stopped on drop.
struct FakeNtp {
    url: String,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl FakeNtp {
    fn start(offset: Arc<AtomicI64>) -> Self {
        let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
        socket
            .set_read_timeout(Some(Duration::from_millis(20)))
            .unwrap();
        let url = format!("ntp://{}", socket.local_addr().unwrap());
        let stop = Arc::new(AtomicBool::new(false));
        let stopping = Arc::clone(&stop);
        let thread = std::thread::spawn(move || {
            let mut request = [0u8; 512];
            while !stopping.load(Ordering::Relaxed) {
                let Ok((len, peer)) = socket.recv_from(&mut request) else {
                    continue;
                };
                let received = now_micros();
                if len < 48 {
                    continue;
                }
                let offset = i128::from(offset.load(Ordering::Relaxed));
                let mut reply = [0u8; 48];
                reply[0] = 4 << 3 | 4; // LI 0, version 4, mode 4 (server)
                reply[1] = 2;
                reply[3] = (-20i8) as u8;
                reply[12..16].copy_from_slice(&[127, 0, 0, 1]);
                reply[16..24].copy_from_slice(&ntp_timestamp(received + offset - 16_000_000));
                reply[24..32].copy_from_slice(&request[40..48]);
                reply[32..40].copy_from_slice(&ntp_timestamp(received + offset));
                reply[40..48].copy_from_slice(&ntp_timestamp(now_micros() + offset));
                let _ = socket.send_to(&reply, peer);
            }
        });
        Self {
            url,
            stop,
            thread: Some(thread),
        }
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

/// HTTP servers whose `Date` is the system clock plus the shared offset,
/// served from their own thread and runtime (so serving them does not
/// delay the client's timestamps, as remote servers would not); stopped on
/// drop.
struct FakeHttp {
    urls: Vec<String>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl FakeHttp {
    fn start(count: usize, offset: Arc<AtomicI64>) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let stopping = Arc::clone(&stop);
        let (urls_tx, urls_rx) = std::sync::mpsc::channel();
        let thread = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async move {
                let mut urls = Vec::new();
                for _ in 0..count {
                    urls.push(serve_date(Arc::clone(&offset)).await);
                }
                urls_tx.send(urls).unwrap();
                while !stopping.load(Ordering::Relaxed) {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            });
        });
        Self {
            urls: urls_rx.recv().unwrap(),
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for FakeHttp {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// One HTTP server, a task on the current runtime; returns its URL.
async fn serve_date(offset: Arc<AtomicI64>) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/", listener.local_addr().unwrap());
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            let offset = offset.load(Ordering::Relaxed);
            tokio::spawn(async move {
                let mut request = Vec::new();
                let mut chunk = [0u8; 1024];
                while !request.windows(4).any(|w| w == b"\r\n\r\n") && request.len() < 16_384 {
                    match stream.read(&mut chunk).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => request.extend_from_slice(&chunk[..n]),
                    }
                }
                let shift = Duration::from_micros(offset.unsigned_abs());
                let at = if offset >= 0 {
                    SystemTime::now() + shift
                } else {
                    SystemTime::now() - shift
                };
                let response = format!(
                    "HTTP/1.1 200 OK\r\nDate: {}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                    httpdate::fmt_http_date(at)
                );
                let _ = stream.write_all(response.as_bytes()).await;
                let _ = stream.shutdown().await;
            });
        }
    });
    url
}

fn source(url: &str) -> Arc<dyn TimeSource> {
    SourceSpec::parse(url).unwrap().into_source()
}

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
        let ntp: Vec<FakeNtp> = (0..3).map(|_| FakeNtp::start(Arc::clone(&offset))).collect();
        let servers = FakeHttp::start(3, Arc::clone(&offset));
        let http = &servers.urls;
        // A dead source: the socket exists (no ICMP "unreachable") but is
        // never read, so asking it costs the whole timeout.
        let dead_socket = UdpSocket::bind("127.0.0.1:0").unwrap();
        let dead = format!("ntp://{}", dead_socket.local_addr().unwrap());
        let dead_socket2 = UdpSocket::bind("127.0.0.1:0").unwrap();
        let dead2 = format!("ntp://{}", dead_socket2.local_addr().unwrap());

        let sets: Vec<(&'static str, Vec<Arc<dyn TimeSource>>)> = vec![
            (
                "SNTP only (3 servers)",
                ntp.iter().map(|n| source(&n.url)).collect(),
            ),
            ("Date only (1 server)", vec![source(&http[0])]),
            (
                "Date only (3 servers)",
                http.iter().map(|h| source(h)).collect(),
            ),
            (
                "SNTP + Date (2 + 1)",
                vec![source(&ntp[0].url), source(&ntp[1].url), source(&http[0])],
            ),
            (
                "SNTP ×2 + 1 dead, timeout 1 s",
                vec![source(&ntp[0].url), source(&dead), source(&ntp[1].url)],
            ),
            (
                "SNTP ×1 + 2 dead, timeout 1 s",
                vec![source(&dead), source(&ntp[0].url), source(&dead2)],
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
