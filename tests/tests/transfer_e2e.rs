//! Moving to a new phone end to end: the real `tessera` CLI on two (or
//! three) vault directories, the real `tessera-server` on 127.0.0.1 as the
//! transfer mailbox and push server, and real files
//! (docs/backup-format.md "Device-to-device transfer",
//! docs/push-protocol.md §9).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tessera_core::{Account, CreateOptions, OtpauthUri, Unlock, Vault};
use tessera_tests::{CHEAP_KDF, Out, rp_http, tessera_bin, tessera_server_bin};

const API_KEY: &str = "transfer-e2e-key-0123456789abcdef";
const PASSWORD: &str = "vault-pw";
const WAIT: Duration = Duration::from_secs(60);

// ------------------------------------------------------------ the server

/// One blocking RP call with this file's API key; status and JSON body.
fn http(method: &str, url: &str, body: Option<&Value>) -> (u16, Value) {
    rp_http(API_KEY, method, url, body)
}

struct Server {
    child: Child,
    url: String,
}

impl Server {
    fn start(dir: &Path) -> Self {
        let log = std::fs::File::create(dir.join("server.log")).unwrap();
        let mut child = Command::new(tessera_server_bin())
            .args(["--listen", "127.0.0.1:0", "--database"])
            .arg(dir.join("server.db"))
            .env("TESSERA_SERVER_API_KEYS", API_KEY)
            .env_remove("TESSERA_SERVER_CONFIG")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(log)
            .spawn()
            .unwrap();
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        stdout.read_line(&mut line).unwrap();
        let url = line
            .trim()
            .strip_prefix("tessera-server listening on ")
            .unwrap_or_else(|| panic!("the server did not start: {line:?}"))
            .to_string();
        std::thread::spawn(move || {
            let mut sink = String::new();
            while stdout.read_line(&mut sink).is_ok_and(|n| n > 0) {
                sink.clear();
            }
        });
        Self { child, url }
    }

    fn rp(&self, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        http(method, &format!("{}{path}", self.url), body.as_ref())
    }

    fn enroll(&self, user: &str, replace: bool) -> String {
        let (status, body) = self.rp(
            "POST",
            &format!("/v1/rp/users/{user}/devices/enroll"),
            Some(json!({ "account": format!("{user}@example.com"), "replace": replace })),
        );
        assert_eq!(status, 201, "{body}");
        body["enrollment_uri"].as_str().unwrap().to_string()
    }

    fn prompt(&self, user: &str) -> (u16, Value) {
        self.rp(
            "POST",
            "/v1/rp/prompts",
            Some(json!({"user": user, "site": "Example"})),
        )
    }

