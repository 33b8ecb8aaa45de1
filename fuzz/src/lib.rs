//! The fuzz targets of `tessera-core`, as plain functions.
//!
//! Every `fuzz_targets/<name>.rs` is one line that hands libFuzzer's input to
//! the function of the same name here, so the same code can also be driven
//! without libFuzzer (the seed generator in `examples/gen_corpus.rs` runs
//! every seed through its target). Each function must never panic on any
//! input; where it is cheap, it also checks a round trip (parse → format →
//! parse gives the same value) and panics when that fails, which libFuzzer
//! reports as a crash.

use std::sync::OnceLock;

use tessera_core::otp::{OtpKind, OtpParams};
use tessera_core::otpauth::MAX_URI_LEN;
use tessera_core::push::jws::{self, KeyRef, PublicKey, SigningKey, UnverifiedJws};
use tessera_core::push::messages::{ANSWER_TYP, PROMPT_TYP, PROOF_TYP};
use tessera_core::push::pairing::MAX_PAIRING_URI_LEN;
use tessera_core::push::sse::{SseItem, SseParser};
use tessera_core::push::{
    AnswerClaims, DeviceTime, ENROLLMENT_TYP, MemoryReplayGuard, PairingUri, PromptClaims,
    ProofClaims, ProofRequest, handle_push_payload,
};
use tessera_core::transfer::device_to_device::{Invite, Receiver, Rendezvous};
use tessera_core::transfer::tessera_backup::TesseraBackup;
use tessera_core::transfer::{self, Export, Format};
use tessera_core::{Account, KdfParams, OtpauthUri};

/// The `typ` of a hand-off authorization (`push::handoff::HANDOFF_TYP`).
const HANDOFF_TYP: &str = "tessera-handoff+jwt";

/// Every JWS type the protocol uses.
pub const TYPS: [&str; 5] = [
    PROMPT_TYP,
    PROOF_TYP,
    ANSWER_TYP,
    ENROLLMENT_TYP,
    HANDOFF_TYP,
];

/// A fixed P-256 test key (PKCS#8, made once with OpenSSL for these targets
/// only; it protects nothing). Fixed so that seed tokens signed by the seed
/// generator verify inside the fuzzer too.
const TEST_KEY_PKCS8: &str = "308187020100301306072a8648ce3d020106082a8648ce3d030107046d306b0201010420f1bb5479dc94575a6c3f10c3c6a8eb88c6e0b3f63dd7d28df6c0b6d7afb820bba1440342000495f4b848ad3bfa69488d2fa70ac23e76c802adf4cd7fd5a6f008bb9df1c3a33e7dfe5c23b18b07708f86e0fbc903e33777baa240a1f80ec83ed88e5bcf849bed";

/// The device id the message targets expect.
pub const DEVICE_ID: &str = "dev-fuzz-0001";
/// The prompt an answer must name.
pub const PROMPT_ID: &str = "prompt-fuzz-0001";
/// The nonce an answer must echo (22 base64url characters, 128 bits).
pub const NONCE: &str = "AAAAAAAAAAAAAAAAAAAAAA";
/// The fixed "now" of the message targets (seconds since the epoch).
pub const NOW: u64 = 1_700_000_000;
/// The request a proof must match.
pub const PROOF_METHOD: &str = "POST";
/// See [`PROOF_METHOD`].
pub const PROOF_URL: &str = "https://push.example/v1/prompts/prompt-fuzz-0001/answer";
/// See [`PROOF_METHOD`].
pub const PROOF_BODY: &[u8] = b"{\"answer\":\"x\"}";
/// The password the importers get: short, so nothing but the KDF costs.
pub const PASSWORD: &str = "fuzz";

/// The fixed test key.
pub fn test_key() -> &'static SigningKey {
    static KEY: OnceLock<SigningKey> = OnceLock::new();
    KEY.get_or_init(|| {
        let pkcs8 = decode_hex(TEST_KEY_PKCS8);
        match SigningKey::from_pkcs8(&pkcs8) {
            Ok(key) => key,
            Err(e) => panic!("the fixed test key does not load: {e}"),
        }
    })
}

