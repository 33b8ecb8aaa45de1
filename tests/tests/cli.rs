//! End-to-end tests of the `tessera` command line: the real binary run as a
//! subprocess against a vault in a temporary directory, checking stdout,
//! stderr and the documented exit codes (0 ok, 2 usage, 3 not found, 4 bad
//! input, 5 locked, 6 damaged).
//!
//! Codes are checked against an independent RFC 4226 / RFC 6238
//! implementation on `ring::hmac`, never against `tessera-core` itself.
//!
//! The binary belongs to `tessera-desktop`, so Cargo does not build it for
//! this crate: the first test to need it runs
//! `cargo build -p tessera-desktop --bin tessera` once (a no-op when it is up
//! to date) and runs `<target dir>/debug/tessera`.
//!
//! Each test has its own sandbox: `HOME`, `XDG_DATA_HOME` and
//! `XDG_CONFIG_HOME` point into a temporary directory, inherited `TESSERA_*`
//! variables are removed and `TESSERA_TIME_SOURCES` is empty (no network time
//! sources: codes are for the system clock). Most tests pass `--no-keystore`,
//! so they unlock with the password (Argon2id, 64 MiB, 3 passes, each
//! invocation pays for it once), keeping password unlocks to about fifty in
//! all. The keystore test needs a reachable Secret Service (run under
//! `bash scripts/with-secret-service.sh`); without one it prints why and
//! passes, unless `TESSERA_REQUIRE_SECRET_SERVICE=1`, which makes it fail.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use ring::hmac;
use serde_json::Value;
use tessera_core::{KeyStore, PlatformKeyStore};
use tessera_tests::{Out, platform_keystore, tessera_bin};

const PASSWORD: &str = "cli-test-password";

/// The RFC 4226 / RFC 6238 SHA1 seed, "12345678901234567890", in base32.
const RFC_SECRET: &str = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ";
const RFC_SEED_SHA1: &[u8] = b"12345678901234567890";
const RFC_SEED_SHA256: &[u8] = b"12345678901234567890123456789012";
const RFC_SEED_SHA512: &[u8] = b"1234567890123456789012345678901234567890123456789012345678901234";

const OK: i32 = 0;
const USAGE: i32 = 2;
const NOT_FOUND: i32 = 3;
const BAD_INPUT: i32 = 4;
const LOCKED: i32 = 5;
const DAMAGED: i32 = 6;

// ---------------------------------------------------------------------------
// The binary and the sandbox.
// ---------------------------------------------------------------------------

/// A temporary home with a vault path in a directory that does not exist yet.
struct Sandbox {
    dir: tempfile::TempDir,
}

impl Sandbox {
    fn new() -> Self {
        Self {
            dir: tempfile::tempdir().expect("tempdir"),
        }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    /// The vault file the tests name with `--vault`.
    fn vault(&self) -> PathBuf {
        self.path().join("vaults").join("vault.json")
    }

    /// Where the vault's previous generation is kept.
    fn previous(&self) -> PathBuf {
        self.path().join("vaults").join("vault.json.prev")
    }

    /// `tessera` with a clean environment: HOME and XDG_DATA_HOME in the
    /// sandbox, no inherited TESSERA_* variable, stdin not a terminal.
    fn bare(&self) -> Command {
        let mut command = Command::new(tessera_bin());
        for (name, _) in std::env::vars_os() {
            if name.to_string_lossy().starts_with("TESSERA_") {
                command.env_remove(&name);
            }
        }
        command
            .env("HOME", self.path().join("home"))
            .env("XDG_DATA_HOME", self.path().join("xdg-data"))
            .env("XDG_CONFIG_HOME", self.path().join("xdg-config"))
            // Codes for the system clock as it is: no network time sources,
            // so the independent computation here sees the same instant.
            .env("TESSERA_TIME_SOURCES", "")
            .stdin(Stdio::null());
        command
    }

    /// `tessera --vault <sandbox vault> --no-keystore ARGS` with
    /// TESSERA_PASSWORD set: the password path.
    fn cmd(&self, args: &[&str]) -> Command {
        let mut command = self.bare();
        command
            .arg("--vault")
            .arg(self.vault())
            .arg("--no-keystore")
            .args(args)
            .env("TESSERA_PASSWORD", PASSWORD);
        command
    }

    /// Runs `cmd(args)`.
    fn run(&self, args: &[&str]) -> Out {
        run(self.cmd(args))
    }

    /// Adds accounts through `add -` (one URI per line on stdin).
    fn add_all(&self, uris: &[&str]) -> Out {
        let out = run_with_stdin(self.cmd(&["add", "-"]), uris.join("\n").as_bytes()).expect(OK);
        assert_eq!(out.stdout_lines().len(), uris.len(), "{out}");
        out
    }

    /// `list --json`, parsed.
    fn list_json(&self) -> Vec<Value> {
        let out = self.run(&["list", "--json"]).expect(OK);
        let value: Value = serde_json::from_str(&out.stdout).expect("list --json is JSON");
        value.as_array().expect("list --json is an array").clone()
    }
}

/// This file's assertions on a finished run.
trait CliOut {
    /// Asserts the exit code.
    fn expect(self, code: i32) -> Self;
    fn stderr_has(&self, needle: &str) -> &Self;
    fn stdout_has(&self, needle: &str) -> &Self;
    fn nowhere(&self, needle: &str) -> &Self;
    fn stdout_lines(&self) -> Vec<&str>;
}

impl CliOut for Out {
    #[track_caller]
    fn expect(self, code: i32) -> Self {
        assert_eq!(self.code, Some(code), "unexpected exit code:\n{self}");
        if code != OK {
            assert!(
                code == USAGE || self.stderr.lines().any(|l| l.starts_with("tessera: ")),
                "a failure explains itself on stderr:\n{self}"
            );
        }
        self
    }

    #[track_caller]
    fn stderr_has(&self, needle: &str) -> &Self {
        assert!(
            self.stderr.contains(needle),
            "stderr lacks {needle:?}:\n{self}"
        );
        self
    }

    #[track_caller]
    fn stdout_has(&self, needle: &str) -> &Self {
        assert!(
            self.stdout.contains(needle),
            "stdout lacks {needle:?}:\n{self}"
        );
        self
    }

