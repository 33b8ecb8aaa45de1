//! Push approval end to end: the real `tessera` CLI against the real
//! `tessera-server` process (docs/push-protocol.md), driven through the
//! relying-party API as a site would, and against a small fake server for
//! what a real one never does (sign a prompt with another key).
//!
//! Every test starts its own server on a free loopback port with its own
//! database, and its own vault; the CLI reads its answers from stdin, as it
//! does without a terminal.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine as _;
use serde_json::{Value, json};
use tessera_core::push::jws::KeyRef;
use tessera_core::push::messages::random_id;
use tessera_core::push::{PairingUri, PromptClaims, PromptContext, PromptMode, SigningKey};
use tessera_tests::{Out, rp_http, tessera_bin, tessera_server_bin};

const API_KEY: &str = "e2e-api-key-0123456789abcdef";
const WAIT: Duration = Duration::from_secs(60);

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

// ------------------------------------------------------------ HTTP client

/// One blocking RP call with this file's API key; status and JSON body.
fn http(method: &str, url: &str, body: Option<&Value>) -> (u16, Value) {
    rp_http(API_KEY, method, url, body)
}

// ------------------------------------------------------------ the server

/// A running `tessera-server` with its own database.
struct Server {
    child: Child,
    url: String,
    port: u16,
    dir: PathBuf,
}

impl Server {
    fn start(dir: &Path) -> Self {
        Self::start_on(dir, 0)
    }

    /// Starts (or restarts) the server on `port` (0: any free port) with
    /// the database in `dir`.
    fn start_on(dir: &Path, port: u16) -> Self {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(dir.join("server.log"))
            .unwrap();
        let mut child = Command::new(tessera_server_bin())
            .args(["--listen", &format!("127.0.0.1:{port}"), "--database"])
            .arg(dir.join("server.db"))
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
                    std::fs::read_to_string(dir.join("server.log")).unwrap_or_default()
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
        let port = url.rsplit(':').next().unwrap().parse().unwrap();
        Self {
            child,
            url,
            port,
            dir: dir.to_path_buf(),
        }
    }

    fn rp(&self, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        http(method, &format!("{}{path}", self.url), body.as_ref())
    }

    /// A fresh enrollment for `user`: the pairing URI and the QR code PNG.
    fn enroll(&self, user: &str) -> (String, Vec<u8>) {
        let (status, body) = self.rp(
            "POST",
            &format!("/v1/rp/users/{user}/devices/enroll"),
            Some(json!({ "account": format!("{user}@example.com") })),
        );
        assert_eq!(status, 201, "enroll: {body}");
        let png = base64::engine::general_purpose::STANDARD
            .decode(body["qr_png"].as_str().unwrap())
            .unwrap();
        (body["enrollment_uri"].as_str().unwrap().to_string(), png)
    }

    /// Creates a prompt; returns its id and number.
    fn prompt(&self, user: &str, extra: Value) -> (String, String) {
        let mut request = json!({
            "user": user, "site": "Example",
            "context": {"ip": "203.0.113.7", "location": "Lyon, FR",
                        "user_agent": "Firefox 140 on Linux", "app": "Web login"},
        });
        for (k, v) in extra.as_object().unwrap() {
            request[k] = v.clone();
        }
        let (status, body) = self.rp("POST", "/v1/rp/prompts", Some(request));
        assert_eq!(status, 201, "create prompt: {body}");
        (
            body["prompt_id"].as_str().unwrap().to_string(),
            body["number"].as_str().unwrap().to_string(),
        )
    }

    fn state(&self, id: &str) -> Value {
        let (status, body) = self.rp("GET", &format!("/v1/rp/prompts/{id}"), None);
        assert_eq!(status, 200, "prompt state: {body}");
        body
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("server.log")).unwrap_or_default()
    }

    /// SIGKILL, as a crash.
    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
    }
}

// ------------------------------------------------------------ the CLI

/// A device: one vault in its own directory, telling time by `time_sources`.
struct Device {
    dir: tempfile::TempDir,
    time_sources: String,
}

impl Device {
    /// A device that takes the time from the server's `Date` header.
    fn new(server: &Server) -> Self {
        Self {
            dir: tempfile::tempdir().unwrap(),
            time_sources: server.url.clone(),
        }
    }

