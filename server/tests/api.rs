//! The push API over HTTP against the real `tessera-server` binary
//! (`docs/push-protocol.md` §2–§8, §10): each test starts the server on a
//! free port with its own temporary SQLite file, acts as the relying party
//! with plain HTTP and as a device with `tessera_core::push`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::{Duration, Instant};

use common::{
    API_KEY, Server, enroll_with, enrollment_uri, http, jws_parts, now, pair, pair_with_uri, proof,
    wrong,
};
use serde_json::json;
use tessera_core::push::{Decision, KeyRef, PromptMode, SigningKey};

#[test]
fn pair_prompt_approve_and_the_rp_sees_it() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path());
    let pairing = pair(&server, "alice");
    let device = &pairing.device;

    // The enrollment answer is what §10.2 says.
    assert_eq!(pairing.enrollment_header["typ"], "tessera-enrollment+jwt");
    assert_eq!(
        pairing.enrollment_header["kid"],
        pairing.uri.fingerprint.as_str()
    );
    assert_eq!(pairing.enrollment_claims["v"], 1);
    assert_eq!(pairing.enrollment_claims["user"], "alice");
    assert_eq!(pairing.enrollment_claims["issuer"], "Example");
    assert_eq!(pairing.uri.issuer, "Example");
    assert_eq!(pairing.uri.account, "alice");
    assert_eq!(pairing.uri.server, server.base);

    let (id, number) = server.prompt("alice", json!({}));
    assert_eq!(number.len(), 6);
    let outcome = server.outcome(&id);
    assert_eq!(outcome["state"], "pending");
    assert_eq!(outcome["attempts_left"], 3);
    assert_eq!(outcome["decided_at"], serde_json::Value::Null);

    let prompt = device.prompt(&server, &id);
    assert_eq!(prompt.user, "alice");
    assert_eq!(prompt.site, "Example");
    assert_eq!(prompt.mode, PromptMode::Entry);
    assert_eq!(prompt.context.ip.as_deref(), Some("203.0.113.7"));
    assert!(prompt.exp - prompt.iat == 120);
    // The number is never in an entry prompt.
    let listed = device
        .call(&server, "GET", "/v1/device/prompts", b"")
        .expect(200);
    let jws = listed["prompts"][0].as_str().unwrap();
    let (header, payload) = jws_parts(jws);
    assert_eq!(header["typ"], "tessera-prompt+jwt");
    assert_eq!(header["kid"], pairing.uri.fingerprint.as_str());
    assert!(!payload.to_string().contains(&number));
    // The single-prompt fetch (after a push wake-up) gives the same JWS.
    let one = device
        .call(&server, "GET", &format!("/v1/device/prompts/{id}"), b"")
        .expect(200);
    assert_eq!(one["prompt"], jws);

    // A long-poll started now returns as soon as the answer lands.
    let poller = {
        let addr = server.addr.clone();
        let path = format!("/v1/rp/prompts/{id}?wait=30");
        std::thread::spawn(move || {
            let started = Instant::now();
            let auth = format!("Bearer {API_KEY}");
            let answer = http(&addr, "GET", &path, &[("Authorization", &auth)], b"");
            (answer, started.elapsed())
        })
    };
    std::thread::sleep(Duration::from_millis(500));
    let answered = device
        .answer(&server, &prompt, Decision::Approve, Some(&number))
        .expect(200);
    assert_eq!(answered, json!({"state": "approved", "attempts_left": 3}));
    let (polled, waited) = poller.join().unwrap();
    assert_eq!(polled.expect(200)["state"], "approved");
    assert!(
        waited < Duration::from_secs(10),
        "long-poll took {waited:?}"
    );

    let outcome = server.outcome(&id);
    assert_eq!(outcome["state"], "approved");
    assert_eq!(outcome["device_id"], device.id.as_str());
    assert_eq!(outcome["fraud_reported"], false);
    assert!(
        outcome["decided_at"].as_i64().unwrap() >= outcome["expires_at"].as_i64().unwrap() - 120
    );
    // No longer pending for the device; fetching it says it is finished.
    assert!(device.pending(&server).is_empty());
    device
        .call(&server, "GET", &format!("/v1/device/prompts/{id}"), b"")
        .expect_error(409, "prompt_finished");

    // The RP's device list shows the device.
    let devices = server
        .rp("GET", "/v1/rp/users/alice/devices", None)
        .expect(200);
    assert_eq!(devices["devices"][0]["device_id"], device.id.as_str());
    assert_eq!(devices["devices"][0]["name"], "Test phone");
    assert_eq!(devices["devices"][0]["delivery"], "stream");
    assert_eq!(devices["devices"][0]["revoked_at"], serde_json::Value::Null);
}

