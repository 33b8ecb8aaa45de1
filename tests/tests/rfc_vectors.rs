//! Every RFC 4226 (HOTP) and RFC 6238 (TOTP) test vector, plus the Steam
//! vectors, read from `tests/vectors/otp-vectors.json` (the file the Kotlin and
//! Swift tests read too) and checked through `tessera_core::OtpGenerator`,
//! directly and through an otpauth URI built from each vector.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;

use ring::hmac;
use serde::Deserialize;
use tessera_core::{
    Algorithm, OtpGenerator, OtpKind, OtpParams, OtpauthUri, Secret, Timestamp, Validity,
};

#[derive(Debug, Deserialize)]
struct VectorFile {
    source: String,
    format: serde_json::Value,
    vectors: Vec<Vector>,
}

#[derive(Debug, Clone, Deserialize)]
struct Vector {
    source: String,
    kind: String,
    algorithm: String,
    #[serde(default)]
    secret_ascii: Option<String>,
    secret_hex: String,
    secret_base32: String,
    digits: u8,
    #[serde(default)]
    counter: Option<u64>,
    #[serde(default)]
    hmac_hex: Option<String>,
    #[serde(default)]
    truncated_hex: Option<String>,
    #[serde(default)]
    truncated_decimal: Option<u32>,
    #[serde(default)]
    period: Option<u32>,
    #[serde(default)]
    time: Option<u64>,
    #[serde(default)]
    utc: Option<String>,
    #[serde(default)]
    step_hex: Option<String>,
    code: String,
}

impl Vector {
    fn secret_bytes(&self) -> Vec<u8> {
        hex(&self.secret_hex)
    }

    fn secret(&self) -> Secret {
        Secret::from_bytes(self.secret_bytes()).unwrap()
    }

    fn algorithm(&self) -> Algorithm {
        match self.algorithm.as_str() {
            "SHA1" => Algorithm::Sha1,
            "SHA256" => Algorithm::Sha256,
            "SHA512" => Algorithm::Sha512,
            other => panic!("unknown algorithm {other} in the vector file"),
        }
    }

    fn kind(&self) -> OtpKind {
        match self.kind.as_str() {
            "hotp" => OtpKind::Hotp,
            "totp" => OtpKind::Totp,
            "steam" => OtpKind::Steam,
            other => panic!("unknown kind {other} in the vector file"),
        }
    }

    fn params(&self) -> OtpParams {
        OtpParams {
            kind: self.kind(),
            algorithm: self.algorithm(),
            digits: self.digits,
            period: self.period.unwrap_or(30),
            counter: self.counter.unwrap_or(0),
        }
    }

    fn time(&self) -> u64 {
        self.time.expect("time-based vectors have a time")
    }

    fn counter(&self) -> u64 {
        self.counter.expect("HOTP vectors have a counter")
    }
}

fn vector_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("vectors/otp-vectors.json")
}

fn load() -> VectorFile {
    let text = std::fs::read_to_string(vector_path()).unwrap();
    serde_json::from_str(&text).unwrap()
}

fn of_kind(file: &VectorFile, kind: &str) -> Vec<Vector> {
    file.vectors
        .iter()
        .filter(|v| v.kind == kind)
        .cloned()
        .collect()
}

/// Decodes lowercase or uppercase hex (written here, not taken from a crate,
/// so the check does not share code with what it checks).
fn hex(text: &str) -> Vec<u8> {
    assert!(text.len().is_multiple_of(2), "odd-length hex {text}");
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).unwrap())
        .collect()
}

fn to_hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// RFC 4648 base32 without padding, written here for the same reason.
fn base32_encode(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let mut out = String::new();
    let mut buffer: u32 = 0;
    let mut bits = 0;
    for &byte in bytes {
        buffer = (buffer << 8) | u32::from(byte);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            out.push(char::from(ALPHABET[((buffer >> bits) & 31) as usize]));
        }
    }
    if bits > 0 {
        out.push(char::from(ALPHABET[((buffer << (5 - bits)) & 31) as usize]));
    }
    out
}

