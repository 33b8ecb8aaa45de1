//! The pairing URI shown as a QR code (protocol §2):
//!
//! ```text
//! tessera-push://pair?v=1&server=https%3A%2F%2Fpush.example.com
//!     &code=<26 base32 chars>&fp=<43-char thumbprint>&issuer=Example&account=alice%40example.com
//! ```
//!
//! Strict: `v` must be `1`; `server` an `https` URL without user info, query
//! or fragment (`http` only for a loopback host, for tests); `code` exactly 26
//! characters of the RFC 4648 base32 alphabet (uppercase, 128 bits, no stray
//! bits); `fp` an RFC 7638 thumbprint (43 base64url characters, 32 bytes);
//! `issuer` and `account` non-empty, percent-decoded (`+` is a space), at most
//! [`MAX_LABEL_CHARS`] characters, no control characters. Every parameter is
//! required; a parameter given twice or an unknown one is refused. Errors name
//! the field.

use std::fmt;

use crate::percent::encode;

use super::jws::{THUMBPRINT_LEN, b64url_decode, quoted};

/// The URI's fixed start (scheme, host, `?`).
pub const PREFIX: &str = "tessera-push://pair?";

/// The longest pairing URI accepted (4 KiB).
pub const MAX_PAIRING_URI_LEN: usize = 4 * 1024;

/// The length of an enrollment code: 128 bits in base32.
pub const CODE_LEN: usize = 26;

/// The longest `issuer` or `account`, in characters.
pub const MAX_LABEL_CHARS: usize = 256;

/// A parsed pairing URI.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PairingUri {
    /// The push server's base URL (`https://…`, no trailing query).
    pub server: String,
    /// The single-use enrollment code (26 base32 characters).
    pub code: String,
    /// The server key's RFC 7638 thumbprint, to pin.
    pub fingerprint: String,
    /// The site's name, to show.
    pub issuer: String,
    /// The user's account at the site, to show.
    pub account: String,
}

/// Why a pairing URI was refused. Names the field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PairingError {
    /// Longer than [`MAX_PAIRING_URI_LEN`].
    #[error("uri: {len} bytes long; the limit is {max}", max = MAX_PAIRING_URI_LEN)]
    TooLong {
        /// The length in bytes.
        len: usize,
    },
    /// Does not start with `tessera-push://pair?`.
    #[error("uri: not a Tessera pairing URI (it must start with {PREFIX})")]
    NotPairing,
    /// An empty parameter or one without `=`.
    #[error("uri: malformed parameter \"{text}\"")]
    MalformedParameter {
        /// The parameter text (shortened).
        text: String,
    },
    /// A parameter this version does not define.
    #[error("{name}: unknown parameter")]
    UnknownParameter {
        /// The parameter's name (shortened).
        name: String,
    },
    /// A parameter given twice.
    #[error("{name}: given more than once")]
    Duplicate {
        /// The parameter's name.
        name: &'static str,
    },
    /// A required parameter is missing or empty.
    #[error("{name}: missing")]
    Missing {
        /// The parameter's name.
        name: &'static str,
    },
    /// A `%` escape that is not two hex digits or decodes to invalid UTF-8.
    #[error("{name}: invalid percent-encoding")]
    BadEncoding {
        /// The parameter's name.
        name: &'static str,
    },
    /// `v` is not `1`.
    #[error("v: version \"{found}\" is not supported (only 1)")]
    UnsupportedVersion {
        /// The version found (shortened).
        found: String,
    },
    /// `server` is not an acceptable URL.
    #[error("server: {reason}")]
    BadServer {
        /// What is wrong.
        reason: &'static str,
    },
    /// `code` is not 26 base32 characters.
    #[error("code: must be {CODE_LEN} base32 characters (A-Z, 2-7)")]
    BadCode,
    /// `fp` is not a 43-character base64url SHA-256 thumbprint.
    #[error("fp: must be a {THUMBPRINT_LEN}-character base64url key thumbprint")]
    BadFingerprint,
    /// `issuer` or `account` is too long or holds control characters.
    #[error("{name}: {reason}")]
    BadLabel {
        /// `issuer` or `account`.
        name: &'static str,
        /// What is wrong.
        reason: &'static str,
    },
}