    fn devices(&self, user: &str) -> Vec<Value> {
        let (status, body) = self.rp("GET", &format!("/v1/rp/users/{user}/devices"), None);
        assert_eq!(status, 200, "{body}");
        body["devices"].as_array().unwrap().clone()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

// ------------------------------------------------------------ devices

struct Device {
    dir: tempfile::TempDir,
    time_sources: String,
}

impl Device {
    /// A device with an (empty) vault made at the cheapest Argon2id cost.
    fn new(server: &Server) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let options = CreateOptions {
            keystore: None,
            password: Some(PASSWORD),
            kdf: CHEAP_KDF,
        };
        drop(Vault::create(&dir.path().join("vault.json"), options).unwrap());
        Self {
            dir,
            time_sources: server.url.clone(),
        }
    }

    fn vault_path(&self) -> PathBuf {
        self.dir.path().join("vault.json")
    }

    fn vault(&self) -> Vault {
        Vault::open(&self.vault_path(), Unlock::Password(PASSWORD)).unwrap()
    }

    fn command(&self, args: &[&str]) -> Command {
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
            .env("PATH", "/nonexistent")
            .env_remove("DBUS_SESSION_BUS_ADDRESS");
        command
    }

    fn run(&self, args: &[&str]) -> Out {
        let output = self.command(args).stdin(Stdio::null()).output().unwrap();
        Out {
            what: format!("tessera {}", args.join(" ")),
            code: output.status.code(),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }

    fn ok(&self, args: &[&str]) -> Out {
        let out = self.run(args);
        assert_eq!(out.code, Some(0), "{out}");
        out
    }

    fn spawn(&self, args: &[&str]) -> Running {
        let mut child = self
            .command(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stdout = Arc::new(Mutex::new(String::new()));
        let stderr = Arc::new(Mutex::new(String::new()));
        collect(child.stdout.take().unwrap(), Arc::clone(&stdout));
        collect(child.stderr.take().unwrap(), Arc::clone(&stderr));
        Running {
            what: format!("tessera {}", args.join(" ")),
            stdin: child.stdin.take(),
            child,
            stdout,
            stderr,
        }
    }

    /// Adds accounts with every field set (tags, note, icon, HOTP counter).
    fn seed(&self) -> Vec<Account> {
        let mut vault = self.vault();
        let uris = [
            "otpauth://totp/GitHub:alice?secret=JBSWY3DPEHPK3PXP&issuer=GitHub&digits=8&period=60&algorithm=SHA256",
            "otpauth://hotp/Bank:bob?secret=GEZDGNBVGY3TQOJQ&counter=7&issuer=Bank&image=https%3A%2F%2Fbank.example%2Ficon.png",
        ];
        let mut accounts = Vec::new();
        for (i, uri) in uris.iter().enumerate() {
            let mut account = Account::from_uri(OtpauthUri::parse(uri).unwrap().uri, 1_700_000_000);
            account.tags = vec![format!("tag{i}"), "work".into()];
            account.note = format!("note {i}");
            account.icon = Some("example.com".into());
            account.updated_at = 1_700_000_100 + i as u64;
            accounts.push(account);
        }
        vault.add_all(accounts.clone()).unwrap();
        accounts
    }
}

fn collect(pipe: impl Read + Send + 'static, into: Arc<Mutex<String>>) {
    std::thread::spawn(move || {
        let mut reader = BufReader::new(pipe);
        let mut line = String::new();
        while reader.read_line(&mut line).is_ok_and(|n| n > 0) {
            into.lock().unwrap().push_str(&line);
            line.clear();
        }
    });
}

struct Running {
    what: String,
    child: Child,
    stdin: Option<ChildStdin>,
    stdout: Arc<Mutex<String>>,
    stderr: Arc<Mutex<String>>,
}

impl Running {
    fn output(&self) -> (String, String) {
        (
            self.stdout.lock().unwrap().clone(),
            self.stderr.lock().unwrap().clone(),
        )
    }

    fn wait_for(&self, needle: &str) {
        let start = Instant::now();
        loop {
            let (out, err) = self.output();
            if out.contains(needle) || err.contains(needle) {
                return;
            }
            assert!(
                start.elapsed() < WAIT,
                "{}: no {needle:?}\n--- stdout ---\n{out}--- stderr ---\n{err}",
                self.what
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The invite line a `transfer receive` printed.
    fn invite(&self) -> String {
        self.wait_for("tessera-transfer://");
        let (out, _) = self.output();
        out.lines()
            .find(|l| l.starts_with("tessera-transfer://"))
            .unwrap()
            .to_string()
    }

    fn write(&mut self, text: &str) {
        let stdin = self.stdin.as_mut().unwrap();
        stdin.write_all(text.as_bytes()).unwrap();
        stdin.flush().unwrap();
    }

    fn finish(mut self) -> Out {
        let start = Instant::now();
        let status = loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                break Some(status);
            }
            if start.elapsed() > WAIT {
                let _ = self.child.kill();
                let _ = self.child.wait();
                break None;
            }
            std::thread::sleep(Duration::from_millis(50));
        };
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

/// The 6-digit code after "Confirmation code: ".
fn code_in(text: &str) -> String {
    let at = text
        .find("Confirmation code: ")
        .unwrap_or_else(|| panic!("no confirmation code in {text}"));
    text[at + 19..at + 25].to_string()
}

/// The accounts without their push parts, sorted by id.
fn otp_accounts(vault: &Vault) -> Vec<Account> {
    let mut accounts: Vec<Account> = vault
        .accounts()
        .iter()
        .filter_map(Account::without_push)
        .collect();
    accounts.sort_by(|a, b| a.id.cmp(&b.id));
    accounts
}

// ------------------------------------------------------------ tests

#[test]
fn a_transfer_through_the_mailbox_moves_every_account_with_every_field() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path());
    let old = Device::new(&server);
    let new = Device::new(&server);
    let mut sent = old.seed();
    sent.sort_by(|a, b| a.id.cmp(&b.id));

    let mut receive = new.spawn(&[
        "transfer",
        "receive",
        "--server",
        &server.url,
        "--confirm",
        "-",
    ]);
    let invite = receive.invite();
    assert!(invite.contains("&push="), "{invite}");
    let out = old.ok(&["transfer", "send", &invite]);
    let code = code_in(&out.stdout);
    assert!(out.stdout.contains("Sent 2 account(s)"), "{out}");
    receive.wait_for("Confirmation code: ");
    receive.write(&format!("{code}\n"));
    let out = receive.finish();
    assert_eq!(out.code, Some(0), "{out}");
    assert_eq!(code_in(&out.stdout), code, "both sides show the same code");
    assert!(out.stdout.contains("Added 2 account(s)"), "{out}");
    assert_eq!(otp_accounts(&new.vault()), sent, "every field arrives");

    // The same codes on both devices (asked again if a 60 s step ended
    // between the two runs).
    let code = |device: &Device| device.ok(&["code", "GitHub", "--json"]).json()["code"].clone();
    let (mut before, mut after) = (code(&old), code(&new));
    if before != after {
        (before, after) = (code(&old), code(&new));
    }
    assert!(before.is_string(), "{before}");
    assert_eq!(before, after);
}

#[test]
fn a_transfer_through_a_file() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path());
    let old = Device::new(&server);
    let new = Device::new(&server);
    let mut sent = old.seed();
    sent.sort_by(|a, b| a.id.cmp(&b.id));
    let file = dir.path().join("transfer.json");
    let file_arg = file.to_string_lossy().into_owned();

    let mut receive = new.spawn(&["transfer", "receive", "--file", &file_arg, "--confirm", "-"]);
    let invite = receive.invite();
    assert!(invite.contains("file=1"), "{invite}");
    let out = old.ok(&["transfer", "send", &invite, "--file", &file_arg]);
    let code = code_in(&out.stdout);
    receive.wait_for("Confirmation code: ");
    receive.write(&format!("{code}\n"));
    let out = receive.finish();
    assert_eq!(out.code, Some(0), "{out}");
    assert_eq!(otp_accounts(&new.vault()), sent);
    assert!(!file.exists(), "the used transfer file is removed");
}

#[test]
fn a_wrong_confirmation_code_adds_nothing_and_a_second_sender_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path());
    let old = Device::new(&server);
    let stranger = Device::new(&server);
    let new = Device::new(&server);
    old.seed();
    stranger.seed();

