//! Drives the exported API the way an app does, with the foreign
//! `SecureStorage` implemented in Rust.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use tessera_ffi::{Authenticator, AuthenticatorConfig, ClockState, SecureStorage, TesseraError};

/// An app's storage, kept in memory; `fail` makes every call throw.
#[derive(Default)]
struct MemoryStorage {
    items: Mutex<HashMap<String, String>>,
    fail: AtomicBool,
}

impl MemoryStorage {
    fn check(&self) -> Result<(), TesseraError> {
        if self.fail.load(Ordering::SeqCst) {
            return Err(TesseraError::Storage {
                reason: "the device is locked".into(),
            });
        }
        Ok(())
    }
}

impl SecureStorage for MemoryStorage {
    fn get(&self, key: String) -> Result<Option<String>, TesseraError> {
        self.check()?;
        Ok(self.items.lock().unwrap().get(&key).cloned())
    }

    fn set(&self, key: String, value: String) -> Result<(), TesseraError> {
        self.check()?;
        self.items.lock().unwrap().insert(key, value);
        Ok(())
    }

    fn delete(&self, key: String) -> Result<(), TesseraError> {
        self.check()?;
        self.items.lock().unwrap().remove(&key);
        Ok(())
    }
}

fn config(dir: &tempfile::TempDir) -> AuthenticatorConfig {
    AuthenticatorConfig {
        data_dir: dir.path().display().to_string(),
        use_platform_keystore: false,
        time_sources: Some(Vec::new()),
        time_correction: true,
    }
}

const RFC_SHA1: &str =
    "otpauth://totp/Example:alice?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&digits=8";
const RFC_HOTP: &str =
    "otpauth://hotp/Example:bob?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&counter=0";

#[test]
fn a_vault_lives_across_instances() {
    let dir = tempfile::tempdir().unwrap();
    let storage = Arc::new(MemoryStorage::default());

    let first = Authenticator::new(config(&dir), Some(storage.clone()), None).unwrap();
    assert!(!first.vault_exists());
    assert_eq!(first.accounts().unwrap_err(), TesseraError::Locked);
    let recovery = first.create_vault(None).unwrap();
    assert_eq!(recovery.len(), 39, "{recovery:?} is 8 groups of 4");
    let added = first.add_uri(RFC_SHA1.into()).unwrap();
    assert_eq!(added.account.issuer, "Example");
    assert!(added.warnings.is_empty());
    first.add_uri(RFC_HOTP.into()).unwrap();
    drop(first);

    let second = Authenticator::new(config(&dir), Some(storage), None).unwrap();
    assert!(second.vault_exists());
    assert!(!second.is_unlocked());
    second.unlock_with_keystore().unwrap();
    let accounts = second.accounts().unwrap();
    assert_eq!(accounts.len(), 2);

    // RFC 6238 Appendix B, SHA1 at T = 59 s; HOTP accounts are left out.
    let codes = second.codes(Some(59_000)).unwrap();
    assert_eq!(codes.len(), 1);
    assert_eq!(codes[0].code, "94287082");
    assert_eq!(codes[0].account_id, accounts[0].id);
    assert_eq!(codes[0].valid_from_ms, Some(30_000));
    assert_eq!(codes[0].valid_until_ms, Some(60_000));

    // RFC 4226 Appendix D, in order, the counter saved each time.
    let hotp = accounts[1].id.clone();
    assert_eq!(second.next_hotp_code(hotp.clone()).unwrap().code, "755224");
    assert_eq!(second.next_hotp_code(hotp.clone()).unwrap().code, "287082");
    second.lock();
    second
        .unlock_with_recovery_key(recovery.to_lowercase())
        .unwrap();
    assert_eq!(second.next_hotp_code(hotp).unwrap().code, "359152");
}

