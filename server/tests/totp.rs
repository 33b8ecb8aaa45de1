//! TOTP verification over HTTP, against the real `tessera-server` binary
//! (`docs/push-protocol.md` §10.1): each test starts the server on a free
//! port with a fresh database and computes codes with core's OTP engine,
//! as a user's authenticator would.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead as _, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use bytes::Bytes;
use http_body_util::{BodyExt as _, Full};
use hyper::{Method, Request, StatusCode};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde_json::{Value, json};
use tessera_core::otp::OtpGenerator;
use tessera_core::otpauth::OtpauthUri;

const API_KEY: &str = "test-api-key-0123456789abcdef";

/// A running server, killed when dropped.
struct Server {
    child: Child,
    base: String,
    client: Client<HttpConnector, Full<Bytes>>,
    _dir: tempfile::TempDir,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// An answer: status, `Retry-After` if any, JSON body.
struct Answer {
    status: StatusCode,
    retry_after: Option<u64>,
    body: Value,
}

impl Server {
    fn start() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let mut child = Command::new(env!("CARGO_BIN_EXE_tessera-server"))
            .arg("--listen")
            .arg("127.0.0.1:0")
            .arg("--database")
            .arg(dir.path().join("server.db"))
            .arg("--issuer")
            .arg("Example")
            .env("TESSERA_SERVER_API_KEYS", API_KEY)
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("the server binary starts");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let base = line
            .trim()
            .strip_prefix("tessera-server listening on ")
            .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
            .to_string();
        Self {
            child,
            base,
            client: Client::builder(TokioExecutor::new()).build_http(),
            _dir: dir,
        }
    }

    async fn call(&self, method: Method, path: &str, key: Option<&str>, body: Value) -> Answer {
        let mut request = Request::builder()
            .method(method)
            .uri(format!("{}{path}", self.base));
        if let Some(key) = key {
            request = request.header("authorization", format!("Bearer {key}"));
        }
        let body = if body.is_null() {
            Bytes::new()
        } else {
            request = request.header("content-type", "application/json");
            Bytes::from(body.to_string())
        };
        let response = self
            .client
            .request(request.body(Full::new(body)).unwrap())
            .await
            .unwrap();
        let status = response.status();
        let retry_after = response
            .headers()
            .get("retry-after")
            .map(|v| v.to_str().unwrap().parse().unwrap());
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        let body = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes).unwrap()
        };
        Answer {
            status,
            retry_after,
            body,
        }
    }

    /// Enrolls `user` and returns the generator an authenticator app would
    /// build from the otpauth URI.
    async fn enroll(&self, user: &str, options: Value) -> (OtpGenerator, Value) {
        let answer = self
            .call(
                Method::POST,
                &format!("/v1/rp/users/{user}/totp/enroll"),
                Some(API_KEY),
                options,
            )
            .await;
        assert_eq!(answer.status, StatusCode::CREATED, "{}", answer.body);
        let uri = answer.body["otpauth_uri"].as_str().unwrap();
        let parsed = OtpauthUri::parse(uri).unwrap().uri;
        let generator = OtpGenerator::new(parsed.params, &parsed.secret).unwrap();
        (generator, answer.body)
    }

    async fn verify(&self, user: &str, code: &str) -> Answer {
        self.call(
            Method::POST,
            &format!("/v1/rp/users/{user}/totp/verify"),
            Some(API_KEY),
            json!({"code": code}),
        )
        .await
    }
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// Waits, if needed, so that at least 5 s remain in the current time step:
/// the code computed here and the server's check then fall in the same step.
async fn settle(period: u64) {
    let into = now() % period;
    if into + 5 >= period {
        tokio::time::sleep(Duration::from_secs(period - into + 1)).await;
    }
}

/// The code `offset` steps from the current one.
fn code(generator: &OtpGenerator, offset: i64) -> String {
    let period = u64::from(generator.params().period);
    let step = (now() / period).checked_add_signed(offset).unwrap();
    generator.code_for_counter(step)
}

