//! End-to-end tests across Tessera's crates (`tests/`), the shared test
//! vectors (`vectors/`), and the helpers the test files share.
#![allow(clippy::expect_used)] // test support: a failure here is a test failure

use std::fmt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;

use serde_json::Value;

pub mod fake_time;
pub mod processes;

/// Argon2id at its cheapest (64 KiB, one pass): for tests and helpers that
/// create many password-protected vaults. Never used by the product.
pub const CHEAP_KDF: tessera_core::KdfParams = tessera_core::KdfParams {
    memory_kib: 64,
    iterations: 1,
    parallelism: 1,
};

/// One finished `tessera` run: what was run, its exit code and its output.
/// Its `Display` shows all four, for assertion messages. Each test file
/// adds its own assertions on it.
pub struct Out {
    /// The command, as the assertion messages name it.
    pub what: String,
    /// The exit code (`None`: killed by a signal).
    pub code: Option<i32>,
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
}

impl fmt::Display for Out {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}\nexit: {:?}\n--- stdout ---\n{}--- stderr ---\n{}",
            self.what, self.code, self.stdout, self.stderr
        )
    }
}

impl Out {
    /// Standard output, parsed as JSON.
    ///
    /// # Panics
    ///
    /// When it is not JSON (the message shows the whole run).
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| panic!("not JSON ({e}):\n{self}"))
    }
}

/// `<target dir>/debug/tessera`, built (or found up to date) once per test
/// process.
pub fn tessera_bin() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| build_workspace_bin("tessera-desktop", "tessera"))
}

/// `<target dir>/debug/tessera-server`, the reference push server, built
/// (or found up to date) once per test process.
pub fn tessera_server_bin() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| build_workspace_bin("tessera-server", "tessera-server"))
}

/// Builds `bin` of `package` with the profile this test runs under and
/// returns its path. Always asks Cargo: it rebuilds a stale binary and is a
/// no-op otherwise, so tests never run an old one.
fn build_workspace_bin(package: &str, bin: &str) -> PathBuf {
    // A test binary lives in <target dir>/<profile>/deps/.
    let exe = std::env::current_exe().expect("current_exe");
    let profile_dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("the test binary lives in <target>/debug/deps");
    let path = profile_dir.join(format!("{bin}{}", std::env::consts::EXE_SUFFIX));
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ is inside the workspace");
    let mut cargo = Command::new(env!("CARGO"));
    cargo
        .args(["build", "-p", package, "--bin", bin])
        .current_dir(workspace)
        .stdin(Stdio::null());
    // `cargo test --release` (or another profile) runs from
    // <target>/<profile>/deps: build the binary with the same profile.
    match profile_dir.file_name().and_then(|n| n.to_str()) {
        Some("debug") | None => {}
        Some(profile) => {
            cargo.args(["--profile", profile]);
        }
    }
    // Cargo gives this test process the package's own variables. Build
    // scripts (ring's) watch some of them with rerun-if-env-changed, so
    // passing them on would rebuild half the tree here and again on the
    // next ordinary `cargo build`.
    for (name, _) in std::env::vars_os() {
        let name = name.to_string_lossy();
        if is_cargo_package_variable(&name) {
            cargo.env_remove(name.as_ref());
        }
    }
    let output = cargo.output().expect("run cargo build");
    assert!(
        output.status.success(),
        "cargo build -p {package} --bin {bin} failed:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        path.exists(),
        "cargo built {bin}, but not at {} (a different target dir?)",
        path.display()
    );
    path
}

/// The variables Cargo sets for a package's test run (not for Cargo itself).
fn is_cargo_package_variable(name: &str) -> bool {
    name.starts_with("CARGO_PKG_")
        || name.starts_with("CARGO_BIN_EXE_")
        || matches!(
            name,
            "CARGO_MANIFEST_DIR"
                | "CARGO_MANIFEST_PATH"
                | "CARGO_MANIFEST_LINKS"
                | "CARGO_CRATE_NAME"
                | "CARGO_BIN_NAME"
                | "CARGO_PRIMARY_PACKAGE"
                | "CARGO_TARGET_TMPDIR"
                | "CARGO_RUSTC_CURRENT_DIR"
                | "OUT_DIR"
        )
}

/// The platform keystore, or `None` (the test is skipped, with a note) when it
/// is unreachable and `TESSERA_REQUIRE_SECRET_SERVICE=1` is not set; with it
/// set, an unreachable keystore fails the test.
pub fn platform_keystore() -> Option<tessera_core::PlatformKeyStore> {
    match tessera_core::PlatformKeyStore::connect() {
        Ok(keystore) => Some(keystore),
        Err(error) => {
            let required = std::env::var("TESSERA_REQUIRE_SECRET_SERVICE").is_ok_and(|v| v == "1");
            assert!(
                !required,
                "TESSERA_REQUIRE_SECRET_SERVICE=1 but the platform keystore is unreachable: {error}"
            );
            eprintln!(
                "skipped: the platform keystore is unreachable ({error}); \
                 run under scripts/with-secret-service.sh"
            );
            None
        }
    }
}

/// One blocking relying-party call to a loopback `tessera-server`
/// (`Connection: close`, `Authorization: Bearer <api_key>`); returns the
/// status and the JSON body (`Null` when empty or not JSON). Waits at most
/// 60 s for the answer.
pub fn rp_http(api_key: &str, method: &str, url: &str, body: Option<&Value>) -> (u16, Value) {
    use std::io::{Read as _, Write as _};
    let rest = url.strip_prefix("http://").expect("a loopback http URL");
    let (host, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let path = if path.is_empty() { "/" } else { path };
    let mut stream =
        std::net::TcpStream::connect(host).unwrap_or_else(|e| panic!("connect {host}: {e}"));
    stream
        .set_read_timeout(Some(std::time::Duration::from_secs(60)))
        .expect("a read timeout");
    let body = body.map(Value::to_string).unwrap_or_default();
    let request = format!(
        "{method} {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\
         Authorization: Bearer {api_key}\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\n\r\n{body}",
        body.len()
    );
    stream
        .write_all(request.as_bytes())
        .expect("send the request");
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).expect("read the answer");
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("an HTTP answer");
    let head = String::from_utf8_lossy(&raw[..split]).to_string();
    let mut payload = raw[split + 4..].to_vec();
    if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        payload = dechunk(&payload);
    }
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("a status");
    (
        status,
        serde_json::from_slice(&payload).unwrap_or(Value::Null),
    )
}

/// The body of a chunked HTTP/1.1 answer.
fn dechunk(mut data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(end) = data.windows(2).position(|w| w == b"\r\n") {
        let line = String::from_utf8_lossy(&data[..end]);
        let size =
            usize::from_str_radix(line.split(';').next().unwrap_or("").trim(), 16).unwrap_or(0);
        if size == 0 {
            break;
        }
        out.extend_from_slice(&data[end + 2..end + 2 + size]);
        data = &data[end + 2 + size + 2..];
    }
    out
}
