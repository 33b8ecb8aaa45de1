//! `tessera transfer receive` / `send` and `tessera push handoff`: moving
//! accounts and push pairings to a new device
//! (`docs/backup-format.md`, "Device-to-device transfer";
//! `docs/push-protocol.md` §9).
//!
//! The new device shows an invite; the old one encrypts to it and leaves
//! the envelope in a mailbox on a Tessera server (or in a file); both show
//! a 6-digit code, and the new device applies nothing until the user says
//! the codes match (or a script passes the code with `--confirm`). Push
//! pairings move by hand-off: the old device signs an authorization for the
//! new device's key, which the new device claims from the push server after
//! the confirmation.

use std::io::{IsTerminal, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use tessera_core::Account;
use tessera_core::http::Http;
use tessera_core::push::{Delivery, HandoffOffer, PushClient, PushClock};
use tessera_core::transfer::device_to_device::{
    self, DeviceTransferError, Invite, Received, Receiver, Rendezvous,
};
use tessera_core::transfer::mailbox::{self, Mailbox, MailboxError};
use tessera_core::transfer::{self, ImportBatch};
use zeroize::Zeroizing;

use crate::cli::{Global, ReceiveArgs, SendArgs, TransferCommand};
use crate::error::{CliError, Exit};
use crate::push::{clean, default_device_name, push_clock, runtime};
use crate::{open, qr};

/// How long a receiver waits for a file envelope (the mailbox's own life
/// elsewhere): the invite's ephemeral key is not worth more.
const FILE_WAIT: Duration = Duration::from_secs(600);

/// Runs one `tessera transfer` command.
pub fn run(global: &Global, command: TransferCommand) -> Result<(), CliError> {
    match command {
        TransferCommand::Receive(args) => receive(global, args),
        TransferCommand::Send(args) => send(global, args, false),
    }
}

/// `tessera push handoff`: only the push pairings, through the same invite.
pub fn push_handoff(global: &Global, args: SendArgs) -> Result<(), CliError> {
    send(global, args, true)
}

fn transfer_error(error: DeviceTransferError) -> CliError {
    CliError::bad_input(error.to_string())
}

fn mailbox_error(error: MailboxError) -> CliError {
    let exit = match &error {
        MailboxError::Used | MailboxError::Gone | MailboxError::Protocol(_) => Exit::BadInput,
        _ => Exit::Failure,
    };
    CliError::new(exit, error.to_string())
}

/// "123 456" is how the code is read aloud; both forms are accepted.
fn normalize_code(code: &str) -> String {
    code.chars().filter(|c| !c.is_whitespace()).collect()
}

// ------------------------------------------------------------------ receive

/// Where the envelope is awaited.
enum Waiting {
    /// Boxed: the HTTP client inside is large.
    Mailbox(Box<Mailbox>),
    File(PathBuf),
}

fn receive(global: &Global, args: ReceiveArgs) -> Result<(), CliError> {
    // Checked before anything starts: a script must be able to confirm.
    match args.confirm.as_deref().map(normalize_code) {
        Some(code)
            if code == "-" || (code.len() == 6 && code.bytes().all(|b| b.is_ascii_digit())) => {}
        Some(_) => {
            return Err(CliError::bad_input(
                "--confirm takes the 6-digit code, or - to read it from stdin once it is shown",
            ));
        }
        None if args.yes || !std::io::stdin().is_terminal() => {
            return Err(CliError::bad_input(
                "without a terminal, pass --confirm - (the code the other device shows is then read \
                 from stdin) or --confirm CODE: --yes alone is not enough",
            ));
        }
        None => {}
    }
    // The vault first: a transfer must not start when it cannot land.
    let mut vault = open::open_or_create(global)?;
    let runtime = runtime()?;
    let waiting = match (&args.server, &args.file) {
        (Some(server), None) => Waiting::Mailbox(Box::new(
            runtime
                .block_on(Mailbox::create(Http::native(), server))
                .map_err(mailbox_error)?,
        )),
        (None, Some(path)) => {
            if path.exists() {
                return Err(CliError::bad_input(format!(
                    "{} already exists: give a path where the other device will write the transfer file",
                    path.display()
                )));
            }
            Waiting::File(path.clone())
        }
        _ => return Err(CliError::bad_input("give --server URL or --file PATH")),
    };
    let rendezvous = match &waiting {
        Waiting::Mailbox(mailbox) => mailbox.rendezvous(),
        Waiting::File(_) => Rendezvous::File,
    };
    let receiver = Receiver::with_push(rendezvous).map_err(transfer_error)?;
    let invite = receiver.invite().to_string();
    println!("{}", qr::render_terminal(&invite)?);
    println!("{invite}");
    let _ = std::io::stdout().flush();
    match &waiting {
        Waiting::Mailbox(_) => eprintln!(
            "On the old device, scan this code (or run `tessera transfer send '<the invite above>'`). \
             Waiting up to 10 minutes; Ctrl-C cancels."
        ),
        Waiting::File(path) => eprintln!(
            "On the old device, run `tessera transfer send '<the invite above>' --file {}` \
             (or carry the file it writes to this path). Waiting up to 10 minutes; Ctrl-C cancels.",
            path.display()
        ),
    }
    let envelope = runtime.block_on(wait_for_envelope(&waiting))?;
    let received = receiver.open(&envelope).map_err(transfer_error)?;
    if let Waiting::File(path) = &waiting {
        // Encrypted to a key that no longer exists: of no use to anyone.
        let _ = std::fs::remove_file(path);
    }

    println!("Confirmation code: {}", received.confirmation);
    let batch = ImportBatch {
        accounts: received.accounts.clone(),
        rejected: Vec::new(),
    };
    let preview = transfer::preview(vault.accounts(), &batch);
    println!("Received {} account(s):", batch.accounts.len());
    for account in &preview.new {
        println!("  new        {}", clean(&account.display_name()));
    }
    for account in &preview.duplicates {
        println!(
            "  duplicate  {} (already on this device; skipped)",
            clean(&account.display_name())
        );
    }
    let mut claimable = Vec::new();
    for offer in &received.handoffs {
        let name = offer_name(offer);
        if vault.pairing_target(&offer.issuer, &offer.account).is_err() {
            println!("  push       {name} (already paired on this device; left as it is)");
        } else {
            println!("  push       {name} — sign-in approval moves here from the old device");
            claimable.push(offer);
        }
    }

    confirm_code(&received, &args)?;

    let count = preview.new.len();
    let duplicates = preview.duplicates.len();
    if count > 0 {
        let accounts: Vec<Account> = preview.new.into_iter().cloned().collect();
        vault.add_all(accounts)?;
    }
    println!(
        "Added {count} account(s){}.",
        if duplicates > 0 {
            format!(" ({duplicates} already here, skipped)")
        } else {
            String::new()
        }
    );
    if claimable.is_empty() {
        return Ok(());
    }
    let Some(key) = &received.push_key else {
        return Ok(());
    };
    let clock = push_clock(global)?;
    let name = args.name.clone().unwrap_or_else(default_device_name);
    let mut failed = 0;
    for offer in claimable {
        let label = offer_name(offer);
        let claimed = runtime.block_on(tessera_core::push::claim_handoff(
            &Http::native(),
            offer,
            key,
            &name,
            &Delivery::Stream,
            clock.now_secs(),
        ));
        match claimed {
            Ok(part) => match vault.add_pairing(&offer.issuer, &offer.account, part) {
                Ok(_) => println!(
                    "Moved push approval for {label} to this device; the old device was signed out of it."
                ),
                Err(error) => {
                    failed += 1;
                    eprintln!(
                        "error: {label}: the server moved the pairing here, but it cannot be stored ({error}): \
                         ask the site to pair this device again."
                    );
                }
            },
            Err(error) => {
                failed += 1;
                eprintln!(
                    "error: {label}: the pairing could not be moved ({error}); it stays on the old device. \
                     Pair this device with the site again, or run `tessera push handoff` on the old device."
                );
            }
        }
    }
    if failed > 0 {
        return Err(CliError::failure(format!(
            "{failed} push pairing(s) could not be moved (see above); the accounts were added"
        )));
    }
    Ok(())
}

fn offer_name(offer: &HandoffOffer) -> String {
    let name = if offer.issuer.is_empty() {
        offer.account.clone()
    } else {
        format!("{} ({})", offer.issuer, offer.account)
    };
    clean(&name)
}

/// The user's word that both screens show the same code: asked at a
/// terminal; a script must pass the code itself (`--confirm`), since
/// `--yes` would accept a stranger's envelope as readily as the right one.
fn confirm_code(received: &Received, args: &ReceiveArgs) -> Result<(), CliError> {
    if let Some(given) = &args.confirm {
        let given = if given.trim() == "-" {
            println!("Type the code the other device shows:");
            let _ = std::io::stdout().flush();
            let mut line = String::new();
            std::io::stdin()
                .read_line(&mut line)
                .map_err(|e| CliError::failure(format!("cannot read the code: {e}")))?;
            line
        } else {
            given.clone()
        };
        if normalize_code(&given) == received.confirmation {
            return Ok(());
        }
        return Err(CliError::bad_input(
            "the code given with --confirm is not the code of this transfer: nothing was added. \
             The transfer may come from another device than yours; start again.",
        ));
    }
    eprint!("Does the other device show the same code? [y/N] ");
    let mut answer = String::new();
    std::io::stdin()
        .read_line(&mut answer)
        .map_err(|e| CliError::failure(format!("cannot read the answer: {e}")))?;
    if matches!(answer.trim(), "y" | "Y" | "yes" | "Yes") {
        Ok(())
    } else {
        Err(CliError::failure(
            "the codes differ (or were not confirmed): nothing was added. \
             Someone else may have answered the invite; start again.",
        ))
    }
}

/// This machine's clock, for the mailbox's expiry (a few seconds off only
/// shortens or lengthens the wait; the server has the last word).
fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

async fn wait_for_envelope(waiting: &Waiting) -> Result<Zeroizing<Vec<u8>>, CliError> {
    let work = async {
        match waiting {
            Waiting::Mailbox(mailbox) => mailbox
                .receive(unix_now)
                .await
                .map(Zeroizing::new)
                .map_err(mailbox_error),
            Waiting::File(path) => wait_for_file(path).await,
        }
    };
    tokio::select! {
        result = work => result,
        _ = tokio::signal::ctrl_c() => {
            if let Waiting::Mailbox(mailbox) = waiting {
                let _ = tokio::time::timeout(Duration::from_secs(5), mailbox.cancel()).await;
            }
            Err(CliError::failure("cancelled: nothing was received or added"))
        }
    }
}

async fn wait_for_file(path: &Path) -> Result<Zeroizing<Vec<u8>>, CliError> {
    let started = std::time::Instant::now();
    loop {
        // The sender writes elsewhere and renames: once the name exists,
        // the file is whole.
        match std::fs::read(path) {
            Ok(bytes) => return Ok(Zeroizing::new(bytes)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => {
                return Err(CliError::failure(format!(
                    "cannot read {}: {e}",
                    path.display()
                )));
            }
        }
        if started.elapsed() > FILE_WAIT {
            return Err(CliError::failure(
                "nothing arrived within 10 minutes: start again",
            ));
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

// ------------------------------------------------------------------ send

fn invite_text(args: &SendArgs) -> Result<String, CliError> {
    match (&args.invite, &args.qr) {
        (_, Some(image)) => qr::decode_image(image)?
            .into_iter()
            .find(|t| t.to_ascii_lowercase().starts_with("tessera-transfer:"))
            .ok_or_else(|| {
                CliError::bad_input(format!(
                    "{}: the QR code is not a Tessera transfer invite (tessera-transfer://receive?…)",
                    image.display()
                ))
            }),
        (Some(text), None) if text == "-" => {
            let mut text = String::new();
            std::io::stdin()
                .read_to_string(&mut text)
                .map_err(|e| CliError::failure(format!("cannot read stdin: {e}")))?;
            Ok(text.trim().to_string())
        }
        (Some(text), None) => Ok(text.trim().to_string()),
        (None, None) => Err(CliError::bad_input(
            "give the invite (tessera-transfer://…) or --qr IMAGE",
        )),
    }
}

/// Hand-off offers for every pairing in `accounts` (skipping, with a
/// warning, one whose stored key cannot sign).
fn offers(
    accounts: &[&Account],
    key: &tessera_core::push::PublicKey,
    clock: &Arc<dyn PushClock>,
) -> Vec<HandoffOffer> {
    let mut offers = Vec::new();
    for account in accounts {
        let Some(part) = &account.push else { continue };
        let made = PushClient::new(Http::native(), part, Arc::clone(clock))
            .and_then(|client| client.handoff_offer(part, account, key));
        match made {
            Ok(offer) => offers.push(offer),
            Err(error) => eprintln!(
                "warning: {}: cannot hand off its pairing ({error}); pair the new device with the site instead",
                clean(&account.display_name())
            ),
        }
    }
    offers
}

fn send(global: &Global, args: SendArgs, push_only: bool) -> Result<(), CliError> {
    let invite = Invite::parse(&invite_text(&args)?)
        .map_err(|e| CliError::bad_input(format!("invalid invite: {e}")))?;
    match (&invite.rendezvous, &args.file) {
        (Rendezvous::File, None) => {
            return Err(CliError::bad_input(
                "this invite asks for a file: give --file PATH (then carry the file to the new device)",
            ));
        }
        (Rendezvous::Mailbox { .. }, Some(_)) => {
            return Err(CliError::bad_input(
                "this invite names a mailbox on a server: --file is not needed",
            ));
        }
        _ => {}
    }
    if let Some(path) = &args.file
        && path.exists()
    {
        return Err(CliError::bad_input(format!(
            "{} already exists; nothing was sent",
            path.display()
        )));
    }
    let vault = open::open(global)?;
    let paired: Vec<&Account> = vault.push_accounts();
    if push_only {
        if invite.push_key.is_none() {
            return Err(CliError::bad_input(
                "this invite cannot take push pairings (it has no push key): update Tessera on the new device",
            ));
        }
        if paired.is_empty() {
            return Err(CliError::not_found(
                "no account is paired for push: nothing to hand off",
            ));
        }
    }
    let handoffs = match (&invite.push_key, paired.is_empty()) {
        (Some(key), false) => offers(&paired, key, &push_clock(global)?),
        _ => Vec::new(),
    };
    if push_only && handoffs.is_empty() {
        return Err(CliError::failure("no pairing could be handed off"));
    }
    let accounts: &[Account] = if push_only { &[] } else { vault.accounts() };
    let sealed = device_to_device::seal_with_handoffs(&invite, accounts, handoffs)
        .map_err(transfer_error)?;

    match (&invite.rendezvous, &args.file) {
        (Rendezvous::Mailbox { server, id }, _) => runtime()?
            .block_on(mailbox::deliver(
                &Http::native(),
                server,
                id,
                sealed.envelope.clone(),
            ))
            .map_err(mailbox_error)?,
        (Rendezvous::File, Some(path)) => write_envelope(path, &sealed.envelope)?,
        (Rendezvous::File, None) => return Err(CliError::bad_input("give --file PATH")),
    }

    println!("Confirmation code: {}", sealed.confirmation);
    eprintln!("Check that the new device shows the same code before you confirm there.");
    if !push_only {
        println!(
            "Sent {} account(s) with their codes{}.",
            sealed.accounts,
            match &args.file {
                Some(path) => format!(" to {} (carry it to the new device)", path.display()),
                None => " to the new device".into(),
            }
        );
        if sealed.push_only_left_out > 0 {
            println!(
                "{} push-only account(s) stay behind: their pairings are never copied{}.",
                sealed.push_only_left_out,
                if sealed.handoffs > 0 {
                    " (they are handed off instead)"
                } else {
                    "; pair the new device with those sites again"
                }
            );
        }
    }
    if sealed.handoffs > 0 {
        println!(
            "Handed off {} push pairing(s): once the new device confirms the code, they move there \
             and stop working here (`tessera push listen` then removes them).",
            sealed.handoffs
        );
    } else if !paired.is_empty() {
        println!(
            "{} push pairing(s) were not handed off (the invite cannot take them): \
             pair the new device with those sites again.",
            paired.len()
        );
    }
    Ok(())
}

/// Writes the envelope beside `path` and renames it into place, so the
/// receiver never reads half a file.
fn write_envelope(path: &Path, envelope: &[u8]) -> Result<(), CliError> {
    let mut partial = path.as_os_str().to_owned();
    partial.push(".partial");
    let partial = PathBuf::from(partial);
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let written = options.open(&partial).and_then(|mut file| {
        file.write_all(envelope)?;
        file.sync_all()
    });
    if let Err(error) = written.and_then(|()| std::fs::rename(&partial, path)) {
        let _ = std::fs::remove_file(&partial);
        return Err(CliError::failure(format!(
            "cannot write {}: {error}",
            path.display()
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_read_aloud_are_accepted() {
        assert_eq!(normalize_code(" 123 456\n"), "123456");
    }
}