/// An HMAC computed with ring, independently of the engine's RustCrypto HMAC.
fn ring_hmac(algorithm: Algorithm, key: &[u8], counter: u64) -> Vec<u8> {
    let algorithm = match algorithm {
        Algorithm::Sha1 => hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY,
        Algorithm::Sha256 => hmac::HMAC_SHA256,
        Algorithm::Sha512 => hmac::HMAC_SHA512,
    };
    let key = hmac::Key::new(algorithm, key);
    hmac::sign(&key, &counter.to_be_bytes()).as_ref().to_vec()
}

/// RFC 4226 §5.3 dynamic truncation.
fn dynamic_truncation(mac: &[u8]) -> u32 {
    let offset = usize::from(mac[mac.len() - 1] & 0x0f);
    (u32::from(mac[offset] & 0x7f) << 24)
        | (u32::from(mac[offset + 1]) << 16)
        | (u32::from(mac[offset + 2]) << 8)
        | u32::from(mac[offset + 3])
}

/// Steam Guard's encoding: five symbols, least significant first.
fn steam_encode(mut value: u32) -> String {
    const SYMBOLS: &[u8] = b"23456789BCDFGHJKMNPQRTVWXY";
    let mut out = String::new();
    for _ in 0..5 {
        out.push(char::from(SYMBOLS[(value % 26) as usize]));
        value /= 26;
    }
    out
}

fn expected_window(time: u64, period: u64) -> Validity {
    let from = time / period * period;
    Validity {
        from: Timestamp::from_unix_secs(from),
        until: Timestamp::from_unix_secs(from + period),
    }
}

#[test]
fn the_file_holds_every_rfc_vector_in_a_documented_shape() {
    let file = load();
    assert!(file.source.contains("RFC 4226"));
    assert!(file.source.contains("RFC 6238"));
    for key in ["secrets", "hotp", "totp", "steam"] {
        assert!(file.format.get(key).is_some(), "format note for {key}");
    }

    let hotp = of_kind(&file, "hotp");
    let counters: Vec<u64> = hotp.iter().map(Vector::counter).collect();
    assert_eq!(counters, (0..10).collect::<Vec<u64>>());
    let expected_hotp = [
        "755224", "287082", "359152", "969429", "338314", "254676", "287922", "162583", "399871",
        "520489",
    ];
    let codes: Vec<&str> = hotp.iter().map(|v| v.code.as_str()).collect();
    assert_eq!(codes, expected_hotp);
    for v in &hotp {
        assert_eq!(v.source, "RFC 4226 Appendix D");
        assert_eq!(v.secret_ascii.as_deref(), Some("12345678901234567890"));
        assert_eq!((v.algorithm.as_str(), v.digits), ("SHA1", 6));
    }

    let totp = of_kind(&file, "totp");
    assert_eq!(totp.len(), 18);
    for time in [
        59u64,
        1_111_111_109,
        1_111_111_111,
        1_234_567_890,
        2_000_000_000,
        20_000_000_000,
    ] {
        for (algorithm, seed) in [
            ("SHA1", "12345678901234567890"),
            ("SHA256", "12345678901234567890123456789012"),
            (
                "SHA512",
                "1234567890123456789012345678901234567890123456789012345678901234",
            ),
        ] {
            let found: Vec<&Vector> = totp
                .iter()
                .filter(|v| v.time == Some(time) && v.algorithm == algorithm)
                .collect();
            assert_eq!(found.len(), 1, "{algorithm} at {time}");
            let v = found[0];
            assert_eq!(v.source, "RFC 6238 Appendix B");
            assert_eq!(v.secret_ascii.as_deref(), Some(seed));
            assert_eq!((v.digits, v.period), (8, Some(30)));
        }
    }

    // Both encodings of each secret agree with each other and with the ASCII.
    for v in &file.vectors {
        let bytes = v.secret_bytes();
        assert_eq!(v.secret_hex, to_hex(&bytes), "hex is lowercase");
        assert_eq!(base32_encode(&bytes), v.secret_base32);
        assert_eq!(
            Secret::from_base32(&v.secret_base32).unwrap().expose(),
            bytes
        );
        if let Some(ascii) = &v.secret_ascii {
            assert_eq!(ascii.as_bytes(), bytes);
        }
    }
}

