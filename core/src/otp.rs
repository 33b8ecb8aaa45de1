//! The OTP engine: HOTP (RFC 4226), TOTP (RFC 6238) and Steam Guard codes.
//!
//! Time is always an argument ([`OtpGenerator::code_at`]); nothing here reads a
//! clock, so the trusted clock drives the codes and tests are exact.
//!
//! The HMAC key schedule (the inner and outer padded blocks) is computed once
//! per account in [`OtpGenerator::new`] and cloned for each code, which halves
//! the hashing work per code. RustCrypto's `hmac`/`sha1`/`sha2` are used here
//! rather than `ring::hmac`: with the prepared state they are faster per
//! SHA-1 code (0.30 µs against 0.47 µs in the research measurements; see
//! `docs/benchmarks.md` for this project's own figures), and they use the
//! SHA instructions of x86 and ARMv8 CPUs, which ring's SHA-1 does not.

use std::fmt;

use hmac::{Hmac, KeyInit, Mac};
use serde::{Deserialize, Serialize};

use crate::secret::Secret;

/// Steam Guard's 26-symbol alphabet (no vowels or look-alike digits).
const STEAM_ALPHABET: &[u8; 26] = b"23456789BCDFGHJKMNPQRTVWXY";

/// The fewest digits RFC 4226 allows for HOTP/TOTP.
pub const MIN_DIGITS: u8 = 6;
/// The most digits a 31-bit truncated value can fill.
pub const MAX_DIGITS: u8 = 10;
/// The number of characters in a Steam Guard code.
pub const STEAM_DIGITS: u8 = 5;
/// The longest TOTP period accepted, in seconds (one hour). Longer periods are
/// never issued by real services and usually mean a unit mistake.
pub const MAX_PERIOD_SECS: u32 = 3600;
/// The TOTP period used when none is given, in seconds.
pub const DEFAULT_PERIOD_SECS: u32 = 30;

/// Which kind of one-time password an account produces.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OtpKind {
    /// Time-based (RFC 6238).
    Totp,
    /// Counter-based (RFC 4226).
    Hotp,
    /// Steam Guard: TOTP with five characters from Steam's alphabet.
    Steam,
}

/// The HMAC hash function.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Algorithm {
    /// HMAC-SHA-1, the RFC 4226 default and by far the most common.
    #[serde(rename = "SHA1")]
    Sha1,
    /// HMAC-SHA-256.
    #[serde(rename = "SHA256")]
    Sha256,
    /// HMAC-SHA-512.
    #[serde(rename = "SHA512")]
    Sha512,
}

impl Algorithm {
    /// The name used in otpauth URIs (`SHA1`, `SHA256`, `SHA512`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Sha1 => "SHA1",
            Self::Sha256 => "SHA256",
            Self::Sha512 => "SHA512",
        }
    }
}

impl fmt::Display for Algorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Everything but the secret that decides which code an account shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct OtpParams {
    /// TOTP, HOTP or Steam.
    pub kind: OtpKind,
    /// The HMAC hash.
    pub algorithm: Algorithm,
    /// Code length: 6–10 for HOTP/TOTP, 5 for Steam.
    pub digits: u8,
    /// Time step in seconds (TOTP and Steam; ignored for HOTP).
    pub period: u32,
    /// The next counter value to use (HOTP; ignored otherwise).
    pub counter: u64,
}

impl OtpParams {
    /// RFC 6238 defaults: SHA-1, 6 digits, 30 s.
    pub fn totp() -> Self {
        Self {
            kind: OtpKind::Totp,
            algorithm: Algorithm::Sha1,
            digits: MIN_DIGITS,
            period: DEFAULT_PERIOD_SECS,
            counter: 0,
        }
    }

    /// RFC 4226 defaults: SHA-1, 6 digits, counter 0.
    pub fn hotp(counter: u64) -> Self {
        Self {
            kind: OtpKind::Hotp,
            counter,
            ..Self::totp()
        }
    }

