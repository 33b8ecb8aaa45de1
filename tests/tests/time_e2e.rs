//! Trusted time end to end: the real `tessera` binary against a real NTP
//! server, with real clock skew.
//!
//! - The server is Debian's `chronyd`, serving only 127.0.0.1 on a free UDP
//!   port from a config in a temporary directory (`local stratum 8`, no
//!   upstream servers, `-x`: it never touches the system clock), optionally
//!   under libfaketime (`LD_PRELOAD`, `FAKETIME=+90s`) so its clock runs 90 s
//!   ahead. It is stopped by PID (kill, then wait) when its guard drops.
//! - The client is `tessera` itself, optionally run under `faketime -f -90s`
//!   so its clock (libc's `clock_gettime(CLOCK_REALTIME)`, which
//!   `SystemTime` uses) is 90 s behind. The boot clock `tessera` anchors its
//!   estimate to is read through the vDSO, which libfaketime does not
//!   intercept, so it stays true: that is what lets a wall-clock change be
//!   detected across runs.
//!
//! Scenarios: (a) a slow client corrected by a true server, and the wrong
//! code plus a warning with `--no-time-correction`; (b) a true client and a
//! server 90 s ahead; (c) a wall-clock change between `time sync` and
//! `code` (sync under faketime, codes without it, server gone); (d) offline
//! on a fresh vault: a code anyway, and "the time is unknown".
//!
//! Codes are checked against an independent RFC 6238 computation on
//! `ring::hmac` at the test's own (true) clock; a run that straddles a 30 s
//! boundary is retried rather than guessed at.
//!
//! Needs `chronyd`, `faketime` and libfaketime (Debian: `chrony faketime
//! libfaketime`) and root (chronyd `-u root`). Without them the scenarios
//! that need them print a note and pass, unless `TESSERA_REQUIRE_TOOLS=1`,
//! which makes them fail.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::fs::File;
use std::net::UdpSocket;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use ring::hmac;
use serde_json::Value;
use tessera_core::clock::{SourceSpec, TimeError, TimeSample};
use tessera_tests::{Out, tessera_bin};

const PASSWORD: &str = "time-e2e-password";
/// The demo account's secret, GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ in base32:
/// the RFC 6238 SHA1 seed.
const DEMO_SEED: &[u8] = b"12345678901234567890";
/// The simulated clock error.
const SKEW_SECS: i64 = 90;
/// How far an estimate of the 90 s skew may be off, in milliseconds.
const SKEW_TOLERANCE_MS: f64 = 50.0;
/// No `tessera` run may take longer than this.
const RUN_LIMIT: Duration = Duration::from_secs(90);

// ---------------------------------------------------------------------------
// Tools.
// ---------------------------------------------------------------------------

/// The external programs the NTP scenarios need.
struct Tools {
    chronyd: PathBuf,
    faketime: PathBuf,
    libfaketime: PathBuf,
}

fn find_program(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin", "/sbin", "/usr/local/sbin"].map(PathBuf::from))
        .map(|dir| dir.join(name))
        .find(|candidate| candidate.is_file())
}

fn find_libfaketime() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("TESSERA_LIBFAKETIME") {
        return Some(PathBuf::from(path));
    }
    let mut candidates = Vec::new();
    // Debian/Ubuntu: /usr/lib/<multiarch triple>/faketime/libfaketime.so.1.
    if let Ok(entries) = std::fs::read_dir("/usr/lib") {
        for entry in entries.flatten() {
            candidates.push(entry.path().join("faketime").join("libfaketime.so.1"));
        }
    }
    candidates.push(PathBuf::from("/usr/lib/faketime/libfaketime.so.1"));
    candidates.push(PathBuf::from("/usr/local/lib/faketime/libfaketime.so.1"));
    candidates.sort();
    candidates.into_iter().find(|c| c.is_file())
}

fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status").is_ok_and(|status| {
        status
            .lines()
            .find_map(|l| l.strip_prefix("Uid:"))
            .and_then(|ids| ids.split_whitespace().next())
            == Some("0")
    })
}