impl PairingError {
    /// The field at fault (`uri`, `v`, `server`, `code`, `fp`, `issuer`,
    /// `account`, or an unknown parameter's name).
    pub fn field(&self) -> &str {
        match self {
            Self::TooLong { .. } | Self::NotPairing | Self::MalformedParameter { .. } => "uri",
            Self::UnknownParameter { name } => name,
            Self::Duplicate { name }
            | Self::Missing { name }
            | Self::BadEncoding { name }
            | Self::BadLabel { name, .. } => name,
            Self::UnsupportedVersion { .. } => "v",
            Self::BadServer { .. } => "server",
            Self::BadCode => "code",
            Self::BadFingerprint => "fp",
        }
    }
}

const NAMES: [&str; 6] = ["v", "server", "code", "fp", "issuer", "account"];

impl PairingUri {
    /// Parses a pairing URI strictly (see the module documentation).
    pub fn parse(uri: &str) -> Result<Self, PairingError> {
        if uri.len() > MAX_PAIRING_URI_LEN {
            return Err(PairingError::TooLong { len: uri.len() });
        }
        let query = strip_prefix_ignore_scheme_case(uri).ok_or(PairingError::NotPairing)?;
        let mut values: [Option<String>; 6] = Default::default();
        for parameter in query.split('&') {
            let Some((raw_name, raw_value)) = parameter.split_once('=') else {
                return Err(PairingError::MalformedParameter {
                    text: quoted(parameter),
                });
            };
            let Some(index) = NAMES.iter().position(|n| *n == raw_name) else {
                return Err(if raw_name.is_empty() {
                    PairingError::MalformedParameter {
                        text: quoted(parameter),
                    }
                } else {
                    PairingError::UnknownParameter {
                        name: quoted(raw_name),
                    }
                });
            };
            let name = NAMES[index];
            if values[index].is_some() {
                return Err(PairingError::Duplicate { name });
            }
            let plus_is_space = matches!(name, "issuer" | "account");
            values[index] = Some(decode(raw_value, name, plus_is_space)?);
        }
        let [v, server, code, fp, issuer, account] = values.map(|v| v.filter(|s| !s.is_empty()));
        let required =
            |value: Option<String>, name: &'static str| value.ok_or(PairingError::Missing { name });
        let v = required(v, "v")?;
        if v != "1" {
            return Err(PairingError::UnsupportedVersion { found: quoted(&v) });
        }
        let server = required(server, "server")?;
        check_server(&server)?;
        let code = required(code, "code")?;
        check_code(&code)?;
        let fingerprint = required(fp, "fp")?;
        check_fingerprint(&fingerprint)?;
        let issuer = required(issuer, "issuer")?;
        check_label(&issuer, "issuer")?;
        let account = required(account, "account")?;
        check_label(&account, "account")?;
        Ok(Self {
            server,
            code,
            fingerprint,
            issuer,
            account,
        })
    }

    /// Checks every field as [`PairingUri::parse`] would; for a value built
    /// in code before it is formatted.
    pub fn validate(&self) -> Result<(), PairingError> {
        check_server(&self.server)?;
        check_code(&self.code)?;
        check_fingerprint(&self.fingerprint)?;
        for (value, name) in [(&self.issuer, "issuer"), (&self.account, "account")] {
            if value.is_empty() {
                return Err(PairingError::Missing { name });
            }
            check_label(value, name)?;
        }
        Ok(())
    }
}

impl fmt::Display for PairingUri {
    /// The canonical form: parameters in the documented order, values
    /// percent-encoded except RFC 3986 unreserved characters.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{PREFIX}v=1&server={}&code={}&fp={}&issuer={}&account={}",
            encode(&self.server),
            encode(&self.code),
            encode(&self.fingerprint),
            encode(&self.issuer),
            encode(&self.account),
        )
    }
}

/// The query after `tessera-push://pair?`; the scheme is case-insensitive
/// (RFC 3986 §3.1), the host `pair` is not.
fn strip_prefix_ignore_scheme_case(uri: &str) -> Option<&str> {
    let scheme_len = "tessera-push://".len();
    let head = uri.get(..PREFIX.len())?;
    // `get`, not indexing: a multi-byte character may straddle the end of
    // the scheme (found by the `pairing_uri` fuzz target).
    let scheme = head.get(..scheme_len)?;
    (scheme.eq_ignore_ascii_case("tessera-push://") && head.get(scheme_len..) == Some("pair?"))
        .then(|| &uri[PREFIX.len()..])
}