    /// Steam Guard: SHA-1, 5 characters, 30 s.
    pub fn steam() -> Self {
        Self {
            kind: OtpKind::Steam,
            digits: STEAM_DIGITS,
            ..Self::totp()
        }
    }

    /// Checks the parameters a code depends on.
    pub fn validate(&self) -> Result<(), OtpError> {
        let digits_ok = match self.kind {
            OtpKind::Steam => self.digits == STEAM_DIGITS,
            OtpKind::Totp | OtpKind::Hotp => (MIN_DIGITS..=MAX_DIGITS).contains(&self.digits),
        };
        if !digits_ok {
            return Err(OtpError::InvalidDigits {
                kind: self.kind,
                digits: self.digits,
            });
        }
        if self.kind != OtpKind::Hotp && !(1..=MAX_PERIOD_SECS).contains(&self.period) {
            return Err(OtpError::InvalidPeriod {
                period: self.period,
            });
        }
        Ok(())
    }

    /// True for the time-based kinds (TOTP and Steam).
    pub fn is_time_based(&self) -> bool {
        self.kind != OtpKind::Hotp
    }
}

/// A point in time, in milliseconds since the Unix epoch (UTC).
///
/// Milliseconds so a countdown can turn over exactly at a period boundary.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Timestamp(u64);

impl Timestamp {
    /// From whole seconds since the epoch.
    pub fn from_unix_secs(secs: u64) -> Self {
        Self(secs.saturating_mul(1000))
    }

    /// From milliseconds since the epoch.
    pub fn from_unix_millis(millis: u64) -> Self {
        Self(millis)
    }

    /// Whole seconds since the epoch (rounded down).
    pub fn unix_secs(self) -> u64 {
        self.0 / 1000
    }

    /// Milliseconds since the epoch.
    pub fn unix_millis(self) -> u64 {
        self.0
    }
}

/// The interval in which a time-based code is the current one: `[from, until)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Validity {
    /// The first instant the code is valid.
    pub from: Timestamp,
    /// The first instant the next code takes over.
    pub until: Timestamp,
}

/// A generated code with what a UI needs to show it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Code {
    /// The digits (or Steam characters) to type.
    pub value: String,
    /// The HOTP counter or TOTP time step the code was computed from.
    pub counter: u64,
    /// For time-based codes, when this code is current; `None` for HOTP.
    pub validity: Option<Validity>,
}

impl Code {
    /// Milliseconds until the next code takes over, or `None` for HOTP.
    pub fn millis_left(&self, now: Timestamp) -> Option<u64> {
        self.validity
            .map(|v| v.until.unix_millis().saturating_sub(now.unix_millis()))
    }

    /// Whole seconds left, rounded up (what a countdown shows), or `None` for HOTP.
    pub fn seconds_left(&self, now: Timestamp) -> Option<u64> {
        self.millis_left(now).map(|ms| ms.div_ceil(1000))
    }
}

/// Why a code could not be produced. Never carries secret material.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OtpError {
    /// Digits outside the range the kind allows.
    #[error("{digits} digits is not valid for {kind:?} (HOTP/TOTP take 6 to 10, Steam takes 5)")]
    InvalidDigits {
        /// The account kind.
        kind: OtpKind,
        /// The rejected digit count.
        digits: u8,
    },
    /// A TOTP period of 0 or longer than [`MAX_PERIOD_SECS`].
    #[error("a period of {period} s is not valid (1 to {max} s)", max = MAX_PERIOD_SECS)]
    InvalidPeriod {
        /// The rejected period.
        period: u32,
    },
    /// The HOTP counter cannot be advanced further.
    #[error("the HOTP counter is exhausted")]
    CounterExhausted,
}

/// The HMAC state after absorbing the key, ready to be cloned per code.
#[derive(Clone)]
enum PreparedKey {
    Sha1(Hmac<sha1::Sha1>),
    Sha256(Hmac<sha2::Sha256>),
    Sha512(Hmac<sha2::Sha512>),
}

