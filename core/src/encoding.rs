//! RFC 4648 base32 (unpadded, uppercase) and hex, written for the core's
//! few uses: secrets, the vault's key text, pairing codes, Aegis fields.
//! Buffers are sized exactly up front so no partial copy of a secret is
//! left behind by a growing buffer.

use zeroize::Zeroizing;

const BASE32: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

/// Unpadded uppercase base32 of `bytes`.
pub(crate) fn base32_encode(bytes: &[u8]) -> Zeroizing<String> {
    let mut out = Zeroizing::new(String::with_capacity(bytes.len().div_ceil(5) * 8));
    // Bits waiting to be written, most significant first.
    let (mut buffer, mut bits) = (0u16, 0u32);
    for &byte in bytes {
        buffer = (buffer << 8) | u16::from(byte);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            out.push(char::from(BASE32[usize::from((buffer >> bits) & 31)]));
        }
    }
    if bits > 0 {
        out.push(char::from(BASE32[usize::from((buffer << (5 - bits)) & 31)]));
    }
    out
}

/// Decodes unpadded uppercase base32. `None` for any other character or
/// for a length no encoder produces (1, 3 or 6 characters mod 8), and, when
/// `strict`, for a last character whose unused bits are not zero.
pub(crate) fn base32_decode(text: &str, strict: bool) -> Option<Zeroizing<Vec<u8>>> {
    if matches!(text.len() % 8, 1 | 3 | 6) {
        return None;
    }
    let mut out = Zeroizing::new(Vec::with_capacity(text.len() * 5 / 8));
    let (mut buffer, mut bits) = (0u16, 0u32);
    for byte in text.bytes() {
        let value = match byte {
            b'A'..=b'Z' => byte - b'A',
            b'2'..=b'7' => byte - b'2' + 26,
            _ => return None,
        };
        buffer = ((buffer << 5) | u16::from(value)) & 0x0fff;
        bits += 5;
        if bits >= 8 {
            bits -= 8;
            out.push((buffer >> bits) as u8);
        }
    }
    if strict && buffer & ((1 << bits) - 1) != 0 {
        return None;
    }
    Some(out)
}

/// Lowercase hex.
pub(crate) fn hex_encode(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for &byte in bytes {
        out.push(char::from(DIGITS[usize::from(byte >> 4)]));
        out.push(char::from(DIGITS[usize::from(byte & 15)]));
    }
    out
}

/// Hex in either case; `None` for an odd length or another character.
pub(crate) fn hex_decode(text: &str) -> Option<Vec<u8>> {
    fn digit(byte: u8) -> Option<u8> {
        match byte {
            b'0'..=b'9' => Some(byte - b'0'),
            b'a'..=b'f' => Some(byte - b'a' + 10),
            b'A'..=b'F' => Some(byte - b'A' + 10),
            _ => None,
        }
    }
    let bytes = text.as_bytes();
    if !bytes.len().is_multiple_of(2) {
        return None;
    }
    bytes
        .chunks_exact(2)
        .map(|pair| Some((digit(pair[0])? << 4) | digit(pair[1])?))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base32_matches_the_rfc_4648_vectors() {
        let vectors = [
            ("", ""),
            ("f", "MY"),
            ("fo", "MZXQ"),
            ("foo", "MZXW6"),
            ("foob", "MZXW6YQ"),
            ("fooba", "MZXW6YTB"),
            ("foobar", "MZXW6YTBOI"),
        ];
        for (plain, encoded) in vectors {
            assert_eq!(*base32_encode(plain.as_bytes()), encoded);
            assert_eq!(
                base32_decode(encoded, true).as_deref().map(Vec::as_slice),
                Some(plain.as_bytes())
            );
        }
    }

    #[test]
    fn base32_round_trips_every_length_and_byte() {
        for len in 0..40 {
            let bytes: Vec<u8> = (0..len).map(|i| (i * 37 + 11) as u8 ^ 0xa5).collect();
            let text = base32_encode(&bytes);
            assert_eq!(*base32_decode(&text, true).unwrap(), bytes);
        }
    }

    #[test]
    fn base32_refuses_bad_text_and_checks_trailing_bits_only_when_strict() {
        assert_eq!(base32_decode("A", false), None);
        assert_eq!(base32_decode("ABC", false), None);
        assert_eq!(base32_decode("ABCDEF", false), None);
        assert_eq!(base32_decode("MZxQ", false), None);
        assert_eq!(base32_decode("MZ1Q", false), None);
        assert_eq!(base32_decode("MZ=Q", false), None);
        // "MZ" is "f"; "M7" sets unused bits of the last character.
        assert_eq!(base32_decode("M7", true), None);
        assert_eq!(base32_decode("M7", false).unwrap().as_slice(), b"g");
    }

    #[test]
    fn hex_round_trips_in_either_case() {
        assert_eq!(hex_encode(&[0x00, 0xab, 0xff]), "00abff");
        assert_eq!(hex_decode("00ABff"), Some(vec![0x00, 0xab, 0xff]));
        assert_eq!(hex_decode("abc"), None);
        assert_eq!(hex_decode("zz"), None);
        assert_eq!(hex_decode(""), Some(Vec::new()));
    }
}
