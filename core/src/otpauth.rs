//! `otpauth://` URIs (the Key Uri Format): strict parsing, lossless formatting.
//!
//! Strict where the code would change: an unknown algorithm, digits outside
//! the allowed range, a bad period or counter, a missing, invalid or
//! duplicated secret are errors that name the field. Tolerant where it would
//! not: lowercase, spaced or padded base32, percent-encoding, `+` for spaces
//! in parameter values, and an issuer prefix in the label that differs from
//! the `issuer` parameter (the parameter wins, with a warning).
//!
//! Unknown parameters (`image`, `color`, …) are kept in order, so a round trip
//! loses nothing.

use std::fmt;

use zeroize::Zeroizing;

use crate::otp::{Algorithm, DEFAULT_PERIOD_SECS, OtpError, OtpKind, OtpParams, STEAM_DIGITS};
use crate::secret::{Secret, SecretError};

/// The longest URI accepted (8 KiB); real ones are a few hundred bytes.
pub const MAX_URI_LEN: usize = 8 * 1024;

/// A parsed otpauth URI: what is needed to make codes, plus what to show.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OtpauthUri {
    /// Kind, algorithm, digits, period and counter.
    pub params: OtpParams,
    /// The shared secret.
    pub secret: Secret,
    /// The service name (`issuer` parameter, else the label prefix); may be empty.
    pub issuer: String,
    /// The account name (the label without its issuer prefix).
    pub label: String,
    /// Parameters this crate does not interpret, decoded, in their original order.
    pub extra: Vec<(String, String)>,
}

/// Something accepted but worth telling the user about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UriWarning {
    /// The label's `Issuer:` prefix differs from the `issuer` parameter; the
    /// parameter was used.
    IssuerMismatch {
        /// The prefix found in the label.
        label_prefix: String,
        /// The `issuer` parameter, which was used.
        parameter: String,
    },
    /// The secret is shorter than the 128 bits RFC 4226 requires.
    WeakSecret {
        /// Its strength in bits.
        bits: usize,
    },
    /// An HOTP URI without `counter`; counting starts at 0.
    MissingCounter,
    /// A parameter this kind of account ignores (e.g. `counter` on TOTP).
    IgnoredParameter {
        /// The parameter's name.
        name: String,
    },
}

impl fmt::Display for UriWarning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::IssuerMismatch {
                label_prefix,
                parameter,
            } => write!(
                f,
                "the label says issuer \"{label_prefix}\" but the issuer parameter says \"{parameter}\"; using \"{parameter}\""
            ),
            Self::WeakSecret { bits } => write!(
                f,
                "the secret has only {bits} bits (RFC 4226 asks for at least 128); codes work, but ask the site for a longer key"
            ),
            Self::MissingCounter => f.write_str("the HOTP URI has no counter; starting at 0"),
            Self::IgnoredParameter { name } => {
                write!(
                    f,
                    "the parameter \"{name}\" does not apply to this kind of account and was ignored"
                )
            }
        }
    }
}

/// A URI together with the warnings parsing it produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedUri {
    /// The account data.
    pub uri: OtpauthUri,
    /// Things accepted but worth showing to the user.
    pub warnings: Vec<UriWarning>,
}

