//! Crash safety of vault writes with real processes and real files: a
//! `vault_writer` process adding accounts is SIGKILLed at a random instant,
//! again and again on the same vault. After every kill the vault must open
//! from its current file and hold exactly the committed accounts (plus, at
//! most, the one in flight), and the leftovers of the killed write must not
//! stop the next writer.
//!
//! `TESSERA_CRASH_RUNS` sets the number of kills (default 200).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeSet;
use std::io::Read;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::thread::sleep;
use std::time::{Duration, Instant};

use rand::Rng;
use tessera_core::{CreateOptions, OtpauthUri, Unlock, Vault};
use tessera_tests::CHEAP_KDF;

const PASSWORD: &str = "crash-test-password";

fn runs() -> usize {
    std::env::var("TESSERA_CRASH_RUNS")
        .ok()
        .map(|v| v.parse().expect("TESSERA_CRASH_RUNS must be a number"))
        .unwrap_or(200)
}

fn spawn_writer(vault: &Path) -> Child {
    Command::new(env!("CARGO_BIN_EXE_vault_writer"))
        .arg(vault)
        .arg(PASSWORD)
        .arg("1000000")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn vault_writer")
}

/// The `N` of the last `committed N` line, if any.
fn last_committed(stdout: &str) -> Option<u64> {
    stdout
        .lines()
        .filter_map(|line| line.strip_prefix("committed "))
        .map(|n| n.trim().parse::<u64>().expect("a number after `committed`"))
        .next_back()
}

/// Account labels `acct-N`, as numbers; panics on anything else.
fn indices(vault: &Vault) -> Vec<u64> {
    vault
        .accounts()
        .iter()
        .map(|a| {
            a.label
                .strip_prefix("acct-")
                .and_then(|n| n.parse().ok())
                .unwrap_or_else(|| panic!("unexpected account label {:?}", a.label))
        })
        .collect()
}

#[test]
fn killed_writers_never_damage_the_vault() {
    let runs = runs();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("vault.json");
    let options = CreateOptions {
        keystore: None,
        password: Some(PASSWORD),
        kdf: CHEAP_KDF,
    };
    drop(Vault::create(&path, options).unwrap());

    let started = Instant::now();
    let mut rng = rand::thread_rng();
    // How many accounts the vault holds before each run (acct-0..acct-{k-1}).
    let mut held: u64 = 0;
    let mut runs_with_commits = 0;
    let mut in_flight_landed = 0;
    for run in 0..runs {
        let mut child = spawn_writer(&path);
        sleep(Duration::from_millis(rng.gen_range(0..=40)));
        let exited_early = child.try_wait().unwrap();
        // SIGKILL on Unix; harmless if the writer already exited.
        let _ = child.kill();
        let status = child.wait().unwrap();
        let mut stdout = String::new();
        child
            .stdout
            .take()
            .unwrap()
            .read_to_string(&mut stdout)
            .unwrap();
        let mut stderr = String::new();
        child
            .stderr
            .take()
            .unwrap()
            .read_to_string(&mut stderr)
            .unwrap();
        assert!(
            exited_early.is_none(),
            "run {run}: the writer stopped by itself ({status}) before the kill: {stderr}"
        );

        let committed = last_committed(&stdout);
        if let Some(n) = committed {
            assert!(
                n >= held,
                "run {run}: committed {n} but the vault already held {held} accounts"
            );
            runs_with_commits += 1;
        }
        // The number of accounts the writer reported as durable.
        let durable = committed.map_or(held, |n| n + 1);

        let vault = Vault::open(&path, Unlock::Password(PASSWORD))
            .unwrap_or_else(|e| panic!("run {run}: the vault does not open after a kill: {e}"));
        assert!(
            vault.warnings().is_empty(),
            "run {run}: the vault opened with warnings {:?}",
            vault.warnings()
        );
        let found = indices(&vault);
        let unique: BTreeSet<u64> = found.iter().copied().collect();
        assert_eq!(
            unique.len(),
            found.len(),
            "run {run}: duplicate accounts: {found:?}"
        );
        let total = found.len() as u64;
        assert_eq!(
            found,
            (0..total).collect::<Vec<_>>(),
            "run {run}: accounts are not acct-0..acct-{} in order",
            total.saturating_sub(1)
        );
        assert!(
            total == durable || total == durable + 1,
            "run {run}: the vault holds {total} accounts; the writer had committed {durable} \
             (so {durable} or {} were expected)",
            durable + 1
        );
        if total == durable + 1 {
            in_flight_landed += 1;
        }
        held = total;
    }

    // The leftovers of the last killed write do not stop an ordinary change.
    let mut vault = Vault::open(&path, Unlock::Password(PASSWORD)).unwrap();
    let uri = format!("otpauth://totp/Tessera:acct-{held}?secret=JBSWY3DPEHPK3PXP&issuer=Tessera");
    vault
        .add(tessera_core::Account::from_uri(
            OtpauthUri::parse(&uri).unwrap().uri,
            0,
        ))
        .unwrap();
    let reopened = Vault::open(&path, Unlock::Password(PASSWORD)).unwrap();
    assert_eq!(indices(&reopened), (0..=held).collect::<Vec<_>>());

    // Only the vault's own files are left: no damaged copies, no stray names.
    for entry in std::fs::read_dir(dir.path()).unwrap() {
        let name = entry.unwrap().file_name().to_string_lossy().into_owned();
        assert!(
            matches!(
                name.as_str(),
                "vault.json"
                    | "vault.json.prev"
                    | "vault.json.lock"
                    | "vault.json.tmp"
                    | "vault.json.prev.tmp"
            ),
            "unexpected file {name:?} beside the vault"
        );
    }

    eprintln!(
        "{runs} kills in {:.1?}: {held} accounts, {runs_with_commits} runs committed something, \
         the in-flight account landed {in_flight_landed} times",
        started.elapsed()
    );
    // The test must actually have killed writers mid-work, not only at start.
    assert!(
        runs < 20 || runs_with_commits > 0,
        "no run got far enough to commit: the kill window is too short"
    );
}
