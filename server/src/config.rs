//! The server's settings: a TOML file, `TESSERA_SERVER_*` environment
//! variables and command-line flags, in that order of increasing weight
//! (flags > environment > file > defaults).
//!
//! Every refusal names the setting at fault, so a typo in a deployment is a
//! one-line fix rather than a search.

use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};

use ring::digest;
use serde::Deserialize;

use crate::notify::NotifyConfig;

/// Where the server listens unless told otherwise.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8787";
/// The database file unless told otherwise.
pub const DEFAULT_DATABASE: &str = "./tessera-server.db";
/// The site name shown on devices unless told otherwise.
pub const DEFAULT_ISSUER: &str = "Tessera demo";
/// The shortest prompt lifetime accepted, in seconds (short enough for tests
/// to see a prompt expire).
pub const MIN_PROMPT_TTL: u64 = 2;
/// The protocol's cap on a prompt's lifetime (`docs/push-protocol.md` §3.1).
pub const MAX_PROMPT_TTL: u64 = 600;
/// The shortest API key accepted, in characters: shorter keys are guessable.
pub const MIN_API_KEY_LEN: usize = 16;

/// Command-line flags. Each also reads its `TESSERA_SERVER_*` variable, so a
/// container can be configured by environment alone.
#[derive(Debug, Default, clap::Parser)]
#[command(
    name = "tessera-server",
    version,
    about = "Tessera's reference push-approval and TOTP-verification server"
)]
pub struct Cli {
    /// A TOML configuration file.
    #[arg(long, env = "TESSERA_SERVER_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Address and port to listen on (port 0 picks a free port).
    #[arg(long, env = "TESSERA_SERVER_LISTEN", value_name = "ADDR:PORT")]
    pub listen: Option<String>,
    /// The base URL devices reach this server at (what request proofs name).
    #[arg(long, env = "TESSERA_SERVER_PUBLIC_URL", value_name = "URL")]
    pub public_url: Option<String>,
    /// The SQLite database file (created if missing).
    #[arg(long, env = "TESSERA_SERVER_DATABASE", value_name = "FILE")]
    pub database: Option<PathBuf>,
    /// The site name shown on paired devices.
    #[arg(long, env = "TESSERA_SERVER_ISSUER")]
    pub issuer: Option<String>,
    /// An API key relying parties present (repeat the flag, or separate by
    /// commas in the variable). Prefer the variable: flags show in `ps`.
    #[arg(
        long = "api-key",
        env = "TESSERA_SERVER_API_KEYS",
        value_delimiter = ',',
        hide_env_values = true,
        value_name = "KEY"
    )]
    pub api_keys: Vec<String>,
    /// Digits in a prompt's number (4–8).
    #[arg(long, env = "TESSERA_SERVER_NUMBER_DIGITS")]
    pub number_digits: Option<u32>,
    /// A prompt's lifetime when the relying party gives none, in seconds.
    #[arg(long, env = "TESSERA_SERVER_PROMPT_TTL")]
    pub prompt_ttl: Option<u64>,
    /// The longest prompt lifetime a relying party may ask for, in seconds.
    #[arg(long, env = "TESSERA_SERVER_MAX_PROMPT_TTL")]
    pub max_prompt_ttl: Option<u64>,
    /// Pending prompts allowed per user.
    #[arg(long, env = "TESSERA_SERVER_MAX_PENDING")]
    pub max_pending: Option<u32>,
    /// Seconds between heartbeats on device streams.
    #[arg(long, env = "TESSERA_SERVER_HEARTBEAT_SECS")]
    pub heartbeat_secs: Option<u64>,
    /// Log format: `text` or `json`.
    #[arg(long, env = "TESSERA_SERVER_LOG_FORMAT")]
    pub log_format: Option<String>,
}

/// The file's shape. Every key is optional; unknown keys are refused so a
/// misspelt setting does not silently keep its default.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    listen: Option<String>,
    public_url: Option<String>,
    database: Option<PathBuf>,
    issuer: Option<String>,
    api_keys: Option<Vec<String>>,
    number_digits: Option<u32>,
    prompt_ttl: Option<u64>,
    max_prompt_ttl: Option<u64>,
    max_pending: Option<u32>,
    heartbeat_secs: Option<u64>,
    log_format: Option<String>,
    #[serde(default)]
    cooldown: CooldownFile,
    #[serde(default)]
    notify: NotifyConfig,
}

/// `[cooldown]` in the file.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct CooldownFile {
    denials: Option<u32>,
    window_secs: Option<u64>,
    initial_secs: Option<u64>,
    max_secs: Option<u64>,
}

