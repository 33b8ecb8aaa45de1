//! What each command does.

use std::io::{IsTerminal, Read, Write};
use std::time::Duration;

use serde::Serialize;
use tessera_core::{Account, Code, OtpKind, OtpauthUri, Timestamp, Vault};

use crate::cli::{AddArgs, Cli, Command, Global, TimeAction, TimeArgs, VaultCommand};
use crate::clock::{self, TimeKeeper};
use crate::config;
use crate::error::CliError;
use crate::open;
use crate::qr;

/// The demo account: the RFC 6238 test seed, so its codes can be checked
/// with any other tool (`oathtool --totp -b GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ`).
const DEMO_URI: &str = "otpauth://totp/Tessera%20Demo:demo%40tessera.example?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&issuer=Tessera%20Demo";

/// Runs one parsed command line.
pub fn run(cli: Cli) -> Result<(), CliError> {
    let global = &cli.global;
    match cli.command {
        Command::Demo => demo(global),
        Command::Add(args) => add(global, args),
        Command::List { json } => list(&open::open(global)?, json),
        Command::Code { query, json } => code(global, query.as_deref(), json),
        Command::Watch { query, frames } => {
            let vault = open::open(global)?;
            watch(&vault, &mut time_keeper(global)?, query.as_deref(), frames)
        }
        Command::ShowQr { query } => show_qr(&open::open(global)?, &query),
        Command::Remove { query, yes } => remove(global, &query, yes),
        Command::Rename {
            query,
            issuer,
            label,
        } => rename(global, &query, issuer, label),
        Command::Tag { query, tags } => {
            let mut vault = open::open(global)?;
            let id = select(&vault, &query)?.id.clone();
            vault.set_tags(&id, tags)?;
            Ok(())
        }
        Command::Move { query, position } => {
            let mut vault = open::open(global)?;
            let id = select(&vault, &query)?.id.clone();
            let index = position
                .checked_sub(1)
                .ok_or_else(|| CliError::bad_input("positions start at 1"))?;
            vault.move_to(&id, index)?;
            Ok(())
        }
        Command::Vault(command) => vault_command(global, command),
        Command::Time(args) => time_command(global, args),
        Command::Import(args) => crate::transfer::import(global, args),
        Command::Export(args) => crate::transfer::export(global, args),
        Command::Push(command) => crate::push::run(global, command),
        Command::Transfer(command) => crate::device_transfer::run(global, command),
        Command::Backup { out } => crate::transfer::backup(global, out),
    }
}

pub(crate) fn time_keeper(global: &Global) -> Result<TimeKeeper, CliError> {
    TimeKeeper::new(
        &open::vault_path(global)?,
        &config::load()?,
        global.no_time_correction,
    )
}

/// The instant for codes, after re-checking the time if it is due, with
/// what the clock means for them said on stderr.
fn code_time(keeper: &mut TimeKeeper) -> Timestamp {
    keeper.refresh_if_needed();
    let (now, status) = keeper.now();
    clock::report(&status);
    now
}

/// The one account a query names; several matches are an error listing them.
pub(crate) fn select<'a>(vault: &'a Vault, query: &str) -> Result<&'a Account, CliError> {
    let found = vault.find(query);
    match found.as_slice() {
        [] => Err(CliError::not_found(format!(
            "no account matches \"{query}\" (see `tessera list`)"
        ))),
        [one] => Ok(one),
        many => Err(CliError::bad_input(format!(
            "\"{query}\" matches {} accounts ({}); be more specific or use the id",
            many.len(),
            many.iter()
                .take(5)
                .map(|a| a.display_name())
                .collect::<Vec<_>>()
                .join(", ")
        ))),
    }
}

fn describe(account: &Account) -> String {
    let codes = describe_codes(account);
    match (&account.otp, &account.push) {
        (Some(_), Some(_)) => format!("{codes} + push"),
        _ => codes,
    }
}

