//! Percent-encoding for URI labels and query values (otpauth and pairing
//! URIs): strict about malformed escapes when decoding, RFC 3986
//! unreserved characters only when encoding.

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use zeroize::Zeroizing;

/// Characters left as they are when encoding (RFC 3986 unreserved);
/// everything else is percent-encoded.
const UNRESERVED: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// Percent-encodes everything but the RFC 3986 unreserved characters.
pub(crate) fn encode(text: &str) -> impl std::fmt::Display + '_ {
    utf8_percent_encode(text, UNRESERVED)
}

/// Decodes `%XX` escapes (and `+` as a space when `plus_is_space`); `None`
/// for a malformed escape or text that is not UTF-8.
///
/// Decoded text is never longer than the raw text, so the buffer is sized
/// once and never grows: no stray copy of a secret is left in freed memory,
/// and rejected bytes are wiped.
pub(crate) fn decode(raw: &str, plus_is_space: bool) -> Option<String> {
    let mut bytes = Vec::with_capacity(raw.len());
    let mut input = raw.bytes();
    while let Some(b) = input.next() {
        match b {
            b'%' => {
                let high = input.next().and_then(hex_value)?;
                let low = input.next().and_then(hex_value)?;
                bytes.push(high << 4 | low);
            }
            b'+' if plus_is_space => bytes.push(b' '),
            other => bytes.push(other),
        }
    }
    String::from_utf8(bytes)
        .map_err(|e| drop(Zeroizing::new(e.into_bytes())))
        .ok()
}

fn hex_value(digit: u8) -> Option<u8> {
    char::from(digit)
        .to_digit(16)
        .and_then(|d| u8::try_from(d).ok())
}

#[cfg(test)]
mod tests {
    use super::decode;

    #[test]
    fn decodes_and_refuses() {
        assert_eq!(decode("a%20b+c", true).as_deref(), Some("a b c"));
        assert_eq!(decode("a+c", false).as_deref(), Some("a+c"));
        assert_eq!(decode("%E2%9C%93", false).as_deref(), Some("\u{2713}"));
        for bad in ["%", "%2", "%zz", "%FF"] {
            assert_eq!(decode(bad, false), None, "{bad}");
        }
    }

    #[test]
    fn encodes_all_but_unreserved() {
        assert_eq!(
            super::encode("a b:c/d~e_f.g-h").to_string(),
            "a%20b%3Ac%2Fd~e_f.g-h"
        );
    }
}
