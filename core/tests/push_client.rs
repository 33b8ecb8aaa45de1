//! The device side of the push protocol through the public API: pairing
//! verification, the client against a small loopback HTTP server that
//! plays the push server (proofs checked, prompts signed by the right and
//! by a wrong key, answers, the stream with split chunks, reconnection with
//! `Last-Event-ID`, revocation), and push parts in the vault and backups.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tessera_core::http::Http;
use tessera_core::push::jws::{KeyRef, UnverifiedJws};
use tessera_core::push::messages::{self, PROOF_TYP};
use tessera_core::push::{
    AnswerClaims, AnswerOutcome, Decision, Delivery, DeviceTime, ENROLLMENT_TYP, KnownTime,
    MemoryReplayGuard, MessageError, PairingUri, PromptClaims, PromptContext, PromptFreshness,
    PromptMode, ProofClaims, ProofRequest, PushClient, PushError, PushEvent, SigningKey,
    UnknownTime, pair, verify_enrollment,
};
use tessera_core::transfer::{Export, Import, tessera_backup::TesseraBackup};
use tessera_core::{
    Account, CreateOptions, KdfParams, MemoryKeyStore, OtpauthUri, PushPart, PushPartFields,
    Unlock, Vault, VaultError,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

const CODE: &str = "AAAAAAAAAAAAAAAAAAAAAAAAAA";

/// Part of the base64url private key (past the common PKCS#8 prefix), as
/// the vault stores it.
fn key_text(part: &PushPart) -> String {
    use base64::Engine as _;
    let pkcs8 = part.device_key().unwrap().pkcs8().to_vec();
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&pkcs8)[48..90].to_string()
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn uri(server: &str, key: &SigningKey) -> PairingUri {
    PairingUri {
        server: server.into(),
        code: CODE.into(),
        fingerprint: key.public_key().thumbprint(),
        issuer: "Example".into(),
        account: "alice@example.com".into(),
    }
}

fn enrollment(signer: &SigningKey, named: &SigningKey, kid: &KeyRef, device_id: &str) -> String {
    let claims = serde_json::json!({
        "v": 1, "device_id": device_id, "user": "alice", "issuer": "Example Inc",
        "server_key": named.public_key(),
    });
    signer.sign_json(ENROLLMENT_TYP, kid, &claims).unwrap()
}

fn prompt_claims(id: &str, device_id: &str, mode: PromptMode) -> PromptClaims {
    PromptClaims {
        v: 1,
        prompt_id: id.into(),
        device_id: device_id.into(),
        user: "alice".into(),
        site: "Example".into(),
        context: PromptContext {
            ip: Some("203.0.113.7".into()),
            ..PromptContext::default()
        },
        mode,
        choices: (mode == PromptMode::Choice)
            .then(|| vec!["482913".into(), "105877".into(), "731200".into()]),
        iat: now(),
        exp: now() + 120,
        nonce: messages::random_id().unwrap(),
    }
}

// ------------------------------------------------------- enrollment checks

#[test]
fn enrollment_is_verified_against_the_qr_fingerprint() {
    let server = SigningKey::generate().unwrap();
    let other = SigningKey::generate().unwrap();
    let kid = KeyRef::Kid(server.public_key().thumbprint());
    let uri = uri("https://push.example.com", &server);

    let good = enrollment(&server, &server, &kid, "dev-1");
    let claims = verify_enrollment(&good, &uri).unwrap();
    assert_eq!(claims.device_id, "dev-1");
    assert_eq!(claims.user, "alice");
    assert_eq!(&claims.server_key, server.public_key());

    // A server that names another key than the QR code's: refused.
    let swapped = enrollment(&other, &other, &KeyRef::None, "dev-1");
    assert_eq!(
        verify_enrollment(&swapped, &uri),
        Err(PushError::KeyMismatch)
    );
    // Names the right key but is signed by another one.
    let forged = enrollment(&other, &server, &kid, "dev-1");
    assert_eq!(
        verify_enrollment(&forged, &uri),
        Err(PushError::BadEnrollment(MessageError::Jws(
            tessera_core::push::JwsError::BadSignature
        )))
    );
    // A kid that is not the fingerprint.
    let odd_kid = enrollment(&server, &server, &KeyRef::Kid("x".into()), "dev-1");
    assert_eq!(
        verify_enrollment(&odd_kid, &uri),
        Err(PushError::BadEnrollment(MessageError::WrongKid))
    );
    // The wrong type of token (a prompt), a bad device id, garbage.
    let prompt = server
        .sign_json("tessera-prompt+jwt", &kid, &serde_json::json!({}))
        .unwrap();
    assert!(matches!(
        verify_enrollment(&prompt, &uri),
        Err(PushError::BadEnrollment(_))
    ));
    let bad_id = enrollment(&server, &server, &kid, "../x");
    assert!(matches!(
        verify_enrollment(&bad_id, &uri),
        Err(PushError::BadEnrollment(_))
    ));
    assert!(verify_enrollment("not a jws", &uri).is_err());
}

// ------------------------------------------------------- a fake push server

/// One request as the fake server read it.
#[derive(Debug, Clone)]
struct Req {
    method: String,
    path: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Req {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// What the fake server answers.
enum Reply {
    Json(u16, String),
    /// An event stream: these chunks, a pause between them, then close.
    Stream(Vec<String>),
}

type Handler = Arc<dyn Fn(&Req) -> Reply + Send + Sync>;

struct Fake {
    url: String,
    requests: Arc<Mutex<Vec<Req>>>,
}

async fn fake_server(handler: Handler) -> Fake {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let requests = Arc::new(Mutex::new(Vec::new()));
    let log = Arc::clone(&requests);
    tokio::spawn(async move {
        loop {
            let Ok((mut socket, _)) = listener.accept().await else {
                return;
            };
            let handler = Arc::clone(&handler);
            let log = Arc::clone(&log);
            tokio::spawn(async move {
                let Some(req) = read_request(&mut socket).await else {
                    return;
                };
                log.lock().unwrap().push(req.clone());
                match handler(&req) {
                    Reply::Json(status, body) => {
                        let head = format!(
                            "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
                            body.len()
                        );
                        let _ = socket.write_all(head.as_bytes()).await;
                        let _ = socket.write_all(body.as_bytes()).await;
                    }
                    Reply::Stream(chunks) => {
                        let head = "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\nconnection: close\r\n\r\n";
                        let _ = socket.write_all(head.as_bytes()).await;
                        for chunk in chunks {
                            let _ = socket.write_all(chunk.as_bytes()).await;
                            let _ = socket.flush().await;
                            tokio::time::sleep(Duration::from_millis(30)).await;
                        }
                    }
                }
                let _ = socket.shutdown().await;
            });
        }
    });
    Fake { url, requests }
}

async fn read_request(socket: &mut tokio::net::TcpStream) -> Option<Req> {
    let mut buffer = Vec::new();
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        let n = socket.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buffer.extend_from_slice(&chunk[..n]);
        if let Some(at) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
            break at + 4;
        }
    };
    let head = String::from_utf8_lossy(&buffer[..head_end]).to_string();
    let mut lines = head.split("\r\n");
    let mut first = lines.next()?.split(' ');
    let method = first.next()?.to_string();
    let path = first.next()?.to_string();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_string(), v.trim().to_string()))
        .collect();
    let length: usize = headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0);
    let mut body = buffer[head_end..].to_vec();
    while body.len() < length {
        let n = socket.read(&mut chunk).await.ok()?;
        if n == 0 {
            break;
        }
        body.extend_from_slice(&chunk[..n]);
    }
    Some(Req {
        method,
        path,
        headers,
        body,
    })
}