#[test]
fn enrollment_answers_qr_codes_and_an_expiry() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path());
    let before = now() as i64;
    let enrolled = server
        .rp(
            "POST",
            "/v1/rp/users/bob%40example.com/devices/enroll",
            Some(json!({"account": "bob@example.com"})),
        )
        .expect(201);
    let expires = enrolled["expires_at"].as_i64().unwrap();
    assert!((before + 599..=before + 602).contains(&expires));
    use base64::Engine as _;
    let png = base64::engine::general_purpose::STANDARD
        .decode(enrolled["qr_png"].as_str().unwrap())
        .unwrap();
    assert!(png.starts_with(b"\x89PNG\r\n"));
    assert!(enrolled["qr_svg"].as_str().unwrap().contains("<svg"));
    let uri = tessera_core::push::PairingUri::parse(enrolled["enrollment_uri"].as_str().unwrap())
        .unwrap();
    assert_eq!(uri.code.len(), 26);
    assert_eq!(uri.account, "bob@example.com");
    // The user name arrives percent-decoded.
    let pairing = pair_with_uri(&server, uri, "bob@example.com");
    assert_eq!(pairing.enrollment_claims["user"], "bob@example.com");
    // Unknown fields are refused, naming them.
    server
        .rp(
            "POST",
            "/v1/rp/users/bob/devices/enroll",
            Some(json!({"acount": "x"})),
        )
        .expect_error(400, "bad_request");
}

#[test]
fn choice_mode_offers_three_numbers_including_the_right_one() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path());
    let device = pair(&server, "carol").device;
    let (id, number) = server.prompt("carol", json!({"mode": "choice"}));
    let prompt = device.prompt(&server, &id);
    let choices = prompt.choices.clone().unwrap();
    assert_eq!(choices.len(), 3);
    assert!(choices.contains(&number));
    let wrong_pick = choices.iter().find(|c| **c != number).unwrap();
    let refused = device
        .answer(&server, &prompt, Decision::Approve, Some(wrong_pick))
        .expect_error(422, "wrong_number");
    assert_eq!(refused["attempts_left"], 2);
    device
        .answer(&server, &prompt, Decision::Approve, Some(&number))
        .expect(200);
    assert_eq!(server.outcome(&id)["state"], "approved");
}

#[test]
fn three_wrong_numbers_fail_the_prompt() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path());
    let device = pair(&server, "alice").device;
    let (id, number) = server.prompt("alice", json!({}));
    let prompt = device.prompt(&server, &id);
    for left in [2, 1, 0] {
        let refused = device
            .answer(&server, &prompt, Decision::Approve, Some(&wrong(&number)))
            .expect_error(422, "wrong_number");
        assert_eq!(refused["attempts_left"], left);
        assert_eq!(server.outcome(&id)["attempts_left"], left);
    }
    let outcome = server.outcome(&id);
    assert_eq!(outcome["state"], "failed");
    assert_eq!(outcome["device_id"], device.id.as_str());
    // Even the right number cannot revive it.
    device
        .answer(&server, &prompt, Decision::Approve, Some(&number))
        .expect_error(409, "prompt_finished");
    assert_eq!(server.outcome(&id)["state"], "failed");
}

#[test]
fn deny_ends_the_prompt() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path());
    let device = pair(&server, "alice").device;
    let (id, _) = server.prompt("alice", json!({}));
    let prompt = device.prompt(&server, &id);
    let answered = device
        .answer(&server, &prompt, Decision::Deny, None)
        .expect(200);
    assert_eq!(answered["state"], "denied");
    let outcome = server.outcome(&id);
    assert_eq!(outcome["state"], "denied");
    assert_eq!(outcome["fraud_reported"], false);
    // One denial starts no cooldown.
    server.prompt("alice", json!({}));
}

