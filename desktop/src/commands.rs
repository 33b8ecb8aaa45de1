//! What each command does.

use std::io::{IsTerminal, Read, Write};
use std::time::Duration;

use serde::Serialize;
use tessera_core::{Account, Code, OtpKind, OtpauthUri, Timestamp, Vault};

use crate::cli::{AddArgs, Cli, Command, Global, VaultCommand};
use crate::clock;
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
        Command::Watch { query, frames } => watch(&open::open(global)?, query.as_deref(), frames),
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
    }
}

/// The one account a query names; several matches are an error listing them.
fn select<'a>(vault: &'a Vault, query: &str) -> Result<&'a Account, CliError> {
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
    match &account.otp {
        None => "push only".to_string(),
        Some(otp) => {
            let p = otp.params;
            match p.kind {
                OtpKind::Totp => format!("TOTP {}, {} digits, {} s", p.algorithm, p.digits, p.period),
                OtpKind::Hotp => format!("HOTP {}, {} digits, counter {}", p.algorithm, p.digits, p.counter),
                OtpKind::Steam => format!("Steam, {} s", p.period),
            }
        }
    }
}

fn demo(global: &Global) -> Result<(), CliError> {
    let mut vault = open::open_or_create(global)?;
    let parsed = OtpauthUri::parse(DEMO_URI)?;
    let demo = Account::from_uri(parsed.uri, clock::now().unix_secs());
    if !vault.accounts().iter().any(|a| a.same_identity(&demo)) {
        vault.add(demo)?;
        eprintln!("Added the demo account (its secret is the public RFC 6238 test seed).");
    }
    if std::io::stdout().is_terminal() {
        eprintln!("Live codes follow; Ctrl-C quits. Try `tessera --help` next.");
        watch(&vault, None, None)
    } else {
        print_codes(&vault, None, false)
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
        let mut account = Account::from_uri(parsed.uri, clock::now().unix_secs());
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
        println!("{:>3}. {name}  — {}  (id {}){tags}", row.position, row.details, &row.id[..8]);
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

fn print_json<T: Serialize>(value: &T) -> Result<(), CliError> {
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
        kind: account.otp.as_ref().map_or("push", |o| kind_name(o.params.kind)),
        code: code.value.clone(),
        counter: code.counter,
        valid_from: code.validity.map(|v| v.from.unix_secs()),
        valid_until: code.validity.map(|v| v.until.unix_secs()),
        seconds_left: code.seconds_left(now),
    }
}

fn code(global: &Global, query: Option<&str>, json: bool) -> Result<(), CliError> {
    let mut vault = open::open(global)?;
    let Some(query) = query else {
        return print_codes(&vault, None, json);
    };
    let account = select(&vault, query)?.clone();
    let now = clock::now();
    let is_hotp = account.otp.as_ref().is_some_and(|o| o.params.kind == OtpKind::Hotp);
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
        None => eprintln!("{} — counter {} (saved)", account.display_name(), code.counter),
    }
    Ok(())
}

fn print_codes(vault: &Vault, query: Option<&str>, json: bool) -> Result<(), CliError> {
    let now = clock::now();
    let matching: Option<Vec<&str>> =
        query.map(|q| vault.find(q).into_iter().map(|a| a.id.as_str()).collect());
    let codes: Vec<(&Account, Option<Code>)> = vault
        .codes_at(now)
        .into_iter()
        .filter(|(a, _)| matching.as_ref().is_none_or(|ids| ids.contains(&a.id.as_str())))
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

fn watch(vault: &Vault, query: Option<&str>, frames: Option<u32>) -> Result<(), CliError> {
    let terminal = std::io::stdout().is_terminal();
    let mut shown = 0u32;
    loop {
        let mut out = std::io::stdout().lock();
        if terminal {
            // Home the cursor and clear, so the view redraws in place.
            let _ = write!(out, "\x1b[H\x1b[2J");
        }
        let _ = writeln!(out, "Tessera — {} account(s)", vault.accounts().len());
        drop(out);
        print_codes(vault, query, false)?;
        let _ = std::io::stdout().flush();
        shown += 1;
        if frames.is_some_and(|limit| shown >= limit) {
            return Ok(());
        }
        // Wake just after the next whole second, when a countdown changes.
        let into_second = clock::now().unix_millis() % 1000;
        std::thread::sleep(Duration::from_millis(1000 - into_second + 5));
    }
}

fn show_qr(vault: &Vault, query: &str) -> Result<(), CliError> {
    let account = select(vault, query)?;
    let uri = account
        .to_uri()
        .ok_or_else(|| CliError::bad_input(format!("{} has no OTP secret to show", account.display_name())))?;
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