    #[track_caller]
    fn nowhere(&self, needle: &str) -> &Self {
        assert!(
            !self.stdout.contains(needle) && !self.stderr.contains(needle),
            "the output shows {needle:?}:\n{self}"
        );
        self
    }

    fn stdout_lines(&self) -> Vec<&str> {
        self.stdout
            .lines()
            .filter(|l| !l.trim().is_empty())
            .collect()
    }
}

fn run(command: Command) -> Out {
    run_with_stdin(command, &[])
}

/// Runs a command with `stdin` as its standard input (empty: /dev/null).
fn run_with_stdin(mut command: Command, stdin: &[u8]) -> Out {
    let what = format!("{command:?}");
    if !stdin.is_empty() {
        command.stdin(Stdio::piped());
    }
    let mut child = command
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {what}: {e}"));
    if !stdin.is_empty() {
        let mut pipe = child.stdin.take().expect("stdin pipe");
        // A command that fails before reading its input closes the pipe.
        if let Err(e) = pipe.write_all(stdin) {
            assert_eq!(e.kind(), std::io::ErrorKind::BrokenPipe, "write stdin: {e}");
        }
    }
    let output = child.wait_with_output().expect("wait for tessera");
    Out {
        what,
        code: output.status.code(),
        stdout: String::from_utf8(output.stdout).expect("stdout is UTF-8"),
        stderr: String::from_utf8(output.stderr).expect("stderr is UTF-8"),
    }
}

// ---------------------------------------------------------------------------
// An independent OTP implementation (RFC 4226, RFC 6238, Steam Guard).
// ---------------------------------------------------------------------------

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_secs()
}

/// RFC 4648 base32 without padding.
fn base32(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let mut out = String::new();
    let (mut buffer, mut bits) = (0u64, 0u32);
    for &byte in bytes {
        buffer = (buffer << 8) | u64::from(byte);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            out.push(char::from(ALPHABET[((buffer >> bits) & 31) as usize]));
        }
        buffer &= (1 << bits) - 1;
    }
    if bits > 0 {
        out.push(char::from(ALPHABET[((buffer << (5 - bits)) & 31) as usize]));
    }
    out
}

/// RFC 4226 dynamic truncation of HMAC(key, counter): a 31-bit number.
fn truncated(algorithm: hmac::Algorithm, key: &[u8], counter: u64) -> u32 {
    let tag = hmac::sign(&hmac::Key::new(algorithm, key), &counter.to_be_bytes());
    let mac = tag.as_ref();
    let offset = usize::from(mac[mac.len() - 1] & 0x0f);
    u32::from_be_bytes([
        mac[offset],
        mac[offset + 1],
        mac[offset + 2],
        mac[offset + 3],
    ]) & 0x7fff_ffff
}

fn hotp(algorithm: hmac::Algorithm, key: &[u8], counter: u64, digits: u32) -> String {
    let value = u64::from(truncated(algorithm, key, counter)) % 10u64.pow(digits);
    format!("{value:0width$}", width = digits as usize)
}

fn steam(key: &[u8], step: u64) -> String {
    const ALPHABET: &[u8; 26] = b"23456789BCDFGHJKMNPQRTVWXY";
    let mut value = truncated(hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY, key, step);
    (0..5)
        .map(|_| {
            let symbol = char::from(ALPHABET[(value % 26) as usize]);
            value /= 26;
            symbol
        })
        .collect()
}

/// The SHA1 6-digit 30 s codes of `key` for every step from `from` to `to`
/// (unix seconds): the codes a process running in that interval may show.
fn totp_sha1_window(key: &[u8], from: u64, to: u64) -> Vec<String> {
    (from / 30..=to / 30)
        .map(|step| hotp(hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY, key, step, 6))
        .collect()
}

/// The first whitespace-separated word of a line.
fn first_word(line: &str) -> &str {
    line.split_whitespace().next().unwrap_or_default()
}

/// The recovery key printed on stderr ("Recovery key: XXXX-…").
fn recovery_key(stderr: &str) -> String {
    let keys: Vec<&str> = stderr
        .lines()
        .filter_map(|l| l.trim().strip_prefix("Recovery key: "))
        .collect();
    assert_eq!(keys.len(), 1, "one recovery key is printed:\n{stderr}");
    let key = keys[0].trim().to_string();
    let groups: Vec<&str> = key.split('-').collect();
    assert_eq!(groups.len(), 8, "8 groups of 4: {key}");
    assert!(
        groups.iter().all(|g| g.len() == 4
            && g.chars()
                .all(|c| c.is_ascii_uppercase() || ('2'..='7').contains(&c))),
        "base32 groups: {key}"
    );
    key
}

fn uri(kind: &str, issuer: &str, label: &str, secret: &str, extra: &str) -> String {
    format!("otpauth://{kind}/{issuer}:{label}?secret={secret}&issuer={issuer}{extra}")
}

#[test]
fn independent_otp_matches_the_rfc_vectors() {
    // Sanity of the reference implementation the other tests rely on.
    assert_eq!(base32(RFC_SEED_SHA1), RFC_SECRET);
    let sha1 = hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY;
    assert_eq!(hotp(sha1, RFC_SEED_SHA1, 0, 6), "755224");
    assert_eq!(hotp(sha1, RFC_SEED_SHA1, 9, 6), "520489");
    // RFC 6238 appendix B, T = 59 and T = 1111111109.
    assert_eq!(hotp(sha1, RFC_SEED_SHA1, 59 / 30, 8), "94287082");
    assert_eq!(
        hotp(hmac::HMAC_SHA256, RFC_SEED_SHA256, 59 / 30, 8),
        "46119246"
    );
    assert_eq!(
        hotp(hmac::HMAC_SHA512, RFC_SEED_SHA512, 59 / 30, 8),
        "90693936"
    );
    assert_eq!(hotp(sha1, RFC_SEED_SHA1, 1_111_111_109 / 30, 8), "07081804");
}

// ---------------------------------------------------------------------------
// demo
// ---------------------------------------------------------------------------