/// Why a URI was refused. Names the field; never contains the secret.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UriError {
    /// Longer than [`MAX_URI_LEN`].
    #[error("the URI is {len} bytes long; the limit is {max}", max = MAX_URI_LEN)]
    TooLong {
        /// The URI's length in bytes.
        len: usize,
    },
    /// Does not start with `otpauth://`.
    #[error("not an otpauth URI (it must start with otpauth://)")]
    NotOtpauth,
    /// The type after `otpauth://` is not `totp`, `hotp` or `steam`.
    #[error("type: \"{value}\" is not a supported OTP type (totp, hotp or steam)")]
    UnsupportedType {
        /// The type found (shortened).
        value: String,
    },
    /// No `/label` after the type.
    #[error("label: missing (expected otpauth://TYPE/LABEL?secret=...)")]
    MissingLabel,
    /// A `%` escape that is not two hex digits, or that decodes to invalid UTF-8.
    #[error("{field}: invalid percent-encoding")]
    BadEncoding {
        /// The label or parameter name.
        field: String,
    },
    /// A parameter given twice, so which one is meant is unknown.
    #[error("{name}: given more than once")]
    DuplicateParameter {
        /// The parameter's name.
        name: String,
    },
    /// No `secret` parameter, or an empty one.
    #[error("secret: missing")]
    MissingSecret,
    /// The secret is not valid base32 or is too long.
    #[error("secret: {0}")]
    InvalidSecret(SecretError),
    /// `algorithm` is not SHA1, SHA256 or SHA512.
    #[error("algorithm: \"{value}\" is not supported (SHA1, SHA256 or SHA512)")]
    UnsupportedAlgorithm {
        /// The algorithm found (shortened).
        value: String,
    },
    /// `digits` is not a number in the allowed range.
    #[error("digits: \"{value}\" is not valid (6 to 10; Steam uses 5)")]
    InvalidDigits {
        /// The value found (shortened).
        value: String,
    },
    /// `period` is not a number from 1 to the maximum.
    #[error("period: \"{value}\" is not valid (1 to {max} seconds)", max = crate::otp::MAX_PERIOD_SECS)]
    InvalidPeriod {
        /// The value found (shortened).
        value: String,
    },
    /// `counter` is not a non-negative 64-bit number.
    #[error("counter: \"{value}\" is not a valid counter")]
    InvalidCounter {
        /// The value found (shortened).
        value: String,
    },
}

impl UriError {
    /// The name of the field at fault (`secret`, `digits`, `uri`, …).
    pub fn field(&self) -> &str {
        match self {
            Self::TooLong { .. } | Self::NotOtpauth => "uri",
            Self::UnsupportedType { .. } => "type",
            Self::MissingLabel => "label",
            Self::BadEncoding { field } => field,
            Self::DuplicateParameter { name } => name,
            Self::MissingSecret | Self::InvalidSecret(_) => "secret",
            Self::UnsupportedAlgorithm { .. } => "algorithm",
            Self::InvalidDigits { .. } => "digits",
            Self::InvalidPeriod { .. } => "period",
            Self::InvalidCounter { .. } => "counter",
        }
    }
}

/// Shortens user input quoted in an error so a huge value cannot flood a message.
fn quoted(value: &str) -> String {
    const MAX: usize = 32;
    match value.char_indices().nth(MAX) {
        Some((cut, _)) => format!("{}…", &value[..cut]),
        None => value.to_string(),
    }
}

fn decode(raw: &str, field: &str, plus_is_space: bool) -> Result<String, UriError> {
    crate::percent::decode(raw, plus_is_space).ok_or_else(|| UriError::BadEncoding {
        field: quoted(field),
    })
}

/// The parameters the parser understands, collected before validation.
#[derive(Default)]
struct KnownParams {
    secret: Option<Zeroizing<String>>,
    issuer: Option<String>,
    algorithm: Option<String>,
    digits: Option<String>,
    period: Option<String>,
    counter: Option<String>,
    encoder: Option<String>,
}

impl KnownParams {
    fn slot(&mut self, name: &str) -> Option<&mut Option<String>> {
        match name {
            "issuer" => Some(&mut self.issuer),
            "algorithm" => Some(&mut self.algorithm),
            "digits" => Some(&mut self.digits),
            "period" => Some(&mut self.period),
            "counter" => Some(&mut self.counter),
            "encoder" => Some(&mut self.encoder),
            _ => None,
        }
    }
}

