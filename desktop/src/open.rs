//! Finding, creating and unlocking the vault the way a user expects:
//! the platform keystore first, then the password or recovery key.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};

use tessera_core::{
    CreateOptions, KdfParams, KeyStore, PlatformKeyStore, Unlock, Vault, VaultError,
};
use zeroize::Zeroizing;

use crate::cli::Global;
use crate::error::CliError;

/// The vault's path: `--vault`/`TESSERA_VAULT`, else the user data directory.
pub fn vault_path(global: &Global) -> Result<PathBuf, CliError> {
    if let Some(path) = &global.vault {
        return Ok(path.clone());
    }
    dirs::data_dir()
        .map(|dir| dir.join("tessera").join("vault.json"))
        .ok_or_else(|| CliError::failure("cannot find the user data directory; pass --vault PATH"))
}

/// The platform keystore, or why it cannot be used.
fn keystore(global: &Global) -> Result<PlatformKeyStore, String> {
    if global.no_keystore {
        return Err("--no-keystore was given".into());
    }
    PlatformKeyStore::connect().map_err(|e| e.to_string())
}

/// Reads a secret from an environment variable, else from the terminal
/// without echo. Fails with `missing` when neither is possible.
pub fn read_secret(env: &str, prompt: &str, missing: &str) -> Result<Zeroizing<String>, CliError> {
    if let Ok(value) = std::env::var(env) {
        return Ok(Zeroizing::new(value));
    }
    if !std::io::stdin().is_terminal() {
        return Err(CliError::locked(missing.to_string()));
    }
    rpassword::prompt_password(prompt)
        .map(Zeroizing::new)
        .map_err(|e| CliError::failure(format!("cannot read from the terminal: {e}")))
}

/// Asks for a new password twice (or takes it from `env`).
pub fn new_password(env: &str) -> Result<Zeroizing<String>, CliError> {
    let missing = format!("a new password is needed: run in a terminal or set {env}");
    let first = read_secret(env, "New vault password: ", &missing)?;
    if first.is_empty() {
        return Err(CliError::bad_input("the password is empty"));
    }
    if std::env::var(env).is_err() {
        let second = read_secret(env, "Repeat the password: ", &missing)?;
        if *first != *second {
            return Err(CliError::bad_input("the two passwords differ"));
        }
    }
    Ok(first)
}

/// Opens the vault: keystore first, then password (or the recovery key with
/// `--recovery-key`). After a password or recovery-key unlock, a reachable
/// keystore that lost its key gets a fresh keystore slot.
pub fn open(global: &Global) -> Result<Vault, CliError> {
    let path = vault_path(global)?;
    let keystore = keystore(global);
    let vault = unlock(global, &path, keystore.as_ref())?;
    let mut vault = vault;
    for warning in vault.warnings() {
        eprintln!("warning: {warning}");
    }
    if let (Ok(keystore), false) = (
        &keystore,
        vault.opened_with() == tessera_core::OpenedWith::KeyStore,
    ) {
        match vault.ensure_keystore_slot(keystore) {
            Ok(true) => eprintln!("The {} can open this vault again.", keystore.name()),
            Ok(false) => {}
            Err(e) => eprintln!("note: could not restore the keystore slot: {e}"),
        }
    }
    Ok(vault)
}

fn unlock(
    global: &Global,
    path: &Path,
    keystore: Result<&PlatformKeyStore, &String>,
) -> Result<Vault, CliError> {
    if !path.exists() && !previous_exists(path) {
        return Err(CliError::not_found(format!(
            "no vault at {}: add an account with `tessera add` (or try `tessera demo`)",
            path.display()
        )));
    }
    if global.recovery_key {
        let key = read_secret(
            "TESSERA_RECOVERY_KEY",
            "Recovery key: ",
            "the recovery key is needed: run in a terminal or set TESSERA_RECOVERY_KEY",
        )?;
        return Ok(Vault::open(path, Unlock::RecoveryKey(&key))?);
    }
    let keystore_failure = match keystore {
        Ok(keystore) => match Vault::open(path, Unlock::KeyStore(keystore)) {
            Ok(vault) => return Ok(vault),
            Err(VaultError::NoSuchSlot(_)) => None,
            Err(error @ (VaultError::KeystoreKeyMissing | VaultError::KeyStore(_))) => {
                Some(error.to_string())
            }
            Err(other) => return Err(other.into()),
        },
        Err(reason) => Some(format!("no keystore ({reason})")),
    };
    let password = read_secret(
        "TESSERA_PASSWORD",
        "Vault password: ",
        "the vault is locked: run in a terminal to type the password, or set TESSERA_PASSWORD",
    );
    let password = match (password, &keystore_failure) {
        (Ok(password), _) => password,
        (Err(error), Some(reason)) => {
            return Err(CliError::locked(format!("{reason}; {}", error.message)));
        }
        (Err(error), None) => return Err(error),
    };
    if let Some(reason) = &keystore_failure {
        eprintln!("note: {reason}; unlocking with the password");
    }
    match Vault::open(path, Unlock::Password(&password)) {
        Err(VaultError::NoSuchSlot(_)) => Err(CliError::locked(format!(
            "{}; this vault has no password: use --recovery-key",
            keystore_failure.unwrap_or_else(|| "the keystore cannot open this vault".into())
        ))),
        other => Ok(other?),
    }
}

fn previous_exists(path: &Path) -> bool {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(".prev");
    path.with_file_name(name).exists()
}

/// Opens the vault, creating it first if there is none. A new vault uses
/// the keystore when one is reachable (plus a password if TESSERA_PASSWORD is
/// set), else a password, and always prints its recovery key once.
pub fn open_or_create(global: &Global) -> Result<Vault, CliError> {
    let path = vault_path(global)?;
    if path.exists() || previous_exists(&path) {
        return open(global);
    }
    let keystore = keystore(global);
    let password = match &keystore {
        Ok(_) => std::env::var("TESSERA_PASSWORD").ok().map(Zeroizing::new),
        Err(reason) => {
            eprintln!("Keystore not used: {reason}.");
            eprintln!("The new vault will be protected by a password.");
            Some(new_password("TESSERA_PASSWORD")?)
        }
    };
    let options = CreateOptions {
        keystore: keystore.as_ref().ok().map(|k| k as &dyn KeyStore),
        password: password.as_deref().map(String::as_str),
        kdf: KdfParams::default(),
    };
    let (vault, recovery_key) = Vault::create(&path, options)?;
    eprintln!("Created a new vault at {}", path.display());
    if let Ok(keystore) = &keystore {
        eprintln!("It opens through the {}.", keystore.name());
    }
    print_recovery_key(recovery_key.expose());
    Ok(vault)
}

/// Prints a recovery key once, with what it is for.
pub fn print_recovery_key(key: &str) {
    eprintln!();
    eprintln!("  Recovery key: {key}");
    eprintln!();
    eprintln!("  Write it down and keep it offline. It opens the vault if the keystore");
    eprintln!("  and the password are lost (--recovery-key). It is shown only this once.");
    eprintln!();
}
