//! `tessera import`, `export` and `backup`: moving accounts in and out, with
//! a preview before anything is added and every written file read back and
//! compared before it is trusted.

use std::io::{IsTerminal, Read, Write};
use std::path::{Path, PathBuf};

use tessera_core::transfer::{self, Exported, Format, ImportBatch, TransferError};
use tessera_core::{Account, Vault};
use zeroize::Zeroizing;

use crate::cli::{ExportArgs, FormatArg, Global, ImportArgs};
use crate::error::CliError;
use crate::{open, qr};

impl From<FormatArg> for Format {
    fn from(format: FormatArg) -> Self {
        match format {
            FormatArg::Tessera => Format::TesseraBackup,
            FormatArg::Aegis => Format::Aegis,
            FormatArg::Otpauth => Format::OtpauthList,
            FormatArg::Google | FormatArg::GoogleQr => Format::GoogleMigration,
            FormatArg::Twofas => Format::TwoFas,
        }
    }
}

fn transfer_error(error: TransferError) -> CliError {
    match error {
        TransferError::WouldLoseInformation(warnings) => {
            for warning in &warnings {
                eprintln!("  {warning}");
            }
            CliError::bad_input(format!(
                "this format cannot carry everything for {} account(s) (listed above); \
                 pass --force to export the rest without them",
                warnings.len()
            ))
        }
        other => CliError::bad_input(other.to_string()),
    }
}

/// The bytes to import: a file, stdin (`-`), a URI given inline, or the QR
/// codes of images (several images make one Google batch).
fn import_bytes(args: &ImportArgs) -> Result<Zeroizing<Vec<u8>>, CliError> {
    if !args.qr.is_empty() {
        let mut texts = Vec::new();
        for image in &args.qr {
            texts.extend(qr::decode_image(image)?);
        }
        return Ok(Zeroizing::new(texts.join("\n").into_bytes()));
    }
    let Some(source) = &args.source else {
        return Err(CliError::bad_input("give a file, -, a URI, or --qr IMAGE…"));
    };
    if source == "-" {
        let mut bytes = Zeroizing::new(Vec::new());
        std::io::stdin()
            .read_to_end(&mut bytes)
            .map_err(|e| CliError::failure(format!("cannot read stdin: {e}")))?;
        return Ok(bytes);
    }
    if source.to_ascii_lowercase().starts_with("otpauth") {
        return Ok(Zeroizing::new(source.clone().into_bytes()));
    }
    std::fs::read(source)
        .map(Zeroizing::new)
        .map_err(|e| CliError::not_found(format!("cannot read {source}: {e}")))
}

fn read_import(format: Format, bytes: &[u8]) -> Result<ImportBatch, CliError> {
    let importer = format.importer();
    match importer.import(bytes, None) {
        Err(TransferError::PasswordRequired) => {
            let password = open::read_secret(
                "TESSERA_IMPORT_PASSWORD",
                &format!("Password of the {}: ", format.name()),
                "this file is encrypted: run in a terminal or set TESSERA_IMPORT_PASSWORD",
            )?;
            importer
                .import(bytes, Some(&password))
                .map_err(transfer_error)
        }
        other => other.map_err(transfer_error),
    }
}

fn confirm(question: &str, yes: bool) -> Result<bool, CliError> {
    if yes {
        return Ok(true);
    }
    if !std::io::stdin().is_terminal() {
        return Err(CliError::bad_input(
            "this needs confirmation: run in a terminal or pass --yes",
        ));
    }
    eprint!("{question} [y/N] ");
    let mut answer = String::new();
    std::io::stdin()
        .read_line(&mut answer)
        .map_err(|e| CliError::failure(format!("cannot read the answer: {e}")))?;
    Ok(matches!(answer.trim(), "y" | "Y" | "yes"))
}

/// `tessera import`: preview (new, duplicates, refused entries), then add
/// every new account in one write after confirmation.
pub fn import(global: &Global, args: ImportArgs) -> Result<(), CliError> {
    let bytes = import_bytes(&args)?;
    let format = match args.format {
        Some(format) => Format::from(format),
        None => transfer::detect(&bytes).ok_or_else(|| {
            CliError::bad_input("the format was not recognised; name it with --format")
        })?,
    };
    let batch = read_import(format, &bytes)?;
    let mut vault = open::open_or_create(global)?;
    let preview = transfer::preview(vault.accounts(), &batch);
    println!(
        "{}: {} account(s) read",
        format.name(),
        batch.accounts.len()
    );
    for account in &preview.new {
        println!("  new        {}", account.display_name());
    }
    for account in &preview.duplicates {
        println!(
            "  duplicate  {} (already in the vault; skipped)",
            account.display_name()
        );
    }
    for rejected in &batch.rejected {
        println!(
            "  refused    entry {}: {}",
            rejected.index + 1,
            rejected.reason
        );
    }
    if preview.new.is_empty() {
        println!("Nothing to add.");
        return Ok(());
    }
    let question = format!("Add {} account(s)?", preview.new.len());
    if !confirm(&question, args.yes)? {
        eprintln!("Nothing added.");
        return Ok(());
    }
    let count = preview.new.len();
    let accounts: Vec<Account> = preview.new.into_iter().cloned().collect();
    vault.add_all(accounts)?;
    println!("Added {count} account(s).");
    Ok(())
}