impl OtpauthUri {
    /// Parses an `otpauth://` URI. See the module docs for what is strict and
    /// what is tolerated.
    pub fn parse(text: &str) -> Result<ParsedUri, UriError> {
        let text = text.trim();
        if text.len() > MAX_URI_LEN {
            return Err(UriError::TooLong { len: text.len() });
        }
        const SCHEME: &str = "otpauth://";
        let rest = match text.get(..SCHEME.len()) {
            Some(prefix) if prefix.eq_ignore_ascii_case(SCHEME) => &text[SCHEME.len()..],
            _ => return Err(UriError::NotOtpauth),
        };
        let (kind_text, after_kind) = rest.split_once('/').ok_or(UriError::MissingLabel)?;
        let mut kind = match kind_text.to_ascii_lowercase().as_str() {
            "totp" => OtpKind::Totp,
            "hotp" => OtpKind::Hotp,
            "steam" => OtpKind::Steam,
            _ => {
                return Err(UriError::UnsupportedType {
                    value: quoted(kind_text),
                });
            }
        };
        let (raw_label, query) = after_kind.split_once('?').unwrap_or((after_kind, ""));
        // A fragment is never part of the Key Uri Format; drop it like a browser would.
        let query = query.split_once('#').map_or(query, |(q, _)| q);
        let label = decode(raw_label, "label", false)?;

        let mut known = KnownParams::default();
        let mut extra = Vec::new();
        let mut warnings = Vec::new();
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let (raw_name, raw_value) = pair.split_once('=').unwrap_or((pair, ""));
            let name = decode(raw_name, "parameter name", false)?;
            let lower = name.to_ascii_lowercase();
            if lower == "secret" {
                if known.secret.is_some() {
                    return Err(UriError::DuplicateParameter { name: lower });
                }
                let value = Zeroizing::new(decode(raw_value, "secret", true)?);
                known.secret = Some(value);
                continue;
            }
            let value = decode(raw_value, &lower, true)?;
            match known.slot(&lower) {
                Some(slot) if slot.is_some() => {
                    return Err(UriError::DuplicateParameter { name: lower });
                }
                Some(slot) => *slot = Some(value),
                None => extra.push((name, value)),
            }
        }

        let secret_text = known.secret.ok_or(UriError::MissingSecret)?;
        if secret_text.trim().is_empty() {
            return Err(UriError::MissingSecret);
        }
        let secret = Secret::from_base32(&secret_text).map_err(UriError::InvalidSecret)?;

        let (label_issuer, account) = match label.split_once(':') {
            Some((prefix, account)) => (Some(prefix.trim().to_string()), account.trim()),
            None => (None, label.trim()),
        };
        let issuer = match (known.issuer, label_issuer) {
            (Some(parameter), Some(prefix)) => {
                if !prefix.is_empty() && prefix != parameter {
                    warnings.push(UriWarning::IssuerMismatch {
                        label_prefix: prefix,
                        parameter: parameter.clone(),
                    });
                }
                parameter
            }
            (Some(parameter), None) => parameter,
            (None, Some(prefix)) => prefix,
            (None, None) => String::new(),
        };

        let (steam_encoder, other_encoder) = match known.encoder {
            Some(encoder) if encoder.eq_ignore_ascii_case("steam") => (true, None),
            other => (false, other),
        };
        if kind == OtpKind::Totp && (steam_encoder || is_steam_issuer(&issuer)) {
            kind = OtpKind::Steam;
        }
        if let Some(other) = other_encoder {
            if kind == OtpKind::Steam {
                // A Steam account is written back with `encoder=steam`; keeping
                // this one too would write the parameter twice.
                warnings.push(UriWarning::IgnoredParameter {
                    name: "encoder".to_string(),
                });
            } else {
                extra.push(("encoder".to_string(), other));
            }
        }

        let mut params = match kind {
            OtpKind::Totp => OtpParams::totp(),
            OtpKind::Hotp => OtpParams::hotp(0),
            OtpKind::Steam => OtpParams::steam(),
        };
        if let Some(value) = known.algorithm {
            params.algorithm = parse_algorithm(&value)?;
        }
        if let Some(value) = known.digits {
            params.digits = parse_digits(&value, kind)?;
        }
        match (kind, known.period) {
            (OtpKind::Hotp, Some(_)) => warnings.push(UriWarning::IgnoredParameter {
                name: "period".to_string(),
            }),
            (_, Some(value)) => params.period = parse_period(&value)?,
            (_, None) => params.period = DEFAULT_PERIOD_SECS,
        }
        match (kind, known.counter) {
            (OtpKind::Hotp, Some(value)) => {
                params.counter = value.trim().parse().map_err(|_| UriError::InvalidCounter {
                    value: quoted(&value),
                })?;
            }
            (OtpKind::Hotp, None) => warnings.push(UriWarning::MissingCounter),
            (_, Some(_)) => warnings.push(UriWarning::IgnoredParameter {
                name: "counter".to_string(),
            }),
            (_, None) => {}
        }
        params.validate().map_err(|error| match error {
            OtpError::InvalidDigits { digits, .. } => UriError::InvalidDigits {
                value: digits.to_string(),
            },
            OtpError::InvalidPeriod { period } => UriError::InvalidPeriod {
                value: period.to_string(),
            },
            OtpError::CounterExhausted => UriError::InvalidCounter {
                value: params.counter.to_string(),
            },
        })?;

