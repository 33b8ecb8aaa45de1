//! The push adapters against local stand-ins for Web Push, FCM and APNs.
//!
//! Each stand-in is a small hyper server on 127.0.0.1 that checks what the
//! real service checks: the VAPID JWT verifies under the key in `k` (the
//! server key) with the endpoint's origin as `aud`; the FCM assertion
//! verifies under the service account's RSA key and the access token it
//! bought is the one used; the APNs provider token verifies under the `.p8`
//! key, the headers are right and HTTP/2 is spoken.
//!
//! `fixtures/fcm-test-key.pem` is a throwaway RSA key made for these tests
//! only, with `openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048
//! -out fcm-test-key.pem`; it protects nothing.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD as B64URL};
use bytes::Bytes;
use http_body_util::{BodyExt as _, Full};
use hyper::body::Incoming;
use hyper::header::HeaderMap;
use hyper::service::service_fn;
use hyper::{Request, Response, Version};
use hyper_util::rt::{TokioExecutor, TokioIo};
use ring::signature::{self, KeyPair as _};
use serde_json::{Value, json};
use tessera_core::push::SigningKey;
use tessera_server::notify::apns::ApnsConfig;
use tessera_server::notify::fcm::FcmConfig;
use tessera_server::notify::webpush::WebPushConfig;
use tessera_server::notify::{self, Delivery, Notifier, NotifyConfig, NotifyError, Wakeup};

const FCM_KEY_PEM: &str = include_str!("fixtures/fcm-test-key.pem");

/// One request a stand-in received.
#[derive(Debug, Clone)]
struct Seen {
    version: Version,
    method: String,
    path: String,
    headers: HeaderMap,
    body: Bytes,
}

impl Seen {
    fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .unwrap_or_else(|| panic!("no {name} header"))
            .to_str()
            .unwrap()
    }

    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap()
    }
}

/// Decides a stand-in's answer (status, body) to a request.
type Handler = Arc<dyn Fn(&Seen) -> (u16, String) + Send + Sync>;

/// A running stand-in: its address and every request it received.
struct StandIn {
    addr: SocketAddr,
    seen: Arc<Mutex<Vec<Seen>>>,
}

impl StandIn {
    /// Starts a stand-in on 127.0.0.1; `http2`: HTTP/2 with prior knowledge
    /// (h2c), else HTTP/1.1.
    async fn start(http2: bool, handler: Handler) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = seen.clone();
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                let log = log.clone();
                let handler = handler.clone();
                let service = service_fn(move |request: Request<Incoming>| {
                    let log = log.clone();
                    let handler = handler.clone();
                    async move {
                        let version = request.version();
                        let method = request.method().to_string();
                        let path = request.uri().path().to_string();
                        let headers = request.headers().clone();
                        let body = request.into_body().collect().await?.to_bytes();
                        let seen = Seen {
                            version,
                            method,
                            path,
                            headers,
                            body,
                        };
                        let (status, text) = handler(&seen);
                        log.lock().unwrap().push(seen);
                        Ok::<_, hyper::Error>(
                            Response::builder()
                                .status(status)
                                .header("content-type", "application/json")
                                .body(Full::new(Bytes::from(text)))
                                .unwrap(),
                        )
                    }
                });
                let io = TokioIo::new(stream);
                tokio::spawn(async move {
                    if http2 {
                        let _ = hyper::server::conn::http2::Builder::new(TokioExecutor::new())
                            .serve_connection(io, service)
                            .await;
                    } else {
                        let _ = hyper::server::conn::http1::Builder::new()
                            .serve_connection(io, service)
                            .await;
                    }
                });
            }
        });
        Self { addr, seen }
    }

    fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }
}

