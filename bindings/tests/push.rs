//! Push approval through the exported API, against the real reference
//! server (see `common`: a `tessera-server` process on a loopback port,
//! driven through its relying-party API as a site would).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{Server, WAIT, new_app, runtime};
use tessera_ffi::{
    AnswerOutcome, PromptMode, PushDecision, PushDelivery, PushEvent, PushPrompt, PushSubscription,
    TesseraError,
};

/// The next event that is not about the connection, within [`WAIT`].
fn next_prompt(rt: &tokio::runtime::Runtime, subscription: &PushSubscription) -> PushPrompt {
    rt.block_on(async {
        loop {
            match tokio::time::timeout(WAIT, subscription.next()).await {
                Ok(Some(PushEvent::Prompt { prompt })) => return prompt,
                Ok(Some(PushEvent::Connected | PushEvent::Disconnected { .. })) => {}
                other => panic!("expected a prompt, got {other:?}"),
            }
        }
    })
}

fn wrong(number: &str) -> String {
    number
        .chars()
        .map(|c| if c == '9' { '0' } else { '9' })
        .collect()
}

#[test]
fn pair_stream_answer_and_unpair() {
    let server = Server::start();
    let rt = runtime();
    let (_dir, app) = new_app();
    let uri = server.enroll("alice");

    let paired = rt
        .block_on(app.pair_push(uri, "Test phone".into(), PushDelivery::Stream))
        .unwrap();
    assert_eq!(paired.issuer, "Example");
    assert_eq!(paired.label, "alice@example.com");
    assert_eq!(paired.user, "alice");
    assert_eq!(paired.server, server.url);
    assert_eq!(paired.device_name, "Test phone");
    assert!(!paired.has_codes);
    assert_eq!(app.push_accounts().unwrap(), vec![paired.clone()]);
    let accounts = app.accounts().unwrap();
    assert_eq!(accounts.len(), 1);
    assert_eq!(accounts[0].kind, None, "a push-only account");
    let account = paired.account_id.clone();

    // The stream: connected, then the prompt the site creates.
    let subscription = app.subscribe_push(account.clone()).unwrap();
    assert_eq!(subscription.account_id(), account);
    let first = rt.block_on(async { tokio::time::timeout(WAIT, subscription.next()).await });
    assert_eq!(first.unwrap(), Some(PushEvent::Connected));
    let (id, number) = server.prompt("alice", "entry");
    let prompt = next_prompt(&rt, &subscription);
    assert_eq!(prompt.id, id);
    assert_eq!(prompt.account_id, account);
    assert_eq!(prompt.site, "Example");
    assert_eq!(prompt.user, "alice");
    assert_eq!(prompt.ip.as_deref(), Some("203.0.113.7"));
    assert_eq!(prompt.location.as_deref(), Some("Lyon, FR"));
    assert_eq!(prompt.user_agent, None);
    assert_eq!(prompt.app.as_deref(), Some("Web login"));
    assert_eq!(prompt.mode, PromptMode::Entry);
    assert!(prompt.choices.is_empty(), "the number is never sent");
    assert_eq!(prompt.expires_at - prompt.issued_at, 120);
    assert!((100..=120).contains(&prompt.seconds_left), "{prompt:?}");
    assert!(!prompt.time_checked, "no time sources: the time is unknown");
    let pending = rt.block_on(app.pending_prompts(account.clone())).unwrap();
    assert_eq!(pending.len(), 1);
    assert_eq!(pending[0].id, id);

    // A wrong number costs a try; the right one approves.
    let outcome = rt
        .block_on(app.answer_prompt(
            account.clone(),
            id.clone(),
            PushDecision::Approve,
            Some(wrong(&number)),
        ))
        .unwrap();
    assert_eq!(outcome, AnswerOutcome::WrongNumber { attempts_left: 2 });
    assert_eq!(server.outcome(&id)["state"], "pending");
    let error = rt
        .block_on(app.answer_prompt(account.clone(), id.clone(), PushDecision::Approve, None))
        .unwrap_err();
    assert!(
        matches!(error, TesseraError::InvalidInput { .. }),
        "{error:?}"
    );
    let outcome = rt
        .block_on(app.answer_prompt(
            account.clone(),
            id.clone(),
            PushDecision::Approve,
            Some(number.clone()),
        ))
        .unwrap();
    assert_eq!(outcome, AnswerOutcome::Approved);
    let seen = server.outcome(&id);
    assert_eq!(seen["state"], "approved");
    assert_eq!(seen["device_id"], paired.device_id.as_str());
    // Settled: answering again is an outcome, fetching it an error.
    let again = rt
        .block_on(app.answer_prompt(account.clone(), id.clone(), PushDecision::Deny, None))
        .unwrap();
    assert_eq!(again, AnswerOutcome::Finished);
    let error = rt
        .block_on(app.fetch_prompt(account.clone(), id.clone()))
        .unwrap_err();
    assert!(
        matches!(error, TesseraError::PromptUnavailable { .. }),
        "{error:?}"
    );

    // A wake-up (as FCM or APNs would bring it) -> fetch -> deny.
    let (id, number) = server.prompt("alice", "entry");
    let payload = format!(r#"{{"aps":{{"content-available":1}},"prompt_id":"{id}"}}"#);
    let woken = app.handle_push_payload(payload.into_bytes()).unwrap();
    assert_eq!(woken, id);
    let fetched = rt
        .block_on(app.fetch_prompt(account.clone(), woken.clone()))
        .unwrap();
    assert_eq!(fetched.id, id);
    assert_eq!(fetched.site, "Example");
    let outcome = rt
        .block_on(app.answer_prompt(account.clone(), woken, PushDecision::Deny, None))
        .unwrap();
    assert_eq!(outcome, AnswerOutcome::Denied);
    assert_eq!(server.outcome(&id)["state"], "denied");
    // The stream brought it too; nothing in an error tells the number.
    assert_eq!(next_prompt(&rt, &subscription).id, id);
    let error = rt
        .block_on(app.fetch_prompt(account.clone(), id))
        .unwrap_err();
    assert!(!error.to_string().contains(&number));

    // Choice mode: the number is picked among three.
    let (id, number) = server.prompt("alice", "choice");
    let prompt = next_prompt(&rt, &subscription);
    assert_eq!(prompt.mode, PromptMode::Choice);
    assert_eq!(prompt.choices.len(), 3);
    assert!(prompt.choices.contains(&number));
    let not_offered = rt
        .block_on(app.answer_prompt(
            account.clone(),
            id.clone(),
            PushDecision::Approve,
            Some(wrong(&number)),
        ))
        .unwrap_err();
    assert!(matches!(not_offered, TesseraError::InvalidInput { .. }));
    let outcome = rt
        .block_on(app.answer_prompt(
            account.clone(),
            id.clone(),
            PushDecision::Approve,
            Some(number),
        ))
        .unwrap();
    assert_eq!(outcome, AnswerOutcome::Approved);

    // A new FCM token reaches the server.
    rt.block_on(app.update_push_delivery(
        account.clone(),
        PushDelivery::Fcm {
            token: "fcm-registration-token-for-tests".into(),
        },
    ))
    .unwrap();
    let devices = server.devices("alice");
    assert_eq!(devices.len(), 1);
    assert_eq!(devices[0]["delivery"], "fcm");

    // cancel() ends the stream, now and later.
    subscription.cancel();
    let ended = rt.block_on(async { tokio::time::timeout(WAIT, subscription.next()).await });
    assert_eq!(ended.unwrap(), None);

    // Unpair: the server revokes the device; the push-only account goes.
    assert!(
        rt.block_on(app.unpair_push(account.clone(), false))
            .unwrap()
    );
    assert!(app.push_accounts().unwrap().is_empty());
    assert!(app.accounts().unwrap().is_empty());
    assert!(!server.devices("alice")[0]["revoked_at"].is_null());
    assert_eq!(
        rt.block_on(app.unpair_push(account.clone(), false))
            .unwrap_err(),
        TesseraError::AccountNotFound { id: account }
    );
}

#[test]
fn cancel_wakes_a_waiting_next() {
    let server = Server::start();
    let rt = runtime();
    let (_dir, app) = new_app();
    let paired = rt
        .block_on(app.pair_push(server.enroll("bob"), "Phone".into(), PushDelivery::Stream))
        .unwrap();
    let subscription = app.subscribe_push(paired.account_id.clone()).unwrap();
    let waiting = {
        let subscription = Arc::clone(&subscription);
        rt.spawn(async move {
            let mut events = Vec::new();
            while let Some(event) = subscription.next().await {
                events.push(event);
            }
            events
        })
    };
    // Let it connect and wait, then cancel from another thread.
    std::thread::sleep(Duration::from_millis(500));
    let canceller = {
        let subscription = Arc::clone(&subscription);
        std::thread::spawn(move || subscription.cancel())
    };
    canceller.join().unwrap();
    let events = rt
        .block_on(async { tokio::time::timeout(WAIT, waiting).await })
        .expect("next() returned after cancel()")
        .unwrap();
    assert!(
        events.iter().all(|e| matches!(e, PushEvent::Connected)),
        "{events:?}"
    );
    assert_eq!(rt.block_on(subscription.next()), None);
    subscription.cancel();

    // A subscription cancelled before it ever connected never does.
    let unused = app.subscribe_push(paired.account_id).unwrap();
    unused.cancel();
    assert_eq!(rt.block_on(unused.next()), None);
}

#[test]
fn pairing_is_checked_before_the_code_is_used() {
    let server = Server::start();
    let rt = runtime();
    let (_dir, app) = new_app();

    // Attached beside the codes of the same issuer and label.
    app.add_uri(
        "otpauth://totp/Example:carol@example.com?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&issuer=Example"
            .into(),
    )
    .unwrap();
    let paired = rt
        .block_on(app.pair_push(server.enroll("carol"), "Phone".into(), PushDelivery::Stream))
        .unwrap();
    assert!(paired.has_codes);
    assert_eq!(app.accounts().unwrap().len(), 1);

    // Already paired: refused here, and the site's code is not used up.
    let uri = server.enroll("carol");
    let error = rt
        .block_on(app.pair_push(uri.clone(), "Phone".into(), PushDelivery::Stream))
        .unwrap_err();
    assert!(
        matches!(&error, TesseraError::InvalidInput { reason } if reason.contains("already paired")),
        "{error:?}"
    );
    let code = uri
        .split("code=")
        .nth(1)
        .unwrap()
        .split('&')
        .next()
        .unwrap()
        .to_string();
    assert!(!error.to_string().contains(&code));
    let (_other_dir, other) = new_app();
    rt.block_on(other.pair_push(uri.clone(), "Tablet".into(), PushDelivery::Stream))
        .expect("the code still works elsewhere");
    // Used now: refused by the server, without the code in the reason.
    let (_third_dir, third) = new_app();
    let error = rt
        .block_on(third.pair_push(uri, "Laptop".into(), PushDelivery::Stream))
        .unwrap_err();
    assert!(
        matches!(error, TesseraError::PairingRefused { .. }),
        "{error:?}"
    );
    assert!(!error.to_string().contains(&code));

    // Unpairing keeps an account with codes.
    assert!(
        rt.block_on(app.unpair_push(paired.account_id.clone(), false))
            .unwrap()
    );
    assert_eq!(app.accounts().unwrap().len(), 1);
    assert!(app.push_accounts().unwrap().is_empty());
    let error = rt
        .block_on(app.pending_prompts(paired.account_id))
        .unwrap_err();
    assert!(matches!(error, TesseraError::InvalidInput { .. }));
}

#[test]
fn fraud_reports_and_revocation() {
    let server = Server::start();
    let rt = runtime();
    let (_dir, app) = new_app();
    let paired = rt
        .block_on(app.pair_push(server.enroll("dave"), "Phone".into(), PushDelivery::Stream))
        .unwrap();
    let account = paired.account_id.clone();
    let (id, _) = server.prompt("dave", "entry");
    let outcome = rt
        .block_on(app.answer_prompt(account.clone(), id.clone(), PushDecision::Fraud, None))
        .unwrap();
    assert_eq!(outcome, AnswerOutcome::FraudReported);
    let seen = server.outcome(&id);
    assert_eq!(seen["state"], "fraud_reported");
    assert_eq!(seen["fraud_reported"], true);

    // The site revokes the device: the stream says so and ends.
    let subscription = app.subscribe_push(account.clone()).unwrap();
    let first = rt.block_on(async { tokio::time::timeout(WAIT, subscription.next()).await });
    assert_eq!(first.unwrap(), Some(PushEvent::Connected));
    let (status, body) = server.rp(
        "DELETE",
        &format!("/v1/rp/users/dave/devices/{}", paired.device_id),
        None,
    );
    assert_eq!(status, 200, "{body}");
    let revoked = rt.block_on(async { tokio::time::timeout(WAIT, subscription.next()).await });
    assert!(
        matches!(revoked.unwrap(), Some(PushEvent::Revoked { .. })),
        "revoked"
    );
    assert_eq!(rt.block_on(subscription.next()), None);
    let error = rt
        .block_on(app.pending_prompts(account.clone()))
        .unwrap_err();
    assert!(
        matches!(error, TesseraError::DeviceRevoked { .. }),
        "{error:?}"
    );
    // The server counts a revoked device as unpaired already.
    assert!(rt.block_on(app.unpair_push(account, false)).unwrap());
    assert!(app.push_accounts().unwrap().is_empty());
}

#[test]
fn an_unreachable_server_needs_force_to_unpair() {
    let server = Server::start();
    let rt = runtime();
    let (_dir, app) = new_app();
    let paired = rt
        .block_on(app.pair_push(server.enroll("erin"), "Phone".into(), PushDelivery::Stream))
        .unwrap();
    drop(server);
    let error = rt
        .block_on(app.unpair_push(paired.account_id.clone(), false))
        .unwrap_err();
    assert!(
        matches!(error, TesseraError::PushNetwork { .. }),
        "{error:?}"
    );
    assert_eq!(app.push_accounts().unwrap().len(), 1, "nothing changed");
    assert!(
        !rt.block_on(app.unpair_push(paired.account_id, true))
            .unwrap()
    );
    assert!(app.push_accounts().unwrap().is_empty());
}

#[test]
fn payloads_and_inputs_are_checked_strictly() {
    let (_dir, app) = new_app();
    for payload in [
        &b""[..],
        b"[]",
        b"{}",
        b"{\"prompt_id\":1}",
        b"{\"prompt_id\":\"../x\"}",
        b"{\"prompt_id\":\"a\",\"prompt_id\":\"b\"}",
    ] {
        let error = app.handle_push_payload(payload.to_vec()).unwrap_err();
        assert!(
            matches!(error, TesseraError::InvalidPushPayload { .. }),
            "{error:?}"
        );
    }
    // Locked or not, a payload is read without the vault.
    app.lock();
    assert_eq!(
        app.handle_push_payload(br#"{"prompt_id":"abc"}"#.to_vec())
            .unwrap(),
        "abc"
    );
    assert_eq!(app.push_accounts().unwrap_err(), TesseraError::Locked);
    assert!(matches!(
        app.subscribe_push("x".into()).err().unwrap(),
        TesseraError::Locked
    ));
    app.unlock_with_password("pw".into()).unwrap();

    let rt = runtime();
    let error = rt
        .block_on(app.pair_push(
            "tessera-push://pair?v=1&server=https%3A%2F%2Fpush.example.com&codeSECRETCODE".into(),
            "Phone".into(),
            PushDelivery::Stream,
        ))
        .unwrap_err();
    match &error {
        TesseraError::InvalidInput { reason } => assert!(!reason.contains("SECRETCODE")),
        other => panic!("unexpected {other:?}"),
    }
    let error = rt
        .block_on(app.fetch_prompt("no-such-account".into(), "p".into()))
        .unwrap_err();
    assert!(matches!(error, TesseraError::AccountNotFound { .. }));
    assert!(
        format!(
            "{:?}",
            PushDelivery::Fcm {
                token: "tok-123".into()
            }
        )
        .contains("redacted")
    );
}