fn describe_codes(account: &Account) -> String {
    match &account.otp {
        None => "push only".to_string(),
        Some(otp) => {
            let p = otp.params;
            match p.kind {
                OtpKind::Totp => {
                    format!("TOTP {}, {} digits, {} s", p.algorithm, p.digits, p.period)
                }
                OtpKind::Hotp => format!(
                    "HOTP {}, {} digits, counter {}",
                    p.algorithm, p.digits, p.counter
                ),
                OtpKind::Steam => format!("Steam, {} s", p.period),
            }
        }
    }
}

fn demo(global: &Global) -> Result<(), CliError> {
    let mut vault = open::open_or_create(global)?;
    let parsed = OtpauthUri::parse(DEMO_URI)?;
    let demo = Account::from_uri(parsed.uri, vault_clock_secs());
    if !vault.accounts().iter().any(|a| a.same_identity(&demo)) {
        vault.add(demo)?;
        eprintln!("Added the demo account (its secret is the public RFC 6238 test seed).");
    }
    let mut keeper = time_keeper(global)?;
    if std::io::stdout().is_terminal() {
        eprintln!("Live codes follow; Ctrl-C quits. Try `tessera --help` next.");
        watch(&vault, &mut keeper, None, None)
    } else {
        let now = code_time(&mut keeper);
        print_codes(&vault, None, false, now)
    }
}

fn add(global: &Global, args: AddArgs) -> Result<(), CliError> {
    let texts = match (&args.uri, &args.qr) {
        (_, Some(image)) => qr::decode_image(image)?,
        (Some(uri), None) if uri == "-" => {
            let mut text = String::new();
            std::io::stdin()
                .read_to_string(&mut text)
                .map_err(|e| CliError::failure(format!("cannot read stdin: {e}")))?;
            text.lines()
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .map(String::from)
                .collect()
        }
        (Some(uri), None) => vec![uri.clone()],
        (None, None) => return Err(CliError::bad_input("give an otpauth:// URI or --qr IMAGE")),
    };
    if texts.is_empty() {
        return Err(CliError::bad_input("no URI was given"));
    }
    // Parse everything first: nothing is added unless every URI is valid.
    let mut accounts = Vec::new();
    for text in &texts {
        let parsed = OtpauthUri::parse(text)?;
        for warning in &parsed.warnings {
            eprintln!("warning: {warning}");
        }
        let mut account = Account::from_uri(parsed.uri, vault_clock_secs());
        account.tags = args.tags.clone();
        accounts.push(account);
    }
    let mut vault = open::open_or_create(global)?;
    for account in accounts {
        let summary = format!("{} — {}", account.display_name(), describe(&account));
        vault.add(account)?;
        println!("Added {summary}");
    }
    Ok(())
}

fn list(vault: &Vault, json: bool) -> Result<(), CliError> {
    #[derive(Serialize)]
    struct Row<'a> {
        position: usize,
        id: &'a str,
        issuer: &'a str,
        label: &'a str,
        kind: &'static str,
        details: String,
        tags: &'a [String],
    }
    let rows: Vec<Row<'_>> = vault
        .accounts()
        .iter()
        .enumerate()
        .map(|(i, a)| Row {
            position: i + 1,
            id: &a.id,
            issuer: &a.issuer,
            label: &a.label,
            kind: a.otp.as_ref().map_or("push", |o| kind_name(o.params.kind)),
            details: describe(a),
            tags: &a.tags,
        })
        .collect();
    if json {
        return print_json(&rows);
    }
    if rows.is_empty() {
        println!("No accounts yet: `tessera add <otpauth-uri>` or `tessera add --qr <image>`.");
    }
    for row in rows {
        let tags = if row.tags.is_empty() {
            String::new()
        } else {
            format!("  [{}]", row.tags.join(", "))
        };
        let name = vault.accounts()[row.position - 1].display_name();
        println!(
            "{:>3}. {name}  — {}  (id {}){tags}",
            row.position,
            row.details,
            &row.id[..8]
        );
    }
    Ok(())
}

