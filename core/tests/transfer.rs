//! Import and export through every transfer format: round trips, wrong
//! passwords, tampering, truncation, size limits, versions, duplicates,
//! rejected entries, Google batches and export warnings.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use tessera_core::otp::{Algorithm, OtpKind, OtpParams};
use tessera_core::transfer::aegis::Aegis;
use tessera_core::transfer::google_migration::{self, GoogleMigration};
use tessera_core::transfer::otpauth_list::OtpauthList;
use tessera_core::transfer::tessera_backup::TesseraBackup;
use tessera_core::transfer::twofas::TwoFas;
use tessera_core::transfer::{
    Export, Format, Import, ImportBatch, MAX_INPUT_BYTES, TransferError, detect, import_any,
    preview,
};
use tessera_core::{Account, KdfParams, OtpauthUri, Secret};

fn account(issuer: &str, label: &str, params: OtpParams) -> Account {
    let mut account = Account::from_uri(
        OtpauthUri {
            params,
            secret: Secret::from_base32("GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ").unwrap(),
            issuer: issuer.into(),
            label: label.into(),
            extra: Vec::new(),
        },
        1_700_000_000,
    );
    account.otp.as_mut().unwrap().secret =
        Secret::from_bytes(format!("{issuer}/{label}/secret-bytes").into_bytes()).unwrap();
    account
}

fn sample() -> Vec<Account> {
    let mut sha256 = OtpParams::totp();
    sha256.algorithm = Algorithm::Sha256;
    sha256.digits = 8;
    let mut tagged = account("GitHub", "alice@example.com", OtpParams::totp());
    tagged.tags = vec!["work".into()];
    tagged.note = "recovery codes in the safe".into();
    vec![
        tagged,
        account("Bank", "alice", sha256),
        account("", "no-issuer", OtpParams::hotp(42)),
    ]
}

fn cheap_backup() -> TesseraBackup {
    TesseraBackup {
        kdf: KdfParams {
            memory_kib: 64,
            iterations: 1,
            parallelism: 1,
        },
    }
}

/// Issuer, label, params and secret: what must survive every format.
fn essence(accounts: &[Account]) -> Vec<(String, String, OtpParams, Vec<u8>)> {
    accounts
        .iter()
        .map(|a| {
            let otp = a.otp.as_ref().unwrap();
            (
                a.issuer.clone(),
                a.label.clone(),
                otp.params,
                otp.secret.expose().to_vec(),
            )
        })
        .collect()
}

// ---- otpauth list ----

#[test]
fn otpauth_list_round_trip() {
    let accounts = sample();
    let exported = OtpauthList.export(&accounts, None, false).unwrap();
    assert!(exported.warnings.is_empty());
    assert_eq!(detect(&exported.bytes), Some(Format::OtpauthList));
    let batch = OtpauthList.import(&exported.bytes, None).unwrap();
    assert!(batch.rejected.is_empty());
    assert_eq!(essence(&batch.accounts), essence(&accounts));
}

#[test]
fn otpauth_list_rejects_bad_lines_individually() {
    let text = "# my accounts\n\
        otpauth://totp/A:a?secret=JBSWY3DPEHPK3PXP&issuer=A\n\
        \n\
        otpauth://totp/B:b?secret=JBSWY3DPEHPK3PXP&algorithm=MD5\n\
        not a uri\n\
        otpauth://hotp/C:c?secret=JBSWY3DPEHPK3PXP&counter=3\n";
    let batch = OtpauthList.import(text.as_bytes(), None).unwrap();
    assert_eq!(batch.accounts.len(), 2);
    let lines: Vec<usize> = batch.rejected.iter().map(|r| r.index).collect();
    assert_eq!(lines, vec![3, 4]);
    assert!(batch.rejected[0].reason.contains("line 4"));
    assert!(!batch.rejected[0].reason.contains("JBSWY3DP"));
}

