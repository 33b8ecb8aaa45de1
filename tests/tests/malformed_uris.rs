//! The otpauth parser on hostile input: a corpus of malformed URIs
//! (`tests/vectors/malformed-uris.json`) that must each be refused naming the
//! right field without echoing the secret, a deterministic mutation loop that
//! must never panic, and the tolerant spellings that must be accepted.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeSet;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::PathBuf;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::Deserialize;
use tessera_core::{Algorithm, OtpKind, OtpauthUri, ParsedUri, UriError, UriWarning};

#[derive(Debug, Deserialize)]
struct Corpus {
    description: String,
    cases: Vec<Case>,
}

#[derive(Debug, Deserialize)]
struct Case {
    uri: String,
    field: String,
    why: String,
    #[serde(default)]
    repeat: Option<Repeat>,
}

#[derive(Debug, Deserialize)]
struct Repeat {
    marker: String,
    text: String,
    count: usize,
}

impl Case {
    fn input(&self) -> String {
        match &self.repeat {
            Some(r) => self.uri.replace(&r.marker, &r.text.repeat(r.count)),
            None => self.uri.clone(),
        }
    }
}

fn load_corpus() -> Corpus {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("vectors/malformed-uris.json");
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// Parses without letting a panic escape; `Err(message)` when it panicked.
fn parse_guarded(text: &str) -> Result<Result<ParsedUri, UriError>, String> {
    catch_unwind(AssertUnwindSafe(|| OtpauthUri::parse(text))).map_err(|payload| {
        payload
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "a panic".to_string())
    })
}

