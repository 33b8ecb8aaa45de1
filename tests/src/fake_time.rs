//! Fake trusted-time servers on 127.0.0.1, shared by the trusted-time tests
//! (`tests/tests/time_sources.rs`) and the accuracy benchmark
//! (`tests/benches/time_accuracy.rs`).
//!
//! - [`FakeNtp`]: an SNTP responder on a UDP socket (its own thread) that
//!   answers every request like a server whose clock is the system clock
//!   plus an offset (originate timestamp = the request's transmit timestamp,
//!   receive/transmit = now + offset), with configurable stratum, leap
//!   indicator, mode and reference id, or with a bad reply ([`NtpReply`]):
//!   a short packet, garbage, a wrong originate timestamp, a zero or
//!   inconsistent transmit timestamp, or no reply at all. Stratum 0 with a
//!   four-letter reference id is a kiss-of-death. The offset is fixed
//!   ([`FakeNtp::start`]) or read at every reply from an [`AtomicI64`] the
//!   caller may change ([`FakeNtp::start_shared`]).
//! - [`start_http`]: a minimal HTTP/1.1 server (a tokio task on the current
//!   runtime) whose `Date` header ([`DateHeader`]) is skewed by a fixed or
//!   adjustable offset, missing, any raw bytes (garbage, empty, not text),
//!   or never sent. [`DateServers`] runs several of them on a runtime in a
//!   thread of their own, so serving them does not delay a client's
//!   timestamps (as remote servers would not).
//!
//! [`FakeNtp`] and [`DateServers`] stop when dropped; a [`start_http`]
//! server ends with the runtime it runs on.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test support: a failure here is a test failure

use std::net::{SocketAddr, UdpSocket};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tessera_core::clock::{SourceSpec, TimeSource};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Seconds from the NTP epoch (1900) to the Unix epoch (1970).
pub const NTP_UNIX_DELTA: i128 = 2_208_988_800;

/// The system clock, in microseconds since the Unix epoch.
pub fn now_micros() -> i128 {
    i128::try_from(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_micros(),
    )
    .unwrap()
}

/// An NTP timestamp (seconds since 1900, 32.32 fixed point) for Unix
/// microseconds.
pub fn ntp_timestamp(unix_micros: i128) -> [u8; 8] {
    let seconds = unix_micros.div_euclid(1_000_000) + NTP_UNIX_DELTA;
    let fraction = (unix_micros.rem_euclid(1_000_000) << 32) / 1_000_000;
    let mut out = [0u8; 8];
    out[..4].copy_from_slice(&(seconds as u32).to_be_bytes());
    out[4..].copy_from_slice(&(fraction as u32).to_be_bytes());
    out
}

/// A time source for a source URL (`ntp://…`, `http://…`), through the
/// public API (`SourceSpec::parse(url)?.into_source(&Http::native())`).
pub fn time_source(url: &str) -> Arc<dyn TimeSource> {
    SourceSpec::parse(url)
        .unwrap()
        .into_source(&tessera_core::http::Http::native())
}

// ---------------------------------------------------------------------------
// The SNTP responder.
// ---------------------------------------------------------------------------

/// How the SNTP responder answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NtpReply {
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

/// The SNTP responder's configuration.
#[derive(Debug, Clone, Copy)]
pub struct NtpSpec {
    /// Server time minus system time, in microseconds (ignored by
    /// [`FakeNtp::start_shared`], which reads its offset from an atomic).
    pub offset_micros: i64,
    /// The stratum field (0 with a four-letter `refid`: kiss-of-death; 16:
    /// unsynchronized).
    pub stratum: u8,
    /// The leap indicator (3: unsynchronized).
    pub leap: u8,
    /// The mode (4: server).
    pub mode: u8,
    /// The reference id (a kiss code such as `RATE` or `DENY` at stratum 0).
    pub refid: [u8; 4],
    /// Whether and how the reply is broken.
    pub reply: NtpReply,
}

impl NtpSpec {
    /// A healthy stratum-2 server `offset_micros` ahead of the system clock.
    pub fn offset(offset_micros: i64) -> Self {
        Self {
            offset_micros,
            stratum: 2,
            leap: 0,
            mode: 4,
            refid: [127, 0, 0, 1],
            reply: NtpReply::Normal,
        }
    }

    /// The same server, answering as `reply` says.
    pub fn reply(self, reply: NtpReply) -> Self {
        Self { reply, ..self }
    }
}