/// How logs are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// One JSON object per line, for log collectors.
    Json,
}

/// The cooldown after denials (`docs/push-protocol.md` §7).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cooldown {
    /// Denials within [`Cooldown::window_secs`] that start a cooldown.
    pub denials: u32,
    /// The window denials are counted in, in seconds.
    pub window_secs: u64,
    /// The first cooldown, in seconds; each further one doubles it.
    pub initial_secs: u64,
    /// The longest cooldown, in seconds.
    pub max_secs: u64,
}

impl Default for Cooldown {
    fn default() -> Self {
        Self {
            denials: 3,
            window_secs: 600,
            initial_secs: 60,
            max_secs: 900,
        }
    }
}

/// The SHA-256 hashes of the API keys accepted. The keys themselves are not
/// kept: a memory dump or a `Debug` print shows only hashes' count.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct ApiKeyHashes(Vec<[u8; 32]>);

impl std::fmt::Debug for ApiKeyHashes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ApiKeyHashes({} keys)", self.0.len())
    }
}

impl ApiKeyHashes {
    /// The SHA-256 hash of a key, as stored and compared.
    pub fn hash(key: &str) -> [u8; 32] {
        let mut out = [0u8; 32];
        out.copy_from_slice(digest::digest(&digest::SHA256, key.as_bytes()).as_ref());
        out
    }

    /// Adds a key by its hash.
    pub fn push_hash(&mut self, hash: [u8; 32]) {
        if !self.0.contains(&hash) {
            self.0.push(hash);
        }
    }

    /// Whether no key is configured.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// How many keys are accepted.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether `presented` is one of the keys. Every stored hash is compared
    /// in full, in constant time, so the answer's timing says nothing about
    /// which bytes matched.
    pub fn accepts(&self, presented: &str) -> bool {
        let candidate = Self::hash(presented);
        let mut found = false;
        for stored in &self.0 {
            found |= constant_time_eq(stored, &candidate);
        }
        found
    }
}

/// Compares two byte strings without an early exit.
pub(crate) fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let difference = a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y));
    std::hint::black_box(difference) == 0
}

/// The settings in force.
#[derive(Debug, Clone)]
pub struct Config {
    /// Where to listen.
    pub listen: SocketAddr,
    /// The base URL devices use, without a trailing slash. Request proofs'
    /// `htu` is this plus the path. Empty until [`Config::resolve_public_url`]
    /// fills it from the bound address when it was not configured.
    pub public_url: String,
    /// The SQLite database file.
    pub database: PathBuf,
    /// The site name shown on paired devices.
    pub issuer: String,
    /// Hashes of the configured API keys (empty: the server generates one).
    pub api_keys: ApiKeyHashes,
    /// Digits in a prompt's number (4–8).
    pub number_digits: u32,
    /// A prompt's lifetime when the RP gives none, in seconds.
    pub prompt_ttl: u64,
    /// The longest lifetime an RP may ask for, in seconds.
    pub max_prompt_ttl: u64,
    /// Pending prompts allowed per user.
    pub max_pending: u32,
    /// The cooldown after denials.
    pub cooldown: Cooldown,
    /// Seconds between stream heartbeats.
    pub heartbeat_secs: u64,
    /// How logs are written.
    pub log_format: LogFormat,
    /// Push-service settings (`[notify]`).
    pub notify: NotifyConfig,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8787)),
            public_url: String::new(),
            database: PathBuf::from(DEFAULT_DATABASE),
            issuer: DEFAULT_ISSUER.to_string(),
            api_keys: ApiKeyHashes::default(),
            number_digits: 6,
            prompt_ttl: 120,
            max_prompt_ttl: MAX_PROMPT_TTL,
            max_pending: 3,
            cooldown: Cooldown::default(),
            heartbeat_secs: 15,
            log_format: LogFormat::Text,
            notify: NotifyConfig::default(),
        }
    }
}

/// Why the configuration was refused.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The configuration file could not be read.
    #[error("config file {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The configuration file is not valid TOML for these settings.
    #[error("config file {path}: {reason}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// The parser's message (names the key and line).
        reason: String,
    },
    /// A setting has a value the server cannot use.
    #[error("{setting}: {reason}")]
    Invalid {
        /// The setting's name, as in the file.
        setting: &'static str,
        /// What is wrong and what is allowed.
        reason: String,
    },
}

fn invalid(setting: &'static str, reason: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        setting,
        reason: reason.into(),
    }
}

