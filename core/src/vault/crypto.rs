//! The vault's cryptography, all from `ring` (and `argon2` for passwords):
//! AES-256-GCM sealing, random keys, HKDF for recovery keys, Argon2id for
//! passwords.

use crate::aead::{self, NONCE_LEN};
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use super::VaultError;

/// Length of the vault key and of every key-encryption key.
pub const KEY_LEN: usize = 32;

/// A 256-bit key, zeroized on drop.
pub type Key = Zeroizing<[u8; KEY_LEN]>;

/// Fills a buffer from the operating system's CSPRNG.
pub fn random_bytes<const N: usize>() -> Result<[u8; N], VaultError> {
    Ok(aead::random_bytes()?)
}

/// A fresh random 256-bit key.
pub fn random_key() -> Result<Key, VaultError> {
    Ok(Zeroizing::new(random_bytes::<KEY_LEN>()?))
}

/// A nonce and the ciphertext with its tag.
pub struct Sealed {
    /// The 96-bit nonce, random for every seal.
    pub nonce: [u8; NONCE_LEN],
    /// Ciphertext followed by the 128-bit tag.
    pub ciphertext: Vec<u8>,
}

/// Encrypts with AES-256-GCM under a fresh random nonce.
pub fn seal(key: &[u8; KEY_LEN], aad: &[u8], plaintext: &[u8]) -> Result<Sealed, VaultError> {
    let nonce = random_bytes::<NONCE_LEN>()?;
    let ciphertext = aead::seal(key, nonce, aad, plaintext)?;
    Ok(Sealed { nonce, ciphertext })
}

/// Decrypts and authenticates; `None` when the key is wrong or the data was
/// changed (AES-GCM cannot tell the two apart).
pub fn open(
    key: &[u8; KEY_LEN],
    aad: &[u8],
    nonce: &[u8],
    ciphertext: &[u8],
) -> Result<Option<Zeroizing<Vec<u8>>>, VaultError> {
    Ok(aead::open(key, nonce, aad, ciphertext)?)
}

impl From<aead::CryptoFailure> for VaultError {
    fn from(failure: aead::CryptoFailure) -> Self {
        VaultError::Crypto(failure.0.to_string())
    }
}

/// Argon2id cost parameters, recorded in the vault file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct KdfParams {
    /// Memory in KiB.
    pub memory_kib: u32,
    /// Passes over memory.
    pub iterations: u32,
    /// Lanes.
    pub parallelism: u32,
}

impl Default for KdfParams {
    /// 64 MiB, 3 passes, 1 lane: 0.1–0.2 s on one desktop core (see
    /// `docs/benchmarks.md`), well above the OWASP minimum (19 MiB, 2 passes).
    fn default() -> Self {
        Self {
            memory_kib: 64 * 1024,
            iterations: 3,
            parallelism: 1,
        }
    }
}

impl KdfParams {
    /// The most memory a vault file may ask for (2 GiB), so a tampered file
    /// cannot make opening it exhaust the device.
    pub const MAX_MEMORY_KIB: u32 = 2 * 1024 * 1024;
    /// The most passes a vault file may ask for.
    pub const MAX_ITERATIONS: u32 = 64;
    /// The most lanes a vault file may ask for.
    pub const MAX_PARALLELISM: u32 = 16;
    /// The most total work (memory × passes, in KiB) a file may ask for:
    /// 4 GiB-passes, about 5 s on the benchmark machine. Each bound alone
    /// still allowed 2 GiB × 64 passes (minutes of work from a crafted
    /// backup, found by fuzzing); the default is 64 MiB × 3.
    pub const MAX_WORK_KIB: u64 = 4 * 1024 * 1024;

    fn argon2(&self) -> Result<argon2::Argon2<'static>, VaultError> {
        let work = u64::from(self.memory_kib) * u64::from(self.iterations);
        if self.memory_kib > Self::MAX_MEMORY_KIB
            || self.iterations > Self::MAX_ITERATIONS
            || self.parallelism > Self::MAX_PARALLELISM
            || work > Self::MAX_WORK_KIB
        {
            return Err(VaultError::Corrupt(
                "the password slot asks for more Argon2 memory or time than allowed".into(),
            ));
        }
        let params = argon2::Params::new(
            self.memory_kib,
            self.iterations,
            self.parallelism,
            Some(KEY_LEN),
        )
        .map_err(|e| VaultError::Corrupt(format!("invalid Argon2 parameters: {e}")))?;
        Ok(argon2::Argon2::new(
            argon2::Algorithm::Argon2id,
            argon2::Version::V0x13,
            params,
        ))
    }

    /// Derives a key-encryption key from a password.
    pub fn derive(&self, password: &str, salt: &[u8]) -> Result<Key, VaultError> {
        let mut key = Zeroizing::new([0u8; KEY_LEN]);
        self.argon2()?
            .hash_password_into(password.as_bytes(), salt, key.as_mut())
            .map_err(|e| VaultError::Crypto(format!("Argon2 failed: {e}")))?;
        Ok(key)
    }
}

/// Derives a recovery slot's key-encryption key from the recovery key bytes.
/// The recovery key is already uniformly random, so HKDF (not a slow KDF) is
/// enough.
pub fn derive_recovery(secret: &[u8], salt: &[u8]) -> Result<Key, VaultError> {
    struct Len;
    impl ring::hkdf::KeyType for Len {
        fn len(&self) -> usize {
            KEY_LEN
        }
    }
    let prk = ring::hkdf::Salt::new(ring::hkdf::HKDF_SHA256, salt).extract(secret);
    let mut key = Zeroizing::new([0u8; KEY_LEN]);
    prk.expand(&[b"tessera recovery slot v1"], Len)
        .and_then(|okm| okm.fill(key.as_mut()))
        .map_err(|_| VaultError::Crypto("HKDF failed".into()))?;
    Ok(key)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seal_open_and_tamper() {
        let key = random_key().unwrap();
        let sealed = seal(&key, b"aad", b"hello").unwrap();
        let opened = open(&key, b"aad", &sealed.nonce, &sealed.ciphertext)
            .unwrap()
            .unwrap();
        assert_eq!(opened.as_slice(), b"hello");
        assert!(
            open(&key, b"other", &sealed.nonce, &sealed.ciphertext)
                .unwrap()
                .is_none()
        );
        let mut flipped = sealed.ciphertext.clone();
        flipped[0] ^= 1;
        assert!(
            open(&key, b"aad", &sealed.nonce, &flipped)
                .unwrap()
                .is_none()
        );
        let other = random_key().unwrap();
        assert!(
            open(&other, b"aad", &sealed.nonce, &sealed.ciphertext)
                .unwrap()
                .is_none()
        );
    }

    #[test]
    fn argon2_is_deterministic_and_bounded() {
        let cheap = KdfParams {
            memory_kib: 64,
            iterations: 1,
            parallelism: 1,
        };
        let salt = [7u8; 16];
        assert_eq!(
            *cheap.derive("pw", &salt).unwrap(),
            *cheap.derive("pw", &salt).unwrap()
        );
        assert_ne!(
            *cheap.derive("pw", &salt).unwrap(),
            *cheap.derive("pX", &salt).unwrap()
        );
        let greedy = KdfParams {
            memory_kib: u32::MAX,
            ..cheap
        };
        assert!(matches!(
            greedy.derive("pw", &salt),
            Err(VaultError::Corrupt(_))
        ));
    }
}