fn kind_name(kind: OtpKind) -> &'static str {
    match kind {
        OtpKind::Totp => "totp",
        OtpKind::Hotp => "hotp",
        OtpKind::Steam => "steam",
    }
}

pub(crate) fn print_json<T: Serialize>(value: &T) -> Result<(), CliError> {
    let text = serde_json::to_string_pretty(value)
        .map_err(|e| CliError::failure(format!("cannot encode JSON: {e}")))?;
    println!("{text}");
    Ok(())
}

#[derive(Serialize)]
struct CodeRow {
    id: String,
    issuer: String,
    label: String,
    kind: &'static str,
    code: String,
    counter: u64,
    valid_from: Option<u64>,
    valid_until: Option<u64>,
    seconds_left: Option<u64>,
}

fn code_row(account: &Account, code: &Code, now: Timestamp) -> CodeRow {
    CodeRow {
        id: account.id.clone(),
        issuer: account.issuer.clone(),
        label: account.label.clone(),
        kind: account
            .otp
            .as_ref()
            .map_or("push", |o| kind_name(o.params.kind)),
        code: code.value.clone(),
        counter: code.counter,
        valid_from: code.validity.map(|v| v.from.unix_secs()),
        valid_until: code.validity.map(|v| v.until.unix_secs()),
        seconds_left: code.seconds_left(now),
    }
}

fn code(global: &Global, query: Option<&str>, json: bool) -> Result<(), CliError> {
    let mut vault = open::open(global)?;
    let mut keeper = time_keeper(global)?;
    let Some(query) = query else {
        let now = code_time(&mut keeper);
        return print_codes(&vault, None, json, now);
    };
    let account = select(&vault, query)?.clone();
    let is_hotp_account = account
        .otp
        .as_ref()
        .is_some_and(|o| o.params.kind == OtpKind::Hotp);
    // HOTP codes do not depend on time: no need to check the clock for them.
    let now = if is_hotp_account {
        keeper.now().0
    } else {
        code_time(&mut keeper)
    };
    let is_hotp = account
        .otp
        .as_ref()
        .is_some_and(|o| o.params.kind == OtpKind::Hotp);
    let code = if is_hotp {
        vault.next_hotp_code(&account.id)?
    } else {
        vault.code_at(&account.id, now)?
    };
    if json {
        return print_json(&code_row(&account, &code, now));
    }
    println!("{}", code.value);
    match code.seconds_left(now) {
        Some(left) => eprintln!("{} — valid for {left} s", account.display_name()),
        None => eprintln!(
            "{} — counter {} (saved)",
            account.display_name(),
            code.counter
        ),
    }
    Ok(())
}

fn print_codes(
    vault: &Vault,
    query: Option<&str>,
    json: bool,
    now: Timestamp,
) -> Result<(), CliError> {
    let matching: Option<Vec<&str>> =
        query.map(|q| vault.find(q).into_iter().map(|a| a.id.as_str()).collect());
    let codes: Vec<(&Account, Option<Code>)> = vault
        .codes_at(now)
        .into_iter()
        .filter(|(a, _)| {
            matching
                .as_ref()
                .is_none_or(|ids| ids.contains(&a.id.as_str()))
        })
        .collect();
    if json {
        let rows: Vec<CodeRow> = codes
            .iter()
            .filter_map(|(a, c)| c.as_ref().map(|c| code_row(a, c, now)))
            .collect();
        return print_json(&rows);
    }
    if codes.is_empty() {
        println!("No accounts yet: `tessera add <otpauth-uri>` or `tessera add --qr <image>`.");
    }
    for (account, code) in codes {
        println!("{}", code_line(account, code.as_ref(), now));
    }
    Ok(())
}