/// Answers from a queue, then `fallback` once it is empty.
fn scripted(replies: Vec<(u16, &str)>, fallback: (u16, &str)) -> Handler {
    let queue: Mutex<VecDeque<(u16, String)>> = Mutex::new(
        replies
            .into_iter()
            .map(|(s, b)| (s, b.to_string()))
            .collect(),
    );
    let fallback = (fallback.0, fallback.1.to_string());
    Arc::new(move |_: &Seen| {
        queue
            .lock()
            .unwrap()
            .pop_front()
            .unwrap_or_else(|| fallback.clone())
    })
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn wakeup() -> Wakeup {
    Wakeup {
        device_id: "device-1".into(),
        prompt_id: "prompt-42".into(),
    }
}

/// A port nothing listens on.
async fn closed_port() -> u16 {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    listener.local_addr().unwrap().port()
}

/// Splits a compact JWS and decodes its header and payload.
fn jwt_parts(token: &str) -> (Value, Value, String, Vec<u8>) {
    let parts: Vec<&str> = token.split('.').collect();
    assert_eq!(parts.len(), 3, "a compact JWS has three parts");
    let header = serde_json::from_slice(&B64URL.decode(parts[0]).unwrap()).unwrap();
    let claims = serde_json::from_slice(&B64URL.decode(parts[1]).unwrap()).unwrap();
    let signing_input = format!("{}.{}", parts[0], parts[1]);
    (
        header,
        claims,
        signing_input,
        B64URL.decode(parts[2]).unwrap(),
    )
}

fn pem_der(pem: &str) -> Vec<u8> {
    let body: String = pem
        .lines()
        .filter(|l| !l.starts_with("-----"))
        .collect::<Vec<_>>()
        .concat();
    STANDARD.decode(body).unwrap()
}

fn pem(der: &[u8]) -> String {
    let encoded = STANDARD.encode(der);
    let lines: Vec<&str> = encoded
        .as_bytes()
        .chunks(64)
        .map(|c| std::str::from_utf8(c).unwrap())
        .collect();
    format!(
        "-----BEGIN PRIVATE KEY-----\n{}\n-----END PRIVATE KEY-----\n",
        lines.join("\n")
    )
}

fn webpush_only(allow_loopback: bool) -> NotifyConfig {
    NotifyConfig {
        webpush: WebPushConfig {
            subject: Some("mailto:ops@example.com".into()),
            allow_insecure_loopback: allow_loopback,
            ..WebPushConfig::default()
        },
        fcm: None,
        apns: None,
    }
}

// ---------------------------------------------------------------- Web Push

#[tokio::test]
async fn webpush_posts_the_prompt_id_with_a_valid_vapid_token() {
    let server_key = SigningKey::generate().unwrap();
    let service = StandIn::start(false, scripted(vec![], (201, ""))).await;
    let notifier = notify::build(&webpush_only(true), &server_key).unwrap();
    let endpoint = service.url("/up/subscription-abc?x=1");

    notifier
        .wake(&Delivery::Webpush { endpoint }, &wakeup())
        .await
        .unwrap();

    let seen = service.seen();
    assert_eq!(seen.len(), 1);
    let request = &seen[0];
    assert_eq!(request.method, "POST");
    assert_eq!(request.path, "/up/subscription-abc");
    assert_eq!(request.json(), json!({"prompt_id": "prompt-42"}));
    assert_eq!(request.header("ttl"), "120");
    assert_eq!(request.header("urgency"), "high");
    assert_eq!(request.header("content-type"), "application/json");

    // Authorization: vapid t=<JWT>, k=<public key> (RFC 8292 §3).
    let authorization = request.header("authorization");
    let rest = authorization.strip_prefix("vapid ").unwrap();
    let mut token = None;
    let mut key = None;
    for part in rest.split(',') {
        let (name, value) = part.trim().split_once('=').unwrap();
        match name {
            "t" => token = Some(value.to_string()),
            "k" => key = Some(value.to_string()),
            other => panic!("unexpected parameter {other}"),
        }
    }
    let key = B64URL.decode(key.unwrap()).unwrap();
    assert_eq!(key, server_key.public_key().sec1_uncompressed());
    let (header, claims, signing_input, signature) = jwt_parts(&token.unwrap());
    assert_eq!(header["alg"], "ES256");
    assert_eq!(header["typ"], "JWT");
    // What a push service does: verify under `k`.
    signature::UnparsedPublicKey::new(&signature::ECDSA_P256_SHA256_FIXED, &key)
        .verify(signing_input.as_bytes(), &signature)
        .expect("the VAPID JWT verifies under the server key");
    assert_eq!(claims["aud"], format!("http://{}", service.addr));
    let exp = claims["exp"].as_u64().unwrap();
    assert!(exp > now() && exp <= now() + 24 * 3600, "exp within 24 h");
    assert_eq!(claims["sub"], "mailto:ops@example.com");
}

#[tokio::test]
async fn webpush_maps_answers_to_errors() {
    let server_key = SigningKey::generate().unwrap();
    let notifier = notify::build(&webpush_only(true), &server_key).unwrap();
    for (status, expected) in [
        (410, "unregistered"),
        (404, "unregistered"),
        (500, "failed"),
    ] {
        let service = StandIn::start(false, scripted(vec![], (status, ""))).await;
        let endpoint = service.url("/up/secret-endpoint-token");
        let error = notifier
            .wake(&Delivery::Webpush { endpoint }, &wakeup())
            .await
            .unwrap_err();
        match (expected, &error) {
            ("unregistered", NotifyError::Unregistered("webpush")) => {}
            ("failed", NotifyError::Failed { service, reason }) => {
                assert_eq!(*service, "webpush");
                assert!(reason.contains("500"), "{reason}");
            }
            _ => panic!("{status}: unexpected {error:?}"),
        }
        assert!(!error.to_string().contains("secret-endpoint-token"));
    }
}

#[tokio::test]
async fn webpush_unreachable_fails_without_naming_the_endpoint() {
    let server_key = SigningKey::generate().unwrap();
    let notifier = notify::build(&webpush_only(true), &server_key).unwrap();
    let port = closed_port().await;
    let endpoint = format!("http://127.0.0.1:{port}/up/secret-endpoint-token");
    let error = notifier
        .wake(&Delivery::Webpush { endpoint }, &wakeup())
        .await
        .unwrap_err();
    let NotifyError::Failed { service, reason } = &error else {
        panic!("unexpected {error:?}");
    };
    assert_eq!(*service, "webpush");
    assert!(reason.contains("connect"), "{reason}");
    let text = format!("{error} {error:?}");
    assert!(!text.contains("secret-endpoint-token"), "{text}");
    assert!(!text.contains(&port.to_string()), "{text}");
}

#[tokio::test]
async fn webpush_refuses_plain_http_unless_loopback_is_allowed() {
    let server_key = SigningKey::generate().unwrap();
    let service = StandIn::start(false, scripted(vec![], (201, ""))).await;
    let strict = notify::build(&webpush_only(false), &server_key).unwrap();
    let error = strict
        .wake(
            &Delivery::Webpush {
                endpoint: service.url("/up/x"),
            },
            &wakeup(),
        )
        .await
        .unwrap_err();
    assert!(matches!(error, NotifyError::Failed { .. }), "{error:?}");
    // Even with the test switch, http to a non-loopback host is refused
    // before any connection.
    let lax = notify::build(&webpush_only(true), &server_key).unwrap();
    let error = lax
        .wake(
            &Delivery::Webpush {
                endpoint: "http://192.0.2.1/up/x".into(),
            },
            &wakeup(),
        )
        .await
        .unwrap_err();
    assert!(error.to_string().contains("https"), "{error}");
    assert!(service.seen().is_empty());
}

#[tokio::test]
async fn kinds_without_an_adapter_are_not_configured_and_streams_are_a_no_op() {
    let server_key = SigningKey::generate().unwrap();
    let mut config = webpush_only(false);
    config.webpush.enabled = false;
    let notifier = notify::build(&config, &server_key).unwrap();
    notifier.wake(&Delivery::Stream, &wakeup()).await.unwrap();
    for (delivery, kind) in [
        (
            Delivery::Webpush {
                endpoint: "https://push.example.com/x".into(),
            },
            "webpush",
        ),
        (Delivery::Fcm { token: "t".into() }, "fcm"),
        (
            Delivery::Apns {
                token: "abcd".into(),
            },
            "apns",
        ),
    ] {
        let error = notifier.wake(&delivery, &wakeup()).await.unwrap_err();
        assert!(
            matches!(error, NotifyError::NotConfigured(k) if k == kind),
            "{error:?}"
        );
    }
}

// --------------------------------------------------------------------- FCM

const CLIENT_EMAIL: &str = "tessera-push@demo-project.iam.gserviceaccount.com";
const FCM_TOKEN: &str = "fcm-registration-token-secret";

/// An FCM + Google OAuth stand-in: `/token` checks the assertion and sells
/// numbered access tokens; `/v1/projects/demo-project/messages:send`
/// checks the bearer token is the latest sold and answers from `replies`.
fn fcm_handler(
    token_uri: Arc<Mutex<String>>,
    replies: Vec<(u16, &'static str)>,
) -> (Handler, Arc<Mutex<u32>>) {
    let der = pem_der(FCM_KEY_PEM);
    let pair = ring::signature::RsaKeyPair::from_pkcs8(&der).unwrap();
    let public = pair.public_key().as_ref().to_vec();
    let sold = Arc::new(Mutex::new(0u32));
    let counter = sold.clone();
    let replies = scripted(
        replies,
        (200, r#"{"name":"projects/demo-project/messages/1"}"#),
    );
    let handler: Handler = Arc::new(move |seen: &Seen| {
        if seen.path == "/token" {
            assert_eq!(seen.method, "POST");
            assert_eq!(
                seen.header("content-type"),
                "application/x-www-form-urlencoded"
            );
            let form = std::str::from_utf8(&seen.body).unwrap();
            let mut grant = None;
            let mut assertion = None;
            for pair in form.split('&') {
                let (name, value) = pair.split_once('=').unwrap();
                match name {
                    "grant_type" => grant = Some(value.to_string()),
                    "assertion" => assertion = Some(value.to_string()),
                    other => panic!("unexpected form field {other}"),
                }
            }
            assert_eq!(
                grant.unwrap(),
                "urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer"
            );
            let (header, claims, input, signature) = jwt_parts(&assertion.unwrap());
            assert_eq!(header["alg"], "RS256");
            signature::UnparsedPublicKey::new(&signature::RSA_PKCS1_2048_8192_SHA256, &public)
                .verify(input.as_bytes(), &signature)
                .expect("the assertion verifies under the service account key");
            assert_eq!(claims["iss"], CLIENT_EMAIL);
            assert_eq!(
                claims["scope"],
                "https://www.googleapis.com/auth/firebase.messaging"
            );
            assert_eq!(claims["aud"], *token_uri.lock().unwrap());
            let iat = claims["iat"].as_u64().unwrap();
            let exp = claims["exp"].as_u64().unwrap();
            assert!(iat.abs_diff(now()) <= 5);
            assert!(exp > iat && exp - iat <= 3600);
            let mut n = counter.lock().unwrap();
            *n += 1;
            return (
                200,
                json!({"access_token": format!("ya29.test-{n}"), "expires_in": 3599,
                       "token_type": "Bearer"})
                .to_string(),
            );
        }
        assert_eq!(seen.path, "/v1/projects/demo-project/messages:send");
        let sold_now = *counter.lock().unwrap();
        if seen.header("authorization") != format!("Bearer ya29.test-{sold_now}") {
            return (401, json!({"error": {"code": 401}}).to_string());
        }
        replies(seen)
    });
    (handler, sold)
}

/// Starts the FCM stand-in and a notifier configured for it.
async fn fcm_setup(
    replies: Vec<(u16, &'static str)>,
    dir: &Path,
) -> (StandIn, Arc<dyn Notifier>, Arc<Mutex<u32>>) {
    let token_uri = Arc::new(Mutex::new(String::new()));
    let (handler, sold) = fcm_handler(token_uri.clone(), replies);
    let service = StandIn::start(false, handler).await;
    *token_uri.lock().unwrap() = service.url("/token");
    let account = json!({
        "type": "service_account",
        "project_id": "demo-project",
        "private_key_id": "0123abcd",
        "private_key": FCM_KEY_PEM,
        "client_email": CLIENT_EMAIL,
        "token_uri": service.url("/token"),
    });
    let file = dir.join("service-account.json");
    std::fs::write(&file, account.to_string()).unwrap();
    let config = NotifyConfig {
        webpush: WebPushConfig::default(),
        fcm: Some(FcmConfig {
            service_account_file: file,
            project_id: None,
            api_base: service.url(""),
            token_uri: None,
            ttl: 120,
        }),
        apns: None,
    };
    let notifier = notify::build(&config, &SigningKey::generate().unwrap()).unwrap();
    (service, notifier, sold)
}

fn fcm_delivery() -> Delivery {
    Delivery::Fcm {
        token: FCM_TOKEN.into(),
    }
}

#[tokio::test]
async fn fcm_sends_a_data_message_and_caches_the_access_token() {
    let dir = tempfile::tempdir().unwrap();
    let (service, notifier, sold) = fcm_setup(vec![], dir.path()).await;

    notifier.wake(&fcm_delivery(), &wakeup()).await.unwrap();
    notifier.wake(&fcm_delivery(), &wakeup()).await.unwrap();

    assert_eq!(*sold.lock().unwrap(), 1, "the second send reuses the token");
    let sends: Vec<Seen> = service
        .seen()
        .into_iter()
        .filter(|s| s.path != "/token")
        .collect();
    assert_eq!(sends.len(), 2);
    for send in &sends {
        assert_eq!(send.method, "POST");
        assert_eq!(send.header("authorization"), "Bearer ya29.test-1");
        assert_eq!(
            send.json(),
            json!({"message": {
                "token": FCM_TOKEN,
                "data": {"prompt_id": "prompt-42"},
                "android": {"priority": "HIGH", "ttl": "120s"},
            }})
        );
    }
}

#[tokio::test]
async fn fcm_renews_the_token_once_on_401() {
    let dir = tempfile::tempdir().unwrap();
    let (service, notifier, sold) = fcm_setup(
        vec![(401, r#"{"error":{"code":401,"status":"UNAUTHENTICATED"}}"#)],
        dir.path(),
    )
    .await;
    notifier.wake(&fcm_delivery(), &wakeup()).await.unwrap();
    assert_eq!(*sold.lock().unwrap(), 2, "a fresh token after the 401");
    let sends = service
        .seen()
        .into_iter()
        .filter(|s| s.path != "/token")
        .count();
    assert_eq!(sends, 2, "one retry");

    // A service that keeps refusing is not retried forever.
    let (service, notifier, _) =
        fcm_setup(vec![(401, "{}"), (401, "{}"), (401, "{}")], dir.path()).await;
    let error = notifier.wake(&fcm_delivery(), &wakeup()).await.unwrap_err();
    assert!(error.to_string().contains("401"), "{error}");
    let sends = service
        .seen()
        .into_iter()
        .filter(|s| s.path != "/token")
        .count();
    assert_eq!(sends, 2);
}

#[tokio::test]
async fn fcm_maps_answers_to_errors() {
    let unregistered = r#"{"error":{"code":404,"message":"Requested entity was not found.",
        "status":"NOT_FOUND","details":[{"@type":"type.googleapis.com/google.firebase.fcm.v1.FcmError",
        "errorCode":"UNREGISTERED"}]}}"#;
    let invalid_token = r#"{"error":{"code":400,"message":"The registration token is not a valid FCM registration token",
        "status":"INVALID_ARGUMENT","details":[{"@type":"type.googleapis.com/google.firebase.fcm.v1.FcmError",
        "errorCode":"INVALID_ARGUMENT"},{"@type":"type.googleapis.com/google.rpc.BadRequest",
        "fieldViolations":[{"field":"message.token","description":"Invalid registration token"}]}]}}"#;
    let unavailable = r#"{"error":{"code":500,"status":"INTERNAL","details":[
        {"@type":"type.googleapis.com/google.firebase.fcm.v1.FcmError","errorCode":"INTERNAL"}]}}"#;
    let dir = tempfile::tempdir().unwrap();
    let (_service, notifier, _) = fcm_setup(
        vec![
            (404, unregistered),
            (400, invalid_token),
            (500, unavailable),
        ],
        dir.path(),
    )
    .await;
    let first = notifier.wake(&fcm_delivery(), &wakeup()).await.unwrap_err();
    assert!(
        matches!(first, NotifyError::Unregistered("fcm")),
        "{first:?}"
    );
    let second = notifier.wake(&fcm_delivery(), &wakeup()).await.unwrap_err();
    assert!(
        matches!(second, NotifyError::Unregistered("fcm")),
        "{second:?}"
    );
    let third = notifier.wake(&fcm_delivery(), &wakeup()).await.unwrap_err();
    let NotifyError::Failed { service, reason } = &third else {
        panic!("unexpected {third:?}");
    };
    assert_eq!(*service, "fcm");
    assert!(reason.contains("500"), "{reason}");
    for error in [first, second, third] {
        assert!(!format!("{error} {error:?}").contains(FCM_TOKEN));
    }
}

