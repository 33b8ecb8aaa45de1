//! `tessera-loadgen`: drives a running `tessera-server` the way relying
//! parties and devices would, and measures it.
//!
//! 1. Enrolls `--devices` users with one stream device each, through the
//!    real API (RP enroll, then device enroll with a proof).
//! 2. Opens one stream per device (raw TCP, small buffers, source addresses
//!    spread over 127.0.0.2… so ephemeral ports never run short) and reads
//!    the server's resident memory before and after (`--server-pid`).
//! 3. Rate phase: creates prompts at `--rate` per second for `--seconds`,
//!    each for a random device with no prompt outstanding, and times
//!    "POST sent" → "event arrived on the device's stream". Every device
//!    verifies its prompt and answers (approve with the right number), which
//!    frees its user for the next prompt.
//! 4. Sustained phase: as many prompts as the server completes (created,
//!    delivered, answered) for `--sustain-seconds`.
//!
//! It exits non-zero when a prompt is lost or any request fails, so a short
//! run works as a CI check. Everything goes to loopback addresses only, and
//! every loop is bounded in time.

use std::collections::HashMap;
use std::error::Error;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use clap::Parser;
use tessera_core::push::jws::UnverifiedJws;
use tessera_core::push::messages::ProofRequest;
use tessera_core::push::{
    AnswerClaims, Decision, KeyRef, PairingUri, PromptClaims, ProofClaims, PublicKey, SigningKey,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};
use tokio::sync::{Notify, Semaphore, mpsc};

type BoxError = Box<dyn Error + Send + Sync>;
type Result<T, E = BoxError> = std::result::Result<T, E>;

/// The enrollment answer's JWS type (`docs/push-protocol.md` §10.2).
const ENROLLMENT_TYP: &str = "tessera-enrollment+jwt";

/// Load generator for tessera-server (loopback only).
#[derive(Debug, Parser)]
#[command(name = "tessera-loadgen")]
struct Args {
    /// The server's address, `http://127.0.0.1:PORT`.
    #[arg(long, default_value = "http://127.0.0.1:8787")]
    server: String,
    /// The relying party's API key.
    #[arg(long, env = "TESSERA_LOADGEN_API_KEY", hide_env_values = true)]
    api_key: String,
    /// Devices (one user each) to enroll and connect.
    #[arg(long, default_value_t = 1000)]
    devices: usize,
    /// Prompts per second in the rate phase.
    #[arg(long, default_value_t = 100)]
    rate: u32,
    /// Length of the rate phase, in seconds.
    #[arg(long, default_value_t = 10)]
    seconds: u64,
    /// Length of the sustained phase (0: skip it).
    #[arg(long, default_value_t = 10)]
    sustain_seconds: u64,
    /// The server's process id, to read its memory from /proc.
    #[arg(long)]
    server_pid: Option<u32>,
    /// Source addresses 127.0.0.2 … 127.0.0.(1+N) for the streams.
    #[arg(long, default_value_t = 4)]
    source_ips: u8,
    /// Keep-alive REST connections (each for creating, and as many for
    /// answering).
    #[arg(long, default_value_t = 16)]
    connections: usize,
    /// Seconds the streams sit idle before memory is read.
    #[arg(long, default_value_t = 3)]
    idle_seconds: u64,
    /// How long to wait for the last prompts to arrive and be answered.
    #[arg(long, default_value_t = 10)]
    drain_seconds: u64,
    /// Devices do not answer: the rate phase measures creation and delivery
    /// alone (each device gets at most one prompt, so `rate × seconds` must
    /// not exceed `devices`), and there is no sustained phase.
    #[arg(long)]
    no_answer: bool,
    /// Send one REST request on each stream's connection first, so the
    /// server serves the stream through hyper instead of its lean path (to
    /// compare the two).
    #[arg(long)]
    via_hyper: bool,
    /// The whole run's time limit; past it the run stops and fails.
    #[arg(long, default_value_t = 900)]
    max_seconds: u64,
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

// ------------------------------------------------------------ HTTP client

/// A keep-alive HTTP/1.1 connection with just enough parsing for the API's
/// answers (`Content-Length` or chunked bodies).
struct Conn {
    address: SocketAddr,
    host: String,
    socket: Option<TcpStream>,
    buffer: Vec<u8>,
}

struct Answer {
    status: u16,
    body: Vec<u8>,
}

impl Answer {
    fn json(&self) -> Result<serde_json::Value> {
        Ok(serde_json::from_slice(&self.body)?)
    }
}

impl Conn {
    fn new(address: SocketAddr, host: &str) -> Self {
        Self {
            address,
            host: host.to_string(),
            socket: None,
            buffer: Vec::with_capacity(4096),
        }
    }

