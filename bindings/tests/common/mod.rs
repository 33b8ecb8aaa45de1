//! What the tests against the real server share: a `tessera-server`
//! process on a loopback port with its own database, driven through its
//! relying-party API (docs/push-protocol.md §10.1) as a site would, and
//! apps with an unlocked vault.
//!
//! The server binary is `TESSERA_SERVER_BIN` when set, else built through
//! Cargo once per test process (with the profile of this test).
// Each test file uses a different part of it.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use serde_json::{Value, json};
use tessera_core::http::HttpTransport as _;
use tessera_core::http::native::NativeTransport;
use tessera_ffi::{
    Authenticator, AuthenticatorConfig, HttpBody, HttpHeader, HttpRequest, HttpResponse,
    HttpTransport, TesseraError,
};

pub const API_KEY: &str = "ffi-test-api-key-0123456789abcdef";
pub const WAIT: Duration = Duration::from_secs(30);

// ------------------------------------------------------------ the server

/// The server binary: `TESSERA_SERVER_BIN`, or built through Cargo.
pub fn server_bin() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        if let Some(path) = std::env::var_os("TESSERA_SERVER_BIN") {
            return PathBuf::from(path);
        }
        // <target>/<profile>/deps/push-… -> <target>/<profile>
        let exe = std::env::current_exe().unwrap();
        let profile_dir = exe.parent().and_then(Path::parent).unwrap().to_path_buf();
        let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
        let mut cargo = Command::new(env!("CARGO"));
        cargo
            .args(["build", "-p", "tessera-server", "--bin", "tessera-server"])
            .current_dir(workspace)
            .stdin(Stdio::null());
        if let Some(profile) = profile_dir.file_name().and_then(|n| n.to_str())
            && profile != "debug"
        {
            cargo.args(["--profile", profile]);
        }
        // Cargo's per-package variables of this test would confuse the
        // nested build.
        for (name, _) in std::env::vars_os() {
            let name = name.to_string_lossy();
            if name.starts_with("CARGO_PKG_")
                || name.starts_with("CARGO_BIN_")
                || name == "CARGO_MANIFEST_DIR"
                || name == "CARGO_CRATE_NAME"
                || name == "CARGO_PRIMARY_PACKAGE"
            {
                cargo.env_remove(name.as_ref());
            }
        }
        let output = cargo.output().unwrap();
        assert!(
            output.status.success(),
            "cargo build -p tessera-server failed:\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
        profile_dir.join(format!("tessera-server{}", std::env::consts::EXE_SUFFIX))
    })
}

/// A running `tessera-server` with its own database, killed on drop.
pub struct Server {
    child: Child,
    pub url: String,
    dir: tempfile::TempDir,
}

impl Server {
    pub fn start() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let log = std::fs::File::create(dir.path().join("server.log")).unwrap();
        let mut child = Command::new(server_bin())
            .args([
                "--listen",
                "127.0.0.1:0",
                "--issuer",
                "Example",
                "--database",
            ])
            .arg(dir.path().join("server.db"))
            .env("TESSERA_SERVER_API_KEYS", API_KEY)
            .env_remove("TESSERA_SERVER_CONFIG")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(log)
            .spawn()
            .unwrap();
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        stdout.read_line(&mut line).unwrap();
        let url = line
            .trim()
            .strip_prefix("tessera-server listening on ")
            .unwrap_or_else(|| {
                panic!(
                    "the server did not start: {line:?}\n{}",
                    std::fs::read_to_string(dir.path().join("server.log")).unwrap_or_default()
                )
            })
            .to_string();
        // Keep draining stdout so the server never blocks on a full pipe.
        std::thread::spawn(move || {
            let mut sink = String::new();
            while stdout.read_line(&mut sink).is_ok_and(|n| n > 0) {
                sink.clear();
            }
        });
        Self { child, url, dir }
    }

    /// One relying-party call; returns the status and the JSON answer.
    pub fn rp(&self, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        let host = self.url.strip_prefix("http://").unwrap();
        let mut stream = TcpStream::connect(host).unwrap();
        stream.set_read_timeout(Some(WAIT)).unwrap();
        let body = body.map(|b| b.to_string()).unwrap_or_default();
        let request = format!(
            "{method} {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\
             Authorization: Bearer {API_KEY}\r\nContent-Type: application/json\r\n\
             Content-Length: {}\r\n\r\n{body}",
            body.len()
        );
        stream.write_all(request.as_bytes()).unwrap();
        let mut raw = Vec::new();
        stream.read_to_end(&mut raw).unwrap();
        let split = raw.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
        let head = String::from_utf8_lossy(&raw[..split]).to_ascii_lowercase();
        let mut payload = raw[split + 4..].to_vec();
        if head.contains("transfer-encoding: chunked") {
            payload = dechunk(&payload);
        }
        let status = head.split(' ').nth(1).unwrap().parse().unwrap();
        (
            status,
            serde_json::from_slice(&payload).unwrap_or(Value::Null),
        )
    }

    /// A fresh enrollment URI for `user` (account `<user>@example.com`).
    pub fn enroll(&self, user: &str) -> String {
        let (status, body) = self.rp(
            "POST",
            &format!("/v1/rp/users/{user}/devices/enroll"),
            Some(json!({ "account": format!("{user}@example.com") })),
        );
        assert_eq!(status, 201, "enroll: {body}");
        body["enrollment_uri"].as_str().unwrap().to_string()
    }

    /// Creates a prompt for `user`; returns its id and number.
    pub fn prompt(&self, user: &str, mode: &str) -> (String, String) {
        let (status, body) = self.rp(
            "POST",
            "/v1/rp/prompts",
            Some(json!({
                "user": user, "mode": mode, "ttl": 120,
                "context": {"ip": "203.0.113.7", "location": "Lyon, FR", "app": "Web login"},
            })),
        );
        assert_eq!(status, 201, "create prompt: {body}");
        (
            body["prompt_id"].as_str().unwrap().to_string(),
            body["number"].as_str().unwrap().to_string(),
        )
    }

    /// The relying party's view of a prompt.
    pub fn outcome(&self, id: &str) -> Value {
        let (status, body) = self.rp("GET", &format!("/v1/rp/prompts/{id}"), None);
        assert_eq!(status, 200, "prompt outcome: {body}");
        body
    }

    /// The devices of `user`, as the relying party lists them.
    pub fn devices(&self, user: &str) -> Vec<Value> {
        let (status, body) = self.rp("GET", &format!("/v1/rp/users/{user}/devices"), None);
        assert_eq!(status, 200, "devices: {body}");
        body["devices"].as_array().unwrap().clone()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            eprintln!(
                "server log:\n{}",
                std::fs::read_to_string(self.dir.path().join("server.log")).unwrap_or_default()
            );
        }
    }
}