#[tokio::test]
async fn fcm_unreachable_fails_without_naming_the_token() {
    let dir = tempfile::tempdir().unwrap();
    let port = closed_port().await;
    let account = json!({
        "project_id": "demo-project",
        "private_key": FCM_KEY_PEM,
        "client_email": CLIENT_EMAIL,
        "token_uri": format!("http://127.0.0.1:{port}/token"),
    });
    let file = dir.path().join("service-account.json");
    std::fs::write(&file, account.to_string()).unwrap();
    let config = NotifyConfig {
        webpush: WebPushConfig::default(),
        fcm: Some(FcmConfig {
            service_account_file: file,
            project_id: None,
            api_base: format!("http://127.0.0.1:{port}"),
            token_uri: None,
            ttl: 120,
        }),
        apns: None,
    };
    let notifier = notify::build(&config, &SigningKey::generate().unwrap()).unwrap();
    let error = notifier.wake(&fcm_delivery(), &wakeup()).await.unwrap_err();
    assert!(
        matches!(error, NotifyError::Failed { service: "fcm", .. }),
        "{error:?}"
    );
    assert!(!format!("{error} {error:?}").contains(FCM_TOKEN));
}

#[test]
fn fcm_refuses_a_broken_service_account() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("service-account.json");
    std::fs::write(
        &file,
        json!({"project_id": "p", "client_email": CLIENT_EMAIL,
               "private_key": "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"})
        .to_string(),
    )
    .unwrap();
    let config = NotifyConfig {
        webpush: WebPushConfig::default(),
        fcm: Some(FcmConfig {
            service_account_file: file,
            project_id: None,
            api_base: "https://fcm.googleapis.com".into(),
            token_uri: None,
            ttl: 120,
        }),
        apns: None,
    };
    let error = notify::build(&config, &SigningKey::generate().unwrap())
        .err()
        .unwrap();
    assert!(error.to_string().contains("RSA key"), "{error}");
}