/// A code of the right length that is none of the window's codes.
fn wrong_code(generator: &OtpGenerator) -> String {
    let taken: Vec<String> = (-1..=1).map(|o| code(generator, o)).collect();
    (0..)
        .map(|n: u32| format!("{:06}", n * 111_111 % 1_000_000))
        .find(|c| !taken.contains(c))
        .unwrap()
}

fn error_code(answer: &Answer) -> &str {
    answer.body["error"].as_str().unwrap_or_default()
}

#[tokio::test]
async fn enroll_then_verify_once_then_replay_is_refused() {
    let server = Server::start();
    let (generator, body) = server
        .enroll("alice", json!({"account": "alice@example.com"}))
        .await;
    let uri = body["otpauth_uri"].as_str().unwrap();
    let parsed = OtpauthUri::parse(uri).unwrap().uri;
    assert_eq!(parsed.issuer, "Example");
    assert_eq!(parsed.label, "alice@example.com");
    assert_eq!(parsed.secret.bits(), 160);
    assert_eq!(
        (parsed.params.digits, parsed.params.period),
        (6, 30),
        "RFC 6238 defaults"
    );
    // The QR codes carry the same URI.
    let png = STANDARD.decode(body["qr_png"].as_str().unwrap()).unwrap();
    assert_eq!(
        tessera_core::qr::decode_image(&png).unwrap(),
        vec![uri.to_string()]
    );
    assert!(body["qr_svg"].as_str().unwrap().contains("<svg"));

    settle(30).await;
    let current = code(&generator, 0);
    let answer = server.verify("alice", &current).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    assert_eq!(answer.body, json!({"valid": true, "drift": 0}));

    let again = server.verify("alice", &current).await;
    assert_eq!(again.status, StatusCode::CONFLICT);
    assert_eq!(error_code(&again), "totp_replayed");
}

#[tokio::test]
async fn neighbouring_steps_are_accepted_and_recorded_as_drift() {
    let server = Server::start();
    for offset in [-1i64, 1] {
        // Enrolling again replaces the secret and resets the drift.
        let (generator, _) = server.enroll("bob", Value::Null).await;
        settle(30).await;
        let answer = server.verify("bob", &code(&generator, offset)).await;
        assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
        assert_eq!(answer.body, json!({"valid": true, "drift": offset}));
    }
    for offset in [-2i64, 2] {
        let (generator, _) = server.enroll("bob", Value::Null).await;
        settle(30).await;
        let answer = server.verify("bob", &code(&generator, offset)).await;
        assert_eq!(
            answer.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{}",
            answer.body
        );
        assert_eq!(error_code(&answer), "totp_invalid");
    }
}

#[tokio::test]
async fn reenrolling_replaces_the_secret() {
    let server = Server::start();
    let (old, _) = server.enroll("erin", Value::Null).await;
    let (new, _) = server.enroll("erin", Value::Null).await;
    settle(30).await;
    let stale = code(&old, 0);
    if stale != code(&new, 0) {
        let answer = server.verify("erin", &stale).await;
        assert_eq!(error_code(&answer), "totp_invalid");
    }
    // Typed the way apps show it, "123 456".
    let current = code(&new, 0);
    let spaced = format!("{} {}", &current[..3], &current[3..]);
    let answer = server.verify("erin", &spaced).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
}