        if secret.is_weak() {
            warnings.push(UriWarning::WeakSecret {
                bits: secret.bits(),
            });
        }
        Ok(ParsedUri {
            uri: OtpauthUri {
                params,
                secret,
                issuer,
                label: account.to_string(),
                extra,
            },
            warnings,
        })
    }

    /// Formats the URI. It contains the secret, so the text is zeroized on drop.
    ///
    /// Steam accounts are written as `otpauth://totp/…&encoder=steam`, the
    /// form other apps read; parameters equal to their defaults are still
    /// written so no reader has to guess.
    pub fn to_uri(&self) -> Zeroizing<String> {
        let kind = match self.params.kind {
            OtpKind::Totp | OtpKind::Steam => "totp",
            OtpKind::Hotp => "hotp",
        };
        // The parser splits the decoded label at its first colon, so the
        // issuer is only written as a prefix when it has no colon, and a label
        // with a colon but no prefix gets an empty one.
        let label = if !self.issuer.is_empty() && !self.issuer.contains(':') {
            format!("{}:{}", encode(&self.issuer), encode(&self.label))
        } else if self.label.contains(':') {
            format!(":{}", encode(&self.label))
        } else {
            encode(&self.label)
        };
        // Sized up front: a growing String would free copies of the secret.
        let extras: usize = self
            .extra
            .iter()
            .map(|(n, v)| 3 * (n.len() + v.len()) + 2)
            .sum();
        let capacity =
            128 + 2 * label.len() + 3 * self.issuer.len() + 2 * self.secret.len() + extras;
        let mut uri = Zeroizing::new(String::with_capacity(capacity));
        uri.push_str(&format!("otpauth://{kind}/{label}?secret="));
        uri.push_str(&self.secret.to_base32());
        if !self.issuer.is_empty() {
            uri.push_str(&format!("&issuer={}", encode(&self.issuer)));
        }
        uri.push_str(&format!("&algorithm={}", self.params.algorithm));
        uri.push_str(&format!("&digits={}", self.params.digits));
        match self.params.kind {
            OtpKind::Hotp => uri.push_str(&format!("&counter={}", self.params.counter)),
            OtpKind::Totp => uri.push_str(&format!("&period={}", self.params.period)),
            OtpKind::Steam => {
                uri.push_str(&format!("&period={}&encoder=steam", self.params.period))
            }
        }
        for (name, value) in &self.extra {
            uri.push_str(&format!("&{}={}", encode(name), encode(value)));
        }
        uri
    }
}

fn encode(text: &str) -> String {
    crate::percent::encode(text).to_string()
}

fn is_steam_issuer(issuer: &str) -> bool {
    issuer.eq_ignore_ascii_case("steam")
}

fn parse_algorithm(value: &str) -> Result<Algorithm, UriError> {
    let normalised: String = value
        .trim()
        .chars()
        .filter(|c| *c != '-' && *c != '_')
        .collect::<String>()
        .to_ascii_uppercase();
    match normalised.as_str() {
        "SHA1" => Ok(Algorithm::Sha1),
        "SHA256" => Ok(Algorithm::Sha256),
        "SHA512" => Ok(Algorithm::Sha512),
        _ => Err(UriError::UnsupportedAlgorithm {
            value: quoted(value),
        }),
    }
}

fn parse_digits(value: &str, kind: OtpKind) -> Result<u8, UriError> {
    let invalid = || UriError::InvalidDigits {
        value: quoted(value),
    };
    let digits: u8 = value.trim().parse().map_err(|_| invalid())?;
    match kind {
        // Steam codes always have five characters; apps write 5 or a stale 6.
        OtpKind::Steam if digits == STEAM_DIGITS || digits == 6 => Ok(STEAM_DIGITS),
        OtpKind::Steam => Err(invalid()),
        OtpKind::Totp | OtpKind::Hotp => Ok(digits),
    }
}