#[test]
fn account_operations() {
    let dir = tempfile::tempdir().unwrap();
    let app =
        Authenticator::new(config(&dir), Some(Arc::new(MemoryStorage::default())), None).unwrap();
    app.create_vault(Some("correct horse".into())).unwrap();
    let a = app.add_uri(RFC_SHA1.into()).unwrap().account.id;
    let b = app
        .add_uri("otpauth://totp/Other:carol?secret=JBSWY3DPEHPK3PXP".into())
        .unwrap();
    assert!(b.account.weak_secret);
    assert_eq!(b.warnings.len(), 1);
    let b = b.account.id;

    app.rename_account(a.clone(), Some("Renamed".into()), None)
        .unwrap();
    app.set_tags(a.clone(), vec!["work".into(), " work ".into()])
        .unwrap();
    app.move_account(b.clone(), 0).unwrap();
    let accounts = app.accounts().unwrap();
    assert_eq!(accounts[0].id, b);
    assert_eq!(accounts[1].issuer, "Renamed");
    assert_eq!(accounts[1].tags, vec!["work".to_string()]);

    // A batch is all or nothing: one bad URI adds none.
    let before = app.accounts().unwrap().len();
    assert!(matches!(
        app.add_uris(vec![
            "otpauth://totp/New:one?secret=JBSWY3DPEHPK3PXP".into(),
            "otpauth://totp/New:two?secret=JBSWY3DPEHPK3PX1".into(),
        ])
        .unwrap_err(),
        TesseraError::InvalidUri { .. }
    ));
    assert_eq!(app.accounts().unwrap().len(), before);
    let added = app
        .add_uris(vec![
            "otpauth://totp/New:one?secret=JBSWY3DPEHPK3PXP".into(),
            "otpauth://totp/New:two?secret=KRSXG5CTMVRXEZLU".into(),
        ])
        .unwrap();
    assert_eq!(added.len(), 2);
    for account in added {
        app.remove_account(account.account.id).unwrap();
    }

    app.remove_account(b.clone()).unwrap();
    assert_eq!(
        app.remove_account(b.clone()).unwrap_err(),
        TesseraError::AccountNotFound { id: b }
    );
    assert_eq!(
        app.add_uri(RFC_SHA1.replace("Example", "Renamed"))
            .unwrap_err(),
        TesseraError::DuplicateAccount {
            name: "Renamed (alice)".into()
        }
    );
    let info = app.vault_info().unwrap();
    assert_eq!(info.accounts, 1);
    let kinds: Vec<&str> = info.slots.iter().map(|s| s.kind.as_str()).collect();
    assert_eq!(kinds, ["keystore", "password", "recovery"]);
}

#[test]
fn errors_are_typed_and_never_carry_secrets() {
    let dir = tempfile::tempdir().unwrap();
    let app = Authenticator::new(config(&dir), None, None).unwrap();
    assert!(matches!(
        app.create_vault(None).unwrap_err(),
        TesseraError::InvalidInput { .. }
    ));
    app.create_vault(Some("pw".into())).unwrap();

    let error = app
        .add_uri("otpauth://totp/x?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&algorithm=MD5".into())
        .unwrap_err();
    match &error {
        TesseraError::InvalidUri { field, reason } => {
            assert_eq!(field, "algorithm");
            assert!(!reason.contains("GEZDGNBV"));
        }
        other => panic!("unexpected {other:?}"),
    }
    assert!(matches!(
        app.add_from_qr_pixels(4, 4, vec![255; 15]).unwrap_err(),
        TesseraError::InvalidImage { .. }
    ));
    assert!(matches!(
        app.add_from_qr_pixels(64, 64, vec![255; 64 * 64])
            .unwrap_err(),
        TesseraError::InvalidImage { .. }
    ));

    app.lock();
    assert_eq!(
        app.unlock_with_password("nope".into()).unwrap_err(),
        TesseraError::WrongPassword
    );
    assert!(matches!(
        app.unlock_with_keystore().unwrap_err(),
        TesseraError::KeystoreUnavailable { .. }
    ));
    assert_eq!(
        app.unlock_with_recovery_key("AAAA-AAAA".into())
            .unwrap_err(),
        TesseraError::WrongRecoveryKey
    );
    assert_eq!(app.codes(None).unwrap_err(), TesseraError::Locked);
    assert!(matches!(
        Authenticator::new(
            AuthenticatorConfig {
                time_sources: Some(vec!["http://example.com".into()]),
                ..config(&dir)
            },
            None,
            None
        )
        .err()
        .unwrap(),
        TesseraError::Time { .. }
    ));
}