fn decode(raw: &str, name: &'static str, plus_is_space: bool) -> Result<String, PairingError> {
    crate::percent::decode(raw, plus_is_space).ok_or(PairingError::BadEncoding { name })
}

/// `https://host[:port][/path]`, or `http://` with a loopback host. No user
/// info, query, fragment, whitespace or control characters.
pub(crate) fn check_server(url: &str) -> Result<(), PairingError> {
    let bad = |reason| Err(PairingError::BadServer { reason });
    if url
        .chars()
        .any(|c| c.is_whitespace() || c.is_control() || c == '\\')
    {
        return bad("must not contain spaces, control characters or backslashes");
    }
    let lower = url.to_ascii_lowercase();
    let (rest, https) = if let Some(rest) = lower.strip_prefix("https://") {
        (rest, true)
    } else if let Some(rest) = lower.strip_prefix("http://") {
        (rest, false)
    } else {
        return bad("must be an https:// URL");
    };
    if rest.contains(['?', '#']) {
        return bad("must not have a query or fragment");
    }
    let authority = rest.split('/').next().unwrap_or_default();
    if authority.contains('@') {
        return bad("must not contain user info");
    }
    let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
        let Some((inside, after)) = v6.split_once(']') else {
            return bad("unterminated IPv6 address");
        };
        if inside.is_empty() || !inside.chars().all(|c| c.is_ascii_hexdigit() || c == ':') {
            return bad("invalid IPv6 address");
        }
        match after {
            "" => (authority, None),
            _ => match after.strip_prefix(':') {
                Some(port) => (&authority[..authority.len() - after.len()], Some(port)),
                None => return bad("invalid characters after the IPv6 address"),
            },
        }
    } else {
        match authority.split_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (authority, None),
        }
    };
    if host.is_empty() {
        return bad("missing host");
    }
    if !host.starts_with('[')
        && !host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.')
    {
        return bad("invalid host name");
    }
    if let Some(port) = port
        && !(port.len() <= 5
            && port.bytes().all(|b| b.is_ascii_digit())
            && port.parse::<u16>().is_ok_and(|p| p != 0))
    {
        return bad("invalid port");
    }
    if !https && !is_loopback(host) {
        return bad("must be https (http is allowed only for a loopback host)");
    }
    Ok(())
}

pub(crate) fn is_loopback(host: &str) -> bool {
    if host == "localhost" || host == "[::1]" {
        return true;
    }
    let octets: Vec<&str> = host.split('.').collect();
    octets.len() == 4
        && octets[0] == "127"
        && octets
            .iter()
            .all(|o| !o.is_empty() && o.len() <= 3 && o.parse::<u8>().is_ok())
}

fn check_code(code: &str) -> Result<(), PairingError> {
    // 26 characters carry 130 bits; the last two must be zero for a
    // canonical 128-bit value, which the decoder checks.
    let canonical = code.len() == CODE_LEN
        && code
            .bytes()
            .all(|b| b.is_ascii_uppercase() || (b'2'..=b'7').contains(&b))
        && crate::encoding::base32_decode(code, true).is_some_and(|bytes| bytes.len() == 16);
    if canonical {
        Ok(())
    } else {
        Err(PairingError::BadCode)
    }
}

fn check_fingerprint(fp: &str) -> Result<(), PairingError> {
    if fp.len() == THUMBPRINT_LEN && b64url_decode(fp).is_some_and(|bytes| bytes.len() == 32) {
        Ok(())
    } else {
        Err(PairingError::BadFingerprint)
    }
}

fn check_label(value: &str, name: &'static str) -> Result<(), PairingError> {
    if value.chars().count() > MAX_LABEL_CHARS {
        return Err(PairingError::BadLabel {
            name,
            reason: "longer than 256 characters",
        });
    }
    if value.chars().any(char::is_control) {
        return Err(PairingError::BadLabel {
            name,
            reason: "must not contain control characters",
        });
    }
    Ok(())
}
