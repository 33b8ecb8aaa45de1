//! Import, export, backups and device-to-device transfer through the
//! exported API: round trips through every export format, wrong passwords,
//! altered files, the preview → apply rules, and transfers between two
//! `Authenticator`s through the mailbox of the real `tessera-server`,
//! including a wrong confirmation code and a push hand-off.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::Arc;

use common::{Server, WAIT, new_app, runtime};
use serde_json::Value;
use tessera_ffi::{
    AnswerOutcome, Authenticator, PushDecision, PushDelivery, TesseraError, TransferFormat,
    TransferReceiver,
};

const ACCOUNTS: [&str; 3] = [
    "otpauth://totp/Example:alice%40example.com?secret=JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP&issuer=Example",
    "otpauth://totp/Bank:bob?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&issuer=Bank&algorithm=SHA256&digits=8&period=60",
    "otpauth://hotp/Forge:carol?secret=MFRGGZDFMZTWQ2LKNNWG23TPOBYXE43U&issuer=Forge&counter=7",
];

/// A fixed instant for comparing codes (ms since the epoch).
const AT_MS: u64 = 1_700_000_000_000;

fn seeded() -> (tempfile::TempDir, Arc<Authenticator>) {
    let (dir, app) = new_app();
    app.add_uris(ACCOUNTS.iter().map(ToString::to_string).collect())
        .unwrap();
    (dir, app)
}

/// Every account as (issuer, label, kind, algorithm, digits, period,
/// counter, code at [`AT_MS`]), sorted: equal for two apps holding the same
/// accounts with the same secrets.
fn fingerprint(app: &Authenticator) -> Vec<String> {
    let codes = app.codes(Some(AT_MS)).unwrap();
    let mut rows: Vec<String> = app
        .accounts()
        .unwrap()
        .into_iter()
        .filter(|a| a.kind.is_some())
        .map(|a| {
            let code = codes
                .iter()
                .find(|c| c.account_id == a.id)
                .map(|c| c.code.clone())
                .unwrap_or_default();
            format!(
                "{}|{}|{:?}|{:?}|{}|{}|{}|{code}",
                a.issuer, a.label, a.kind, a.algorithm, a.digits, a.period, a.counter
            )
        })
        .collect();
    rows.sort();
    rows
}

fn names(accounts: &[tessera_ffi::PreviewAccount]) -> Vec<String> {
    let mut names: Vec<String> = accounts.iter().map(|a| a.name.clone()).collect();
    names.sort();
    names
}

#[test]
fn every_export_format_round_trips_into_another_app() {
    let (_a_dir, a) = seeded();
    for (format, password) in [
        (TransferFormat::TesseraBackup, Some("backup password")),
        (TransferFormat::Aegis, Some("aegis password")),
        (TransferFormat::Aegis, None),
        (TransferFormat::OtpauthList, None),
        (TransferFormat::GoogleMigration, None),
    ] {
        let password = password.map(str::to_string);
        let exported = match a.export_accounts(format, password.clone(), false) {
            Ok(exported) => exported,
            // A format that cannot carry everything lists it, per account.
            Err(TesseraError::WouldLoseInformation { warnings }) => {
                assert!(!warnings.is_empty());
                for warning in &warnings {
                    assert!(!warning.account_name.is_empty(), "{warning:?}");
                    assert!(!warning.what.is_empty(), "{warning:?}");
                }
                let forced = a.export_accounts(format, password.clone(), true).unwrap();
                assert_eq!(forced.warnings, warnings, "{format:?}");
                forced
            }
            Err(other) => panic!("{format:?}: {other:?}"),
        };
        assert_eq!(exported.unencrypted, password.is_none(), "{format:?}");
        // The app wrote the bytes, read them back: they still match.
        assert_eq!(
            a.verify_export(format, exported.bytes.clone(), password.clone())
                .unwrap(),
            exported.accounts
        );

        let (_b_dir, b) = new_app();
        let session = b
            .clone()
            .preview_import(exported.bytes.clone(), password.clone(), None)
            .unwrap();
        let preview = session.preview();
        assert_eq!(preview.format, format, "detected");
        assert_eq!(preview.new_accounts.len() as u32, exported.accounts);
        assert!(preview.duplicates.is_empty() && preview.rejected.is_empty());
        let ids = b.apply_import(session).unwrap();
        assert_eq!(ids.len() as u32, exported.accounts);
        let left_out: Vec<&str> = exported
            .warnings
            .iter()
            .map(|w| w.account_name.as_str())
            .collect();
        let expected: Vec<String> = fingerprint(&a)
            .into_iter()
            .filter(|row| {
                !left_out.iter().any(|name| {
                    let mut parts = row.split('|');
                    let (issuer, label) = (parts.next().unwrap(), parts.next().unwrap());
                    *name == format!("{issuer} ({label})")
                })
            })
            .collect();
        assert_eq!(fingerprint(&b), expected, "{format:?}");
    }
}