    let receive = new.spawn(&[
        "transfer",
        "receive",
        "--server",
        &server.url,
        "--confirm",
        "000000",
    ]);
    let invite = receive.invite();
    let code = code_in(&old.ok(&["transfer", "send", &invite]).stdout);
    let out = receive.finish();
    if code != "000000" {
        assert_eq!(out.code, Some(4), "{out}");
        assert!(out.stderr.contains("nothing was added"), "{out}");
        assert!(new.vault().accounts().is_empty(), "nothing applied");
    }

    // Without a terminal, --yes alone is refused before anything starts.
    let out = new.run(&["transfer", "receive", "--server", &server.url, "--yes"]);
    assert_eq!(out.code, Some(4), "{out}");
    assert!(out.stderr.contains("--confirm"), "{out}");

    // Two senders: the first fills the mailbox, the second is told.
    let mut receive = new.spawn(&[
        "transfer",
        "receive",
        "--server",
        &server.url,
        "--confirm",
        "-",
    ]);
    let invite = receive.invite();
    // The receiver stops reading (killed without cancelling), so the
    // mailbox keeps the first envelope.
    let _ = receive.child.kill();
    let _ = receive.child.wait();
    old.ok(&["transfer", "send", &invite]);
    let out = stranger.run(&["transfer", "send", &invite]);
    assert_eq!(out.code, Some(4), "{out}");
    assert!(
        out.stderr
            .contains("someone else already answered this invite"),
        "{out}"
    );
    receive.stdin = None;
}

