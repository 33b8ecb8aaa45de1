//! The vault file format, version 1 (documented in `docs/vault-format.md`).
//!
//! The file is JSON: `{format, version, header, nonce, ciphertext}`. `header`
//! is base64 of the header's JSON bytes, kept verbatim so those exact bytes
//! can be the payload's associated data: any change to the slots, the
//! generation or the version makes decryption fail.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use super::VaultError;
use super::crypto::{self, KEY_LEN, KdfParams, Key, Sealed};
use crate::account::Account;

/// The `format` field of every vault file.
pub const FORMAT: &str = "tessera-vault";
/// The version this code writes and the only one it reads.
pub const VERSION: u32 = 1;
/// The largest vault file read (64 MiB); far above 100,000 accounts.
pub const MAX_FILE_BYTES: u64 = 64 * 1024 * 1024;

/// The outer JSON object.
#[derive(Serialize, Deserialize)]
struct FileJson {
    format: String,
    version: u32,
    header: String,
    nonce: String,
    ciphertext: String,
}

/// Just enough of the file to read its format and version before anything else.
#[derive(Deserialize)]
struct VersionProbe {
    format: Option<String>,
    version: Option<u32>,
}

/// The authenticated, unencrypted part: vault identity and key slots.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Header {
    /// Random identifier of this vault; also names its keystore items.
    pub vault_id: String,
    /// Incremented on every write.
    pub generation: u64,
    /// When the vault was created, seconds since the epoch.
    pub created_at: u64,
    /// When this generation was written, seconds since the epoch.
    pub written_at: u64,
    /// The ways in: each wraps the same vault key.
    pub slots: Vec<Slot>,
}

/// How a slot's key-encryption key is obtained.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum SlotKind {
    /// A random key kept in the platform keystore under `item`.
    Keystore {
        /// The keystore's name when the slot was made (for status output).
        keystore: String,
        /// The item name under [`crate::keystore::SERVICE`].
        item: String,
    },
    /// Argon2id of the user's password.
    Password {
        /// Argon2id cost.
        kdf: KdfParams,
        /// Base64 of the 16-byte salt.
        salt: String,
    },
    /// HKDF-SHA256 of the printed recovery key.
    Recovery {
        /// Base64 of the 16-byte salt.
        salt: String,
    },
}

/// One way to unwrap the vault key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Slot {
    /// Random identifier of the slot.
    pub id: String,
    /// How the key-encryption key is found.
    #[serde(flatten)]
    pub kind: SlotKind,
    /// Base64 nonce of the wrapped key.
    pub nonce: String,
    /// Base64 of the AES-256-GCM-wrapped vault key (48 bytes).
    pub wrapped_key: String,
}

impl Slot {
    fn aad(vault_id: &str, slot_id: &str) -> Vec<u8> {
        format!("tessera-slot-v1\0{vault_id}\0{slot_id}").into_bytes()
    }

    /// Wraps `vault_key` under `kek` into a new slot.
    pub fn wrap(
        vault_id: &str,
        kind: SlotKind,
        kek: &[u8; KEY_LEN],
        vault_key: &[u8; KEY_LEN],
    ) -> Result<Self, VaultError> {
        let id = uuid::Uuid::new_v4().to_string();
        let Sealed { nonce, ciphertext } = crypto::seal(kek, &Self::aad(vault_id, &id), vault_key)?;
        Ok(Self {
            id,
            kind,
            nonce: B64.encode(nonce),
            wrapped_key: B64.encode(ciphertext),
        })
    }

    /// Unwraps the vault key; `Ok(None)` when `kek` is the wrong key.
    pub fn unwrap_key(
        &self,
        vault_id: &str,
        kek: &[u8; KEY_LEN],
    ) -> Result<Option<Key>, VaultError> {
        let nonce = decode_b64(&self.nonce, "slot nonce")?;
        let wrapped = decode_b64(&self.wrapped_key, "wrapped key")?;
        let Some(plain) = crypto::open(kek, &Self::aad(vault_id, &self.id), &nonce, &wrapped)?
        else {
            return Ok(None);
        };
        let key: [u8; KEY_LEN] = plain
            .as_slice()
            .try_into()
            .map_err(|_| VaultError::Corrupt("a slot holds a key of the wrong length".into()))?;
        Ok(Some(Zeroizing::new(key)))
    }