fn code_line(account: &Account, code: Option<&Code>, now: Timestamp) -> String {
    match code {
        Some(code) => {
            let left = code.seconds_left(now).unwrap_or(0);
            let period = code
                .validity
                .map_or(1, |v| (v.until.unix_secs() - v.from.unix_secs()).max(1));
            format!(
                "{:>10}  {} {:>2}s  {}",
                code.value,
                countdown_bar(left, period),
                left,
                account.display_name()
            )
        }
        None if account.otp.is_some() => format!(
            "{:>10}  {:16}  {}  (HOTP: `tessera code` with its name takes the next code)",
            "------",
            "",
            account.display_name()
        ),
        None => format!("{:>10}  {:16}  {}", "(push)", "", account.display_name()),
    }
}

fn countdown_bar(left: u64, period: u64) -> String {
    const WIDTH: u64 = 10;
    let filled = (left * WIDTH).div_ceil(period).min(WIDTH);
    format!(
        "[{}{}]",
        "#".repeat(filled as usize),
        ".".repeat((WIDTH - filled) as usize)
    )
}

fn watch(
    vault: &Vault,
    keeper: &mut TimeKeeper,
    query: Option<&str>,
    frames: Option<u32>,
) -> Result<(), CliError> {
    let terminal = std::io::stdout().is_terminal();
    let mut shown = 0u32;
    keeper.refresh_if_needed();
    let mut last_check = std::time::Instant::now();
    loop {
        // A wall-clock change while watching shows up here; re-check then,
        // but at most once a minute when the sources keep failing.
        if last_check.elapsed() >= Duration::from_secs(60)
            && keeper.estimate().is_some_and(|e| {
                e.assess(&tessera_core::clock::ClockReading::now())
                    .wall_clock_change_micros
                    .is_some()
            })
        {
            keeper.refresh_if_needed();
            last_check = std::time::Instant::now();
        }
        let (now, status) = keeper.now();
        let mut out = std::io::stdout().lock();
        if terminal {
            // Home the cursor and clear, so the view redraws in place.
            let _ = write!(out, "\x1b[H\x1b[2J");
        }
        let _ = writeln!(out, "Tessera — {} account(s)", vault.accounts().len());
        if !matches!(status, tessera_core::clock::ClockStatus::InSync { .. }) {
            let _ = writeln!(out, "clock: {status}");
        }
        drop(out);
        print_codes(vault, query, false, now)?;
        let _ = std::io::stdout().flush();
        shown += 1;
        if frames.is_some_and(|limit| shown >= limit) {
            return Ok(());
        }
        // Wake just after the next whole second, when a countdown changes.
        let into_second = keeper.now().0.unix_millis() % 1000;
        std::thread::sleep(Duration::from_millis(1000 - into_second + 5));
    }
}

fn show_qr(vault: &Vault, query: &str) -> Result<(), CliError> {
    let account = select(vault, query)?;
    let uri = account.to_uri().ok_or_else(|| {
        CliError::bad_input(format!(
            "{} has no OTP secret to show",
            account.display_name()
        ))
    })?;
    eprintln!(
        "warning: this QR code contains the secret of {}: anyone who sees or photographs it can make its codes.",
        account.display_name()
    );
    println!("{}", qr::render_terminal(&uri)?);
    println!("{}", account.display_name());
    Ok(())
}

fn remove(global: &Global, query: &str, yes: bool) -> Result<(), CliError> {
    let mut vault = open::open(global)?;
    let account = select(&vault, query)?.clone();
    if !yes {
        if !std::io::stdin().is_terminal() {
            return Err(CliError::bad_input(
                "removing needs confirmation: run in a terminal or pass --yes",
            ));
        }
        eprint!(
            "Remove {}? Its codes cannot be recovered unless the site lets you enroll again. [y/N] ",
            account.display_name()
        );
        let mut answer = String::new();
        std::io::stdin()
            .read_line(&mut answer)
            .map_err(|e| CliError::failure(format!("cannot read the answer: {e}")))?;
        if !matches!(answer.trim(), "y" | "Y" | "yes") {
            eprintln!("Nothing removed.");
            return Ok(());
        }
    }
    vault.remove(&account.id)?;
    println!("Removed {}", account.display_name());
    Ok(())
}