#[test]
fn three_denials_start_a_cooldown_with_retry_after() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path());
    let device = pair(&server, "alice").device;
    for _ in 0..3 {
        let (id, _) = server.prompt("alice", json!({}));
        let prompt = device.prompt(&server, &id);
        device
            .answer(&server, &prompt, Decision::Deny, None)
            .expect(200);
    }
    let refused = server.rp(
        "POST",
        "/v1/rp/prompts",
        Some(json!({"user": "alice", "site": "Example"})),
    );
    refused.expect_error(429, "cooldown");
    let retry: u64 = refused.header("retry-after").unwrap().parse().unwrap();
    assert!((55..=60).contains(&retry), "Retry-After {retry}");
    // Another user is not affected.
    pair(&server, "dave");
    server.prompt("dave", json!({}));
}

#[test]
fn fraud_blocks_the_user_until_the_rp_unblocks() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path());
    let device = pair(&server, "alice").device;
    let (id, _) = server.prompt("alice", json!({}));
    let prompt = device.prompt(&server, &id);
    let answered = device
        .answer(&server, &prompt, Decision::Fraud, None)
        .expect(200);
    assert_eq!(answered["state"], "fraud_reported");
    let outcome = server.outcome(&id);
    assert_eq!(outcome["state"], "fraud_reported");
    assert_eq!(outcome["fraud_reported"], true);

    server
        .rp(
            "POST",
            "/v1/rp/prompts",
            Some(json!({"user": "alice", "site": "Example"})),
        )
        .expect_error(403, "user_blocked");
    let unblocked = server
        .rp("POST", "/v1/rp/users/alice/unblock", None)
        .expect(200);
    assert_eq!(unblocked, json!({"blocked": false}));
    let (id, number) = server.prompt("alice", json!({}));
    let prompt = device.prompt(&server, &id);
    device
        .answer(&server, &prompt, Decision::Approve, Some(&number))
        .expect(200);
}

#[test]
fn an_unanswered_prompt_expires_for_the_rp_and_the_device() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path());
    let device = pair(&server, "alice").device;
    let (id, number) = server.prompt("alice", json!({"ttl": 2}));
    let prompt = device.prompt(&server, &id);
    assert_eq!(prompt.exp - prompt.iat, 2);
    // A long-poll ends when the prompt expires, not at its own limit.
    let started = Instant::now();
    let polled = server
        .rp("GET", &format!("/v1/rp/prompts/{id}?wait=20"), None)
        .expect(200);
    assert_eq!(polled["state"], "expired");
    assert!(started.elapsed() < Duration::from_secs(6));
    std::thread::sleep(Duration::from_millis(1100));
    let outcome = server.outcome(&id);
    assert_eq!(outcome["state"], "expired");
    assert_eq!(outcome["decided_at"], outcome["expires_at"]);
    device
        .answer(&server, &prompt, Decision::Approve, Some(&number))
        .expect_error(410, "prompt_expired");
    device
        .call(&server, "GET", &format!("/v1/device/prompts/{id}"), b"")
        .expect_error(410, "prompt_expired");
    assert!(device.pending(&server).is_empty());
    assert_eq!(server.outcome(&id)["state"], "expired");
    // Lifetimes outside 2..=600 s are refused.
    for ttl in [1, 601] {
        server
            .rp(
                "POST",
                "/v1/rp/prompts",
                Some(json!({"user": "alice", "ttl": ttl})),
            )
            .expect_error(400, "bad_request");
    }
}

#[test]
fn a_replayed_answer_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path());
    let device = pair(&server, "alice").device;
    let (id, number) = server.prompt("alice", json!({}));
    let prompt = device.prompt(&server, &id);

    let wrong_answer = device.answer_token(&prompt, Decision::Approve, Some(&wrong(&number)));
    device
        .send_answer(&server, &wrong_answer)
        .expect_error(422, "wrong_number");
    // The same signed answer again (a fresh proof): refused, no attempt used.
    device
        .send_answer(&server, &wrong_answer)
        .expect_error(409, "answer_replayed");
    assert_eq!(server.outcome(&id)["attempts_left"], 2);

    let approval = device.answer_token(&prompt, Decision::Approve, Some(&number));
    device.send_answer(&server, &approval).expect(200);
    let replay = device.send_answer(&server, &approval);
    assert!(
        matches!(
            replay.error().as_str(),
            "answer_replayed" | "prompt_finished"
        ),
        "{:?}",
        replay.json()
    );
    assert_eq!(replay.status, 409);
    let outcome = server.outcome(&id);
    assert_eq!(outcome["state"], "approved");
    assert_eq!(outcome["attempts_left"], 2);
}