    /// The slot's salt, decoded (password and recovery slots).
    pub fn salt(&self) -> Result<Vec<u8>, VaultError> {
        match &self.kind {
            SlotKind::Password { salt, .. } | SlotKind::Recovery { salt } => {
                decode_b64(salt, "slot salt")
            }
            SlotKind::Keystore { .. } => Ok(Vec::new()),
        }
    }
}

/// The encrypted contents.
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Contents {
    /// Accounts in display order.
    pub accounts: Vec<Account>,
}

/// A decoded file whose payload is still encrypted.
pub struct EncryptedVault {
    /// The parsed header.
    pub header: Header,
    header_bytes: Vec<u8>,
    nonce: Vec<u8>,
    ciphertext: Vec<u8>,
}

fn decode_b64(text: &str, what: &str) -> Result<Vec<u8>, VaultError> {
    B64.decode(text)
        .map_err(|_| VaultError::Corrupt(format!("the {what} is not valid base64")))
}

fn payload_aad(header_bytes: &[u8]) -> Vec<u8> {
    let mut aad = format!("tessera-vault-v{VERSION}\0").into_bytes();
    aad.extend_from_slice(header_bytes);
    aad
}

impl EncryptedVault {
    /// Parses a file's bytes; checks format and version before anything else.
    pub fn parse(bytes: &[u8]) -> Result<Self, VaultError> {
        let probe: VersionProbe = serde_json::from_slice(bytes).map_err(|e| {
            VaultError::Corrupt(format!("not a readable vault file ({})", json_reason(&e)))
        })?;
        if probe.format.as_deref() != Some(FORMAT) {
            return Err(VaultError::Corrupt("not a Tessera vault file".into()));
        }
        match probe.version {
            Some(VERSION) => {}
            Some(found) => return Err(VaultError::UnsupportedVersion { found }),
            None => return Err(VaultError::Corrupt("the vault file has no version".into())),
        }
        let file: FileJson = serde_json::from_slice(bytes)
            .map_err(|e| VaultError::Corrupt(format!("malformed vault file: {e}")))?;
        let header_bytes = decode_b64(&file.header, "header")?;
        let header: Header = serde_json::from_slice(&header_bytes)
            .map_err(|e| VaultError::Corrupt(format!("malformed vault header: {e}")))?;
        Ok(Self {
            header,
            header_bytes,
            nonce: decode_b64(&file.nonce, "payload nonce")?,
            ciphertext: decode_b64(&file.ciphertext, "payload")?,
        })
    }

    /// Decrypts the accounts with the vault key.
    pub fn decrypt(&self, vault_key: &[u8; KEY_LEN]) -> Result<Contents, VaultError> {
        let plain = crypto::open(
            vault_key,
            &payload_aad(&self.header_bytes),
            &self.nonce,
            &self.ciphertext,
        )?
        .ok_or_else(|| {
            VaultError::Corrupt(
                "the vault contents fail authentication (damaged or altered)".into(),
            )
        })?;
        serde_json::from_slice(&plain)
            .map_err(|e| VaultError::Corrupt(format!("the decrypted contents are malformed: {e}")))
    }
}

/// Encrypts contents under a header into the file's bytes.
pub fn encode(
    header: &Header,
    contents: &Contents,
    vault_key: &[u8; KEY_LEN],
) -> Result<Vec<u8>, VaultError> {
    let header_bytes = serde_json::to_vec(header)
        .map_err(|e| VaultError::Crypto(format!("could not encode the header: {e}")))?;
    let mut plain = WipingBuffer::default();
    serde_json::to_writer(&mut plain, contents)
        .map_err(|e| VaultError::Crypto(format!("could not encode the accounts: {e}")))?;
    let sealed = crypto::seal(vault_key, &payload_aad(&header_bytes), &plain.0)?;
    let file = FileJson {
        format: FORMAT.to_string(),
        version: VERSION,
        header: B64.encode(&header_bytes),
        nonce: B64.encode(sealed.nonce),
        ciphertext: B64.encode(&sealed.ciphertext),
    };
    let mut bytes = serde_json::to_vec_pretty(&file)
        .map_err(|e| VaultError::Crypto(format!("could not encode the vault: {e}")))?;
    bytes.push(b'\n');
    Ok(bytes)
}

