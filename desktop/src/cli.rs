//! The command line, as clap sees it.

use std::path::PathBuf;

use clap::{ArgGroup, Args, Parser, Subcommand, ValueEnum};

const AFTER_HELP: &str = "\
Exit codes: 0 ok, 2 usage, 3 not found, 4 bad input, 5 vault locked, 6 vault damaged, 1 other.
`push listen --once` and `push answer` end with 1 when the prompt failed, expired or was
already settled, and with 4 after a wrong number.

Environment:
  TESSERA_VAULT          vault file (default: the user data directory)
  TESSERA_PASSWORD       vault password for scripts (instead of a prompt)
  TESSERA_RECOVERY_KEY   recovery key for scripts, with --recovery-key
  TESSERA_TIME_SOURCES   time sources, e.g. ntp://time.example,https://example.com
                         (empty: never ask the network)
  TESSERA_CONFIG         config file (default: the user config directory)
  TESSERA_IMPORT_PASSWORD, TESSERA_EXPORT_PASSWORD
                         passwords of imported / exported files, for scripts";

/// Tessera: TOTP/HOTP/Steam codes from an encrypted vault behind the platform keystore.
#[derive(Debug, Parser)]
#[command(name = "tessera", version, after_help = AFTER_HELP)]
pub struct Cli {
    #[command(flatten)]
    pub global: Global,
    #[command(subcommand)]
    pub command: Command,
}

/// Options every command takes.
#[derive(Debug, Clone, Args)]
pub struct Global {
    /// The vault file.
    #[arg(long, global = true, env = "TESSERA_VAULT", value_name = "PATH")]
    pub vault: Option<PathBuf>,
    /// Do not use the platform keystore; unlock with the password.
    #[arg(long, global = true)]
    pub no_keystore: bool,
    /// Unlock with the recovery key (prompted, or TESSERA_RECOVERY_KEY).
    #[arg(long, global = true)]
    pub recovery_key: bool,
    /// Show codes for this device's clock as it is, without drift correction.
    #[arg(long, global = true)]
    pub no_time_correction: bool,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create the vault if needed, add a demo account and show its live code.
    Demo,
    /// Add an account from an otpauth:// URI ("-" reads it from stdin) or a QR image.
    Add(AddArgs),
    /// List accounts.
    List {
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
    },
    /// Show current codes (all accounts, or those matching QUERY).
    ///
    /// For a counter-based (HOTP) account the counter is advanced and saved
    /// before its code is shown.
    Code {
        /// Issuer, label, tag or id prefix.
        query: Option<String>,
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
    },
    /// A live view of codes with a countdown, refreshed every second (Ctrl-C quits).
    Watch {
        /// Issuer, label, tag or id prefix.
        query: Option<String>,
        /// Stop after this many refreshes (for scripts and tests).
        #[arg(long, value_name = "N")]
        frames: Option<u32>,
    },
    /// Show an account's QR code in the terminal (it reveals the secret).
    ShowQr {
        /// Issuer, label, tag or id prefix.
        query: String,
    },
    /// Remove an account.
    Remove {
        /// Issuer, label, tag or id prefix.
        query: String,
        /// Do not ask for confirmation.
        #[arg(long, short)]
        yes: bool,
    },
    /// Change an account's issuer and/or label.
    Rename {
        /// Issuer, label, tag or id prefix.
        query: String,
        /// The new issuer.
        #[arg(long)]
        issuer: Option<String>,
        /// The new label (account name).
        #[arg(long)]
        label: Option<String>,
    },
    /// Replace an account's tags.
    Tag {
        /// Issuer, label, tag or id prefix.
        query: String,
        /// The tags (none clears them).
        tags: Vec<String>,
    },
    /// Move an account to a position in the list (1 is the top).
    Move {
        /// Issuer, label, tag or id prefix.
        query: String,
        /// The new position, from 1.
        position: usize,
    },
    /// Vault status and protection.
    #[command(subcommand)]
    Vault(VaultCommand),
    /// Trusted time: whether this device's clock is right, and each source's answer.
    Time(TimeArgs),
    /// Import accounts (otpauth list, Google export, Aegis, 2FAS, Tessera backup):
    /// a preview first, then all new accounts in one write.
    Import(ImportArgs),
    /// Export accounts; the file is read back and compared before it is kept.
    Export(ExportArgs),
    /// Push approval: pair with a site's push server, then answer its sign-in prompts.
    #[command(subcommand)]
    Push(PushCommand),
    /// Move accounts to a new device: `receive` on the new one, then `send` on the old one.
    ///
    /// Both devices show the same 6-digit code; nothing is added until you
    /// confirm it matches. Push pairings move too (hand-off).
    #[command(subcommand)]
    Transfer(TransferCommand),
    /// Write an encrypted Tessera backup, read back and verified.
    Backup {
        /// The backup file (default: tessera-backup-<time>.json here).
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
    },
}