#[test]
fn a_backup_needs_its_password_and_refuses_alterations() {
    let (_a_dir, a) = seeded();
    let backup = a.backup("right password".into()).unwrap();
    assert_eq!(backup.accounts, 3);
    assert!(!backup.unencrypted && backup.warnings.is_empty());
    assert!(matches!(
        a.backup(String::new()),
        Err(TesseraError::InvalidInput { .. })
    ));

    let (_b_dir, b) = new_app();
    let preview = |bytes: Vec<u8>, password: Option<&str>| {
        b.clone()
            .preview_import(bytes, password.map(str::to_string), None)
            .map(|session| session.preview())
    };
    assert_eq!(
        preview(backup.bytes.clone(), None),
        Err(TesseraError::PasswordRequired)
    );
    assert_eq!(
        preview(backup.bytes.clone(), Some("wrong password")),
        Err(TesseraError::WrongPassword)
    );

    // One character of the ciphertext changed.
    let mut file: Value = serde_json::from_slice(&backup.bytes).unwrap();
    let (key, text) = longest_string(&file);
    let mut chars: Vec<char> = text.chars().collect();
    let middle = chars.len() / 2;
    chars[middle] = if chars[middle] == 'A' { 'B' } else { 'A' };
    set_string(&mut file, &key, chars.into_iter().collect());
    let tampered = serde_json::to_vec(&file).unwrap();
    // AES-GCM cannot tell an altered file from a wrong password: refused
    // either way, and nothing is read.
    let error = preview(tampered.clone(), Some("right password")).unwrap_err();
    assert!(
        matches!(
            error,
            TesseraError::WrongPassword | TesseraError::InvalidFile { .. }
        ),
        "{error:?}"
    );
    assert!(!error.to_string().contains("right password"));
    // The app's read-back check catches it too.
    assert!(matches!(
        a.verify_export(
            TransferFormat::TesseraBackup,
            tampered,
            Some("right password".into())
        ),
        Err(TesseraError::InvalidFile { .. })
    ));
    // Cut short, or not a format at all.
    let cut = backup.bytes[..backup.bytes.len() / 2].to_vec();
    assert!(matches!(
        preview(cut, Some("right password")),
        Err(TesseraError::InvalidFile { .. })
    ));
    assert!(matches!(
        preview(b"hello".to_vec(), None),
        Err(TesseraError::InvalidFile { .. })
    ));
    assert!(b.accounts().unwrap().is_empty(), "nothing was added");

    // A read-back that does not match the vault any more is refused.
    a.remove_account(a.accounts().unwrap()[0].id.clone())
        .unwrap();
    assert!(matches!(
        a.verify_export(
            TransferFormat::TesseraBackup,
            backup.bytes,
            Some("right password".into())
        ),
        Err(TesseraError::InvalidFile { .. })
    ));
}