    async fn request(
        &mut self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Result<Answer> {
        let mut text = format!("{method} {path} HTTP/1.1\r\nhost: {}\r\n", self.host);
        for (name, value) in headers {
            text.push_str(&format!("{name}: {value}\r\n"));
        }
        if !body.is_empty() {
            text.push_str("content-type: application/json\r\n");
        }
        text.push_str(&format!("content-length: {}\r\n\r\n", body.len()));
        let mut bytes = text.into_bytes();
        bytes.extend_from_slice(body);
        // A reused connection the server has closed fails before any answer
        // arrives: reconnect once.
        let reused = self.socket.is_some();
        match self.exchange(&bytes).await {
            Ok(answer) => Ok(answer),
            Err(_) if reused => {
                self.socket = None;
                self.exchange(&bytes).await
            }
            Err(error) => Err(error),
        }
    }

    async fn exchange(&mut self, bytes: &[u8]) -> Result<Answer> {
        if self.socket.is_none() {
            let socket = TcpStream::connect(self.address).await?;
            socket.set_nodelay(true)?;
            self.socket = Some(socket);
            self.buffer.clear();
        }
        let result = self.exchange_on_socket(bytes).await;
        if result.is_err() {
            self.socket = None;
        }
        result
    }

    async fn exchange_on_socket(&mut self, bytes: &[u8]) -> Result<Answer> {
        let socket = self.socket.as_mut().ok_or("not connected")?;
        socket.write_all(bytes).await?;
        let (status, head_len, length, chunked, close) = loop {
            let mut headers = [httparse::EMPTY_HEADER; 32];
            let mut response = httparse::Response::new(&mut headers);
            if let httparse::Status::Complete(head_len) = response.parse(&self.buffer)? {
                let mut length = None;
                let mut chunked = false;
                let mut close = false;
                for header in response.headers.iter() {
                    if header.name.eq_ignore_ascii_case("content-length") {
                        length = Some(std::str::from_utf8(header.value)?.trim().parse::<usize>()?);
                    } else if header.name.eq_ignore_ascii_case("transfer-encoding") {
                        chunked = header.value.eq_ignore_ascii_case(b"chunked");
                    } else if header.name.eq_ignore_ascii_case("connection") {
                        close = header.value.eq_ignore_ascii_case(b"close");
                    }
                }
                break (response.code.unwrap_or(0), head_len, length, chunked, close);
            }
            if socket.read_buf(&mut self.buffer).await? == 0 {
                return Err("connection closed before an answer".into());
            }
        };
        self.buffer.drain(..head_len);
        let body = if chunked {
            let mut decoder = Dechunker::default();
            let mut body = Vec::new();
            loop {
                let used = decoder.feed(&self.buffer, &mut body)?;
                self.buffer.drain(..used);
                if decoder.done {
                    break body;
                }
                if socket.read_buf(&mut self.buffer).await? == 0 {
                    return Err("connection closed inside a chunked body".into());
                }
            }
        } else {
            let length = length.ok_or("answer without a length")?;
            while self.buffer.len() < length {
                if socket.read_buf(&mut self.buffer).await? == 0 {
                    return Err("connection closed inside a body".into());
                }
            }
            self.buffer.drain(..length).collect()
        };
        if close {
            self.socket = None;
        }
        Ok(Answer { status, body })
    }
}

/// Decodes `Transfer-Encoding: chunked` incrementally.
#[derive(Default)]
struct Dechunker {
    /// Data bytes left in the current chunk, then its CRLF.
    left: usize,
    in_data: bool,
    done: bool,
}

impl Dechunker {
    /// Consumes what it can of `input` into `out`; returns the bytes used.
    fn feed(&mut self, input: &[u8], out: &mut Vec<u8>) -> Result<usize> {
        let mut pos = 0;
        while !self.done {
            if self.in_data {
                let take = self.left.min(input.len() - pos);
                out.extend_from_slice(&input[pos..pos + take]);
                pos += take;
                self.left -= take;
                if self.left > 0 {
                    return Ok(pos);
                }
                if input.len() - pos < 2 {
                    return Ok(pos);
                }
                if &input[pos..pos + 2] != b"\r\n" {
                    return Err("bad chunk end".into());
                }
                pos += 2;
                self.in_data = false;
            } else {
                let Some(end) = input[pos..].windows(2).position(|w| w == b"\r\n") else {
                    return Ok(pos);
                };
                let line = std::str::from_utf8(&input[pos..pos + end])?;
                let size = line.split(';').next().unwrap_or("").trim();
                let size = usize::from_str_radix(size, 16)?;
                pos += end + 2;
                if size == 0 {
                    // The last chunk; trailers are not used by the server.
                    if input.len() - pos < 2 {
                        return Ok(pos - end - 2);
                    }
                    pos += 2;
                    self.done = true;
                } else {
                    self.left = size;
                    self.in_data = true;
                }
            }
        }
        Ok(pos)
    }
}

// ------------------------------------------------------------ shared state

/// A paired device.
struct Device {
    user: String,
    device_id: String,
    key: SigningKey,
    server_key: PublicKey,
}

/// The prompt a device has outstanding.
#[derive(Default)]
struct Slot {
    /// When the creating POST was sent.
    sent_at: Option<Instant>,
    /// The number from the RP's answer (the device would get it from the
    /// login page).
    number: Option<String>,
    /// The prompt JWS from the stream.
    jws: Option<String>,
    /// Whether the device was queued for answering.
    queued: bool,
}

#[derive(Default)]
struct Counters {
    created: AtomicU64,
    received: AtomicU64,
    answered: AtomicU64,
    errors: AtomicU64,
    unexpected_events: AtomicU64,
    no_free_device: AtomicU64,
    stream_ends: AtomicU64,
    heartbeats: AtomicU64,
}

struct Shared {
    via_hyper: bool,
    address: SocketAddr,
    host: String,
    /// The server's public URL, which proofs name.
    public_url: Arc<str>,
    devices: Vec<Device>,
    slots: Vec<Mutex<Slot>>,
    free: Mutex<FreePool>,
    freed: Notify,
    latencies: Mutex<Vec<u64>>,
    /// Round trips of the creating POSTs, to tell the server's create path
    /// (database, signing) apart from the delivery.
    round_trips: Mutex<Vec<u64>>,
    counters: Counters,
    answer_queue: mpsc::UnboundedSender<usize>,
    /// Set once the run is over, so closed streams are not errors.
    finished: AtomicBool,
    /// Error messages, the first few kept for the report.
    first_errors: Mutex<Vec<String>>,
}

impl Shared {
    fn error(&self, what: &str, error: impl std::fmt::Display) {
        self.counters.errors.fetch_add(1, Ordering::Relaxed);
        let mut errors = lock(&self.first_errors);
        if errors.len() < 10 {
            errors.push(format!("{what}: {error}"));
        }
    }

