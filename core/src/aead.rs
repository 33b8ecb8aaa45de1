//! AES-256-GCM and randomness from `ring`, shared by the vault and the
//! encrypted transfer formats.

use ring::aead::{AES_256_GCM, Aad, LessSafeKey, Nonce, UnboundKey};
use ring::rand::{SecureRandom, SystemRandom};
use zeroize::Zeroizing;

/// The AES-GCM nonce length (96 bits).
pub(crate) const NONCE_LEN: usize = ring::aead::NONCE_LEN;
/// The AES-GCM tag length (128 bits).
pub(crate) const TAG_LEN: usize = 16;

/// A primitive failed (the system RNG, a key of the wrong length). Each
/// layer turns it into its own error type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct CryptoFailure(pub &'static str);

/// Fills a buffer from the operating system's CSPRNG.
pub(crate) fn random_bytes<const N: usize>() -> Result<[u8; N], CryptoFailure> {
    let mut bytes = [0u8; N];
    SystemRandom::new()
        .fill(&mut bytes)
        .map_err(|_| CryptoFailure("the system random generator failed"))?;
    Ok(bytes)
}

fn aead_key(key: &[u8]) -> Result<LessSafeKey, CryptoFailure> {
    UnboundKey::new(&AES_256_GCM, key)
        .map(LessSafeKey::new)
        .map_err(|_| CryptoFailure("could not load an AES-256 key"))
}

/// Encrypts under `nonce` (which must never repeat for `key`); returns the
/// ciphertext with the tag appended.
pub(crate) fn seal(
    key: &[u8],
    nonce: [u8; NONCE_LEN],
    aad: &[u8],
    plaintext: &[u8],
) -> Result<Vec<u8>, CryptoFailure> {
    let mut buffer = plaintext.to_vec();
    aead_key(key)?
        .seal_in_place_append_tag(
            Nonce::assume_unique_for_key(nonce),
            Aad::from(aad),
            &mut buffer,
        )
        .map_err(|_| CryptoFailure("encryption failed"))?;
    Ok(buffer)
}

/// Decrypts ciphertext-with-tag; `None` when the key is wrong, the data was
/// changed (AES-GCM cannot tell the two apart) or the nonce is malformed.
pub(crate) fn open(
    key: &[u8],
    nonce: &[u8],
    aad: &[u8],
    ciphertext: &[u8],
) -> Result<Option<Zeroizing<Vec<u8>>>, CryptoFailure> {
    let Ok(nonce) = Nonce::try_assume_unique_for_key(nonce) else {
        return Ok(None);
    };
    if ciphertext.len() < TAG_LEN {
        return Ok(None);
    }
    let key = aead_key(key)?;
    let mut buffer = Zeroizing::new(ciphertext.to_vec());
    let len = match key.open_in_place(nonce, Aad::from(aad), &mut buffer) {
        Ok(plaintext) => plaintext.len(),
        Err(_) => return Ok(None),
    };
    buffer.truncate(len);
    Ok(Some(buffer))
}
