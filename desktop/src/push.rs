//! `tessera push …`: pairing with a site's push server and answering its
//! sign-in prompts, on `tessera_core::push`.
//!
//! `listen` is written to be driven by a person at a terminal and by a
//! script alike: without a terminal it reads answers from stdin line by line
//! (the number, then `approve`, `deny` or `fraud`), and `--once` ends it
//! after the first prompt is settled.

use std::collections::{HashSet, VecDeque};
use std::io::{BufRead, IsTerminal, Read, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;
use tessera_core::http::Http;
use tessera_core::push::error::RevokeReason;
use tessera_core::push::{
    AnswerOutcome, Decision, Delivery, PairingUri, PromptMode, PushClient, PushClock, PushError,
    PushEvent, VerifiedPrompt,
};
use tessera_core::{Account, Vault};
use tokio::sync::mpsc;

use crate::cli::{AnswerArgs, Global, ListenArgs, PairArgs, PushCommand};
use crate::commands::{print_json, select, time_keeper};
use crate::error::{CliError, Exit};
use crate::{clock, open, qr};

/// How long `unpair` waits for the server.
const UNPAIR_TIMEOUT: Duration = Duration::from_secs(15);
/// How long to keep retrying an answer the network would not carry.
const ANSWER_RETRY: Duration = Duration::from_secs(30);

/// Runs one `tessera push` command.
pub fn run(global: &Global, command: PushCommand) -> Result<(), CliError> {
    match command {
        PushCommand::Pair(args) => pair(global, args),
        PushCommand::List { json } => list(&open::open(global)?, json),
        PushCommand::Unpair { account, force } => unpair(global, &account, force),
        PushCommand::Listen(args) => listen(global, args),
        PushCommand::Answer(args) => answer(global, args),
        PushCommand::Handoff(args) => crate::device_transfer::push_handoff(global, args),
    }
}

pub(crate) fn runtime() -> Result<tokio::runtime::Runtime, CliError> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| CliError::failure(format!("cannot start the network runtime: {e}")))
}

/// The trusted clock for push, re-checked when due, with a plain warning
/// when the time is unknown (the expiry check then rests on the server).
pub(crate) fn push_clock(global: &Global) -> Result<Arc<dyn PushClock>, CliError> {
    let mut keeper = time_keeper(global)?;
    keeper.refresh_if_needed();
    let (_, status) = keeper.now();
    if let tessera_core::clock::ClockStatus::Unknown { reason } = &status {
        eprintln!(
            "warning: the time is unknown ({reason}): Tessera cannot check that a sign-in \
             request is still valid, so the expiry check rests on the server."
        );
    } else {
        clock::report(&status);
    }
    Ok(keeper.push_clock())
}

/// Replaces control characters (terminal escapes from a hostile site or
/// server) before text is printed.
pub(crate) fn clean(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_control() { '?' } else { c })
        .collect()
}

// ------------------------------------------------------------------ pair