impl PreparedKey {
    fn new(algorithm: Algorithm, secret: &Secret) -> Self {
        // HMAC accepts keys of any length (long keys are hashed first), so
        // `new_from_slice` cannot fail for these hashes.
        match algorithm {
            Algorithm::Sha1 => Self::Sha1(hmac_with_key(secret)),
            Algorithm::Sha256 => Self::Sha256(hmac_with_key(secret)),
            Algorithm::Sha512 => Self::Sha512(hmac_with_key(secret)),
        }
    }

    /// RFC 4226 §5.3 dynamic truncation of HMAC(counter), as a 31-bit value.
    fn truncated(&self, counter: u64) -> u32 {
        let message = counter.to_be_bytes();
        match self {
            Self::Sha1(mac) => truncate(&sign(mac, &message)),
            Self::Sha256(mac) => truncate(&sign(mac, &message)),
            Self::Sha512(mac) => truncate(&sign(mac, &message)),
        }
    }
}

fn hmac_with_key<M: KeyInit>(secret: &Secret) -> M {
    match M::new_from_slice(secret.expose()) {
        Ok(mac) => mac,
        // Unreachable for HMAC, which takes any key length; an empty key is
        // the only safe fallback that keeps this function total.
        Err(_) => M::new(&Default::default()),
    }
}

fn sign<M: Mac + Clone>(prepared: &M, message: &[u8]) -> hmac::digest::Output<M> {
    let mut mac = prepared.clone();
    mac.update(message);
    mac.finalize().into_bytes()
}

fn truncate(digest: &[u8]) -> u32 {
    // Every digest here is at least 20 bytes, so offset + 3 < len.
    let offset = usize::from(digest[digest.len() - 1] & 0x0f);
    u32::from_be_bytes([
        digest[offset] & 0x7f,
        digest[offset + 1],
        digest[offset + 2],
        digest[offset + 3],
    ])
}

/// Produces codes for one account; the HMAC key is prepared once.
#[derive(Clone)]
pub struct OtpGenerator {
    params: OtpParams,
    key: PreparedKey,
}

impl fmt::Debug for OtpGenerator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OtpGenerator")
            .field("params", &self.params)
            .field("key", &"<redacted>")
            .finish()
    }
}

impl OtpGenerator {
    /// Validates the parameters and prepares the HMAC key.
    pub fn new(params: OtpParams, secret: &Secret) -> Result<Self, OtpError> {
        params.validate()?;
        Ok(Self {
            params,
            key: PreparedKey::new(params.algorithm, secret),
        })
    }

    /// The parameters this generator was built with.
    pub fn params(&self) -> &OtpParams {
        &self.params
    }

    /// The code for an explicit counter (HOTP) or time step (TOTP/Steam),
    /// without a validity window.
    pub fn code_for_counter(&self, counter: u64) -> String {
        let value = self.key.truncated(counter);
        match self.params.kind {
            OtpKind::Steam => steam_characters(value),
            OtpKind::Totp | OtpKind::Hotp => decimal_digits(value, self.params.digits),
        }
    }

    /// The current code at `now`.
    ///
    /// For TOTP and Steam this is the code of the time step holding `now`,
    /// with its validity window. For HOTP it is the code for the stored
    /// counter; `now` is not used (persist the counter increment before
    /// showing it, see the vault).
    pub fn code_at(&self, now: Timestamp) -> Code {
        if !self.params.is_time_based() {
            return Code {
                value: self.code_for_counter(self.params.counter),
                counter: self.params.counter,
                validity: None,
            };
        }
        let period = u64::from(self.params.period);
        let step = now.unix_secs() / period;
        let from = step * period;
        Code {
            value: self.code_for_counter(step),
            counter: step,
            validity: Some(Validity {
                from: Timestamp::from_unix_secs(from),
                until: Timestamp::from_unix_secs(from + period),
            }),
        }
    }
}