/// The key and value of the longest string field (the ciphertext).
fn longest_string(value: &Value) -> (String, String) {
    let mut best = (String::new(), String::new());
    let mut visit = |key: &str, text: &str| {
        if text.len() > best.1.len() {
            best = (key.to_string(), text.to_string());
        }
    };
    fn walk(value: &Value, visit: &mut dyn FnMut(&str, &str)) {
        if let Value::Object(map) = value {
            for (key, value) in map {
                match value {
                    Value::String(text) => visit(key, text),
                    other => walk(other, visit),
                }
            }
        }
    }
    walk(value, &mut visit);
    best
}

fn set_string(value: &mut Value, key: &str, text: String) {
    if let Value::Object(map) = value {
        if map.get(key).is_some_and(Value::is_string) {
            map.insert(key.to_string(), Value::String(text));
            return;
        }
        for value in map.values_mut() {
            set_string(value, key, text.clone());
        }
    }
}

#[test]
fn the_preview_lists_duplicates_and_apply_adds_exactly_what_it_showed() {
    let (_a_dir, a) = seeded();
    let list = a
        .export_accounts(TransferFormat::OtpauthList, None, false)
        .unwrap();
    assert!(list.unencrypted);
    let mut bytes = list.bytes.clone();
    bytes.extend_from_slice(b"otpauth://totp/Broken?secret=!!!\n");

    let (_b_dir, b) = new_app();
    b.add_uri(ACCOUNTS[0].into()).unwrap();
    let session = b
        .clone()
        .preview_import(bytes.clone(), None, Some(TransferFormat::OtpauthList))
        .unwrap();
    let preview = session.preview();
    assert_eq!(preview.format, TransferFormat::OtpauthList);
    assert_eq!(
        names(&preview.new_accounts),
        ["Bank (bob)", "Forge (carol)"]
    );
    assert_eq!(names(&preview.duplicates), ["Example (alice@example.com)"]);
    assert_eq!(preview.rejected.len(), 1);
    assert_eq!(preview.rejected[0].index, 3);
    assert!(!preview.rejected[0].reason.contains("!!!"));

    let ids = b.apply_import(Arc::clone(&session)).unwrap();
    assert_eq!(ids.len(), 2);
    assert_eq!(b.accounts().unwrap().len(), 3);
    assert_eq!(fingerprint(&b), fingerprint(&a));
    // Once only.
    assert!(matches!(
        b.apply_import(session),
        Err(TesseraError::InvalidInput { .. })
    ));

    // A session is applied all or nothing: an account added meanwhile
    // makes it fail whole, and it can be applied once that is resolved.
    let (_c_dir, c) = new_app();
    let session = c.clone().preview_import(bytes.clone(), None, None).unwrap();
    assert_eq!(session.preview().new_accounts.len(), 3);
    let added = c.add_uri(ACCOUNTS[1].into()).unwrap();
    assert!(matches!(
        c.apply_import(Arc::clone(&session)),
        Err(TesseraError::DuplicateAccount { .. })
    ));
    assert_eq!(c.accounts().unwrap().len(), 1, "nothing was added");
    c.remove_account(added.account.id).unwrap();
    assert_eq!(c.apply_import(Arc::clone(&session)).unwrap().len(), 3);

    // Discarded sessions and other apps' sessions are refused.
    let session = c.clone().preview_import(bytes.clone(), None, None).unwrap();
    session.discard();
    assert!(matches!(
        c.apply_import(session),
        Err(TesseraError::InvalidInput { .. })
    ));
    let (_d_dir, d) = new_app();
    let session = c.clone().preview_import(bytes, None, None).unwrap();
    assert!(matches!(
        d.apply_import(session),
        Err(TesseraError::InvalidInput { .. })
    ));
    assert!(d.accounts().unwrap().is_empty());
}

