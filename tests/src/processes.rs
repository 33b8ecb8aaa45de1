//! The processes the end-to-end tests drive: a `tessera-server` on a
//! loopback port with its own database, a device (the `tessera` CLI over
//! its own vault directory), and a long-running CLI command whose output is
//! collected as it comes.

use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::{CHEAP_KDF, Out, rp_http, tessera_bin, tessera_server_bin};

/// How long a test waits for a process to say or do something.
pub const WAIT: Duration = Duration::from_secs(60);

/// The vault password every test device uses.
pub const PASSWORD: &str = "vault-pw";

/// A running `tessera-server` with its database and log in a directory,
/// accepting one RP API key. Killed when dropped.
pub struct Server {
    child: Child,
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    /// The port it listens on.
    pub port: u16,
    dir: PathBuf,
    api_key: String,
}

impl Server {
    /// Starts (or restarts) the server on `port` (0: any free port) with
    /// the database and log in `dir`.
    ///
    /// # Panics
    ///
    /// When it does not start (the message holds its log).
    pub fn start_on(dir: &Path, port: u16, api_key: &str) -> Self {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(dir.join("server.log"))
            .expect("the server log");
        let mut child = Command::new(tessera_server_bin())
            .args(["--listen", &format!("127.0.0.1:{port}"), "--database"])
            .arg(dir.join("server.db"))
            .env("TESSERA_SERVER_API_KEYS", api_key)
            .env_remove("TESSERA_SERVER_CONFIG")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(log)
            .spawn()
            .expect("start tessera-server");
        let mut stdout = BufReader::new(child.stdout.take().expect("piped stdout"));
        let mut line = String::new();
        stdout
            .read_line(&mut line)
            .expect("the server's first line");
        let url = line
            .trim()
            .strip_prefix("tessera-server listening on ")
            .unwrap_or_else(|| {
                panic!(
                    "the server did not start: {line:?}\n{}",
                    std::fs::read_to_string(dir.join("server.log")).unwrap_or_default()
                )
            })
            .to_string();
        // Keep draining stdout so the server never blocks on a full pipe.
        std::thread::spawn(move || {
            let mut sink = String::new();
            while stdout.read_line(&mut sink).is_ok_and(|n| n > 0) {
                sink.clear();
            }
        });
        let port = url
            .rsplit(':')
            .next()
            .and_then(|p| p.parse().ok())
            .expect("a port in the server's URL");
        Self {
            child,
            url,
            port,
            dir: dir.to_path_buf(),
            api_key: api_key.to_string(),
        }
    }

    /// One RP API call: status and JSON body.
    pub fn rp(&self, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        rp_http(
            &self.api_key,
            method,
            &format!("{}{path}", self.url),
            body.as_ref(),
        )
    }

    /// The server's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("server.log")).unwrap_or_default()
    }

    /// SIGKILL, as a crash.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A device: the `tessera` CLI over one vault in its own directory (HOME,
/// XDG folders and the vault), with [`PASSWORD`], no keystore, no desktop
/// notifications, and the time from `time_sources`.
pub struct Device {
    dir: tempfile::TempDir,
    time_sources: String,
}

impl Device {
    /// A device without a vault yet (the first command makes it), telling
    /// time by `time_sources` (empty: the time is unknown).
    pub fn new(time_sources: &str) -> Self {
        Self {
            dir: tempfile::tempdir().expect("a device directory"),
            time_sources: time_sources.to_string(),
        }
    }

    /// A device with an empty vault made at [`CHEAP_KDF`].
    pub fn with_vault(time_sources: &str) -> Self {
        let device = Self::new(time_sources);
        let options = tessera_core::CreateOptions {
            keystore: None,
            password: Some(PASSWORD),
            kdf: CHEAP_KDF,
        };
        drop(tessera_core::Vault::create(&device.vault_path(), options).expect("a vault"));
        device
    }

    /// Its directory (HOME, and the vault's folder).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Where its vault is.
    pub fn vault_path(&self) -> PathBuf {
        self.dir.path().join("vault.json")
    }

    /// Its vault, opened with [`PASSWORD`].
    pub fn vault(&self) -> tessera_core::Vault {
        tessera_core::Vault::open(&self.vault_path(), tessera_core::Unlock::Password(PASSWORD))
            .expect("open the device's vault")
    }

