//! The real platform keystore (the Secret Service on Linux) through
//! `PlatformKeyStore`: item round trips, missing items, and a vault whose
//! keystore slot loses its key.
//!
//! These tests need a reachable, unlocked Secret Service; run them with
//! `bash scripts/with-secret-service.sh cargo test -p tessera-tests --test secret_service`.
//! Without one they print why and pass, unless `TESSERA_REQUIRE_SECRET_SERVICE=1`
//! (set by `scripts/test.sh`), which makes them fail instead.
//!
//! Every item they create is deleted again, so running them against a real
//! desktop keyring leaves nothing behind.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Mutex;

use rand::Rng;
use tessera_core::{
    CreateOptions, KeyStore, KeyStoreError, OpenedWith, OtpauthUri, PlatformKeyStore, Unlock,
    Vault, VaultError,
};
use tessera_tests::{CHEAP_KDF, platform_keystore};
use zeroize::Zeroizing;

const PASSWORD: &str = "secret-service-test-password";

/// An item name no other run or test uses.
fn unique_item(what: &str) -> String {
    let tag: u64 = rand::thread_rng().r#gen();
    format!("tessera-test-{what}-{}-{tag:016x}", std::process::id())
}

#[test]
fn items_round_trip() {
    let Some(keystore) = platform_keystore() else {
        return;
    };
    assert!(!keystore.name().is_empty());
    let item = unique_item("round-trip");

    keystore.set(&item, "FIRSTVALUE234567").unwrap();
    assert_eq!(
        keystore.get(&item).unwrap().as_deref().map(String::as_str),
        Some("FIRSTVALUE234567")
    );
    // Setting again replaces the value.
    keystore.set(&item, "SECONDVALUE76543").unwrap();
    assert_eq!(
        keystore.get(&item).unwrap().as_deref().map(String::as_str),
        Some("SECONDVALUE76543")
    );
    // A second connection (a new D-Bus session with the service) sees it too.
    let other = PlatformKeyStore::connect().unwrap();
    assert_eq!(
        other.get(&item).unwrap().as_deref().map(String::as_str),
        Some("SECONDVALUE76543")
    );

    keystore.delete(&item).unwrap();
    assert_eq!(keystore.get(&item).unwrap(), None);
    assert_eq!(other.get(&item).unwrap(), None);
}

#[test]
fn missing_items_read_as_none_and_delete_quietly() {
    let Some(keystore) = platform_keystore() else {
        return;
    };
    let item = unique_item("missing");
    assert_eq!(keystore.get(&item).unwrap(), None);
    keystore.delete(&item).unwrap();
    keystore.delete(&item).unwrap();
    assert_eq!(keystore.get(&item).unwrap(), None);
}

/// The real keystore, noting the items the vault creates in it so the test
/// can take them away (and clean up). Every call goes to the real store.
struct Noting<'a> {
    inner: &'a PlatformKeyStore,
    created: Mutex<Vec<String>>,
}

impl Noting<'_> {
    fn created(&self) -> Vec<String> {
        self.created.lock().unwrap().clone()
    }
}

impl KeyStore for Noting<'_> {
    fn name(&self) -> String {
        self.inner.name()
    }

    fn get(&self, item: &str) -> Result<Option<Zeroizing<String>>, KeyStoreError> {
        self.inner.get(item)
    }

    fn set(&self, item: &str, value: &str) -> Result<(), KeyStoreError> {
        self.created.lock().unwrap().push(item.to_string());
        self.inner.set(item, value)
    }

    fn delete(&self, item: &str) -> Result<(), KeyStoreError> {
        self.inner.delete(item)
    }
}

#[test]
fn vault_opens_through_the_keystore_and_survives_losing_its_key() {
    let Some(keystore) = platform_keystore() else {
        return;
    };
    let noting = Noting {
        inner: &keystore,
        created: Mutex::new(Vec::new()),
    };
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("vault.json");

    let (mut vault, _recovery) = Vault::create(
        &path,
        CreateOptions {
            keystore: Some(&noting),
            password: Some(PASSWORD),
            kdf: CHEAP_KDF,
        },
    )
    .unwrap();
    let uri = "otpauth://totp/Example:alice?secret=JBSWY3DPEHPK3PXP&issuer=Example";
    vault
        .add(tessera_core::Account::from_uri(
            OtpauthUri::parse(uri).unwrap().uri,
            0,
        ))
        .unwrap();
    drop(vault);
    let items = noting.created();
    assert_eq!(items.len(), 1, "one keystore item per keystore slot");
    let item = &items[0];
    let stored = keystore
        .get(item)
        .unwrap()
        .expect("the slot's key is stored");
    assert!(!stored.is_empty());
    // The keystore holds a key, never the accounts.
    assert!(!stored.contains("JBSWY3DPEHPK3PXP"));

    // Reopens through the keystore alone, with a fresh connection.
    let fresh = PlatformKeyStore::connect().unwrap();
    let vault = Vault::open(&path, Unlock::KeyStore(&fresh)).unwrap();
    assert_eq!(vault.opened_with(), OpenedWith::KeyStore);
    assert_eq!(vault.accounts().len(), 1);
    assert_eq!(vault.accounts()[0].label, "alice");
    drop(vault);

    // The keystore loses the key (reset, new device): the keystore way in
    // fails with a clear error, the password still opens the vault.
    keystore.delete(item).unwrap();
    assert_eq!(keystore.get(item).unwrap(), None);
    match Vault::open(&path, Unlock::KeyStore(&keystore)) {
        Err(VaultError::KeystoreKeyMissing) => {}
        other => panic!("expected KeystoreKeyMissing, got {other:?}"),
    }
    let mut vault = Vault::open(&path, Unlock::Password(PASSWORD)).unwrap();
    assert_eq!(vault.opened_with(), OpenedWith::Password);
    assert_eq!(vault.accounts().len(), 1);

    // A fresh keystore slot restores the keystore way in.
    assert!(vault.ensure_keystore_slot(&noting).unwrap());
    assert!(!vault.ensure_keystore_slot(&noting).unwrap());
    drop(vault);
    let vault = Vault::open(&path, Unlock::KeyStore(&keystore)).unwrap();
    assert_eq!(vault.opened_with(), OpenedWith::KeyStore);
    assert_eq!(vault.accounts().len(), 1);

    for item in noting.created() {
        keystore.delete(&item).unwrap();
    }
    for item in noting.created() {
        assert_eq!(keystore.get(&item).unwrap(), None);
    }
}
