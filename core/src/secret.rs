//! Shared secrets: the bytes an OTP is computed from.
//!
//! A [`Secret`] zeroizes its bytes on drop and never shows them in `Debug` or
//! `Display`, so it can sit inside any struct that is logged or printed.

use std::fmt;

use zeroize::Zeroizing;

/// Secrets shorter than this (in bytes) are accepted but flagged as weak.
///
/// RFC 4226 §4 requires 128 bits and recommends 160; 80-bit secrets are still
/// common in the wild, so refusing them would lock users out of real accounts.
pub const RECOMMENDED_MIN_SECRET_BYTES: usize = 16;

/// The largest secret accepted anywhere (1 KiB). Anything bigger is a mistake
/// or an attack, never a real OTP key.
pub const MAX_SECRET_BYTES: usize = 1024;

/// OTP shared-secret bytes: zeroized on drop, redacted in every text output.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(Zeroizing<Vec<u8>>);

/// Why a base32 secret could not be decoded. Never carries the secret itself.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SecretError {
    /// Nothing was left after removing spaces, hyphens and padding.
    #[error("the secret is empty")]
    Empty,
    /// A character outside the base32 alphabet (A–Z, 2–7).
    #[error(
        "the secret has a character that is not base32 at position {position} (allowed: A-Z and 2-7)"
    )]
    InvalidCharacter {
        /// 1-based position in the normalised secret.
        position: usize,
    },
    /// The base32 text has a length no encoder produces.
    #[error("the secret's base32 text has an impossible length ({length} characters)")]
    InvalidLength {
        /// Length of the normalised text.
        length: usize,
    },
    /// Longer than [`MAX_SECRET_BYTES`].
    #[error("the secret is longer than {max} bytes", max = MAX_SECRET_BYTES)]
    TooLong,
}

impl Secret {
    /// Wraps raw bytes. Fails when empty or over [`MAX_SECRET_BYTES`].
    pub fn from_bytes(bytes: Vec<u8>) -> Result<Self, SecretError> {
        let bytes = Zeroizing::new(bytes);
        if bytes.is_empty() {
            return Err(SecretError::Empty);
        }
        if bytes.len() > MAX_SECRET_BYTES {
            return Err(SecretError::TooLong);
        }
        Ok(Self(bytes))
    }

    /// Decodes base32 the way users paste it: case-insensitive, with spaces,
    /// hyphens and `=` padding ignored.
    pub fn from_base32(text: &str) -> Result<Self, SecretError> {
        let normalised = Zeroizing::new(normalise_base32(text));
        if normalised.is_empty() {
            return Err(SecretError::Empty);
        }
        // Checked before decoding so a huge paste is never decoded at all.
        if normalised.len() > MAX_SECRET_BYTES * 8 / 5 + 1 {
            return Err(SecretError::TooLong);
        }
        if let Some(index) = normalised
            .bytes()
            .position(|b| !(b.is_ascii_uppercase() || (b'2'..=b'7').contains(&b)))
        {
            return Err(SecretError::InvalidCharacter {
                position: index + 1,
            });
        }
        // Lengths 1, 3 and 6 (mod 8) leave bits that no encoder can produce.
        if matches!(normalised.len() % 8, 1 | 3 | 6) {
            return Err(SecretError::InvalidLength {
                length: normalised.len(),
            });
        }
        let bytes = decode_base32(&normalised).ok_or(SecretError::InvalidLength {
            length: normalised.len(),
        })?;
        if bytes.is_empty() {
            return Err(SecretError::Empty);
        }
        Ok(Self(bytes))
    }

    /// The secret as unpadded uppercase base32 (the otpauth form).
    ///
    /// The returned text is a secret too: it is zeroized when dropped.
    pub fn to_base32(&self) -> Zeroizing<String> {
        encode_base32(&self.0)
    }

    /// The raw bytes.
    pub fn expose(&self) -> &[u8] {
        &self.0
    }

    /// Length in bytes.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Always false: an empty secret cannot be built. Present for API symmetry.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Strength in bits.
    pub fn bits(&self) -> usize {
        self.0.len() * 8
    }