/// The password for an export: required for Tessera backups, asked for
/// Aegis unless `--plain`, never for the plain-text formats.
fn export_password(format: Format, plain: bool) -> Result<Option<Zeroizing<String>>, CliError> {
    match format {
        Format::TesseraBackup => Ok(Some(open::new_password("TESSERA_EXPORT_PASSWORD")?)),
        Format::Aegis if !plain => Ok(Some(open::new_password("TESSERA_EXPORT_PASSWORD")?)),
        _ => Ok(None),
    }
}

/// Checks that `exported` reads back, with the same password, into exactly
/// the accounts it was meant to hold.
fn verify(
    format: Format,
    exported: &Exported,
    accounts: &[Account],
    password: Option<&str>,
) -> Result<(), String> {
    let left_out: Vec<&str> = exported
        .warnings
        .iter()
        .filter(|w| w.left_out)
        .map(|w| w.account_id.as_str())
        .collect();
    let expected: Vec<&Account> = accounts
        .iter()
        .filter(|a| a.otp.is_some() || format == Format::TesseraBackup)
        .filter(|a| !left_out.contains(&a.id.as_str()))
        .collect();
    let batch = format
        .importer()
        .import(&exported.bytes, password)
        .map_err(|e| format!("the written file does not read back: {e}"))?;
    if !batch.rejected.is_empty() || batch.accounts.len() != expected.len() {
        return Err(format!(
            "the written file holds {} account(s), {} expected",
            batch.accounts.len(),
            expected.len()
        ));
    }
    for account in expected {
        let found = batch.accounts.iter().any(|read| {
            read.same_identity(account)
                && read.otp.as_ref().map(|o| o.params) == account.otp.as_ref().map(|o| o.params)
        });
        if !found {
            return Err(format!(
                "{} does not read back identically",
                account.display_name()
            ));
        }
    }
    Ok(())
}

fn write_private(path: &Path, bytes: &[u8]) -> Result<(), CliError> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path).map_err(|e| {
        CliError::failure(format!(
            "cannot create {}: {e} (it must not exist yet)",
            path.display()
        ))
    })?;
    file.write_all(bytes)
        .and_then(|()| file.sync_all())
        .map_err(|e| CliError::failure(format!("cannot write {}: {e}", path.display())))
}

/// Exports, writes, reads the file back and compares it with the vault;
/// a file that does not match is removed.
fn export_verified(
    vault: &Vault,
    format: Format,
    out: &Path,
    plain: bool,
    force: bool,
) -> Result<usize, CliError> {
    let exporter = format.exporter().ok_or_else(|| {
        CliError::bad_input(format!("{} files can only be imported", format.name()))
    })?;
    let password = export_password(format, plain)?;
    let accounts = vault.accounts();
    let exported = exporter
        .export(accounts, password.as_deref().map(String::as_str), force)
        .map_err(transfer_error)?;
    for warning in &exported.warnings {
        eprintln!("warning: left out: {warning}");
    }
    if out == Path::new("-") {
        verify(
            format,
            &exported,
            accounts,
            password.as_deref().map(String::as_str),
        )
        .map_err(|problem| CliError::failure(format!("export check failed: {problem}")))?;
        std::io::stdout()
            .write_all(&exported.bytes)
            .map_err(|e| CliError::failure(format!("cannot write to stdout: {e}")))?;
    } else {
        write_private(out, &exported.bytes)?;
        let written = std::fs::read(out)
            .map(Zeroizing::new)
            .map_err(|e| CliError::failure(format!("cannot read back {}: {e}", out.display())))?;
        let check = Exported {
            bytes: written,
            warnings: exported.warnings.clone(),
        };
        if let Err(problem) = verify(
            format,
            &check,
            accounts,
            password.as_deref().map(String::as_str),
        ) {
            let _ = std::fs::remove_file(out);
            return Err(CliError::failure(format!(
                "{} was removed: {problem}",
                out.display()
            )));
        }
    }
    Ok(written_count(accounts, &exported))
}

/// How many accounts an export holds: all but those its warnings leave out.
fn written_count(accounts: &[Account], exported: &Exported) -> usize {
    accounts
        .iter()
        .filter(|a| {
            !exported
                .warnings
                .iter()
                .any(|w| w.left_out && w.account_id == a.id)
        })
        .count()
}