/// File formats for import and export.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum FormatArg {
    /// Tessera's encrypted backup (Argon2id + AES-256-GCM).
    Tessera,
    /// Aegis vault JSON (encrypted unless --plain).
    Aegis,
    /// otpauth:// URIs, one per line (plain text).
    Otpauth,
    /// Google Authenticator's otpauth-migration:// URIs, one QR batch per line (plain text).
    Google,
    /// Google Authenticator's export as QR code images: one PNG per batch,
    /// written into the --out directory (scan them with Google Authenticator).
    #[value(name = "google-qr")]
    GoogleQr,
    /// 2FAS backup (import only).
    Twofas,
}

/// `tessera import`.
#[derive(Debug, Args)]
pub struct ImportArgs {
    /// A file, "-" for stdin, or an otpauth:// / otpauth-migration:// URI.
    #[arg(required_unless_present = "qr", conflicts_with = "qr")]
    pub source: Option<String>,
    /// PNG or JPEG images of QR codes (several for a multi-part Google export).
    #[arg(long, value_name = "IMAGE", num_args = 1..)]
    pub qr: Vec<PathBuf>,
    /// The format (detected when not given).
    #[arg(long, value_enum)]
    pub format: Option<FormatArg>,
    /// Add without asking (passwords from TESSERA_IMPORT_PASSWORD).
    #[arg(long, short)]
    pub yes: bool,
}

/// `tessera export`.
#[derive(Debug, Args)]
pub struct ExportArgs {
    /// The format.
    #[arg(long, value_enum)]
    pub format: FormatArg,
    /// The file to write ("-" for stdout), or for google-qr the directory to
    /// create; it must not exist yet.
    #[arg(long, value_name = "FILE")]
    pub out: PathBuf,
    /// Export anyway when the format cannot carry some accounts (they are left out).
    #[arg(long)]
    pub force: bool,
    /// Aegis only: write it unencrypted.
    #[arg(long)]
    pub plain: bool,
}

/// `tessera time`.
#[derive(Debug, Args)]
pub struct TimeArgs {
    /// `sync` asks the time sources now; without it, the saved state is shown.
    #[command(subcommand)]
    pub action: Option<TimeAction>,
    /// Machine-readable output.
    #[arg(long, global = true)]
    pub json: bool,
}

/// `tessera time …`.
#[derive(Debug, Subcommand)]
pub enum TimeAction {
    /// Ask every time source now (TESSERA_TIME_SOURCES, the config file, or public defaults).
    Sync,
}

/// `tessera add`.
#[derive(Debug, Args)]
pub struct AddArgs {
    /// The otpauth:// URI, or "-" to read it from stdin (keeps it out of shell history).
    #[arg(required_unless_present = "qr", conflicts_with = "qr")]
    pub uri: Option<String>,
    /// A PNG or JPEG screenshot of the QR code.
    #[arg(long, value_name = "IMAGE")]
    pub qr: Option<PathBuf>,
    /// Tags for the new account.
    #[arg(long = "tag", value_name = "TAG")]
    pub tags: Vec<String>,
}

/// `tessera vault …`.
#[derive(Debug, Subcommand)]
pub enum VaultCommand {
    /// Where the vault is, its format, slots and account count.
    Status {
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
    },
    /// Add or change the vault password (prompted twice, or TESSERA_NEW_PASSWORD).
    SetPassword,
    /// Make a new recovery key (shown once); the old one stops working.
    RecoveryKey,
}

/// `tessera transfer …`.
#[derive(Debug, Subcommand)]
pub enum TransferCommand {
    /// On the NEW device: show an invite (QR code), wait for the old device,
    /// show the confirmation code and add the accounts once you confirm.
    Receive(ReceiveArgs),
    /// On the OLD device: send this vault's accounts (and hand off push
    /// pairings) to a new device's invite.
    Send(SendArgs),
}