    /// A device that does not know the time.
    fn without_time() -> Self {
        Self {
            dir: tempfile::tempdir().unwrap(),
            time_sources: String::new(),
        }
    }

    fn command(&self, args: &[&str]) -> Command {
        let dir = self.dir.path();
        let mut command = Command::new(tessera_bin());
        command
            .arg("--no-keystore")
            .args(args)
            .current_dir(dir)
            .env("HOME", dir)
            .env("XDG_DATA_HOME", dir)
            .env("XDG_CONFIG_HOME", dir)
            .env("TESSERA_VAULT", dir.join("vault.json"))
            .env("TESSERA_PASSWORD", "vault-pw")
            .env("TESSERA_TIME_SOURCES", &self.time_sources)
            // No desktop notifications from the tests.
            .env("PATH", "/nonexistent")
            .env_remove("DBUS_SESSION_BUS_ADDRESS");
        command
    }

    fn run(&self, args: &[&str]) -> Out {
        let output = self.command(args).stdin(Stdio::null()).output().unwrap();
        Out {
            what: format!("tessera {}", args.join(" ")),
            code: output.status.code(),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }

    fn ok(&self, args: &[&str]) -> Out {
        let out = self.run(args);
        assert_eq!(out.code, Some(0), "{out}");
        out
    }

    fn pair(&self, uri: &str) -> Out {
        self.ok(&["push", "pair", uri, "--name", "e2e laptop"])
    }

    /// Starts a long-running command with stdin, stdout and stderr piped.
    fn spawn(&self, args: &[&str]) -> Running {
        let mut child = self
            .command(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stdout = Arc::new(Mutex::new(String::new()));
        let stderr = Arc::new(Mutex::new(String::new()));
        collect(child.stdout.take().unwrap(), Arc::clone(&stdout));
        collect(child.stderr.take().unwrap(), Arc::clone(&stderr));
        Running {
            what: format!("tessera {}", args.join(" ")),
            stdin: child.stdin.take(),
            child,
            stdout,
            stderr,
        }
    }
}

fn collect(pipe: impl Read + Send + 'static, into: Arc<Mutex<String>>) {
    std::thread::spawn(move || {
        let mut reader = BufReader::new(pipe);
        let mut line = String::new();
        while reader.read_line(&mut line).is_ok_and(|n| n > 0) {
            into.lock().unwrap().push_str(&line);
            line.clear();
        }
    });
}

/// A running `tessera push listen`.
struct Running {
    what: String,
    child: Child,
    stdin: Option<ChildStdin>,
    stdout: Arc<Mutex<String>>,
    stderr: Arc<Mutex<String>>,
}

impl Running {
    fn output(&self) -> (String, String) {
        (
            self.stdout.lock().unwrap().clone(),
            self.stderr.lock().unwrap().clone(),
        )
    }

    /// Waits until stdout or stderr holds `needle` `times` times.
    fn wait_for(&self, needle: &str, times: usize) {
        let start = Instant::now();
        loop {
            let (out, err) = self.output();
            if out.matches(needle).count() + err.matches(needle).count() >= times {
                return;
            }
            assert!(
                start.elapsed() < WAIT,
                "{}: no {needle:?} after {WAIT:?}\n--- stdout ---\n{out}--- stderr ---\n{err}",
                self.what
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn answer(&mut self, lines: &str) {
        let stdin = self.stdin.as_mut().expect("stdin open");
        stdin.write_all(lines.as_bytes()).unwrap();
        stdin.flush().unwrap();
    }

    /// Waits for the process to end (killing it after [`WAIT`]).
    fn finish(mut self) -> Out {
        let start = Instant::now();
        let status = loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                break Some(status);
            }
            if start.elapsed() > WAIT {
                let _ = self.child.kill();
                let _ = self.child.wait();
                break None;
            }
            std::thread::sleep(Duration::from_millis(50));
        };
        // Let the reader threads take the last lines.
        std::thread::sleep(Duration::from_millis(200));
        let (stdout, stderr) = self.output();
        Out {
            what: self.what.clone(),
            code: status.and_then(|s| s.code()),
            stdout,
            stderr,
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `push listen --once` (for `user`'s account) and waits until it
/// is connected.
fn listen_once(device: &Device, user: &str) -> Running {
    let running = device.spawn(&["push", "listen", "--once", "--account", user]);
    running.wait_for("listening for sign-in requests", 1);
    running
}

// ------------------------------------------------------------ tests

#[test]
fn pair_by_uri_and_by_qr_then_approve_with_the_right_number() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path());
    let device = Device::new(&server);

    let (uri, _) = server.enroll("alice");
    let out = device.pair(&uri);
    assert!(
        out.stdout
            .contains("Paired Tessera demo (alice@example.com)"),
        "{out}"
    );
    let (_, png) = server.enroll("bob");
    let qr = device.dir.path().join("bob.png");
    std::fs::write(&qr, png).unwrap();
    let qr = qr.to_string_lossy().into_owned();
    let out = device.ok(&["push", "pair", "--qr", &qr]);
    assert!(out.stdout.contains("bob@example.com"), "{out}");

    let list = device.ok(&["push", "list", "--json"]).json();
    let rows = list.as_array().unwrap();
    assert_eq!(rows.len(), 2, "{list}");
    assert_eq!(rows[0]["account"], "alice@example.com");
    assert_eq!(rows[0]["server"], server.url.as_str());
    assert_eq!(rows[1]["user"], "bob");
    assert!(rows[1]["device_id"].as_str().is_some_and(|d| !d.is_empty()));
    let text = device.ok(&["push", "list"]).stdout;
    assert!(
        text.contains("alice@example.com") && text.contains("paired 20"),
        "{text}"
    );

    // Interactive form, driven through stdin.
    let mut listen = listen_once(&device, "alice");
    let (id, number) = server.prompt("alice", json!({}));
    listen.wait_for("Sign-in request from Example", 1);
    listen.answer(&format!("{number}\napprove\n"));
    let out = listen.finish();
    assert_eq!(out.code, Some(0), "{out}");
    for shown in [
        "203.0.113.7",
        "Lyon, FR",
        "Firefox 140 on Linux",
        "Web login",
        "expires in",
    ] {
        assert!(out.stdout.contains(shown), "{shown}: {out}");
    }
    assert!(out.stdout.contains("Approved"), "{out}");
    assert!(
        !out.stdout.contains(&number),
        "the number is never shown: {out}"
    );
    let state = server.state(&id);
    assert_eq!(state["state"], "approved", "{state}");

    // Non-interactive form, for the pairing made from the QR code.
    let (id, number) = server.prompt("bob", json!({}));
    let out = device.run(&["push", "answer", &id, "--approve", "--number", &number]);
    assert_eq!(out.code, Some(0), "{out}");
    assert!(out.stdout.contains("Approved"), "{out}");
    assert_eq!(server.state(&id)["state"], "approved");

    // Choice mode: pick the right one of three by its position.
    let mut listen = listen_once(&device, "alice");
    let (id, number) = server.prompt("alice", json!({"mode": "choice"}));
    listen.wait_for("Which number does the login page show?", 1);
    let position = {
        let (out, _) = listen.output();
        let line = out
            .lines()
            .find(|l| l.starts_with("Which number"))
            .unwrap()
            .to_string();
        ["1) ", "2) ", "3) "]
            .iter()
            .position(|p| line.contains(&format!("{p}{number}")))
            .expect("the right number is among the choices")
            + 1
    };
    listen.answer(&format!("{position}\napprove\n"));
    let out = listen.finish();
    assert_eq!(out.code, Some(0), "{out}");
    assert_eq!(server.state(&id)["state"], "approved");
}

#[test]
fn three_wrong_numbers_fail_the_prompt() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path());
    let device = Device::new(&server);
    device.pair(&server.enroll("carol").0);

    let mut listen = listen_once(&device, "carol");
    let (id, number) = server.prompt("carol", json!({}));
    listen.wait_for("Sign-in request from Example", 1);
    let wrong = if number == "000000" {
        "111111"
    } else {
        "000000"
    };
    listen.answer(&format!("{wrong}\napprove\n"));
    listen.wait_for("Wrong number: 2 tries left", 1);
    assert_eq!(server.state(&id)["state"], "pending");
    listen.answer(&format!("{wrong}\napprove\n{wrong}\napprove\n"));
    let out = listen.finish();
    assert!(out.stdout.contains("Wrong number: 1 try left"), "{out}");
    assert!(out.stdout.contains("the request failed"), "{out}");
    assert_eq!(out.code, Some(1), "{out}");
    let state = server.state(&id);
    assert_eq!(state["state"], "failed", "{state}");
    assert_eq!(state["attempts_left"], 0, "{state}");
}

#[test]
fn deny_and_fraud_reports_and_a_blocked_user() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path());
    let device = Device::new(&server);
    device.pair(&server.enroll("dave").0);

    let mut listen = listen_once(&device, "dave");
    let (id, _) = server.prompt("dave", json!({}));
    listen.wait_for("Sign-in request from Example", 1);
    listen.answer("\ndeny\n");
    let out = listen.finish();
    assert_eq!(out.code, Some(0), "{out}");
    assert!(out.stdout.contains("Denied."), "{out}");
    assert_eq!(server.state(&id)["state"], "denied");

    let mut listen = listen_once(&device, "dave");
    let (id, _) = server.prompt("dave", json!({}));
    listen.wait_for("Sign-in request from Example", 1);
    listen.answer("\nfraud\n");
    let out = listen.finish();
    assert_eq!(out.code, Some(0), "{out}");
    assert!(out.stdout.contains("reported as fraud"), "{out}");
    let state = server.state(&id);
    assert_eq!(state["state"], "fraud_reported", "{state}");
    assert_eq!(state["fraud_reported"], true, "{state}");

    // The site can no longer push prompts to this user until it unblocks.
    let (status, body) = server.rp(
        "POST",
        "/v1/rp/prompts",
        Some(json!({"user": "dave", "site": "Example"})),
    );
    assert_eq!(
        (status, body["error"].as_str()),
        (403, Some("user_blocked")),
        "{body}"
    );
}

#[test]
fn an_expired_prompt_is_reported_as_expired() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path());
    // Without a known time the device shows the prompt, says so, and its
    // own timer (on the system clock) still ends the wait.
    let device = Device::without_time();
    device.pair(&server.enroll("erin").0);

    let listen = listen_once(&device, "erin");
    let (id, _) = server.prompt("erin", json!({"ttl": 2}));
    listen.wait_for("Sign-in request from Example", 1);
    let out = listen.finish();
    assert_eq!(out.code, Some(1), "{out}");
    assert!(out.stdout.contains("The request expired."), "{out}");
    assert!(out.stdout.contains("does not know the exact time"), "{out}");
    assert!(out.stderr.contains("the time is unknown"), "{out}");
    assert!(out.stderr.contains("rests on the server"), "{out}");

    // Answering it afterwards: the server says expired, and so does the CLI.
    let out = device.run(&["push", "answer", &id, "--deny"]);
    assert_eq!(out.code, Some(1), "{out}");
    assert!(out.stdout.contains("expired"), "{out}");
    std::thread::sleep(Duration::from_secs(1));
    assert_eq!(server.state(&id)["state"], "expired");
}