#[test]
fn hotp_rfc4226_appendix_d() {
    let file = load();
    for v in of_kind(&file, "hotp") {
        let counter = v.counter();
        let secret = v.secret();

        // The intermediate values the RFC prints, recomputed independently.
        let mac = ring_hmac(Algorithm::Sha1, &v.secret_bytes(), counter);
        assert_eq!(Some(to_hex(&mac)), v.hmac_hex, "HMAC for counter {counter}");
        let truncated = dynamic_truncation(&mac);
        assert_eq!(Some(truncated), v.truncated_decimal);
        assert_eq!(
            Some(truncated),
            v.truncated_hex
                .as_deref()
                .map(|h| u32::from_str_radix(h, 16).unwrap())
        );

        let generator = OtpGenerator::new(v.params(), &secret).unwrap();
        assert_eq!(
            generator.code_for_counter(counter),
            v.code,
            "counter {counter}"
        );
        // code_at uses the stored counter and ignores the time.
        for now in [0, 59, 1_700_000_000] {
            let code = generator.code_at(Timestamp::from_unix_secs(now));
            assert_eq!(code.value, v.code);
            assert_eq!(code.counter, counter);
            assert_eq!(code.validity, None);
            assert_eq!(code.seconds_left(Timestamp::from_unix_secs(now)), None);
        }

        // Longer codes are the low digits of the same truncated value, so the
        // RFC's decimal column checks 7 to 10 digits too.
        for digits in 7..=10u8 {
            let params = OtpParams {
                digits,
                ..v.params()
            };
            let generator = OtpGenerator::new(params, &secret).unwrap();
            let full = format!("{:010}", v.truncated_decimal.unwrap());
            assert_eq!(
                generator.code_for_counter(counter),
                full[10 - usize::from(digits)..],
                "{digits} digits at counter {counter}"
            );
        }
    }
}

#[test]
fn totp_rfc6238_appendix_b() {
    let file = load();
    for v in of_kind(&file, "totp") {
        let time = v.time();
        let period = u64::from(v.period.unwrap());
        let generator = OtpGenerator::new(v.params(), &v.secret()).unwrap();
        let step = u64::from_str_radix(v.step_hex.as_deref().unwrap(), 16).unwrap();
        assert_eq!(step, time / period);
        let what = format!("{} at {time} ({})", v.algorithm, v.utc.as_deref().unwrap());

        let code = generator.code_at(Timestamp::from_unix_secs(time));
        assert_eq!(code.value, v.code, "{what}");
        assert_eq!(code.counter, step, "{what}");
        let window = code.validity.unwrap();
        assert_eq!(window, expected_window(time, period), "{what}");
        assert_eq!(generator.code_for_counter(step), v.code, "{what}");

        // The same code over the whole window, to the millisecond, and a
        // different step right after it.
        let from = window.from.unix_millis();
        let until = window.until.unix_millis();
        for millis in [from, from + 1, time * 1000 + 999, until - 1] {
            let inside = generator.code_at(Timestamp::from_unix_millis(millis));
            assert_eq!(inside.value, v.code, "{what} at {millis} ms");
            assert_eq!(inside.validity, Some(window));
        }
        let next = generator.code_at(Timestamp::from_unix_millis(until));
        assert_eq!(next.counter, step + 1);
        assert_eq!(next.validity.unwrap().from, window.until);
        assert_eq!(
            code.seconds_left(Timestamp::from_unix_secs(time)),
            Some(window.until.unix_secs() - time)
        );

        // Recomputed with ring to be sure the file and the engine agree with a
        // third implementation.
        let independent =
            dynamic_truncation(&ring_hmac(v.algorithm(), &v.secret_bytes(), step)) % 100_000_000;
        assert_eq!(format!("{independent:08}"), v.code, "{what}");
    }
}