/// Writes Google Authenticator's export as one PNG per batch into a new
/// directory `out`, then decodes every image back and checks the batches
/// hold exactly the accounts meant. On any mismatch the directory is removed.
/// Returns (accounts, images).
fn export_google_qr(vault: &Vault, out: &Path, force: bool) -> Result<(usize, usize), CliError> {
    let format = Format::GoogleMigration;
    let exporter = format
        .exporter()
        .ok_or_else(|| CliError::failure("the Google exporter is missing"))?;
    let accounts = vault.accounts();
    let exported = exporter
        .export(accounts, None, force)
        .map_err(transfer_error)?;
    for warning in &exported.warnings {
        eprintln!("warning: left out: {warning}");
    }
    let text = std::str::from_utf8(&exported.bytes)
        .map_err(|_| CliError::failure("the Google export is not text"))?;
    let batches: Vec<&str> = text.lines().filter(|l| !l.is_empty()).collect();
    create_private_dir(out)?;
    let result = write_and_check_batches(out, &batches, &exported, accounts);
    if let Err(error) = result {
        let _ = std::fs::remove_dir_all(out);
        return Err(error);
    }
    Ok((written_count(accounts, &exported), batches.len()))
}

fn write_and_check_batches(
    out: &Path,
    batches: &[&str],
    exported: &Exported,
    accounts: &[Account],
) -> Result<(), CliError> {
    let total = batches.len();
    let mut paths = Vec::with_capacity(total);
    for (index, batch) in batches.iter().enumerate() {
        let path = out.join(format!("google-export-{}-of-{total}.png", index + 1));
        write_private(&path, &qr::render_png(batch)?)?;
        paths.push(path);
    }
    // Read back what a camera would see: the URIs decoded from the images.
    let mut read_back = Vec::with_capacity(total);
    for path in &paths {
        let bytes = std::fs::read(path)
            .map_err(|e| CliError::failure(format!("cannot read back {}: {e}", path.display())))?;
        let uris = tessera_core::qr::decode_image(&bytes).map_err(|e| {
            CliError::failure(format!("{} does not scan back: {e}", path.display()))
        })?;
        read_back.extend(uris);
    }
    let check = Exported {
        bytes: Zeroizing::new(read_back.join("\n").into_bytes()),
        warnings: exported.warnings.clone(),
    };
    verify(Format::GoogleMigration, &check, accounts, None)
        .map_err(|problem| CliError::failure(format!("{} was removed: {problem}", out.display())))
}

fn create_private_dir(path: &Path) -> Result<(), CliError> {
    let mut builder = std::fs::DirBuilder::new();
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder.create(path).map_err(|e| {
        if e.kind() == std::io::ErrorKind::AlreadyExists {
            CliError::bad_input(format!(
                "{} already exists; give a new directory for the images",
                path.display()
            ))
        } else {
            CliError::failure(format!("cannot create {}: {e}", path.display()))
        }
    })
}

/// `tessera export`.
pub fn export(global: &Global, args: ExportArgs) -> Result<(), CliError> {
    let format = Format::from(args.format);
    if matches!(format, Format::OtpauthList | Format::GoogleMigration)
        || (format == Format::Aegis && args.plain)
    {
        eprintln!(
            "warning: this file holds your secrets unencrypted: anyone who reads it can make your codes."
        );
    }
    let vault = open::open(global)?;
    if args.format == FormatArg::GoogleQr {
        let (count, images) = export_google_qr(&vault, &args.out, args.force)?;
        eprintln!(
            "Exported {count} account(s) as {images} QR code image(s) in {} (Google Authenticator \
             export), read back and verified. Scan them in order with Google Authenticator's \
             \"Import accounts\", then delete them.",
            args.out.display()
        );
        return Ok(());
    }
    let count = export_verified(&vault, format, &args.out, args.plain, args.force)?;
    if args.out != Path::new("-") {
        eprintln!(
            "Exported {count} account(s) to {} ({}), read back and verified.",
            args.out.display(),
            format.name()
        );
    }
    Ok(())
}

/// `tessera backup`: an encrypted Tessera backup, verified.
pub fn backup(global: &Global, out: Option<PathBuf>) -> Result<(), CliError> {
    let vault = open::open(global)?;
    let out = out.unwrap_or_else(|| {
        let secs = tessera_core::clock::ClockReading::now().system_micros / 1_000_000;
        PathBuf::from(format!("tessera-backup-{secs}.json"))
    });
    let count = export_verified(&vault, Format::TesseraBackup, &out, false, false)?;
    if !vault.push_accounts().is_empty() {
        eprintln!(
            "note: push pairings are never backed up (they hold this device's key): \
             pair each site again on a new device."
        );
    }
    eprintln!(
        "Backed up {count} account(s) to {}, read back and verified. Keep the password: it is the only way in.",
        out.display()
    );
    Ok(())
}