fn pair(global: &Global, args: PairArgs) -> Result<(), CliError> {
    let text = match (&args.uri, &args.qr) {
        (_, Some(image)) => qr::decode_image(image)?
            .into_iter()
            .find(|t| t.to_ascii_lowercase().starts_with("tessera-push:"))
            .ok_or_else(|| {
                CliError::bad_input(format!(
                    "{}: the QR code is not a Tessera pairing code (tessera-push://pair?…)",
                    image.display()
                ))
            })?,
        (Some(uri), None) if uri == "-" => {
            let mut text = String::new();
            std::io::stdin()
                .read_to_string(&mut text)
                .map_err(|e| CliError::failure(format!("cannot read stdin: {e}")))?;
            text.trim().to_string()
        }
        (Some(uri), None) => uri.trim().to_string(),
        (None, None) => {
            return Err(CliError::bad_input(
                "give a tessera-push:// URI or --qr IMAGE",
            ));
        }
    };
    let uri = PairingUri::parse(&text)
        .map_err(|e| CliError::bad_input(format!("invalid pairing URI: {e}")))?;
    let name = match &args.name {
        Some(name) => name.clone(),
        None => default_device_name(),
    };
    let mut vault = open::open_or_create(global)?;
    // Checked first: a pairing that cannot be stored must not use up the
    // site's one-time code.
    vault.pairing_target(&uri.issuer, &uri.account)?;
    let clock = push_clock(global)?;
    let runtime = runtime()?;
    let part = runtime.block_on(tessera_core::push::pair(
        &Http::native(),
        &uri,
        &name,
        &Delivery::Stream,
        clock.now_secs(),
    ))?;
    let (server, device_id) = (part.server.clone(), part.device_id.clone());
    let client = PushClient::new(Http::native(), &part, Arc::clone(&clock));
    let (id, attached) = match vault.add_pairing(&uri.issuer, &uri.account, part) {
        Ok(placed) => placed,
        Err(error) => {
            // The server knows a device whose key is now lost: revoke it.
            if let Ok(client) = client {
                let _ = runtime.block_on(async {
                    tokio::time::timeout(UNPAIR_TIMEOUT, client.unpair()).await
                });
            }
            return Err(error.into());
        }
    };
    let name = vault
        .get(&id)
        .map(Account::display_name)
        .unwrap_or_default();
    println!(
        "Paired {} with {} (device id {device_id}){}.",
        clean(&name),
        clean(&server),
        if attached { ", beside its codes" } else { "" }
    );
    eprintln!("`tessera push listen` waits for its sign-in requests.");
    Ok(())
}

pub(crate) fn default_device_name() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .or_else(|_| std::fs::read_to_string("/etc/hostname"))
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .or_else(|| std::env::var("COMPUTERNAME").ok())
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty());
    let name = match host {
        Some(host) => format!("Tessera on {host}"),
        None => "Tessera desktop".to_string(),
    };
    clean(&name).chars().take(64).collect()
}

// ------------------------------------------------------------------ list

/// "YYYY-MM-DD HH:MM UTC" for seconds since the epoch.
fn utc_date(secs: u64) -> String {
    let days = i64::try_from(secs / 86_400).unwrap_or(0);
    let rem = secs % 86_400;
    // Howard Hinnant's days-from-civil, inverted.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02} UTC",
        rem / 3600,
        rem % 3600 / 60
    )
}

fn list(vault: &Vault, json: bool) -> Result<(), CliError> {
    #[derive(Serialize)]
    struct Row<'a> {
        id: &'a str,
        issuer: &'a str,
        account: &'a str,
        server: &'a str,
        user: &'a str,
        device_id: &'a str,
        device_name: &'a str,
        paired_at: u64,
        has_codes: bool,
    }
    let rows: Vec<Row<'_>> = vault
        .push_accounts()
        .into_iter()
        .filter_map(|a| {
            let push = a.push.as_ref()?;
            Some(Row {
                id: &a.id,
                issuer: &a.issuer,
                account: &a.label,
                server: &push.server,
                user: &push.user,
                device_id: &push.device_id,
                device_name: &push.device_name,
                paired_at: push.paired_at,
                has_codes: a.otp.is_some(),
            })
        })
        .collect();
    if json {
        return print_json(&rows);
    }
    if rows.is_empty() {
        println!("No account is paired for push: `tessera push pair <tessera-push://…>`.");
    }
    for row in rows {
        println!(
            "{}  {}  — server {}, device {}, paired {}{}",
            clean(row.issuer),
            clean(row.account),
            clean(row.server),
            clean(row.device_id),
            utc_date(row.paired_at),
            if row.has_codes { ", with codes" } else { "" }
        );
    }
    Ok(())
}

// ------------------------------------------------------------------ unpair

/// The one paired account a query names.
fn select_paired<'a>(vault: &'a Vault, query: &str) -> Result<&'a Account, CliError> {
    let account = select(vault, query)?;
    if account.push.is_none() {
        return Err(CliError::bad_input(format!(
            "{} is not paired for push (see `tessera push list`)",
            clean(&account.display_name())
        )));
    }
    Ok(account)
}