fn decimal_digits(value: u32, digits: u8) -> String {
    // 10^10 exceeds 2^31, so ten digits show the whole 31-bit value.
    let modulus = 10u64.pow(u32::from(digits));
    format!(
        "{:0width$}",
        u64::from(value) % modulus,
        width = usize::from(digits)
    )
}

fn steam_characters(mut value: u32) -> String {
    let base = STEAM_ALPHABET.len() as u32;
    (0..STEAM_DIGITS)
        .map(|_| {
            let symbol = STEAM_ALPHABET[(value % base) as usize];
            value /= base;
            char::from(symbol)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rfc_secret() -> Secret {
        Secret::from_bytes(b"12345678901234567890".to_vec()).unwrap()
    }

    #[test]
    fn hotp_rfc4226_first_vectors() {
        let generator = OtpGenerator::new(OtpParams::hotp(0), &rfc_secret()).unwrap();
        assert_eq!(generator.code_for_counter(0), "755224");
        assert_eq!(generator.code_for_counter(9), "520489");
    }

    #[test]
    fn totp_carries_its_window() {
        let params = OtpParams {
            digits: 8,
            ..OtpParams::totp()
        };
        let generator = OtpGenerator::new(params, &rfc_secret()).unwrap();
        let code = generator.code_at(Timestamp::from_unix_millis(59_400));
        assert_eq!(code.value, "94287082");
        assert_eq!(code.counter, 1);
        let window = code.validity.unwrap();
        assert_eq!(window.from, Timestamp::from_unix_secs(30));
        assert_eq!(window.until, Timestamp::from_unix_secs(60));
        assert_eq!(
            code.millis_left(Timestamp::from_unix_millis(59_400)),
            Some(600)
        );
        assert_eq!(
            code.seconds_left(Timestamp::from_unix_millis(59_400)),
            Some(1)
        );
    }

    #[test]
    fn ten_digits_show_the_whole_truncated_value() {
        let params = OtpParams {
            digits: 10,
            ..OtpParams::hotp(0)
        };
        let generator = OtpGenerator::new(params, &rfc_secret()).unwrap();
        // RFC 4226 Appendix D: truncated value for counter 0 is 0x4c93cf18.
        assert_eq!(generator.code_for_counter(0), "1284755224");
    }

    #[test]
    fn steam_uses_its_alphabet() {
        let generator = OtpGenerator::new(OtpParams::steam(), &rfc_secret()).unwrap();
        let code = generator.code_at(Timestamp::from_unix_secs(1_700_000_000));
        assert_eq!(code.value.len(), 5);
        assert!(code.value.bytes().all(|b| STEAM_ALPHABET.contains(&b)));
    }

    #[test]
    fn rejects_parameters_that_would_change_the_code() {
        let secret = rfc_secret();
        for digits in [0, 5, 11, 255] {
            let params = OtpParams {
                digits,
                ..OtpParams::totp()
            };
            assert!(matches!(
                OtpGenerator::new(params, &secret),
                Err(OtpError::InvalidDigits { .. })
            ));
        }
        for period in [0, MAX_PERIOD_SECS + 1] {
            let params = OtpParams {
                period,
                ..OtpParams::totp()
            };
            assert_eq!(
                OtpGenerator::new(params, &secret).unwrap_err(),
                OtpError::InvalidPeriod { period }
            );
        }
        let six_digit_steam = OtpParams {
            digits: 6,
            ..OtpParams::steam()
        };
        assert!(OtpGenerator::new(six_digit_steam, &secret).is_err());
    }

    #[test]
    fn debug_hides_the_key() {
        let generator = OtpGenerator::new(OtpParams::totp(), &rfc_secret()).unwrap();
        let shown = format!("{generator:?}");
        assert!(shown.contains("redacted"));
        assert!(!shown.contains("12345678901234567890"));
    }
}