#[test]
fn demo_creates_the_vault_and_prints_the_rfc6238_code() {
    let sandbox = Sandbox::new();
    let before = unix_now();
    let out = sandbox.run(&["demo"]).expect(OK);
    let after = unix_now();

    // The vault was created, with its recovery key shown once, on stderr only.
    assert!(sandbox.vault().exists());
    out.stderr_has("Created a new vault")
        .stderr_has("Added the demo account");
    let key = recovery_key(&out.stderr);
    assert!(
        !out.stdout.contains(&key),
        "the recovery key stays off stdout"
    );

    // stdout is not a terminal: one frame of codes, then exit.
    let lines = out.stdout_lines();
    assert_eq!(lines.len(), 1, "one account, one line:\n{out}");
    assert!(
        lines[0].contains("Tessera Demo (demo@tessera.example)"),
        "{out}"
    );
    let code = first_word(lines[0]);
    let expected = totp_sha1_window(RFC_SEED_SHA1, before, after);
    assert!(
        expected.iter().any(|c| c == code),
        "demo printed {code}; RFC 6238 says one of {expected:?}"
    );
    assert!(
        !out.stdout.contains("\x1b["),
        "no terminal escapes when piped"
    );

    // The vault file is private and holds no secret in clear.
    let bytes = std::fs::read(sandbox.vault()).unwrap();
    let text = String::from_utf8_lossy(&bytes);
    assert!(!text.contains(RFC_SECRET) && !text.contains("tessera.example"));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(sandbox.vault())
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o077, 0, "vault file mode {mode:o}");
    }

    // A second demo reuses the vault and does not add the account again.
    let before = unix_now();
    let again = sandbox.run(&["demo"]).expect(OK);
    let after = unix_now();
    assert!(!again.stderr.contains("Recovery key"), "{again}");
    assert!(!again.stderr.contains("Added the demo account"), "{again}");
    let lines = again.stdout_lines();
    assert_eq!(lines.len(), 1, "still one account:\n{again}");
    let expected = totp_sha1_window(RFC_SEED_SHA1, before, after);
    assert!(
        expected.iter().any(|c| c == first_word(lines[0])),
        "{again}"
    );
}

// ---------------------------------------------------------------------------
// add
// ---------------------------------------------------------------------------

/// A QR code of `text` as a greyscale image, 8 pixels per module.
fn qr_image(text: &str) -> image::GrayImage {
    qrcode::QrCode::new(text.as_bytes())
        .expect("encode QR")
        .render::<image::Luma<u8>>()
        .module_dimensions(8, 8)
        .build()
}

#[test]
fn add_from_an_argument_stdin_and_qr_images() {
    let sandbox = Sandbox::new();
    let secret = base32(b"add-test-secret-0001");

    let out = sandbox
        .run(&[
            "add",
            "--tag",
            "work",
            "--tag",
            "email",
            &uri("totp", "Example", "alice@example.com", &secret, ""),
        ])
        .expect(OK);
    out.stdout_has("Added Example (alice@example.com) — TOTP SHA1, 6 digits, 30 s")
        .stderr_has("Created a new vault")
        .nowhere(&secret);
    recovery_key(&out.stderr);

    // "-" reads the URI from stdin (out of the shell history).
    let stdin_uri = uri(
        "totp",
        "Stdin",
        "bob",
        &base32(b"add-test-secret-0002"),
        "&digits=8",
    );
    let out = run_with_stdin(
        sandbox.cmd(&["add", "-"]),
        format!("{stdin_uri}\n").as_bytes(),
    )
    .expect(OK);
    out.stdout_has("Added Stdin (bob) — TOTP SHA1, 8 digits, 30 s");
    assert!(
        !out.stderr.contains("Recovery key"),
        "the vault already exists"
    );

    // A PNG screenshot of a QR code.
    let png = sandbox.path().join("code.png");
    let png_uri = uri(
        "totp",
        "Png",
        "carol",
        &base32(b"add-test-secret-0003"),
        "&algorithm=SHA256",
    );
    qr_image(&png_uri).save(&png).unwrap();
    sandbox
        .run(&["add", "--qr", png.to_str().unwrap()])
        .expect(OK)
        .stdout_has("Added Png (carol) — TOTP SHA256, 6 digits, 30 s");

    // The same as a JPEG (lossy, still readable).
    let jpeg = sandbox.path().join("code.jpg");
    let jpeg_uri = uri(
        "hotp",
        "Jpeg",
        "dave",
        &base32(b"add-test-secret-0004"),
        "&counter=5",
    );
    qr_image(&jpeg_uri).save(&jpeg).unwrap();
    sandbox
        .run(&["add", "--qr", jpeg.to_str().unwrap()])
        .expect(OK)
        .stdout_has("Added Jpeg (dave) — HOTP SHA1, 6 digits, counter 5");

    let rows = sandbox.list_json();
    let names: Vec<(&str, &str)> = rows
        .iter()
        .map(|r| (r["issuer"].as_str().unwrap(), r["label"].as_str().unwrap()))
        .collect();
    assert_eq!(
        names,
        [
            ("Example", "alice@example.com"),
            ("Stdin", "bob"),
            ("Png", "carol"),
            ("Jpeg", "dave")
        ]
    );
    assert_eq!(rows[0]["tags"], serde_json::json!(["work", "email"]));
    assert_eq!(rows[1]["tags"], serde_json::json!([]));
    assert_eq!(rows[3]["kind"], "hotp");
    let positions: Vec<u64> = rows
        .iter()
        .map(|r| r["position"].as_u64().unwrap())
        .collect();
    assert_eq!(positions, [1, 2, 3, 4]);
}

#[test]
fn add_qr_refuses_unreadable_and_missing_images() {
    let sandbox = Sandbox::new();

    // A valid PNG with no QR code in it.
    let blank = sandbox.path().join("blank.png");
    image::GrayImage::from_pixel(240, 240, image::Luma([255u8]))
        .save(&blank)
        .unwrap();
    sandbox
        .run(&["add", "--qr", blank.to_str().unwrap()])
        .expect(BAD_INPUT)
        .stderr_has("no QR code found");

    // Not an image at all.
    let text = sandbox.path().join("notes.png");
    std::fs::write(&text, "otpauth://totp/x?secret=AAAA").unwrap();
    sandbox
        .run(&["add", "--qr", text.to_str().unwrap()])
        .expect(BAD_INPUT)
        .stderr_has("not an image that can be read");

    // No such file.
    let missing = sandbox.path().join("missing.png");
    sandbox
        .run(&["add", "--qr", missing.to_str().unwrap()])
        .expect(NOT_FOUND)
        .stderr_has("missing.png");

    assert!(!sandbox.vault().exists(), "a failed add creates no vault");
}