    /// `tessera ARGS` as this device.
    pub fn command(&self, args: &[&str]) -> Command {
        let dir = self.dir.path();
        let mut command = Command::new(tessera_bin());
        command
            .arg("--no-keystore")
            .args(args)
            .current_dir(dir)
            .env("HOME", dir)
            .env("XDG_DATA_HOME", dir)
            .env("XDG_CONFIG_HOME", dir)
            .env("TESSERA_VAULT", self.vault_path())
            .env("TESSERA_PASSWORD", PASSWORD)
            .env("TESSERA_TIME_SOURCES", &self.time_sources)
            // No desktop notifications from the tests.
            .env("PATH", "/nonexistent")
            .env_remove("DBUS_SESSION_BUS_ADDRESS");
        command
    }

    /// Runs `tessera ARGS` to its end, without input.
    pub fn run(&self, args: &[&str]) -> Out {
        let output = self
            .command(args)
            .stdin(Stdio::null())
            .output()
            .expect("run tessera");
        Out {
            what: format!("tessera {}", args.join(" ")),
            code: output.status.code(),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }

    /// [`Device::run`], which must succeed.
    pub fn ok(&self, args: &[&str]) -> Out {
        let out = self.run(args);
        assert_eq!(out.code, Some(0), "{out}");
        out
    }

    /// Starts a long-running `tessera ARGS` with stdin, stdout and stderr
    /// piped.
    pub fn spawn(&self, args: &[&str]) -> Running {
        let mut child = self
            .command(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start tessera");
        let stdout = Arc::new(Mutex::new(String::new()));
        let stderr = Arc::new(Mutex::new(String::new()));
        collect(
            child.stdout.take().expect("piped stdout"),
            Arc::clone(&stdout),
        );
        collect(
            child.stderr.take().expect("piped stderr"),
            Arc::clone(&stderr),
        );
        Running {
            what: format!("tessera {}", args.join(" ")),
            stdin: child.stdin.take(),
            child,
            stdout,
            stderr,
        }
    }
}

/// Appends what `pipe` gives to `into`, line by line, on its own thread.
fn collect(pipe: impl Read + Send + 'static, into: Arc<Mutex<String>>) {
    std::thread::spawn(move || {
        let mut reader = BufReader::new(pipe);
        let mut line = String::new();
        while reader.read_line(&mut line).is_ok_and(|n| n > 0) {
            into.lock().expect("output lock").push_str(&line);
            line.clear();
        }
    });
}

/// A running CLI command (`push listen`, `transfer receive`…). Killed when
/// dropped.
pub struct Running {
    what: String,
    child: Child,
    stdin: Option<ChildStdin>,
    stdout: Arc<Mutex<String>>,
    stderr: Arc<Mutex<String>>,
}

impl Running {
    /// Its stdout and stderr so far.
    pub fn output(&self) -> (String, String) {
        (
            self.stdout.lock().expect("output lock").clone(),
            self.stderr.lock().expect("output lock").clone(),
        )
    }

    /// Waits until stdout and stderr together hold `needle` `times` times.
    ///
    /// # Panics
    ///
    /// After [`WAIT`], showing the output.
    pub fn wait_for(&self, needle: &str, times: usize) {
        let start = Instant::now();
        loop {
            let (out, err) = self.output();
            if out.matches(needle).count() + err.matches(needle).count() >= times {
                return;
            }
            assert!(
                start.elapsed() < WAIT,
                "{}: no {needle:?} after {WAIT:?}\n--- stdout ---\n{out}--- stderr ---\n{err}",
                self.what
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Types `text` on its stdin.
    pub fn write(&mut self, text: &str) {
        let stdin = self.stdin.as_mut().expect("stdin open");
        stdin.write_all(text.as_bytes()).expect("write to stdin");
        stdin.flush().expect("flush stdin");
    }

    /// Waits for the process to end (killing it after [`WAIT`]).
    pub fn finish(mut self) -> Out {
        let start = Instant::now();
        let status = loop {
            if let Some(status) = self.child.try_wait().expect("the child's status") {
                break Some(status);
            }
            if start.elapsed() > WAIT {
                let _ = self.child.kill();
                let _ = self.child.wait();
                break None;
            }
            std::thread::sleep(Duration::from_millis(50));
        };
        // Let the reader threads take the last lines.
        std::thread::sleep(Duration::from_millis(200));
        let (stdout, stderr) = self.output();
        Out {
            what: self.what.clone(),
            code: status.and_then(|s| s.code()),
            stdout,
            stderr,
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