#[test]
fn an_answer_for_another_device_or_a_forged_one_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path());
    let alice = pair(&server, "alice").device;
    let mallory = pair(&server, "mallory").device;
    let (id, number) = server.prompt("alice", json!({}));
    let prompt = alice.prompt(&server, &id);
    // Mallory's device signs an answer to Alice's prompt: not its prompt.
    let mut stolen = prompt.clone();
    stolen.device_id = mallory.id.clone();
    mallory
        .answer(&server, &stolen, Decision::Approve, Some(&number))
        .expect_error(404, "not_found");
    // An answer with the wrong nonce is refused and changes nothing.
    let mut forged = prompt.clone();
    forged.nonce = tessera_core::push::messages::random_id().unwrap();
    alice
        .answer(&server, &forged, Decision::Approve, Some(&number))
        .expect_error(400, "bad_request");
    assert_eq!(server.outcome(&id)["state"], "pending");
    assert_eq!(server.outcome(&id)["attempts_left"], 3);
}

#[test]
fn a_reused_or_unknown_enrollment_code_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path());
    let uri = enrollment_uri(&server, "alice", None);
    enroll_with(&server, &uri, &SigningKey::generate().unwrap()).expect(201);
    enroll_with(&server, &uri, &SigningKey::generate().unwrap())
        .expect_error(410, "enrollment_invalid");
    let mut unknown = uri.clone();
    unknown.code = "A".repeat(25) + "Q";
    enroll_with(&server, &unknown, &SigningKey::generate().unwrap())
        .expect_error(410, "enrollment_invalid");
    // A device key that is not the proof's key is refused.
    let fresh = enrollment_uri(&server, "alice", None);
    let key = SigningKey::generate().unwrap();
    let other = SigningKey::generate().unwrap();
    let body = json!({
        "code": fresh.code,
        "device_key": serde_json::from_str::<serde_json::Value>(&other.public_key().to_jwk_json()).unwrap(),
        "name": "x", "delivery": {"kind": "stream"},
    })
    .to_string();
    let proof = proof(
        &server,
        &key,
        &KeyRef::Jwk,
        "POST",
        "/v1/device/enroll",
        body.as_bytes(),
    );
    http(
        &server.addr,
        "POST",
        "/v1/device/enroll",
        &[("Tessera-Proof", &proof)],
        body.as_bytes(),
    )
    .expect_error(400, "bad_request");
    // …and that refusal did not use the code up.
    enroll_with(&server, &fresh, &SigningKey::generate().unwrap()).expect(201);
}

#[test]
fn a_revoked_device_is_refused_and_its_prompts_expire() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path());
    let device = pair(&server, "alice").device;
    let (id, number) = server.prompt("alice", json!({}));
    let prompt = device.prompt(&server, &id);

    let revoked = server
        .rp(
            "DELETE",
            &format!("/v1/rp/users/alice/devices/{}", device.id),
            None,
        )
        .expect(200);
    assert_eq!(revoked, json!({"revoked": 1}));
    let refused = device
        .call(&server, "GET", "/v1/device/prompts", b"")
        .expect_error(403, "device_revoked");
    assert_eq!(refused["reason"], "revoked", "{refused}");
    let refused = device
        .answer(&server, &prompt, Decision::Approve, Some(&number))
        .expect_error(403, "device_revoked");
    assert_eq!(refused["reason"], "revoked", "{refused}");
    // No device is left to answer: the prompt ended, and new ones are refused.
    assert_eq!(server.outcome(&id)["state"], "expired");
    server
        .rp("POST", "/v1/rp/prompts", Some(json!({"user": "alice"})))
        .expect_error(404, "not_found");
    let devices = server
        .rp("GET", "/v1/rp/users/alice/devices", None)
        .expect(200);
    assert!(devices["devices"][0]["revoked_at"].is_i64());
    assert_eq!(devices["devices"][0]["revoke_reason"], "revoked");
    // Another user's device id is not found under this user.
    server
        .rp("DELETE", "/v1/rp/users/bob/devices/nope", None)
        .expect_error(404, "not_found");
}