    /// True when shorter than the 128 bits RFC 4226 requires.
    pub fn is_weak(&self) -> bool {
        self.0.len() < RECOMMENDED_MIN_SECRET_BYTES
    }
}

/// Unpadded RFC 4648 base32 of secret bytes.
pub(crate) fn encode_base32(bytes: &[u8]) -> Zeroizing<String> {
    crate::encoding::base32_encode(bytes)
}

/// Decodes normalised (uppercase, unpadded) base32; `None` when the text is
/// not valid base32. The unused bits of the last character are ignored:
/// many sites make secrets as random base32 characters rather than by
/// encoding bytes, so those bits are often not zero, and every other app
/// ignores them too.
pub(crate) fn decode_base32(normalised: &str) -> Option<Zeroizing<Vec<u8>>> {
    crate::encoding::base32_decode(normalised, false)
}

/// Uppercases and strips whitespace, hyphens and `=` padding.
fn normalise_base32(text: &str) -> String {
    // Sized up front: a growing String would free copies of the secret.
    let mut normalised = String::with_capacity(text.len());
    normalised.extend(
        text.chars()
            .filter(|c| !c.is_whitespace() && *c != '-' && *c != '=')
            .map(|c| c.to_ascii_uppercase()),
    );
    normalised
}

/// Serialised as unpadded base32 text (inside the encrypted vault payload only).
impl serde::Serialize for Secret {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.to_base32())
    }
}

impl<'de> serde::Deserialize<'de> for Secret {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = Zeroizing::new(String::deserialize(deserializer)?);
        Self::from_base32(&text).map_err(serde::de::Error::custom)
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Secret(<{} bytes redacted>)", self.0.len())
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<secret redacted>")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_what_users_paste() {
        let canonical = Secret::from_base32("JBSWY3DPEHPK3PXP").unwrap();
        for variant in [
            "jbswy3dpehpk3pxp",
            "JBSW Y3DP EHPK 3PXP",
            "jbsw-y3dp-ehpk-3pxp",
            "JBSWY3DPEHPK3PXP====",
            " JBSWY3DPEHPK3PXP\n",
        ] {
            assert_eq!(
                Secret::from_base32(variant).unwrap(),
                canonical,
                "{variant}"
            );
        }
        assert_eq!(canonical.expose(), b"Hello!\xde\xad\xbe\xef");
        assert!(canonical.is_weak());
        assert_eq!(canonical.bits(), 80);
        assert_eq!(canonical.to_base32().as_str(), "JBSWY3DPEHPK3PXP");
    }

    #[test]
    fn ignores_unused_trailing_bits() {
        // 26 characters carry 130 bits: the last 2 are unused and need not be 0.
        let random_chars = Secret::from_base32("JBSWY3DPEHPK3PXPJBSWY3DPEB").unwrap();
        let zero_bits = Secret::from_base32("JBSWY3DPEHPK3PXPJBSWY3DPEA").unwrap();
        assert_eq!(random_chars, zero_bits);
        assert_eq!(random_chars.len(), 16);
    }

    #[test]
    fn rejects_bad_base32_with_a_reason() {
        assert_eq!(Secret::from_base32(" = - "), Err(SecretError::Empty));
        assert_eq!(
            Secret::from_base32("JBSW1"),
            Err(SecretError::InvalidCharacter { position: 5 })
        );
        assert_eq!(
            Secret::from_base32("JBSWY3DPE"),
            Err(SecretError::InvalidLength { length: 9 })
        );
        let huge = "A".repeat(4000);
        assert_eq!(Secret::from_base32(&huge), Err(SecretError::TooLong));
        assert_eq!(
            Secret::from_bytes(vec![1; MAX_SECRET_BYTES + 1]),
            Err(SecretError::TooLong)
        );
    }

    #[test]
    fn never_prints_the_bytes() {
        let secret = Secret::from_base32("GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ").unwrap();
        let shown = format!("{secret:?} {secret} {:#?}", secret);
        assert!(!shown.contains("GEZDGNBV"));
        assert!(!shown.contains("12345678"));
        assert!(shown.contains("redacted"));
    }
}
