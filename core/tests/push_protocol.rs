//! The push protocol's building blocks: ES256 JWS, JWK and thumbprints, the
//! pairing URI, prompts, proofs and answers (docs/push-protocol.md).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use ring::rand::SystemRandom;
use ring::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair};
use tessera_core::push::jws::{self, JwkError, JwsError, KeyRef, PublicKey, SigningKey};
use tessera_core::push::messages::{
    self, AnswerClaims, Decision, DeviceTime, MemoryReplayGuard, MessageError, PromptClaims,
    PromptContext, PromptFreshness, PromptMode, ProofClaims, ProofRequest, ReplayGuard,
};
use tessera_core::push::pairing::{PairingError, PairingUri};

const TYP: &str = "tessera-prompt+jwt";

fn key() -> SigningKey {
    SigningKey::generate().unwrap()
}

/// Signs arbitrary header and payload bytes with `key`'s private half, so
/// tests can build tokens the library itself would never produce.
fn raw_token(key: &SigningKey, header: &str, payload: &[u8]) -> String {
    let pair = EcdsaKeyPair::from_pkcs8(
        &ECDSA_P256_SHA256_FIXED_SIGNING,
        key.pkcs8(),
        &SystemRandom::new(),
    )
    .unwrap();
    let input = format!("{}.{}", B64.encode(header), B64.encode(payload));
    let sig = pair.sign(&SystemRandom::new(), input.as_bytes()).unwrap();
    format!("{input}.{}", B64.encode(sig.as_ref()))
}

fn parts(token: &str) -> Vec<String> {
    token.split('.').map(str::to_string).collect()
}

// ------------------------------------------------------------------- JWS