impl Config {
    /// Builds the configuration from the flags (and their environment
    /// variables) and the file they name, then checks it.
    pub fn load(cli: Cli) -> Result<Self, ConfigError> {
        let file = match &cli.config {
            Some(path) => read_file(path)?,
            None => FileConfig::default(),
        };
        Self::merge(cli, file)
    }

    /// Parses a TOML configuration text on its own (no flags), for tests and
    /// tools.
    pub fn from_toml(text: &str) -> Result<Self, ConfigError> {
        let file = toml::from_str(text).map_err(|e| ConfigError::Parse {
            path: PathBuf::from("<text>"),
            reason: e.to_string(),
        })?;
        Self::merge(Cli::default(), file)
    }

    fn merge(cli: Cli, file: FileConfig) -> Result<Self, ConfigError> {
        let defaults = Self::default();
        let listen_text = cli
            .listen
            .or(file.listen)
            .unwrap_or_else(|| DEFAULT_LISTEN.to_string());
        let listen: SocketAddr = listen_text.trim().parse().map_err(|_| {
            invalid(
                "listen",
                "must be an IP address and port, e.g. 127.0.0.1:8787 or [::]:8787",
            )
        })?;
        let public_url = match cli.public_url.or(file.public_url) {
            Some(url) => check_public_url(&url)?,
            None => String::new(),
        };
        if public_url.is_empty() && !listen.ip().is_loopback() {
            return Err(public_url_required(listen.ip()));
        }
        let issuer = cli.issuer.or(file.issuer).unwrap_or(defaults.issuer);
        check_issuer(&issuer)?;
        let mut api_keys = ApiKeyHashes::default();
        let keys = if cli.api_keys.is_empty() {
            file.api_keys.unwrap_or_default()
        } else {
            cli.api_keys
        };
        for key in keys {
            let key = key.trim();
            if key.is_empty() {
                continue;
            }
            if key.chars().count() < MIN_API_KEY_LEN || !key.chars().all(|c| c.is_ascii_graphic()) {
                return Err(invalid(
                    "api_keys",
                    format!(
                        "every key must be at least {MIN_API_KEY_LEN} printable ASCII characters without spaces"
                    ),
                ));
            }
            api_keys.push_hash(ApiKeyHashes::hash(key));
        }
        let number_digits = cli
            .number_digits
            .or(file.number_digits)
            .unwrap_or(defaults.number_digits);
        if !(4..=8).contains(&number_digits) {
            return Err(invalid(
                "number_digits",
                format!("{number_digits} is not allowed; use 4 to 8 (6 is the default)"),
            ));
        }
        let max_prompt_ttl = cli
            .max_prompt_ttl
            .or(file.max_prompt_ttl)
            .unwrap_or(defaults.max_prompt_ttl);
        if !(MIN_PROMPT_TTL..=MAX_PROMPT_TTL).contains(&max_prompt_ttl) {
            return Err(invalid(
                "max_prompt_ttl",
                format!(
                    "{max_prompt_ttl} s is not allowed; use {MIN_PROMPT_TTL} to {MAX_PROMPT_TTL} s"
                ),
            ));
        }
        let prompt_ttl = cli
            .prompt_ttl
            .or(file.prompt_ttl)
            .unwrap_or(defaults.prompt_ttl.min(max_prompt_ttl));
        if !(MIN_PROMPT_TTL..=max_prompt_ttl).contains(&prompt_ttl) {
            return Err(invalid(
                "prompt_ttl",
                format!(
                    "{prompt_ttl} s is not allowed; use {MIN_PROMPT_TTL} to max_prompt_ttl ({max_prompt_ttl} s)"
                ),
            ));
        }
        let max_pending = cli
            .max_pending
            .or(file.max_pending)
            .unwrap_or(defaults.max_pending);
        if !(1..=100).contains(&max_pending) {
            return Err(invalid("max_pending", "use 1 to 100"));
        }
        let heartbeat_secs = cli
            .heartbeat_secs
            .or(file.heartbeat_secs)
            .unwrap_or(defaults.heartbeat_secs);
        if !(1..=300).contains(&heartbeat_secs) {
            return Err(invalid("heartbeat_secs", "use 1 to 300 seconds"));
        }
        let log_format = match cli.log_format.or(file.log_format).as_deref().map(str::trim) {
            None | Some("text") => LogFormat::Text,
            Some("json") => LogFormat::Json,
            Some(_) => return Err(invalid("log_format", "use \"text\" or \"json\"")),
        };
        let base = Cooldown::default();
        let cooldown = Cooldown {
            denials: file.cooldown.denials.unwrap_or(base.denials),
            window_secs: file.cooldown.window_secs.unwrap_or(base.window_secs),
            initial_secs: file.cooldown.initial_secs.unwrap_or(base.initial_secs),
            max_secs: file.cooldown.max_secs.unwrap_or(base.max_secs),
        };
        if cooldown.denials == 0 {
            return Err(invalid("cooldown.denials", "must be at least 1"));
        }
        if cooldown.window_secs == 0 || cooldown.window_secs > 86_400 {
            return Err(invalid("cooldown.window_secs", "use 1 to 86400 seconds"));
        }
        if cooldown.initial_secs == 0 || cooldown.initial_secs > cooldown.max_secs {
            return Err(invalid(
                "cooldown.initial_secs",
                "must be at least 1 and at most cooldown.max_secs",
            ));
        }
        if cooldown.max_secs > 86_400 {
            return Err(invalid("cooldown.max_secs", "use at most 86400 seconds"));
        }
        Ok(Self {
            listen,
            public_url,
            database: cli.database.or(file.database).unwrap_or(defaults.database),
            issuer,
            api_keys,
            number_digits,
            prompt_ttl,
            max_prompt_ttl,
            max_pending,
            cooldown,
            heartbeat_secs,
            log_format,
            notify: file.notify,
        })
    }

