//! Moving to a new phone end to end: the real `tessera` CLI on two (or
//! three) vault directories, the real `tessera-server` on 127.0.0.1 as the
//! transfer mailbox and push server, and real files
//! (docs/backup-format.md "Device-to-device transfer",
//! docs/push-protocol.md §9).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;

use serde_json::{Value, json};
use tessera_core::{Account, OtpauthUri, Vault};
use tessera_tests::processes::{Device, Running, Server};

const API_KEY: &str = "transfer-e2e-key-0123456789abcdef";

// ------------------------------------------------------------ the server

/// A server with this file's API key on any free port.
fn start_server(dir: &Path) -> Server {
    Server::start_on(dir, 0, API_KEY)
}

/// The relying party's calls these tests make.
trait Rp {
    /// A fresh enrollment URI for `user` (`replace`: for a lost phone).
    fn enroll(&self, user: &str, replace: bool) -> String;
    /// Asks to create a prompt for `user`: status and body.
    fn prompt(&self, user: &str) -> (u16, Value);
    /// `user`'s devices.
    fn devices(&self, user: &str) -> Vec<Value>;
}

impl Rp for Server {
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

// ------------------------------------------------------------ devices

/// Adds accounts with every field set (tags, note, icon, HOTP counter) to
/// `device`'s vault.
fn seed(device: &Device) -> Vec<Account> {
    let mut vault = device.vault();
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

/// Pairs `device` (its first pairing) with a fresh enrollment for `user`
/// (`replace`: the RP replacing a lost phone) under `name`; returns the
/// device id the server gave it.
fn pair(device: &Device, server: &Server, user: &str, replace: bool, name: &str) -> String {
    device.ok(&[
        "push",
        "pair",
        &server.enroll(user, replace),
        "--name",
        name,
    ]);
    device.ok(&["push", "list", "--json"]).json()[0]["device_id"]
        .as_str()
        .unwrap()
        .to_string()
}

/// The invite line a `transfer receive` printed.
fn invite_of(receive: &Running) -> String {
    receive.wait_for("tessera-transfer://", 1);
    let (out, _) = receive.output();
    out.lines()
        .find(|l| l.starts_with("tessera-transfer://"))
        .unwrap()
        .to_string()
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
    let server = start_server(dir.path());
    let old = Device::with_vault(&server.url);
    let new = Device::with_vault(&server.url);
    let mut sent = seed(&old);
    sent.sort_by(|a, b| a.id.cmp(&b.id));

    let mut receive = new.spawn(&[
        "transfer",
        "receive",
        "--server",
        &server.url,
        "--confirm",
        "-",
    ]);
    let invite = invite_of(&receive);
    assert!(invite.contains("&push="), "{invite}");
    let out = old.ok(&["transfer", "send", &invite]);
    let code = code_in(&out.stdout);
    assert!(out.stdout.contains("Sent 2 account(s)"), "{out}");
    receive.wait_for("Confirmation code: ", 1);
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
    let server = start_server(dir.path());
    let old = Device::with_vault(&server.url);
    let new = Device::with_vault(&server.url);
    let mut sent = seed(&old);
    sent.sort_by(|a, b| a.id.cmp(&b.id));
    let file = dir.path().join("transfer.json");
    let file_arg = file.to_string_lossy().into_owned();

    let mut receive = new.spawn(&["transfer", "receive", "--file", &file_arg, "--confirm", "-"]);
    let invite = invite_of(&receive);
    assert!(invite.contains("file=1"), "{invite}");
    let out = old.ok(&["transfer", "send", &invite, "--file", &file_arg]);
    let code = code_in(&out.stdout);
    receive.wait_for("Confirmation code: ", 1);
    receive.write(&format!("{code}\n"));
    let out = receive.finish();
    assert_eq!(out.code, Some(0), "{out}");
    assert_eq!(otp_accounts(&new.vault()), sent);
    assert!(!file.exists(), "the used transfer file is removed");
}

#[test]
fn a_wrong_confirmation_code_adds_nothing_and_a_second_sender_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let server = start_server(dir.path());
    let old = Device::with_vault(&server.url);
    let stranger = Device::with_vault(&server.url);
    let new = Device::with_vault(&server.url);
    seed(&old);
    seed(&stranger);

    let receive = new.spawn(&[
        "transfer",
        "receive",
        "--server",
        &server.url,
        "--confirm",
        "000000",
    ]);
    let invite = invite_of(&receive);
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
    let receive = new.spawn(&[
        "transfer",
        "receive",
        "--server",
        &server.url,
        "--confirm",
        "-",
    ]);
    let invite = invite_of(&receive);
    // The receiver stops reading (killed without cancelling), so the
    // mailbox keeps the first envelope.
    drop(receive);
    old.ok(&["transfer", "send", &invite]);
    let out = stranger.run(&["transfer", "send", &invite]);
    assert_eq!(out.code, Some(4), "{out}");
    assert!(
        out.stderr
            .contains("someone else already answered this invite"),
        "{out}"
    );
}

#[test]
fn a_handoff_moves_push_approval_and_tells_the_old_device() {
    let dir = tempfile::tempdir().unwrap();
    let server = start_server(dir.path());
    let old = Device::with_vault(&server.url);
    let new = Device::with_vault(&server.url);
    seed(&old);
    let old_device_id = pair(&old, &server, "alice", false, "old phone");
    // A copy of the old device as it was, to try its key afterwards.
    let stale = Device::with_vault(&server.url);
    std::fs::copy(old.vault_path(), stale.vault_path()).unwrap();

    let listen = old.spawn(&["push", "listen"]);
    listen.wait_for("listening for sign-in requests", 1);

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
    let invite = invite_of(&receive);
    let out = old.ok(&["transfer", "send", &invite]);
    assert!(out.stdout.contains("Handed off 1 push pairing(s)"), "{out}");
    assert!(
        out.stdout.contains("1 push-only account(s) stay behind"),
        "{out}"
    );
    receive.wait_for("Confirmation code: ", 1);
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
    let server = start_server(dir.path());
    let old = Device::with_vault(&server.url);
    let thief = Device::with_vault(&server.url);
    let old_id = pair(&old, &server, "dave", false, "old phone");

    let listen = old.spawn(&["push", "listen"]);
    listen.wait_for("listening for sign-in requests", 1);
    pair(&thief, &server, "dave", true, "not mine");
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
    let server = start_server(dir.path());
    let old = Device::with_vault(&server.url);
    let thief = Device::with_vault(&server.url);
    let old_id = pair(&old, &server, "erin", false, "old phone");

    // Nothing listens on the old device meanwhile.
    pair(&thief, &server, "erin", true, "not mine");
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
    let server = start_server(dir.path());
    let old = Device::with_vault(&server.url);
    let new = Device::with_vault(&server.url);
    pair(&old, &server, "frank", false, "old phone");
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
    let invite = invite_of(&receive);
    let out = old.ok(&["transfer", "send", &invite]);
    assert!(out.stdout.contains("Handed off 1 push pairing(s)"), "{out}");
    receive.wait_for("Confirmation code: ", 1);
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
    listen.wait_for("was this you?", 1);
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