#[test]
fn jws_round_trip_with_kid_jwk_and_none() {
    let k = key();
    for key_ref in [KeyRef::None, KeyRef::Kid("dev-1".into()), KeyRef::Jwk] {
        let token = k.sign(TYP, &key_ref, br#"{"hello":"world"}"#).unwrap();
        let v = jws::verify(&token, k.public_key(), TYP).unwrap();
        assert_eq!(v.payload, br#"{"hello":"world"}"#);
        assert_eq!(v.header.typ, TYP);
        match key_ref {
            KeyRef::None => assert!(v.header.kid.is_none() && v.header.jwk.is_none()),
            KeyRef::Kid(kid) => assert_eq!(v.header.kid.as_deref(), Some(kid.as_str())),
            KeyRef::Jwk => assert_eq!(v.header.jwk.as_ref(), Some(k.public_key())),
        }
    }
    let header = B64.decode(parts(&k.sign(TYP, &KeyRef::None, b"{}").unwrap())[0].as_bytes());
    assert_eq!(
        String::from_utf8(header.unwrap()).unwrap(),
        r#"{"alg":"ES256","typ":"tessera-prompt+jwt"}"#
    );
}

#[test]
fn jws_from_pkcs8_signs_the_same_key() {
    let k = key();
    let again = SigningKey::from_pkcs8(k.pkcs8()).unwrap();
    assert_eq!(again.public_key(), k.public_key());
    let token = again.sign(TYP, &KeyRef::None, b"{}").unwrap();
    jws::verify(&token, k.public_key(), TYP).unwrap();
    assert_eq!(
        SigningKey::from_pkcs8(b"not a key").unwrap_err(),
        JwsError::BadPrivateKey
    );
    let debug = format!("{k:?}");
    assert!(debug.contains("[redacted]"));
    assert!(!debug.contains(&format!("{:?}", k.pkcs8())));
}

#[test]
fn jws_tampering_is_refused() {
    let k = key();
    let token = k.sign(TYP, &KeyRef::None, br#"{"n":1}"#).unwrap();
    let p = parts(&token);

    let payload = format!("{}.{}.{}", p[0], B64.encode(br#"{"n":2}"#), p[2]);
    assert_eq!(
        jws::verify(&payload, k.public_key(), TYP).unwrap_err(),
        JwsError::BadSignature
    );

    let header = B64.encode(r#"{"alg":"ES256","typ":"tessera-prompt+jwt","kid":"x"}"#);
    let header = format!("{header}.{}.{}", p[1], p[2]);
    assert_eq!(
        jws::verify(&header, k.public_key(), TYP).unwrap_err(),
        JwsError::BadSignature
    );

    let mut sig = B64.decode(p[2].as_bytes()).unwrap();
    sig[10] ^= 1;
    let sig = format!("{}.{}.{}", p[0], p[1], B64.encode(&sig));
    let err = jws::verify(&sig, k.public_key(), TYP).unwrap_err();
    assert_eq!(err, JwsError::BadSignature);
    assert_eq!(err.field(), "signature");
}

#[test]
fn jws_signed_by_another_key_is_refused() {
    let token = key().sign(TYP, &KeyRef::None, b"{}").unwrap();
    assert_eq!(
        jws::verify(&token, key().public_key(), TYP).unwrap_err(),
        JwsError::BadSignature
    );
}

#[test]
fn jws_header_rules() {
    let k = key();
    let cases: &[(&str, &str)] = &[
        (r#"{"alg":"none","typ":"tessera-prompt+jwt"}"#, "header.alg"),
        (
            r#"{"alg":"HS256","typ":"tessera-prompt+jwt"}"#,
            "header.alg",
        ),
        (
            r#"{"alg":"es256","typ":"tessera-prompt+jwt"}"#,
            "header.alg",
        ),
        (
            r#"{"alg":"ES384","typ":"tessera-prompt+jwt"}"#,
            "header.alg",
        ),
        (r#"{"typ":"tessera-prompt+jwt"}"#, "header.alg"),
        (r#"{"alg":5,"typ":"tessera-prompt+jwt"}"#, "header.alg"),
        (r#"{"alg":"ES256"}"#, "header.typ"),
        (r#"{"alg":"ES256","typ":"JWT"}"#, "header.typ"),
        (
            r#"{"alg":"ES256","typ":"tessera-answer+jwt"}"#,
            "header.typ",
        ),
        (
            r#"{"alg":"ES256","alg":"ES256","typ":"tessera-prompt+jwt"}"#,
            "header",
        ),
        (
            r#"{"alg":"ES256","typ":"tessera-prompt+jwt","typ":"tessera-prompt+jwt"}"#,
            "header",
        ),
        (
            r#"{"alg":"ES256","typ":"tessera-prompt+jwt","crit":["exp"]}"#,
            "header.crit",
        ),
        (
            r#"{"alg":"ES256","typ":"tessera-prompt+jwt","kid":7}"#,
            "header.kid",
        ),
        (
            r#"{"alg":"ES256","typ":"tessera-prompt+jwt","jwk":{"kty":"RSA"}}"#,
            "header.jwk",
        ),
        (r#"["ES256"]"#, "header"),
        (r#"{"alg":"ES256","typ":"tessera-prompt+jwt"} x"#, "header"),
        ("not json", "header"),
    ];
    for (header, field) in cases {
        let token = raw_token(&k, header, b"{}");
        let err = jws::verify(&token, k.public_key(), TYP).unwrap_err();
        assert_eq!(err.field(), *field, "{header}: {err}");
    }
    // A well-formed hand-made header with extra members verifies.
    let token = raw_token(
        &k,
        r#"{"typ":"tessera-prompt+jwt","alg":"ES256","x-extra":1}"#,
        b"{}",
    );
    jws::verify(&token, k.public_key(), TYP).unwrap();
}

#[test]
fn jws_form_rules() {
    let k = key();
    let token = k.sign(TYP, &KeyRef::None, b"{}").unwrap();
    let p = parts(&token);
    let sig = B64.decode(p[2].as_bytes()).unwrap();
    let verify = |t: &str| jws::verify(t, k.public_key(), TYP).unwrap_err();

    assert_eq!(verify(&format!("{}.{}", p[0], p[1])), JwsError::NotCompact);
    assert_eq!(verify(""), JwsError::NotCompact);
    assert_eq!(verify(&format!("{token}.")), JwsError::TrailingData);
    assert_eq!(verify(&format!("{token}.xx")), JwsError::TrailingData);
    assert_eq!(verify(&format!("{token}\n")).field(), "signature");
    assert_eq!(verify(&format!("{token}=")).field(), "signature");
    assert_eq!(verify(&format!(" {token}")).field(), "header");
    assert_eq!(verify(&format!(".{}.{}", p[1], p[2])).field(), "header");
    assert_eq!(
        verify(&format!("{}=.{}.{}", p[0], p[1], p[2])).field(),
        "header"
    );
    assert_eq!(
        verify(&format!("{}.{}+.{}", p[0], p[1], p[2])).field(),
        "payload"
    );
    assert_eq!(verify(&format!("{}.{}.", p[0], p[1])).field(), "signature");
    // Standard base64 with padding instead of base64url.
    let std_sig = base64::engine::general_purpose::STANDARD.encode(&sig);
    if std_sig.contains(['+', '/', '=']) {
        assert_eq!(
            verify(&format!("{}.{}.{std_sig}", p[0], p[1])).field(),
            "signature"
        );
    }
    // Non-canonical base64url (stray low bits in the last character).
    let mut last = p[1].clone();
    let c = last.pop().unwrap();
    let alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let idx = alphabet.find(c).unwrap();
    last.push(alphabet.as_bytes()[idx | 1] as char);
    if last != p[1] {
        assert_eq!(
            verify(&format!("{}.{last}.{}", p[0], p[2])).field(),
            "payload"
        );
    }
    // Wrong signature lengths: DER-like 70 bytes, 63, 65.
    for len in [63, 65, 70, 32] {
        let mut s = sig.clone();
        s.resize(len, 1);
        assert_eq!(
            verify(&format!("{}.{}.{}", p[0], p[1], B64.encode(&s))),
            JwsError::SignatureLength { len }
        );
    }
    // Oversize input.
    let big = k.sign(TYP, &KeyRef::None, &vec![b'a'; 13_000]).unwrap();
    assert!(big.len() > jws::MAX_JWS_LEN);
    assert!(matches!(verify(&big), JwsError::TooLarge { .. }));
    let fits = k.sign(TYP, &KeyRef::None, &vec![b'a'; 12_000]).unwrap();
    assert!(fits.len() <= jws::MAX_JWS_LEN);
    jws::verify(&fits, k.public_key(), TYP).unwrap();
}

// ------------------------------------------------------------------- JWK

#[test]
fn jwk_round_trip() {
    let k = key();
    let json = k.public_key().to_jwk_json();
    assert_eq!(PublicKey::from_jwk_json(&json).unwrap(), *k.public_key());
    let via_serde = serde_json::to_string(k.public_key()).unwrap();
    let back: PublicKey = serde_json::from_str(&via_serde).unwrap();
    assert_eq!(back, *k.public_key());
    let value: serde_json::Value = serde_json::from_str(&via_serde).unwrap();
    assert_eq!(value["kty"], "EC");
    assert_eq!(value["crv"], "P-256");
    assert_eq!(value["x"].as_str().unwrap().len(), 43);
    assert_eq!(value["y"].as_str().unwrap().len(), 43);
    assert_eq!(PublicKey::from_jwk_value(&value).unwrap(), *k.public_key());
    // Extra members are ignored.
    let extra = format!(
        r#"{{"kid":"a","use":"sig","kty":"EC","crv":"P-256","x":"{}","y":"{}"}}"#,
        value["x"].as_str().unwrap(),
        value["y"].as_str().unwrap()
    );
    assert_eq!(PublicKey::from_jwk_json(&extra).unwrap(), *k.public_key());
}

#[test]
fn jwk_malformed_are_refused_naming_the_member() {
    let k = key();
    let x = B64.encode(k.public_key().x());
    let y = B64.encode(k.public_key().y());
    let one = B64.encode([1u8; 32]);
    let short = B64.encode([1u8; 31]);
    let long = B64.encode([1u8; 33]);
    let cases: Vec<(String, &str)> = vec![
        (
            format!(r#"{{"kty":"RSA","crv":"P-256","x":"{x}","y":"{y}"}}"#),
            "kty",
        ),
        (
            format!(r#"{{"kty":"ec","crv":"P-256","x":"{x}","y":"{y}"}}"#),
            "kty",
        ),
        (
            format!(r#"{{"kty":"EC","crv":"P-384","x":"{x}","y":"{y}"}}"#),
            "crv",
        ),
        (
            format!(r#"{{"kty":"EC","crv":"secp256k1","x":"{x}","y":"{y}"}}"#),
            "crv",
        ),
        (format!(r#"{{"kty":"EC","x":"{x}","y":"{y}"}}"#), "crv"),
        (format!(r#"{{"crv":"P-256","x":"{x}","y":"{y}"}}"#), "kty"),
        (format!(r#"{{"kty":"EC","crv":"P-256","y":"{y}"}}"#), "x"),
        (format!(r#"{{"kty":"EC","crv":"P-256","x":"{x}"}}"#), "y"),
        (
            format!(r#"{{"kty":"EC","crv":"P-256","x":"{short}","y":"{y}"}}"#),
            "x",
        ),
        (
            format!(r#"{{"kty":"EC","crv":"P-256","x":"{x}","y":"{long}"}}"#),
            "y",
        ),
        (
            format!(r#"{{"kty":"EC","crv":"P-256","x":"{x}=","y":"{y}"}}"#),
            "x",
        ),
        (
            format!(r#"{{"kty":"EC","crv":"P-256","x":"{x}","y":"{y} "}}"#),
            "y",
        ),
        (
            format!(r#"{{"kty":"EC","crv":"P-256","x":5,"y":"{y}"}}"#),
            "x",
        ),
        (
            format!(r#"{{"kty":"EC","crv":"P-256","x":"{x}","y":"{y}","d":"{x}"}}"#),
            "d",
        ),
        (
            format!(r#"{{"kty":"EC","crv":"P-256","x":"{x}","x":"{x}","y":"{y}"}}"#),
            "x",
        ),
        (
            format!(r#"{{"kty":"EC","crv":"P-256","x":"{one}","y":"{one}"}}"#),
            "x",
        ),
        (
            format!(r#"{{"kty":"EC","crv":"P-256","x":"{x}","y":"{x}"}}"#),
            "x",
        ),
        ("[]".to_string(), "jwk"),
        ("".to_string(), "jwk"),
        (r#"{"kty":"EC"} trailing"#.to_string(), "jwk"),
    ];
    for (json, field) in &cases {
        let err = PublicKey::from_jwk_json(json).unwrap_err();
        assert_eq!(err.field(), *field, "{json}: {err}");
        assert!(serde_json::from_str::<PublicKey>(json).is_err(), "{json}");
    }
}

#[test]
fn points_off_the_curve_are_refused() {
    let k = key();
    let x: [u8; 32] = k.public_key().x().try_into().unwrap();
    let mut y: [u8; 32] = k.public_key().y().try_into().unwrap();
    assert!(PublicKey::from_coordinates(&x, &y).is_ok());
    y[31] ^= 1;
    assert_eq!(
        PublicKey::from_coordinates(&x, &y).unwrap_err(),
        JwkError::NotOnCurve
    );
    // Coordinates ≥ p, and the all-zero "point".
    assert_eq!(
        PublicKey::from_coordinates(&[0xff; 32], &[0xff; 32]).unwrap_err(),
        JwkError::NotOnCurve
    );
    assert_eq!(
        PublicKey::from_coordinates(&[0; 32], &[0; 32]).unwrap_err(),
        JwkError::NotOnCurve
    );
    // ring's ECDSA verification refuses such a point too: the same check the
    // JWK parser relies on.
    let mut point = vec![4u8];
    point.extend_from_slice(&x);
    point.extend_from_slice(&y);
    let token = k.sign(TYP, &KeyRef::None, b"{}").unwrap();
    let (input, sig) = token.rsplit_once('.').unwrap();
    let sig = B64.decode(sig).unwrap();
    let bad =
        ring::signature::UnparsedPublicKey::new(&ring::signature::ECDSA_P256_SHA256_FIXED, &point);
    assert!(bad.verify(input.as_bytes(), &sig).is_err());
}

#[test]
fn thumbprint_is_stable_and_matches_an_independent_computation() {
    let k = key();
    let tp = k.public_key().thumbprint();
    assert_eq!(tp.len(), 43);
    assert_eq!(tp, k.public_key().thumbprint());
    assert_eq!(
        tp,
        PublicKey::from_jwk_json(&k.public_key().to_jwk_json())
            .unwrap()
            .thumbprint()
    );
    let canonical = format!(
        "{{\"crv\":\"P-256\",\"kty\":\"EC\",\"x\":\"{}\",\"y\":\"{}\"}}",
        B64.encode(k.public_key().x()),
        B64.encode(k.public_key().y())
    );
    let digest = ring::digest::digest(&ring::digest::SHA256, canonical.as_bytes());
    assert_eq!(tp, B64.encode(digest.as_ref()));
    assert_ne!(tp, key().public_key().thumbprint());
}

#[test]
fn thumbprint_of_a_fixed_key() {
    // The P-256 generator G as a public key; the expected thumbprint was
    // computed once with Python's hashlib over the RFC 7638 canonical JSON.
    let gx = hex32("6b17d1f2e12c4247f8bce6e563a440f277037d812deb33a0f4a13945d898c296");
    let gy = hex32("4fe342e2fe1a7f9b8ee7eb4a7c0f9e162bce33576b315ececbb6406837bf51f5");
    let g = PublicKey::from_coordinates(&gx, &gy).unwrap();
    let canonical = format!(
        "{{\"crv\":\"P-256\",\"kty\":\"EC\",\"x\":\"{}\",\"y\":\"{}\"}}",
        B64.encode(gx),
        B64.encode(gy)
    );
    assert_eq!(g.to_jwk_json(), canonical);
    let digest = ring::digest::digest(&ring::digest::SHA256, canonical.as_bytes());
    assert_eq!(g.thumbprint(), B64.encode(digest.as_ref()));
    assert_eq!(
        g.thumbprint(),
        "xx0BcA-wMohw8atYDJOe6peGModklG2wRHBlXHMvl0M"
    );
}

fn hex32(hex: &str) -> [u8; 32] {
    let mut out = [0u8; 32];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).unwrap();
    }
    out
}

// ------------------------------------------------------------------- pairing

const CODE: &str = "ABCDEFGHIJKLMNOPQRSTUVWXY4"; // 26 chars, last one canonical
const FP: &str = "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs";

fn good_uri() -> String {
    format!(
        "tessera-push://pair?v=1&server=https%3A%2F%2Fpush.example.com&code={CODE}&fp={FP}&issuer=Example&account=alice%40example.com"
    )
}

#[test]
fn pairing_uri_parses_and_round_trips() {
    let p = PairingUri::parse(&good_uri()).unwrap();
    assert_eq!(p.server, "https://push.example.com");
    assert_eq!(p.code, CODE);
    assert_eq!(p.fingerprint, FP);
    assert_eq!(p.issuer, "Example");
    assert_eq!(p.account, "alice@example.com");
    assert_eq!(p.to_string(), good_uri());
    assert_eq!(PairingUri::parse(&p.to_string()).unwrap(), p);
    p.validate().unwrap();

    let odd = PairingUri {
        server: "https://push.example.com:8443/tessera".into(),
        code: CODE.into(),
        fingerprint: key().public_key().thumbprint(),
        issuer: "Ex & Co = 100% «ok»".into(),
        account: "bob+tag@example.com".into(),
    };
    odd.validate().unwrap();
    assert_eq!(PairingUri::parse(&odd.to_string()).unwrap(), odd);

    // Loopback http for tests; + as space in labels; scheme case-insensitive.
    for server in [
        "http://127.0.0.1:8080",
        "http://localhost:3000/x",
        "http://[::1]:9",
        "https://[2001:db8::1]:443",
    ] {
        let uri = good_uri().replace(
            "https%3A%2F%2Fpush.example.com",
            &percent_encoding::utf8_percent_encode(server, percent_encoding::NON_ALPHANUMERIC)
                .to_string(),
        );
        assert_eq!(PairingUri::parse(&uri).unwrap().server, server);
    }
    let plus = good_uri().replace("issuer=Example", "issuer=My+Site");
    assert_eq!(PairingUri::parse(&plus).unwrap().issuer, "My Site");
    let upper = good_uri().replace("tessera-push://", "TESSERA-PUSH://");
    PairingUri::parse(&upper).unwrap();
}

#[test]
fn malformed_pairing_uris_name_their_field() {
    let g = good_uri();
    let srv = "https%3A%2F%2Fpush.example.com";
    let with_server = |s: &str| g.replace(srv, s);
    let cases: Vec<(String, &str)> = vec![
        // uri
        ("".into(), "uri"),
        ("otpauth://totp/x?secret=AAAA".into(), "uri"),
        // A multi-byte character across the end of the scheme (a panic once,
        // found by fuzzing).
        ("tesser\0\0\0\0sh:/\u{48f}a&\0\0".into(), "uri"),
        (g.replace("://pair?", "://enroll?"), "uri"),
        (g.replace("://pair?", "://PAIR?"), "uri"),
        (g.replace("pair?v=1", "pair?v=1&"), "uri"),
        (g.replace("&code=", "&&code="), "uri"),
        (format!("{g}&noequals"), "uri"),
        (format!("{g}&{}", "a".repeat(5000)), "uri"),
        (format!("{g}&=x"), "uri"),
        // unknown parameter
        (format!("{g}&secret=AAAA"), "secret"),
        (g.replace("fp=", "FP="), "FP"),
        // v
        (g.replace("v=1&", ""), "v"),
        (g.replace("v=1", "v=2"), "v"),
        (g.replace("v=1", "v=01"), "v"),
        (g.replace("v=1", "v="), "v"),
        (format!("{g}&v=1"), "v"),
        // server
        (with_server(""), "server"),
        (with_server("http%3A%2F%2Fpush.example.com"), "server"),
        (with_server("ftp%3A%2F%2Fpush.example.com"), "server"),
        (with_server("push.example.com"), "server"),
        (with_server("https%3A%2F%2F"), "server"),
        (
            with_server("https%3A%2F%2Fuser%40push.example.com"),
            "server",
        ),
        (
            with_server("https%3A%2F%2Fpush.example.com%3Fa%3Db"),
            "server",
        ),
        (
            with_server("https%3A%2F%2Fpush.example.com%23frag"),
            "server",
        ),
        (
            with_server("https%3A%2F%2Fpush.example.com%3A99999"),
            "server",
        ),
        (with_server("https%3A%2F%2Fpush.example.com%3A"), "server"),
        (with_server("https%3A%2F%2Fpush%20example.com"), "server"),
        (with_server("http%3A%2F%2F127.0.0.1.evil.com"), "server"),
        (with_server("http%3A%2F%2F10.0.0.1"), "server"),
        (with_server("https%3A%2F%2Fpush.example.com%ZZ"), "server"),
        (format!("{g}&server={srv}"), "server"),
        // code
        (g.replace(CODE, ""), "code"),
        (g.replace(CODE, &CODE[..25]), "code"),
        (g.replace(CODE, &format!("{CODE}A")), "code"),
        (g.replace(CODE, &CODE.to_lowercase()), "code"),
        (g.replace(CODE, "ABCDEFGHIJKLMNOPQRSTUVWXY1"), "code"),
        (g.replace(CODE, "ABCDEFGHIJKLMNOPQRSTUVWXYZ"), "code"),
        (g.replace(CODE, "ABCDEFGHIJKLMNOPQRSTUVWX=="), "code"),
        (format!("{g}&code={CODE}"), "code"),
        // fp
        (g.replace(FP, ""), "fp"),
        (g.replace(FP, &FP[..42]), "fp"),
        (g.replace(FP, &format!("{FP}A")), "fp"),
        (g.replace(FP, &format!("{}=", &FP[..42])), "fp"),
        (g.replace(FP, &FP.replace('-', "+")), "fp"),
        (g.replace(FP, &format!("{}t", &FP[..42])), "fp"),
        // issuer / account
        (g.replace("&issuer=Example", ""), "issuer"),
        (g.replace("issuer=Example", "issuer="), "issuer"),
        (g.replace("issuer=Example", "issuer=%E2%28"), "issuer"),
        (g.replace("issuer=Example", "issuer=Ex%0Aample"), "issuer"),
        (
            g.replace("issuer=Example", &format!("issuer={}", "x".repeat(257))),
            "issuer",
        ),
        (format!("{g}&issuer=Other"), "issuer"),
        (g.replace("&account=alice%40example.com", ""), "account"),
        (g.replace("alice%40example.com", "alice%4"), "account"),
        (g.replace("alice%40example.com", "%00"), "account"),
    ];
    assert!(cases.len() >= 30);
    for (uri, field) in &cases {
        let err = PairingUri::parse(uri).unwrap_err();
        assert_eq!(err.field(), *field, "{uri}: {err}");
    }
    assert!(matches!(
        PairingUri::parse(&g.replace("v=1", "v=2")),
        Err(PairingError::UnsupportedVersion { .. })
    ));
}

// ------------------------------------------------------------------- prompts

const NOW: u64 = 1_795_000_000;

fn prompt(device_id: &str) -> PromptClaims {
    PromptClaims {
        v: 1,
        prompt_id: "p-123".into(),
        device_id: device_id.into(),
        user: "alice".into(),
        site: "Example".into(),
        context: PromptContext {
            ip: Some("203.0.113.7".into()),
            location: Some("Lyon, FR".into()),
            user_agent: None,
            app: Some("Web login".into()),
        },
        mode: PromptMode::Entry,
        choices: None,
        iat: NOW,
        exp: NOW + 120,
        nonce: messages::random_id().unwrap(),
    }
}

fn at(now: u64) -> Option<DeviceTime> {
    Some(DeviceTime {
        now,
        uncertainty: 0,
    })
}

#[test]
fn prompt_sign_and_verify() {
    let server = key();
    let p = prompt("dev-1");
    let token = p.sign(&server).unwrap();
    let (claims, fresh) =
        PromptClaims::verify(&token, server.public_key(), "dev-1", at(NOW + 5)).unwrap();
    assert_eq!(claims, p);
    assert_eq!(fresh, PromptFreshness::Fresh);
    let header = jws::UnverifiedJws::parse(&token, messages::PROMPT_TYP).unwrap();
    assert_eq!(
        header.header().kid.as_deref(),
        Some(server.public_key().thumbprint().as_str())
    );
    // Unknown time: accepted, flagged for the server to decide.
    let (_, fresh) = PromptClaims::verify(&token, server.public_key(), "dev-1", None).unwrap();
    assert_eq!(fresh, PromptFreshness::TimeUnknown);
    // The number is never in an entry prompt.
    let payload = B64.decode(parts(&token)[1].as_bytes()).unwrap();
    let payload = String::from_utf8(payload).unwrap();
    assert!(!payload.contains("number") && !payload.contains("choices"));
}

#[test]
fn prompt_rules() {
    let server = key();
    let pinned = server.public_key();
    let check = |p: &PromptClaims, time| {
        PromptClaims::verify(&p.sign(&server).unwrap(), pinned, "dev-1", time)
    };
    // Signed by another key than the pinned one.
    let err = PromptClaims::verify(
        &prompt("dev-1").sign(&key()).unwrap(),
        pinned,
        "dev-1",
        at(NOW),
    )
    .unwrap_err();
    assert_eq!(err.field(), "signature");
    // Another device.
    assert_eq!(
        check(&prompt("dev-2"), at(NOW)).unwrap_err(),
        MessageError::WrongDevice
    );
    // Version.
    let mut p = prompt("dev-1");
    p.v = 2;
    assert_eq!(check(&p, at(NOW)).unwrap_err().field(), "v");
    // exp must be after iat.
    let mut p = prompt("dev-1");
    p.exp = p.iat;
    assert_eq!(
        check(&p, None).unwrap_err(),
        MessageError::ExpiresBeforeIssued
    );
    p.exp = p.iat - 1;
    assert_eq!(
        check(&p, None).unwrap_err(),
        MessageError::ExpiresBeforeIssued
    );
    // Lifetime: 600 s is the limit.
    p.exp = p.iat + 600;
    assert!(check(&p, at(NOW)).is_ok());
    p.exp = p.iat + 601;
    assert_eq!(
        check(&p, at(NOW)).unwrap_err(),
        MessageError::LifetimeTooLong { lifetime: 601 }
    );
    // Expiry, with the clock's uncertainty added.
    let p = prompt("dev-1");
    assert!(check(&p, at(NOW + 119)).is_ok());
    assert_eq!(check(&p, at(NOW + 120)).unwrap_err(), MessageError::Expired);
    assert_eq!(check(&p, at(NOW + 500)).unwrap_err(), MessageError::Expired);
    let uncertain = Some(DeviceTime {
        now: NOW + 100,
        uncertainty: 20,
    });
    assert_eq!(check(&p, uncertain).unwrap_err(), MessageError::Expired);
    let uncertain = Some(DeviceTime {
        now: NOW + 100,
        uncertainty: 19,
    });
    assert!(check(&p, uncertain).is_ok());
    let huge = Some(DeviceTime {
        now: u64::MAX,
        uncertainty: u64::MAX,
    });
    assert_eq!(check(&p, huge).unwrap_err(), MessageError::Expired);
    // Nonce must be 128 bits.
    let mut p = prompt("dev-1");
    p.nonce = "short".into();
    assert_eq!(check(&p, at(NOW)).unwrap_err().field(), "nonce");
    // Choices follow the mode.
    let mut p = prompt("dev-1");
    p.choices = Some(vec!["123456".into(), "234567".into(), "345678".into()]);
    assert_eq!(check(&p, at(NOW)).unwrap_err().field(), "choices");
    p.mode = PromptMode::Choice;
    assert!(check(&p, at(NOW)).is_ok());
    p.choices = Some(vec!["123456".into(), "123456".into(), "345678".into()]);
    assert_eq!(check(&p, at(NOW)).unwrap_err().field(), "choices");
    p.choices = None;
    assert_eq!(check(&p, at(NOW)).unwrap_err().field(), "choices");
    // Wrong typ: an answer-typed JWS is not a prompt.
    let as_answer = server
        .sign_json(messages::ANSWER_TYP, &KeyRef::None, &prompt("dev-1"))
        .unwrap();
    assert_eq!(
        PromptClaims::verify(&as_answer, pinned, "dev-1", at(NOW))
            .unwrap_err()
            .field(),
        "header.typ"
    );
    // Payload that is not the prompt object.
    for payload in [&b"[]"[..], b"{}", br#"{"v":1,"v":1}"#, b"null"] {
        let t = server
            .sign(messages::PROMPT_TYP, &KeyRef::None, payload)
            .unwrap();
        assert_eq!(
            PromptClaims::verify(&t, pinned, "dev-1", at(NOW))
                .unwrap_err()
                .field(),
            "payload"
        );
    }
}

// ------------------------------------------------------------------- proofs

const URL: &str = "https://push.example.com/v1/device/answer";

fn request(body: &[u8]) -> ProofRequest<'_> {
    ProofRequest {
        method: "POST",
        url: URL,
        body,
    }
}

#[test]
fn proof_round_trip_and_replay() {
    let device = key();
    let guard = MemoryReplayGuard::new();
    let kid = KeyRef::Kid("dev-1".into());
    let body = br#"{"answer":"x"}"#;
    let token = ProofClaims::create(&device, &kid, request(body), NOW).unwrap();
    let claims =
        ProofClaims::verify(&token, device.public_key(), request(body), NOW + 3, &guard).unwrap();
    assert_eq!(claims.htm, "POST");
    assert_eq!(claims.bh, messages::body_hash(body));
    assert_eq!(
        ProofClaims::verify(&token, device.public_key(), request(body), NOW + 4, &guard)
            .unwrap_err(),
        MessageError::Replayed
    );
    // A new proof for the same request is fine.
    let again = ProofClaims::create(&device, &kid, request(body), NOW + 5).unwrap();
    ProofClaims::verify(&again, device.public_key(), request(body), NOW + 5, &guard).unwrap();
    // At enrollment the header carries the key itself.
    let enroll = ProofClaims::create(&device, &KeyRef::Jwk, request(b"{}"), NOW).unwrap();
    let parsed = jws::UnverifiedJws::parse(&enroll, messages::PROOF_TYP).unwrap();
    let jwk = parsed.header().jwk.clone().unwrap();
    ProofClaims::verify(&enroll, &jwk, request(b"{}"), NOW, &guard).unwrap();
}

#[test]
fn proof_rules() {
    let device = key();
    let guard = MemoryReplayGuard::new();
    let kid = KeyRef::Kid("dev-1".into());
    let body = b"{\"a\":1}";
    let make = |iat| ProofClaims::create(&device, &kid, request(body), iat).unwrap();
    let verify = |t: &str, req, now| ProofClaims::verify(t, device.public_key(), req, now, &guard);

    // Stale and future iat.
    assert!(matches!(
        verify(&make(NOW - 61), request(body), NOW).unwrap_err(),
        MessageError::IatOutOfWindow { .. }
    ));
    assert_eq!(
        verify(&make(NOW + 61), request(body), NOW)
            .unwrap_err()
            .field(),
        "iat"
    );
    assert!(verify(&make(NOW - 60), request(body), NOW).is_ok());
    assert!(verify(&make(NOW + 60), request(body), NOW).is_ok());
    // Body hash: one byte more, one byte changed, whitespace.
    for other in [&b"{\"a\":1} "[..], b"{\"a\":2}", b"{\"a\": 1}", b""] {
        assert_eq!(
            verify(&make(NOW), request(other), NOW).unwrap_err(),
            MessageError::BodyHashMismatch
        );
    }
    // Method and URL are exact.
    let get = ProofRequest {
        method: "GET",
        ..request(body)
    };
    assert_eq!(verify(&make(NOW), get, NOW).unwrap_err().field(), "htm");
    let lower = ProofRequest {
        method: "post",
        ..request(body)
    };
    assert_eq!(verify(&make(NOW), lower, NOW).unwrap_err().field(), "htm");
    for url in [
        "https://push.example.com/v1/device/answer/",
        "https://push.example.com/v1/device/answer?x=1",
        "https://PUSH.example.com/v1/device/answer",
        "http://push.example.com/v1/device/answer",
    ] {
        let req = ProofRequest {
            url,
            ..request(body)
        };
        assert_eq!(verify(&make(NOW), req, NOW).unwrap_err().field(), "htu");
    }
    // Another device's key; another typ.
    let stranger = ProofClaims::create(&key(), &kid, request(body), NOW).unwrap();
    assert_eq!(
        verify(&stranger, request(body), NOW).unwrap_err().field(),
        "signature"
    );
    let prompt_typed = device
        .sign_json(messages::PROMPT_TYP, &kid, &serde_json::json!({}))
        .unwrap();
    assert_eq!(
        verify(&prompt_typed, request(body), NOW)
            .unwrap_err()
            .field(),
        "header.typ"
    );
    // A refused proof does not use up its jti.
    let t = make(NOW);
    assert!(verify(&t, request(b"x"), NOW).is_err());
    assert!(verify(&t, request(body), NOW).is_ok());
}

#[test]
fn memory_replay_guard_forgets_after_120_seconds() {
    let guard = MemoryReplayGuard::new();
    assert!(guard.is_empty());
    assert!(guard.first_use("a", 1000));
    assert!(!guard.first_use("a", 1000));
    assert!(guard.first_use("b", 1100));
    assert!(
        !guard.first_use("a", 1000),
        "still within 120 s of the newest"
    );
    assert!(guard.first_use("c", 1120));
    assert!(!guard.first_use("a", 1000), "exactly 120 s: remembered");
    assert!(guard.first_use("d", 1121));
    assert_eq!(guard.len(), 3, "a was forgotten");
    assert!(guard.first_use("a", 1000));
    assert!(!guard.first_use("b", 1100));
    // Usable as a trait object across threads.
    let shared: std::sync::Arc<dyn ReplayGuard + Send + Sync> =
        std::sync::Arc::new(MemoryReplayGuard::new());
    let handles: Vec<_> = (0..8)
        .map(|_| {
            let g = shared.clone();
            std::thread::spawn(move || g.first_use("same", 5))
        })
        .collect();
    let wins = handles
        .into_iter()
        .map(|h| h.join().unwrap())
        .filter(|first| *first)
        .count();
    assert_eq!(wins, 1);
}

// ------------------------------------------------------------------- answers

#[test]
fn answer_round_trip_and_rules() {
    let device = key();
    let p = prompt("dev-1");
    let token = AnswerClaims::create(&device, &p, Decision::Approve, Some("482913"), NOW).unwrap();
    let a = AnswerClaims::verify(&token, device.public_key(), "dev-1", "p-123", &p.nonce).unwrap();
    assert_eq!(a.decision, Decision::Approve);
    assert_eq!(a.number.as_deref(), Some("482913"));
    assert_eq!(a.nonce, p.nonce);

    let verify = |t: &str, nonce: &str| {
        AnswerClaims::verify(t, device.public_key(), "dev-1", "p-123", nonce)
    };
    let other_nonce = messages::random_id().unwrap();
    assert_eq!(
        verify(&token, &other_nonce).unwrap_err(),
        MessageError::NonceMismatch
    );
    assert_eq!(
        AnswerClaims::verify(&token, device.public_key(), "dev-1", "p-999", &p.nonce).unwrap_err(),
        MessageError::PromptIdMismatch
    );
    assert_eq!(
        AnswerClaims::verify(&token, device.public_key(), "dev-2", "p-123", &p.nonce).unwrap_err(),
        MessageError::WrongKid
    );
    // Signed by another key.
    let forged = AnswerClaims::create(&key(), &p, Decision::Approve, Some("482913"), NOW).unwrap();
    assert_eq!(verify(&forged, &p.nonce).unwrap_err().field(), "signature");
    // Deny and fraud need no number.
    for d in [Decision::Deny, Decision::Fraud] {
        let t = AnswerClaims::create(&device, &p, d, None, NOW).unwrap();
        assert_eq!(verify(&t, &p.nonce).unwrap().decision, d);
    }
    // Approve needs a number, of digits.
    assert_eq!(
        AnswerClaims::create(&device, &p, Decision::Approve, None, NOW)
            .unwrap_err()
            .field(),
        "number"
    );
    assert_eq!(
        AnswerClaims::create(&device, &p, Decision::Approve, Some("12ab56"), NOW)
            .unwrap_err()
            .field(),
        "number"
    );
    let no_number = device
        .sign_json(
            messages::ANSWER_TYP,
            &KeyRef::Kid("dev-1".into()),
            &serde_json::json!({"v":1,"prompt_id":"p-123","nonce":p.nonce,"decision":"approve","iat":NOW}),
        )
        .unwrap();
    assert_eq!(verify(&no_number, &p.nonce).unwrap_err().field(), "number");
    let bad_decision = device
        .sign_json(
            messages::ANSWER_TYP,
            &KeyRef::Kid("dev-1".into()),
            &serde_json::json!({"v":1,"prompt_id":"p-123","nonce":p.nonce,"decision":"maybe","iat":NOW}),
        )
        .unwrap();
    assert_eq!(
        verify(&bad_decision, &p.nonce).unwrap_err().field(),
        "payload"
    );
    let v2 = device
        .sign_json(
            messages::ANSWER_TYP,
            &KeyRef::Kid("dev-1".into()),
            &serde_json::json!({"v":2,"prompt_id":"p-123","nonce":p.nonce,"decision":"deny","iat":NOW}),
        )
        .unwrap();
    assert_eq!(verify(&v2, &p.nonce).unwrap_err().field(), "v");
}

// ------------------------------------------------------------------- Python

/// Cross-checks with Python's `cryptography` package when it is available:
/// Python verifies a Rust JWS, Rust verifies a Python JWS. Skipped (with a
/// note) when Python or the package is missing, unless
/// `TESSERA_REQUIRE_TOOLS=1`.
#[test]
fn cross_check_with_python_cryptography() {
    let required = std::env::var("TESSERA_REQUIRE_TOOLS").is_ok_and(|v| v == "1");
    let available = std::process::Command::new("python3")
        .args(["-c", "import cryptography"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !available {
        assert!(
            !required,
            "TESSERA_REQUIRE_TOOLS=1 but python3 with the cryptography package is missing"
        );
        eprintln!("note: python3 with `cryptography` not found; skipping the JWS cross-check");
        return;
    }

    const VERIFY_PY: &str = r#"
import sys, json, base64
from cryptography.hazmat.primitives.asymmetric import ec, utils
from cryptography.hazmat.primitives import hashes
def d(s): return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))
token, jwk = sys.argv[1], json.loads(sys.argv[2])
h, p, s = token.split(".")
pub = ec.EllipticCurvePublicNumbers(int.from_bytes(d(jwk["x"]), "big"),
    int.from_bytes(d(jwk["y"]), "big"), ec.SECP256R1()).public_key()
sig = d(s)
der = utils.encode_dss_signature(int.from_bytes(sig[:32], "big"), int.from_bytes(sig[32:], "big"))
pub.verify(der, (h + "." + p).encode(), ec.ECDSA(hashes.SHA256()))
header = json.loads(d(h))
assert header["alg"] == "ES256", header
print(d(p).decode())
"#;
    const SIGN_PY: &str = r#"
import json, base64
from cryptography.hazmat.primitives.asymmetric import ec, utils
from cryptography.hazmat.primitives import hashes
def e(b): return base64.urlsafe_b64encode(b).rstrip(b"=").decode()
key = ec.generate_private_key(ec.SECP256R1())
n = key.public_key().public_numbers()
jwk = {"kty": "EC", "crv": "P-256", "x": e(n.x.to_bytes(32, "big")), "y": e(n.y.to_bytes(32, "big"))}
h = e(json.dumps({"alg": "ES256", "typ": "tessera-prompt+jwt"}).encode())
p = e(b'{"from":"python"}')
r, s = utils.decode_dss_signature(key.sign((h + "." + p).encode(), ec.ECDSA(hashes.SHA256())))
print(json.dumps(jwk))
print(h + "." + p + "." + e(r.to_bytes(32, "big") + s.to_bytes(32, "big")))
"#;

    // Rust signs, Python verifies.
    let k = key();
    let token = k
        .sign(TYP, &KeyRef::Kid("dev-1".into()), br#"{"from":"rust"}"#)
        .unwrap();
    let out = std::process::Command::new("python3")
        .args(["-c", VERIFY_PY, &token, &k.public_key().to_jwk_json()])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "python refused the Rust JWS: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8(out.stdout).unwrap().trim(),
        r#"{"from":"rust"}"#
    );
    // …and refuses a tampered one.
    let mut bad = token.clone();
    bad.replace_range(
        bad.len() - 2..,
        if bad.ends_with("AA") { "BA" } else { "AA" },
    );
    let out = std::process::Command::new("python3")
        .args(["-c", VERIFY_PY, &bad, &k.public_key().to_jwk_json()])
        .output()
        .unwrap();
    assert!(!out.status.success());

    // Python signs, Rust verifies.
    let out = std::process::Command::new("python3")
        .args(["-c", SIGN_PY])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    let mut lines = text.lines();
    let jwk = PublicKey::from_jwk_json(lines.next().unwrap()).unwrap();
    let token = lines.next().unwrap();
    let v = jws::verify(token, &jwk, TYP).unwrap();
    assert_eq!(v.payload, br#"{"from":"python"}"#);
    assert_eq!(
        jws::verify(token, k.public_key(), TYP).unwrap_err(),
        JwsError::BadSignature
    );
}