#[test]
fn a_reused_enrollment_code_is_refused_clearly() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path());
    let (uri, _) = server.enroll("frank");
    Device::new(&server).pair(&uri);

    let other = Device::new(&server);
    let out = other.run(&["push", "pair", &uri]);
    assert_eq!(out.code, Some(4), "{out}");
    assert!(out.stderr.contains("pairing code was refused"), "{out}");
    assert!(out.stderr.contains("new QR code"), "{out}");
    // Nothing was stored.
    let list = other.ok(&["push", "list", "--json"]).json();
    assert_eq!(list, json!([]));
    // A malformed URI is bad input before any network use.
    let out = other.run(&["push", "pair", "tessera-push://pair?v=2"]);
    assert_eq!(out.code, Some(4), "{out}");
}

#[test]
fn a_revoked_device_is_told_and_can_unpair() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path());
    let device = Device::new(&server);
    device.pair(&server.enroll("grace").0);
    let device_id = device.ok(&["push", "list", "--json"]).json()[0]["device_id"]
        .as_str()
        .unwrap()
        .to_string();

    let listen = device.spawn(&["push", "listen"]);
    listen.wait_for("listening for sign-in requests", 1);
    let (status, body) = server.rp(
        "DELETE",
        &format!("/v1/rp/users/grace/devices/{device_id}"),
        None,
    );
    assert_eq!(status, 200, "{body}");
    let out = listen.finish();
    assert_eq!(out.code, Some(1), "{out}");
    assert!(
        out.stderr.contains("this device was revoked by the server"),
        "{out}"
    );

    // A new listen is told at once.
    let out = device.run(&["push", "listen", "--once"]);
    assert_eq!(out.code, Some(1), "{out}");
    assert!(out.stderr.contains("revoked"), "{out}");

    // Unpairing a revoked device needs nothing more from the server.
    let out = device.ok(&["push", "unpair", "grace"]);
    assert!(out.stdout.contains("Unpaired"), "{out}");
    assert_eq!(device.ok(&["push", "list", "--json"]).json(), json!([]));
}