fn unpair(global: &Global, query: &str, force: bool) -> Result<(), CliError> {
    let mut vault = open::open(global)?;
    let account = select_paired(&vault, query)?.clone();
    let name = clean(&account.display_name());
    let Some(part) = &account.push else {
        return Err(CliError::bad_input(format!(
            "{name} is not paired for push"
        )));
    };
    let clock = push_clock(global)?;
    let told = match PushClient::new(Http::native(), part, clock) {
        Ok(client) => runtime()?.block_on(async {
            match tokio::time::timeout(UNPAIR_TIMEOUT, client.unpair()).await {
                Ok(result) => result,
                Err(_) => Err(PushError::Timeout {
                    seconds: UNPAIR_TIMEOUT.as_secs(),
                }),
            }
        }),
        Err(error) => Err(error),
    };
    match told {
        Ok(()) => {
            vault.clear_push(&account.id)?;
            println!("Unpaired {name}: the server revoked this device.");
            Ok(())
        }
        Err(error) if force => {
            vault.clear_push(&account.id)?;
            eprintln!("warning: the server could not be told ({error}).");
            println!(
                "Unpaired {name} here only: the site still lists this device until it is revoked there."
            );
            Ok(())
        }
        Err(error) => Err(CliError::new(
            Exit::Failure,
            format!(
                "the server could not be told ({error}); nothing was changed. \
                 Pass --force to remove the pairing here only."
            ),
        )),
    }
}

// ------------------------------------------------------------------ answer

fn outcome_line(outcome: AnswerOutcome) -> String {
    match outcome {
        AnswerOutcome::Approved => "Approved: the sign-in goes ahead.".into(),
        AnswerOutcome::Denied => "Denied.".into(),
        AnswerOutcome::FraudReported => "Denied and reported as fraud: the site is told, and \
             further requests are blocked until it clears the report."
            .into(),
        AnswerOutcome::WrongNumber { attempts_left } => format!(
            "Wrong number: {attempts_left} {} left.",
            if attempts_left == 1 { "try" } else { "tries" }
        ),
        AnswerOutcome::Failed => "Wrong number three times: the request failed.".into(),
        AnswerOutcome::Expired => "The request expired.".into(),
        AnswerOutcome::Finished => "The request was already settled (on another device?).".into(),
    }
}

/// An outcome as the command's result: the user's own decisions succeed,
/// the rest ends with a code a script can test.
fn outcome_result(outcome: AnswerOutcome) -> Result<(), CliError> {
    match outcome {
        AnswerOutcome::Approved | AnswerOutcome::Denied | AnswerOutcome::FraudReported => Ok(()),
        AnswerOutcome::WrongNumber { attempts_left } => Err(CliError::bad_input(format!(
            "wrong number ({attempts_left} left)"
        ))),
        AnswerOutcome::Failed => Err(CliError::failure("the request failed")),
        AnswerOutcome::Expired => Err(CliError::failure("the request expired")),
        AnswerOutcome::Finished => Err(CliError::failure("the request was already settled")),
    }
}

/// Paired accounts, all or those a query names.
fn paired_accounts(vault: &Vault, query: Option<&str>) -> Result<Vec<Account>, CliError> {
    let accounts: Vec<Account> = match query {
        Some(query) => vec![select_paired(vault, query)?.clone()],
        None => vault.push_accounts().into_iter().cloned().collect(),
    };
    if accounts.is_empty() {
        return Err(CliError::not_found(
            "no account is paired for push: `tessera push pair <tessera-push://…>` first",
        ));
    }
    Ok(accounts)
}

