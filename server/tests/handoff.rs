//! Moving to a new phone (docs/push-protocol.md §9) against the real
//! server: the hand-off of a pairing to a new key, every way a forged or
//! stale authorization is refused, and the "not me" report of a device a
//! replacing enrollment revoked.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{Device, Response, Server, enrollment_uri, http, now, pair, pair_with_uri, proof};
use serde_json::{Value, json};
use tessera_core::push::handoff::{HANDOFF_TYP, HandoffClaims};
use tessera_core::push::jws;
use tessera_core::push::messages::random_id;
use tessera_core::push::{KeyRef, PublicKey, SigningKey};

/// `POST /v1/device/handoff` with a proof signed by `new_key` (as `jwk`).
fn claim(server: &Server, new_key: &SigningKey, authorization: &str) -> Response {
    let body = json!({
        "authorization": authorization,
        "name": "New phone",
        "delivery": {"kind": "stream"},
    })
    .to_string();
    let proof = proof(
        server,
        new_key,
        &KeyRef::Jwk,
        "POST",
        "/v1/device/handoff",
        body.as_bytes(),
    );
    http(
        &server.addr,
        "POST",
        "/v1/device/handoff",
        &[("Tessera-Proof", &proof)],
        body.as_bytes(),
    )
}

fn authorize(old: &Device, new_key: &PublicKey) -> String {
    HandoffClaims::create(&old.key, &old.id, new_key, now(), 600).unwrap()
}

fn devices(server: &Server, user: &str) -> Vec<Value> {
    server
        .rp("GET", &format!("/v1/rp/users/{user}/devices"), None)
        .expect(200)["devices"]
        .as_array()
        .unwrap()
        .clone()
}

fn device<'a>(list: &'a [Value], id: &str) -> &'a Value {
    list.iter().find(|d| d["device_id"] == id).unwrap()
}

#[test]
fn a_handoff_moves_the_pairing_and_revokes_the_old_device() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path());
    let old = pair(&server, "alice").device;
    let new_key = SigningKey::generate().unwrap();
    let authorization = authorize(&old, new_key.public_key());

    let answer = claim(&server, &new_key, &authorization).expect(201);
    let token = answer["enrollment"].as_str().unwrap();
    let verified = jws::verify(token, &old.pinned, "tessera-enrollment+jwt").unwrap();
    let claims: Value = serde_json::from_slice(&verified.payload).unwrap();
    assert_eq!(claims["user"], "alice");
    let new_id = claims["device_id"].as_str().unwrap().to_string();
    assert_ne!(new_id, old.id);

    let list = devices(&server, "alice");
    assert_eq!(device(&list, &old.id)["revoke_reason"], "handoff");
    assert!(device(&list, &new_id)["revoked_at"].is_null());
    assert_eq!(device(&list, &new_id)["name"], "New phone");

    // The old device is out; prompts now reach the new one.
    old.call(&server, "GET", "/v1/device/prompts", b"")
        .expect_error(403, "device_revoked");
    let new = Device {
        key: new_key,
        id: new_id,
        user: "alice".into(),
        pinned: old.pinned.clone(),
    };
    let (id, number) = server.prompt("alice", json!({}));
    let prompt = new.prompt(&server, &id);
    new.answer(
        &server,
        &prompt,
        tessera_core::push::Decision::Approve,
        Some(&number),
    )
    .expect(200);
    assert_eq!(server.outcome(&id)["state"], "approved");

    // The same authorization again (with a fresh proof) is a replay.
    claim(&server, &new.key, &authorization).expect_error(409, "handoff_replayed");
}

#[test]
fn forged_stale_and_misdirected_authorizations_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path());
    let old = pair(&server, "bob").device;
    let new_key = SigningKey::generate().unwrap();
    let stranger = SigningKey::generate().unwrap();

    // Signed by another key under the old device's id.
    let forged =
        HandoffClaims::create(&stranger, &old.id, new_key.public_key(), now(), 600).unwrap();
    let body = claim(&server, &new_key, &forged).expect_error(403, "handoff_invalid");
    assert!(
        body["message"].as_str().unwrap().contains("signature"),
        "{body}"
    );

    // For another key than the one claiming it.
    let elsewhere = authorize(&old, stranger.public_key());
    let body = claim(&server, &new_key, &elsewhere).expect_error(403, "handoff_invalid");
    assert!(
        body["message"].as_str().unwrap().contains("handoff_to"),
        "{body}"
    );

    // Expired, and living longer than 10 minutes.
    let sign = |iat: u64, exp: u64| {
        old.key
            .sign_json(
                HANDOFF_TYP,
                &KeyRef::Kid(old.id.clone()),
                &HandoffClaims {
                    v: 1,
                    device_id: old.id.clone(),
                    handoff_to: new_key.public_key().clone(),
                    iat,
                    exp,
                    nonce: random_id().unwrap(),
                },
            )
            .unwrap()
    };
    let body = claim(&server, &new_key, &sign(now() - 700, now() - 100))
        .expect_error(403, "handoff_invalid");
    assert!(
        body["message"].as_str().unwrap().contains("expired"),
        "{body}"
    );
    claim(&server, &new_key, &sign(now(), now() + 3600)).expect_error(403, "handoff_invalid");

    // An unknown device, and a proof without the new key.
    let unknown =
        HandoffClaims::create(&old.key, "no-such-device", new_key.public_key(), now(), 600)
            .unwrap();
    claim(&server, &new_key, &unknown).expect_error(403, "handoff_invalid");
    let good = authorize(&old, new_key.public_key());
    let body =
        json!({"authorization": good, "name": "x", "delivery": {"kind": "stream"}}).to_string();
    let kid_proof = proof(
        &server,
        &new_key,
        &KeyRef::Kid(old.id.clone()),
        "POST",
        "/v1/device/handoff",
        body.as_bytes(),
    );
    http(
        &server.addr,
        "POST",
        "/v1/device/handoff",
        &[("Tessera-Proof", &kid_proof)],
        body.as_bytes(),
    )
    .expect_error(401, "bad_proof");

    // Nothing was changed by any of these: the old device still works…
    old.call(&server, "GET", "/v1/device/prompts", b"")
        .expect(200);
    // …and once it is revoked, its authorizations are dead too.
    server
        .rp(
            "DELETE",
            &format!("/v1/rp/users/bob/devices/{}", old.id),
            None,
        )
        .expect(200);
    claim(&server, &new_key, &good).expect_error(403, "device_revoked");
    assert_eq!(devices(&server, "bob").len(), 1);
}