fn rename(
    global: &Global,
    query: &str,
    issuer: Option<String>,
    label: Option<String>,
) -> Result<(), CliError> {
    if issuer.is_none() && label.is_none() {
        return Err(CliError::bad_input("give --issuer and/or --label"));
    }
    let mut vault = open::open(global)?;
    let id = select(&vault, query)?.id.clone();
    vault.rename(&id, issuer, label)?;
    if let Some(account) = vault.get(&id) {
        println!("Renamed to {}", account.display_name());
    }
    Ok(())
}

fn vault_command(global: &Global, command: VaultCommand) -> Result<(), CliError> {
    match command {
        VaultCommand::Status { json } => {
            let vault = open::open(global)?;
            let status = vault.status();
            if json {
                #[derive(Serialize)]
                struct Slot<'a> {
                    kind: &'a str,
                    detail: &'a str,
                }
                #[derive(Serialize)]
                struct Status<'a> {
                    path: String,
                    format_version: u32,
                    vault_id: &'a str,
                    generation: u64,
                    accounts: usize,
                    slots: Vec<Slot<'a>>,
                }
                return print_json(&Status {
                    path: status.path.display().to_string(),
                    format_version: status.format_version,
                    vault_id: &status.vault_id,
                    generation: status.generation,
                    accounts: status.accounts,
                    slots: status
                        .slots
                        .iter()
                        .map(|s| Slot {
                            kind: s.kind,
                            detail: &s.detail,
                        })
                        .collect(),
                });
            }
            println!("Vault:     {}", status.path.display());
            println!("Format:    version {}", status.format_version);
            println!("Accounts:  {}", status.accounts);
            println!("Writes:    {}", status.generation);
            println!("Unlocked:  {:?}", vault.opened_with());
            for slot in &status.slots {
                println!("Slot:      {:<9} {}", slot.kind, slot.detail);
            }
            if !status.slots.iter().any(|s| s.kind == "password") {
                println!("Tip: `tessera vault set-password` adds a password as a second way in.");
            }
            Ok(())
        }
        VaultCommand::SetPassword => {
            let mut vault = open::open(global)?;
            let password = open::new_password("TESSERA_NEW_PASSWORD")?;
            vault.set_password(&password, tessera_core::KdfParams::default())?;
            println!("The vault password is set.");
            Ok(())
        }
        VaultCommand::RecoveryKey => {
            let mut vault = open::open(global)?;
            let key = vault.new_recovery_key()?;
            open::print_recovery_key(key.expose());
            println!("A new recovery key was made; the old one no longer works.");
            Ok(())
        }
    }
}

/// Seconds since the epoch from the system clock, for account metadata
/// (when it was added), never for codes.
fn vault_clock_secs() -> u64 {
    u64::try_from(tessera_core::clock::ClockReading::now().system_micros / 1_000_000).unwrap_or(0)
}

fn millis(micros: i64) -> f64 {
    (micros as f64 / 1000.0 * 1000.0).round() / 1000.0
}

#[derive(Serialize)]
struct SampleJson {
    source: String,
    kind: tessera_core::clock::SourceKind,
    offset_ms: f64,
    uncertainty_ms: f64,
    round_trip_ms: f64,
    detail: String,
    rejected: Option<String>,
}

impl SampleJson {
    fn new(sample: &tessera_core::clock::TimeSample, rejected: Option<&str>) -> Self {
        Self {
            source: sample.source.clone(),
            kind: sample.kind,
            offset_ms: millis(sample.offset_micros),
            uncertainty_ms: millis(sample.uncertainty_micros as i64),
            round_trip_ms: millis(sample.round_trip_micros as i64),
            detail: sample.detail.clone(),
            rejected: rejected.map(String::from),
        }
    }