/// The tools, or `None` after printing why the scenario is skipped (a
/// failure instead when `TESSERA_REQUIRE_TOOLS=1`).
fn tools(scenario: &str) -> Option<&'static Tools> {
    static TOOLS: OnceLock<Result<Tools, String>> = OnceLock::new();
    let found = TOOLS.get_or_init(|| {
        if !cfg!(target_os = "linux") {
            return Err("these scenarios need Linux (libfaketime, CLOCK_BOOTTIME)".into());
        }
        let chronyd = find_program("chronyd");
        let faketime = find_program("faketime");
        let libfaketime = find_libfaketime();
        let mut missing = Vec::new();
        if chronyd.is_none() {
            missing.push("chronyd (package chrony)");
        }
        if faketime.is_none() {
            missing.push("faketime (package faketime)");
        }
        if libfaketime.is_none() {
            missing.push("libfaketime.so.1 (package libfaketime)");
        }
        if !missing.is_empty() {
            return Err(format!("missing {}", missing.join(", ")));
        }
        if !is_root() {
            return Err("chronyd -u root needs root".into());
        }
        Ok(Tools {
            chronyd: chronyd.unwrap(),
            faketime: faketime.unwrap(),
            libfaketime: libfaketime.unwrap(),
        })
    });
    match found {
        Ok(tools) => Some(tools),
        Err(why) if std::env::var("TESSERA_REQUIRE_TOOLS").as_deref() == Ok("1") => {
            panic!("{scenario}: {why} (TESSERA_REQUIRE_TOOLS=1)")
        }
        Err(why) => {
            eprintln!(
                "note: skipping {scenario}: {why}; install chrony faketime libfaketime, \
                 or set TESSERA_REQUIRE_TOOLS=1 to make this a failure"
            );
            None
        }
    }
}

// ---------------------------------------------------------------------------
// Processes.
// ---------------------------------------------------------------------------

/// The PIDs of a process's direct children (the `faketime` wrapper forks
/// the program it runs).
fn children_of(pid: u32) -> Vec<u32> {
    std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children"))
        .unwrap_or_default()
        .split_whitespace()
        .filter_map(|p| p.parse().ok())
        .collect()
}

/// Stops a child we started: its own children first (by PID), then it.
fn stop(child: &mut Child) {
    for grandchild in children_of(child.id()) {
        let _ = Command::new("kill")
            .args(["-KILL", &grandchild.to_string()])
            .status();
    }
    let _ = child.kill();
    let _ = child.wait();
}

/// A UDP port on 127.0.0.1 that was free a moment ago (and is closed now).
fn free_udp_port() -> u16 {
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    socket.local_addr().unwrap().port()
}

/// One SNTP sample through tessera-core, as `tessera` takes it.
fn ntp_sample(port: u16, timeout: Duration) -> Result<TimeSample, TimeError> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let source = SourceSpec::parse(&format!("ntp://127.0.0.1:{port}"))
        .unwrap()
        .into_source(&tessera_core::http::Http::none());
    runtime.block_on(source.sample(timeout))
}

/// A `chronyd` serving 127.0.0.1 only, stopped by PID on drop.
struct Chrony {
    child: Child,
    port: u16,
    dir: tempfile::TempDir,
}