    /// The device has both its prompt and the number: queue the answer.
    fn maybe_queue(&self, index: usize, slot: &mut Slot) {
        if !slot.queued && slot.jws.is_some() && slot.number.is_some() {
            slot.queued = true;
            let _ = self.answer_queue.send(index);
        }
    }
}

/// Devices with no prompt outstanding, picked at random.
struct FreePool {
    free: Vec<usize>,
    rng: u64,
}

impl FreePool {
    fn take(&mut self) -> Option<usize> {
        if self.free.is_empty() {
            return None;
        }
        // xorshift64: plenty for spreading load.
        self.rng ^= self.rng << 13;
        self.rng ^= self.rng >> 7;
        self.rng ^= self.rng << 17;
        let at = (self.rng % self.free.len() as u64) as usize;
        Some(self.free.swap_remove(at))
    }
}

// ------------------------------------------------------------ enrollment

struct Target {
    address: SocketAddr,
    host: String,
    api_key: String,
}

/// Enrolls `user` with one stream device; also returns the server's public
/// URL as the pairing URI names it (what proofs must name).
async fn enroll_one(conn: &mut Conn, target: &Target, user: String) -> Result<(Device, String)> {
    let auth = format!("Bearer {}", target.api_key);
    let answer = conn
        .request(
            "POST",
            &format!("/v1/rp/users/{user}/devices/enroll"),
            &[("authorization", &auth)],
            b"",
        )
        .await?;
    if answer.status != 201 {
        return Err(format!(
            "RP enroll: {} {}",
            answer.status,
            String::from_utf8_lossy(&answer.body)
        )
        .into());
    }
    let uri = answer.json()?["enrollment_uri"]
        .as_str()
        .ok_or("no enrollment_uri")?
        .to_string();
    let pairing = PairingUri::parse(&uri)?;
    let key = SigningKey::generate()?;
    let body = serde_json::to_vec(&serde_json::json!({
        "code": pairing.code,
        "device_key": serde_json::from_str::<serde_json::Value>(&key.public_key().to_jwk_json())?,
        "name": "loadgen",
        "delivery": {"kind": "stream"},
    }))?;
    let url = format!("{}/v1/device/enroll", pairing.server);
    let proof = ProofClaims::create(
        &key,
        &KeyRef::Jwk,
        ProofRequest {
            method: "POST",
            url: &url,
            body: &body,
        },
        now_secs(),
    )?;
    let answer = conn
        .request(
            "POST",
            "/v1/device/enroll",
            &[("tessera-proof", &proof)],
            &body,
        )
        .await?;
    if answer.status != 201 {
        return Err(format!(
            "device enroll: {} {}",
            answer.status,
            String::from_utf8_lossy(&answer.body)
        )
        .into());
    }
    let token = answer.json()?["enrollment"]
        .as_str()
        .ok_or("no enrollment")?
        .to_string();
    // Pin the server key the way a device does: the key inside must match
    // the QR code's fingerprint and verify the enrollment.
    let unverified = UnverifiedJws::parse(&token, ENROLLMENT_TYP)?;
    let payload: serde_json::Value = serde_json::from_slice(unverified.unverified_payload())?;
    let server_key = PublicKey::from_jwk_value(&payload["server_key"])?;
    if server_key.thumbprint() != pairing.fingerprint {
        return Err("server key does not match the pairing fingerprint".into());
    }
    unverified.verify(&server_key)?;
    let device_id = payload["device_id"]
        .as_str()
        .ok_or("no device_id")?
        .to_string();
    Ok((
        Device {
            user,
            device_id,
            key,
            server_key,
        },
        pairing.server,
    ))
}

async fn enroll_all(
    target: Arc<Target>,
    count: usize,
    workers: usize,
) -> Result<(Vec<Device>, String)> {
    let next = Arc::new(AtomicU64::new(0));
    let mut tasks = Vec::new();
    for _ in 0..workers.max(1) {
        let target = Arc::clone(&target);
        let next = Arc::clone(&next);
        tasks.push(tokio::spawn(async move {
            let mut conn = Conn::new(target.address, &target.host);
            let mut mine = Vec::new();
            loop {
                let index = next.fetch_add(1, Ordering::Relaxed) as usize;
                if index >= count {
                    break;
                }
                let (device, public_url) =
                    enroll_one(&mut conn, &target, format!("lg{index:06}")).await?;
                mine.push((index, device, public_url));
            }
            Ok::<_, BoxError>(mine)
        }));
    }
    let mut all = Vec::with_capacity(count);
    for task in tasks {
        all.extend(task.await??);
    }
    all.sort_by_key(|(index, _, _)| *index);
    let public_url = all
        .first()
        .map(|(_, _, url)| url.clone())
        .ok_or("no device enrolled")?;
    Ok((
        all.into_iter().map(|(_, device, _)| device).collect(),
        public_url,
    ))
}

// ------------------------------------------------------------ streams

/// Connects device `index`'s stream and reads events until the run ends.
/// Reports on `ready` once the `200` head is read (or the attempt failed).
async fn stream_device(
    shared: Arc<Shared>,
    index: usize,
    source: IpAddr,
    ready: mpsc::UnboundedSender<Result<(), String>>,
    connect_permits: Arc<Semaphore>,
) {
    let permit = connect_permits.acquire_owned().await;
    let opened = open_stream(&shared, index, source).await;
    drop(permit);
    let (mut socket, mut raw) = match opened {
        Ok(opened) => {
            let _ = ready.send(Ok(()));
            opened
        }
        Err(error) => {
            let _ = ready.send(Err(error.to_string()));
            return;
        }
    };
    let mut decoder = Dechunker::default();
    let mut text = Vec::new();
    loop {
        match decoder.feed(&raw, &mut text) {
            Ok(used) => {
                raw.drain(..used);
            }
            Err(error) => {
                shared.error("stream framing", error);
                return;
            }
        }
        // Events end with a blank line.
        while let Some(end) = text.windows(2).position(|w| w == b"\n\n") {
            let block: Vec<u8> = text.drain(..end + 2).collect();
            on_event(&shared, index, &block);
        }
        if decoder.done {
            break;
        }
        if raw.capacity() - raw.len() < 512 {
            raw.reserve(1024);
        }
        match socket.read_buf(&mut raw).await {
            Ok(0) | Err(_) => break,
            Ok(_) => {}
        }
    }
    if !shared.finished.load(Ordering::Relaxed) {
        shared.counters.stream_ends.fetch_add(1, Ordering::Relaxed);
        shared.error("stream", format!("device {index}'s stream ended early"));
    }
}

async fn open_stream(
    shared: &Shared,
    index: usize,
    source: IpAddr,
) -> Result<(TcpStream, Vec<u8>)> {
    let device = &shared.devices[index];
    let url = format!("{}/v1/device/stream", shared.public_url);
    let proof = ProofClaims::create(
        &device.key,
        &KeyRef::Kid(device.device_id.clone()),
        ProofRequest {
            method: "GET",
            url: &url,
            body: b"",
        },
        now_secs(),
    )?;
    let socket = TcpSocket::new_v4()?;
    socket.bind(SocketAddr::new(source, 0))?;
    let mut socket = socket.connect(shared.address).await?;
    socket.set_nodelay(true)?;
    let mut raw = Vec::with_capacity(1024);
    if shared.via_hyper {
        // Any REST answer will do; the connection then belongs to hyper.
        let request = format!("GET /v1/nowhere HTTP/1.1\r\nhost: {}\r\n\r\n", shared.host);
        socket.write_all(request.as_bytes()).await?;
        loop {
            let mut headers = [httparse::EMPTY_HEADER; 16];
            let mut response = httparse::Response::new(&mut headers);
            if let httparse::Status::Complete(head_len) = response.parse(&raw)? {
                let length = response
                    .headers
                    .iter()
                    .find(|h| h.name.eq_ignore_ascii_case("content-length"))
                    .and_then(|h| {
                        std::str::from_utf8(h.value)
                            .ok()?
                            .trim()
                            .parse::<usize>()
                            .ok()
                    })
                    .unwrap_or(0);
                if raw.len() >= head_len + length {
                    raw.drain(..head_len + length);
                    break;
                }
            }
            if socket.read_buf(&mut raw).await? == 0 {
                return Err("closed before the REST answer".into());
            }
        }
    }
    let request = format!(
        "GET /v1/device/stream HTTP/1.1\r\nhost: {}\r\naccept: text/event-stream\r\ntessera-proof: {proof}\r\n\r\n",
        shared.host
    );
    socket.write_all(request.as_bytes()).await?;
    loop {
        let mut headers = [httparse::EMPTY_HEADER; 16];
        let mut response = httparse::Response::new(&mut headers);
        if let httparse::Status::Complete(head_len) = response.parse(&raw)? {
            let status = response.code.unwrap_or(0);
            if status != 200 {
                return Err(format!(
                    "stream answered {status}: {}",
                    String::from_utf8_lossy(&raw[head_len..])
                )
                .into());
            }
            raw.drain(..head_len);
            return Ok((socket, raw));
        }
        if socket.read_buf(&mut raw).await? == 0 {
            return Err("stream closed before its head".into());
        }
    }
}

fn on_event(shared: &Shared, index: usize, block: &[u8]) {
    let arrived = Instant::now();
    let Ok(block) = std::str::from_utf8(block) else {
        shared.error("stream", "event is not UTF-8");
        return;
    };
    let mut kind = None;
    let mut data = String::new();
    for line in block.lines() {
        if line.starts_with(':') {
            shared.counters.heartbeats.fetch_add(1, Ordering::Relaxed);
        } else if let Some(value) = line.strip_prefix("event: ") {
            kind = Some(value.to_string());
        } else if let Some(value) = line.strip_prefix("data: ") {
            data.push_str(value);
        }
    }
    match kind.as_deref() {
        None => {}
        Some("prompt") => {
            let mut slot = lock(&shared.slots[index]);
            let Some(sent_at) = slot.sent_at else {
                shared
                    .counters
                    .unexpected_events
                    .fetch_add(1, Ordering::Relaxed);
                return;
            };
            if slot.jws.is_some() {
                shared
                    .counters
                    .unexpected_events
                    .fetch_add(1, Ordering::Relaxed);
                return;
            }
            shared.counters.received.fetch_add(1, Ordering::Relaxed);
            lock(&shared.latencies).push(arrived.duration_since(sent_at).as_nanos() as u64);
            slot.jws = Some(data);
            shared.maybe_queue(index, &mut slot);
        }
        Some(other) => shared.error("stream", format!("unexpected event {other:?}")),
    }
}

// ------------------------------------------------------------ prompts and answers

/// Creates one prompt for a free device; false when none was free (counted
/// when `count_busy`: in the rate phase that is a prompt not sent).
async fn create_one(shared: &Shared, conn: &mut Conn, auth: &str, count_busy: bool) -> bool {
    let Some(index) = lock(&shared.free).take() else {
        if count_busy {
            shared
                .counters
                .no_free_device
                .fetch_add(1, Ordering::Relaxed);
        }
        return false;
    };
    let device = &shared.devices[index];
    let body = format!(
        r#"{{"user":"{}","site":"Loadgen","context":{{"app":"tessera-loadgen"}}}}"#,
        device.user
    );
    // Stamped just before the request is written (below).
    *lock(&shared.slots[index]) = Slot {
        sent_at: Some(Instant::now()),
        ..Slot::default()
    };
    let sent = Instant::now();
    let answer = conn
        .request(
            "POST",
            "/v1/rp/prompts",
            &[("authorization", auth)],
            body.as_bytes(),
        )
        .await;
    lock(&shared.round_trips).push(sent.elapsed().as_nanos() as u64);
    let number = match answer {
        Ok(answer) if answer.status == 201 => answer
            .json()
            .ok()
            .and_then(|v| v["number"].as_str().map(str::to_string)),
        Ok(answer) => {
            shared.error(
                "create prompt",
                format!(
                    "{} {}",
                    answer.status,
                    String::from_utf8_lossy(&answer.body)
                ),
            );
            None
        }
        Err(error) => {
            shared.error("create prompt", error);
            None
        }
    };
    let Some(number) = number else {
        // Give the device back only if nothing can still arrive for it.
        return true;
    };
    shared.counters.created.fetch_add(1, Ordering::Relaxed);
    let mut slot = lock(&shared.slots[index]);
    slot.number = Some(number);
    shared.maybe_queue(index, &mut slot);
    true
}

async fn answer_one(
    shared: &Shared,
    conn: &mut Conn,
    public_url: &str,
    index: usize,
) -> Result<()> {
    let (jws, number) = {
        let mut slot = lock(&shared.slots[index]);
        (
            slot.jws.take().ok_or("no prompt")?,
            slot.number.take().ok_or("no number")?,
        )
    };
    let device = &shared.devices[index];
    // What a device does: verify under the pinned key, then sign.
    let (claims, _) = PromptClaims::verify(&jws, &device.server_key, &device.device_id, None)?;
    let answer = AnswerClaims::create(
        &device.key,
        &claims,
        Decision::Approve,
        Some(&number),
        now_secs(),
    )?;
    let body = serde_json::to_vec(&serde_json::json!({ "answer": answer }))?;
    let url = format!("{public_url}/v1/device/answer");
    let proof = ProofClaims::create(
        &device.key,
        &KeyRef::Kid(device.device_id.clone()),
        ProofRequest {
            method: "POST",
            url: &url,
            body: &body,
        },
        now_secs(),
    )?;
    let answer = conn
        .request(
            "POST",
            "/v1/device/answer",
            &[("tessera-proof", &proof)],
            &body,
        )
        .await?;
    let state = answer
        .json()
        .ok()
        .and_then(|v| v["state"].as_str().map(str::to_string));
    if answer.status != 200 || state.as_deref() != Some("approved") {
        return Err(format!(
            "answer: {} {}",
            answer.status,
            String::from_utf8_lossy(&answer.body)
        )
        .into());
    }
    Ok(())
}

async fn answer_worker(
    shared: Arc<Shared>,
    queue: Arc<tokio::sync::Mutex<mpsc::UnboundedReceiver<usize>>>,
    target: Arc<Target>,
    public_url: Arc<str>,
) {
    let mut conn = Conn::new(target.address, &target.host);
    loop {
        let next = queue.lock().await.recv().await;
        let Some(index) = next else {
            return;
        };
        match answer_one(&shared, &mut conn, &public_url, index).await {
            Ok(()) => {
                shared.counters.answered.fetch_add(1, Ordering::Relaxed);
                *lock(&shared.slots[index]) = Slot::default();
                lock(&shared.free).free.push(index);
                shared.freed.notify_one();
            }
            Err(error) => shared.error("answer", error),
        }
    }
}

// ------------------------------------------------------------ figures

fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|line| line.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// The server's user + system CPU time so far, in seconds. `/proc` counts
/// in USER_HZ ticks, which Linux fixes at 100 for user space.
fn cpu_secs(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name may contain spaces; the fields after it do not.
    let after = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = after.split_whitespace().collect();
    let user: f64 = fields.get(11)?.parse().ok()?;
    let system: f64 = fields.get(12)?.parse().ok()?;
    Some((user + system) / 100.0)
}

fn cpu_line(pid: Option<u32>, before: Option<f64>, elapsed: Duration) -> String {
    match (before, pid.and_then(cpu_secs)) {
        (Some(before), Some(after)) => format!(
            "server CPU {:.2} s in {:.1} s ({:.0}% of one core)",
            after - before,
            elapsed.as_secs_f64(),
            (after - before) * 100.0 / elapsed.as_secs_f64()
        ),
        _ => "server CPU not measured (no --server-pid)".to_string(),
    }
}

fn percentile(sorted: &[u64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((p * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1] as f64 / 1e6
}

fn latency_line(latencies: &mut [u64]) -> String {
    latencies.sort_unstable();
    format!(
        "p50 {:.3} / p90 {:.3} / p99 {:.3} / p99.9 {:.3} / max {:.3} ms ({} samples)",
        percentile(latencies, 0.50),
        percentile(latencies, 0.90),
        percentile(latencies, 0.99),
        percentile(latencies, 0.999),
        percentile(latencies, 1.0),
        latencies.len()
    )
}

/// Waits until every created prompt was answered (or only received, with
/// `--no-answer`), or `limit` passes.
async fn drain(shared: &Shared, limit: Duration, answering: bool) {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        let c = &shared.counters;
        let done = if answering { &c.answered } else { &c.received };
        let settled = done.load(Ordering::Relaxed) + c.errors.load(Ordering::Relaxed);
        if settled >= c.created.load(Ordering::Relaxed) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

struct PhaseResult {
    created: u64,
    received: u64,
    answered: u64,
    elapsed: Duration,
    latencies: Vec<u64>,
    round_trips: Vec<u64>,
}

fn snapshot(shared: &Shared) -> (u64, u64, u64) {
    let c = &shared.counters;
    (
        c.created.load(Ordering::Relaxed),
        c.received.load(Ordering::Relaxed),
        c.answered.load(Ordering::Relaxed),
    )
}

async fn rate_phase(shared: &Arc<Shared>, target: &Arc<Target>, args: &Args) -> PhaseResult {
    let before = snapshot(shared);
    lock(&shared.latencies).clear();
    lock(&shared.round_trips).clear();
    let (tokens, receiver) = mpsc::unbounded_channel::<()>();
    let receiver = Arc::new(tokio::sync::Mutex::new(receiver));
    let mut creators = Vec::new();
    for _ in 0..args.connections.max(1) {
        let shared = Arc::clone(shared);
        let target = Arc::clone(target);
        let receiver = Arc::clone(&receiver);
        creators.push(tokio::spawn(async move {
            let auth = format!("Bearer {}", target.api_key);
            let mut conn = Conn::new(target.address, &target.host);
            loop {
                let token = receiver.lock().await.recv().await;
                if token.is_none() {
                    return;
                }
                create_one(&shared, &mut conn, &auth, true).await;
            }
        }));
    }
    let start = Instant::now();
    let total = u64::from(args.rate) * args.seconds;
    let mut issued = 0u64;
    let mut ticker = tokio::time::interval(Duration::from_millis(1));
    while issued < total {
        ticker.tick().await;
        let due = ((start.elapsed().as_secs_f64() * f64::from(args.rate)) as u64).min(total);
        while issued < due {
            let _ = tokens.send(());
            issued += 1;
        }
    }
    drop(tokens);
    for creator in creators {
        let _ = creator.await;
    }
    let elapsed = start.elapsed();
    drain(
        shared,
        Duration::from_secs(args.drain_seconds),
        !args.no_answer,
    )
    .await;
    let after = snapshot(shared);
    PhaseResult {
        created: after.0 - before.0,
        received: after.1 - before.1,
        answered: after.2 - before.2,
        elapsed,
        latencies: std::mem::take(&mut *lock(&shared.latencies)),
        round_trips: std::mem::take(&mut *lock(&shared.round_trips)),
    }
}

async fn sustained_phase(shared: &Arc<Shared>, target: &Arc<Target>, args: &Args) -> PhaseResult {
    let before = snapshot(shared);
    lock(&shared.latencies).clear();
    lock(&shared.round_trips).clear();
    let start = Instant::now();
    let until = start + Duration::from_secs(args.sustain_seconds);
    let mut creators = Vec::new();
    for _ in 0..args.connections.max(1) {
        let shared = Arc::clone(shared);
        let target = Arc::clone(target);
        creators.push(tokio::spawn(async move {
            let auth = format!("Bearer {}", target.api_key);
            let mut conn = Conn::new(target.address, &target.host);
            while Instant::now() < until {
                if !create_one(&shared, &mut conn, &auth, false).await {
                    // Every device busy: wait for an answer to free one.
                    let _ = tokio::time::timeout(Duration::from_millis(5), shared.freed.notified())
                        .await;
                }
            }
        }));
    }
    for creator in creators {
        let _ = creator.await;
    }
    drain(shared, Duration::from_secs(args.drain_seconds), true).await;
    let elapsed = start.elapsed();
    let after = snapshot(shared);
    PhaseResult {
        created: after.0 - before.0,
        received: after.1 - before.1,
        answered: after.2 - before.2,
        elapsed,
        latencies: std::mem::take(&mut *lock(&shared.latencies)),
        round_trips: std::mem::take(&mut *lock(&shared.round_trips)),
    }
}

// ------------------------------------------------------------ main

fn parse_server(server: &str) -> Result<(SocketAddr, String)> {
    let host = server
        .strip_prefix("http://")
        .ok_or("--server must be http://ADDR:PORT")?
        .trim_end_matches('/');
    let address: SocketAddr = host.parse()?;
    if !address.ip().is_loopback() {
        return Err("the load generator only targets loopback addresses".into());
    }
    Ok((address, host.to_string()))
}

#[tokio::main]
async fn main() -> Result<()> {
    let args = Args::parse();
    if args.no_answer && u64::from(args.rate) * args.seconds > args.devices as u64 {
        return Err("--no-answer needs rate × seconds ≤ devices (one prompt per device)".into());
    }
    let limit = Duration::from_secs(args.max_seconds);
    match tokio::time::timeout(limit, run(args)).await {
        Ok(result) => result,
        Err(_) => {
            println!("RESULT FAILED (the run took longer than --max-seconds)");
            std::process::exit(1);
        }
    }
}

async fn run(args: Args) -> Result<()> {
    let (address, host) = parse_server(&args.server)?;
    let target = Arc::new(Target {
        address,
        host: host.clone(),
        api_key: args.api_key.clone(),
    });
    println!(
        "tessera-loadgen: {} devices, {} prompts/s for {} s, sustained {} s, server {}",
        args.devices, args.rate, args.seconds, args.sustain_seconds, args.server
    );

    // 1. Enroll.
    let started = Instant::now();
    let (devices, public_url) =
        enroll_all(Arc::clone(&target), args.devices, args.connections).await?;
    let public_url: Arc<str> = Arc::from(public_url);
    println!(
        "enrolled {} devices in {:.1} s",
        devices.len(),
        started.elapsed().as_secs_f64()
    );

    let (answer_queue, answer_receiver) = mpsc::unbounded_channel();
    let count = devices.len();
    let shared = Arc::new(Shared {
        via_hyper: args.via_hyper,
        address,
        host: host.clone(),
        public_url: Arc::clone(&public_url),
        slots: (0..count).map(|_| Mutex::new(Slot::default())).collect(),
        free: Mutex::new(FreePool {
            free: (0..count).collect(),
            rng: 0x9E37_79B9_7F4A_7C15 ^ now_secs(),
        }),
        devices,
        freed: Notify::new(),
        latencies: Mutex::new(Vec::new()),
        round_trips: Mutex::new(Vec::new()),
        counters: Counters::default(),
        answer_queue,
        finished: AtomicBool::new(false),
        first_errors: Mutex::new(Vec::new()),
    });

    // 2. Streams, and the server's memory around them.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let rss_before = args.server_pid.and_then(rss_kib);
    let started = Instant::now();
    let (ready, mut readies) = mpsc::unbounded_channel();
    let permits = Arc::new(Semaphore::new(256));
    for index in 0..count {
        let source = IpAddr::V4(Ipv4Addr::new(
            127,
            0,
            0,
            2 + (index % usize::from(args.source_ips.max(1))) as u8,
        ));
        tokio::spawn(stream_device(
            Arc::clone(&shared),
            index,
            source,
            ready.clone(),
            Arc::clone(&permits),
        ));
    }
    drop(ready);
    let mut connected = 0usize;
    let mut failures: HashMap<String, usize> = HashMap::new();
    // Each stream task reports once (and keeps its sender while it runs).
    for _ in 0..count {
        match tokio::time::timeout(Duration::from_secs(30), readies.recv()).await {
            Ok(Some(Ok(()))) => connected += 1,
            Ok(Some(Err(error))) => *failures.entry(error).or_default() += 1,
            Ok(None) | Err(_) => {
                *failures
                    .entry("no answer within 30 s".to_string())
                    .or_default() += 1;
                break;
            }
        }
    }
    println!(
        "streams: {connected} of {count} connected in {:.2} s",
        started.elapsed().as_secs_f64()
    );
    for (error, times) in &failures {
        println!("  stream failure ×{times}: {error}");
    }
    tokio::time::sleep(Duration::from_secs(args.idle_seconds)).await;
    let rss_after = args.server_pid.and_then(rss_kib);
    if let (Some(before), Some(after)) = (rss_before, rss_after) {
        let per = (after.saturating_sub(before)) as f64 * 1024.0 / connected.max(1) as f64;
        println!(
            "server RSS: {:.1} MiB before streams, {:.1} MiB with {connected} idle streams → {:.0} bytes ({:.2} KiB) per idle stream",
            before as f64 / 1024.0,
            after as f64 / 1024.0,
            per,
            per / 1024.0
        );
    }

    // Answering devices.
    let answer_receiver = Arc::new(tokio::sync::Mutex::new(answer_receiver));
    let answerers = if args.no_answer {
        0
    } else {
        args.connections.max(1)
    };
    for _ in 0..answerers {
        tokio::spawn(answer_worker(
            Arc::clone(&shared),
            Arc::clone(&answer_receiver),
            Arc::clone(&target),
            Arc::clone(&public_url),
        ));
    }

    // 3. Rate phase.
    let cpu_before = args.server_pid.and_then(cpu_secs);
    let mut rate = rate_phase(&shared, &target, &args).await;
    println!(
        "rate phase: {} prompts created in {:.2} s ({:.1}/s), {} received, {} answered, lost {}",
        rate.created,
        rate.elapsed.as_secs_f64(),
        rate.created as f64 / rate.elapsed.as_secs_f64(),
        rate.received,
        rate.answered,
        rate.created.saturating_sub(rate.received)
    );
    println!(
        "created→received latency: {}",
        latency_line(&mut rate.latencies)
    );
    println!(
        "create POST round trip:   {}",
        latency_line(&mut rate.round_trips)
    );
    println!("{}", cpu_line(args.server_pid, cpu_before, rate.elapsed));

    // 4. Sustained phase.
    let mut lost = rate.created.saturating_sub(rate.received);
    if args.sustain_seconds > 0 && !args.no_answer {
        let cpu_before = args.server_pid.and_then(cpu_secs);
        let mut sustained = sustained_phase(&shared, &target, &args).await;
        println!(
            "sustained phase: {} prompts created, {} received, {} answered in {:.2} s → {:.0} answered prompts/s",
            sustained.created,
            sustained.received,
            sustained.answered,
            sustained.elapsed.as_secs_f64(),
            sustained.answered as f64 / sustained.elapsed.as_secs_f64()
        );
        println!(
            "sustained created→received latency: {}",
            latency_line(&mut sustained.latencies)
        );
        println!(
            "sustained create POST round trip:   {}",
            latency_line(&mut sustained.round_trips)
        );
        println!(
            "{}",
            cpu_line(args.server_pid, cpu_before, sustained.elapsed)
        );
        lost += sustained.created.saturating_sub(sustained.received);
    }
    shared.finished.store(true, Ordering::Relaxed);

    let c = &shared.counters;
    let errors = c.errors.load(Ordering::Relaxed);
    println!(
        "errors {errors}, unexpected events {}, streams ended early {}, heartbeats seen {}, rate-phase prompts skipped (no free device) {}",
        c.unexpected_events.load(Ordering::Relaxed),
        c.stream_ends.load(Ordering::Relaxed),
        c.heartbeats.load(Ordering::Relaxed),
        c.no_free_device.load(Ordering::Relaxed)
    );
    for error in lock(&shared.first_errors).iter() {
        println!("  error: {error}");
    }
    let failed = connected != count || lost > 0 || errors > 0;
    println!("RESULT {}", if failed { "FAILED" } else { "ok" });
    if failed {
        std::process::exit(1);
    }
    Ok(())
}
