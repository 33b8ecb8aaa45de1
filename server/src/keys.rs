//! The server's keys: the P-256 signing key devices pin (it signs prompts
//! and enrollment answers) and a 256-bit data key that encrypts secrets at
//! rest (TOTP secrets). Both are made on first start and kept in the
//! database, so a restart keeps every pairing valid.

use ring::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use ring::rand::{SecureRandom as _, SystemRandom};
use sqlx::SqlitePool;
use tessera_core::push::{PublicKey, SigningKey};
use zeroize::Zeroizing;

use crate::ApiError;

/// Length of the data key in bytes (AES-256).
pub const DATA_KEY_LEN: usize = 32;

/// Length of the AES-GCM tag appended to every sealed value.
const TAG_LEN: usize = 16;

/// The server's signing key and data key.
pub struct ServerKeys {
    signing: SigningKey,
    thumbprint: String,
    data_key: LessSafeKey,
    rng: SystemRandom,
}

impl std::fmt::Debug for ServerKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerKeys")
            .field("thumbprint", &self.thumbprint)
            .field("data_key", &"[redacted]")
            .finish()
    }
}

impl ServerKeys {
    /// Builds the keys from their stored forms.
    pub fn from_parts(signing_pkcs8: &[u8], data_key: &[u8]) -> Result<Self, ApiError> {
        let signing = SigningKey::from_pkcs8(signing_pkcs8)
            .map_err(|e| ApiError::internal(format!("server signing key: {e}")))?;
        if data_key.len() != DATA_KEY_LEN {
            return Err(ApiError::internal("server data key: not 32 bytes"));
        }
        let unbound = UnboundKey::new(&AES_256_GCM, data_key)
            .map_err(|_| ApiError::internal("server data key: refused by AES-256-GCM"))?;
        let thumbprint = signing.public_key().thumbprint();
        Ok(Self {
            signing,
            thumbprint,
            data_key: LessSafeKey::new(unbound),
            rng: SystemRandom::new(),
        })
    }

    /// Loads the keys from the database, making and storing them on first
    /// start. Two servers starting on one fresh database agree: the first
    /// insert wins and both read the row back.
    pub async fn load_or_create(db: &SqlitePool) -> Result<Self, ApiError> {
        if let Some(keys) = Self::load(db).await? {
            return Ok(keys);
        }
        let signing = SigningKey::generate()
            .map_err(|e| ApiError::internal(format!("server signing key: {e}")))?;
        let mut data_key = Zeroizing::new([0u8; DATA_KEY_LEN]);
        SystemRandom::new()
            .fill(data_key.as_mut())
            .map_err(|_| ApiError::internal("the system random generator failed"))?;
        sqlx::query(
            "INSERT INTO server_keys (id, signing_pkcs8, data_key, created_at)
             VALUES (1, ?, ?, ?) ON CONFLICT (id) DO NOTHING",
        )
        .bind(signing.pkcs8())
        .bind(data_key.as_slice())
        .bind(crate::db::now())
        .execute(db)
        .await?;
        Self::load(db)
            .await?
            .ok_or_else(|| ApiError::internal("server keys: missing right after being stored"))
    }

    async fn load(db: &SqlitePool) -> Result<Option<Self>, ApiError> {
        let row: Option<(Vec<u8>, Vec<u8>)> =
            sqlx::query_as("SELECT signing_pkcs8, data_key FROM server_keys WHERE id = 1")
                .fetch_optional(db)
                .await?;
        match row {
            None => Ok(None),
            Some((pkcs8, data_key)) => {
                let pkcs8 = Zeroizing::new(pkcs8);
                let data_key = Zeroizing::new(data_key);
                Self::from_parts(&pkcs8, &data_key).map(Some)
            }
        }
    }

    /// The signing key (signs prompts and enrollment answers).
    pub fn signing_key(&self) -> &SigningKey {
        &self.signing
    }

    /// The public half devices pin.
    pub fn public_key(&self) -> &PublicKey {
        self.signing.public_key()
    }

    /// The public key's RFC 7638 thumbprint (the pairing URI's `fp`, the
    /// prompts' `kid`), computed once.
    pub fn thumbprint(&self) -> &str {
        &self.thumbprint
    }

    /// Encrypts `plaintext` with the server's data key (AES-256-GCM, a fresh
    /// random 96-bit nonce prepended to the ciphertext and tag).
    pub fn seal(&self, plaintext: &[u8]) -> Result<Vec<u8>, ApiError> {
        let mut nonce = [0u8; NONCE_LEN];
        self.rng
            .fill(&mut nonce)
            .map_err(|_| ApiError::internal("the system random generator failed"))?;
        let mut out = Vec::with_capacity(NONCE_LEN + plaintext.len() + TAG_LEN);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(plaintext);
        let mut in_out = out.split_off(NONCE_LEN);
        self.data_key
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::empty(),
                &mut in_out,
            )
            .map_err(|_| ApiError::internal("sealing with the data key failed"))?;
        out.append(&mut in_out);
        Ok(out)
    }

    /// Decrypts what [`ServerKeys::seal`] made. A value that was altered, or
    /// sealed under another key, is refused.
    pub fn open(&self, sealed: &[u8]) -> Result<Zeroizing<Vec<u8>>, ApiError> {
        if sealed.len() < NONCE_LEN + TAG_LEN {
            return Err(ApiError::internal("sealed value: too short"));
        }
        let (nonce, ciphertext) = sealed.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce)
            .map_err(|_| ApiError::internal("sealed value: bad nonce"))?;
        let mut buffer = Zeroizing::new(ciphertext.to_vec());
        let plain_len = self
            .data_key
            .open_in_place(nonce, Aad::empty(), buffer.as_mut_slice())
            .map_err(|_| ApiError::internal("sealed value: does not decrypt under the data key"))?
            .len();
        buffer.truncate(plain_len);
        Ok(buffer)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys() -> ServerKeys {
        let signing = SigningKey::generate().unwrap();
        ServerKeys::from_parts(signing.pkcs8(), &[7u8; 32]).unwrap()
    }

    #[test]
    fn seal_then_open_round_trips() {
        let keys = keys();
        let sealed = keys.seal(b"a secret").unwrap();
        assert_eq!(sealed.len(), NONCE_LEN + 8 + TAG_LEN);
        assert_eq!(keys.open(&sealed).unwrap().as_slice(), b"a secret");
        // Fresh nonce each time.
        assert_ne!(keys.seal(b"a secret").unwrap(), sealed);
        assert_eq!(keys.open(&keys.seal(b"").unwrap()).unwrap().len(), 0);
    }

    #[test]
    fn tampered_or_foreign_values_are_refused() {
        let keys = keys();
        let mut sealed = keys.seal(b"a secret").unwrap();
        let last = sealed.len() - 1;
        sealed[last] ^= 1;
        assert!(keys.open(&sealed).is_err());
        assert!(keys.open(&[0u8; 10]).is_err());
        let other =
            ServerKeys::from_parts(SigningKey::generate().unwrap().pkcs8(), &[8u8; 32]).unwrap();
        assert!(other.open(&keys.seal(b"x").unwrap()).is_err());
    }

    #[test]
    fn debug_hides_the_keys() {
        let text = format!("{:?}", keys());
        assert!(text.contains("redacted"));
        assert!(!text.contains("pkcs8"));
    }
}
