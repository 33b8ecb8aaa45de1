//! Several `vault_writer` processes change the same vault file at once. Each
//! change is a locked read-modify-write transaction, so no process may lose
//! another's update: afterwards the vault holds every account each writer
//! committed.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Output, Stdio};

use tessera_core::{CreateOptions, Unlock, Vault};
use tessera_tests::CHEAP_KDF;

const PASSWORD: &str = "concurrent-test-password";
const PER_WRITER: u64 = 50;

/// Runs `writers` processes at once, each adding `PER_WRITER` accounts
/// labelled `w<i>-N`, and waits for all of them.
fn run_writers(path: &Path, writers: usize) -> Vec<(String, Output)> {
    let children: Vec<_> = (0..writers)
        .map(|i| {
            let prefix = format!("w{i}");
            let child = Command::new(env!("CARGO_BIN_EXE_vault_writer"))
                .arg(path)
                .arg(PASSWORD)
                .arg(PER_WRITER.to_string())
                .arg(&prefix)
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .expect("spawn vault_writer");
            (prefix, child)
        })
        .collect();
    children
        .into_iter()
        .map(|(prefix, child)| (prefix, child.wait_with_output().unwrap()))
        .collect()
}

/// Checks every writer succeeded and the vault holds exactly
/// `w<i>-0..w<i>-49` for each writer.
fn assert_no_lost_update(path: &Path, outputs: &[(String, Output)]) {
    for (prefix, output) in outputs {
        assert!(
            output.status.success(),
            "writer {prefix} failed ({}): {}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        );
        let commits = String::from_utf8_lossy(&output.stdout)
            .lines()
            .filter(|l| l.starts_with("committed "))
            .count();
        assert_eq!(commits as u64, PER_WRITER, "writer {prefix} commit lines");
    }

    let vault = Vault::open(path, Unlock::Password(PASSWORD)).unwrap();
    assert!(vault.warnings().is_empty(), "{:?}", vault.warnings());
    let mut by_prefix: BTreeMap<String, Vec<u64>> = BTreeMap::new();
    for account in vault.accounts() {
        let (prefix, n) = account
            .label
            .split_once('-')
            .unwrap_or_else(|| panic!("unexpected label {:?}", account.label));
        by_prefix
            .entry(prefix.to_string())
            .or_default()
            .push(n.parse().unwrap());
    }
    assert_eq!(
        vault.accounts().len(),
        outputs.len() * PER_WRITER as usize,
        "lost or extra accounts: {by_prefix:?}"
    );
    for (prefix, _) in outputs {
        let mut found = by_prefix.remove(prefix).unwrap_or_default();
        // Each writer's own accounts stay in the order it added them.
        let in_order = found.clone();
        found.sort_unstable();
        assert_eq!(in_order, found, "writer {prefix}'s accounts out of order");
        assert_eq!(
            found,
            (0..PER_WRITER).collect::<Vec<_>>(),
            "writer {prefix}'s accounts"
        );
    }
    assert!(by_prefix.is_empty(), "accounts from nowhere: {by_prefix:?}");
}

#[test]
fn four_writers_on_an_existing_vault_lose_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("vault.json");
    let options = CreateOptions {
        keystore: None,
        password: Some(PASSWORD),
        kdf: CHEAP_KDF,
    };
    drop(Vault::create(&path, options).unwrap());

    let outputs = run_writers(&path, 4);
    assert_no_lost_update(&path, &outputs);
}

#[test]
fn two_writers_racing_to_create_the_vault_share_one() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("new").join("vault.json");

    let outputs = run_writers(&path, 2);
    assert_no_lost_update(&path, &outputs);
}

#[test]
fn an_open_vault_sees_other_processes_writes_on_its_next_change() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("vault.json");
    let options = CreateOptions {
        keystore: None,
        password: Some(PASSWORD),
        kdf: CHEAP_KDF,
    };
    let (mut mine, _recovery) = Vault::create(&path, options).unwrap();

    // Another process writes while this handle is open and stale.
    let outputs = run_writers(&path, 1);
    assert_eq!(mine.accounts().len(), 0);

    // A change through the stale handle keeps the other process's accounts.
    let uri = "otpauth://totp/Tessera:mine-0?secret=JBSWY3DPEHPK3PXP&issuer=Tessera";
    mine.add(tessera_core::Account::from_uri(
        tessera_core::OtpauthUri::parse(uri).unwrap().uri,
        0,
    ))
    .unwrap();
    assert_eq!(mine.accounts().len(), PER_WRITER as usize + 1);
    let reopened = Vault::open(&path, Unlock::Password(PASSWORD)).unwrap();
    let labels: Vec<&str> = reopened
        .accounts()
        .iter()
        .map(|a| a.label.as_str())
        .collect();
    assert_eq!(labels.len(), PER_WRITER as usize + 1);
    assert_eq!(labels.last(), Some(&"mine-0"));
    assert!(outputs[0].1.status.success());
}