#[test]
fn revoke_all_and_self_unpair() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path());
    let first = pair(&server, "alice").device;
    let second = pair(&server, "alice").device;
    let third = pair(&server, "alice").device;
    // A prompt goes to every active device with the same id and nonce.
    let (id, number) = server.prompt("alice", json!({}));
    let a = first.prompt(&server, &id);
    let b = second.prompt(&server, &id);
    assert_eq!(a.nonce, b.nonce);
    assert_ne!(a.device_id, b.device_id);

    // The third device unpairs itself; the prompt is still answerable.
    let unpaired = third.call(&server, "DELETE", "/v1/device", b"").expect(200);
    assert_eq!(unpaired, json!({"revoked": 1}));
    third
        .call(&server, "GET", "/v1/device/prompts", b"")
        .expect_error(403, "device_revoked");
    assert_eq!(server.outcome(&id)["state"], "pending");

    let all = server
        .rp("POST", "/v1/rp/users/alice/revoke-all", None)
        .expect(200);
    assert_eq!(all, json!({"revoked": 2}));
    assert_eq!(server.outcome(&id)["state"], "expired");
    second
        .answer(&server, &b, Decision::Approve, Some(&number))
        .expect_error(403, "device_revoked");
}

#[test]
fn a_replacing_enrollment_revokes_the_old_devices() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path());
    let old = pair(&server, "alice").device;
    let uri = enrollment_uri(&server, "alice", Some(json!({"replace": true})));
    // Issuing the code changes nothing yet.
    old.call(&server, "GET", "/v1/device/prompts", b"")
        .expect(200);
    let new = pair_with_uri(&server, uri, "alice").device;
    let refused = old
        .call(&server, "GET", "/v1/device/prompts", b"")
        .expect_error(403, "device_revoked");
    assert_eq!(refused["reason"], "replaced", "{refused}");
    let devices = server
        .rp("GET", "/v1/rp/users/alice/devices", None)
        .expect(200);
    let list = devices["devices"].as_array().unwrap();
    let old_row = list
        .iter()
        .find(|d| d["device_id"] == old.id.as_str())
        .unwrap();
    assert_eq!(old_row["revoke_reason"], "replaced");
    let (id, number) = server.prompt("alice", json!({}));
    let prompt = new.prompt(&server, &id);
    new.answer(&server, &prompt, Decision::Approve, Some(&number))
        .expect(200);
}

#[test]
fn a_delivery_update_is_recorded() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path());
    let device = pair(&server, "alice").device;
    let body = json!({"delivery": {"kind": "fcm", "token": "fcm-token-123"}}).to_string();
    let updated = device
        .call(&server, "POST", "/v1/device/delivery", body.as_bytes())
        .expect(200);
    assert_eq!(updated, json!({"delivery": "fcm"}));
    let devices = server
        .rp("GET", "/v1/rp/users/alice/devices", None)
        .expect(200);
    assert_eq!(devices["devices"][0]["delivery"], "fcm");
    let bad = json!({"delivery": {"kind": "webpush", "endpoint": "ftp://x"}}).to_string();
    device
        .call(&server, "POST", "/v1/device/delivery", bad.as_bytes())
        .expect_error(400, "bad_request");
    // A prompt to a device whose push is not configured on this server is
    // still created and listed (the wake-up failure is only logged).
    let (id, _) = server.prompt("alice", json!({}));
    device.prompt(&server, &id);
}

#[test]
fn a_pairing_and_a_pending_prompt_survive_kill_9() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = Server::start(dir.path());
    let device = pair(&server, "alice").device;
    let (id, number) = server.prompt("alice", json!({"ttl": 600}));
    let prompt = device.prompt(&server, &id);
    server.kill_9();
    drop(server);

    let server = Server::start(dir.path());
    // Same server key: the pinned key still verifies the prompt.
    let again = device.prompt(&server, &id);
    assert_eq!(again, prompt);
    assert_eq!(server.outcome(&id)["state"], "pending");
    device
        .answer(&server, &prompt, Decision::Approve, Some(&number))
        .expect(200);
    assert_eq!(server.outcome(&id)["state"], "approved");
    let enrolled = server
        .rp("POST", "/v1/rp/users/alice/devices/enroll", None)
        .expect(201);
    let uri = tessera_core::push::PairingUri::parse(enrolled["enrollment_uri"].as_str().unwrap())
        .unwrap();
    assert_eq!(uri.fingerprint, device.pinned.thumbprint());
}

