//! Integration tests of the encrypted vault through the public API: the three
//! slots, account changes, HOTP counters, format versions, damaged files and
//! what must never be readable in the file or in `Debug` output.
//!
//! Argon2 runs with toy parameters so the tests stay fast; the slot logic is
//! the same at any cost.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::fs;
use std::path::{Path, PathBuf};

use tessera_core::{
    Account, Algorithm, CreateOptions, KdfParams, MemoryKeyStore, OpenWarning, OpenedWith, OtpKind,
    OtpParams, OtpPart, OtpauthUri, RecoveryKey, Secret, Timestamp, Unlock, Vault, VaultError,
};

const PASSWORD: &str = "correct horse battery staple";
/// RFC 4226 / RFC 6238's SHA-1 seed, "12345678901234567890".
const RFC_SECRET_BASE32: &str = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ";
const RFC_SECRET: &[u8] = b"12345678901234567890";
/// A second, distinctive secret: "tessera-secret-bytes!" in base32.
const OTHER_SECRET_BASE32: &str = "ORSXG43FOJQS243FMNZGK5BNMJ4XIZLTEE";

fn cheap_kdf() -> KdfParams {
    KdfParams {
        memory_kib: 64,
        iterations: 1,
        parallelism: 1,
    }
}

struct Fixture {
    _dir: tempfile::TempDir,
    path: PathBuf,
    keystore: MemoryKeyStore,
    recovery: RecoveryKey,
}

impl Fixture {
    fn dir(&self) -> &Path {
        self.path.parent().unwrap()
    }

    fn open_password(&self) -> Result<Vault, VaultError> {
        Vault::open(&self.path, Unlock::Password(PASSWORD))
    }
}

/// A vault with a keystore slot, a password slot and a recovery key.
fn new_vault() -> (Fixture, Vault) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("profile").join("vault.json");
    let keystore = MemoryKeyStore::new();
    let (vault, recovery) = Vault::create(
        &path,
        CreateOptions {
            keystore: Some(&keystore),
            password: Some(PASSWORD),
            kdf: cheap_kdf(),
        },
    )
    .unwrap();
    let fixture = Fixture {
        _dir: dir,
        path,
        keystore,
        recovery,
    };
    (fixture, vault)
}

fn account(uri: &str) -> Account {
    Account::from_uri(OtpauthUri::parse(uri).unwrap().uri, 1_700_000_000)
}

fn github() -> Account {
    account(&format!(
        "otpauth://totp/GitHub:alice@example.com?secret={OTHER_SECRET_BASE32}&issuer=GitHub"
    ))
}

fn rfc_totp(algorithm: Algorithm, secret: &[u8], label: &str) -> Account {
    Account {
        id: format!("rfc-{label}"),
        issuer: "RFC 6238".into(),
        label: label.into(),
        otp: Some(OtpPart {
            params: OtpParams {
                algorithm,
                digits: 8,
                ..OtpParams::totp()
            },
            secret: Secret::from_bytes(secret.to_vec()).unwrap(),
            extra_uri_params: Vec::new(),
        }),
        push: None,
        tags: Vec::new(),
        note: String::new(),
        icon: None,
        created_at: 0,
        updated_at: 0,
    }
}

fn rfc_hotp() -> Account {
    let mut account = account(&format!(
        "otpauth://hotp/RFC%204226:counter?secret={RFC_SECRET_BASE32}&counter=0"
    ));
    account.id = "rfc-hotp".into();
    account
}

fn labels(vault: &Vault) -> Vec<String> {
    vault.accounts().iter().map(|a| a.label.clone()).collect()
}

fn files_in(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    files
}

fn damaged_copies(dir: &Path) -> Vec<PathBuf> {
    files_in(dir)
        .into_iter()
        .filter(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .contains(".damaged-")
        })
        .collect()
}