fn decode_hex(text: &str) -> Vec<u8> {
    text.as_bytes()
        .chunks(2)
        .map(|pair| {
            let digit = |c: u8| match c {
                b'0'..=b'9' => c - b'0',
                b'a'..=b'f' => c - b'a' + 10,
                _ => panic!("not lowercase hex"),
            };
            digit(pair[0]) << 4 | digit(pair[1])
        })
        .collect()
}

fn sign(typ: &str, key_ref: &KeyRef, payload: &[u8]) -> String {
    match test_key().sign(typ, key_ref, payload) {
        Ok(token) => token,
        Err(e) => panic!("signing with the test key failed: {e}"),
    }
}

fn pinned() -> &'static PublicKey {
    test_key().public_key()
}

// ------------------------------------------------------------------ push

/// `UnverifiedJws::parse` with every protocol `typ`, then verification
/// under the fixed key; the header parser's JWK path through
/// `PublicKey::from_jwk_json` on the same bytes.
pub fn jws(data: &[u8]) {
    let Ok(token) = std::str::from_utf8(data) else {
        return;
    };
    let mut parsed_as = 0;
    for typ in TYPS {
        let Ok(unverified) = UnverifiedJws::parse(token, typ) else {
            continue;
        };
        parsed_as += 1;
        assert_eq!(unverified.header().typ, typ);
        let payload = unverified.unverified_payload().to_vec();
        if let Ok(verified) = unverified.verify(pinned()) {
            // A token that verifies verifies the same way in one call, and
            // carries the payload the parser showed.
            assert_eq!(verified.payload, payload);
            assert_eq!(jws::verify(token, pinned(), typ).ok(), Some(verified));
        }
    }
    // `typ` is one string: a token can be of one type at most.
    assert!(parsed_as <= 1);
    if let Ok(key) = PublicKey::from_jwk_json(token) {
        let again = PublicKey::from_jwk_json(&key.to_jwk_json());
        assert_eq!(again.ok(), Some(key));
    }
}

/// A prompt: the fuzzed bytes are the payload, signed with the fixed key as
/// the pinned server's, so the claims decoding and the §3.3 checks are
/// reached (not just a signature failure).
pub fn prompt(data: &[u8]) {
    let key_ref = KeyRef::Kid(pinned().thumbprint());
    let token = sign(PROMPT_TYP, &key_ref, data);
    let time = Some(DeviceTime {
        now: NOW,
        uncertainty: 5,
    });
    let known = PromptClaims::verify(&token, pinned(), DEVICE_ID, time);
    let unknown = PromptClaims::verify(&token, pinned(), DEVICE_ID, None);
    if let Ok((claims, _)) = &known {
        // Whatever passes with the time known passes without it.
        assert_eq!(unknown.as_ref().ok().map(|(c, _)| c), Some(claims));
    }
    if let Ok((claims, _)) = unknown {
        // Re-signing the decoded claims gives the same claims back.
        let again = claims.sign(test_key()).map(|token| {
            PromptClaims::verify(&token, pinned(), DEVICE_ID, None).map(|(claims, _)| claims)
        });
        assert!(matches!(again, Ok(Ok(ref c)) if *c == claims));
    }
}

/// A request proof and an answer: the fuzzed bytes are the payload of
/// both, signed with the fixed key as the device's.
pub fn proof_answer(data: &[u8]) {
    let kid = KeyRef::Kid(DEVICE_ID.to_string());
    let request = ProofRequest {
        method: PROOF_METHOD,
        url: PROOF_URL,
        body: PROOF_BODY,
    };
    let proof = sign(PROOF_TYP, &kid, data);
    let guard = MemoryReplayGuard::new();
    if let Ok(claims) = ProofClaims::verify(&proof, pinned(), request, NOW, &guard) {
        assert_eq!(claims.htm, PROOF_METHOD);
        assert_eq!(claims.htu, PROOF_URL);
        // The same proof twice is a replay.
        assert!(ProofClaims::verify(&proof, pinned(), request, NOW, &guard).is_err());
        assert_eq!(guard.len(), 1);
    }
    let answer = sign(ANSWER_TYP, &kid, data);
    if let Ok(claims) = AnswerClaims::verify(&answer, pinned(), DEVICE_ID, PROMPT_ID, NONCE) {
        assert_eq!(claims.prompt_id, PROMPT_ID);
        assert_eq!(claims.nonce, NONCE);
    }
}