impl Chrony {
    /// Starts chronyd; with `faketime`, under libfaketime with that
    /// `FAKETIME` value (e.g. "+90s"). Returns once it answers.
    fn start(tools: &Tools, faketime: Option<&str>) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let port = free_udp_port();
        let conf = dir.path().join("chrony.conf");
        std::fs::write(
            &conf,
            format!(
                "# Loopback only, no upstream servers: nothing leaves the machine.\n\
                 port {port}\n\
                 bindaddress 127.0.0.1\n\
                 allow 127.0.0.1\n\
                 local stratum 8\n\
                 cmdport 0\n\
                 bindcmdaddress /\n\
                 pidfile {dir}/chronyd.pid\n\
                 driftfile {dir}/drift\n",
                dir = dir.path().display()
            ),
        )
        .unwrap();
        let log_file = File::create(dir.path().join("chronyd.log")).unwrap();
        let mut command = Command::new(&tools.chronyd);
        command
            .args(["-d", "-x", "-u", "root", "-f"])
            .arg(&conf)
            .env_remove("LD_PRELOAD")
            .env_remove("FAKETIME")
            .stdin(Stdio::null())
            .stdout(log_file.try_clone().unwrap())
            .stderr(log_file);
        if let Some(offset) = faketime {
            command
                .env("LD_PRELOAD", &tools.libfaketime)
                .env("FAKETIME", offset);
        }
        let child = command.spawn().expect("start chronyd");
        let mut chrony = Self { child, port, dir };
        chrony.wait_until_it_answers();
        chrony
    }

    fn wait_until_it_answers(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(20);
        let mut last = None;
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("chronyd exited ({status}):\n{}", self.log());
            }
            match ntp_sample(self.port, Duration::from_millis(200)) {
                Ok(_) => return,
                Err(error) => last = Some(error),
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!(
            "chronyd on 127.0.0.1:{} did not answer within 20 s (last: {last:?}):\n{}",
            self.port,
            self.log()
        );
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("chronyd.log")).unwrap_or_default()
    }

    fn url(&self) -> String {
        format!("ntp://127.0.0.1:{}", self.port)
    }
}

impl Drop for Chrony {
    fn drop(&mut self) {
        stop(&mut self.child);
    }
}

/// This file's assertions on a finished run.
trait E2eOut {
    fn ok(self) -> Self;
    /// The code `tessera code QUERY` printed (its first stdout line).
    fn code_value(&self) -> String;
}

impl E2eOut for Out {
    #[track_caller]
    fn ok(self) -> Self {
        assert_eq!(self.code, Some(0), "unexpected exit code:\n{self}");
        self
    }

    #[track_caller]
    fn code_value(&self) -> String {
        let code = self.stdout.lines().next().unwrap_or_default().trim();
        assert!(
            code.len() == 6 && code.bytes().all(|b| b.is_ascii_digit()),
            "no code printed:\n{self}"
        );
        code.to_string()
    }
}

/// A vault with the demo account in its own directory (the clock state,
/// clock.json, lives beside it).
struct Vault {
    dir: tempfile::TempDir,
}

/// How `tessera` sees the time.
#[derive(Clone, Copy)]
enum Client {
    /// The real clock.
    True,
    /// Under `faketime -f -90s`: 90 s slow.
    Slow(&'static Tools),
}

impl Vault {
    /// A new vault with the demo account, made without asking any time
    /// source (so no clock state yet).
    fn new() -> Self {
        let vault = Self {
            dir: tempfile::tempdir().unwrap(),
        };
        vault.run(Client::True, "", &["demo"]).ok();
        assert!(!vault.clock_state().exists());
        vault
    }

    fn clock_state(&self) -> PathBuf {
        self.dir.path().join("clock.json")
    }