fn previous(path: &Path) -> PathBuf {
    let mut name = path.file_name().unwrap().to_os_string();
    name.push(".prev");
    path.with_file_name(name)
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

fn set_json_field(path: &Path, field: &str, value: serde_json::Value) {
    let mut json: serde_json::Value = serde_json::from_slice(&fs::read(path).unwrap()).unwrap();
    json[field] = value;
    fs::write(path, serde_json::to_vec_pretty(&json).unwrap()).unwrap();
}

#[test]
fn opens_through_every_slot() {
    let (fx, mut vault) = new_vault();
    assert_eq!(vault.opened_with(), OpenedWith::Creation);
    assert!(vault.warnings().is_empty());
    assert_eq!(vault.path(), fx.path);
    vault.add(github()).unwrap();
    drop(vault);

    // The printed recovery key: 8 groups of 4 base32 characters.
    let printed = fx.recovery.expose().to_string();
    let groups: Vec<&str> = printed.split('-').collect();
    assert_eq!(groups.len(), 8, "{printed}");
    assert!(groups.iter().all(|g| {
        g.len() == 4
            && g.bytes()
                .all(|b| b.is_ascii_uppercase() || (b'2'..=b'7').contains(&b))
    }));

    let compact = printed.replace('-', "").to_lowercase();
    let spaced = groups.join(" ");
    for (unlock, expected) in [
        (Unlock::KeyStore(&fx.keystore), OpenedWith::KeyStore),
        (Unlock::Password(PASSWORD), OpenedWith::Password),
        (Unlock::RecoveryKey(&printed), OpenedWith::RecoveryKey),
        (Unlock::RecoveryKey(&compact), OpenedWith::RecoveryKey),
        (Unlock::RecoveryKey(&spaced), OpenedWith::RecoveryKey),
    ] {
        let vault = Vault::open(&fx.path, unlock).unwrap();
        assert_eq!(vault.opened_with(), expected);
        assert_eq!(labels(&vault), ["alice@example.com"]);
        assert_eq!(
            vault.accounts()[0].secret().unwrap(),
            &Secret::from_base32(OTHER_SECRET_BASE32).unwrap()
        );
    }

    let status = Vault::open(&fx.path, Unlock::Password(PASSWORD))
        .unwrap()
        .status();
    let kinds: Vec<&str> = status.slots.iter().map(|s| s.kind).collect();
    assert_eq!(kinds, ["keystore", "password", "recovery"]);
    assert_eq!(status.accounts, 1);
    assert_eq!(status.generation, 2);
    assert_eq!(status.format_version, 1);
    assert_eq!(
        tessera_core::vault::peek_slots(&fx.path).unwrap(),
        status.slots
    );
}

#[test]
fn wrong_credentials_are_refused() {
    let (fx, vault) = new_vault();
    drop(vault);
    assert_eq!(
        Vault::open(&fx.path, Unlock::Password("correct horse battery stapler")).unwrap_err(),
        VaultError::WrongPassword
    );
    assert_eq!(
        Vault::open(&fx.path, Unlock::Password("")).unwrap_err(),
        VaultError::WrongPassword
    );
    // A well-formed key that is not this vault's, and text that is no key at all.
    let other = "AAAA-AAAA-AAAA-AAAA-AAAA-AAAA-AAAA-AAAA";
    for text in [other, "not a key", ""] {
        assert_eq!(
            Vault::open(&fx.path, Unlock::RecoveryKey(text)).unwrap_err(),
            VaultError::WrongRecoveryKey,
            "{text}"
        );
    }
    assert!(matches!(
        Vault::open(&fx.dir().join("missing.json"), Unlock::Password(PASSWORD)),
        Err(VaultError::NotFound(_))
    ));

    // Creating over an existing vault, or without a keystore or password, is refused.
    let again = Vault::create(
        &fx.path,
        CreateOptions {
            keystore: None,
            password: Some(PASSWORD),
            kdf: cheap_kdf(),
        },
    );
    assert!(matches!(again, Err(VaultError::AlreadyExists(_))));
    let nothing = Vault::create(
        &fx.dir().join("other.json"),
        CreateOptions {
            keystore: None,
            password: None,
            kdf: cheap_kdf(),
        },
    );
    assert!(matches!(nothing, Err(VaultError::InvalidInput(_))));
    let empty_password = Vault::create(
        &fx.dir().join("other.json"),
        CreateOptions {
            keystore: None,
            password: Some(""),
            kdf: cheap_kdf(),
        },
    );
    assert!(matches!(empty_password, Err(VaultError::InvalidInput(_))));

    // A password-only vault has no keystore slot.
    let path = fx.dir().join("password-only.json");
    let (vault, _) = Vault::create(
        &path,
        CreateOptions {
            keystore: None,
            password: Some(PASSWORD),
            kdf: cheap_kdf(),
        },
    )
    .unwrap();
    drop(vault);
    assert_eq!(
        Vault::open(&path, Unlock::KeyStore(&fx.keystore)).unwrap_err(),
        VaultError::NoSuchSlot("keystore")
    );
}

#[test]
fn a_keystore_that_lost_the_key_is_repaired_after_a_password_unlock() {
    let (fx, mut vault) = new_vault();
    vault.add(github()).unwrap();
    drop(vault);

    // A reset keystore, or the vault copied to a new device.
    let fresh = MemoryKeyStore::new();
    assert_eq!(
        Vault::open(&fx.path, Unlock::KeyStore(&fresh)).unwrap_err(),
        VaultError::KeystoreKeyMissing
    );

    let mut vault = fx.open_password().unwrap();
    assert!(vault.ensure_keystore_slot(&fresh).unwrap());
    assert!(
        !vault.ensure_keystore_slot(&fresh).unwrap(),
        "already works"
    );
    drop(vault);

    let vault = Vault::open(&fx.path, Unlock::KeyStore(&fresh)).unwrap();
    assert_eq!(vault.opened_with(), OpenedWith::KeyStore);
    assert_eq!(labels(&vault), ["alice@example.com"]);
    let kinds: Vec<&str> = vault.status().slots.iter().map(|s| s.kind).collect();
    assert_eq!(kinds.iter().filter(|k| **k == "keystore").count(), 1);
    drop(vault);

    // The old keystore slot was replaced; password and recovery still work.
    assert_eq!(
        Vault::open(&fx.path, Unlock::KeyStore(&fx.keystore)).unwrap_err(),
        VaultError::KeystoreKeyMissing
    );
    fx.open_password().unwrap();
    Vault::open(&fx.path, Unlock::RecoveryKey(fx.recovery.expose())).unwrap();
}

#[test]
fn accounts_are_added_found_changed_moved_and_removed() {
    let (fx, mut vault) = new_vault();
    let a = github();
    let b = account(&format!(
        "otpauth://totp/GitLab:bob?secret={RFC_SECRET_BASE32}&issuer=GitLab&period=60"
    ));
    let c = rfc_hotp();
    let (a_id, b_id, c_id) = (a.id.clone(), b.id.clone(), c.id.clone());
    vault.add(a.clone()).unwrap();
    vault.add(b).unwrap();
    vault.add(c).unwrap();
    assert_eq!(labels(&vault), ["alice@example.com", "bob", "counter"]);
    assert_eq!(vault.get(&a_id).unwrap(), &a);

    // The same issuer, label and secret again (a fresh id) is a duplicate.
    let mut again = github();
    again.note = "scanned twice".into();
    assert!(matches!(
        vault.add(again),
        Err(VaultError::DuplicateAccount(name)) if name == "GitHub (alice@example.com)"
    ));
    // A different identity under an id already used (a backup restored
    // after a rename) comes in under a fresh id; the original is untouched.
    let mut clash = account(&format!(
        "otpauth://totp/Other:x?secret={RFC_SECRET_BASE32}"
    ));
    clash.id = a_id.clone();
    let ids = vault.add_all(vec![clash]).unwrap();
    assert_ne!(ids[0], a_id);
    assert_eq!(vault.get(&a_id).unwrap(), &a);
    assert_eq!(vault.get(&ids[0]).unwrap().issuer, "Other");
    vault.remove(&ids[0]).unwrap();
    // Invalid parameters never reach the file.
    let mut bad = account(&format!("otpauth://totp/Bad:x?secret={RFC_SECRET_BASE32}"));
    bad.otp.as_mut().unwrap().params.digits = 4;
    assert!(matches!(vault.add(bad), Err(VaultError::Otp(_))));
    assert_eq!(vault.accounts().len(), 3);

    // Find: by issuer, label, display name, id prefix, tag.
    let found = |vault: &Vault, q: &str| -> Vec<String> {
        vault.find(q).iter().map(|a| a.label.clone()).collect()
    };
    assert_eq!(found(&vault, "git"), ["alice@example.com", "bob"]);
    assert_eq!(found(&vault, "GITLAB"), ["bob"]);
    assert_eq!(
        found(&vault, "GitHub (alice@example.com)"),
        ["alice@example.com"]
    );
    assert_eq!(found(&vault, &b_id[..8]), ["bob"]);
    assert!(found(&vault, "nothing like it").is_empty());

    vault
        .rename(&a_id, Some("GitHub Enterprise".into()), None)
        .unwrap();
    vault.rename(&b_id, None, Some("robert".into())).unwrap();
    vault
        .set_tags(
            &a_id,
            vec![" work ".into(), "".into(), "work".into(), "code".into()],
        )
        .unwrap();
    assert_eq!(vault.get(&a_id).unwrap().tags, ["work", "code"]);
    assert_eq!(found(&vault, "work"), ["alice@example.com"]);

    vault.move_to(&c_id, 0).unwrap();
    assert_eq!(labels(&vault), ["counter", "alice@example.com", "robert"]);
    vault.move_to(&c_id, 2).unwrap();
    assert_eq!(labels(&vault), ["alice@example.com", "robert", "counter"]);
    assert!(matches!(
        vault.move_to(&c_id, 3),
        Err(VaultError::InvalidInput(_))
    ));

    let removed = vault.remove(&b_id).unwrap();
    assert_eq!(removed.label, "robert");
    for result in [
        vault.remove(&b_id).map(|_| ()),
        vault.rename(&b_id, None, Some("x".into())),
        vault.set_tags(&b_id, vec![]),
        vault.move_to(&b_id, 0),
    ] {
        assert_eq!(
            result.unwrap_err(),
            VaultError::AccountNotFound(b_id.clone())
        );
    }
    let generation = vault.status().generation;
    drop(vault);

    // Everything was written.
    let vault = Vault::open(&fx.path, Unlock::KeyStore(&fx.keystore)).unwrap();
    assert_eq!(labels(&vault), ["alice@example.com", "counter"]);
    let a = vault.get(&a_id).unwrap();
    assert_eq!(a.issuer, "GitHub Enterprise");
    assert_eq!(a.tags, ["work", "code"]);
    assert_eq!(vault.status().generation, generation);
    assert!(vault.get(&b_id).is_none());
}

#[test]
fn hotp_counters_advance_and_persist_through_the_rfc_4226_sequence() {
    const RFC_4226: [&str; 10] = [
        "755224", "287082", "359152", "969429", "338314", "254676", "287922", "162583", "399871",
        "520489",
    ];
    let (fx, mut vault) = new_vault();
    let hotp = rfc_hotp();
    let id = hotp.id.clone();
    vault.add(hotp).unwrap();
    vault.add(github()).unwrap();

    for (counter, expected) in RFC_4226.iter().enumerate().take(5) {
        let code = vault.next_hotp_code(&id).unwrap();
        assert_eq!(code.value, *expected, "counter {counter}");
        assert_eq!(code.counter, counter as u64);
        assert_eq!(code.validity, None);
    }
    let stored = |vault: &Vault| vault.get(&id).unwrap().otp.as_ref().unwrap().params.counter;
    assert_eq!(stored(&vault), 5);
    drop(vault);

    // A new process (another open) continues where the last one stopped.
    let mut vault = Vault::open(&fx.path, Unlock::KeyStore(&fx.keystore)).unwrap();
    assert_eq!(stored(&vault), 5);
    for (counter, expected) in RFC_4226.iter().enumerate().skip(5) {
        let code = vault.next_hotp_code(&id).unwrap();
        assert_eq!(code.value, *expected, "counter {counter}");
        assert_eq!(code.counter, counter as u64);
    }
    drop(vault);
    let vault = fx.open_password().unwrap();
    assert_eq!(stored(&vault), 10);

    // HOTP codes are never shown without advancing the counter.
    let now = Timestamp::from_unix_secs(1_700_000_000);
    assert!(matches!(
        vault.code_at(&id, now),
        Err(VaultError::InvalidInput(_))
    ));
    let codes = vault.codes_at(now);
    assert_eq!(codes.len(), 2);
    assert_eq!(codes[0].0.id, id);
    assert!(codes[0].1.is_none());
    assert!(codes[1].1.is_some());

    // Taking a HOTP code from a TOTP account, or from nobody, is refused.
    let mut vault = vault;
    let totp_id = vault.accounts()[1].id.clone();
    assert!(matches!(
        vault.next_hotp_code(&totp_id),
        Err(VaultError::InvalidInput(_))
    ));
    assert!(matches!(
        vault.next_hotp_code("no-such-id"),
        Err(VaultError::AccountNotFound(_))
    ));
}

#[test]
fn totp_codes_match_rfc_6238() {
    let (_fx, mut vault) = new_vault();
    vault
        .add(rfc_totp(Algorithm::Sha1, RFC_SECRET, "sha1"))
        .unwrap();
    vault
        .add(rfc_totp(
            Algorithm::Sha256,
            b"12345678901234567890123456789012",
            "sha256",
        ))
        .unwrap();
    vault
        .add(rfc_totp(
            Algorithm::Sha512,
            b"1234567890123456789012345678901234567890123456789012345678901234",
            "sha512",
        ))
        .unwrap();
    for (time, expected) in [
        (59, ["94287082", "46119246", "90693936"]),
        (1_111_111_109, ["07081804", "68084774", "25091201"]),
        (20_000_000_000, ["65353130", "77737706", "47863826"]),
    ] {
        let now = Timestamp::from_unix_secs(time);
        let codes = vault.codes_at(now);
        assert_eq!(codes.len(), 3);
        for ((account, code), expected) in codes.iter().zip(expected) {
            let code = code.as_ref().unwrap();
            assert_eq!(code.value, expected, "{} at {time}", account.label);
            let window = code.validity.unwrap();
            assert_eq!(window.from, Timestamp::from_unix_secs(time / 30 * 30));
            assert_eq!(window.until, Timestamp::from_unix_secs(time / 30 * 30 + 30));
            assert_eq!(vault.code_at(&account.id, now).unwrap(), *code);
        }
    }
    assert!(matches!(
        vault.code_at("no-such-id", Timestamp::from_unix_secs(59)),
        Err(VaultError::AccountNotFound(_))
    ));
}

#[test]
fn an_unknown_format_version_is_refused() {
    // A vault with a single generation.
    let (fx, vault) = new_vault();
    drop(vault);
    set_json_field(&fx.path, "version", serde_json::json!(2));
    let before = fs::read(&fx.path).unwrap();
    let error = fx.open_password().unwrap_err();
    assert_eq!(error, VaultError::UnsupportedVersion { found: 2 });
    assert!(error.to_string().contains("update Tessera"), "{error}");
    assert_eq!(
        fs::read(&fx.path).unwrap(),
        before,
        "the file is left alone"
    );

    // With a previous generation, a newer version's file is read through
    // that generation (with a warning) but never replaced: writing would
    // undo the newer app's changes.
    let (fx, mut vault) = new_vault();
    vault.add(github()).unwrap();
    drop(vault);
    assert!(previous(&fx.path).exists());
    set_json_field(&fx.path, "version", serde_json::json!(2));
    let newer = fs::read(&fx.path).unwrap();
    let mut fallen_back = fx.open_password().unwrap();
    assert!(matches!(
        fallen_back.warnings(),
        [OpenWarning::UsedPreviousGeneration { reason }] if reason.contains("version 2")
    ));
    assert_eq!(
        fallen_back.add(github()).unwrap_err(),
        VaultError::UnsupportedVersion { found: 2 }
    );
    assert_eq!(
        fs::read(&fx.path).unwrap(),
        newer,
        "the newer file is left alone"
    );
    assert!(Vault::open(&fx.path, Unlock::KeyStore(&fx.keystore)).is_ok());
}

/// Builds a vault whose current file holds accounts A and B and whose
/// previous generation holds only A.
fn two_generations() -> (Fixture, Vec<u8>) {
    let (fx, mut vault) = new_vault();
    vault.add(github()).unwrap();
    vault.add(rfc_hotp()).unwrap();
    drop(vault);
    let current = fs::read(&fx.path).unwrap();
    (fx, current)
}

fn assert_fell_back(fx: &Fixture, damaged: &[u8], how: &str) {
    let mut vault = fx.open_password().unwrap_or_else(|e| panic!("{how}: {e}"));
    assert_eq!(labels(&vault), ["alice@example.com"], "{how}");
    assert!(
        matches!(
            vault.warnings(),
            [OpenWarning::UsedPreviousGeneration { .. }]
        ),
        "{how}: {:?}",
        vault.warnings()
    );
    assert!(
        vault.warnings()[0]
            .to_string()
            .contains("previous generation")
    );
    // The keystore slot opens the previous generation too.
    let by_keystore = Vault::open(&fx.path, Unlock::KeyStore(&fx.keystore)).unwrap();
    assert_eq!(by_keystore.warnings().len(), 1, "{how}");
    drop(by_keystore);

    // The next write replaces the damaged file and keeps it aside.
    assert!(damaged_copies(fx.dir()).is_empty());
    vault
        .add(rfc_totp(Algorithm::Sha1, RFC_SECRET, "new"))
        .unwrap();
    assert!(vault.warnings().is_empty());
    let kept = damaged_copies(fx.dir());
    assert_eq!(kept.len(), 1, "{how}: {:?}", files_in(fx.dir()));
    assert_eq!(fs::read(&kept[0]).unwrap(), damaged, "{how}");
    drop(vault);

    let vault = fx.open_password().unwrap();
    assert!(vault.warnings().is_empty(), "{how}");
    assert_eq!(labels(&vault), ["alice@example.com", "new"], "{how}");
}

#[test]
fn a_truncated_current_file_falls_back_to_the_previous_generation() {
    for keep in [0.0, 0.1, 0.5, 0.99] {
        let (fx, current) = two_generations();
        let damaged = current[..(current.len() as f64 * keep) as usize].to_vec();
        fs::write(&fx.path, &damaged).unwrap();
        assert_fell_back(&fx, &damaged, &format!("truncated to {keep}"));
    }
}

#[test]
fn a_missing_current_file_falls_back_to_the_previous_generation() {
    let (fx, _) = two_generations();
    fs::remove_file(&fx.path).unwrap();
    let vault = fx.open_password().unwrap();
    assert_eq!(labels(&vault), ["alice@example.com"]);
    assert_eq!(vault.warnings().len(), 1);
}

#[test]
fn a_bit_flipped_current_file_falls_back_to_the_previous_generation() {
    let (_, current) = two_generations();
    let json: serde_json::Value = serde_json::from_slice(&current).unwrap();
    let text = String::from_utf8(current.clone()).unwrap();
    // Positions inside each part of the file: the JSON structure, the
    // format name, the header, the nonce and the ciphertext. (A flip inside
    // the password slot's own fields reads as a wrong password: the slot
    // cannot tell damage from a wrong key, so that case is not covered.)
    let inside = |field: &str, fraction: f64| {
        let value = json[field].as_str().unwrap();
        let start = text.find(value).unwrap();
        start + (value.len() as f64 * fraction) as usize
    };
    let positions = [
        ("opening brace", 0),
        ("format name", inside("format", 0.5)),
        ("header start", inside("header", 0.0)),
        ("nonce", inside("nonce", 0.5)),
        ("ciphertext start", inside("ciphertext", 0.0)),
        ("ciphertext middle", inside("ciphertext", 0.5)),
        ("ciphertext end", inside("ciphertext", 0.99)),
    ];
    for (what, position) in positions {
        for bit in [0, 2] {
            let (fx, current) = two_generations();
            let mut damaged = current.clone();
            damaged[position] ^= 1 << bit;
            fs::write(&fx.path, &damaged).unwrap();
            assert_fell_back(&fx, &damaged, &format!("bit {bit} flipped in the {what}"));
        }
    }
}

#[test]
fn an_open_vault_reloads_and_writes_past_a_damaged_current_file() {
    let (fx, current) = two_generations();
    let mut vault = Vault::open(&fx.path, Unlock::KeyStore(&fx.keystore)).unwrap();
    assert_eq!(labels(&vault), ["alice@example.com", "counter"]);

    // Another process's write was damaged in the payload.
    let json: serde_json::Value = serde_json::from_slice(&current).unwrap();
    let ciphertext = json["ciphertext"].as_str().unwrap();
    let at = String::from_utf8(current.clone())
        .unwrap()
        .find(ciphertext)
        .unwrap()
        + 10;
    let mut damaged = current.clone();
    damaged[at] ^= 0x01;
    fs::write(&fx.path, &damaged).unwrap();

    vault.reload().unwrap();
    assert_eq!(labels(&vault), ["alice@example.com"]);
    vault
        .rename(&vault.accounts()[0].id.clone(), None, Some("alice".into()))
        .unwrap();
    assert_eq!(damaged_copies(fx.dir()).len(), 1);
    drop(vault);
    let vault = fx.open_password().unwrap();
    assert!(vault.warnings().is_empty());
    assert_eq!(labels(&vault), ["alice"]);
}

#[test]
fn both_generations_damaged_is_an_error() {
    let (fx, current) = two_generations();
    fs::write(&fx.path, &current[..current.len() / 2]).unwrap();
    let prev = fs::read(previous(&fx.path)).unwrap();
    fs::write(previous(&fx.path), &prev[..prev.len() / 3]).unwrap();
    let error = fx.open_password().unwrap_err();
    assert!(matches!(error, VaultError::Corrupt(_)), "{error:?}");
    assert!(error.to_string().contains("damaged"), "{error}");
    // Nothing was moved or rewritten.
    assert!(damaged_copies(fx.dir()).is_empty());
    assert_eq!(fs::read(&fx.path).unwrap(), &current[..current.len() / 2]);

    let (fx, _) = two_generations();
    fs::write(&fx.path, b"not json").unwrap();
    fs::write(previous(&fx.path), b"{}").unwrap();
    assert!(matches!(
        fx.open_password().unwrap_err(),
        VaultError::Corrupt(_)
    ));
}

#[test]
fn the_files_never_hold_a_secret_in_plain_text() {
    let (fx, mut vault) = new_vault();
    vault.add(github()).unwrap();
    vault
        .add(rfc_totp(Algorithm::Sha1, RFC_SECRET, "rfc"))
        .unwrap();
    vault.add(rfc_hotp()).unwrap();
    vault.next_hotp_code(&rfc_hotp().id).unwrap();
    drop(vault);

    let other_raw = Secret::from_base32(OTHER_SECRET_BASE32).unwrap();
    let recovery_compact = fx.recovery.expose().replace('-', "");
    let needles: Vec<(&str, Vec<u8>)> = vec![
        (
            "RFC secret in base32",
            RFC_SECRET_BASE32.as_bytes().to_vec(),
        ),
        (
            "RFC secret in lowercase base32",
            RFC_SECRET_BASE32.to_lowercase().into_bytes(),
        ),
        ("RFC secret raw", RFC_SECRET.to_vec()),
        (
            "other secret in base32",
            OTHER_SECRET_BASE32.as_bytes().to_vec(),
        ),
        ("other secret raw", other_raw.expose().to_vec()),
        ("password", PASSWORD.as_bytes().to_vec()),
        ("recovery key", fx.recovery.expose().as_bytes().to_vec()),
        ("recovery key, compact", recovery_compact.into_bytes()),
        ("an account label", b"alice@example.com".to_vec()),
    ];
    let files = files_in(fx.dir());
    assert!(files.iter().any(|p| p == &fx.path));
    assert!(files.iter().any(|p| p == &previous(&fx.path)));
    for file in files {
        let bytes = fs::read(&file).unwrap();
        for (what, needle) in &needles {
            assert!(
                !contains(&bytes, needle),
                "{} contains the {what}",
                file.display()
            );
        }
    }
}

#[test]
fn debug_output_never_shows_secrets() {
    let (fx, mut vault) = new_vault();
    vault.add(github()).unwrap();
    vault
        .add(rfc_totp(Algorithm::Sha1, RFC_SECRET, "rfc"))
        .unwrap();
    let wrong = Vault::open(&fx.path, Unlock::Password("wrong")).unwrap_err();

    let shown = format!(
        "{vault:?} {vault:#?} {:?} {:#?} {:?} {:?} {wrong:?} {wrong} {:?}",
        vault.accounts(),
        vault.accounts(),
        fx.recovery,
        fx.keystore,
        vault.status(),
    );
    let other_raw = Secret::from_base32(OTHER_SECRET_BASE32).unwrap();
    for (what, needle) in [
        ("RFC secret in base32", RFC_SECRET_BASE32.to_string()),
        (
            "RFC secret raw",
            String::from_utf8(RFC_SECRET.to_vec()).unwrap(),
        ),
        ("other secret in base32", OTHER_SECRET_BASE32.to_string()),
        (
            "other secret raw",
            String::from_utf8_lossy(other_raw.expose()).into_owned(),
        ),
        ("recovery key", fx.recovery.expose().to_string()),
        ("recovery key group", fx.recovery.expose()[..9].to_string()),
        ("password", PASSWORD.to_string()),
    ] {
        assert!(!shown.contains(&needle), "Debug output shows the {what}");
    }
    assert!(shown.contains("redacted"));
    assert!(shown.contains("alice@example.com"), "labels are not secret");
    // Sanity: the accounts do hold the secrets that were searched for.
    assert_eq!(vault.accounts()[1].secret().unwrap().expose(), RFC_SECRET);
    assert_eq!(
        vault.accounts()[0].otp.as_ref().unwrap().params.kind,
        OtpKind::Totp
    );
}

#[test]
fn slots_in_the_file_are_described_without_key_material() {
    let (fx, vault) = new_vault();
    drop(vault);
    let file: serde_json::Value = serde_json::from_slice(&fs::read(&fx.path).unwrap()).unwrap();
    assert_eq!(file["format"], "tessera-vault");
    assert_eq!(file["version"], 1);
    // The header is readable (base64 JSON) and names its slots.
    let slots = tessera_core::vault::peek_slots(&fx.path).unwrap();
    assert_eq!(slots.len(), 3);
    assert!(slots[1].detail.contains("Argon2id"));
}