#[test]
fn unpair_tells_the_server_or_needs_force() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = Server::start(dir.path());
    let device = Device::new(&server);
    device.pair(&server.enroll("heidi").0);
    device.pair(&server.enroll("ivan").0);

    device.ok(&["push", "unpair", "heidi"]);
    let (_, devices) = server.rp("GET", "/v1/rp/users/heidi/devices", None);
    assert!(
        devices["devices"][0]["revoked_at"].is_number(),
        "the server revoked it: {devices}"
    );

    server.kill();
    let out = device.run(&["push", "unpair", "ivan"]);
    assert_eq!(out.code, Some(1), "{out}");
    assert!(out.stderr.contains("--force"), "{out}");
    assert_eq!(
        device
            .ok(&["push", "list", "--json"])
            .json()
            .as_array()
            .unwrap()
            .len(),
        1
    );
    let out = device.ok(&["push", "unpair", "ivan", "--force"]);
    assert!(out.stdout.contains("here only"), "{out}");
    assert_eq!(device.ok(&["push", "list", "--json"]).json(), json!([]));
}

#[test]
fn the_cli_reconnects_after_a_server_crash_and_the_answer_lands() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = Server::start(dir.path());
    let device = Device::new(&server);
    device.pair(&server.enroll("judy").0);

    let mut listen = listen_once(&device, "judy");
    let (id, number) = server.prompt("judy", json!({"ttl": 120}));
    listen.wait_for("Sign-in request from Example", 1);

    let port = server.port;
    server.kill();
    listen.wait_for("connection lost", 1);
    let server = Server::start_on(dir.path(), port);
    listen.wait_for("reconnected to", 1);
    listen.answer(&format!("{number}\napprove\n"));
    let out = listen.finish();
    assert_eq!(
        out.code,
        Some(0),
        "{out}\n--- server log ---\n{}",
        server.log()
    );
    assert!(out.stdout.contains("Approved"), "{out}");
    assert_eq!(server.state(&id)["state"], "approved");
}