#[test]
fn exports_that_would_lose_information_are_refused_with_the_list() {
    let (_a_dir, a) = seeded();
    // Steam codes have no place in an otpauth list for Google.
    a.add_uri(
        "otpauth://totp/Steam:dave?secret=JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP&issuer=Steam&digits=5&algorithm=SHA512&period=45"
            .into(),
    )
    .unwrap();
    let Err(TesseraError::WouldLoseInformation { warnings }) =
        a.export_accounts(TransferFormat::GoogleMigration, None, false)
    else {
        panic!("expected WouldLoseInformation");
    };
    assert!(
        warnings.iter().any(|w| w.account_name == "Steam (dave)"),
        "{warnings:?}"
    );
    let forced = a
        .export_accounts(TransferFormat::GoogleMigration, None, true)
        .unwrap();
    assert_eq!(forced.warnings, warnings);
    // Wrong uses are refused.
    assert!(matches!(
        a.export_accounts(TransferFormat::TwoFas, None, false),
        Err(TesseraError::InvalidInput { .. })
    ));
    assert!(matches!(
        a.export_accounts(TransferFormat::OtpauthList, Some("pw".into()), false),
        Err(TesseraError::InvalidInput { .. })
    ));
    assert_eq!(
        a.export_accounts(TransferFormat::TesseraBackup, None, false),
        Err(TesseraError::PasswordRequired)
    );
    a.lock();
    assert_eq!(
        a.export_accounts(TransferFormat::OtpauthList, None, false),
        Err(TesseraError::Locked)
    );
}

// ------------------------------------------------------------ device to device

fn wait_for(
    rt: &tokio::runtime::Runtime,
    receiver: &TransferReceiver,
) -> tessera_ffi::ReceivedTransfer {
    rt.block_on(receiver.wait(WAIT.as_millis() as u64))
        .unwrap()
        .expect("the transfer arrived")
}

fn other_code(code: &str) -> String {
    code.chars()
        .map(|c| if c == '9' { '0' } else { '9' })
        .collect()
}