    /// Fills in `public_url` from the address actually bound when it was not
    /// configured (`http://127.0.0.1:PORT`, with the real port when the
    /// configured one was 0). Refused for a wildcard or non-loopback address:
    /// devices only pair over https except on loopback, so such a server
    /// must be told the https URL clients use.
    pub fn resolve_public_url(&mut self, bound: SocketAddr) -> Result<(), ConfigError> {
        if !self.public_url.is_empty() {
            return Ok(());
        }
        if !bound.ip().is_loopback() {
            return Err(public_url_required(bound.ip()));
        }
        self.public_url = format!("http://{bound}");
        Ok(())
    }
}

fn public_url_required(ip: IpAddr) -> ConfigError {
    invalid(
        "public_url",
        format!(
            "must be set when listening on {ip}: devices reach a non-loopback server only over https (e.g. public_url = \"https://push.example.com\")"
        ),
    )
}

fn read_file(path: &Path) -> Result<FileConfig, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    toml::from_str(&text).map_err(|e| ConfigError::Parse {
        path: path.to_path_buf(),
        reason: e.to_string(),
    })
}

/// Checks a configured public URL and returns it without a trailing slash:
/// `https://host[:port][/path]`, or `http://` on a loopback host (devices
/// refuse anything else, `tessera_core::push::pairing`).
fn check_public_url(url: &str) -> Result<String, ConfigError> {
    let url = url.trim().trim_end_matches('/');
    let lower = url.to_ascii_lowercase();
    let rest = if let Some(rest) = lower.strip_prefix("https://") {
        rest
    } else if let Some(rest) = lower.strip_prefix("http://") {
        let host = rest.split('/').next().unwrap_or_default();
        if !is_loopback_authority(host) {
            return Err(invalid(
                "public_url",
                "must be https:// (http:// is allowed only for a loopback host)",
            ));
        }
        rest
    } else {
        return Err(invalid("public_url", "must start with https://"));
    };
    if rest.is_empty() || rest.starts_with('/') {
        return Err(invalid("public_url", "has no host"));
    }
    if rest.contains(['?', '#', '@']) || rest.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(invalid(
            "public_url",
            "must be a plain base URL: no query, fragment, user info or spaces",
        ));
    }
    Ok(url.to_string())
}