// -------------------------------------------------------------------- APNs

const APNS_TOKEN: &str = "a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f90";

/// Starts an h2c APNs stand-in answering from `replies`, and a notifier
/// with a fresh `.p8` key; returns the key to verify tokens with.
async fn apns_setup(
    replies: Vec<(u16, &'static str)>,
    dir: &Path,
) -> (StandIn, Arc<dyn Notifier>, SigningKey) {
    let service = StandIn::start(true, scripted(replies, (200, ""))).await;
    let key = SigningKey::generate().unwrap();
    let key_file = dir.join("AuthKey_ABC123DEFG.p8");
    std::fs::write(&key_file, pem(key.pkcs8())).unwrap();
    let config = NotifyConfig {
        webpush: WebPushConfig::default(),
        fcm: None,
        apns: Some(ApnsConfig {
            key_file,
            key_id: "ABC123DEFG".into(),
            team_id: "DEF123GHIJ".into(),
            topic: "com.example.tessera".into(),
            base_url: service.url(""),
            expiration: 120,
        }),
    };
    let notifier = notify::build(&config, &SigningKey::generate().unwrap()).unwrap();
    (service, notifier, key)
}

fn apns_delivery() -> Delivery {
    Delivery::Apns {
        token: APNS_TOKEN.into(),
    }
}

#[tokio::test]
async fn apns_speaks_http2_with_a_valid_provider_token() {
    let dir = tempfile::tempdir().unwrap();
    let (service, notifier, key) = apns_setup(vec![], dir.path()).await;

    notifier.wake(&apns_delivery(), &wakeup()).await.unwrap();
    notifier.wake(&apns_delivery(), &wakeup()).await.unwrap();

    let seen = service.seen();
    assert_eq!(seen.len(), 2);
    let request = &seen[0];
    assert_eq!(request.version, Version::HTTP_2);
    assert_eq!(request.method, "POST");
    assert_eq!(request.path, format!("/3/device/{APNS_TOKEN}"));
    assert_eq!(request.header("apns-topic"), "com.example.tessera");
    assert_eq!(request.header("apns-push-type"), "alert");
    assert_eq!(request.header("apns-priority"), "10");
    let expiration: u64 = request.header("apns-expiration").parse().unwrap();
    assert!(expiration.abs_diff(now() + 120) <= 5);
    assert_eq!(
        request.json(),
        json!({"aps": {"alert": {"title": "Sign-in request"}, "mutable-content": 1},
               "prompt_id": "prompt-42"})
    );

    let jwt = request
        .header("authorization")
        .strip_prefix("bearer ")
        .unwrap();
    let verified = tessera_core::push::jws::verify(jwt, key.public_key(), "JWT")
        .expect("the provider token verifies under the .p8 key");
    assert_eq!(verified.header.kid.as_deref(), Some("ABC123DEFG"));
    let claims: Value = serde_json::from_slice(&verified.payload).unwrap();
    assert_eq!(claims["iss"], "DEF123GHIJ");
    assert!(claims["iat"].as_u64().unwrap().abs_diff(now()) <= 5);
    // The token is cached: the second request carries the same one.
    assert_eq!(
        seen[1].header("authorization"),
        request.header("authorization")
    );
}

#[tokio::test]
async fn apns_maps_answers_to_errors() {
    let dir = tempfile::tempdir().unwrap();
    let (_service, notifier, _) = apns_setup(
        vec![
            (
                410,
                r#"{"reason":"Unregistered","timestamp":1790000000000}"#,
            ),
            (400, r#"{"reason":"BadDeviceToken"}"#),
            (500, r#"{"reason":"InternalServerError"}"#),
        ],
        dir.path(),
    )
    .await;
    let gone = notifier
        .wake(&apns_delivery(), &wakeup())
        .await
        .unwrap_err();
    assert!(
        matches!(gone, NotifyError::Unregistered("apns")),
        "{gone:?}"
    );
    let bad = notifier
        .wake(&apns_delivery(), &wakeup())
        .await
        .unwrap_err();
    assert!(matches!(bad, NotifyError::Unregistered("apns")), "{bad:?}");
    let failed = notifier
        .wake(&apns_delivery(), &wakeup())
        .await
        .unwrap_err();
    let NotifyError::Failed { service, reason } = &failed else {
        panic!("unexpected {failed:?}");
    };
    assert_eq!(*service, "apns");
    assert!(reason.contains("500") && reason.contains("InternalServerError"));
}

#[tokio::test]
async fn apns_renews_an_expired_provider_token_once() {
    let dir = tempfile::tempdir().unwrap();
    let (service, notifier, _) = apns_setup(
        vec![(403, r#"{"reason":"ExpiredProviderToken"}"#)],
        dir.path(),
    )
    .await;
    notifier.wake(&apns_delivery(), &wakeup()).await.unwrap();
    let seen = service.seen();
    assert_eq!(seen.len(), 2);
    assert_ne!(
        seen[0].header("authorization"),
        seen[1].header("authorization"),
        "a new provider token for the retry"
    );
}

#[tokio::test]
async fn apns_unreachable_fails_without_naming_the_token() {
    let dir = tempfile::tempdir().unwrap();
    let key = SigningKey::generate().unwrap();
    let key_file = dir.path().join("key.p8");
    std::fs::write(&key_file, pem(key.pkcs8())).unwrap();
    let port = closed_port().await;
    let config = NotifyConfig {
        webpush: WebPushConfig::default(),
        fcm: None,
        apns: Some(ApnsConfig {
            key_file,
            key_id: "ABC123DEFG".into(),
            team_id: "DEF123GHIJ".into(),
            topic: "com.example.tessera".into(),
            base_url: format!("http://127.0.0.1:{port}"),
            expiration: 120,
        }),
    };
    let notifier = notify::build(&config, &SigningKey::generate().unwrap()).unwrap();
    let error = notifier
        .wake(&apns_delivery(), &wakeup())
        .await
        .unwrap_err();
    assert!(
        matches!(
            error,
            NotifyError::Failed {
                service: "apns",
                ..
            }
        ),
        "{error:?}"
    );
    assert!(!format!("{error} {error:?}").contains(APNS_TOKEN));
}

#[tokio::test]
async fn apns_refuses_a_token_that_is_not_hex_before_sending() {
    let dir = tempfile::tempdir().unwrap();
    let (service, notifier, _) = apns_setup(vec![], dir.path()).await;
    let error = notifier
        .wake(
            &Delivery::Apns {
                token: "../../3/other".into(),
            },
            &wakeup(),
        )
        .await
        .unwrap_err();
    assert!(matches!(error, NotifyError::Unregistered("apns")));
    assert!(service.seen().is_empty());
}