/// The Server-Sent Events parser fed in chunks chosen by the input: the
/// first byte seeds the split points. Whatever the splits, the items are
/// those of feeding the whole stream at once.
pub fn sse(data: &[u8]) {
    let Some((&seed, stream)) = data.split_first() else {
        return;
    };
    let mut whole = SseParser::new();
    let expected: Result<Vec<SseItem>, _> = whole.feed(stream);

    let mut split = SseParser::new();
    let mut items = Vec::new();
    let mut error = None;
    let mut rest = stream;
    let mut state = u32::from(seed) | 1;
    while !rest.is_empty() {
        // xorshift: a deterministic chunk length from 1 to 16 bytes.
        state ^= state << 13;
        state ^= state >> 17;
        state ^= state << 5;
        // The first chunk holds a whole BOM: the parser skips only one
        // that arrives in one piece (documented in `sse.rs`).
        let min = if rest.len() == stream.len() { 3 } else { 1 };
        let len = ((state % 16) as usize + 1).max(min).min(rest.len());
        let (chunk, tail) = rest.split_at(len);
        rest = tail;
        match split.feed(chunk) {
            Ok(more) => items.extend(more),
            Err(e) => {
                error = Some(e);
                break;
            }
        }
    }
    match (expected, error) {
        (Ok(expected), None) => {
            assert_eq!(items, expected);
            assert_eq!(split.last_event_id(), whole.last_event_id());
            assert_eq!(split.retry_ms(), whole.retry_ms());
        }
        (Err(expected), Some(error)) => assert_eq!(error, expected),
        (expected, error) => {
            panic!("whole stream: {expected:?}, split stream: error {error:?}")
        }
    }
}

/// Grey pixels, as a phone's camera or screenshot gives them to
/// `qr::decode_grey`: the first two bytes are the width (little-endian),
/// the rest the pixels, cut to whole rows. Whatever the picture, reading it
/// ends with texts or a typed error.
pub fn qr_grey(data: &[u8]) {
    let Some((width, pixels)) = data.split_first_chunk::<2>() else {
        return;
    };
    let width = usize::from(u16::from_le_bytes(*width));
    if width == 0 {
        return;
    }
    let height = pixels.len() / width;
    let pixels = &pixels[..width * height];
    let (Ok(w), Ok(h)) = (u32::try_from(width), u32::try_from(height)) else {
        return;
    };
    if let Ok(texts) = tessera_core::qr::decode_grey(w, h, pixels) {
        assert!(!texts.is_empty());
    }
}

/// A wake-up payload.
pub fn wake(data: &[u8]) {
    if let Ok(id) = handle_push_payload(data) {
        // The id goes into a URL path: never empty, never a dot segment.
        assert!(!id.is_empty() && id != "." && id != "..");
        assert!(
            id.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
        );
    }
}

/// The pairing URI: parse, then format and parse again.
pub fn pairing_uri(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(uri) = PairingUri::parse(text) {
        assert!(uri.validate().is_ok());
        let formatted = uri.to_string();
        if formatted.len() > MAX_PAIRING_URI_LEN {
            // Percent-encoding can take a URI the parser accepted over the
            // parser's own limit (a finding, see fuzz/README.md).
            assert!(PairingUri::parse(&formatted).is_err());
            return;
        }
        let again = PairingUri::parse(&formatted);
        assert_eq!(again.as_ref().ok(), Some(&uri), "{formatted}");
        assert_eq!(again.map(|u| u.to_string()).ok(), Some(formatted));
    }
}

// -------------------------------------------------------------- transfer

/// `Invite::parse`'s length limit.
const MAX_INVITE_LEN: usize = 4096;