#[test]
fn add_rejects_bad_uris_naming_the_field_and_never_the_secret() {
    let sandbox = Sandbox::new();
    let secret = base32(b"never-echo-this-secret!");
    let cases = [
        (
            uri("totp", "Bad", "alg", &secret, "&algorithm=MD5"),
            "algorithm",
        ),
        (
            uri("totp", "Bad", "digits", &secret, "&digits=12"),
            "digits",
        ),
        (
            "otpauth://totp/Bad:nosecret?issuer=Bad&digits=6".to_string(),
            "secret: missing",
        ),
        (uri("totp", "Bad", "period", &secret, "&period=0"), "period"),
        (uri("sms", "Bad", "type", &secret, ""), "type"),
    ];
    for (bad, field) in &cases {
        sandbox
            .run(&["add", bad])
            .expect(BAD_INPUT)
            .stderr_has("invalid otpauth URI")
            .stderr_has(field)
            .nowhere(&secret);
        // The same through stdin.
        run_with_stdin(sandbox.cmd(&["add", "-"]), bad.as_bytes())
            .expect(BAD_INPUT)
            .stderr_has(field)
            .nowhere(&secret);
    }

    // One bad URI in a batch adds nothing at all.
    let good = uri("totp", "Good", "one", &base32(b"good-secret-000001"), "");
    let batch = format!("{good}\n{}\n", cases[0].0);
    run_with_stdin(sandbox.cmd(&["add", "-"]), batch.as_bytes())
        .expect(BAD_INPUT)
        .nowhere(&secret);

    // Nothing on stdin.
    run_with_stdin(sandbox.cmd(&["add", "-"]), b"\n  \n")
        .expect(BAD_INPUT)
        .stderr_has("no URI");

    assert!(
        !sandbox.vault().exists(),
        "nothing was added, no vault made"
    );
}

// ---------------------------------------------------------------------------
// list and codes
// ---------------------------------------------------------------------------