/// `tessera transfer receive`.
#[derive(Debug, Args)]
#[command(group(ArgGroup::new("rendezvous").required(true).args(["server", "file"])))]
pub struct ReceiveArgs {
    /// A Tessera server whose transfer mailbox carries the data (https, or http on loopback).
    #[arg(long, value_name = "URL")]
    pub server: Option<String>,
    /// Wait for the old device's transfer file at this path instead.
    #[arg(long, value_name = "PATH")]
    pub file: Option<PathBuf>,
    /// Do not ask; needs --confirm with the code the other device shows.
    #[arg(long, short)]
    pub yes: bool,
    /// The confirmation code the other device shows (for scripts): must match, or nothing is added.
    #[arg(long, value_name = "CODE")]
    pub confirm: Option<String>,
    /// The name push servers will show for this device (default: from the host name).
    #[arg(long, value_name = "NAME")]
    pub name: Option<String>,
}

/// `tessera transfer send` and `tessera push handoff`.
#[derive(Debug, Args)]
pub struct SendArgs {
    /// The new device's invite (tessera-transfer://receive?…), or "-" to read it from stdin.
    #[arg(required_unless_present = "qr", conflicts_with = "qr")]
    pub invite: Option<String>,
    /// A PNG or JPEG image of the invite's QR code.
    #[arg(long, value_name = "IMAGE")]
    pub qr: Option<PathBuf>,
    /// For a file invite: write the transfer file here (it must not exist yet).
    #[arg(long, value_name = "PATH")]
    pub file: Option<PathBuf>,
}

/// `tessera push …`.
#[derive(Debug, Subcommand)]
pub enum PushCommand {
    /// Pair with a site's push server from its tessera-push:// QR code.
    ///
    /// The pairing is attached to the account with the same issuer and name
    /// if there is one, else it becomes a push-only account.
    Pair(PairArgs),
    /// List the accounts paired for push.
    List {
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
    },
    /// Unpair: tell the server to revoke this device, then remove the pairing here.
    Unpair {
        /// Issuer, label, tag or id prefix of a paired account.
        account: String,
        /// Remove the pairing here even when the server cannot be told.
        #[arg(long)]
        force: bool,
    },
    /// Wait for sign-in prompts and answer them.
    ///
    /// For each prompt: type the number the login page shows (or pick it),
    /// then approve, deny or report fraud. Without a terminal, answers are
    /// read from stdin line by line: the number, then `approve`, `deny` or
    /// `fraud` (an empty number line to deny).
    Listen(ListenArgs),
    /// Answer one prompt by id, without interaction.
    Answer(AnswerArgs),
    /// Move only the push pairings to a new device, through its
    /// `tessera transfer receive` invite (no OTP accounts are sent).
    Handoff(SendArgs),
}

/// `tessera push pair`.
#[derive(Debug, Args)]
pub struct PairArgs {
    /// The tessera-push://pair?… URI, or "-" to read it from stdin.
    #[arg(required_unless_present = "qr", conflicts_with = "qr")]
    pub uri: Option<String>,
    /// A PNG or JPEG image of the pairing QR code.
    #[arg(long, value_name = "IMAGE")]
    pub qr: Option<PathBuf>,
    /// The name the site will show for this device (default: from the host name).
    #[arg(long, value_name = "NAME")]
    pub name: Option<String>,
}

/// `tessera push listen`.
#[derive(Debug, Args)]
pub struct ListenArgs {
    /// Only this paired account (issuer, label, tag or id prefix).
    #[arg(long, value_name = "ACCOUNT")]
    pub account: Option<String>,
    /// Exit after the first prompt is settled.
    #[arg(long)]
    pub once: bool,
}

/// `tessera push answer`.
#[derive(Debug, Args)]
#[command(group(ArgGroup::new("decision").required(true).args(["approve", "deny", "fraud"])))]
pub struct AnswerArgs {
    /// The prompt's id.
    pub prompt_id: String,
    /// Approve (needs --number).
    #[arg(long)]
    pub approve: bool,
    /// Deny.
    #[arg(long)]
    pub deny: bool,
    /// Deny and report fraud (the site blocks further prompts).
    #[arg(long)]
    pub fraud: bool,
    /// The number the login page shows.
    #[arg(long, value_name = "N")]
    pub number: Option<String>,
    /// The paired account the prompt is for (default: try each).
    #[arg(long, value_name = "ACCOUNT")]
    pub account: Option<String>,
}