#[test]
fn steam_vectors_agree_with_an_independent_computation() {
    let file = load();
    let steam = of_kind(&file, "steam");
    assert!(steam.len() >= 5);
    for v in steam {
        let time = v.time();
        assert_eq!((v.digits, v.period), (5, Some(30)));
        let step = time / 30;
        let independent = steam_encode(dynamic_truncation(&ring_hmac(
            Algorithm::Sha1,
            &v.secret_bytes(),
            step,
        )));
        assert_eq!(independent, v.code, "steam at {time}");

        let generator = OtpGenerator::new(v.params(), &v.secret()).unwrap();
        let code = generator.code_at(Timestamp::from_unix_secs(time));
        assert_eq!(code.value, v.code, "steam at {time}");
        assert_eq!(code.counter, step);
        assert_eq!(code.validity, Some(expected_window(time, 30)));
    }
}

/// An otpauth URI for a vector, written the way issuers write them.
fn uri_for(v: &Vector, index: usize) -> String {
    match v.kind() {
        OtpKind::Hotp => format!(
            "otpauth://hotp/RFC%204226:vector-{index}?secret={}&issuer=RFC%204226&algorithm={}&digits={}&counter={}",
            v.secret_base32,
            v.algorithm,
            v.digits,
            v.counter()
        ),
        OtpKind::Totp => format!(
            "otpauth://totp/RFC%206238:vector-{index}?secret={}&issuer=RFC%206238&algorithm={}&digits={}&period={}",
            v.secret_base32,
            v.algorithm,
            v.digits,
            v.period.unwrap()
        ),
        OtpKind::Steam => format!(
            "otpauth://totp/Steam:vector-{index}?secret={}&issuer=Steam&encoder=steam",
            v.secret_base32
        ),
    }
}

fn check_parsed(uri: &OtpauthUri, v: &Vector, text: &str) {
    assert_eq!(uri.params, v.params(), "{text}");
    assert_eq!(uri.secret.expose(), v.secret_bytes(), "{text}");
    let generator = OtpGenerator::new(uri.params, &uri.secret).unwrap();
    let code = match v.kind() {
        OtpKind::Hotp => generator.code_at(Timestamp::from_unix_secs(0)),
        OtpKind::Totp | OtpKind::Steam => generator.code_at(Timestamp::from_unix_secs(v.time())),
    };
    assert_eq!(code.value, v.code, "{text}");
}

#[test]
fn every_vector_through_an_otpauth_uri() {
    let file = load();
    assert_eq!(file.vectors.len(), 10 + 18 + of_kind(&file, "steam").len());
    for (index, v) in file.vectors.iter().enumerate() {
        let text = uri_for(v, index);
        let parsed = OtpauthUri::parse(&text).unwrap();
        assert!(parsed.warnings.is_empty(), "{text}: {:?}", parsed.warnings);
        assert_eq!(parsed.uri.label, format!("vector-{index}"));
        check_parsed(&parsed.uri, v, &text);

        // Formatting and parsing again keeps every parameter, so the code too.
        let again = OtpauthUri::parse(&parsed.uri.to_uri()).unwrap().uri;
        assert_eq!(again, parsed.uri);
        check_parsed(&again, v, &text);

        // The tolerant spelling of the same secret gives the same codes.
        let spaced: String = v
            .secret_base32
            .to_lowercase()
            .as_bytes()
            .chunks(4)
            .map(|c| std::str::from_utf8(c).unwrap())
            .collect::<Vec<_>>()
            .join("%20");
        let tolerant = text.replace(&v.secret_base32, &spaced);
        let parsed = OtpauthUri::parse(&tolerant).unwrap();
        check_parsed(&parsed.uri, v, &tolerant);
    }

    // Steam is also recognised from the `steam` type and from the issuer alone.
    for v in of_kind(&file, "steam") {
        for text in [
            format!("otpauth://steam/Steam:me?secret={}", v.secret_base32),
            format!("otpauth://totp/me?secret={}&issuer=Steam", v.secret_base32),
        ] {
            let parsed = OtpauthUri::parse(&text).unwrap();
            check_parsed(&parsed.uri, &v, &text);
        }
    }
}