#[test]
fn list_and_codes_match_an_independent_hmac() {
    let sandbox = Sandbox::new();
    let steam_seed: &[u8] = b"steam-guard-secret!!";
    sandbox.add_all(&[
        &uri("totp", "GitHub", "alice", RFC_SECRET, ""),
        &uri(
            "totp",
            "AWS",
            "root",
            &base32(RFC_SEED_SHA256),
            "&algorithm=SHA256&digits=8",
        ),
        &uri(
            "totp",
            "Bank",
            "savings",
            &base32(RFC_SEED_SHA512),
            "&algorithm=SHA512&period=60&digits=7",
        ),
        &uri("hotp", "Counter", "hotp-user", RFC_SECRET, "&counter=0"),
        &uri(
            "totp",
            "Steam",
            "gamer",
            &base32(steam_seed),
            "&encoder=steam",
        ),
    ]);

    // list: one line per account, in order, with its parameters.
    let out = sandbox.run(&["list"]).expect(OK);
    let lines = out.stdout_lines();
    assert_eq!(lines.len(), 5, "{out}");
    assert!(
        lines[0].trim_start().starts_with("1. GitHub (alice)"),
        "{out}"
    );
    assert!(lines[1].contains("AWS (root)") && lines[1].contains("TOTP SHA256, 8 digits, 30 s"));
    assert!(lines[2].contains("TOTP SHA512, 7 digits, 60 s"), "{out}");
    assert!(lines[3].contains("HOTP SHA1, 6 digits, counter 0"), "{out}");
    assert!(lines[4].contains("Steam (gamer)") && lines[4].contains("Steam, 30 s"));
    out.nowhere(RFC_SECRET);

    // list --json
    let rows = sandbox.list_json();
    let kinds: Vec<&str> = rows.iter().map(|r| r["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["totp", "totp", "totp", "hotp", "steam"]);
    for row in &rows {
        let id = row["id"].as_str().unwrap();
        assert!(id.len() >= 8, "{row}");
        assert!(
            lines.iter().any(|l| l.contains(&id[..8])),
            "list shows the id prefix"
        );
    }
    assert!(!serde_json::to_string(&rows).unwrap().contains(RFC_SECRET));

    // code QUERY: the code alone on stdout, its validity on stderr.
    let before = unix_now();
    let out = sandbox.run(&["code", "github"]).expect(OK);
    let after = unix_now();
    let printed = out.stdout.trim();
    let expected = totp_sha1_window(RFC_SEED_SHA1, before, after);
    assert!(
        expected.iter().any(|c| c == printed),
        "{printed} not in {expected:?}"
    );
    out.stderr_has("GitHub (alice) — valid for ");

    // code QUERY --json: one object, checked at the time step it names.
    let before = unix_now();
    let aws = sandbox.run(&["code", "aws", "--json"]).expect(OK).json();
    let after = unix_now();
    let step = aws["counter"].as_u64().unwrap();
    assert!((before / 30..=after / 30).contains(&step), "{aws}");
    assert_eq!(aws["valid_from"].as_u64(), Some(step * 30));
    assert_eq!(aws["valid_until"].as_u64(), Some(step * 30 + 30));
    assert_eq!(
        aws["code"],
        hotp(hmac::HMAC_SHA256, RFC_SEED_SHA256, step, 8)
    );
    assert_eq!(aws["issuer"], "AWS");

    // code --json: every time-based account (HOTP needs its name).
    let before = unix_now();
    let all = sandbox.run(&["code", "--json"]).expect(OK).json();
    let after = unix_now();
    let all = all.as_array().unwrap();
    let issuers: Vec<&str> = all.iter().map(|r| r["issuer"].as_str().unwrap()).collect();
    assert_eq!(issuers, ["GitHub", "AWS", "Bank", "Steam"]);
    for row in all {
        let step = row["counter"].as_u64().unwrap();
        let from = row["valid_from"].as_u64().unwrap();
        let until = row["valid_until"].as_u64().unwrap();
        let period = until - from;
        assert_eq!(from, step * period, "{row}");
        assert!(
            from <= after && before < until,
            "valid at the time of the call: {row}"
        );
        let left = row["seconds_left"].as_u64().unwrap();
        assert!((1..=period).contains(&left), "{row}");
        let want = match row["issuer"].as_str().unwrap() {
            "GitHub" => hotp(hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY, RFC_SEED_SHA1, step, 6),
            "AWS" => hotp(hmac::HMAC_SHA256, RFC_SEED_SHA256, step, 8),
            "Bank" => {
                assert_eq!(period, 60);
                hotp(hmac::HMAC_SHA512, RFC_SEED_SHA512, step, 7)
            }
            "Steam" => {
                assert_eq!(row["kind"], "steam");
                steam(steam_seed, step)
            }
            other => panic!("unexpected account {other}"),
        };
        assert_eq!(row["code"], want.as_str(), "{row}");
    }

    // code (all, text): the HOTP account is listed without spending a code.
    let out = sandbox.run(&["code"]).expect(OK);
    let lines = out.stdout_lines();
    assert_eq!(lines.len(), 5, "{out}");
    assert!(lines[3].contains("------") && lines[3].contains("Counter (hotp-user)"));
    let rows = sandbox.list_json();
    assert_eq!(
        rows[3]["details"], "HOTP SHA1, 6 digits, counter 0",
        "no code taken"
    );
}

#[test]
fn hotp_codes_follow_rfc4226_and_the_counter_is_saved() {
    let sandbox = Sandbox::new();
    sandbox.add_all(&[&uri("hotp", "Hotp", "user", RFC_SECRET, "&counter=0")]);
    for (i, want) in ["755224", "287082", "359152"].into_iter().enumerate() {
        let out = sandbox.run(&["code", "hotp"]).expect(OK);
        assert_eq!(out.stdout.trim(), want, "code #{i}:\n{out}");
        out.stderr_has("(saved)");
    }
    assert_eq!(
        sandbox.list_json()[0]["details"],
        "HOTP SHA1, 6 digits, counter 3"
    );
}

// ---------------------------------------------------------------------------
// Errors and exit codes.
// ---------------------------------------------------------------------------

#[test]
fn ambiguous_and_unknown_queries() {
    let sandbox = Sandbox::new();
    sandbox.add_all(&[
        &uri(
            "totp",
            "Example",
            "alice",
            &base32(b"query-test-secret-01"),
            "",
        ),
        &uri(
            "totp",
            "Example",
            "bob",
            &base32(b"query-test-secret-02"),
            "",
        ),
    ]);
    sandbox
        .run(&["code", "example"])
        .expect(BAD_INPUT)
        .stderr_has("matches 2 accounts")
        .stderr_has("Example (alice)")
        .stderr_has("Example (bob)");
    sandbox
        .run(&["code", "nobody-has-this"])
        .expect(NOT_FOUND)
        .stderr_has("no account matches \"nobody-has-this\"");
}

#[test]
fn a_missing_vault_is_not_found() {
    let sandbox = Sandbox::new();
    // The default location: the user data directory (XDG_DATA_HOME here).
    let default = sandbox
        .path()
        .join("xdg-data")
        .join("tessera")
        .join("vault.json");
    let mut command = sandbox.bare();
    command.arg("list").env("TESSERA_PASSWORD", PASSWORD);
    run(command)
        .expect(NOT_FOUND)
        .stderr_has(&format!("no vault at {}", default.display()))
        .stderr_has("tessera demo");
    assert!(!default.exists());

    // TESSERA_VAULT names it too.
    let mut command = sandbox.bare();
    command
        .args(["code", "--json"])
        .env("TESSERA_VAULT", sandbox.vault())
        .env("TESSERA_PASSWORD", PASSWORD);
    run(command)
        .expect(NOT_FOUND)
        .stderr_has(&sandbox.vault().display().to_string());

    sandbox.run(&["vault", "status"]).expect(NOT_FOUND);
    sandbox.run(&["remove", "--yes", "x"]).expect(NOT_FOUND);
}

#[test]
fn a_locked_vault_exits_5() {
    let sandbox = Sandbox::new();
    // No password and no terminal: a new vault cannot be made.
    let mut command = sandbox.cmd(&["demo"]);
    command.env_remove("TESSERA_PASSWORD");
    run(command).expect(LOCKED).stderr_has("TESSERA_PASSWORD");
    assert!(!sandbox.vault().exists());

    sandbox.add_all(&[&uri(
        "totp",
        "Locked",
        "user",
        &base32(b"locked-test-secret!"),
        "",
    )]);

    // A wrong password.
    let mut command = sandbox.cmd(&["list"]);
    command.env("TESSERA_PASSWORD", "not-the-password");
    run(command)
        .expect(LOCKED)
        .stderr_has("wrong password")
        .nowhere("not-the-password");

    // No password, and stdin is not a terminal to prompt on.
    let mut command = sandbox.cmd(&["list"]);
    command.env_remove("TESSERA_PASSWORD");
    let out = run(command).expect(LOCKED);
    out.stderr_has("set TESSERA_PASSWORD");
    assert!(out.stdout.is_empty(), "{out}");

    // --recovery-key without TESSERA_RECOVERY_KEY, and with a wrong one.
    run(sandbox.cmd(&["--recovery-key", "list"]))
        .expect(LOCKED)
        .stderr_has("TESSERA_RECOVERY_KEY");
    let mut command = sandbox.cmd(&["--recovery-key", "list"]);
    command.env(
        "TESSERA_RECOVERY_KEY",
        "AAAA-AAAA-AAAA-AAAA-AAAA-AAAA-AAAA-AAAA",
    );
    run(command).expect(LOCKED).stderr_has("wrong recovery key");
}

#[test]
fn usage_errors_exit_2() {
    let sandbox = Sandbox::new();
    for args in [
        &["frobnicate"][..],
        &["add"],
        &["add", "otpauth://totp/x?secret=AAAA", "--qr", "x.png"],
        &["move", "x", "first"],
        &["code", "--bogus-flag"],
        &[],
    ] {
        let out = sandbox.run(args).expect(USAGE);
        assert!(out.stderr.starts_with("error: "), "clap explains: {out}");
        assert!(out.stdout.is_empty(), "{out}");
    }
    // --help and --version are not errors.
    let help = sandbox.run(&["--help"]).expect(OK);
    help.stdout_has(
        "Exit codes: 0 ok, 2 usage, 3 not found, 4 bad input, 5 vault locked, 6 vault damaged",
    );
    sandbox.run(&["--version"]).expect(OK).stdout_has("tessera");
    assert!(!sandbox.vault().exists());
}

// ---------------------------------------------------------------------------
// Organising accounts.
// ---------------------------------------------------------------------------

#[test]
fn rename_tag_move_and_remove() {
    let sandbox = Sandbox::new();
    sandbox.add_all(&[
        &uri("totp", "Alpha", "a", &base32(b"organise-secret-0001"), ""),
        &uri("totp", "Beta", "b", &base32(b"organise-secret-0002"), ""),
        &uri("totp", "Gamma", "c", &base32(b"organise-secret-0003"), ""),
    ]);

    sandbox
        .run(&["rename", "beta", "--issuer", "Bravo", "--label", "bee"])
        .expect(OK)
        .stdout_has("Renamed to Bravo (bee)");
    sandbox
        .run(&["tag", "gamma", "work", " work ", "2fa", ""])
        .expect(OK);
    sandbox.run(&["move", "gamma", "1"]).expect(OK);

    let rows = sandbox.list_json();
    let summary: Vec<(u64, &str, &str, Vec<&str>)> = rows
        .iter()
        .map(|r| {
            (
                r["position"].as_u64().unwrap(),
                r["issuer"].as_str().unwrap(),
                r["label"].as_str().unwrap(),
                r["tags"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|t| t.as_str().unwrap())
                    .collect(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            (1, "Gamma", "c", vec!["work", "2fa"]),
            (2, "Alpha", "a", vec![]),
            (3, "Bravo", "bee", vec![]),
        ]
    );

    // A tag is a query too. Without --yes and without a terminal nothing is removed.
    sandbox
        .run(&["remove", "work"])
        .expect(BAD_INPUT)
        .stderr_has("--yes");
    sandbox
        .run(&["remove", "--yes", "work"])
        .expect(OK)
        .stdout_has("Removed Gamma (c)");
    let rows = sandbox.list_json();
    let issuers: Vec<&str> = rows.iter().map(|r| r["issuer"].as_str().unwrap()).collect();
    assert_eq!(issuers, ["Alpha", "Bravo"]);
}

// ---------------------------------------------------------------------------
// show-qr and watch.
// ---------------------------------------------------------------------------

/// Reads a QR code drawn with Unicode half blocks (a filled half is a light
/// module, as `tessera show-qr` draws light on dark) back into its text.
fn decode_half_block_qr(lines: &[&str]) -> String {
    let width = lines[0].chars().count();
    let mut modules: Vec<Vec<bool>> = Vec::new(); // true = light
    for line in lines {
        let chars: Vec<char> = line.chars().collect();
        assert_eq!(chars.len(), width, "a rectangular drawing");
        let top = chars.iter().map(|c| matches!(c, '█' | '▀')).collect();
        let bottom = chars.iter().map(|c| matches!(c, '█' | '▄')).collect();
        modules.push(top);
        modules.push(bottom);
    }
    // The symbol is square; an odd height leaves one half row of padding.
    modules.truncate(width);
    let scale = 6;
    let size = (width * scale) as u32;
    let image = image::GrayImage::from_fn(size, size, |x, y| {
        let light = modules[y as usize / scale][x as usize / scale];
        image::Luma([if light { 255 } else { 0 }])
    });
    let texts = tessera_core::qr::decode_grey(size, size, image.as_raw())
        .expect("decode the drawn QR code");
    assert_eq!(texts.len(), 1, "one QR code in the drawing");
    texts.into_iter().next().unwrap()
}

#[test]
fn show_qr_draws_the_uri_with_a_warning() {
    let sandbox = Sandbox::new();
    let secret = base32(b"show-qr-test-secret!");
    sandbox.add_all(&[&uri(
        "totp",
        "Shown",
        "user@example.com",
        &secret,
        "&digits=8",
    )]);

    let out = sandbox.run(&["show-qr", "shown"]).expect(OK);
    out.stderr_has("warning: this QR code contains the secret of Shown (user@example.com)");
    assert!(
        !out.stderr.contains(&secret),
        "the secret is not printed as text"
    );
    let lines: Vec<&str> = out
        .stdout
        .lines()
        .filter(|l| !l.is_empty() && l.chars().all(|c| matches!(c, ' ' | '█' | '▀' | '▄')))
        .collect();
    assert!(lines.len() >= 10, "a QR code on stdout:\n{out}");
    out.stdout_has("Shown (user@example.com)");

    let text = decode_half_block_qr(&lines);
    assert!(text.starts_with("otpauth://totp/"), "{text}");
    assert!(text.contains(&format!("secret={secret}")), "{text}");
    assert!(text.contains("digits=8"), "{text}");
}

#[test]
fn watch_prints_the_requested_frames() {
    let sandbox = Sandbox::new();
    sandbox.add_all(&[&uri("totp", "Watched", "user", RFC_SECRET, "")]);
    // Through TESSERA_VAULT this time.
    let mut command = sandbox.bare();
    command
        .args(["--no-keystore", "watch", "--frames", "2"])
        .env("TESSERA_VAULT", sandbox.vault())
        .env("TESSERA_PASSWORD", PASSWORD);
    let before = unix_now();
    let out = run(command).expect(OK);
    let after = unix_now();
    let lines = out.stdout_lines();
    let headers = lines
        .iter()
        .filter(|l| **l == "Tessera — 1 account(s)")
        .count();
    assert_eq!(headers, 2, "two frames:\n{out}");
    let codes: Vec<&str> = lines
        .iter()
        .filter(|l| l.contains("Watched (user)"))
        .map(|l| first_word(l))
        .collect();
    assert_eq!(codes.len(), 2, "{out}");
    let expected = totp_sha1_window(RFC_SEED_SHA1, before, after);
    assert!(
        codes.iter().all(|c| expected.iter().any(|e| e == c)),
        "{out}"
    );
    assert!(
        !out.stdout.contains("\x1b["),
        "no screen clearing when piped"
    );
}

// ---------------------------------------------------------------------------
// vault status, password and recovery key.
// ---------------------------------------------------------------------------

#[test]
fn vault_status_text_and_json() {
    let sandbox = Sandbox::new();
    sandbox.add_all(&[
        &uri("totp", "One", "x", &base32(b"status-test-secret-1"), ""),
        &uri("totp", "Two", "y", &base32(b"status-test-secret-2"), ""),
    ]);
    let out = sandbox.run(&["vault", "status"]).expect(OK);
    out.stdout_has(&format!("Vault:     {}", sandbox.vault().display()))
        .stdout_has("Format:    version 1")
        .stdout_has("Accounts:  2")
        .stdout_has("Unlocked:  Password")
        .stdout_has("Slot:      password  Argon2id, 64 MiB, 3 passes")
        .stdout_has("Slot:      recovery");
    assert!(
        !out.stdout.contains("keystore"),
        "--no-keystore made no keystore slot"
    );

    let status = sandbox
        .run(&["vault", "status", "--json"])
        .expect(OK)
        .json();
    assert_eq!(status["path"], sandbox.vault().display().to_string());
    assert_eq!(status["format_version"], 1);
    assert_eq!(status["accounts"], 2);
    assert!(status["generation"].as_u64().unwrap() >= 2, "{status}");
    assert!(!status["vault_id"].as_str().unwrap().is_empty());
    let kinds: Vec<&str> = status["slots"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["password", "recovery"]);
}

#[test]
fn vault_set_password_replaces_the_password() {
    let sandbox = Sandbox::new();
    sandbox.add_all(&[&uri(
        "totp",
        "Pw",
        "user",
        &base32(b"set-password-secret!"),
        "",
    )]);
    let new_password = "the-new-password";

    let mut command = sandbox.cmd(&["vault", "set-password"]);
    command.env("TESSERA_NEW_PASSWORD", new_password);
    run(command)
        .expect(OK)
        .stdout_has("The vault password is set.")
        .nowhere(new_password);

    let mut command = sandbox.cmd(&["list"]);
    command.env("TESSERA_PASSWORD", new_password);
    run(command).expect(OK).stdout_has("Pw (user)");

    sandbox
        .run(&["list"])
        .expect(LOCKED)
        .stderr_has("wrong password");
}

#[test]
fn vault_recovery_key_replaces_the_recovery_key() {
    let sandbox = Sandbox::new();
    let created = sandbox.add_all(&[&uri(
        "totp",
        "Rk",
        "user",
        &base32(b"recovery-key-secret!"),
        "",
    )]);
    let old_key = recovery_key(&created.stderr);

    let out = sandbox.run(&["vault", "recovery-key"]).expect(OK);
    out.stdout_has("A new recovery key was made");
    let new_key = recovery_key(&out.stderr);
    assert_ne!(new_key, old_key);
    assert!(
        !out.stdout.contains(&new_key),
        "the key goes to stderr only"
    );

    let with_key = |key: &str| {
        let mut command = sandbox.cmd(&["--recovery-key", "list"]);
        command
            .env_remove("TESSERA_PASSWORD")
            .env("TESSERA_RECOVERY_KEY", key);
        run(command)
    };
    with_key(&new_key).expect(OK).stdout_has("Rk (user)");
    // Lowercase and without dashes works too.
    with_key(&new_key.replace('-', "").to_lowercase()).expect(OK);
    with_key(&old_key)
        .expect(LOCKED)
        .stderr_has("wrong recovery key")
        .nowhere(&old_key);
}

// ---------------------------------------------------------------------------
// Damaged and newer vault files.
// ---------------------------------------------------------------------------

#[test]
fn a_damaged_current_file_falls_back_to_the_previous_generation() {
    let sandbox = Sandbox::new();
    sandbox.add_all(&[&uri(
        "totp",
        "First",
        "a",
        &base32(b"damage-test-secret-1"),
        "",
    )]);
    sandbox.add_all(&[&uri(
        "totp",
        "Second",
        "b",
        &base32(b"damage-test-secret-2"),
        "",
    )]);
    assert!(sandbox.previous().exists());

    // Truncate the current generation (a torn write on a bad disk).
    let bytes = std::fs::read(sandbox.vault()).unwrap();
    std::fs::write(sandbox.vault(), &bytes[..bytes.len() / 2]).unwrap();

    let out = sandbox.run(&["list"]).expect(OK);
    out.stderr_has("warning: the current vault file could not be used")
        .stderr_has("previous generation")
        .stdout_has("First (a)");
    assert!(
        !out.stdout.contains("Second (b)"),
        "the previous generation has one account"
    );

    // The next write keeps the damaged file aside and the vault is whole again.
    sandbox
        .add_all(&[&uri(
            "totp",
            "Third",
            "c",
            &base32(b"damage-test-secret-3"),
            "",
        )])
        .stderr_has("warning: the current vault file could not be used");
    let kept = std::fs::read_dir(sandbox.vault().parent().unwrap())
        .unwrap()
        .filter_map(Result::ok)
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .starts_with("vault.json.damaged-")
        })
        .count();
    assert_eq!(kept, 1, "the damaged file is kept, not deleted");
    let out = sandbox.run(&["list"]).expect(OK);
    assert!(!out.stderr.contains("could not be used"), "{out}");
    let lines = out.stdout_lines();
    assert_eq!(lines.len(), 2, "{out}");
    assert!(
        lines[0].contains("First (a)") && lines[1].contains("Third (c)"),
        "{out}"
    );
}

#[test]
fn a_newer_format_version_is_refused_with_exit_6() {
    let sandbox = Sandbox::new();
    sandbox.add_all(&[&uri(
        "totp",
        "Old",
        "user",
        &base32(b"version-test-secret!"),
        "",
    )]);
    let mut file: Value = serde_json::from_slice(&std::fs::read(sandbox.vault()).unwrap()).unwrap();
    assert_eq!(file["version"], 1);
    file["version"] = Value::from(2);
    let newer = serde_json::to_vec(&file).unwrap();
    std::fs::write(sandbox.vault(), &newer).unwrap();
    std::fs::write(sandbox.previous(), &newer).unwrap();

    for args in [&["list"][..], &["code", "old"], &["vault", "status"]] {
        sandbox
            .run(args)
            .expect(DAMAGED)
            .stderr_has("format version 2")
            .stderr_has("update Tessera");
    }
    // Nothing was rewritten.
    assert_eq!(std::fs::read(sandbox.vault()).unwrap(), newer);
}

// ---------------------------------------------------------------------------
// The platform keystore (Secret Service).
// ---------------------------------------------------------------------------

/// The keystore items a vault file's slots name.
fn keystore_items(path: &Path) -> Vec<String> {
    let Ok(bytes) = std::fs::read(path) else {
        return Vec::new();
    };
    let Ok(file) = serde_json::from_slice::<Value>(&bytes) else {
        return Vec::new();
    };
    let Some(header) = file["header"]
        .as_str()
        .and_then(|h| base64::engine::general_purpose::STANDARD.decode(h).ok())
        .and_then(|h| serde_json::from_slice::<Value>(&h).ok())
    else {
        return Vec::new();
    };
    header["slots"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|s| s["kind"] == "keystore")
        .filter_map(|s| s["item"].as_str().map(String::from))
        .collect()
}

/// Deletes every keystore item the sandbox's vault refers to, even when the
/// test fails, so a real desktop keyring is left as it was.
struct KeystoreCleanup<'a> {
    keystore: &'a PlatformKeyStore,
    sandbox: &'a Sandbox,
    items: Vec<String>,
}

impl KeystoreCleanup<'_> {
    fn remember(&mut self) {
        for path in [self.sandbox.vault(), self.sandbox.previous()] {
            for item in keystore_items(&path) {
                if !self.items.contains(&item) {
                    self.items.push(item);
                }
            }
        }
    }
}