fn answer(global: &Global, args: AnswerArgs) -> Result<(), CliError> {
    let decision = if args.approve {
        Decision::Approve
    } else if args.fraud {
        Decision::Fraud
    } else {
        Decision::Deny
    };
    let vault = open::open(global)?;
    let accounts = paired_accounts(&vault, args.account.as_deref())?;
    let clock = push_clock(global)?;
    let runtime = runtime()?;
    let mut last_error = None;
    for account in &accounts {
        let Some(part) = &account.push else { continue };
        let client = PushClient::new(Http::native(), part, Arc::clone(&clock))?;
        let prompt = match runtime.block_on(client.fetch(&args.prompt_id)) {
            Ok(prompt) => prompt,
            // Not this pairing's prompt: try the next one.
            Err(error @ PushError::NotFound { .. }) if accounts.len() > 1 => {
                last_error = Some(error);
                continue;
            }
            Err(PushError::PromptExpired) => {
                println!("{}", outcome_line(AnswerOutcome::Expired));
                return outcome_result(AnswerOutcome::Expired);
            }
            Err(PushError::PromptFinished) => {
                println!("{}", outcome_line(AnswerOutcome::Finished));
                return outcome_result(AnswerOutcome::Finished);
            }
            Err(error @ PushError::UntrustedPrompt { .. }) => {
                return Err(CliError::failure(format!(
                    "{error}; it was not answered (it may be forged: it is not from the server paired with {})",
                    clean(&account.display_name())
                )));
            }
            Err(PushError::DeviceRevoked { reason }) => {
                return Err(revoked_error(&account.display_name(), reason));
            }
            Err(error) => return Err(error.into()),
        };
        describe_prompt(&account.display_name(), &prompt, clock.as_ref());
        let outcome = runtime
            .block_on(client.answer(&prompt, decision, args.number.as_deref()))
            .map_err(|error| match error {
                PushError::DeviceRevoked { reason } => {
                    revoked_error(&account.display_name(), reason)
                }
                other => other.into(),
            })?;
        println!("{}", outcome_line(outcome));
        return outcome_result(outcome);
    }
    Err(last_error.map_or_else(
        || CliError::not_found("no paired account knows this prompt"),
        CliError::from,
    ))
}

/// A command refused `device_revoked` (§9.3), said plainly by the reason
/// the server gives, with what to do about it.
fn revoked_error(name: &str, reason: RevokeReason) -> CliError {
    let name = clean(name);
    CliError::failure(match reason {
        RevokeReason::Handoff => format!(
            "{name}: this device was revoked by the server (handoff): the pairing moved to your \
             new device. `tessera push listen` removes it here."
        ),
        RevokeReason::Replaced => format!(
            "{name}: this device was revoked by the server (replaced): the account was activated \
             on a new device. If that was not you, run `tessera push listen` to report it (within \
             7 days) and contact the site."
        ),
        RevokeReason::Revoked => format!(
            "{name}: this device was revoked by the server (revoked): pair it again, or remove it \
             with `tessera push unpair --force`."
        ),
    })
}

// ------------------------------------------------------------------ listen

/// Prints what a prompt is about, for the user to judge it.
fn describe_prompt(account: &str, prompt: &VerifiedPrompt, clock: &dyn PushClock) {
    let c = &prompt.claims;
    println!();
    println!("Sign-in request from {}", clean(&c.site));
    println!("  account:   {} ({})", clean(&c.user), clean(account));
    let from: Vec<String> = [&c.context.ip, &c.context.location]
        .into_iter()
        .flatten()
        .map(|s| clean(s))
        .collect();
    if !from.is_empty() {
        println!("  from:      {}", from.join(", "));
    }
    if let Some(agent) = &c.context.user_agent {
        println!("  browser:   {}", clean(agent));
    }
    if let Some(app) = &c.context.app {
        println!("  app:       {}", clean(app));
    }
    println!("  prompt id: {}", clean(&c.prompt_id));
    println!("  expires in {} s", prompt.seconds_left(clock.now_secs()));
    if !prompt.time_checked() {
        println!(
            "  note: this device does not know the exact time, so it cannot check that the \
             request is still valid; the server refuses it if it has expired."
        );
    }
}

