//! The OTP engine against independent implementations, on random parameters:
//! the `totp-rs` crate, Debian's `oathtool` (OATH Toolkit) and, for the 10-digit
//! codes neither of those produces, an HMAC from `ring` with RFC 4226 dynamic
//! truncation written here.
//!
//! Every loop draws from a fixed seed (override with `TESSERA_CROSS_SEED`) and
//! prints the seed, the case number and the parameters on failure.
//!
//! The `oathtool` test is skipped when the tool is not installed, unless
//! `TESSERA_REQUIRE_TOOLS=1` is set (as in CI), in which case it fails.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;
use std::process::Command;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use ring::hmac;
use tessera_core::{Algorithm, OtpGenerator, OtpKind, OtpParams, Secret, Timestamp};

const DEFAULT_SEED: u64 = 0x7e55_e7a0_0c0d_e5ee;

fn seed() -> u64 {
    std::env::var("TESSERA_CROSS_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(DEFAULT_SEED)
}

/// A seeded generator per test, so each test is reproducible on its own.
fn rng_for(test: u64) -> (u64, StdRng) {
    let seed = seed() ^ test;
    (seed, StdRng::seed_from_u64(seed))
}

const ALGORITHMS: [Algorithm; 3] = [Algorithm::Sha1, Algorithm::Sha256, Algorithm::Sha512];

fn random_secret(rng: &mut StdRng, min: usize, max: usize) -> Vec<u8> {
    let len = rng.gen_range(min..=max);
    (0..len).map(|_| rng.r#gen()).collect()
}

fn to_hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn generator(params: OtpParams, secret: &[u8]) -> OtpGenerator {
    OtpGenerator::new(params, &Secret::from_bytes(secret.to_vec()).unwrap()).unwrap()
}

fn totp_params(algorithm: Algorithm, digits: u8, period: u32) -> OtpParams {
    OtpParams {
        algorithm,
        digits,
        period,
        ..OtpParams::totp()
    }
}

fn hotp_params(algorithm: Algorithm, digits: u8, counter: u64) -> OtpParams {
    OtpParams {
        algorithm,
        digits,
        ..OtpParams::hotp(counter)
    }
}

// ---------------------------------------------------------------- totp-rs

fn totp_rs_algorithm(algorithm: Algorithm) -> totp_rs::Algorithm {
    match algorithm {
        Algorithm::Sha1 => totp_rs::Algorithm::SHA1,
        Algorithm::Sha256 => totp_rs::Algorithm::SHA256,
        Algorithm::Sha512 => totp_rs::Algorithm::SHA512,
    }
}

#[test]
fn totp_matches_totp_rs_on_random_parameters() {
    const CASES: usize = 3000;
    let (seed, mut rng) = rng_for(1);
    for case in 0..CASES {
        let algorithm = ALGORITHMS[rng.gen_range(0..3)];
        // totp-rs formats up to 9 digits; 10 is checked against ring below.
        let digits: u8 = rng.gen_range(6..=9);
        let period: u32 = rng.gen_range(1..=120);
        let secret = random_secret(&mut rng, 10, 64);
        let time: u64 = rng.gen_range(0..=1u64 << 34);
        let millis: u64 = rng.gen_range(0..1000);
        let what = format!(
            "seed {seed}, case {case}: {algorithm} digits={digits} period={period} t={time}.{millis:03} secret={}",
            to_hex(&secret)
        );

        let reference = totp_rs::Builder::new()
            .with_algorithm(totp_rs_algorithm(algorithm))
            .with_digits(digits)
            .with_step_duration(u64::from(period))
            .with_secret(secret.clone())
            .build_noncompliant()
            .generate(time)
            .to_string();

        let ours = generator(totp_params(algorithm, digits, period), &secret)
            .code_at(Timestamp::from_unix_millis(time * 1000 + millis));
        assert_eq!(ours.value, reference, "{what}");
        assert_eq!(ours.counter, time / u64::from(period), "{what}");
        let window = ours.validity.unwrap();
        let from = time / u64::from(period) * u64::from(period);
        assert_eq!(window.from, Timestamp::from_unix_secs(from), "{what}");
        assert_eq!(
            window.until,
            Timestamp::from_unix_secs(from + u64::from(period)),
            "{what}"
        );
    }
}

#[test]
fn steam_matches_totp_rs_on_random_secrets() {
    const CASES: usize = 500;
    let (seed, mut rng) = rng_for(2);
    for case in 0..CASES {
        let secret = random_secret(&mut rng, 10, 64);
        let time: u64 = rng.gen_range(0..=1u64 << 34);
        let reference = totp_rs::Builder::new_steam()
            .with_secret(secret.clone())
            .build_noncompliant()
            .generate(time)
            .to_string();
        let ours = generator(OtpParams::steam(), &secret).code_at(Timestamp::from_unix_secs(time));
        assert_eq!(
            ours.value,
            reference,
            "seed {seed}, case {case}: steam t={time} secret={}",
            to_hex(&secret)
        );
    }
}

#[test]
fn steam_vectors_in_the_shared_file_match_totp_rs() {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("vectors/otp-vectors.json");
    let file: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let mut checked = 0;
    for v in file["vectors"].as_array().unwrap() {
        if v["kind"] != "steam" {
            continue;
        }
        let hex = v["secret_hex"].as_str().unwrap();
        let secret: Vec<u8> = (0..hex.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
            .collect();
        let time = v["time"].as_u64().unwrap();
        let reference = totp_rs::Builder::new_steam()
            .with_secret(secret)
            .build_noncompliant()
            .generate(time)
            .to_string();
        assert_eq!(reference, v["code"].as_str().unwrap(), "steam at {time}");
        checked += 1;
    }
    assert!(checked >= 5);
}

// ---------------------------------------------------------------- oathtool

/// True when `oathtool` can be run. Without it the test is skipped, unless
/// `TESSERA_REQUIRE_TOOLS=1` demands it.
fn oathtool_available() -> bool {
    let found = Command::new("oathtool")
        .arg("--version")
        .output()
        .is_ok_and(|out| out.status.success());
    if !found {
        if std::env::var("TESSERA_REQUIRE_TOOLS").as_deref() == Ok("1") {
            panic!(
                "oathtool is not on PATH and TESSERA_REQUIRE_TOOLS=1: install it (apt-get install oathtool)"
            );
        }
        eprintln!(
            "SKIPPED: oathtool is not on PATH (apt-get install oathtool); set TESSERA_REQUIRE_TOOLS=1 to make this a failure"
        );
    }
    found
}

/// Runs oathtool and returns the codes it prints, one per line.
fn oathtool(args: &[String]) -> Vec<String> {
    let out = Command::new("oathtool").args(args).output().unwrap();
    assert!(
        out.status.success(),
        "oathtool {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect()
}

fn oath_mode(algorithm: Algorithm) -> &'static str {
    match algorithm {
        Algorithm::Sha1 => "SHA1",
        Algorithm::Sha256 => "SHA256",
        Algorithm::Sha512 => "SHA512",
    }
}

#[test]
fn codes_match_oathtool_on_random_parameters() {
    if !oathtool_available() {
        return;
    }
    // Each invocation asks for WINDOW + 1 consecutive codes (`-w`).
    const CASES: usize = 240;
    const WINDOW: u64 = 3;
    let (seed, mut rng) = rng_for(3);
    let mut compared = 0;
    for case in 0..CASES {
        let algorithm = ALGORITHMS[case % 3];
        let digits: u8 = rng.gen_range(6..=8);
        let secret = random_secret(&mut rng, 10, 64);
        let key = to_hex(&secret);
        let what = format!("seed {seed}, case {case}: digits={digits} secret={key}");
        match case % 4 {
            // HOTP. oathtool's --hotp is HMAC-SHA-1 only.
            0 => {
                let counter: u64 = rng.gen_range(0..=u64::MAX - WINDOW);
                let codes = oathtool(&[
                    "--hotp".into(),
                    "-c".into(),
                    counter.to_string(),
                    "-d".into(),
                    digits.to_string(),
                    "-w".into(),
                    WINDOW.to_string(),
                    key.clone(),
                ]);
                assert_eq!(codes.len() as u64, WINDOW + 1, "{what}");
                let ours = generator(hotp_params(Algorithm::Sha1, digits, counter), &secret);
                for (i, code) in codes.iter().enumerate() {
                    let c = counter + i as u64;
                    assert_eq!(
                        &ours.code_for_counter(c),
                        code,
                        "{what}: HOTP SHA1 counter {c}"
                    );
                    compared += 1;
                }
                // The stored counter is what code_at shows.
                assert_eq!(
                    ours.code_at(Timestamp::from_unix_secs(0)).value,
                    codes[0],
                    "{what}"
                );
            }
            // HOTP with SHA-256/512: oathtool's TOTP with a 1-second step at
            // time T computes HMAC(T), which is HOTP with counter T.
            1 => {
                let algorithm = [Algorithm::Sha256, Algorithm::Sha512][rng.gen_range(0..2)];
                let counter: u64 = rng.gen_range(0..1u64 << 34);
                let codes = oathtool(&[
                    format!("--totp={}", oath_mode(algorithm)),
                    "-s".into(),
                    "1s".into(),
                    "-N".into(),
                    format!("@{counter}"),
                    "-d".into(),
                    digits.to_string(),
                    "-w".into(),
                    WINDOW.to_string(),
                    key.clone(),
                ]);
                assert_eq!(codes.len() as u64, WINDOW + 1, "{what}");
                let ours = generator(hotp_params(algorithm, digits, counter), &secret);
                for (i, code) in codes.iter().enumerate() {
                    let c = counter + i as u64;
                    assert_eq!(
                        &ours.code_for_counter(c),
                        code,
                        "{what}: HOTP {algorithm} counter {c}"
                    );
                    compared += 1;
                }
            }
            // TOTP with a random step and time.
            _ => {
                let period: u32 = if rng.gen_bool(0.3) {
                    30
                } else {
                    rng.gen_range(1..=120)
                };
                let time: u64 = rng.gen_range(0..=1u64 << 34);
                let codes = oathtool(&[
                    format!("--totp={}", oath_mode(algorithm)),
                    "-d".into(),
                    digits.to_string(),
                    "-s".into(),
                    format!("{period}s"),
                    "-N".into(),
                    format!("@{time}"),
                    "-w".into(),
                    WINDOW.to_string(),
                    key.clone(),
                ]);
                assert_eq!(codes.len() as u64, WINDOW + 1, "{what}");
                let ours = generator(totp_params(algorithm, digits, period), &secret);
                let period = u64::from(period);
                for (i, code) in codes.iter().enumerate() {
                    // oathtool's window walks forward one step at a time.
                    let at = Timestamp::from_unix_secs(time + i as u64 * period);
                    let current = ours.code_at(at);
                    assert_eq!(
                        &current.value, code,
                        "{what}: TOTP {algorithm} period={period} t={time} +{i} steps"
                    );
                    assert_eq!(current.counter, time / period + i as u64, "{what}");
                    compared += 1;
                }
            }
        }
    }
    assert!(compared >= CASES * 4);
}

// ---------------------------------------------------------------- ring

fn ring_algorithm(algorithm: Algorithm) -> hmac::Algorithm {
    match algorithm {
        Algorithm::Sha1 => hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY,
        Algorithm::Sha256 => hmac::HMAC_SHA256,
        Algorithm::Sha512 => hmac::HMAC_SHA512,
    }
}

/// RFC 4226 §5.3, written independently of the engine: HMAC of the 8-byte
/// big-endian counter, 4 bytes at the offset given by the low nibble of the
/// last byte, top bit cleared.
fn reference_truncated(algorithm: Algorithm, secret: &[u8], counter: u64) -> u32 {
    let key = hmac::Key::new(ring_algorithm(algorithm), secret);
    let tag = hmac::sign(&key, &counter.to_be_bytes());
    let mac = tag.as_ref();
    let offset = usize::from(mac[mac.len() - 1] & 0x0f);
    let bytes = [
        mac[offset] & 0x7f,
        mac[offset + 1],
        mac[offset + 2],
        mac[offset + 3],
    ];
    u32::from_be_bytes(bytes)
}

fn reference_code(algorithm: Algorithm, secret: &[u8], counter: u64, digits: u8) -> String {
    let value = u64::from(reference_truncated(algorithm, secret, counter));
    let digits = usize::from(digits);
    let modulus = 10u64.pow(digits as u32);
    format!("{:0digits$}", value % modulus)
}

#[test]
fn ten_digit_codes_match_an_independent_hmac() {
    const CASES: usize = 2000;
    let (seed, mut rng) = rng_for(4);
    let mut leading_zero = 0;
    for case in 0..CASES {
        let algorithm = ALGORITHMS[rng.gen_range(0..3)];
        let secret = random_secret(&mut rng, 1, 128);
        let what = format!(
            "seed {seed}, case {case}: {algorithm} secret={}",
            to_hex(&secret)
        );
        if case % 2 == 0 {
            let counter: u64 = rng.r#gen();
            let expected = reference_code(algorithm, &secret, counter, 10);
            let ours = generator(hotp_params(algorithm, 10, counter), &secret);
            assert_eq!(
                ours.code_for_counter(counter),
                expected,
                "{what}: HOTP {counter}"
            );
            let code = ours.code_at(Timestamp::from_unix_secs(0));
            assert_eq!(code.value, expected, "{what}: HOTP {counter}");
            leading_zero += usize::from(expected.starts_with('0'));
        } else {
            let period: u32 = rng.gen_range(1..=3600);
            let time: u64 = rng.gen_range(0..=1u64 << 34);
            let step = time / u64::from(period);
            let expected = reference_code(algorithm, &secret, step, 10);
            let ours = generator(totp_params(algorithm, 10, period), &secret)
                .code_at(Timestamp::from_unix_secs(time));
            assert_eq!(
                ours.value, expected,
                "{what}: TOTP period={period} t={time}"
            );
            assert_eq!(ours.value.len(), 10);
            assert_eq!(ours.counter, step);
            leading_zero += usize::from(expected.starts_with('0'));
        }
    }
    // A 31-bit value is below 2^31 ≈ 2.1e9, so about half of all 10-digit
    // codes start with 0 and the padding is exercised.
    assert!(
        leading_zero > CASES / 4,
        "{leading_zero} codes with a leading 0"
    );
}

#[test]
fn every_digit_count_and_steam_match_an_independent_hmac() {
    const CASES: usize = 1500;
    let (seed, mut rng) = rng_for(5);
    const SYMBOLS: &[u8] = b"23456789BCDFGHJKMNPQRTVWXY";
    for case in 0..CASES {
        let algorithm = ALGORITHMS[rng.gen_range(0..3)];
        let digits: u8 = rng.gen_range(6..=10);
        let secret = random_secret(&mut rng, 1, 1024);
        let counter: u64 = rng.r#gen();
        let what = format!(
            "seed {seed}, case {case}: {algorithm} digits={digits} counter={counter} secret={}",
            to_hex(&secret)
        );
        let ours = generator(hotp_params(algorithm, digits, counter), &secret);
        assert_eq!(
            ours.code_for_counter(counter),
            reference_code(algorithm, &secret, counter, digits),
            "{what}"
        );

        // Steam: the same truncated value spelt in base 26, least significant first.
        let mut value = reference_truncated(Algorithm::Sha1, &secret, counter);
        let mut expected = String::new();
        for _ in 0..5 {
            expected.push(char::from(SYMBOLS[(value % 26) as usize]));
            value /= 26;
        }
        let steam = generator(OtpParams::steam(), &secret);
        assert_eq!(steam.params().kind, OtpKind::Steam);
        assert_eq!(steam.code_for_counter(counter), expected, "{what}: steam");
    }
}