#[test]
fn a_failing_storage_is_reported_not_hidden() {
    let dir = tempfile::tempdir().unwrap();
    let storage = Arc::new(MemoryStorage::default());
    let app = Authenticator::new(config(&dir), Some(storage.clone()), None).unwrap();
    storage.fail.store(true, Ordering::SeqCst);
    assert_eq!(
        app.create_vault(None).unwrap_err(),
        TesseraError::Storage {
            reason: "the device is locked".into()
        }
    );
    assert!(
        !app.vault_exists(),
        "nothing written when the key could not be stored"
    );

    storage.fail.store(false, Ordering::SeqCst);
    app.create_vault(Some("pw".into())).unwrap();
    app.lock();
    storage.items.lock().unwrap().clear();
    assert!(matches!(
        app.unlock_with_keystore().unwrap_err(),
        TesseraError::KeystoreUnavailable { .. }
    ));
    // The password still opens it and restores the keystore slot.
    app.unlock_with_password("pw".into()).unwrap();
    app.lock();
    app.unlock_with_keystore().unwrap();
}

#[test]
fn clock_status_without_sources_is_honest() {
    let dir = tempfile::tempdir().unwrap();
    let app = Authenticator::new(config(&dir), None, None).unwrap();
    let status = app.clock_status();
    assert_eq!(status.state, ClockState::Unknown);
    assert!(status.message.contains("no time sources"));
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    assert!(matches!(
        runtime.block_on(app.sync_clock()).unwrap_err(),
        TesseraError::Time { .. }
    ));
    let system = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64;
    assert!(app.trusted_now_ms().abs_diff(system) < 1000);
}

#[test]
fn many_threads_read_codes_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let app =
        Authenticator::new(config(&dir), Some(Arc::new(MemoryStorage::default())), None).unwrap();
    app.create_vault(None).unwrap();
    for i in 0..20 {
        app.add_uri(format!(
            "otpauth://totp/Site{i}:user?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"
        ))
        .unwrap();
    }
    let expected = app.codes(Some(1_111_111_109_000)).unwrap();
    let handles: Vec<_> = (0..16)
        .map(|_| {
            let app = app.clone();
            std::thread::spawn(move || app.codes(Some(1_111_111_109_000)).unwrap())
        })
        .collect();
    for handle in handles {
        assert_eq!(handle.join().unwrap(), expected);
    }
    assert_eq!(expected[0].code, "081804");
}

/// Grey pixels of `text` as a QR code: 4 pixels per module, a white border.
fn qr_pixels(text: &str) -> (u32, u32, Vec<u8>) {
    let code = qrcode::QrCode::new(text.as_bytes()).unwrap();
    let modules = code.width();
    let (scale, border) = (4, 4);
    let side = (modules + 2 * border) * scale;
    let colors = code.to_colors();
    let mut grey = vec![255u8; side * side];
    for y in 0..side {
        for x in 0..side {
            let (mx, my) = (
                (x / scale).wrapping_sub(border),
                (y / scale).wrapping_sub(border),
            );
            if mx < modules && my < modules && colors[my * modules + mx] == qrcode::Color::Dark {
                grey[y * side + x] = 0;
            }
        }
    }
    let side = u32::try_from(side).unwrap();
    (side, side, grey)
}

#[test]
fn accounts_are_added_from_the_grey_pixels_of_a_qr_code() {
    let dir = tempfile::tempdir().unwrap();
    let app = Authenticator::new(config(&dir), None, None).unwrap();
    app.create_vault(Some("pw".into())).unwrap();
    let uri = "otpauth://totp/Example:alice@example.com?secret=JBSWY3DPEHPK3PXP&issuer=Example";
    let (width, height, grey) = qr_pixels(uri);
    let added = app.add_from_qr_pixels(width, height, grey).unwrap();
    assert_eq!(added.len(), 1);
    assert_eq!(added[0].account.issuer, "Example");
    assert_eq!(added[0].account.label, "alice@example.com");
    // The same code again is a duplicate, and nothing else was added.
    let (width, height, grey) = qr_pixels(uri);
    assert!(matches!(
        app.add_from_qr_pixels(width, height, grey).unwrap_err(),
        TesseraError::DuplicateAccount { .. }
    ));
    assert_eq!(app.accounts().unwrap().len(), 1);
}