/// Shows a desktop notification with `notify-send` when it is on PATH;
/// silently nothing otherwise (a headless box, a test).
fn notify(title: &str, body: &str) {
    let Some(path) = std::env::var_os("PATH") else {
        return;
    };
    let Some(program) = std::env::split_paths(&path)
        .map(|dir| dir.join("notify-send"))
        .find(|p| is_executable(p))
    else {
        return;
    };
    if let Ok(mut child) = Command::new(program)
        .args(["--app-name=Tessera", title, body])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
    {
        // Reaped in the background so no zombie is left behind.
        std::thread::spawn(move || {
            let _ = child.wait();
        });
    }
}

fn is_executable(path: &Path) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        path.metadata()
            .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
    }
    #[cfg(not(unix))]
    {
        path.is_file()
    }
}

/// One paired account being listened to.
struct Source {
    name: String,
    /// The vault account holding the pairing.
    account_id: String,
    client: PushClient,
    /// Whether it connected once (the next `Connected` is a reconnect).
    connected: bool,
    /// Revoked: its stream is over.
    revoked: bool,
    /// The revocation was dealt with as the user wanted (moved to a new
    /// device, or a replacement answered): not a failure.
    settled: bool,
}

/// The state of `tessera push listen`.
struct Listener {
    sources: Vec<Source>,
    events: mpsc::Receiver<(usize, PushEvent)>,
    lines: mpsc::Receiver<String>,
    queue: VecDeque<(usize, VerifiedPrompt)>,
    seen: HashSet<(usize, String)>,
    clock: Arc<dyn PushClock>,
    terminal: bool,
    /// A prompt came already expired: with `--once`, that settles it.
    expired_on_arrival: bool,
    /// Revocations to deal with (source, reason), in arrival order.
    revocations: VecDeque<(usize, String)>,
    /// To change the vault when a pairing moved or was replaced.
    global: Global,
}

/// What waiting for a line of input gave.
enum Input {
    Line(String),
    /// stdin is closed.
    Closed,
    /// The prompt expired (by the best known time) first.
    Expired,
    /// The prompt's device was revoked meanwhile.
    Revoked,
}

impl Listener {
    /// Handles one stream event; a prompt is queued.
    fn on_event(&mut self, index: usize, event: PushEvent) {
        let Some(source) = self.sources.get_mut(index) else {
            return;
        };
        let name = clean(&source.name);
        match event {
            PushEvent::Connected if source.connected => {
                eprintln!("{name}: reconnected to {}", clean(source.client.server()));
            }
            PushEvent::Connected => {
                source.connected = true;
                eprintln!(
                    "{name}: listening for sign-in requests from {}",
                    clean(source.client.server())
                );
            }
            PushEvent::Disconnected { error, retry_in } => eprintln!(
                "{name}: connection lost ({error}); retrying in {:.1} s",
                retry_in.as_secs_f64()
            ),
            PushEvent::Rejected(PushError::PromptExpired) => {
                println!(
                    "A sign-in request for {name} arrived already expired (by this device's \
                     clock); it was not shown."
                );
                println!("{}", outcome_line(AnswerOutcome::Expired));
                self.expired_on_arrival = true;
            }
            PushEvent::Rejected(error) => eprintln!(
                "warning: {name}: {error}. It was not shown: it may be forged (only requests \
                 signed by the server key pinned at pairing are shown)."
            ),
            PushEvent::Revoked { reason } => {
                if !source.revoked {
                    source.revoked = true;
                    self.revocations.push_back((index, reason));
                }
            }
            PushEvent::Prompt(prompt) => {
                if self.seen.insert((index, prompt.id().to_string())) {
                    self.queue.push_back((index, *prompt));
                }
            }
        }
    }

    fn all_revoked(&self) -> bool {
        self.sources.iter().all(|s| s.revoked)
    }