    fn line(&self) -> String {
        let verdict = match &self.rejected {
            Some(reason) => format!("  REJECTED: {reason}"),
            None => String::new(),
        };
        format!(
            "  {:<34} {:+12.3} ms ± {:.3} ms  (round trip {:.3} ms; {}){verdict}",
            self.source, self.offset_ms, self.uncertainty_ms, self.round_trip_ms, self.detail
        )
    }
}

#[derive(Serialize)]
struct TimeJson {
    state: &'static str,
    message: String,
    correction: bool,
    offset_ms: Option<f64>,
    uncertainty_ms: Option<f64>,
    age_seconds: Option<u64>,
    wall_clock_change_ms: Option<f64>,
    configured_sources: Vec<String>,
    samples: Vec<SampleJson>,
    failures: Vec<FailureJson>,
}

#[derive(Serialize)]
struct FailureJson {
    source: String,
    error: String,
}

fn time_command(global: &Global, args: TimeArgs) -> Result<(), CliError> {
    let mut keeper = time_keeper(global)?;
    if let Some(problem) = &keeper.load_problem {
        eprintln!("note: {problem}");
    }
    let mut failures = Vec::new();
    let mut sync_error = None;
    let mut uncombined = Vec::new();
    if let Some(TimeAction::Sync) = args.action {
        if keeper.sources().is_empty() {
            return Err(CliError::bad_input(
                "no time sources are configured (TESSERA_TIME_SOURCES is empty)",
            ));
        }
        let report = keeper.sync(clock::SYNC_TIMEOUT)?;
        failures = report
            .failures
            .iter()
            .map(|(source, error)| FailureJson {
                source: source.clone(),
                error: error.to_string(),
            })
            .collect();
        if let Err(error) = report.estimate {
            uncombined = report.samples;
            sync_error = Some(error);
        }
    }
    let reading = tessera_core::clock::ClockReading::now();
    let status = keeper.status(&reading);
    let assessment = keeper.estimate().map(|e| e.assess(&reading));
    let mut samples: Vec<SampleJson> = uncombined
        .iter()
        .map(|s| SampleJson::new(s, Some("not combined: no estimate")))
        .collect();
    if let (Some(estimate), None) = (keeper.estimate().as_ref(), &sync_error) {
        samples.extend(estimate.samples.iter().map(|s| SampleJson::new(s, None)));
        samples.extend(
            estimate
                .rejected
                .iter()
                .map(|(s, reason)| SampleJson::new(s, Some(reason))),
        );
    }
    let json = TimeJson {
        state: status.state(),
        message: status.to_string(),
        correction: keeper.correction(),
        offset_ms: assessment.as_ref().map(|a| millis(a.offset_micros)),
        uncertainty_ms: assessment
            .as_ref()
            .map(|a| millis(a.uncertainty_micros as i64)),
        age_seconds: assessment.as_ref().map(|a| a.age_secs),
        wall_clock_change_ms: assessment
            .as_ref()
            .and_then(|a| a.wall_clock_change_micros)
            .map(millis),
        configured_sources: keeper.sources().iter().map(|s| s.describe()).collect(),
        samples,
        failures,
    };
    if args.json {
        print_json(&json)?;
    } else {
        println!("Clock: {}", json.message);
        if let Some(age) = json.age_seconds {
            println!("Last check: {age} s ago");
        }
        if let Some(change) = json.wall_clock_change_ms {
            println!(
                "The wall clock was changed by {:+.3} s since then; the correction accounts for it.",
                change / 1000.0
            );
        }
        if !json.samples.is_empty() {
            println!("Samples (offset = true time minus this clock):");
            for sample in &json.samples {
                println!("{}", sample.line());
            }
        }
        for failure in &json.failures {
            println!("  {:<34} failed: {}", failure.source, failure.error);
        }
        if !keeper.correction() {
            println!("Time correction is off (--no-time-correction or the config file).");
        }
    }
    match sync_error {
        Some(error) => Err(CliError::failure(format!(
            "the time could not be checked: {error}"
        ))),
        None => Ok(()),
    }
}
