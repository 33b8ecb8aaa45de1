//! Test helper for the crash and concurrency tests: adds accounts to a vault,
//! one transaction each, and reports every commit.
//!
//! ```text
//! vault_writer <vault-path> <password> <count> [prefix]
//! ```
//!
//! Opens the vault with the password, or creates it (a password slot with a
//! deliberately cheap Argon2id cost, for tests only) when there is none. Then
//! adds `count` TOTP accounts labelled `<prefix>-N` (prefix `acct` by
//! default), continuing after the highest `N` already in the vault, and prints
//! `committed N` (flushed) after each `Vault::add` returns. Errors are printed
//! to stderr and exit with status 1.

use std::io::Write;
use std::path::Path;
use std::process::ExitCode;
use std::time::{SystemTime, UNIX_EPOCH};

use tessera_core::{Account, CreateOptions, OtpauthUri, Unlock, Vault, VaultError};
use tessera_tests::CHEAP_KDF;

/// Every account shares this secret; the label makes each one distinct.
const SECRET: &str = "JBSWY3DPEHPK3PXP";

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("vault_writer: {error}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (path, password, count, prefix) = match args.as_slice() {
        [path, password, count] => (path, password, count, "acct"),
        [path, password, count, prefix] => (path, password, count, prefix.as_str()),
        _ => return Err("usage: vault_writer <vault-path> <password> <count> [prefix]".into()),
    };
    let count: u64 = count
        .parse()
        .map_err(|e| format!("count {count:?} is not a number: {e}"))?;
    let path = Path::new(path);
    let mut vault = open_or_create(path, password)?;

    let start = next_index(&vault, prefix);
    let now = SystemTime::now().duration_since(UNIX_EPOCH)?.as_secs();
    let mut stdout = std::io::stdout().lock();
    for n in start..start.saturating_add(count) {
        let uri = format!("otpauth://totp/Tessera:{prefix}-{n}?secret={SECRET}&issuer=Tessera");
        let account = Account::from_uri(OtpauthUri::parse(&uri)?.uri, now);
        vault.add(account)?;
        writeln!(stdout, "committed {n}")?;
        stdout.flush()?;
    }
    Ok(())
}

/// Opens the vault, creating it when missing. Two writers may race to create
/// it: the loser sees `AlreadyExists` and opens the winner's vault.
fn open_or_create(path: &Path, password: &str) -> Result<Vault, VaultError> {
    match Vault::open(path, Unlock::Password(password)) {
        Err(VaultError::NotFound(_)) => {}
        other => return other,
    }
    let options = CreateOptions {
        keystore: None,
        password: Some(password),
        kdf: CHEAP_KDF,
    };
    match Vault::create(path, options) {
        // The recovery key is not needed by the tests.
        Ok((vault, _recovery_key)) => Ok(vault),
        Err(VaultError::AlreadyExists(_)) => Vault::open(path, Unlock::Password(password)),
        Err(error) => Err(error),
    }
}

/// One past the highest `N` among accounts labelled `<prefix>-N`, or 0.
fn next_index(vault: &Vault, prefix: &str) -> u64 {
    vault
        .accounts()
        .iter()
        .filter_map(|a| a.label.strip_prefix(prefix)?.strip_prefix('-'))
        .filter_map(|n| n.parse::<u64>().ok())
        .max()
        .map_or(0, |n| n + 1)
}