impl Drop for KeystoreCleanup<'_> {
    fn drop(&mut self) {
        self.remember();
        for item in &self.items {
            let _ = self.keystore.delete(item);
        }
    }
}

#[test]
fn the_keystore_opens_the_vault_without_a_password() {
    let Some(keystore) = platform_keystore() else {
        return;
    };
    let sandbox = Sandbox::new();
    let mut cleanup = KeystoreCleanup {
        keystore: &keystore,
        sandbox: &sandbox,
        items: Vec::new(),
    };
    // Without --no-keystore and without any password.
    let keystore_cmd = |args: &[&str]| {
        let mut command = sandbox.bare();
        command.arg("--vault").arg(sandbox.vault()).args(args);
        command
    };

    let out = run(keystore_cmd(&["demo"])).expect(OK);
    cleanup.remember();
    out.stderr_has("Created a new vault")
        .stderr_has(&format!("It opens through the {}", keystore.name()));
    recovery_key(&out.stderr);
    let items = keystore_items(&sandbox.vault());
    assert_eq!(items.len(), 1, "one keystore slot");

    // Every later command opens through the keystore, with no password at all.
    let out = run(keystore_cmd(&["vault", "status"])).expect(OK);
    out.stdout_has("Unlocked:  KeyStore")
        .stdout_has(&format!("Slot:      keystore  {}", keystore.name()))
        .stdout_has("Slot:      recovery")
        .stdout_has("vault set-password");
    let status = run(keystore_cmd(&["vault", "status", "--json"]))
        .expect(OK)
        .json();
    let kinds: Vec<&str> = status["slots"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["keystore", "recovery"]);

    run_with_stdin(
        keystore_cmd(&["add", "-"]),
        uri("hotp", "Ks", "hotp", RFC_SECRET, "&counter=0").as_bytes(),
    )
    .expect(OK);
    for want in ["755224", "287082"] {
        let out = run(keystore_cmd(&["code", "ks"])).expect(OK);
        assert_eq!(out.stdout.trim(), want, "{out}");
    }
    let before = unix_now();
    let codes = run(keystore_cmd(&["code", "--json"])).expect(OK).json();
    let after = unix_now();
    let demo = &codes.as_array().unwrap()[0];
    assert_eq!(demo["issuer"], "Tessera Demo");
    assert!(
        totp_sha1_window(RFC_SEED_SHA1, before, after)
            .contains(&demo["code"].as_str().unwrap().to_string())
    );

    // This vault has no password: --no-keystore cannot open it.
    let mut command = keystore_cmd(&["--no-keystore", "list"]);
    command.env("TESSERA_PASSWORD", PASSWORD);
    run(command)
        .expect(LOCKED)
        .stderr_has("this vault has no password");
    run(keystore_cmd(&["--no-keystore", "list"]))
        .expect(LOCKED)
        .stderr_has("TESSERA_PASSWORD");

    // Add a password as a second way in; it then opens without the keystore.
    let mut command = keystore_cmd(&["vault", "set-password"]);
    command.env("TESSERA_NEW_PASSWORD", PASSWORD);
    run(command).expect(OK);

    // The keystore loses its key (a reset, a new login keyring): the password
    // still opens the vault, and a fresh keystore slot is made.
    for item in &items {
        keystore.delete(item).unwrap();
    }
    run(keystore_cmd(&["list"]))
        .expect(LOCKED)
        .stderr_has("no longer holds this vault's key");
    let mut command = keystore_cmd(&["list"]);
    command.env("TESSERA_PASSWORD", PASSWORD);
    run(command)
        .expect(OK)
        .stderr_has(&format!(
            "The {} can open this vault again",
            keystore.name()
        ))
        .stdout_has("Ks (hotp)");
    cleanup.remember();
    let fresh = keystore_items(&sandbox.vault());
    assert_eq!(fresh.len(), 1);
    assert_ne!(fresh, items);
    run(keystore_cmd(&["code", "ks"]))
        .expect(OK)
        .stdout_has("359152");
}
