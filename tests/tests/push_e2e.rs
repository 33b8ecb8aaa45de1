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
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine as _;
use serde_json::{Value, json};
use tessera_core::push::jws::KeyRef;
use tessera_core::push::messages::random_id;
use tessera_core::push::{PairingUri, PromptClaims, PromptContext, PromptMode, SigningKey};
use tessera_tests::Out;
use tessera_tests::processes::{Device, Running, Server};

const API_KEY: &str = "e2e-api-key-0123456789abcdef";

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

// ------------------------------------------------------------ the server

/// A server with this file's API key on any free port.
fn start_server(dir: &Path) -> Server {
    Server::start_on(dir, 0, API_KEY)
}

/// The relying party's calls these tests make.
trait Rp {
    /// A fresh enrollment for `user`: the pairing URI and the QR code PNG.
    fn enroll(&self, user: &str) -> (String, Vec<u8>);
    /// Creates a prompt; returns its id and number.
    fn prompt(&self, user: &str, extra: Value) -> (String, String);
    /// A prompt's state.
    fn state(&self, id: &str) -> Value;
}

impl Rp for Server {
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
}

// ------------------------------------------------------------ the CLI

/// Pairs `device` by URI.
fn pair(device: &Device, uri: &str) -> Out {
    device.ok(&["push", "pair", uri, "--name", "e2e laptop"])
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
    let server = start_server(dir.path());
    let device = Device::new(&server.url);

    let (uri, _) = server.enroll("alice");
    let out = pair(&device, &uri);
    assert!(
        out.stdout
            .contains("Paired Tessera demo (alice@example.com)"),
        "{out}"
    );
    let (_, png) = server.enroll("bob");
    let qr = device.dir().join("bob.png");
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
    listen.write(&format!("{number}\napprove\n"));
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
    listen.write(&format!("{position}\napprove\n"));
    let out = listen.finish();
    assert_eq!(out.code, Some(0), "{out}");
    assert_eq!(server.state(&id)["state"], "approved");
}

#[test]
fn three_wrong_numbers_fail_the_prompt() {
    let dir = tempfile::tempdir().unwrap();
    let server = start_server(dir.path());
    let device = Device::new(&server.url);
    pair(&device, &server.enroll("carol").0);

    let mut listen = listen_once(&device, "carol");
    let (id, number) = server.prompt("carol", json!({}));
    listen.wait_for("Sign-in request from Example", 1);
    let wrong = if number == "000000" {
        "111111"
    } else {
        "000000"
    };
    listen.write(&format!("{wrong}\napprove\n"));
    listen.wait_for("Wrong number: 2 tries left", 1);
    assert_eq!(server.state(&id)["state"], "pending");
    listen.write(&format!("{wrong}\napprove\n{wrong}\napprove\n"));
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
    let server = start_server(dir.path());
    let device = Device::new(&server.url);
    pair(&device, &server.enroll("dave").0);

    let mut listen = listen_once(&device, "dave");
    let (id, _) = server.prompt("dave", json!({}));
    listen.wait_for("Sign-in request from Example", 1);
    listen.write("\ndeny\n");
    let out = listen.finish();
    assert_eq!(out.code, Some(0), "{out}");
    assert!(out.stdout.contains("Denied."), "{out}");
    assert_eq!(server.state(&id)["state"], "denied");

    let mut listen = listen_once(&device, "dave");
    let (id, _) = server.prompt("dave", json!({}));
    listen.wait_for("Sign-in request from Example", 1);
    listen.write("\nfraud\n");
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
    let server = start_server(dir.path());
    // Without a known time the device shows the prompt, says so, and its
    // own timer (on the system clock) still ends the wait.
    let device = Device::new("");
    pair(&device, &server.enroll("erin").0);

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
    let server = start_server(dir.path());
    let (uri, _) = server.enroll("frank");
    pair(&Device::new(&server.url), &uri);

    let other = Device::new(&server.url);
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
    let server = start_server(dir.path());
    let device = Device::new(&server.url);
    pair(&device, &server.enroll("grace").0);
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
    let mut server = start_server(dir.path());
    let device = Device::new(&server.url);
    pair(&device, &server.enroll("heidi").0);
    pair(&device, &server.enroll("ivan").0);

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
    let mut server = start_server(dir.path());
    let device = Device::new(&server.url);
    pair(&device, &server.enroll("judy").0);

    let mut listen = listen_once(&device, "judy");
    let (id, number) = server.prompt("judy", json!({"ttl": 120}));
    listen.wait_for("Sign-in request from Example", 1);

    let port = server.port;
    server.kill();
    listen.wait_for("connection lost", 1);
    let server = Server::start_on(dir.path(), port, API_KEY);
    listen.wait_for("reconnected to", 1);
    listen.write(&format!("{number}\napprove\n"));
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
    let device = Device::new("");
    let out = pair(&device, &forger.uri);
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