#[test]
fn oversized_input_is_refused_everywhere() {
    let big = vec![b' '; MAX_INPUT_BYTES + 1];
    for format in [
        Format::OtpauthList,
        Format::TesseraBackup,
        Format::GoogleMigration,
        Format::Aegis,
        Format::TwoFas,
    ] {
        assert_eq!(
            format.importer().import(&big, Some("pw")).unwrap_err(),
            TransferError::TooLarge { size: big.len() },
            "{format}"
        );
    }
    assert!(matches!(
        import_any(&big, None),
        Err(TransferError::TooLarge { .. })
    ));
}

#[test]
fn preview_splits_new_and_duplicates() {
    let vault = sample();
    let mut batch = ImportBatch::default();
    let mut copy = vault[1].clone();
    copy.id = "another-id".into();
    let fresh = account("New", "bob", OtpParams::totp());
    batch.accounts = vec![copy.clone(), fresh.clone(), fresh.clone()];
    let preview = preview(&vault, &batch);
    assert_eq!(preview.new, vec![&batch.accounts[1]]);
    assert_eq!(
        preview.duplicates,
        vec![&batch.accounts[0], &batch.accounts[2]]
    );
}

#[test]
fn push_only_accounts_need_force_outside_backups() {
    let mut accounts = sample();
    let mut push_only = account("Push", "p", OtpParams::totp());
    push_only.otp = None;
    accounts.push(push_only.clone());
    match OtpauthList.export(&accounts, None, false) {
        Err(TransferError::WouldLoseInformation(warnings)) => {
            assert_eq!(warnings.len(), 1);
            assert_eq!(warnings[0].account_id, push_only.id);
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
    let forced = OtpauthList.export(&accounts, None, true).unwrap();
    assert_eq!(forced.warnings.len(), 1);
    assert_eq!(
        OtpauthList
            .import(&forced.bytes, None)
            .unwrap()
            .accounts
            .len(),
        3
    );
    // The backup never carries push pairings: push-only accounts are left
    // out (listed, not refused) and paired again on the new device.
    let backup = cheap_backup().export(&accounts, Some("pw"), false).unwrap();
    assert_eq!(backup.warnings.len(), 1);
    assert_eq!(backup.warnings[0].account_id, push_only.id);
    let back = cheap_backup().import(&backup.bytes, Some("pw")).unwrap();
    assert_eq!(back.accounts, accounts[..3]);
}

// ---- Tessera backup ----

#[test]
fn tessera_backup_round_trip_keeps_everything() {
    let accounts = sample();
    let exported = cheap_backup()
        .export(&accounts, Some("hunter2"), false)
        .unwrap();
    assert!(exported.warnings.is_empty());
    assert_eq!(detect(&exported.bytes), Some(Format::TesseraBackup));
    let text = std::str::from_utf8(&exported.bytes).unwrap();
    assert!(!text.contains("alice"), "the payload is encrypted");
    let batch = import_any(&exported.bytes, Some("hunter2")).unwrap();
    assert_eq!(batch.accounts, accounts);
    assert!(batch.rejected.is_empty());
}

#[test]
fn tessera_backup_wrong_password_and_missing_password() {
    let exported = cheap_backup()
        .export(&sample(), Some("right"), false)
        .unwrap();
    assert_eq!(
        cheap_backup()
            .import(&exported.bytes, Some("wrong"))
            .unwrap_err(),
        TransferError::WrongPassword
    );
    assert_eq!(
        cheap_backup().import(&exported.bytes, None).unwrap_err(),
        TransferError::PasswordRequired
    );
    assert_eq!(
        cheap_backup().export(&sample(), None, false).unwrap_err(),
        TransferError::PasswordRequired
    );
}

fn edit_json(bytes: &[u8], edit: impl FnOnce(&mut serde_json::Value)) -> Vec<u8> {
    let mut value: serde_json::Value = serde_json::from_slice(bytes).unwrap();
    edit(&mut value);
    serde_json::to_vec(&value).unwrap()
}

#[test]
fn tessera_backup_detects_tampering_truncation_and_versions() {
    use base64::Engine;
    use base64::engine::general_purpose::STANDARD;
    let exported = cheap_backup().export(&sample(), Some("pw"), false).unwrap();
    // A flipped ciphertext byte.
    let flipped = edit_json(&exported.bytes, |v| {
        let mut ct = STANDARD.decode(v["ciphertext"].as_str().unwrap()).unwrap();
        ct[5] ^= 1;
        v["ciphertext"] = STANDARD.encode(ct).into();
    });
    assert!(matches!(
        cheap_backup().import(&flipped, Some("pw")),
        Err(TransferError::WrongPassword | TransferError::Tampered)
    ));
    // The header is authenticated too.
    let header = edit_json(&exported.bytes, |v| {
        v["kdf"]["iterations"] = 2.into();
    });
    assert!(cheap_backup().import(&header, Some("pw")).is_err());
    // Truncated.
    let cut = &exported.bytes[..exported.bytes.len() / 2];
    assert!(matches!(
        cheap_backup().import(cut, Some("pw")),
        Err(TransferError::Truncated(_))
    ));
    // Unknown version.
    let v2 = edit_json(&exported.bytes, |v| v["version"] = 2.into());
    assert_eq!(
        cheap_backup().import(&v2, Some("pw")).unwrap_err(),
        TransferError::UnsupportedVersion {
            format: Format::TesseraBackup,
            found: 2
        }
    );
    // Absurd Argon2 cost.
    let greedy = edit_json(&exported.bytes, |v| {
        v["kdf"]["memory_kib"] = u32::MAX.into();
    });
    assert!(matches!(
        cheap_backup().import(&greedy, Some("pw")),
        Err(TransferError::UnsafeParameters(_))
    ));
    // Each bound kept, but the product is minutes of work (found by fuzzing).
    let slow = edit_json(&exported.bytes, |v| {
        v["kdf"]["memory_kib"] = (2u32 * 1024 * 1024).into();
        v["kdf"]["iterations"] = 64.into();
    });
    let started = std::time::Instant::now();
    assert!(matches!(
        cheap_backup().import(&slow, Some("pw")),
        Err(TransferError::UnsafeParameters(_))
    ));
    assert!(started.elapsed() < std::time::Duration::from_secs(2));
}

// ---- Google Authenticator ----

fn google_sample(n: usize) -> Vec<Account> {
    (0..n)
        .map(|i| {
            account(
                "Service",
                &format!("user{i}@example.com"),
                OtpParams::totp(),
            )
        })
        .collect()
}

#[test]
fn google_round_trip_in_batches() {
    let mut accounts = google_sample(23);
    accounts.push(account("Counter", "h", OtpParams::hotp(7)));
    let mut eight = OtpParams::totp();
    eight.digits = 8;
    eight.algorithm = Algorithm::Sha512;
    accounts.push(account("", "eight", eight));
    let (uris, warnings) = google_migration::export_uris(&accounts, false).unwrap();
    assert!(warnings.is_empty());
    assert_eq!(uris.len(), 3);
    assert!(
        uris.iter()
            .all(|u| u.starts_with("otpauth-migration://offline?data="))
    );
    let exported = GoogleMigration.export(&accounts, None, false).unwrap();
    assert_eq!(detect(&exported.bytes), Some(Format::GoogleMigration));
    let batch = GoogleMigration.import(&exported.bytes, None).unwrap();
    assert!(batch.rejected.is_empty());
    assert_eq!(essence(&batch.accounts), essence(&accounts));

    // Scanned out of order: recombined by index.
    let reversed: Vec<&str> = uris.iter().rev().map(|u| u.as_str()).collect();
    let batch = GoogleMigration
        .import(reversed.join("\n").as_bytes(), None)
        .unwrap();
    assert_eq!(essence(&batch.accounts), essence(&accounts));

    // A missing part is named.
    let partial = format!("{}\n{}", uris[2].as_str(), uris[0].as_str());
    match GoogleMigration.import(partial.as_bytes(), None) {
        Err(e @ TransferError::MissingBatchParts { .. }) => {
            assert!(matches!(
                &e,
                TransferError::MissingBatchParts { size: 3, missing, .. } if missing == &vec![1]
            ));
            assert!(e.to_string().contains("numbers 2"), "{e}");
        }
        other => panic!("expected missing parts, got {other:?}"),
    }
}

#[test]
fn google_export_warns_and_refuses_without_force() {
    let mut sixty = OtpParams::totp();
    sixty.period = 60;
    let mut seven = OtpParams::totp();
    seven.digits = 7;
    let mut accounts = google_sample(2);
    accounts.push(account("Slow", "s", sixty));
    accounts.push(account("Seven", "d", seven));
    accounts.push(account("Steam", "gamer", OtpParams::steam()));
    let warnings = match GoogleMigration.export(&accounts, None, false) {
        Err(TransferError::WouldLoseInformation(w)) => w,
        other => panic!("expected a refusal, got {other:?}"),
    };
    let ids: Vec<&str> = warnings.iter().map(|w| w.account_id.as_str()).collect();
    assert_eq!(ids, vec![&accounts[2].id, &accounts[3].id, &accounts[4].id]);
    assert!(warnings[0].what.contains("60 s"));
    assert!(warnings[1].what.contains("7 digits"));
    assert!(warnings[2].what.contains("Steam"));
    let forced = GoogleMigration.export(&accounts, None, true).unwrap();
    assert_eq!(forced.warnings, warnings);
    let back = GoogleMigration.import(&forced.bytes, None).unwrap();
    assert_eq!(essence(&back.accounts), essence(&accounts[..2]));
}

/// Builds a migration URI by hand from protobuf bytes.
fn google_uri(payload: &[u8]) -> String {
    use base64::Engine;
    let data = base64::engine::general_purpose::STANDARD.encode(payload);
    format!(
        "otpauth-migration://offline?data={}",
        data.replace('+', "%2B")
            .replace('/', "%2F")
            .replace('=', "%3D")
    )
}

/// Protobuf of one OtpParameters entry (hand-encoded, independent of prost).
fn google_entry(name: &str, algorithm: u8, digits: u8, kind: u8) -> Vec<u8> {
    let secret = b"12345678901234567890";
    let mut e = vec![0x0a, secret.len() as u8];
    e.extend_from_slice(secret);
    e.extend_from_slice(&[0x12, name.len() as u8]);
    e.extend_from_slice(name.as_bytes());
    e.extend_from_slice(&[0x20, algorithm, 0x28, digits, 0x30, kind]);
    let mut field = vec![0x0a, e.len() as u8];
    field.extend(e);
    field
}

#[test]
fn google_rejects_md5_and_unknown_values_per_entry() {
    let mut payload = Vec::new();
    payload.extend(google_entry("Good:alice", 1, 1, 2));
    payload.extend(google_entry("Md5:bob", 4, 1, 2));
    payload.extend(google_entry("Weird:carol", 9, 1, 2));
    payload.extend(google_entry("Hotp:dave", 2, 2, 1));
    payload.extend_from_slice(&[0x10, 1, 0x18, 1, 0x20, 0, 0x28, 5]);
    let batch = GoogleMigration
        .import(google_uri(&payload).as_bytes(), None)
        .unwrap();
    assert_eq!(batch.accounts.len(), 2);
    assert_eq!(batch.accounts[0].issuer, "Good");
    assert_eq!(batch.accounts[0].label, "alice");
    let hotp = batch.accounts[1].otp.as_ref().unwrap().params;
    assert_eq!(
        (hotp.kind, hotp.algorithm, hotp.digits),
        (OtpKind::Hotp, Algorithm::Sha256, 8)
    );
    assert_eq!(batch.rejected.len(), 2);
    assert_eq!(batch.rejected[0].index, 1);
    assert!(batch.rejected[0].reason.contains("MD5"));
    assert_eq!(batch.rejected[1].index, 2);
    assert!(batch.rejected[1].reason.contains("unknown algorithm"));
}

#[test]
fn google_refuses_truncated_data_and_unknown_versions() {
    let payload = google_entry("Good:alice", 1, 1, 2);
    let cut = google_uri(&payload[..payload.len() - 5]);
    assert!(matches!(
        GoogleMigration.import(cut.as_bytes(), None),
        Err(TransferError::Truncated(_))
    ));
    let mut v9 = payload.clone();
    v9.extend_from_slice(&[0x10, 9]);
    assert_eq!(
        GoogleMigration
            .import(google_uri(&v9).as_bytes(), None)
            .unwrap_err(),
        TransferError::UnsupportedVersion {
            format: Format::GoogleMigration,
            found: 9
        }
    );
}

// ---- Aegis ----

fn cheap_aegis() -> Aegis {
    Aegis { scrypt_log_n: 10 }
}

#[test]
fn aegis_plain_and_encrypted_round_trips() {
    let mut accounts = sample();
    accounts.push(account("Steam", "gamer", OtpParams::steam()));
    let plain = cheap_aegis().export(&accounts, None, false).unwrap();
    assert_eq!(detect(&plain.bytes), Some(Format::Aegis));
    let value: serde_json::Value = serde_json::from_slice(&plain.bytes).unwrap();
    assert!(value["header"]["slots"].is_null());
    assert_eq!(value["db"]["version"], 3);
    let back = cheap_aegis().import(&plain.bytes, None).unwrap();
    assert_eq!(essence(&back.accounts), essence(&accounts));
    assert_eq!(back.accounts[0].tags, vec!["work".to_string()]);
    assert_eq!(back.accounts[0].note, "recovery codes in the safe");

    let encrypted = cheap_aegis()
        .export(&accounts, Some("s3cret"), false)
        .unwrap();
    let value: serde_json::Value = serde_json::from_slice(&encrypted.bytes).unwrap();
    assert!(value["db"].is_string());
    assert_eq!(value["header"]["slots"][0]["type"], 1);
    let back = import_any(&encrypted.bytes, Some("s3cret")).unwrap();
    assert_eq!(essence(&back.accounts), essence(&accounts));
    assert_eq!(
        cheap_aegis()
            .import(&encrypted.bytes, Some("nope"))
            .unwrap_err(),
        TransferError::WrongPassword
    );
    assert_eq!(
        cheap_aegis().import(&encrypted.bytes, None).unwrap_err(),
        TransferError::PasswordRequired
    );
}

#[test]
fn aegis_detects_tampering_truncation_versions_and_absurd_scrypt() {
    use base64::Engine;
    use base64::engine::general_purpose::STANDARD;
    let encrypted = cheap_aegis().export(&sample(), Some("pw"), false).unwrap();
    let flipped = edit_json(&encrypted.bytes, |v| {
        let mut db = STANDARD.decode(v["db"].as_str().unwrap()).unwrap();
        db[3] ^= 0x80;
        v["db"] = STANDARD.encode(db).into();
    });
    assert_eq!(
        cheap_aegis().import(&flipped, Some("pw")).unwrap_err(),
        TransferError::Tampered
    );
    let cut = &encrypted.bytes[..encrypted.bytes.len() - 40];
    assert!(matches!(
        cheap_aegis().import(cut, Some("pw")),
        Err(TransferError::Truncated(_))
    ));
    let v2 = edit_json(&encrypted.bytes, |v| v["version"] = 2.into());
    assert!(matches!(
        cheap_aegis().import(&v2, Some("pw")),
        Err(TransferError::UnsupportedVersion { found: 2, .. })
    ));
    let plain = cheap_aegis().export(&sample(), None, false).unwrap();
    let db9 = edit_json(&plain.bytes, |v| v["db"]["version"] = 9.into());
    assert!(matches!(
        cheap_aegis().import(&db9, None),
        Err(TransferError::UnsupportedVersion { found: 9, .. })
    ));
    // Within each bound, but 2^20 × 4 × 16 is 22 s a slot (found by fuzzing).
    let slow = edit_json(&encrypted.bytes, |v| {
        v["header"]["slots"][0]["n"] = (1u64 << 20).into();
        v["header"]["slots"][0]["r"] = 4.into();
        v["header"]["slots"][0]["p"] = 16.into();
    });
    assert!(matches!(
        cheap_aegis().import(&slow, Some("pw")),
        Err(TransferError::UnsafeParameters(_))
    ));
    // Many password slots are not each tried.
    let many = edit_json(&encrypted.bytes, |v| {
        let slot = v["header"]["slots"][0].clone();
        v["header"]["slots"] = serde_json::Value::Array(vec![slot; 5]);
    });
    assert!(matches!(
        cheap_aegis().import(&many, Some("pw")),
        Err(TransferError::UnsafeParameters(_))
    ));
    for (field, value) in [("n", 1u64 << 40), ("n", 1000), ("r", 1000), ("p", 1000)] {
        let absurd = edit_json(&encrypted.bytes, |v| {
            v["header"]["slots"][0][field] = value.into();
        });
        assert!(
            matches!(
                cheap_aegis().import(&absurd, Some("pw")),
                Err(TransferError::UnsafeParameters(_))
            ),
            "{field} = {value}"
        );
    }
}

#[test]
fn aegis_rejects_unknown_entry_types_and_md5() {
    let json = serde_json::json!({
        "version": 1,
        "header": {"slots": null, "params": null},
        "db": {"version": 2, "entries": [
            {"type": "totp", "uuid": "1", "name": "alice", "issuer": "Good", "note": "",
             "favorite": false, "icon": null, "group": "Personal",
             "info": {"secret": "JBSWY3DPEHPK3PXP", "algo": "SHA256", "digits": 7, "period": 60}},
            {"type": "yandex", "name": "y", "issuer": "Yandex",
             "info": {"secret": "JBSWY3DPEHPK3PXP", "algo": "SHA256", "digits": 8, "period": 30}},
            {"type": "motp", "name": "m", "issuer": "M",
             "info": {"secret": "JBSWY3DPEHPK3PXP", "algo": "MD5", "digits": 6, "period": 10}},
            {"type": "totp", "name": "md5", "issuer": "Old",
             "info": {"secret": "JBSWY3DPEHPK3PXP", "algo": "MD5", "digits": 6, "period": 30}},
            {"type": "hotp", "name": "h", "issuer": "H",
             "info": {"secret": "JBSWY3DPEHPK3PXP", "algo": "SHA1", "digits": 6, "counter": 5}}
        ]}
    });
    let bytes = serde_json::to_vec(&json).unwrap();
    let batch = import_any(&bytes, None).unwrap();
    assert_eq!(batch.accounts.len(), 2);
    let good = &batch.accounts[0];
    assert_eq!(good.tags, vec!["Personal".to_string()]);
    let p = good.otp.as_ref().unwrap().params;
    assert_eq!(
        (p.algorithm, p.digits, p.period),
        (Algorithm::Sha256, 7, 60)
    );
    assert_eq!(batch.accounts[1].otp.as_ref().unwrap().params.counter, 5);
    let rejected: Vec<(usize, &str)> = batch
        .rejected
        .iter()
        .map(|r| (r.index, r.reason.as_str()))
        .collect();
    assert_eq!(rejected.len(), 3);
    assert_eq!(rejected[0].0, 1);
    assert!(rejected[0].1.contains("yandex"));
    assert!(rejected[1].1.contains("motp"));
    assert!(rejected[2].1.contains("MD5"));
}

// ---- 2FAS ----

fn twofas_services() -> serde_json::Value {
    serde_json::json!([
        {"name": "GitHub", "secret": "JBSWY3DPEHPK3PXP", "groupId": "g1",
         "otp": {"account": "alice", "issuer": "GitHub", "digits": 6, "period": 30,
                 "algorithm": "SHA1", "tokenType": "TOTP"}},
        {"name": "Bank", "secret": "JBSWY3DPEHPK3PXP",
         "otp": {"account": "bob", "digits": 8, "algorithm": "SHA512",
                 "tokenType": "HOTP", "counter": 9}},
        {"name": "Odd", "secret": "JBSWY3DPEHPK3PXP",
         "otp": {"account": "x", "algorithm": "SHA224", "tokenType": "TOTP"}}
    ])
}

fn check_twofas(batch: &ImportBatch) {
    assert_eq!(batch.accounts.len(), 2);
    assert_eq!(batch.accounts[0].issuer, "GitHub");
    assert_eq!(batch.accounts[0].label, "alice");
    assert_eq!(batch.accounts[0].tags, vec!["Work".to_string()]);
    let p = batch.accounts[1].otp.as_ref().unwrap().params;
    assert_eq!((p.kind, p.digits, p.counter), (OtpKind::Hotp, 8, 9));
    assert_eq!(batch.rejected.len(), 1);
    assert_eq!(batch.rejected[0].index, 2);
    assert!(batch.rejected[0].reason.contains("SHA224"));
}

#[test]
fn twofas_plain_import() {
    let json = serde_json::json!({
        "services": twofas_services(),
        "groups": [{"id": "g1", "name": "Work"}],
        "schemaVersion": 4,
    });
    let bytes = serde_json::to_vec(&json).unwrap();
    assert_eq!(detect(&bytes), Some(Format::TwoFas));
    check_twofas(&TwoFas.import(&bytes, None).unwrap());
    let v9 = edit_json(&bytes, |v| v["schemaVersion"] = 9.into());
    assert!(matches!(
        TwoFas.import(&v9, None),
        Err(TransferError::UnsupportedVersion { found: 9, .. })
    ));
    assert!(matches!(
        TwoFas.import(&bytes[..bytes.len() - 10], None),
        Err(TransferError::Truncated(_))
    ));
}

#[test]
fn twofas_encrypted_import() {
    use base64::Engine;
    use base64::engine::general_purpose::STANDARD;
    use ring::aead::{AES_256_GCM, Aad, LessSafeKey, Nonce, UnboundKey};
    let salt = [3u8; 256];
    let iv = [9u8; 12];
    let mut key = [0u8; 32];
    ring::pbkdf2::derive(
        ring::pbkdf2::PBKDF2_HMAC_SHA256,
        std::num::NonZeroU32::new(10_000).unwrap(),
        &salt,
        b"pass phrase",
        &mut key,
    );
    let mut data = serde_json::to_vec(&twofas_services()).unwrap();
    LessSafeKey::new(UnboundKey::new(&AES_256_GCM, &key).unwrap())
        .seal_in_place_append_tag(Nonce::assume_unique_for_key(iv), Aad::empty(), &mut data)
        .unwrap();
    let encrypted = format!(
        "{}:{}:{}",
        STANDARD.encode(&data),
        STANDARD.encode(salt),
        STANDARD.encode(iv)
    );
    let json = serde_json::json!({
        "services": [],
        "groups": [{"id": "g1", "name": "Work"}],
        "schemaVersion": 4,
        "servicesEncrypted": encrypted,
    });
    let bytes = serde_json::to_vec(&json).unwrap();
    check_twofas(&import_any(&bytes, Some("pass phrase")).unwrap());
    assert_eq!(
        TwoFas.import(&bytes, Some("wrong")).unwrap_err(),
        TransferError::WrongPassword
    );
    assert_eq!(
        TwoFas.import(&bytes, None).unwrap_err(),
        TransferError::PasswordRequired
    );
}

#[test]
fn errors_never_show_secrets() {
    let text = "otpauth://totp/A:a?secret=JBSWY3DPEHPK3PXP&digits=99\n";
    let batch = OtpauthList.import(text.as_bytes(), None).unwrap();
    assert!(!format!("{batch:?}").contains("JBSWY3DP"));
    let bad = br#"{"version":1,"header":{"slots":null,"params":null},"db":{"version":2,"entries":[{"type":"totp","info":{"secret":"JBSWY3DPEHPK3PXP","algo":7}}]}}"#;
    let batch = Aegis::default().import(bad, None).unwrap();
    assert!(!format!("{batch:?}").contains("JBSWY3DP"));
    let exported = OtpauthList.export(&sample(), None, false).unwrap();
    assert!(format!("{exported:?}").contains("redacted"));
}