    /// Runs `tessera --vault <dir>/v.json --no-keystore ARGS` with a clean
    /// environment and `TESSERA_TIME_SOURCES=sources`.
    fn run(&self, client: Client, sources: &str, args: &[&str]) -> Out {
        let home = self.dir.path();
        let mut command = match client {
            Client::True => Command::new(tessera_bin()),
            Client::Slow(tools) => {
                let mut command = Command::new(&tools.faketime);
                command
                    .args(["-f", &format!("-{SKEW_SECS}s")])
                    .arg(tessera_bin());
                command
            }
        };
        for (name, _) in std::env::vars_os() {
            let name_text = name.to_string_lossy();
            if name_text.starts_with("TESSERA_") || name_text.starts_with("FAKETIME") {
                command.env_remove(&name);
            }
        }
        command
            .arg("--vault")
            .arg(home.join("v.json"))
            .arg("--no-keystore")
            .args(args)
            .env_remove("LD_PRELOAD")
            .env("HOME", home.join("home"))
            .env("XDG_DATA_HOME", home.join("xdg-data"))
            .env("XDG_CONFIG_HOME", home.join("xdg-config"))
            .env("TESSERA_CONFIG", home.join("no-config.toml"))
            .env("TESSERA_PASSWORD", PASSWORD)
            .env("TESSERA_TIME_SOURCES", sources);
        let what = format!(
            "{}tessera {} (TESSERA_TIME_SOURCES={sources:?})",
            match client {
                Client::True => "",
                Client::Slow(_) => "faketime -f -90s ",
            },
            args.join(" ")
        );
        run(command, what, home)
    }
}

/// Runs a command to completion (bounded by [`RUN_LIMIT`]), its output
/// collected through files in `dir`.
fn run(mut command: Command, what: String, dir: &Path) -> Out {
    let stdout_path = dir.join("last.stdout");
    let stderr_path = dir.join("last.stderr");
    command
        .stdin(Stdio::null())
        .stdout(File::create(&stdout_path).unwrap())
        .stderr(File::create(&stderr_path).unwrap());
    let mut child = command.spawn().unwrap_or_else(|e| panic!("{what}: {e}"));
    let deadline = Instant::now() + RUN_LIMIT;
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            stop(&mut child);
            panic!("{what} did not finish within {RUN_LIMIT:?}");
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    Out {
        what,
        code: status.code(),
        stdout: std::fs::read_to_string(&stdout_path).unwrap(),
        stderr: std::fs::read_to_string(&stderr_path).unwrap(),
    }
}

// ---------------------------------------------------------------------------
// Codes, computed independently.
// ---------------------------------------------------------------------------

/// The demo account's TOTP (SHA1, 6 digits, 30 s) for time step `step`.
fn demo_code(step: i64) -> String {
    let key = hmac::Key::new(hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY, DEMO_SEED);
    let tag = hmac::sign(&key, &u64::try_from(step).unwrap().to_be_bytes());
    let mac = tag.as_ref();
    let offset = usize::from(mac[mac.len() - 1] & 0x0f);
    let value = u32::from_be_bytes(mac[offset..offset + 4].try_into().unwrap()) & 0x7fff_ffff;
    format!("{:06}", value % 1_000_000)
}

/// The test's own (true) clock, in seconds.
fn true_now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

fn step_at(seconds: f64) -> i64 {
    (seconds / 30.0).floor() as i64
}

/// Runs `tessera code` (through `run`) and asserts it printed the demo code
/// for true time + `shift_secs`. A run during which a 30 s step could have
/// changed (with a second of margin either side) is retried, at most four
/// times; before each try the test waits out the last 5 s of a step and the
/// first second of one (the margin), so a retry cannot fall in the same window.
#[track_caller]
fn assert_code_for(shift_secs: i64, mut run: impl FnMut() -> Out) -> Out {
    let shift = shift_secs as f64;
    for _ in 0..4 {
        let into_step = (true_now() + shift).rem_euclid(30.0);
        if into_step > 25.0 {
            std::thread::sleep(Duration::from_secs_f64(30.0 - into_step + 1.2));
        } else if into_step < 1.2 {
            std::thread::sleep(Duration::from_secs_f64(1.2 - into_step));
        }
        let before = true_now() + shift;
        let out = run().ok();
        let after = true_now() + shift;
        let step = step_at(before - 1.0);
        if step != step_at(after + 1.0) {
            eprintln!(
                "note: a 30 s step ended during `{}`; trying again",
                out.what
            );
            continue;
        }
        let expected = demo_code(step);
        let printed = out.code_value();
        if printed != expected {
            let nearby: Vec<String> = (-6..=6)
                .map(|d| format!("{:+} s: {}", d * 30, demo_code(step + d)))
                .collect();
            panic!(
                "expected {expected}, the code for true time {shift_secs:+} s (step {step}), \
                 got {printed}; codes around it: {}\n{out}",
                nearby.join(", ")
            );
        }
        return out;
    }
    panic!("four tries in a row straddled a 30 s step");
}

#[track_caller]
fn assert_near(value: &Value, expected: f64, tolerance: f64, what: &str) {
    let number = value
        .as_f64()
        .unwrap_or_else(|| panic!("{what}: {value} is not a number"));
    assert!(
        (number - expected).abs() <= tolerance,
        "{what}: {number} is not within {tolerance} of {expected}"
    );
}

/// How far `time --json` may put the offset from the simulated one: 50 ms,
/// or the estimate's own stated uncertainty when a loaded machine made the
/// round trip (and so the honest uncertainty) larger.
fn offset_tolerance_ms(json: &Value) -> f64 {
    SKEW_TOLERANCE_MS.max(json["uncertainty_ms"].as_f64().unwrap_or(0.0))
}

/// Asserts that `text` says "this device's clock is N s slow" with N
/// within 0.15 of `seconds` (the CLI shows tenths).
#[track_caller]
fn assert_says_slow(text: &str, seconds: f64, out: &Out) {
    let shown = text
        .split("this device's clock is ")
        .nth(1)
        .and_then(|rest| rest.split_once(" s slow"))
        .and_then(|(number, _)| number.parse::<f64>().ok())
        .unwrap_or_else(|| panic!("no \"this device's clock is N s slow\":\n{out}"));
    assert!(
        (shown - seconds).abs() <= 0.15,
        "the clock is {seconds} s slow, the CLI says {shown}:\n{out}"
    );
}

// ---------------------------------------------------------------------------
// Scenarios.
// ---------------------------------------------------------------------------

/// (a) chrony at true time; `tessera` 90 s slow under faketime.
#[test]
fn a_slow_clock_is_corrected_by_a_true_ntp_server() {
    let Some(tools) = tools("a_slow_clock_is_corrected_by_a_true_ntp_server") else {
        return;
    };
    let chrony = Chrony::start(tools, None);
    let sources = chrony.url();
    let vault = Vault::new();
    let slow = Client::Slow(tools);

    let out = vault.run(slow, &sources, &["time", "sync"]).ok();
    assert_says_slow(&out.stdout, SKEW_SECS as f64, &out);
    assert!(out.stdout.contains("codes are corrected"), "{out}");
    assert!(out.stdout.contains(&sources), "{out}");
    assert!(vault.clock_state().exists());

    let out = assert_code_for(0, || vault.run(slow, &sources, &["code", "demo"]));
    assert!(
        out.stderr.contains("clock: this device's clock is"),
        "{out}"
    );
    assert_says_slow(&out.stderr, SKEW_SECS as f64, &out);

    let out = assert_code_for(-SKEW_SECS, || {
        vault.run(slow, &sources, &["--no-time-correction", "code", "demo"])
    });
    assert!(out.stderr.contains("correction is off"), "{out}");
    assert_says_slow(&out.stderr, SKEW_SECS as f64, &out);
    assert!(out.stderr.contains("likely be rejected"), "{out}");

    let json = vault.run(slow, &sources, &["time", "--json"]).ok().json();
    assert_eq!(json["state"], "corrected", "{json}");
    assert_eq!(json["correction"], true, "{json}");
    assert_near(
        &json["offset_ms"],
        (SKEW_SECS * 1000) as f64,
        offset_tolerance_ms(&json),
        "offset_ms",
    );
    assert!(json["wall_clock_change_ms"].is_null(), "{json}");
    assert_eq!(json["samples"][0]["kind"], "ntp", "{json}");
    assert!(
        json["samples"][0]["detail"]
            .as_str()
            .unwrap()
            .contains("stratum 8"),
        "{json}"
    );

    let json = vault
        .run(slow, &sources, &["--no-time-correction", "time", "--json"])
        .ok()
        .json();
    assert_eq!(json["state"], "uncorrected", "{json}");
    assert_eq!(json["correction"], false, "{json}");
}

/// (b) chrony 90 s ahead under libfaketime; `tessera` on the true clock.
#[test]
fn a_fast_ntp_server_moves_codes_forward() {
    let Some(tools) = tools("a_fast_ntp_server_moves_codes_forward") else {
        return;
    };
    let chrony = Chrony::start(tools, Some(&format!("+{SKEW_SECS}s")));
    let sources = chrony.url();
    let vault = Vault::new();

    let out = vault.run(Client::True, &sources, &["time", "sync"]).ok();
    assert_says_slow(&out.stdout, SKEW_SECS as f64, &out);

    assert_code_for(SKEW_SECS, || {
        vault.run(Client::True, &sources, &["code", "demo"])
    });

    let json = vault
        .run(Client::True, &sources, &["time", "--json"])
        .ok()
        .json();
    assert_eq!(json["state"], "corrected", "{json}");
    assert_near(
        &json["offset_ms"],
        (SKEW_SECS * 1000) as f64,
        offset_tolerance_ms(&json),
        "offset_ms",
    );
}

/// (c) `time sync` while the clock is 90 s slow, then codes after the clock
/// was "fixed" (no faketime) with the server gone: the saved estimate is
/// anchored to the boot clock, so the 90 s wall-clock change is detected and
/// taken out of the correction instead of being applied twice.
#[test]
fn a_wall_clock_change_after_sync_is_detected() {
    let Some(tools) = tools("a_wall_clock_change_after_sync_is_detected") else {
        return;
    };
    let chrony = Chrony::start(tools, None);
    let sources = chrony.url();
    let vault = Vault::new();

    let out = vault
        .run(Client::Slow(tools), &sources, &["time", "sync"])
        .ok();
    assert_says_slow(&out.stdout, SKEW_SECS as f64, &out);
    // Offline from now on: the re-check `code` attempts fails at once.
    let port = chrony.port;
    drop(chrony);
    assert!(ntp_sample(port, Duration::from_millis(200)).is_err());

    assert_code_for(0, || vault.run(Client::True, &sources, &["code", "demo"]));

    let json = vault
        .run(Client::True, &sources, &["time", "--json"])
        .ok()
        .json();
    assert_near(
        &json["wall_clock_change_ms"],
        (SKEW_SECS * 1000) as f64,
        SKEW_TOLERANCE_MS,
        "wall_clock_change_ms",
    );
    assert_near(
        &json["offset_ms"],
        0.0,
        offset_tolerance_ms(&json),
        "offset_ms",
    );
    assert_eq!(json["state"], "in-sync", "{json}");

    let out = vault.run(Client::True, &sources, &["time"]).ok();
    assert!(
        out.stdout.contains("The wall clock was changed by +90.0")
            && out.stdout.contains("the correction accounts for it"),
        "{out}"
    );
}

/// (d) offline on a fresh vault: the source's port is closed. Codes still
/// come (for the device clock) and the CLI says the time is unknown.
#[test]
fn offline_codes_say_the_time_is_unknown() {
    let closed = format!("ntp://127.0.0.1:{}", free_udp_port());
    let vault = Vault::new();

    let out = assert_code_for(0, || vault.run(Client::True, &closed, &["code", "demo"]));
    assert!(out.stderr.contains("the time is unknown"), "{out}");
    assert!(!vault.clock_state().exists());

    let out = vault.run(Client::True, &closed, &["time", "sync"]);
    assert_eq!(out.code, Some(1), "{out}");
    assert!(
        out.stderr.contains("the time could not be checked"),
        "{out}"
    );
    assert!(
        out.stdout.contains(&closed) && out.stdout.contains("failed"),
        "{out}"
    );
    assert!(!vault.clock_state().exists());

    let json = vault
        .run(Client::True, &closed, &["time", "--json"])
        .ok()
        .json();
    assert_eq!(json["state"], "unknown", "{json}");
    assert!(json["offset_ms"].is_null(), "{json}");
}