pub fn dechunk(mut data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(end) = data.windows(2).position(|w| w == b"\r\n") {
        let size_text = String::from_utf8_lossy(&data[..end]).to_string();
        let size = usize::from_str_radix(size_text.split(';').next().unwrap().trim(), 16).unwrap();
        if size == 0 {
            break;
        }
        out.extend_from_slice(&data[end + 2..end + 2 + size]);
        data = &data[end + 2 + size + 2..];
    }
    out
}

// ------------------------------------------------------------ the app side

/// The app's HTTP transport, implemented in Rust as the apps implement it
/// over `HttpURLConnection` or `URLSession`: here over the core's own
/// hyper + rustls client.
pub struct RustHttp(NativeTransport);

impl RustHttp {
    pub fn transport() -> Arc<dyn HttpTransport> {
        Arc::new(Self(NativeTransport::new().unwrap()))
    }
}

fn network(error: impl std::fmt::Display) -> TesseraError {
    TesseraError::Network {
        reason: error.to_string(),
    }
}

#[async_trait::async_trait]
impl HttpTransport for RustHttp {
    async fn send(&self, request: HttpRequest) -> Result<HttpResponse, TesseraError> {
        let request = tessera_core::http::HttpRequest {
            method: request.method,
            url: request.url,
            headers: request
                .headers
                .into_iter()
                .map(|h| (h.name, h.value))
                .collect(),
            body: request.body,
            timeout: Duration::from_millis(request.timeout_ms),
        };
        let response = self.0.send(request).await.map_err(network)?;
        Ok(HttpResponse {
            status: response.status,
            headers: response
                .headers
                .into_iter()
                .map(|(name, value)| HttpHeader { name, value })
                .collect(),
            body: Arc::new(RustBody {
                body: tokio::sync::Mutex::new(Some(response.body)),
                closed: tokio::sync::Notify::new(),
            }),
        })
    }
}

/// A body whose `close` ends a pending `read`, as the contract asks.
struct RustBody {
    body: tokio::sync::Mutex<Option<Box<dyn tessera_core::http::HttpBody>>>,
    closed: tokio::sync::Notify,
}

#[async_trait::async_trait]
impl HttpBody for RustBody {
    async fn read(&self) -> Result<Option<Vec<u8>>, TesseraError> {
        let mut body = self.body.lock().await;
        let Some(body) = body.as_mut() else {
            return Ok(None);
        };
        tokio::select! {
            chunk = body.chunk() => chunk.map_err(network),
            () = self.closed.notified() => Ok(None),
        }
    }

    fn cancel(&self) {
        // Wakes a pending read (or the next one); the body is dropped with us.
        self.closed.notify_one();
    }
}

pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

/// An app with an unlocked, password-protected vault and no time sources
/// (the time is unknown: the server judges expiry).
pub fn new_app() -> (tempfile::TempDir, Arc<Authenticator>) {
    let dir = tempfile::tempdir().unwrap();
    let app = Authenticator::new(
        AuthenticatorConfig {
            data_dir: dir.path().display().to_string(),
            use_platform_keystore: false,
            time_sources: Some(Vec::new()),
            time_correction: true,
        },
        None,
        Some(RustHttp::transport()),
    )
    .unwrap();
    app.create_vault(Some("pw".into())).unwrap();
    (dir, app)
}