fn parse_period(value: &str) -> Result<u32, UriError> {
    value.trim().parse().map_err(|_| UriError::InvalidPeriod {
        value: quoted(value),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = "otpauth://totp/ACME%20Co:john.doe@email.com?secret=HXDMVJECJJWSRB3HWIZR4IFUGFTMXBOZ&issuer=ACME%20Co&algorithm=SHA1&digits=6&period=30";

    #[test]
    fn parses_the_key_uri_format_example() {
        let parsed = OtpauthUri::parse(GOOD).unwrap();
        assert!(parsed.warnings.is_empty(), "{:?}", parsed.warnings);
        let uri = parsed.uri;
        assert_eq!(uri.issuer, "ACME Co");
        assert_eq!(uri.label, "john.doe@email.com");
        assert_eq!(uri.params, OtpParams::totp());
        assert_eq!(uri.secret.len(), 20);
    }

    #[test]
    fn round_trips_losslessly() {
        let original = "otpauth://hotp/Example:alice?secret=jbsw%20y3dp%20ehpk%203pxp&counter=42&digits=8&algorithm=sha256&image=https%3A%2F%2Fx.test%2Fa.png&color=ff0000";
        let first = OtpauthUri::parse(original).unwrap().uri;
        assert_eq!(first.params.counter, 42);
        assert_eq!(first.params.digits, 8);
        assert_eq!(first.params.algorithm, Algorithm::Sha256);
        assert_eq!(
            first.extra,
            vec![
                ("image".to_string(), "https://x.test/a.png".to_string()),
                ("color".to_string(), "ff0000".to_string())
            ]
        );
        let second = OtpauthUri::parse(&first.to_uri()).unwrap().uri;
        assert_eq!(first, second);
    }

    #[test]
    fn steam_by_encoder_or_issuer() {
        let by_encoder =
            OtpauthUri::parse("otpauth://totp/Steam:me?secret=JBSWY3DPEHPK3PXP&encoder=steam")
                .unwrap();
        assert_eq!(by_encoder.uri.params.kind, OtpKind::Steam);
        let by_issuer =
            OtpauthUri::parse("otpauth://totp/me?secret=JBSWY3DPEHPK3PXP&issuer=Steam").unwrap();
        assert_eq!(by_issuer.uri.params.kind, OtpKind::Steam);
        let again = OtpauthUri::parse(&by_encoder.uri.to_uri()).unwrap().uri;
        assert_eq!(again, by_encoder.uri);
    }

    #[test]
    fn issuer_parameter_wins_with_a_warning() {
        let parsed =
            OtpauthUri::parse("otpauth://totp/Old:bob?secret=JBSWY3DPEHPK3PXP&issuer=New").unwrap();
        assert_eq!(parsed.uri.issuer, "New");
        assert!(parsed.warnings.contains(&UriWarning::IssuerMismatch {
            label_prefix: "Old".into(),
            parameter: "New".into()
        }));
        assert!(
            parsed
                .warnings
                .contains(&UriWarning::WeakSecret { bits: 80 })
        );
    }

    #[test]
    fn errors_name_the_field_and_hide_the_secret() {
        let cases = [
            (
                "otpauth://totp/a?secret=JBSWY3DPEHPK3PXP&algorithm=MD5",
                "algorithm",
            ),
            (
                "otpauth://totp/a?secret=JBSWY3DPEHPK3PXP&digits=12",
                "digits",
            ),
            (
                "otpauth://totp/a?secret=JBSWY3DPEHPK3PXP&period=0",
                "period",
            ),
            ("otpauth://totp/a?issuer=x", "secret"),
            ("otpauth://totp/a?secret=JBSWY3DPEHPK3PX1", "secret"),
            ("otpauth://totp/a?secret=AAAA&secret=BBBB", "secret"),
            (
                "otpauth://totp/a?secret=JBSWY3DPEHPK3PXP&digits=6&digits=8",
                "digits",
            ),
            (
                "otpauth://hotp/a?secret=JBSWY3DPEHPK3PXP&counter=-1",
                "counter",
            ),
            ("otpauth://push/a?secret=JBSWY3DPEHPK3PXP", "type"),
            ("https://example.com", "uri"),
        ];
        for (uri, field) in cases {
            let error = OtpauthUri::parse(uri).unwrap_err();
            assert_eq!(error.field(), field, "{uri}: {error}");
            assert!(!error.to_string().contains("JBSWY3DP"), "{error}");
        }
    }
}