#[test]
fn a_used_proof_stays_used_after_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = Server::start(dir.path());
    let device = pair(&server, "alice").device;
    let kid = KeyRef::Kid(device.id.clone());
    let path = "/v1/device/prompts";
    let token = proof(&server, &device.key, &kid, "GET", path, b"");
    http(&server.addr, "GET", path, &[("Tessera-Proof", &token)], b"").expect(200);
    let addr = server.addr.clone();
    server.kill_9();
    drop(server);
    // Same address, so the proof's htu still matches: only the remembered
    // jti can refuse it.
    let server = Server::start_on(dir.path(), &addr, &[], Some(API_KEY));
    let replayed = http(&server.addr, "GET", path, &[("Tessera-Proof", &token)], b"")
        .expect_error(401, "bad_proof");
    assert!(
        replayed["message"].as_str().unwrap().contains("jti"),
        "{replayed}"
    );
    device.call(&server, "GET", path, b"").expect(200);
}

#[test]
fn too_many_pending_prompts_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path());
    pair(&server, "alice");
    for _ in 0..3 {
        server.prompt("alice", json!({}));
    }
    server
        .rp("POST", "/v1/rp/prompts", Some(json!({"user": "alice"})))
        .expect_error(429, "too_many_pending");
}

#[test]
fn bad_api_keys_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path());
    let path = "/v1/rp/users/alice/devices";
    http(&server.addr, "GET", path, &[], b"").expect_error(401, "bad_api_key");
    for value in [
        "Bearer wrong-key-0123456789abcdef",
        "Basic dGVzdDp0ZXN0",
        "Bearer",
        &format!("Bearer {API_KEY}x"),
    ] {
        http(&server.addr, "GET", path, &[("Authorization", value)], b"")
            .expect_error(401, "bad_api_key");
    }
    let lower = format!("bearer {API_KEY}");
    http(&server.addr, "GET", path, &[("Authorization", &lower)], b"").expect(200);
}

#[test]
fn a_generated_api_key_is_printed_once_and_kept() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = Server::start_with(dir.path(), &[], None);
    let stderr = server.stderr();
    let key = stderr
        .lines()
        .map(str::trim)
        .find(|l| l.len() == 43 && !l.contains(' '))
        .unwrap_or_else(|| panic!("no key in {stderr}"))
        .to_string();
    let auth = format!("Bearer {key}");
    let path = "/v1/rp/users/alice/devices";
    http(&server.addr, "GET", path, &[("Authorization", &auth)], b"").expect(200);
    server.kill_9();
    drop(server);
    let server = Server::start_with(dir.path(), &[], None);
    assert!(
        !server.stderr().contains(&key),
        "the key is printed only once"
    );
    http(&server.addr, "GET", path, &[("Authorization", &auth)], b"").expect(200);
}

#[test]
fn proofs_are_single_use_and_bound_to_the_request() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path());
    let device = pair(&server, "alice").device;
    let kid = KeyRef::Kid(device.id.clone());
    let path = "/v1/device/prompts";
    let token = proof(&server, &device.key, &kid, "GET", path, b"");
    http(&server.addr, "GET", path, &[("Tessera-Proof", &token)], b"").expect(200);
    let replayed = http(&server.addr, "GET", path, &[("Tessera-Proof", &token)], b"")
        .expect_error(401, "bad_proof");
    assert!(
        replayed["message"].as_str().unwrap().contains("jti"),
        "{replayed}"
    );

    // Another path, method or body, a stale time, a missing proof, a key
    // that is not the device's: all refused.
    let other_path = proof(
        &server,
        &device.key,
        &kid,
        "GET",
        "/v1/device/prompts/x",
        b"",
    );
    http(
        &server.addr,
        "GET",
        path,
        &[("Tessera-Proof", &other_path)],
        b"",
    )
    .expect_error(401, "bad_proof");
    let stale = tessera_core::push::ProofClaims::create(
        &device.key,
        &kid,
        tessera_core::push::ProofRequest {
            method: "GET",
            url: &format!("{}{path}", server.base),
            body: b"",
        },
        now() - 120,
    )
    .unwrap();
    http(&server.addr, "GET", path, &[("Tessera-Proof", &stale)], b"")
        .expect_error(401, "bad_proof");
    http(&server.addr, "GET", path, &[], b"").expect_error(401, "bad_proof");
    let stranger = SigningKey::generate().unwrap();
    let forged = proof(&server, &stranger, &kid, "GET", path, b"");
    http(
        &server.addr,
        "GET",
        path,
        &[("Tessera-Proof", &forged)],
        b"",
    )
    .expect_error(401, "bad_proof");
    let body = json!({"delivery": {"kind": "stream"}}).to_string();
    let for_other_body = proof(
        &server,
        &device.key,
        &kid,
        "POST",
        "/v1/device/delivery",
        b"{}",
    );
    http(
        &server.addr,
        "POST",
        "/v1/device/delivery",
        &[("Tessera-Proof", &for_other_body)],
        body.as_bytes(),
    )
    .expect_error(401, "bad_proof");
}