/// Whether `authority` (`host[:port]`) names a loopback host.
fn is_loopback_authority(authority: &str) -> bool {
    if let Ok(addr) = authority.parse::<SocketAddr>() {
        return addr.ip().is_loopback();
    }
    let host = match authority.rsplit_once(':') {
        Some((host, port)) if port.bytes().all(|b| b.is_ascii_digit()) => host,
        _ => authority,
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host == "localhost" || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

fn check_issuer(issuer: &str) -> Result<(), ConfigError> {
    let count = issuer.chars().count();
    if count == 0 || count > 256 {
        return Err(invalid("issuer", "must be 1 to 256 characters"));
    }
    if issuer.chars().any(char::is_control) {
        return Err(invalid("issuer", "must not contain control characters"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_the_documented_ones() {
        let config = Config::from_toml("").unwrap();
        assert_eq!(config.listen.to_string(), DEFAULT_LISTEN);
        assert_eq!(config.number_digits, 6);
        assert_eq!(config.prompt_ttl, 120);
        assert_eq!(config.max_prompt_ttl, 600);
        assert_eq!(config.max_pending, 3);
        assert_eq!(config.heartbeat_secs, 15);
        assert_eq!(config.cooldown, Cooldown::default());
        assert!(config.api_keys.is_empty());
        assert!(config.public_url.is_empty());
    }

    #[test]
    fn bad_settings_are_named() {
        for (text, setting) in [
            ("number_digits = 3", "number_digits"),
            ("number_digits = 9", "number_digits"),
            ("prompt_ttl = 1", "prompt_ttl"),
            ("max_prompt_ttl = 601", "max_prompt_ttl"),
            ("listen = \"nowhere\"", "listen"),
            ("public_url = \"http://example.com\"", "public_url"),
            ("public_url = \"https://x.example/?a=b\"", "public_url"),
            ("api_keys = [\"short\"]", "api_keys"),
            ("log_format = \"xml\"", "log_format"),
            ("[cooldown]\ndenials = 0", "cooldown.denials"),
        ] {
            match Config::from_toml(text) {
                Err(ConfigError::Invalid { setting: s, .. }) => assert_eq!(s, setting, "{text}"),
                other => panic!("{text}: {other:?}"),
            }
        }
        assert!(matches!(
            Config::from_toml("lisen = \"127.0.0.1:1\""),
            Err(ConfigError::Parse { .. })
        ));
    }

    #[test]
    fn public_url_is_trimmed_and_loopback_http_allowed() {
        let config = Config::from_toml("public_url = \"http://127.0.0.1:9/\"").unwrap();
        assert_eq!(config.public_url, "http://127.0.0.1:9");
        let config = Config::from_toml("public_url = \"https://push.example.com/t/\"").unwrap();
        assert_eq!(config.public_url, "https://push.example.com/t");
        let mut config = Config::from_toml("").unwrap();
        config
            .resolve_public_url("127.0.0.1:4242".parse().unwrap())
            .unwrap();
        assert_eq!(config.public_url, "http://127.0.0.1:4242");
        let mut config = Config::from_toml("").unwrap();
        assert!(
            config
                .resolve_public_url("0.0.0.0:4242".parse().unwrap())
                .is_err()
        );
        assert!(matches!(
            Config::from_toml("listen = \"0.0.0.0:8787\""),
            Err(ConfigError::Invalid {
                setting: "public_url",
                ..
            })
        ));
        let config = Config::from_toml(
            "listen = \"0.0.0.0:8787\"\npublic_url = \"https://push.example.com\"",
        )
        .unwrap();
        assert_eq!(config.public_url, "https://push.example.com");
    }

    #[test]
    fn flags_win_over_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("server.toml");
        std::fs::write(
            &path,
            "listen = \"127.0.0.1:9000\"\nissuer = \"From file\"\nnumber_digits = 7\n\
             api_keys = [\"file-key-0123456789abcdef\"]\n[cooldown]\ninitial_secs = 30\n",
        )
        .unwrap();
        let cli = Cli {
            config: Some(path.clone()),
            issuer: Some("From flag".into()),
            ..Cli::default()
        };
        let config = Config::load(cli).unwrap();
        assert_eq!(config.listen.to_string(), "127.0.0.1:9000");
        assert_eq!(config.issuer, "From flag");
        assert_eq!(config.number_digits, 7);
        assert_eq!(config.cooldown.initial_secs, 30);
        assert!(config.api_keys.accepts("file-key-0123456789abcdef"));
        let cli = Cli {
            config: Some(path),
            api_keys: vec!["flag-key-0123456789abcdef".into()],
            ..Cli::default()
        };
        let config = Config::load(cli).unwrap();
        assert!(config.api_keys.accepts("flag-key-0123456789abcdef"));
        assert!(!config.api_keys.accepts("file-key-0123456789abcdef"));
        let missing = Cli {
            config: Some(dir.path().join("missing.toml")),
            ..Cli::default()
        };
        assert!(matches!(
            Config::load(missing),
            Err(ConfigError::Read { .. })
        ));
    }

    #[test]
    fn api_keys_are_kept_as_hashes() {
        let config = Config::from_toml("api_keys = [\"0123456789abcdef-key\"]").unwrap();
        assert!(config.api_keys.accepts("0123456789abcdef-key"));
        assert!(!config.api_keys.accepts("0123456789abcdef-kez"));
        assert!(!format!("{config:?}").contains("0123456789abcdef"));
    }
}