#[test]
fn a_handoff_moves_push_approval_and_tells_the_old_device() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path());
    let old = Device::new(&server);
    let new = Device::new(&server);
    old.seed();
    old.ok(&[
        "push",
        "pair",
        &server.enroll("alice", false),
        "--name",
        "old phone",
    ]);
    let before = old.ok(&["push", "list", "--json"]).json();
    let old_device_id = before[0]["device_id"].as_str().unwrap().to_string();
    // A copy of the old device as it was, to try its key afterwards.
    let stale = Device::new(&server);
    std::fs::copy(old.vault_path(), stale.vault_path()).unwrap();

    let listen = old.spawn(&["push", "listen"]);
    listen.wait_for("listening for sign-in requests");

    let mut receive = new.spawn(&[
        "transfer",
        "receive",
        "--server",
        &server.url,
        "--confirm",
        "-",
        "--name",
        "new phone",
    ]);
    let invite = receive.invite();
    let out = old.ok(&["transfer", "send", &invite]);
    assert!(out.stdout.contains("Handed off 1 push pairing(s)"), "{out}");
    assert!(
        out.stdout.contains("1 push-only account(s) stay behind"),
        "{out}"
    );
    receive.wait_for("Confirmation code: ");
    receive.write(&format!("{}\n", code_in(&out.stdout)));
    let out = receive.finish();
    assert_eq!(out.code, Some(0), "{out}");
    assert!(out.stdout.contains("Moved push approval"), "{out}");

    // The old device is told on its stream and forgets the pairing.
    let out = listen.finish();
    assert_eq!(out.code, Some(0), "{out}");
    assert!(out.stdout.contains("moved to your new device"), "{out}");
    assert_eq!(old.ok(&["push", "list", "--json"]).json(), json!([]));

    // The pairing was moved, not copied: a new device id on the new device.
    let after = new.ok(&["push", "list", "--json"]).json();
    let new_device_id = after[0]["device_id"].as_str().unwrap();
    assert_ne!(new_device_id, old_device_id);
    assert_eq!(after[0]["user"], "alice");
    let devices = server.devices("alice");
    let old_row = devices
        .iter()
        .find(|d| d["device_id"] == old_device_id.as_str())
        .unwrap();
    assert_eq!(old_row["revoke_reason"], "handoff");

    // The site's next prompt goes to the new device, which approves it.
    let (status, prompt) = server.prompt("alice");
    assert_eq!(status, 201, "{prompt}");
    let id = prompt["prompt_id"].as_str().unwrap();
    let number = prompt["number"].as_str().unwrap();
    let out = new.ok(&["push", "answer", id, "--approve", "--number", number]);
    assert!(out.stdout.contains("Approved"), "{out}");
    // The old key is refused.
    let out = stale.run(&["push", "answer", id, "--approve", "--number", number]);
    assert_ne!(out.code, Some(0), "{out}");
    assert!(out.stderr.contains("revoked"), "{out}");
}

#[test]
fn a_lost_phone_replaced_by_a_stranger_is_reported_and_blocks_the_user() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path());
    let old = Device::new(&server);
    let thief = Device::new(&server);
    old.ok(&[
        "push",
        "pair",
        &server.enroll("dave", false),
        "--name",
        "old phone",
    ]);
    let old_id = old.ok(&["push", "list", "--json"]).json()[0]["device_id"]
        .as_str()
        .unwrap()
        .to_string();

    let listen = old.spawn(&["push", "listen"]);
    listen.wait_for("listening for sign-in requests");
    thief.ok(&[
        "push",
        "pair",
        &server.enroll("dave", true),
        "--name",
        "not mine",
    ]);
    answer_not_me_and_check_blocked(listen, &server, "dave", &old_id);

    let (status, _) = server.rp("POST", "/v1/rp/users/dave/unblock", None);
    assert_eq!(status, 200);
    let (status, body) = server.prompt("dave");
    assert_eq!(status, 201, "{body}");
}