/// The device-to-device invite: parse, then format and parse again.
pub fn transfer_invite(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(invite) = Invite::parse(text) {
        let formatted = invite.to_string();
        if formatted.len() > MAX_INVITE_LEN {
            // As for pairing URIs (a finding, see fuzz/README.md).
            assert!(Invite::parse(&formatted).is_err());
            return;
        }
        let again = Invite::parse(&formatted);
        assert_eq!(again.as_ref().ok(), Some(&invite), "{formatted}");
    }
}

/// A device-to-device envelope opened by a fresh receiver (with and without
/// a push key). A fuzzed envelope can never authenticate under a key made
/// after it, so this covers the envelope's parsing and key checks.
pub fn transfer_envelope(data: &[u8]) {
    for push in [false, true] {
        let receiver = if push {
            Receiver::with_push(Rendezvous::File)
        } else {
            Receiver::new(Rendezvous::File)
        };
        let Ok(receiver) = receiver else {
            panic!("could not make a receiver");
        };
        assert!(receiver.open(data).is_err());
    }
}

/// An `otpauth://` URI: parse, then format and parse again.
pub fn otpauth(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(parsed) = OtpauthUri::parse(text) {
        let formatted = parsed.uri.to_uri();
        if formatted.len() > MAX_URI_LEN {
            // As for pairing URIs (a finding, see fuzz/README.md).
            assert!(OtpauthUri::parse(&formatted).is_err());
            return;
        }
        let again = match OtpauthUri::parse(&formatted) {
            Ok(again) => again,
            Err(e) => panic!("a formatted URI does not parse: {e}"),
        };
        assert_eq!(again.uri, parsed.uri);
        assert_eq!(*again.uri.to_uri(), *formatted);
    }
}

/// The password an importer gets for `data`: none when the file asks for a
/// key derivation that would take more than a few milliseconds. The
/// importers' own limits still let a file ask for far more (see
/// `fuzz/README.md`); without this cap a smoke run would spend its time in
/// Argon2 and scrypt instead of the parsers.
pub fn password_for(format: Format, data: &[u8]) -> Option<&'static str> {
    let cheap = match format {
        Format::Aegis => aegis_kdf_work(data) <= MAX_SCRYPT_WORK,
        Format::TesseraBackup => backup_kdf_work(data) <= MAX_ARGON2_WORK,
        Format::TwoFas | Format::OtpauthList | Format::GoogleMigration => true,
    };
    cheap.then_some(PASSWORD)
}

/// The most scrypt work (n · r · p, summed over the password slots) the
/// targets let a fuzzed Aegis file ask for: 2^10 · 8 · 2, about 4 ms.
pub const MAX_SCRYPT_WORK: u64 = 1 << 14;
/// The most Argon2 work (KiB · passes · lanes) the targets let a fuzzed
/// Tessera backup ask for: 8 MiB-passes, about 10 ms.
pub const MAX_ARGON2_WORK: u64 = 8 * 1024;

fn json(data: &[u8]) -> Option<serde_json::Value> {
    serde_json::from_slice(data).ok()
}

fn number(value: &serde_json::Value, name: &str) -> u64 {
    value
        .get(name)
        .and_then(serde_json::Value::as_u64)
        .unwrap_or(0)
}

/// n · r · p over every password slot, as the importer would compute it
/// (saturating; 0 when the file is not JSON).
fn aegis_kdf_work(data: &[u8]) -> u64 {
    let Some(value) = json(data) else { return 0 };
    let Some(slots) = value
        .get("header")
        .and_then(|h| h.get("slots"))
        .and_then(serde_json::Value::as_array)
    else {
        return 0;
    };
    slots
        .iter()
        .filter(|s| s.get("type").and_then(serde_json::Value::as_i64) == Some(1))
        .map(|s| {
            number(s, "n")
                .saturating_mul(number(s, "r").max(1))
                .saturating_mul(number(s, "p").max(1))
        })
        .fold(0, u64::saturating_add)
}

/// memory · passes · lanes of a Tessera backup's Argon2 (0 when not JSON).
fn backup_kdf_work(data: &[u8]) -> u64 {
    let Some(kdf) = json(data).and_then(|v| v.get("kdf").cloned()) else {
        return 0;
    };
    number(&kdf, "memory_kib")
        .saturating_mul(number(&kdf, "iterations").max(1))
        .saturating_mul(number(&kdf, "parallelism").max(1))
}

