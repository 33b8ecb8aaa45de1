//! The optional config file: `$XDG_CONFIG_HOME/tessera/config.toml` (or
//! `TESSERA_CONFIG`).
//!
//! ```toml
//! [time]
//! sources = ["https://www.cloudflare.com", "ntp://time.cloudflare.com"]
//! correction = true
//! ```

use std::path::PathBuf;

use serde::Deserialize;

use crate::error::CliError;

/// The whole file.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Trusted-time settings.
    #[serde(default)]
    pub time: TimeConfig,
}

/// `[time]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TimeConfig {
    /// Time sources (`ntp://…`, `https://…`); the defaults when absent.
    pub sources: Option<Vec<String>>,
    /// Correct codes for clock drift (default true).
    pub correction: Option<bool>,
}

fn config_path() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("TESSERA_CONFIG") {
        return Some(PathBuf::from(path));
    }
    dirs::config_dir().map(|dir| dir.join("tessera").join("config.toml"))
}

/// Reads the config file; a missing file is the defaults, a bad one an error
/// that names it.
pub fn load() -> Result<Config, CliError> {
    let Some(path) = config_path() else {
        return Ok(Config::default());
    };
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Config::default()),
        Err(e) => {
            return Err(CliError::failure(format!(
                "cannot read {}: {e}",
                path.display()
            )));
        }
    };
    toml::from_str(&text).map_err(|e| {
        CliError::bad_input(format!(
            "{} is not a valid config file: {}",
            path.display(),
            e.message()
        ))
    })
}