#[tokio::test]
async fn five_wrong_codes_lock_verification() {
    let server = Server::start();
    let (generator, _) = server.enroll("carol", Value::Null).await;
    settle(30).await;
    let wrong = wrong_code(&generator);
    for attempt in 1..=4 {
        let answer = server.verify("carol", &wrong).await;
        assert_eq!(
            answer.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "attempt {attempt}: {}",
            answer.body
        );
        assert_eq!(error_code(&answer), "totp_invalid");
    }
    let fifth = server.verify("carol", &wrong).await;
    assert_eq!(
        fifth.status,
        StatusCode::TOO_MANY_REQUESTS,
        "{}",
        fifth.body
    );
    assert_eq!(error_code(&fifth), "totp_locked");
    assert_eq!(fifth.retry_after, Some(30));
    // While locked, even the right code is refused.
    let right = server.verify("carol", &code(&generator, 0)).await;
    assert_eq!(right.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(error_code(&right), "totp_locked");
    let retry = right.retry_after.unwrap();
    assert!((1..=30).contains(&retry), "Retry-After {retry}");
}

#[tokio::test]
async fn two_concurrent_verifications_of_one_code_pass_once() {
    let server = Server::start();
    let (generator, _) = server.enroll("frank", Value::Null).await;
    settle(30).await;
    let current = code(&generator, 0);
    let (first, second) = tokio::join!(
        server.verify("frank", &current),
        server.verify("frank", &current)
    );
    let mut statuses = [first.status, second.status];
    statuses.sort();
    assert_eq!(statuses, [StatusCode::OK, StatusCode::CONFLICT]);
}

#[tokio::test]
async fn enrollment_options_are_honoured_and_checked() {
    let server = Server::start();
    let (generator, body) = server
        .enroll(
            "grace",
            json!({"digits": 8, "period": 60, "algorithm": "SHA256"}),
        )
        .await;
    let uri = body["otpauth_uri"].as_str().unwrap();
    assert!(uri.contains("digits=8") && uri.contains("period=60") && uri.contains("SHA256"));
    settle(60).await;
    let answer = server.verify("grace", &code(&generator, 0)).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);

    for bad in [
        json!({"digits": 5}),
        json!({"period": 0}),
        json!({"algorithm": "MD5"}),
        json!({"colour": "red"}),
    ] {
        let answer = server
            .call(
                Method::POST,
                "/v1/rp/users/grace/totp/enroll",
                Some(API_KEY),
                bad.clone(),
            )
            .await;
        assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{bad}");
        assert_eq!(error_code(&answer), "bad_request");
    }
}

#[tokio::test]
async fn disable_removes_the_enrollment() {
    let server = Server::start();
    let (generator, _) = server.enroll("dave", Value::Null).await;
    let answer = server
        .call(
            Method::DELETE,
            "/v1/rp/users/dave/totp",
            Some(API_KEY),
            Value::Null,
        )
        .await;
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(answer.body, json!({"disabled": true}));

    let verify = server.verify("dave", &code(&generator, 0)).await;
    assert_eq!(verify.status, StatusCode::NOT_FOUND);
    assert_eq!(error_code(&verify), "not_found");
    let again = server
        .call(
            Method::DELETE,
            "/v1/rp/users/dave/totp",
            Some(API_KEY),
            Value::Null,
        )
        .await;
    assert_eq!(again.status, StatusCode::NOT_FOUND);
    // Never enrolled at all.
    let nobody = server.verify("nobody", "123456").await;
    assert_eq!(error_code(&nobody), "not_found");
}

#[tokio::test]
async fn a_bad_api_key_is_refused() {
    let server = Server::start();
    let (generator, _) = server.enroll("heidi", Value::Null).await;
    for key in [None, Some("not-the-key-0123456789")] {
        for (method, path, body) in [
            (Method::POST, "/v1/rp/users/heidi/totp/enroll", Value::Null),
            (
                Method::POST,
                "/v1/rp/users/heidi/totp/verify",
                json!({"code": code(&generator, 0)}),
            ),
            (Method::DELETE, "/v1/rp/users/heidi/totp", Value::Null),
        ] {
            let answer = server.call(method.clone(), path, key, body).await;
            assert_eq!(answer.status, StatusCode::UNAUTHORIZED, "{method} {path}");
            assert_eq!(error_code(&answer), "bad_api_key");
        }
    }
    // Nothing was changed or used by the refused calls.
    settle(30).await;
    let answer = server.verify("heidi", &code(&generator, 0)).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
}