/// What must survive every format: issuer, label, parameters, secret.
type Essence = (String, String, OtpParams, Vec<u8>);

/// The parameters that make the codes: the counter only matters for HOTP
/// (the Aegis importer keeps a TOTP entry's `counter`, which no export
/// writes back).
fn code_params(params: OtpParams) -> OtpParams {
    match params.kind {
        OtpKind::Hotp => params,
        _ => OtpParams {
            counter: 0,
            ..params
        },
    }
}

fn essence(accounts: &[Account]) -> Vec<Essence> {
    accounts
        .iter()
        .filter_map(|a| {
            let otp = a.otp.as_ref()?;
            Some((
                a.issuer.clone(),
                a.label.clone(),
                code_params(otp.params),
                otp.secret.expose().to_vec(),
            ))
        })
        .collect()
}

/// Imports `data` as `format`; when it reads, exports the accounts again
/// (unforced, cheap KDF) and checks that the export reads back the same.
fn import_round_trip(format: Format, data: &[u8]) {
    let password = password_for(format, data);
    let Ok(batch) = format.importer().import(data, password) else {
        return;
    };
    if batch.accounts.is_empty() {
        return;
    }
    let too_long = |a: &Account| a.to_uri().is_some_and(|uri| uri.len() > MAX_URI_LEN);
    if format == Format::OtpauthList && batch.accounts.iter().any(too_long) {
        // A URI that formats longer than the parser reads (see `otpauth`).
        return;
    }
    let exporter: Box<dyn Export> = match format {
        Format::TesseraBackup => Box::new(cheap_backup()),
        Format::TwoFas => return,
        other => match other.exporter() {
            Some(exporter) => exporter,
            None => return,
        },
    };
    // An unforced export refuses when the format would lose something.
    let Ok(exported) = exporter.export(&batch.accounts, password, false) else {
        return;
    };
    let again = match format.importer().import(&exported.bytes, password) {
        Ok(again) => again,
        Err(e) => panic!("{format}: an export does not import: {e}"),
    };
    assert!(again.rejected.is_empty(), "{format}: {:?}", again.rejected);
    assert_eq!(
        essence(&again.accounts),
        essence(&batch.accounts),
        "{format}"
    );
}

/// The Tessera backup writer at the cheapest Argon2 cost.
pub fn cheap_backup() -> TesseraBackup {
    TesseraBackup {
        kdf: KdfParams {
            memory_kib: 8,
            iterations: 1,
            parallelism: 1,
        },
    }
}

/// The otpauth URI list importer.
pub fn import_otpauth_list(data: &[u8]) {
    import_round_trip(Format::OtpauthList, data);
}

/// The Google Authenticator migration importer.
pub fn import_google_migration(data: &[u8]) {
    import_round_trip(Format::GoogleMigration, data);
}

/// The Aegis importer (plain and encrypted).
pub fn import_aegis(data: &[u8]) {
    import_round_trip(Format::Aegis, data);
}

/// The 2FAS importer (plain and encrypted).
pub fn import_twofas(data: &[u8]) {
    import_round_trip(Format::TwoFas, data);
}

/// The Tessera backup importer.
pub fn import_tessera_backup(data: &[u8]) {
    import_round_trip(Format::TesseraBackup, data);
}

/// `detect`, then `import_any`: the detected format's importer must give
/// the same answer as calling it directly.
pub fn import_any(data: &[u8]) {
    let Some(format) = transfer::detect(data) else {
        assert!(transfer::import_any(data, None).is_err());
        return;
    };
    let password = password_for(format, data);
    let any = transfer::import_any(data, password);
    let direct = format.importer().import(data, password);
    // Fresh ids differ between the two reads; compare what was read.
    match (any, direct) {
        (Ok(a), Ok(d)) => {
            assert_eq!(essence(&a.accounts), essence(&d.accounts));
            assert_eq!(a.rejected, d.rejected);
        }
        (Err(a), Err(d)) => assert_eq!(a, d),
        (a, d) => panic!("import_any: {:?}, {format}: {:?}", a.err(), d.err()),
    }
}