// ------------------------------------------------------------ a forging server

/// A loopback server that pairs honestly (enrollment signed by the key the
/// QR code names) but then sends prompts signed by another key.
struct Forger {
    url: String,
    uri: String,
    requests: Arc<Mutex<Vec<String>>>,
}

fn forging_server() -> Forger {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let pinned = Arc::new(SigningKey::generate().unwrap());
    let forger = Arc::new(SigningKey::generate().unwrap());
    let uri = PairingUri {
        server: url.clone(),
        code: "A".repeat(26),
        fingerprint: pinned.public_key().thumbprint(),
        issuer: "Fake".into(),
        account: "victim".into(),
    }
    .to_string();
    let requests = Arc::new(Mutex::new(Vec::new()));
    let log = Arc::clone(&requests);
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(stream) = stream else { return };
            let (pinned, forger, log) =
                (Arc::clone(&pinned), Arc::clone(&forger), Arc::clone(&log));
            std::thread::spawn(move || serve_forged(stream, &pinned, &forger, &log));
        }
    });
    Forger { url, uri, requests }
}

fn forged_prompt(forger: &SigningKey) -> String {
    PromptClaims {
        v: 1,
        prompt_id: "forged-1".into(),
        device_id: "dev-fake".into(),
        user: "victim".into(),
        site: "Fake".into(),
        context: PromptContext::default(),
        mode: PromptMode::Entry,
        choices: None,
        iat: now(),
        exp: now() + 120,
        nonce: random_id().unwrap(),
    }
    .sign(forger)
    .unwrap()
}