#[test]
fn a_transfer_through_the_mailbox_with_a_push_handoff() {
    let server = Server::start();
    let rt = runtime();
    let (_a_dir, a) = seeded();
    let paired = rt
        .block_on(a.pair_push(
            server.enroll("alice"),
            "old phone".into(),
            PushDelivery::Stream,
        ))
        .unwrap();
    let (_b_dir, b) = new_app();

    // First attempt: the wrong code applies nothing, and ends the transfer.
    let receiver = rt
        .block_on(b.clone().start_receive(Some(server.url.clone())))
        .unwrap();
    let invite = receiver.invite();
    assert!(invite.uri.starts_with("tessera-transfer://receive?"));
    assert_eq!(invite.server.as_deref(), Some(server.url.as_str()));
    assert!(invite.accepts_push_handoff && invite.expires_at.is_some());
    // Nothing yet.
    assert_eq!(rt.block_on(receiver.wait(200)).unwrap(), None);
    let sent = rt
        .block_on(a.send_transfer(invite.uri.clone(), true))
        .unwrap();
    assert_eq!(sent.confirmation_code.len(), 6);
    // The pairing sits on the account with codes "Example
    // (alice@example.com)", which travels too: nothing stays behind.
    assert!(paired.has_codes);
    assert_eq!((sent.accounts, sent.push_only_left_out), (3, 0));
    assert_eq!((sent.handoffs, sent.pairings_not_handed_off), (1, 0));
    assert_eq!(sent.envelope, None, "it went to the mailbox");
    let received = wait_for(&rt, &receiver);
    assert_eq!(received.confirmation_code, sent.confirmation_code);
    assert_eq!(received.new_accounts.len(), 3);
    assert!(received.duplicates.is_empty());
    assert_eq!(received.push_handoffs.len(), 1);
    assert_eq!(
        received.push_handoffs[0].name,
        "Example (alice@example.com)"
    );
    assert_eq!(received.push_handoffs[0].user, "alice");
    assert!(received.push_handoffs[0].will_move);
    // Asking again shows the same.
    assert_eq!(wait_for(&rt, &receiver), received);
    let wrong = rt.block_on(receiver.apply(
        other_code(&sent.confirmation_code),
        "new phone".into(),
        PushDelivery::Stream,
    ));
    assert_eq!(wrong, Err(TesseraError::ConfirmationMismatch));
    assert!(
        !format!("{wrong:?}").contains(&sent.confirmation_code),
        "the code is never in an error"
    );
    assert!(b.accounts().unwrap().is_empty(), "nothing was applied");
    assert!(b.push_accounts().unwrap().is_empty());
    let again = rt.block_on(receiver.apply(
        sent.confirmation_code.clone(),
        "new phone".into(),
        PushDelivery::Stream,
    ));
    assert!(
        matches!(again, Err(TesseraError::Transfer { .. })),
        "{again:?}"
    );
    assert_eq!(
        server
            .devices("alice")
            .iter()
            .filter(|d| d["revoke_reason"].is_null())
            .count(),
        1,
        "the old device still holds the pairing"
    );

    // Second attempt, with the right code (read aloud, with a space).
    let receiver = rt
        .block_on(b.clone().start_receive(Some(server.url.clone())))
        .unwrap();
    let sent = rt
        .block_on(a.send_transfer(receiver.invite().uri, true))
        .unwrap();
    let received = wait_for(&rt, &receiver);
    assert_eq!(received.confirmation_code, sent.confirmation_code);
    let spoken = format!(
        "{} {}",
        &sent.confirmation_code[..3],
        &sent.confirmation_code[3..]
    );
    let applied = rt
        .block_on(receiver.apply(spoken, "new phone".into(), PushDelivery::Stream))
        .unwrap();
    assert_eq!(applied.added_ids.len(), 3);
    assert_eq!(applied.duplicates_skipped, 0);
    assert!(applied.push_failed.is_empty(), "{:?}", applied.push_failed);
    assert_eq!(applied.push_moved.len(), 1);
    let moved = &applied.push_moved[0];
    assert_eq!(
        (moved.user.as_str(), moved.device_name.as_str()),
        ("alice", "new phone")
    );
    assert_ne!(moved.device_id, paired.device_id);
    assert!(moved.has_codes, "attached to the account that came along");
    assert_eq!(fingerprint(&b), fingerprint(&a));
    assert_eq!(b.push_accounts().unwrap(), vec![moved.clone()]);
    // Single use.
    assert!(matches!(
        rt.block_on(receiver.wait(100)),
        Err(TesseraError::Transfer { .. })
    ));

    // The site's next prompt reaches the new device, which approves it; the
    // old device was signed out.
    let (prompt_id, number) = server.prompt("alice", "entry");
    let pending = rt
        .block_on(b.pending_prompts(moved.account_id.clone()))
        .unwrap();
    assert_eq!(pending.len(), 1);
    assert_eq!(pending[0].id, prompt_id);
    let outcome = rt
        .block_on(b.answer_prompt(
            moved.account_id.clone(),
            prompt_id.clone(),
            PushDecision::Approve,
            Some(number),
        ))
        .unwrap();
    assert_eq!(outcome, AnswerOutcome::Approved);
    let seen = server.outcome(&prompt_id);
    assert_eq!(seen["state"], "approved");
    assert_eq!(seen["device_id"], moved.device_id.as_str());
    assert!(matches!(
        rt.block_on(a.pending_prompts(paired.account_id.clone())),
        Err(TesseraError::DeviceRevoked { .. })
    ));
    let devices = server.devices("alice");
    let old = devices
        .iter()
        .find(|d| d["device_id"] == paired.device_id.as_str())
        .unwrap();
    assert_eq!(old["revoke_reason"], "handoff");
}