/// §9.2 with the old phone offline: the replacing enrollment is used while
/// nothing listens on the old device; when it comes back, `push answer` is
/// refused with the reason, and `push listen --once` learns `replaced` on
/// connect, asks, and reports.
#[test]
fn a_lost_phone_offline_during_the_replacement_learns_it_on_connect() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path());
    let old = Device::new(&server);
    let thief = Device::new(&server);
    old.ok(&[
        "push",
        "pair",
        &server.enroll("erin", false),
        "--name",
        "old phone",
    ]);
    let old_id = old.ok(&["push", "list", "--json"]).json()[0]["device_id"]
        .as_str()
        .unwrap()
        .to_string();

    // Nothing listens on the old device meanwhile.
    thief.ok(&[
        "push",
        "pair",
        &server.enroll("erin", true),
        "--name",
        "not mine",
    ]);
    let (status, prompt) = server.prompt("erin");
    assert_eq!(status, 201, "{prompt}");
    let id = prompt["prompt_id"].as_str().unwrap();

    // Any command names the reason plainly.
    let out = old.run(&["push", "answer", id, "--deny"]);
    assert_ne!(out.code, Some(0), "{out}");
    assert!(out.stderr.contains("(replaced)"), "{out}");
    assert!(out.stderr.contains("activated on a new device"), "{out}");

    // Back online: the refused connect says `replaced`, and "no" reports it.
    let listen = old.spawn(&["push", "listen", "--once"]);
    answer_not_me_and_check_blocked(listen, &server, "erin", &old_id);
}

/// §9.1 with the old device offline when the new one claims the hand-off:
/// its next `push listen` learns `handoff` on connect, says the pairing
/// moved and removes it.
#[test]
fn an_old_device_offline_during_the_handoff_learns_it_moved_on_connect() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path());
    let old = Device::new(&server);
    let new = Device::new(&server);
    old.ok(&[
        "push",
        "pair",
        &server.enroll("frank", false),
        "--name",
        "old phone",
    ]);
    // Nothing listens on the old device during the transfer.
    let mut receive = new.spawn(&[
        "transfer",
        "receive",
        "--server",
        &server.url,
        "--confirm",
        "-",
        "--name",
        "new phone",
    ]);
    let invite = receive.invite();
    let out = old.ok(&["transfer", "send", &invite]);
    assert!(out.stdout.contains("Handed off 1 push pairing(s)"), "{out}");
    receive.wait_for("Confirmation code: ");
    receive.write(&format!("{}\n", code_in(&out.stdout)));
    let out = receive.finish();
    assert_eq!(out.code, Some(0), "{out}");
    assert!(out.stdout.contains("Moved push approval"), "{out}");

    // The old device still holds the dead pairing, until it connects.
    assert_eq!(
        old.ok(&["push", "list", "--json"]).json()[0]["user"],
        "frank"
    );
    let out = old.run(&["push", "listen", "--once"]);
    assert_eq!(out.code, Some(0), "{out}");
    assert!(out.stdout.contains("moved to your new device"), "{out}");
    assert_eq!(old.ok(&["push", "list", "--json"]).json(), json!([]));
    assert_eq!(
        new.ok(&["push", "list", "--json"]).json()[0]["user"],
        "frank"
    );
}

/// Answers "no" to "was this you?" on a listening old device, then checks the
/// report blocked the user's prompts and shows in the RP's device list.
fn answer_not_me_and_check_blocked(mut listen: Running, server: &Server, user: &str, old_id: &str) {
    listen.wait_for("was this you?");
    listen.write("no\n");
    let out = listen.finish();
    assert_eq!(out.code, Some(0), "{out}");
    assert!(out.stdout.contains("reported"), "{out}");

    let (status, body) = server.prompt(user);
    assert_eq!(
        (status, body["error"].as_str()),
        (403, Some("user_blocked")),
        "{body}"
    );
    let devices = server.devices(user);
    let row = devices.iter().find(|d| d["device_id"] == old_id).unwrap();
    assert_eq!(row["revoke_reason"], "replaced");
    assert!(row["fraud_reported_at"].is_i64(), "{row}");
}