#[test]
fn a_replaced_device_reports_not_me_and_blocks_the_user_until_unblocked() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path());
    let old = pair(&server, "carol").device;
    let uri = enrollment_uri(&server, "carol", Some(json!({"replace": true})));
    let replacement = pair_with_uri(&server, uri, "carol").device;
    let list = devices(&server, "carol");
    assert_eq!(device(&list, &old.id)["revoke_reason"], "replaced");

    // Only "not_me" is a reason.
    old.call(
        &server,
        "POST",
        "/v1/device/report",
        br#"{"reason":"other"}"#,
    )
    .expect_error(400, "bad_request");
    let answer = old
        .call(
            &server,
            "POST",
            "/v1/device/report",
            br#"{"reason":"not_me"}"#,
        )
        .expect(200);
    assert_eq!(answer["blocked"], true);
    let list = devices(&server, "carol");
    assert!(
        device(&list, &old.id)["fraud_reported_at"].is_i64(),
        "{list:?}"
    );
    assert!(device(&list, &replacement.id)["fraud_reported_at"].is_null());
    server
        .rp(
            "POST",
            "/v1/rp/prompts",
            Some(json!({"user": "carol", "site": "Example"})),
        )
        .expect_error(403, "user_blocked");

    server
        .rp("POST", "/v1/rp/users/carol/unblock", None)
        .expect(200);
    let (id, _) = server.prompt("carol", json!({}));
    replacement.prompt(&server, &id);

    // A device revoked for another reason cannot report.
    let other = pair(&server, "dave").device;
    server
        .rp("POST", "/v1/rp/users/dave/revoke-all", None)
        .expect(200);
    other
        .call(
            &server,
            "POST",
            "/v1/device/report",
            br#"{"reason":"not_me"}"#,
        )
        .expect_error(403, "device_revoked");
}

/// A device revoked while it was offline learns why on its next request
/// (§8, §9.3): `device_revoked` carries the stored reason, on the stream's
/// connect and on every other device endpoint alike.
#[test]
fn a_revoked_device_learns_the_reason_on_its_next_request() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path());
    let expect_reason = |device: &Device, reason: &str| {
        for (method, path) in [
            ("GET", "/v1/device/stream"),
            ("GET", "/v1/device/prompts"),
            ("DELETE", "/v1/device"),
        ] {
            let body = device
                .call(&server, method, path, b"")
                .expect_error(403, "device_revoked");
            assert_eq!(body["reason"], reason, "{method} {path}: {body}");
            let message = body["message"].as_str().unwrap();
            assert!(!message.contains(&device.id), "{message}");
        }
    };

    // Replaced by the site's replacing enrollment (a lost phone).
    let lost = pair(&server, "erin").device;
    let uri = enrollment_uri(&server, "erin", Some(json!({"replace": true})));
    let replacement = pair_with_uri(&server, uri, "erin").device;
    expect_reason(&lost, "replaced");
    // It may still report the replacement, and is told nothing more.
    lost.call(
        &server,
        "POST",
        "/v1/device/report",
        br#"{"reason":"not_me"}"#,
    )
    .expect(200);

    // Revoked by the relying party.
    server
        .rp(
            "DELETE",
            &format!("/v1/rp/users/erin/devices/{}", replacement.id),
            None,
        )
        .expect(200);
    expect_reason(&replacement, "revoked");

    // Handed off to a new device.
    let old = pair(&server, "frank").device;
    let new_key = SigningKey::generate().unwrap();
    claim(&server, &new_key, &authorize(&old, new_key.public_key())).expect(201);
    expect_reason(&old, "handoff");
    // A second claim of a fresh authorization by the handed-off device is
    // refused with the same reason.
    let other_key = SigningKey::generate().unwrap();
    let body = claim(
        &server,
        &other_key,
        &authorize(&old, other_key.public_key()),
    )
    .expect_error(403, "device_revoked");
    assert_eq!(body["reason"], "handoff", "{body}");

    // A stranger's proof still learns nothing: the reason comes only after
    // the proof verified.
    let stranger = Device {
        key: SigningKey::generate().unwrap(),
        id: old.id.clone(),
        user: "frank".into(),
        pinned: old.pinned.clone(),
    };
    let body = stranger
        .call(&server, "GET", "/v1/device/prompts", b"")
        .expect_error(401, "bad_proof");
    assert!(body.get("reason").is_none(), "{body}");
}