fn error(status: u16, code: &str) -> Reply {
    Reply::Json(
        status,
        format!(r#"{{"error":"{code}","message":"refused"}}"#),
    )
}

/// Checks a request's proof the way the server must (§4), with the key in
/// the header (`jwk`, enrollment) or the given device key.
fn check_proof(req: &Req, base: &str, device_key: Option<&tessera_core::push::PublicKey>) {
    let proof = req
        .header("tessera-proof")
        .expect("every request has a proof");
    let unverified = UnverifiedJws::parse(proof, PROOF_TYP).unwrap();
    let key = match device_key {
        Some(key) => key.clone(),
        None => unverified
            .header()
            .jwk
            .clone()
            .expect("enrollment proof has a jwk"),
    };
    let url = format!("{base}{}", req.path.split('?').next().unwrap());
    ProofClaims::verify(
        proof,
        &key,
        ProofRequest {
            method: &req.method,
            url: &url,
            body: &req.body,
        },
        now(),
        &MemoryReplayGuard::new(),
    )
    .unwrap();
}

// ------------------------------------------------------- pairing over HTTP

#[tokio::test]
async fn pairs_once_and_refuses_a_reused_code() {
    let server_key = Arc::new(SigningKey::generate().unwrap());
    let used = Arc::new(Mutex::new(false));
    let base = Arc::new(Mutex::new(String::new()));
    let (k, u, b) = (
        Arc::clone(&server_key),
        Arc::clone(&used),
        Arc::clone(&base),
    );
    let fake = fake_server(Arc::new(move |req: &Req| {
        assert_eq!(
            (req.method.as_str(), req.path.as_str()),
            ("POST", "/v1/device/enroll")
        );
        check_proof(req, &b.lock().unwrap(), None);
        let body: serde_json::Value = serde_json::from_slice(&req.body).unwrap();
        assert_eq!(body["code"], CODE);
        assert_eq!(body["name"], "test laptop");
        assert_eq!(body["delivery"], serde_json::json!({"kind": "stream"}));
        assert!(body["device_key"]["x"].is_string());
        let mut used = u.lock().unwrap();
        if *used {
            return error(410, "enrollment_invalid");
        }
        *used = true;
        let kid = KeyRef::Kid(k.public_key().thumbprint());
        let jws = enrollment(&k, &k, &kid, "dev-42");
        Reply::Json(201, serde_json::json!({ "enrollment": jws }).to_string())
    }))
    .await;
    *base.lock().unwrap() = fake.url.clone();
    let pairing = uri(&fake.url, &server_key);

    let part = pair(
        &Http::native(),
        &pairing,
        "test laptop",
        &Delivery::Stream,
        now(),
    )
    .await
    .unwrap();
    assert_eq!(part.server, fake.url);
    assert_eq!(part.device_id, "dev-42");
    assert_eq!(part.user, "alice");
    assert_eq!(part.issuer, "Example Inc");
    assert_eq!(part.account, "alice@example.com");
    assert_eq!(&part.server_key, server_key.public_key());
    part.device_key().unwrap();
    let debug = format!("{part:?}");
    assert!(debug.contains("[redacted]"));
    assert!(!debug.contains(&key_text(&part)));

    let again = pair(
        &Http::native(),
        &pairing,
        "test laptop",
        &Delivery::Stream,
        now(),
    )
    .await;
    assert_eq!(again.unwrap_err(), PushError::EnrollmentInvalid);

    // A QR code naming a key the server does not hold.
    let other = SigningKey::generate().unwrap();
    *used.lock().unwrap() = false;
    let wrong = pair(
        &Http::native(),
        &uri(&fake.url, &other),
        "test laptop",
        &Delivery::Stream,
        now(),
    )
    .await;
    assert_eq!(wrong.unwrap_err(), PushError::KeyMismatch);
    assert_eq!(fake.requests.lock().unwrap().len(), 3);
}

#[tokio::test]
async fn an_unreachable_server_and_bad_arguments_are_typed_errors() {
    let key = SigningKey::generate().unwrap();
    // Port 9 (discard) on loopback: nothing listens.
    let error = pair(
        &Http::native(),
        &uri("http://127.0.0.1:9", &key),
        "x",
        &Delivery::Stream,
        now(),
    )
    .await
    .unwrap_err();
    assert!(matches!(error, PushError::Network { .. }), "{error:?}");
    let error = pair(
        &Http::native(),
        &uri("http://127.0.0.1:9", &key),
        "",
        &Delivery::Stream,
        now(),
    )
    .await
    .unwrap_err();
    assert!(matches!(error, PushError::InvalidInput(_)));
    let insecure = Delivery::Webpush {
        endpoint: "http://push.example.com/x".into(),
    };
    assert!(insecure.validate().is_err());
    assert!(
        format!(
            "{:?}",
            Delivery::Fcm {
                token: "secret-token".into()
            }
        )
        .contains("redacted")
    );
}

// ------------------------------------------------------- prompts and answers

/// A paired device and its fake server, with the server's keys.
struct Paired {
    server_key: Arc<SigningKey>,
    fake: Fake,
    part: PushPart,
}

fn push_part(server: &str, server_key: &SigningKey, device: &SigningKey) -> PushPart {
    PushPart::new(
        PushPartFields {
            server: server.into(),
            device_id: "dev-1".into(),
            user: "alice".into(),
            issuer: "Example".into(),
            account: "alice@example.com".into(),
            device_name: "test".into(),
            server_key: server_key.public_key().clone(),
            paired_at: now(),
        },
        device,
    )
}

async fn paired(
    handler: impl Fn(&Req, &SigningKey, &SigningKey) -> Reply + Send + Sync + 'static,
) -> Paired {
    let server_key = Arc::new(SigningKey::generate().unwrap());
    let device = SigningKey::generate().unwrap();
    let device_pkcs8 = device.pkcs8().to_vec();
    let k = Arc::clone(&server_key);
    let fake = fake_server(Arc::new(move |req: &Req| {
        let device = SigningKey::from_pkcs8(&device_pkcs8).unwrap();
        handler(req, &k, &device)
    }))
    .await;
    let part = push_part(&fake.url, &server_key, &device);
    Paired {
        server_key,
        fake,
        part,
    }
}

#[tokio::test]
async fn fetches_verifies_and_answers_prompts() {
    let other = Arc::new(SigningKey::generate().unwrap());
    let attempts = Arc::new(Mutex::new(3u32));
    let (o, a) = (Arc::clone(&other), Arc::clone(&attempts));
    let setup = paired(move |req, server_key, device| {
        let base = format!("http://{}", req.header("host").unwrap());
        check_proof(req, &base, Some(device.public_key()));
        assert_eq!(req.header("tessera-proof").map(|p| p.len() > 50), Some(true));
        match (req.method.as_str(), req.path.as_str()) {
            ("GET", "/v1/device/prompts/p1") => {
                let jws = prompt_claims("p1", "dev-1", PromptMode::Entry).sign(server_key).unwrap();
                Reply::Json(200, serde_json::json!({ "prompt": jws }).to_string())
            }
            ("GET", "/v1/device/prompts/c1") => {
                let jws = prompt_claims("c1", "dev-1", PromptMode::Choice).sign(server_key).unwrap();
                Reply::Json(200, serde_json::json!({ "prompt": jws }).to_string())
            }
            ("GET", "/v1/device/prompts/forged") => {
                let jws = prompt_claims("forged", "dev-1", PromptMode::Entry).sign(&o).unwrap();
                Reply::Json(200, serde_json::json!({ "prompt": jws }).to_string())
            }
            ("GET", "/v1/device/prompts/other-device") => {
                let jws = prompt_claims("other-device", "dev-2", PromptMode::Entry)
                    .sign(server_key)
                    .unwrap();
                Reply::Json(200, serde_json::json!({ "prompt": jws }).to_string())
            }
            ("GET", "/v1/device/prompts/swapped") => {
                let jws = prompt_claims("p1", "dev-1", PromptMode::Entry).sign(server_key).unwrap();
                Reply::Json(200, serde_json::json!({ "prompt": jws }).to_string())
            }
            ("GET", "/v1/device/prompts/gone") => error(410, "prompt_expired"),
            ("GET", "/v1/device/prompts") => {
                let good = prompt_claims("p1", "dev-1", PromptMode::Entry).sign(server_key).unwrap();
                let bad = prompt_claims("p2", "dev-1", PromptMode::Entry).sign(&o).unwrap();
                Reply::Json(200, serde_json::json!({ "prompts": [good, bad] }).to_string())
            }
            ("POST", "/v1/device/answer") => {
                let body: serde_json::Value = serde_json::from_slice(&req.body).unwrap();
                let token = body["answer"].as_str().unwrap();
                let claims: AnswerClaims = {
                    let v = tessera_core::push::jws::verify(
                        token,
                        device.public_key(),
                        "tessera-answer+jwt",
                    )
                    .unwrap();
                    serde_json::from_slice(&v.payload).unwrap()
                };
                match (claims.decision, claims.number.as_deref()) {
                    (Decision::Approve, Some("123456" | "105877")) => {
                        Reply::Json(200, r#"{"state":"approved","attempts_left":3}"#.into())
                    }
                    (Decision::Approve, _) => {
                        let mut left = a.lock().unwrap();
                        *left -= 1;
                        Reply::Json(
                            422,
                            format!(
                                r#"{{"error":"wrong_number","message":"no","attempts_left":{left}}}"#
                            ),
                        )
                    }
                    (Decision::Deny, None) => Reply::Json(200, r#"{"state":"denied"}"#.into()),
                    (Decision::Fraud, None) => {
                        Reply::Json(200, r#"{"state":"fraud_reported"}"#.into())
                    }
                    _ => error(400, "bad_request"),
                }
            }
            ("DELETE", "/v1/device") => Reply::Json(200, r#"{"revoked":1}"#.into()),
            ("POST", "/v1/device/delivery") => Reply::Json(200, r#"{"delivery":"fcm"}"#.into()),
            _ => error(404, "not_found"),
        }
    })
    .await;
    let _ = &setup.server_key;
    let known = Arc::new(KnownTime(DeviceTime {
        now: now(),
        uncertainty: 1,
    }));
    let client = PushClient::new(Http::native(), &setup.part, known).unwrap();

    let prompt = client.fetch("p1").await.unwrap();
    assert_eq!(prompt.id(), "p1");
    assert!(prompt.time_checked());
    assert_eq!(prompt.claims.context.ip.as_deref(), Some("203.0.113.7"));

    // Signed by another key, for another device, or not the prompt asked
    // for: refused, never shown.
    assert!(matches!(
        client.fetch("forged").await,
        Err(PushError::UntrustedPrompt {
            reason: MessageError::Jws(tessera_core::push::JwsError::BadSignature)
        })
    ));
    assert!(matches!(
        client.fetch("other-device").await,
        Err(PushError::UntrustedPrompt {
            reason: MessageError::WrongDevice
        })
    ));
    assert!(matches!(
        client.fetch("swapped").await,
        Err(PushError::UntrustedPrompt {
            reason: MessageError::PromptIdMismatch
        })
    ));
    assert_eq!(client.fetch("gone").await, Err(PushError::PromptExpired));
    assert!(matches!(
        client.fetch("a/b").await,
        Err(PushError::InvalidInput(_))
    ));

    let pending = client.pending().await.unwrap();
    assert_eq!(pending.len(), 2);
    assert!(pending[0].is_ok());
    assert!(matches!(pending[1], Err(PushError::UntrustedPrompt { .. })));

    // Wrong numbers count down, then the right one approves.
    assert_eq!(
        client
            .answer(&prompt, Decision::Approve, Some("000000"))
            .await,
        Ok(AnswerOutcome::WrongNumber { attempts_left: 2 })
    );
    assert_eq!(
        client
            .answer(&prompt, Decision::Approve, Some("123456"))
            .await,
        Ok(AnswerOutcome::Approved)
    );
    assert_eq!(
        client.answer(&prompt, Decision::Deny, Some("999999")).await,
        Ok(AnswerOutcome::Denied)
    );
    assert_eq!(
        client.answer(&prompt, Decision::Fraud, None).await,
        Ok(AnswerOutcome::FraudReported)
    );
    assert!(matches!(
        client.answer(&prompt, Decision::Approve, None).await,
        Err(PushError::InvalidAnswer { .. })
    ));
    assert!(matches!(
        client
            .answer(&prompt, Decision::Approve, Some("12ab"))
            .await,
        Err(PushError::InvalidAnswer { .. })
    ));
    assert_eq!(
        client
            .answer(&prompt, Decision::Approve, Some("000000"))
            .await,
        Ok(AnswerOutcome::WrongNumber { attempts_left: 1 })
    );
    assert_eq!(
        client
            .answer(&prompt, Decision::Approve, Some("000000"))
            .await,
        Ok(AnswerOutcome::Failed)
    );

    // Choice mode: only one of the three numbers can be sent.
    let choice = client.fetch("c1").await.unwrap();
    assert_eq!(choice.choices().unwrap().len(), 3);
    assert!(matches!(
        client
            .answer(&choice, Decision::Approve, Some("123456"))
            .await,
        Err(PushError::InvalidAnswer { .. })
    ));
    assert_eq!(
        client
            .answer(&choice, Decision::Approve, Some("105877"))
            .await,
        Ok(AnswerOutcome::Approved)
    );

    // A prompt the trusted clock knows to be over is not even sent.
    let late = PushClient::new(
        Http::native(),
        &setup.part,
        Arc::new(KnownTime(DeviceTime {
            now: prompt.claims.exp,
            uncertainty: 0,
        })),
    )
    .unwrap();
    let sent_before = setup.fake.requests.lock().unwrap().len();
    assert_eq!(
        late.answer(&prompt, Decision::Approve, Some("123456"))
            .await,
        Ok(AnswerOutcome::Expired)
    );
    assert_eq!(setup.fake.requests.lock().unwrap().len(), sent_before);

    // Unknown time: accepted, marked.
    let unknown = PushClient::new(Http::native(), &setup.part, Arc::new(UnknownTime)).unwrap();
    let unchecked = unknown.fetch("p1").await.unwrap();
    assert_eq!(unchecked.freshness, PromptFreshness::TimeUnknown);
    assert!(!unchecked.time_checked());

    client
        .update_delivery(&Delivery::Fcm {
            token: "tok".into(),
        })
        .await
        .unwrap();
    client.unpair().await.unwrap();
}

// ------------------------------------------------------- the stream

#[tokio::test]
async fn the_stream_verifies_prompts_reconnects_with_last_event_id_and_ends_on_revocation() {
    let other = Arc::new(SigningKey::generate().unwrap());
    let connections = Arc::new(Mutex::new(Vec::<Option<String>>::new()));
    let (o, c) = (Arc::clone(&other), Arc::clone(&connections));
    let setup = paired(move |req, server_key, device| {
        let base = format!("http://{}", req.header("host").unwrap());
        check_proof(req, &base, Some(device.public_key()));
        assert_eq!(req.path, "/v1/device/stream");
        assert_eq!(req.header("accept"), Some("text/event-stream"));
        let mut seen = c.lock().unwrap();
        seen.push(req.header("last-event-id").map(String::from));
        match seen.len() {
            1 => {
                let good = prompt_claims("p1", "dev-1", PromptMode::Entry)
                    .sign(server_key)
                    .unwrap();
                let bad = prompt_claims("p2", "dev-1", PromptMode::Entry)
                    .sign(&o)
                    .unwrap();
                let (head, tail) = good.split_at(good.len() / 2);
                Reply::Stream(vec![
                    ": hb\r\n\r\nevent: prompt\r\nid: 1\r".into(),
                    format!("\ndata: {head}"),
                    format!("{tail}\r\n\r\n"),
                    format!("event: prompt\nid: 2\ndata: {bad}\n\n"),
                ])
            }
            2 => Reply::Stream(vec![
                ": hb\n\n".into(),
                "event: revoked\ndata: {\"reason\":\"replaced\"}\n\n".into(),
            ]),
            _ => error(403, "device_revoked"),
        }
    })
    .await;
    let client = PushClient::new(Http::native(), &setup.part, Arc::new(UnknownTime)).unwrap();
    let mut subscription = client.subscribe();
    let mut events = Vec::new();
    while let Some(event) = tokio::time::timeout(Duration::from_secs(20), subscription.next())
        .await
        .expect("the stream moves on")
    {
        events.push(event);
    }
    assert_eq!(events.len(), 6, "{events:#?}");
    assert_eq!(events[0], PushEvent::Connected);
    let PushEvent::Prompt(prompt) = &events[1] else {
        panic!("{:?}", events[1]);
    };
    assert_eq!(prompt.id(), "p1");
    assert_eq!(prompt.event_id.as_deref(), Some("1"));
    assert_eq!(prompt.freshness, PromptFreshness::TimeUnknown);
    assert!(matches!(
        &events[2],
        PushEvent::Rejected(PushError::UntrustedPrompt { .. })
    ));
    let PushEvent::Disconnected { retry_in, .. } = &events[3] else {
        panic!("{:?}", events[3]);
    };
    assert!(*retry_in <= Duration::from_millis(500));
    assert_eq!(events[4], PushEvent::Connected);
    assert_eq!(
        events[5],
        PushEvent::Revoked {
            reason: "replaced".into()
        }
    );
    assert_eq!(
        *connections.lock().unwrap(),
        vec![None, Some("2".to_string())]
    );
}

#[tokio::test]
async fn a_revoked_device_is_told_at_connect_and_cancel_stops_the_stream() {
    let setup = paired(|req, _, _| match req.path.as_str() {
        "/v1/device/stream" => error(403, "device_revoked"),
        _ => error(404, "not_found"),
    })
    .await;
    let client = PushClient::new(Http::native(), &setup.part, Arc::new(UnknownTime)).unwrap();
    let mut subscription = client.subscribe();
    assert_eq!(
        subscription.next().await,
        Some(PushEvent::Revoked {
            reason: "revoked".into()
        })
    );
    assert_eq!(subscription.next().await, None);

    // A server that keeps failing: the subscriber sees the retries and
    // cancel() ends them.
    let failing = paired(|_, _, _| error(500, "internal_error")).await;
    let client = PushClient::new(Http::native(), &failing.part, Arc::new(UnknownTime)).unwrap();
    let mut subscription = client.subscribe();
    let first = subscription.next().await.unwrap();
    assert!(matches!(
        first,
        PushEvent::Disconnected {
            error: PushError::Server { status: 500, .. },
            ..
        }
    ));
    subscription.cancel();
    let rest = tokio::time::timeout(Duration::from_secs(5), async {
        let mut n = 0;
        while subscription.next().await.is_some() {
            n += 1;
        }
        n
    })
    .await
    .expect("cancel ends the stream");
    assert!(rest <= 1);
}

// ------------------------------------------------------- vault and backups

fn vault() -> (tempfile::TempDir, Vault, MemoryKeyStore) {
    let dir = tempfile::tempdir().unwrap();
    let keystore = MemoryKeyStore::new();
    let (vault, _) = Vault::create(
        &dir.path().join("vault.json"),
        CreateOptions {
            keystore: Some(&keystore),
            password: None,
            kdf: KdfParams::default(),
        },
    )
    .unwrap();
    (dir, vault, keystore)
}

#[test]
fn push_parts_round_trip_through_the_vault() {
    let (dir, mut vault, keystore) = vault();
    let server = SigningKey::generate().unwrap();
    let device = SigningKey::generate().unwrap();
    let otp = OtpauthUri::parse(
        "otpauth://totp/Example:bob?secret=JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP&issuer=Example",
    )
    .unwrap()
    .uri;
    vault.add(Account::from_uri(otp, now())).unwrap();

    // A new pairing for an unknown identity: a push-only account.
    let part = push_part("https://push.example.com", &server, &device);
    assert!(
        vault
            .pairing_target("Example", "alice@example.com")
            .unwrap()
            .is_none()
    );
    let (alice, attached) = vault
        .add_pairing("Example", "alice@example.com", part.clone())
        .unwrap();
    assert!(!attached);
    // For an account that has codes already: attached to it.
    assert!(vault.pairing_target("Example", "bob").unwrap().is_some());
    let (bob, attached) = vault.add_pairing("Example", "bob", part.clone()).unwrap();
    assert!(attached);
    // An account already paired: refused, before and at the write.
    assert!(matches!(
        vault.pairing_target("Example", "bob"),
        Err(VaultError::InvalidInput(_))
    ));
    assert!(matches!(
        vault.add_pairing("Example", "bob", part.clone()),
        Err(VaultError::InvalidInput(_))
    ));

    let reopened =
        Vault::open(&dir.path().join("vault.json"), Unlock::KeyStore(&keystore)).unwrap();
    assert_eq!(reopened.accounts(), vault.accounts());
    assert_eq!(reopened.push_accounts().len(), 2);
    let stored = reopened.get(&alice).unwrap().push.clone().unwrap();
    assert_eq!(stored, part);
    assert_eq!(
        stored.device_key().unwrap().public_key(),
        device.public_key()
    );
    // The private key never shows in Debug output, nor in plain text on disk.
    assert!(!format!("{:?}", reopened.accounts()).contains(&key_text(&stored)));
    let file = std::fs::read_to_string(dir.path().join("vault.json")).unwrap();
    assert!(!file.contains("dev-1") && !file.contains("push.example.com"));

    // Unpairing: the push-only account goes, the other keeps its codes.
    assert!(vault.clear_push(&alice).unwrap());
    assert!(!vault.clear_push(&bob).unwrap());
    assert!(vault.get(&alice).is_none());
    assert!(vault.get(&bob).unwrap().otp.is_some() && vault.get(&bob).unwrap().push.is_none());
    assert!(matches!(
        vault.clear_push(&bob),
        Err(VaultError::InvalidInput(_))
    ));
    assert!(vault.push_accounts().is_empty());

    vault.set_push(&bob, part.clone()).unwrap();
    assert_eq!(vault.push_accounts().len(), 1);
}

#[test]
fn backups_and_exports_never_carry_push_pairings() {
    let (_dir, mut vault, _keystore) = vault();
    let server = SigningKey::generate().unwrap();
    let device = SigningKey::generate().unwrap();
    let otp = OtpauthUri::parse(
        "otpauth://totp/Example:bob?secret=JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP&issuer=Example",
    )
    .unwrap()
    .uri;
    vault.add(Account::from_uri(otp, now())).unwrap();
    let part = push_part("https://push.example.com", &server, &device);
    let (alice, _) = vault.add_pairing("Example", "alice", part.clone()).unwrap();
    vault.add_pairing("Example", "bob", part).unwrap();

    let backup = TesseraBackup {
        kdf: KdfParams {
            memory_kib: 64,
            iterations: 1,
            parallelism: 1,
        },
    };
    // Not refused (policy, not a format limit), but listed.
    let exported = backup.export(vault.accounts(), Some("pw"), false).unwrap();
    assert_eq!(exported.warnings.len(), 1);
    assert_eq!(exported.warnings[0].account_id, alice);
    let batch = backup.import(&exported.bytes, Some("pw")).unwrap();
    assert_eq!(batch.accounts.len(), 1);
    assert_eq!(batch.accounts[0].label, "bob");
    assert!(batch.accounts[0].push.is_none() && batch.accounts[0].otp.is_some());

    // The plain formats leave the push-only account out, with a warning.
    let list = tessera_core::transfer::Format::OtpauthList
        .exporter()
        .unwrap();
    assert!(list.export(vault.accounts(), None, false).is_err());
    let forced = list.export(vault.accounts(), None, true).unwrap();
    assert_eq!(forced.warnings.len(), 1);
    assert!(forced.warnings[0].what.contains("push"));
}