#[test]
fn a_transfer_through_a_file_and_the_ways_it_ends() {
    let rt = runtime();
    let (_a_dir, a) = seeded();
    let (_b_dir, b) = new_app();
    b.add_uri(ACCOUNTS[2].into()).unwrap();

    let receiver = rt.block_on(b.clone().start_receive(None)).unwrap();
    let invite = receiver.invite();
    assert!(invite.uri.contains("file=1"), "{}", invite.uri);
    assert_eq!((invite.server, invite.expires_at), (None, None));
    assert!(matches!(
        rt.block_on(receiver.wait(100)),
        Err(TesseraError::InvalidInput { .. })
    ));
    // Without the hand-off asked for, nothing but accounts travels.
    let sent = rt.block_on(a.send_transfer(invite.uri, false)).unwrap();
    let envelope = sent.envelope.clone().expect("file mode returns the data");
    assert_eq!(sent.handoffs, 0);
    let received = rt.block_on(receiver.open_envelope(envelope)).unwrap();
    assert_eq!(received.confirmation_code, sent.confirmation_code);
    assert_eq!(
        names(&received.new_accounts),
        ["Bank (bob)", "Example (alice@example.com)"]
    );
    assert_eq!(names(&received.duplicates), ["Forge (carol)"]);
    let applied = rt
        .block_on(receiver.apply(
            sent.confirmation_code.clone(),
            "new phone".into(),
            PushDelivery::Stream,
        ))
        .unwrap();
    assert_eq!(
        (applied.added_ids.len(), applied.duplicates_skipped),
        (2, 1)
    );
    assert_eq!(fingerprint(&b), fingerprint(&a));

    // Data altered on the way, or made for another invite: refused, over.
    let (_c_dir, c) = new_app();
    let receiver = rt.block_on(c.clone().start_receive(None)).unwrap();
    let other = rt.block_on(c.clone().start_receive(None)).unwrap();
    let sent = rt
        .block_on(a.send_transfer(other.invite().uri, false))
        .unwrap();
    let error = rt
        .block_on(receiver.open_envelope(sent.envelope.unwrap()))
        .unwrap_err();
    assert!(matches!(error, TesseraError::Transfer { .. }), "{error:?}");
    assert!(matches!(
        rt.block_on(receiver.open_envelope(b"{}".to_vec())),
        Err(TesseraError::Transfer { .. })
    ));
    assert!(c.accounts().unwrap().is_empty());

    // Cancelled: every later call says it is over.
    rt.block_on(other.cancel());
    rt.block_on(other.cancel());
    assert!(matches!(
        rt.block_on(other.open_envelope(b"{}".to_vec())),
        Err(TesseraError::Transfer { .. })
    ));

    // Bad invites and a locked vault.
    assert!(matches!(
        rt.block_on(a.send_transfer("otpauth://totp/x?secret=AA".into(), true)),
        Err(TesseraError::InvalidInput { .. })
    ));
    c.lock();
    assert!(matches!(
        rt.block_on(c.clone().start_receive(None)),
        Err(TesseraError::Locked)
    ));
}

#[test]
fn cancel_wakes_a_waiting_receiver_and_closes_the_mailbox() {
    let server = Server::start();
    let rt = runtime();
    let (_a_dir, a) = seeded();
    let (_b_dir, b) = new_app();
    let receiver = rt
        .block_on(b.clone().start_receive(Some(server.url.clone())))
        .unwrap();
    let uri = receiver.invite().uri;
    let waiting = {
        let receiver = Arc::clone(&receiver);
        rt.spawn(async move { receiver.wait(WAIT.as_millis() as u64).await })
    };
    std::thread::sleep(std::time::Duration::from_millis(300));
    let started = std::time::Instant::now();
    rt.block_on(receiver.cancel());
    let result = rt.block_on(waiting).unwrap();
    assert!(
        matches!(result, Err(TesseraError::Transfer { .. })),
        "{result:?}"
    );
    assert!(started.elapsed() < std::time::Duration::from_secs(10));
    // The mailbox is gone: the sender is told to start again.
    let sent = rt.block_on(a.send_transfer(uri, false));
    assert!(
        matches!(sent, Err(TesseraError::Transfer { .. })),
        "{sent:?}"
    );
}