#[test]
fn oversize_bodies_and_bad_requests_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path());
    pair(&server, "alice");
    let big = json!({"user": "alice", "site": "x".repeat(20 * 1024)}).to_string();
    let auth = format!("Bearer {API_KEY}");
    http(
        &server.addr,
        "POST",
        "/v1/rp/prompts",
        &[("Authorization", &auth)],
        big.as_bytes(),
    )
    .expect_error(413, "body_too_large");
    for body in [
        json!({"user": "alice", "site": "x".repeat(257)}),
        json!({"user": "", "site": "Example"}),
        json!({"user": "u".repeat(129)}),
        json!({"user": "alice", "context": {"ip": "x".repeat(257)}}),
        json!({"user": "alice", "context": {"browser": "x"}}),
        json!({"user": "alice", "mode": "tap"}),
        json!({"site": "Example"}),
    ] {
        server
            .rp("POST", "/v1/rp/prompts", Some(body))
            .expect_error(400, "bad_request");
    }
    http(
        &server.addr,
        "POST",
        "/v1/rp/prompts",
        &[("Authorization", &auth)],
        b"{not json",
    )
    .expect_error(400, "bad_request");
    server
        .rp("GET", "/v1/rp/prompts/unknown", None)
        .expect_error(404, "not_found");
    server
        .rp("GET", "/v1/rp/prompts/unknown?wait=61", None)
        .expect_error(400, "bad_request");
    // A user without a device cannot be prompted.
    server
        .rp("POST", "/v1/rp/prompts", Some(json!({"user": "nobody"})))
        .expect_error(404, "not_found");
}

#[test]
fn an_answer_proof_is_single_use_whether_or_not_the_answer_was_taken() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path());
    let device = pair(&server, "alice").device;
    let kid = KeyRef::Kid(device.id.clone());
    let path = "/v1/device/answer";
    let (id, number) = server.prompt("alice", json!({}));
    let prompt = device.prompt(&server, &id);

    // Refused answer (a wrong number): the proof is used up all the same.
    let wrong_body =
        json!({"answer": device.answer_token(&prompt, Decision::Approve, Some(&wrong(&number)))})
            .to_string();
    let token = proof(
        &server,
        &device.key,
        &kid,
        "POST",
        path,
        wrong_body.as_bytes(),
    );
    let headers = [("Tessera-Proof", token.as_str())];
    http(&server.addr, "POST", path, &headers, wrong_body.as_bytes())
        .expect_error(422, "wrong_number");
    http(&server.addr, "POST", path, &headers, wrong_body.as_bytes())
        .expect_error(401, "bad_proof");

    // An answer that is not even JSON: likewise.
    let token = proof(&server, &device.key, &kid, "POST", path, b"{");
    let headers = [("Tessera-Proof", token.as_str())];
    http(&server.addr, "POST", path, &headers, b"{").expect_error(400, "bad_request");
    http(&server.addr, "POST", path, &headers, b"{").expect_error(401, "bad_proof");

    // A taken answer: the replayed request is refused on the proof.
    let body = json!({"answer": device.answer_token(&prompt, Decision::Approve, Some(&number))})
        .to_string();
    let token = proof(&server, &device.key, &kid, "POST", path, body.as_bytes());
    let headers = [("Tessera-Proof", token.as_str())];
    http(&server.addr, "POST", path, &headers, body.as_bytes()).expect(200);
    http(&server.addr, "POST", path, &headers, body.as_bytes()).expect_error(401, "bad_proof");
    assert_eq!(server.outcome(&id)["state"], "approved");
}