/// A tiny percent-decoder (lossy), enough to know what a secret decodes to.
fn percent_decode_lossy(raw: &str) -> String {
    let bytes = raw.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| char::from(b).to_digit(16);
        match (bytes[i], bytes.get(i + 1), bytes.get(i + 2)) {
            (b'%', Some(&h), Some(&l)) if hex(h).is_some() && hex(l).is_some() => {
                out.push((hex(h).unwrap() * 16 + hex(l).unwrap()) as u8);
                i += 3;
            }
            (b'+', _, _) => {
                out.push(b' ');
                i += 1;
            }
            (b, _, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The secret values a URI carries, in the forms an error could leak them:
/// as written, decoded, and normalised (uppercase, no spaces or hyphens).
fn secret_values(uri: &str) -> Vec<String> {
    let Some((_, query)) = uri.split_once('?') else {
        return Vec::new();
    };
    let mut values = Vec::new();
    for pair in query.split('&') {
        let Some((name, value)) = pair.split_once('=') else {
            continue;
        };
        if !name.eq_ignore_ascii_case("secret") {
            continue;
        }
        let decoded = percent_decode_lossy(value);
        let normalised: String = decoded
            .chars()
            .filter(|c| !c.is_whitespace() && *c != '-' && *c != '=')
            .map(|c| c.to_ascii_uppercase())
            .collect();
        values.extend([value.to_string(), decoded, normalised]);
    }
    // Very short values ("A") can appear in any sentence; they are not secrets.
    values.retain(|v| v.trim().chars().count() >= 6);
    values
}

#[test]
fn every_malformed_uri_is_refused_naming_its_field() {
    let corpus = load_corpus();
    assert!(corpus.description.contains("field"));
    assert!(
        corpus.cases.len() >= 120,
        "only {} cases",
        corpus.cases.len()
    );

    let mut failures = Vec::new();
    let mut fields = BTreeSet::new();
    for (index, case) in corpus.cases.iter().enumerate() {
        let input = case.input();
        let shown: String = input.chars().take(120).collect();
        let label = format!("case {index} ({}): {:?}", case.why, shown);
        let error = match parse_guarded(&input) {
            Err(panic) => {
                failures.push(format!("{label}: PANICKED: {panic}"));
                continue;
            }
            Ok(Ok(parsed)) => {
                failures.push(format!("{label}: accepted as {:?}", parsed.uri.params));
                continue;
            }
            Ok(Err(error)) => error,
        };
        fields.insert(case.field.clone());
        if error.field() != case.field {
            failures.push(format!(
                "{label}: field {:?}, expected {:?} ({error})",
                error.field(),
                case.field
            ));
        }
        let texts = [error.to_string(), format!("{error:?}")];
        for secret in secret_values(&input) {
            if texts.iter().any(|t| t.contains(&secret)) {
                failures.push(format!("{label}: the error shows the secret: {error}"));
            }
        }
        // Error text stays short even for 8 KiB of input.
        if error.to_string().len() > 300 {
            failures.push(format!(
                "{label}: a {} byte message",
                error.to_string().len()
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n{}",
        failures.len(),
        corpus.cases.len(),
        failures.join("\n")
    );

    for field in [
        "uri",
        "type",
        "label",
        "secret",
        "algorithm",
        "digits",
        "period",
        "counter",
        "issuer",
        "encoder",
        "parameter name",
    ] {
        assert!(fields.contains(field), "the corpus has no case for {field}");
    }
}

/// Valid URIs the mutation loop starts from: every kind and many features.
const SEEDS: &[&str] = &[
    "otpauth://totp/ACME%20Co:john.doe@email.com?secret=HXDMVJECJJWSRB3HWIZR4IFUGFTMXBOZ&issuer=ACME%20Co&algorithm=SHA1&digits=6&period=30",
    "otpauth://hotp/Example:alice?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&counter=42&digits=8&algorithm=SHA256",
    "otpauth://totp/Steam:gabe?secret=JBSWY3DPEHPK3PXP&encoder=steam&issuer=Steam",
    "otpauth://steam/Steam:gabe?secret=JBSWY3DPEHPK3PXP",
    "otpauth://totp/a?secret=jbsw%20y3dp%20ehpk%203pxp&algorithm=sha512&digits=10&period=60&image=https%3A%2F%2Fx.test%2Fa.png&color=ff0000",
    "otpauth://totp/%E6%97%A5%E6%9C%AC:%C3%BCser?secret=MFRGGZDFMZTWQ2LK&issuer=%E6%97%A5%E6%9C%AC",
    "otpauth://totp/Old:bob?secret=JBSW-Y3DP-EHPK-3PXP&issuer=New+Name&period=15",
    "OTPAUTH://TOTP/x%3Ay?SECRET=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ====&Digits=7&foo=bar&foo=baz",
    "otpauth://hotp/label-only?secret=GEZDGNBVGY3TQOJQ&counter=18446744073709551615",
    "otpauth://totp/:colon:in:label?secret=GEZDGNBVGY3TQOJQ&period=3600#fragment",
];

/// Bytes and snippets that tend to matter to a URI parser.
const SNIPPETS: &[&str] = &[
    "%",
    "%2",
    "%3A",
    "%25",
    "%FF",
    "%C3",
    "%00",
    "&",
    "=",
    "?",
    "/",
    ":",
    "#",
    "+",
    " ",
    "\0",
    "é",
    "日",
    "ＡＢ",
    "\u{200b}",
    "secret=",
    "&secret=AAAA",
    "&digits=",
    "&period=0",
    "&counter=",
    "&issuer=Steam",
    "&encoder=steam",
    "&encoder=x",
    "&issuer=",
    "&issuer=a%3Ab",
    "totp",
    "hotp",
    "steam",
    "otpauth://",
    "&algorithm=",
    "SHA256",
    "-",
    "9",
    "18446744073709551616",
];

fn mutate(rng: &mut StdRng, input: &[u8]) -> Vec<u8> {
    let mut bytes = input.to_vec();
    for _ in 0..rng.gen_range(1..=4) {
        let len = bytes.len();
        let at = rng.gen_range(0..=len);
        match rng.gen_range(0..8) {
            // Flip one bit.
            0 if len > 0 => {
                let i = rng.gen_range(0..len);
                bytes[i] ^= 1 << rng.gen_range(0..8);
            }
            // Replace a byte with a random one.
            1 if len > 0 => {
                let i = rng.gen_range(0..len);
                bytes[i] = rng.r#gen();
            }
            // Delete a run.
            2 if len > 0 => {
                let end = (at + rng.gen_range(1..=8)).min(len);
                bytes.drain(at.min(len)..end);
            }
            // Truncate.
            3 => bytes.truncate(at),
            // Duplicate a slice in place.
            4 if len > 0 => {
                let start = rng.gen_range(0..len);
                let end = (start + rng.gen_range(1..=40)).min(len);
                let copy = bytes[start..end].to_vec();
                let at = rng.gen_range(0..=len);
                bytes.splice(at..at, copy);
            }
            // Insert a snippet.
            5 | 6 => {
                let snippet = SNIPPETS[rng.gen_range(0..SNIPPETS.len())].as_bytes();
                bytes.splice(at..at, snippet.iter().copied());
            }
            // Swap two halves around a random point.
            _ => {
                let (head, tail) = bytes.split_at(at);
                bytes = [tail, head].concat();
            }
        }
    }
    bytes
}

#[test]
fn mutated_uris_never_panic_and_accepted_ones_round_trip() {
    const MUTATIONS: usize = 20_000;
    // Another seed explores other inputs: TESSERA_MUTATION_SEED=<u64>.
    let seed_value: u64 = std::env::var("TESSERA_MUTATION_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x0b5e_55ed_f00d);
    for seed in SEEDS {
        accepted(seed);
    }

    let mut rng = StdRng::seed_from_u64(seed_value);
    let mut failures = Vec::new();
    let (mut accepted, mut refused) = (0, 0);
    for round in 0..MUTATIONS {
        let seed = SEEDS[round % SEEDS.len()];
        let bytes = mutate(&mut rng, seed.as_bytes());
        let text = String::from_utf8_lossy(&bytes).into_owned();
        let what = format!("seed {seed_value}, round {round}: {text:?}");
        match parse_guarded(&text) {
            Err(panic) => failures.push(format!("{what}: PANICKED: {panic}")),
            Ok(Err(_)) => refused += 1,
            Ok(Ok(parsed)) => {
                accepted += 1;
                let formatted = parsed.uri.to_uri();
                match parse_guarded(&formatted) {
                    Err(panic) => failures.push(format!(
                        "{what}: re-parsing {:?} PANICKED: {panic}",
                        formatted.as_str()
                    )),
                    Ok(Err(error)) => failures.push(format!(
                        "{what}: formatted as {:?}, which is refused: {error}",
                        formatted.as_str()
                    )),
                    Ok(Ok(again)) if again.uri != parsed.uri => failures.push(format!(
                        "{what}: formatted as {:?}, which parses differently:\n  first {:?}\n  again {:?}",
                        formatted.as_str(),
                        parsed.uri,
                        again.uri
                    )),
                    Ok(Ok(_)) => {}
                }
            }
        }
    }
    // Few enough failures to read; all of them when there are few.
    let count = failures.len();
    failures.truncate(20);
    assert!(
        count == 0,
        "{count} of {MUTATIONS} mutations failed, first ones:\n{}",
        failures.join("\n")
    );
    // The loop explored both sides of the parser.
    assert!(
        accepted > 1000 && refused > 1000,
        "{accepted} accepted, {refused} refused"
    );
}

const RFC_SECRET: &[u8] = b"12345678901234567890";

/// Parses, asserts it round-trips through `to_uri`, and returns the result.
fn accepted(text: &str) -> ParsedUri {
    let parsed = OtpauthUri::parse(text).unwrap_or_else(|e| panic!("{text}: {e}"));
    let formatted = parsed.uri.to_uri();
    let again = OtpauthUri::parse(&formatted).unwrap_or_else(|e| panic!("{text}: {e}"));
    assert_eq!(again.uri, parsed.uri, "{text} -> {}", formatted.as_str());
    parsed
}

#[test]
fn tolerant_spellings_are_accepted() {
    // Secrets as people paste them.
    for text in [
        "otpauth://totp/Example:alice?secret=gezdgnbvgy3tqojqgezdgnbvgy3tqojq",
        "otpauth://totp/Example:alice?secret=GEZD%20GNBV%20GY3T%20QOJQ%20GEZD%20GNBV%20GY3T%20QOJQ",
        "otpauth://totp/Example:alice?secret=GEZD+GNBV+GY3T+QOJQ+GEZD+GNBV+GY3T+QOJQ",
        "otpauth://totp/Example:alice?secret=gezd-gnbv-gy3t-qojq-gezd-gnbv-gy3t-qojq",
        "otpauth://totp/Example:alice?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ====",
        "otpauth://totp/Example:alice?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ%3D%3D",
        "otpauth://totp/Example:alice?secret=%20gEzD%20gNbV-Gy3T%20qOjQ-gezdgnbvgy3tqojq%20",
        "  otpauth://totp/Example:alice?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ\n",
        "OTPAUTH://TOTP/Example:alice?SECRET=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ",
    ] {
        let parsed = accepted(text);
        assert_eq!(parsed.uri.secret.expose(), RFC_SECRET, "{text}");
        assert!(parsed.warnings.is_empty(), "{text}: {:?}", parsed.warnings);
        assert_eq!(parsed.uri.issuer, "Example");
        assert_eq!(parsed.uri.label, "alice");
        assert_eq!(parsed.uri.params.kind, OtpKind::Totp);
    }

    // Padding for a length that needs it.
    let padded = accepted("otpauth://totp/x?secret=MFRGGZDFMZTWQ2LKNNWG23TPOA======");
    assert_eq!(padded.uri.secret.expose(), b"abcdefghijklmnop");

    // `+` is a space in parameter values, a plus in the label.
    let plus = accepted(
        "otpauth://totp/ACME%20Co:a+b@example.com?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&issuer=ACME+Co",
    );
    assert_eq!(plus.uri.issuer, "ACME Co");
    assert_eq!(plus.uri.label, "a+b@example.com");
    assert!(plus.warnings.is_empty(), "{:?}", plus.warnings);

    // A percent-encoded colon separates the issuer like a literal one.
    let colon = accepted(
        "otpauth://totp/ACME%20Co%3Aalice%40example.com?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&issuer=ACME%20Co",
    );
    assert_eq!(colon.uri.issuer, "ACME Co");
    assert_eq!(colon.uri.label, "alice@example.com");
    assert!(colon.warnings.is_empty(), "{:?}", colon.warnings);
    let colon_only =
        accepted("otpauth://totp/ACME%3A%20alice?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ");
    assert_eq!(colon_only.uri.issuer, "ACME");
    assert_eq!(colon_only.uri.label, "alice");

    // The issuer parameter wins over a different label prefix, with a warning.
    let mismatch = accepted(
        "otpauth://totp/Old%20Name:bob?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&issuer=New%20Name",
    );
    assert_eq!(mismatch.uri.issuer, "New Name");
    assert_eq!(mismatch.uri.label, "bob");
    assert_eq!(
        mismatch.warnings,
        vec![UriWarning::IssuerMismatch {
            label_prefix: "Old Name".into(),
            parameter: "New Name".into()
        }]
    );
    assert!(mismatch.warnings[0].to_string().contains("New Name"));

    // An 80-bit secret works but is flagged.
    let weak = accepted("otpauth://totp/Example:alice?secret=JBSWY3DPEHPK3PXP&issuer=Example");
    assert_eq!(weak.warnings, vec![UriWarning::WeakSecret { bits: 80 }]);
    assert_eq!(weak.uri.secret.len(), 10);
    assert!(!weak.warnings[0].to_string().contains("JBSWY3DP"));

    // Unknown parameters are kept, decoded, in order, and written back in order.
    let extras = accepted(
        "otpauth://totp/Example:alice?image=https%3A%2F%2Fexample.com%2Flogo.png&secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&zeta=1&color=0000FF&alpha=2&Unknown=x+y&zeta=3&flag",
    );
    let expected: Vec<(String, String)> = [
        ("image", "https://example.com/logo.png"),
        ("zeta", "1"),
        ("color", "0000FF"),
        ("alpha", "2"),
        ("Unknown", "x y"),
        ("zeta", "3"),
        ("flag", ""),
    ]
    .iter()
    .map(|(n, v)| (n.to_string(), v.to_string()))
    .collect();
    assert_eq!(extras.uri.extra, expected);
    let formatted = extras.uri.to_uri();
    let positions: Vec<usize> = [
        "image=", "zeta=1", "color=", "alpha=", "Unknown=", "zeta=3", "flag=",
    ]
    .iter()
    .map(|p| {
        formatted
            .find(p)
            .unwrap_or_else(|| panic!("{p} in {}", formatted.as_str()))
    })
    .collect();
    assert!(
        positions.windows(2).all(|w| w[0] < w[1]),
        "{}",
        formatted.as_str()
    );

    // Algorithm spellings.
    for (spelling, algorithm) in [
        ("sha1", Algorithm::Sha1),
        ("SHA-256", Algorithm::Sha256),
        ("sha_512", Algorithm::Sha512),
        ("%20SHA256%20", Algorithm::Sha256),
    ] {
        let parsed = accepted(&format!(
            "otpauth://totp/x?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&algorithm={spelling}"
        ));
        assert_eq!(parsed.uri.params.algorithm, algorithm, "{spelling}");
    }

    // Parameters that do not apply are ignored with a warning; HOTP without a
    // counter starts at 0.
    let hotp = accepted("otpauth://hotp/x?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&period=abc");
    assert_eq!(hotp.uri.params.counter, 0);
    assert!(hotp.warnings.contains(&UriWarning::MissingCounter));
    assert!(hotp.warnings.contains(&UriWarning::IgnoredParameter {
        name: "period".into()
    }));
    let totp = accepted("otpauth://totp/x?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&counter=junk");
    assert_eq!(
        totp.warnings,
        vec![UriWarning::IgnoredParameter {
            name: "counter".into()
        }]
    );

    // Steam: a stale digits=6 means the usual 5 characters.
    let steam =
        accepted("otpauth://steam/Steam:me?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&digits=6");
    assert_eq!(steam.uri.params.kind, OtpKind::Steam);
    assert_eq!(steam.uri.params.digits, 5);

    // A Steam account's own encoder wins over another one, with a warning;
    // on other accounts an unknown encoder is kept like any parameter.
    let steam_other = accepted(
        "otpauth://totp/me?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&issuer=Steam&encoder=other",
    );
    assert_eq!(steam_other.uri.params.kind, OtpKind::Steam);
    assert!(steam_other.uri.extra.is_empty());
    assert_eq!(
        steam_other.warnings,
        vec![UriWarning::IgnoredParameter {
            name: "encoder".into()
        }]
    );
    let totp_other =
        accepted("otpauth://totp/me?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&encoder=other");
    assert_eq!(totp_other.uri.params.kind, OtpKind::Totp);
    assert_eq!(
        totp_other.uri.extra,
        vec![("encoder".to_string(), "other".to_string())]
    );

    // Limits are inclusive.
    let limits = accepted(
        "otpauth://hotp/x?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&digits=10&counter=18446744073709551615",
    );
    assert_eq!(limits.uri.params.digits, 10);
    assert_eq!(limits.uri.params.counter, u64::MAX);
    let longest = accepted("otpauth://totp/x?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&period=3600");
    assert_eq!(longest.uri.params.period, 3600);
    let kib = "AAAAAAAA".repeat(204) + "AAAAAAA"; // 1,024 bytes exactly
    let largest = accepted(&format!("otpauth://totp/x?secret={kib}"));
    assert_eq!(largest.uri.secret.len(), 1024);
}

#[test]
fn labels_and_issuers_with_colons_round_trip() {
    // A colon inside the account name, an empty issuer prefix, an issuer with
    // a colon, a Steam account with another encoder: formatting must not move
    // text between issuer and label, nor write a parameter twice.
    let mut failures = Vec::new();
    for text in [
        "otpauth://totp/Example:a:b?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ",
        "otpauth://totp/:a:b?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ",
        "otpauth://totp/Old:a:b?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&issuer=",
        "otpauth://totp/alice?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&issuer=a%3Ab",
        "otpauth://totp/x:y?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&issuer=a%3Ab",
        "otpauth://totp/alice?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&issuer=Steam&encoder=other",
        "otpauth://steam/alice?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&encoder=other",
    ] {
        let result = parse_guarded(text).map(|r| {
            r.map_err(|e| e.to_string()).map(|parsed| {
                let formatted = parsed.uri.to_uri();
                (
                    OtpauthUri::parse(&formatted).map(|p| p.uri),
                    parsed.uri,
                    formatted,
                )
            })
        });
        match result {
            Ok(Ok((Ok(again), first, _))) if again == first => {}
            other => failures.push(format!("{text}: {other:?}")),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