/// A growable buffer for plaintext that wipes every allocation it leaves
/// behind (a plain `Vec` frees its old buffers, secrets included, as it grows).
#[derive(Default)]
struct WipingBuffer(Zeroizing<Vec<u8>>);

impl std::io::Write for WipingBuffer {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        let needed = self.0.len() + data.len();
        if needed > self.0.capacity() {
            let mut bigger = Zeroizing::new(Vec::with_capacity(
                needed.max(2 * self.0.capacity()).max(4096),
            ));
            bigger.extend_from_slice(&self.0);
            // The old buffer is zeroized as it is dropped here.
            self.0 = bigger;
        }
        self.0.extend_from_slice(data);
        Ok(data.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Base64 of fresh random salt bytes.
pub fn new_salt() -> Result<String, VaultError> {
    Ok(B64.encode(crypto::random_bytes::<16>()?))
}

/// A short reason for a JSON failure that tells truncation from garbage.
fn json_reason(error: &serde_json::Error) -> &'static str {
    match error.classify() {
        serde_json::error::Category::Eof => "it ends early: truncated",
        serde_json::error::Category::Syntax => "it is not valid JSON",
        serde_json::error::Category::Data => "unexpected fields",
        serde_json::error::Category::Io => "read error",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The payload as a Tessera without push support wrote it
    /// (`docs/vault-format.md` §4).
    const OLD_PAYLOAD: &str = r#"{"accounts":[
 {"id":"c6326b42-e1d3-42a5-8080-1521ff0f190d","issuer":"Tessera Demo","label":"demo@tessera.example",
  "otp":{"params":{"kind":"totp","algorithm":"SHA1","digits":6,"period":30,"counter":0},
         "secret":"GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"},
  "created_at":1795305517,"updated_at":1795305517},
 {"id":"11533cdc-3f13-455b-b3f5-696619df10e3","issuer":"Ex","label":"bob",
  "otp":{"params":{"kind":"hotp","algorithm":"SHA1","digits":6,"period":30,"counter":5},
         "secret":"JBSWY3DPEHPK3PXP","extra_uri_params":[["image","x"]]},
  "created_at":1795305517,"updated_at":1795305517}]}"#;

    #[test]
    fn payloads_without_push_parts_still_read_and_write_the_same() {
        let contents: Contents = serde_json::from_str(OLD_PAYLOAD).unwrap();
        assert_eq!(contents.accounts.len(), 2);
        assert!(contents.accounts.iter().all(|a| a.push.is_none()));
        let written = serde_json::to_string(&contents).unwrap();
        assert!(!written.contains("push"));
        let again: Contents = serde_json::from_str(&written).unwrap();
        assert_eq!(again, contents);
    }

    #[test]
    fn a_whole_old_file_opens() {
        let contents: Contents = serde_json::from_str(OLD_PAYLOAD).unwrap();
        let key = [7u8; KEY_LEN];
        let header = Header {
            vault_id: "v".into(),
            generation: 1,
            created_at: 0,
            written_at: 0,
            slots: Vec::new(),
        };
        let bytes = encode(&header, &contents, &key).unwrap();
        let decrypted = EncryptedVault::parse(&bytes)
            .unwrap()
            .decrypt(&key)
            .unwrap();
        assert_eq!(decrypted, contents);
    }

    #[test]
    fn a_damaged_push_part_is_a_clear_error_without_key_material() {
        let damaged = OLD_PAYLOAD.replacen(
            r#""created_at":1795305517"#,
            r#""push":{"server":"https://p.example","device_id":"d","user":"u","issuer":"i","account":"a","server_key":{"kty":"EC","crv":"P-256","x":"AA","y":"AA"},"device_key":"c2VjcmV0","paired_at":1},"created_at":1795305517"#,
            1,
        );
        let error = serde_json::from_str::<Contents>(&damaged).unwrap_err();
        assert!(!error.to_string().contains("c2VjcmV0"));
    }
}