    /// Deals with the revocations received so far (§9): a hand-off removes
    /// the pairing here; a replacement asks whether it was the user's
    /// doing, and "no" reports it to the server.
    async fn settle_revocations(&mut self) {
        while let Some((index, reason)) = self.revocations.pop_front() {
            let Some(source) = self.sources.get(index) else {
                continue;
            };
            let name = clean(&source.name);
            let account_id = source.account_id.clone();
            let client = source.client.clone();
            let settled = match reason.as_str() {
                "handoff" => {
                    println!(
                        "{name}: moved to your new device; this device no longer answers its sign-in requests."
                    );
                    self.remove_pairing(&account_id, &name);
                    true
                }
                "replaced" => self.ask_replaced(&client, &account_id, &name).await,
                other => {
                    eprintln!(
                        "{name}: this device was revoked by the server ({}): pair again, or remove \
                         it with `tessera push unpair --force`.",
                        clean(other)
                    );
                    false
                }
            };
            if let Some(source) = self.sources.get_mut(index) {
                source.settled = settled;
            }
        }
    }

    /// The replaced device's question: "yes" forgets the pairing here,
    /// "no" (the default) reports it to the server, which blocks prompts
    /// for the account until the site checks.
    async fn ask_replaced(&mut self, client: &PushClient, account_id: &str, name: &str) -> bool {
        println!("{name}: this account was activated on a new device — was this you? [y/N] ");
        let _ = std::io::stdout().flush();
        let answer = tokio::time::timeout(Duration::from_secs(600), self.lines.recv())
            .await
            .ok()
            .flatten()
            .unwrap_or_default();
        if matches!(answer.trim().to_ascii_lowercase().as_str(), "y" | "yes") {
            self.remove_pairing(account_id, name);
            println!(
                "{name}: fine — the pairing was removed here; the new device answers from now on."
            );
            return true;
        }
        match client.report_replaced().await {
            Ok(()) => {
                println!(
                    "{name}: reported. The site was told the new device is not yours: sign-in \
                     requests for this account are blocked until the site checks it. Contact the site."
                );
                true
            }
            Err(error) => {
                eprintln!(
                    "{name}: the report could not be sent ({error}). Contact the site at once: \
                     someone else may have activated your account on their device."
                );
                false
            }
        }
    }

    fn remove_pairing(&self, account_id: &str, name: &str) {
        let removed = open::open(&self.global)
            .and_then(|mut vault| vault.clear_push(account_id).map_err(CliError::from));
        match removed {
            Ok(true) => println!("{name}: removed here (it had no codes)."),
            Ok(false) => println!("{name}: its pairing was removed here; its codes stay."),
            Err(error) => eprintln!(
                "warning: {name}: the pairing could not be removed here ({error}); \
                 remove it with `tessera push unpair --force`."
            ),
        }
    }

    /// Waits for a line while still following the streams, until `exp`.
    async fn read_line(&mut self, index: usize, question: &str, exp: u64) -> Input {
        if self.terminal {
            eprint!("{question}");
            use std::io::Write as _;
            let _ = std::io::stderr().flush();
        }
        loop {
            // One second of grace: the server has the last word on expiry.
            let left = exp.saturating_sub(self.clock.now_secs()) + 1;
            let deadline = tokio::time::sleep(Duration::from_secs(left));
            tokio::select! {
                line = self.lines.recv() => {
                    return line.map_or(Input::Closed, Input::Line);
                }
                event = self.events.recv() => {
                    if let Some((i, event)) = event {
                        self.on_event(i, event);
                        if self.sources.get(index).is_some_and(|s| s.revoked) {
                            return Input::Revoked;
                        }
                    }
                }
                () = deadline => {
                    if self.clock.now_secs() > exp {
                        return Input::Expired;
                    }
                }
            }
        }
    }