/// An SNTP responder on 127.0.0.1 (a thread of its own), stopped and joined
/// on drop.
pub struct FakeNtp {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl FakeNtp {
    /// Starts a responder answering as `spec` says, `spec.offset_micros`
    /// ahead of the system clock.
    pub fn start(spec: NtpSpec) -> Self {
        Self::start_shared(spec, Arc::new(AtomicI64::new(spec.offset_micros)))
    }

    /// Starts a responder answering as `spec` says, but ahead of the system
    /// clock by whatever `offset` (microseconds) holds when a request comes
    /// in: several responders may share one, and the caller may change it.
    pub fn start_shared(spec: NtpSpec, offset: Arc<AtomicI64>) -> Self {
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
                if spec.reply == NtpReply::Silent {
                    continue;
                }
                let received = now_micros();
                let offset = offset.load(Ordering::Relaxed);
                let packet = ntp_reply(&spec, offset, &buffer[..len], received);
                let _ = socket.send_to(&packet, peer);
            }
        });
        Self {
            addr,
            stop,
            thread: Some(thread),
        }
    }

    /// The responder's address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `ntp://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("ntp://{}", self.addr)
    }

    /// A time source asking this responder.
    pub fn source(&self) -> Arc<dyn TimeSource> {
        time_source(&self.url())
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

/// The reply to `request`, received at `received_micros` (system clock) by
/// a server `offset_micros` ahead.
fn ntp_reply(spec: &NtpSpec, offset_micros: i64, request: &[u8], received_micros: i128) -> Vec<u8> {
    match spec.reply {
        NtpReply::Garbage => return vec![0xFF; 48],
        NtpReply::Silent => return Vec::new(),
        _ => {}
    }
    let offset = i128::from(offset_micros);
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
    if spec.reply == NtpReply::WrongOriginate {
        originate[7] ^= 0x5A;
        originate[3] ^= 0x01;
    }
    packet[24..32].copy_from_slice(&originate);
    packet[32..40].copy_from_slice(&ntp_timestamp(received_micros + offset));
    let transmit = match spec.reply {
        NtpReply::ZeroTransmit => [0u8; 8],
        NtpReply::Inconsistent => ntp_timestamp(received_micros + offset + 10_000_000),
        _ => ntp_timestamp(now_micros() + offset),
    };
    packet[40..48].copy_from_slice(&transmit);
    if spec.reply == NtpReply::Short {
        packet.truncate(20);
    }
    packet
}

// ---------------------------------------------------------------------------
// The HTTP server.
// ---------------------------------------------------------------------------

/// What the HTTP server puts in its reply.
#[derive(Debug, Clone)]
pub enum DateHeader {
    /// `Date:` for the system clock plus this many microseconds.
    Skewed(i64),
    /// `Date:` for the system clock plus the microseconds this holds when
    /// the reply is written (the caller may change it).
    Adjustable(Arc<AtomicI64>),
    /// No `Date` header.
    Missing,
    /// This exact header value (any bytes: garbage, empty, not text).
    Raw(Vec<u8>),
    /// Reads the request and never answers.
    Hang,
}

/// Starts the server as a task on the current runtime (it ends with that
/// runtime) and returns its `http://127.0.0.1:PORT/` URL.
pub async fn start_http(date: DateHeader) -> String {
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
                    DateHeader::Skewed(offset) => skewed_date(&mut response, *offset),
                    DateHeader::Adjustable(offset) => {
                        skewed_date(&mut response, offset.load(Ordering::Relaxed));
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

/// Appends `Date: <system clock + offset_micros>\r\n`.
fn skewed_date(response: &mut Vec<u8>, offset_micros: i64) {
    let shift = Duration::from_micros(offset_micros.unsigned_abs());
    let at = if offset_micros >= 0 {
        SystemTime::now() + shift
    } else {
        SystemTime::now() - shift
    };
    response.extend_from_slice(format!("Date: {}\r\n", httpdate::fmt_http_date(at)).as_bytes());
}

/// [`start_http`] servers on a current-thread runtime in a thread of their
/// own, so serving them does not delay the client's timestamps (as remote
/// servers would not); stopped on drop.
pub struct DateServers {
    urls: Vec<String>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl DateServers {
    /// Starts one server per header; returns once they all listen.
    pub fn start(dates: Vec<DateHeader>) -> Self {
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
                for date in dates {
                    urls.push(start_http(date).await);
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

    /// The servers' `http://127.0.0.1:PORT/` URLs, in the order of their
    /// headers.
    pub fn urls(&self) -> &[String] {
        &self.urls
    }
}

impl Drop for DateServers {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
