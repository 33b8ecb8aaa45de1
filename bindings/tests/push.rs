//! Push approval through the exported API, against the real reference
//! server: a `tessera-server` process on a loopback port with its own
//! database, driven through its relying-party API (docs/push-protocol.md
//! §10.1) as a site would.
//!
//! The server binary is `TESSERA_SERVER_BIN` when set, else built through
//! Cargo once per test process (with the profile of this test).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use serde_json::{Value, json};
use tessera_ffi::{
    AnswerOutcome, Authenticator, AuthenticatorConfig, PromptMode, PushDecision, PushDelivery,
    PushEvent, PushPrompt, PushSubscription, TesseraError,
};

const API_KEY: &str = "ffi-test-api-key-0123456789abcdef";
const WAIT: Duration = Duration::from_secs(30);

// ------------------------------------------------------------ the server

/// The server binary: `TESSERA_SERVER_BIN`, or built through Cargo.
fn server_bin() -> &'static Path {
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
struct Server {
    child: Child,
    url: String,
    dir: tempfile::TempDir,
}

impl Server {
    fn start() -> Self {
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
    fn rp(&self, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
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
    fn enroll(&self, user: &str) -> String {
        let (status, body) = self.rp(
            "POST",
            &format!("/v1/rp/users/{user}/devices/enroll"),
            Some(json!({ "account": format!("{user}@example.com") })),
        );
        assert_eq!(status, 201, "enroll: {body}");
        body["enrollment_uri"].as_str().unwrap().to_string()
    }

    /// Creates a prompt for `user`; returns its id and number.
    fn prompt(&self, user: &str, mode: &str) -> (String, String) {
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
    fn outcome(&self, id: &str) -> Value {
        let (status, body) = self.rp("GET", &format!("/v1/rp/prompts/{id}"), None);
        assert_eq!(status, 200, "prompt outcome: {body}");
        body
    }

    /// The devices of `user`, as the relying party lists them.
    fn devices(&self, user: &str) -> Vec<Value> {
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

fn dechunk(mut data: &[u8]) -> Vec<u8> {
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

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

/// An app with an unlocked, password-protected vault and no time sources
/// (the time is unknown: the server judges expiry).
fn new_app() -> (tempfile::TempDir, Arc<Authenticator>) {
    let dir = tempfile::tempdir().unwrap();
    let app = Authenticator::new(
        AuthenticatorConfig {
            data_dir: dir.path().display().to_string(),
            use_platform_keystore: false,
            time_sources: Some(Vec::new()),
            time_correction: true,
        },
        None,
    )
    .unwrap();
    app.create_vault(Some("pw".into())).unwrap();
    (dir, app)
}

/// The next event that is not about the connection, within [`WAIT`].
fn next_prompt(rt: &tokio::runtime::Runtime, subscription: &PushSubscription) -> PushPrompt {
    rt.block_on(async {
        loop {
            match tokio::time::timeout(WAIT, subscription.next()).await {
                Ok(Some(PushEvent::Prompt { prompt })) => return prompt,
                Ok(Some(PushEvent::Connected | PushEvent::Disconnected { .. })) => {}
                other => panic!("expected a prompt, got {other:?}"),
            }
        }
    })
}

fn wrong(number: &str) -> String {
    number
        .chars()
        .map(|c| if c == '9' { '0' } else { '9' })
        .collect()
}

#[test]
fn pair_stream_answer_and_unpair() {
    let server = Server::start();
    let rt = runtime();
    let (_dir, app) = new_app();
    let uri = server.enroll("alice");

    let paired = rt
        .block_on(app.pair_push(uri, "Test phone".into(), PushDelivery::Stream))
        .unwrap();
    assert_eq!(paired.issuer, "Example");
    assert_eq!(paired.label, "alice@example.com");
    assert_eq!(paired.user, "alice");
    assert_eq!(paired.server, server.url);
    assert_eq!(paired.device_name, "Test phone");
    assert!(!paired.has_codes);
    assert_eq!(app.push_accounts().unwrap(), vec![paired.clone()]);
    let accounts = app.accounts().unwrap();
    assert_eq!(accounts.len(), 1);
    assert_eq!(accounts[0].kind, None, "a push-only account");
    let account = paired.account_id.clone();

    // The stream: connected, then the prompt the site creates.
    let subscription = app.subscribe_push(account.clone()).unwrap();
    assert_eq!(subscription.account_id(), account);
    let first = rt.block_on(async { tokio::time::timeout(WAIT, subscription.next()).await });
    assert_eq!(first.unwrap(), Some(PushEvent::Connected));
    let (id, number) = server.prompt("alice", "entry");
    let prompt = next_prompt(&rt, &subscription);
    assert_eq!(prompt.id, id);
    assert_eq!(prompt.account_id, account);
    assert_eq!(prompt.site, "Example");
    assert_eq!(prompt.user, "alice");
    assert_eq!(prompt.ip.as_deref(), Some("203.0.113.7"));
    assert_eq!(prompt.location.as_deref(), Some("Lyon, FR"));
    assert_eq!(prompt.user_agent, None);
    assert_eq!(prompt.app.as_deref(), Some("Web login"));
    assert_eq!(prompt.mode, PromptMode::Entry);
    assert!(prompt.choices.is_empty(), "the number is never sent");
    assert_eq!(prompt.expires_at - prompt.issued_at, 120);
    assert!((100..=120).contains(&prompt.seconds_left), "{prompt:?}");
    assert!(!prompt.time_checked, "no time sources: the time is unknown");
    let pending = rt.block_on(app.pending_prompts(account.clone())).unwrap();
    assert_eq!(pending.len(), 1);
    assert_eq!(pending[0].id, id);

    // A wrong number costs a try; the right one approves.
    let outcome = rt
        .block_on(app.answer_prompt(
            account.clone(),
            id.clone(),
            PushDecision::Approve,
            Some(wrong(&number)),
        ))
        .unwrap();
    assert_eq!(outcome, AnswerOutcome::WrongNumber { attempts_left: 2 });
    assert_eq!(server.outcome(&id)["state"], "pending");
    let error = rt
        .block_on(app.answer_prompt(account.clone(), id.clone(), PushDecision::Approve, None))
        .unwrap_err();
    assert!(
        matches!(error, TesseraError::InvalidInput { .. }),
        "{error:?}"
    );
    let outcome = rt
        .block_on(app.answer_prompt(
            account.clone(),
            id.clone(),
            PushDecision::Approve,
            Some(number.clone()),
        ))
        .unwrap();
    assert_eq!(outcome, AnswerOutcome::Approved);
    let seen = server.outcome(&id);
    assert_eq!(seen["state"], "approved");
    assert_eq!(seen["device_id"], paired.device_id.as_str());
    // Settled: answering again is an outcome, fetching it an error.
    let again = rt
        .block_on(app.answer_prompt(account.clone(), id.clone(), PushDecision::Deny, None))
        .unwrap();
    assert_eq!(again, AnswerOutcome::Finished);
    let error = rt
        .block_on(app.fetch_prompt(account.clone(), id.clone()))
        .unwrap_err();
    assert!(
        matches!(error, TesseraError::PromptUnavailable { .. }),
        "{error:?}"
    );

    // A wake-up (as FCM or APNs would bring it) -> fetch -> deny.
    let (id, number) = server.prompt("alice", "entry");
    let payload = format!(r#"{{"aps":{{"content-available":1}},"prompt_id":"{id}"}}"#);
    let woken = app.handle_push_payload(payload.into_bytes()).unwrap();
    assert_eq!(woken, id);
    let fetched = rt
        .block_on(app.fetch_prompt(account.clone(), woken.clone()))
        .unwrap();
    assert_eq!(fetched.id, id);
    assert_eq!(fetched.site, "Example");
    let outcome = rt
        .block_on(app.answer_prompt(account.clone(), woken, PushDecision::Deny, None))
        .unwrap();
    assert_eq!(outcome, AnswerOutcome::Denied);
    assert_eq!(server.outcome(&id)["state"], "denied");
    // The stream brought it too; nothing in an error tells the number.
    assert_eq!(next_prompt(&rt, &subscription).id, id);
    let error = rt
        .block_on(app.fetch_prompt(account.clone(), id))
        .unwrap_err();
    assert!(!error.to_string().contains(&number));

    // Choice mode: the number is picked among three.
    let (id, number) = server.prompt("alice", "choice");
    let prompt = next_prompt(&rt, &subscription);
    assert_eq!(prompt.mode, PromptMode::Choice);
    assert_eq!(prompt.choices.len(), 3);
    assert!(prompt.choices.contains(&number));
    let not_offered = rt
        .block_on(app.answer_prompt(
            account.clone(),
            id.clone(),
            PushDecision::Approve,
            Some(wrong(&number)),
        ))
        .unwrap_err();
    assert!(matches!(not_offered, TesseraError::InvalidInput { .. }));
    let outcome = rt
        .block_on(app.answer_prompt(
            account.clone(),
            id.clone(),
            PushDecision::Approve,
            Some(number),
        ))
        .unwrap();
    assert_eq!(outcome, AnswerOutcome::Approved);

    // A new FCM token reaches the server.
    rt.block_on(app.update_push_delivery(
        account.clone(),
        PushDelivery::Fcm {
            token: "fcm-registration-token-for-tests".into(),
        },
    ))
    .unwrap();
    let devices = server.devices("alice");
    assert_eq!(devices.len(), 1);
    assert_eq!(devices[0]["delivery"], "fcm");

    // cancel() ends the stream, now and later.
    subscription.cancel();
    let ended = rt.block_on(async { tokio::time::timeout(WAIT, subscription.next()).await });
    assert_eq!(ended.unwrap(), None);

    // Unpair: the server revokes the device; the push-only account goes.
    assert!(
        rt.block_on(app.unpair_push(account.clone(), false))
            .unwrap()
    );
    assert!(app.push_accounts().unwrap().is_empty());
    assert!(app.accounts().unwrap().is_empty());
    assert!(!server.devices("alice")[0]["revoked_at"].is_null());
    assert_eq!(
        rt.block_on(app.unpair_push(account.clone(), false))
            .unwrap_err(),
        TesseraError::AccountNotFound { id: account }
    );
}

#[test]
fn cancel_wakes_a_waiting_next() {
    let server = Server::start();
    let rt = runtime();
    let (_dir, app) = new_app();
    let paired = rt
        .block_on(app.pair_push(server.enroll("bob"), "Phone".into(), PushDelivery::Stream))
        .unwrap();
    let subscription = app.subscribe_push(paired.account_id.clone()).unwrap();
    let waiting = {
        let subscription = Arc::clone(&subscription);
        rt.spawn(async move {
            let mut events = Vec::new();
            while let Some(event) = subscription.next().await {
                events.push(event);
            }
            events
        })
    };
    // Let it connect and wait, then cancel from another thread.
    std::thread::sleep(Duration::from_millis(500));
    let canceller = {
        let subscription = Arc::clone(&subscription);
        std::thread::spawn(move || subscription.cancel())
    };
    canceller.join().unwrap();
    let events = rt
        .block_on(async { tokio::time::timeout(WAIT, waiting).await })
        .expect("next() returned after cancel()")
        .unwrap();
    assert!(
        events.iter().all(|e| matches!(e, PushEvent::Connected)),
        "{events:?}"
    );
    assert_eq!(rt.block_on(subscription.next()), None);
    subscription.cancel();

    // A subscription cancelled before it ever connected never does.
    let unused = app.subscribe_push(paired.account_id).unwrap();
    unused.cancel();
    assert_eq!(rt.block_on(unused.next()), None);
}

#[test]
fn pairing_is_checked_before_the_code_is_used() {
    let server = Server::start();
    let rt = runtime();
    let (_dir, app) = new_app();

    // Attached beside the codes of the same issuer and label.
    app.add_uri(
        "otpauth://totp/Example:carol@example.com?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&issuer=Example"
            .into(),
    )
    .unwrap();
    let paired = rt
        .block_on(app.pair_push(server.enroll("carol"), "Phone".into(), PushDelivery::Stream))
        .unwrap();
    assert!(paired.has_codes);
    assert_eq!(app.accounts().unwrap().len(), 1);

    // Already paired: refused here, and the site's code is not used up.
    let uri = server.enroll("carol");
    let error = rt
        .block_on(app.pair_push(uri.clone(), "Phone".into(), PushDelivery::Stream))
        .unwrap_err();
    assert!(
        matches!(&error, TesseraError::InvalidInput { reason } if reason.contains("already paired")),
        "{error:?}"
    );
    let code = uri
        .split("code=")
        .nth(1)
        .unwrap()
        .split('&')
        .next()
        .unwrap()
        .to_string();
    assert!(!error.to_string().contains(&code));
    let (_other_dir, other) = new_app();
    rt.block_on(other.pair_push(uri.clone(), "Tablet".into(), PushDelivery::Stream))
        .expect("the code still works elsewhere");
    // Used now: refused by the server, without the code in the reason.
    let (_third_dir, third) = new_app();
    let error = rt
        .block_on(third.pair_push(uri, "Laptop".into(), PushDelivery::Stream))
        .unwrap_err();
    assert!(
        matches!(error, TesseraError::PairingRefused { .. }),
        "{error:?}"
    );
    assert!(!error.to_string().contains(&code));

    // Unpairing keeps an account with codes.
    assert!(
        rt.block_on(app.unpair_push(paired.account_id.clone(), false))
            .unwrap()
    );
    assert_eq!(app.accounts().unwrap().len(), 1);
    assert!(app.push_accounts().unwrap().is_empty());
    let error = rt
        .block_on(app.pending_prompts(paired.account_id))
        .unwrap_err();
    assert!(matches!(error, TesseraError::InvalidInput { .. }));
}

#[test]
fn fraud_reports_and_revocation() {
    let server = Server::start();
    let rt = runtime();
    let (_dir, app) = new_app();
    let paired = rt
        .block_on(app.pair_push(server.enroll("dave"), "Phone".into(), PushDelivery::Stream))
        .unwrap();
    let account = paired.account_id.clone();
    let (id, _) = server.prompt("dave", "entry");
    let outcome = rt
        .block_on(app.answer_prompt(account.clone(), id.clone(), PushDecision::Fraud, None))
        .unwrap();
    assert_eq!(outcome, AnswerOutcome::FraudReported);
    let seen = server.outcome(&id);
    assert_eq!(seen["state"], "fraud_reported");
    assert_eq!(seen["fraud_reported"], true);

    // The site revokes the device: the stream says so and ends.
    let subscription = app.subscribe_push(account.clone()).unwrap();
    let first = rt.block_on(async { tokio::time::timeout(WAIT, subscription.next()).await });
    assert_eq!(first.unwrap(), Some(PushEvent::Connected));
    let (status, body) = server.rp(
        "DELETE",
        &format!("/v1/rp/users/dave/devices/{}", paired.device_id),
        None,
    );
    assert_eq!(status, 200, "{body}");
    let revoked = rt.block_on(async { tokio::time::timeout(WAIT, subscription.next()).await });
    assert!(
        matches!(revoked.unwrap(), Some(PushEvent::Revoked { .. })),
        "revoked"
    );
    assert_eq!(rt.block_on(subscription.next()), None);
    let error = rt
        .block_on(app.pending_prompts(account.clone()))
        .unwrap_err();
    assert!(
        matches!(error, TesseraError::DeviceRevoked { .. }),
        "{error:?}"
    );
    // The server counts a revoked device as unpaired already.
    assert!(rt.block_on(app.unpair_push(account, false)).unwrap());
    assert!(app.push_accounts().unwrap().is_empty());
}

#[test]
fn an_unreachable_server_needs_force_to_unpair() {
    let server = Server::start();
    let rt = runtime();
    let (_dir, app) = new_app();
    let paired = rt
        .block_on(app.pair_push(server.enroll("erin"), "Phone".into(), PushDelivery::Stream))
        .unwrap();
    drop(server);
    let error = rt
        .block_on(app.unpair_push(paired.account_id.clone(), false))
        .unwrap_err();
    assert!(
        matches!(error, TesseraError::PushNetwork { .. }),
        "{error:?}"
    );
    assert_eq!(app.push_accounts().unwrap().len(), 1, "nothing changed");
    assert!(
        !rt.block_on(app.unpair_push(paired.account_id, true))
            .unwrap()
    );
    assert!(app.push_accounts().unwrap().is_empty());
}

#[test]
fn payloads_and_inputs_are_checked_strictly() {
    let (_dir, app) = new_app();
    for payload in [
        &b""[..],
        b"[]",
        b"{}",
        b"{\"prompt_id\":1}",
        b"{\"prompt_id\":\"../x\"}",
        b"{\"prompt_id\":\"a\",\"prompt_id\":\"b\"}",
    ] {
        let error = app.handle_push_payload(payload.to_vec()).unwrap_err();
        assert!(
            matches!(error, TesseraError::InvalidPushPayload { .. }),
            "{error:?}"
        );
    }
    // Locked or not, a payload is read without the vault.
    app.lock();
    assert_eq!(
        app.handle_push_payload(br#"{"prompt_id":"abc"}"#.to_vec())
            .unwrap(),
        "abc"
    );
    assert_eq!(app.push_accounts().unwrap_err(), TesseraError::Locked);
    assert!(matches!(
        app.subscribe_push("x".into()).err().unwrap(),
        TesseraError::Locked
    ));
    app.unlock_with_password("pw".into()).unwrap();

    let rt = runtime();
    let error = rt
        .block_on(app.pair_push(
            "tessera-push://pair?v=1&server=https%3A%2F%2Fpush.example.com&codeSECRETCODE".into(),
            "Phone".into(),
            PushDelivery::Stream,
        ))
        .unwrap_err();
    match &error {
        TesseraError::InvalidInput { reason } => assert!(!reason.contains("SECRETCODE")),
        other => panic!("unexpected {other:?}"),
    }
    let error = rt
        .block_on(app.fetch_prompt("no-such-account".into(), "p".into()))
        .unwrap_err();
    assert!(matches!(error, TesseraError::AccountNotFound { .. }));
    assert!(
        format!(
            "{:?}",
            PushDelivery::Fcm {
                token: "tok-123".into()
            }
        )
        .contains("redacted")
    );
}