    /// Shows a prompt and answers it; returns the final outcome, or `None`
    /// when it was left unanswered (input closed, device revoked).
    async fn handle(&mut self, index: usize, prompt: VerifiedPrompt) -> Option<AnswerOutcome> {
        let name = self.sources.get(index)?.name.clone();
        let client = self.sources.get(index)?.client.clone();
        let exp = prompt.claims.exp;
        describe_prompt(&name, &prompt, self.clock.as_ref());
        notify(
            &format!("Sign-in request: {}", clean(&prompt.claims.site)),
            &format!("{} — open Tessera to answer", clean(&prompt.claims.user)),
        );
        loop {
            let choices = prompt.choices().map(<[String]>::to_vec);
            let question = match (&choices, prompt.claims.mode) {
                (Some(choices), PromptMode::Choice) => {
                    println!(
                        "Which number does the login page show?  1) {}  2) {}  3) {}",
                        choices.first().map_or("", |s| s.as_str()),
                        choices.get(1).map_or("", |s| s.as_str()),
                        choices.get(2).map_or("", |s| s.as_str())
                    );
                    "Pick 1-3 or type the number (empty to deny): "
                }
                _ => "Type the number shown on the login page (empty to deny): ",
            };
            let number = match self.read_line(index, question, exp).await {
                Input::Line(line) => line.trim().to_string(),
                other => return self.unanswered(other),
            };
            let number = match (&choices, number.as_str()) {
                (Some(choices), "1" | "2" | "3") => number
                    .parse::<usize>()
                    .ok()
                    .and_then(|i| choices.get(i - 1).cloned())
                    .unwrap_or(number),
                _ => number,
            };
            let decision = loop {
                let question = if number.is_empty() {
                    "Deny, or report fraud? [deny/fraud]: "
                } else {
                    "Approve, deny, or report fraud? [approve/deny/fraud]: "
                };
                let line = match self.read_line(index, question, exp).await {
                    Input::Line(line) => line,
                    other => return self.unanswered(other),
                };
                match line.trim().to_ascii_lowercase().as_str() {
                    "approve" | "a" | "yes" | "y" => break Decision::Approve,
                    "deny" | "d" | "no" | "n" => break Decision::Deny,
                    "fraud" | "f" | "report" => break Decision::Fraud,
                    other => eprintln!(
                        "\"{}\" is not an answer: type approve, deny or fraud",
                        clean(other)
                    ),
                }
            };
            if decision == Decision::Approve && number.is_empty() {
                eprintln!("A number is needed to approve: type the one the login page shows.");
                continue;
            }
            let number = (!number.is_empty()).then_some(number);
            match self
                .send(&client, &prompt, decision, number.as_deref())
                .await
            {
                Ok(outcome) => {
                    println!("{}", outcome_line(outcome));
                    if outcome.is_final() {
                        return Some(outcome);
                    }
                }
                Err(error @ PushError::InvalidAnswer { .. }) => eprintln!("{error}"),
                // Revoked before the stream said so: dealt with as if it had.
                Err(error @ PushError::DeviceRevoked { reason }) => {
                    eprintln!("The answer could not be sent: {error}");
                    self.on_event(
                        index,
                        PushEvent::Revoked {
                            reason: reason.as_str().into(),
                        },
                    );
                    return None;
                }
                Err(error) => {
                    eprintln!("The answer could not be sent: {error}");
                    return None;
                }
            }
        }
    }

    fn unanswered(&self, input: Input) -> Option<AnswerOutcome> {
        match input {
            Input::Expired => {
                println!("{}", outcome_line(AnswerOutcome::Expired));
                Some(AnswerOutcome::Expired)
            }
            Input::Closed => {
                eprintln!("No more input: the request was left unanswered.");
                None
            }
            Input::Revoked | Input::Line(_) => None,
        }
    }

    /// Sends an answer, retrying while the network will not carry it (the
    /// server restarting, say) and the prompt is still valid.
    async fn send(
        &mut self,
        client: &PushClient,
        prompt: &VerifiedPrompt,
        decision: Decision,
        number: Option<&str>,
    ) -> Result<AnswerOutcome, PushError> {
        let started = std::time::Instant::now();
        let mut wait = Duration::from_millis(500);
        loop {
            match client.answer(prompt, decision, number).await {
                Err(error @ (PushError::Network { .. } | PushError::Timeout { .. }))
                    if started.elapsed() < ANSWER_RETRY
                        && self.clock.now_secs() < prompt.claims.exp =>
                {
                    eprintln!(
                        "The server cannot be reached ({error}); trying again in {:.1} s",
                        wait.as_secs_f64()
                    );
                    tokio::time::sleep(wait).await;
                    wait = (wait * 2).min(Duration::from_secs(4));
                }
                other => return other,
            }
        }
    }
}