fn serve_forged(
    mut stream: TcpStream,
    pinned: &SigningKey,
    forger: &SigningKey,
    log: &Mutex<Vec<String>>,
) {
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut first = String::new();
    if reader.read_line(&mut first).is_err() {
        return;
    }
    let mut length = 0usize;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 || line.trim().is_empty() {
            break;
        }
        if let Some((name, value)) = line.split_once(':')
            && name.eq_ignore_ascii_case("content-length")
        {
            length = value.trim().parse().unwrap_or(0);
        }
    }
    let mut body = vec![0; length];
    let _ = reader.read_exact(&mut body);
    let request: Vec<&str> = first.split(' ').take(2).collect();
    let request = request.join(" ");
    log.lock().unwrap().push(request.clone());
    let json_reply = |status: u16, body: Value| {
        let body = body.to_string();
        format!(
            "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
            body.len()
        )
    };
    let reply = match request.as_str() {
        "POST /v1/device/enroll" => {
            let claims = json!({"v": 1, "device_id": "dev-fake", "user": "victim",
                                "issuer": "Fake", "server_key": pinned.public_key()});
            let kid = KeyRef::Kid(pinned.public_key().thumbprint());
            let jws = pinned
                .sign_json("tessera-enrollment+jwt", &kid, &claims)
                .unwrap();
            json_reply(201, json!({ "enrollment": jws }))
        }
        "GET /v1/device/prompts/forged-1" => {
            json_reply(200, json!({ "prompt": forged_prompt(forger) }))
        }
        "GET /v1/device/stream" => {
            let head =
                "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\nconnection: close\r\n\r\n";
            let event = format!("event: prompt\nid: 1\ndata: {}\n\n", forged_prompt(forger));
            let _ = stream.write_all(head.as_bytes());
            let _ = stream.write_all(event.as_bytes());
            // Hold the stream open with heartbeats for a while.
            for _ in 0..20 {
                std::thread::sleep(Duration::from_secs(1));
                if stream.write_all(b": hb\n\n").is_err() {
                    return;
                }
            }
            return;
        }
        "POST /v1/device/answer" => json_reply(200, json!({"state": "approved"})),
        _ => json_reply(404, json!({"error": "not_found", "message": "no"})),
    };
    let _ = stream.write_all(reply.as_bytes());
}

#[test]
fn a_prompt_signed_by_another_key_is_rejected_by_the_device() {
    let forger = forging_server();
    let device = Device::without_time();
    let out = device.pair(&forger.uri);
    assert!(out.stdout.contains("Paired Fake (victim)"), "{out}");

    // Fetched by id: refused, never answered.
    let out = device.run(&[
        "push",
        "answer",
        "forged-1",
        "--approve",
        "--number",
        "123456",
    ]);
    assert_eq!(out.code, Some(1), "{out}");
    assert!(out.stderr.contains("refused"), "{out}");
    assert!(out.stderr.contains("may be forged"), "{out}");
    assert!(!out.stdout.contains("Sign-in request"), "{out}");

    // On the stream: reported, not shown.
    let listen = device.spawn(&["push", "listen", "--once"]);
    listen.wait_for("may be forged", 1);
    let (stdout, _) = listen.output();
    assert!(!stdout.contains("Sign-in request"), "{stdout}");
    drop(listen);
    let requests = forger.requests.lock().unwrap().clone();
    assert!(
        !requests.iter().any(|r| r.contains("/v1/device/answer")),
        "no answer was ever sent: {requests:?}"
    );
    assert!(
        requests.iter().any(|r| r == "GET /v1/device/stream"),
        "{requests:?}"
    );
    let _ = &forger.url;
}