fn spawn_stdin_reader() -> mpsc::Receiver<String> {
    let (sender, receiver) = mpsc::channel(16);
    std::thread::spawn(move || {
        let stdin = std::io::stdin();
        for line in stdin.lock().lines() {
            let Ok(line) = line else { break };
            if sender.blocking_send(line).is_err() {
                break;
            }
        }
    });
    receiver
}

fn listen(global: &Global, args: ListenArgs) -> Result<(), CliError> {
    let vault = open::open(global)?;
    let accounts = paired_accounts(&vault, args.account.as_deref())?;
    drop(vault);
    let clock = push_clock(global)?;
    let mut sources = Vec::new();
    for account in &accounts {
        let Some(part) = &account.push else { continue };
        match PushClient::new(Http::native(), part, Arc::clone(&clock)) {
            Ok(client) => sources.push(Source {
                name: account.display_name(),
                account_id: account.id.clone(),
                client,
                connected: false,
                revoked: false,
                settled: false,
            }),
            // One unusable pairing must not silence the others.
            Err(error) if accounts.len() > 1 => eprintln!(
                "warning: {}: {error}; not listening for it",
                clean(&account.display_name())
            ),
            Err(error) => return Err(error.into()),
        }
    }
    if sources.is_empty() {
        return Err(CliError::failure("no paired account can be listened to"));
    }
    let terminal = std::io::stdin().is_terminal();
    runtime()?.block_on(async move {
        let (sender, events) = mpsc::channel(64);
        for (index, source) in sources.iter().enumerate() {
            let mut subscription = source.client.subscribe();
            let sender = sender.clone();
            tokio::spawn(async move {
                while let Some(event) = subscription.next().await {
                    if sender.send((index, event)).await.is_err() {
                        break;
                    }
                }
            });
        }
        drop(sender);
        let mut listener = Listener {
            sources,
            events,
            lines: spawn_stdin_reader(),
            queue: VecDeque::new(),
            seen: HashSet::new(),
            clock,
            terminal,
            expired_on_arrival: false,
            revocations: VecDeque::new(),
            global: global.clone(),
        };
        if terminal {
            eprintln!("Waiting for sign-in requests (Ctrl-C quits).");
        }
        loop {
            listener.settle_revocations().await;
            if let Some((index, prompt)) = listener.queue.pop_front() {
                let outcome = listener.handle(index, prompt).await;
                if args.once {
                    listener.settle_revocations().await;
                    return match outcome {
                        Some(outcome) => outcome_result(outcome),
                        None if listener.sources.get(index).is_some_and(|s| s.settled) => Ok(()),
                        None if listener.sources.get(index).is_some_and(|s| s.revoked) => {
                            Err(CliError::failure("this device was revoked by the server"))
                        }
                        None => Err(CliError::failure("the request was left unanswered")),
                    };
                }
                continue;
            }
            if args.once && listener.expired_on_arrival {
                return outcome_result(AnswerOutcome::Expired);
            }
            if listener.all_revoked() {
                if listener.sources.iter().all(|s| s.settled) {
                    return Ok(());
                }
                return Err(CliError::failure(
                    "this device was revoked by the server for every paired account",
                ));
            }
            match listener.events.recv().await {
                Some((index, event)) => listener.on_event(index, event),
                None => {
                    return Err(CliError::failure("every prompt stream has ended"));
                }
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_are_utc() {
        assert_eq!(utc_date(0), "1970-01-01 00:00 UTC");
        assert_eq!(utc_date(951_782_400), "2000-02-29 00:00 UTC");
        assert_eq!(utc_date(1_795_000_000), "2026-11-18 11:06 UTC");
    }

    #[test]
    fn control_characters_never_reach_the_terminal() {
        assert_eq!(clean("a\x1b[31mb\n"), "a?[31mb?");
    }
}
