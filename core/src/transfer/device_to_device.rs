//! Device-to-device transfer: the new device (receiver) shows an invite with
//! an ephemeral X25519 public key; the old device (sender) encrypts accounts
//! to it; both show the same 6-digit confirmation code, and the receiver
//! applies nothing until the user has confirmed that the two codes match.
//!
//! Key schedule (`docs/backup-format.md` §"Device-to-device transfer"):
//! X25519 between the receiver's and the sender's ephemeral keys, then
//! HKDF-SHA256 with the fixed salt `tessera-transfer-v1` and
//! `info = label || receiver key || sender key`, giving the AES-256-GCM key
//! (`label` = `key`) and 8 bytes for the confirmation code (`confirm`). The
//! envelope's header is the associated data, so a swapped sender key, or an
//! envelope made for another invite, fails to open.
//!
//! Why a confirmation code: anyone who sees the invite QR code (or can write
//! to the mailbox first) can encrypt *their own* accounts to the receiver.
//! The code is bound to both public keys, so such an envelope shows a
//! different code than the real sender's screen.
//!
//! Push pairings never travel as such: they hold a device key that must
//! not leave the device. When the invite carries a P-256 public key
//! (`push=`), the sender adds, for each pairing, a hand-off authorization
//! signed by its device key for that public key ([`HandoffOffer`]); the
//! receiver, which kept the private half in memory, claims each one from
//! the push server after the user confirmed the code
//! (`docs/push-protocol.md` §9). Without it, pairings are re-paired.

use ring::agreement::{self, EphemeralPrivateKey, UnparsedPublicKey, X25519};
use ring::hkdf;
use ring::rand::SystemRandom;
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use super::to_json_wiping;
use crate::account::Account;
use crate::aead::{self, NONCE_LEN};
use crate::push::handoff::HandoffOffer;
use crate::push::jws::{PublicKey, SigningKey, b64url, b64url_decode, quoted};

/// The invite URI's prefix.
pub const INVITE_PREFIX: &str = "tessera-transfer://receive?";
/// The envelope's `format` field.
pub const FORMAT: &str = "tessera-transfer";
/// The envelope version written and read.
pub const VERSION: u32 = 1;
/// The largest envelope accepted (4 MiB: some 10,000 accounts).
pub const MAX_ENVELOPE_BYTES: usize = 4 * 1024 * 1024;
/// Digits of the confirmation code.
pub const CONFIRMATION_DIGITS: usize = 6;

const KEY_LEN: usize = 32;
const HKDF_SALT: &[u8] = b"tessera-transfer-v1";

/// Why a transfer step failed. Never contains key material or accounts.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DeviceTransferError {
    /// The invite is not a valid transfer invite; the text names the field.
    #[error("transfer invite: {0}")]
    BadInvite(String),
    /// The envelope is not a transfer envelope; the text says what is wrong.
    #[error("transfer data: {0}")]
    Malformed(String),
    /// The envelope is bigger than [`MAX_ENVELOPE_BYTES`].
    #[error("transfer data is {size} bytes; the limit is {max}", max = MAX_ENVELOPE_BYTES)]
    TooLarge {
        /// Its size.
        size: usize,
    },
    /// A newer Tessera made the envelope.
    #[error("transfer version {found} is not supported (update Tessera)")]
    UnsupportedVersion {
        /// The version found.
        found: i64,
    },
    /// The envelope was not made for this invite, or was altered.
    #[error(
        "the transfer data was not encrypted for this device or was altered; start the transfer again"
    )]
    NotForThisInvite,
    /// A cryptographic primitive failed (RNG, key agreement).
    #[error("cryptography failed: {0}")]
    Crypto(&'static str),
}

/// Where the sender leaves the envelope.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rendezvous {
    /// A single-read mailbox on a `tessera-server`.
    Mailbox {
        /// The server's base URL (`https://…`, or `http://` to loopback).
        server: String,
        /// The mailbox id (128 random bits, base64url).
        id: String,
    },
    /// A file the user carries across (the receiver waits for it).
    File,
}

/// What the receiver shows as a QR code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invite {
    /// The receiver's ephemeral X25519 public key.
    pub receiver_key: [u8; KEY_LEN],
    /// Where to leave the envelope.
    pub rendezvous: Rendezvous,
    /// The receiver's P-256 public key for push hand-offs (`push=`), when
    /// it can take over pairings.
    pub push_key: Option<PublicKey>,
}

/// Length of the `push` parameter's bytes: P-256 `x || y`.
const PUSH_KEY_LEN: usize = 64;

fn decode_push_key(text: &str) -> Option<PublicKey> {
    let bytes = b64url_decode(text).filter(|b| b.len() == PUSH_KEY_LEN)?;
    let x: [u8; 32] = bytes[..32].try_into().ok()?;
    let y: [u8; 32] = bytes[32..].try_into().ok()?;
    PublicKey::from_coordinates(&x, &y).ok()
}

fn encode_push_key(key: &PublicKey) -> String {
    let mut bytes = Vec::with_capacity(PUSH_KEY_LEN);
    bytes.extend_from_slice(key.x());
    bytes.extend_from_slice(key.y());
    b64url(&bytes)
}

impl Invite {
    /// Parses `tessera-transfer://receive?v=1&key=…&server=…&mailbox=…`
    /// (or `&file=1` instead of server and mailbox), with an optional
    /// `&push=<base64url of the P-256 x || y>`. Strict: unknown or repeated
    /// parameters are refused, and `push` must be a point on the curve.
    pub fn parse(uri: &str) -> Result<Self, DeviceTransferError> {
        let bad = |reason: String| DeviceTransferError::BadInvite(reason);
        if uri.len() > 4096 {
            return Err(bad("longer than 4096 characters".into()));
        }
        let query = uri
            .get(..INVITE_PREFIX.len())
            .filter(|head| head.eq_ignore_ascii_case(INVITE_PREFIX))
            .map(|_| &uri[INVITE_PREFIX.len()..])
            .ok_or_else(|| bad(format!("must start with {INVITE_PREFIX}")))?;
        let (mut v, mut key, mut server, mut mailbox, mut file, mut push) =
            (None, None, None, None, None, None);
        for parameter in query.split('&') {
            let (name, raw) = parameter
                .split_once('=')
                .ok_or_else(|| bad(format!("malformed parameter {}", quoted(parameter))))?;
            let slot = match name {
                "v" => &mut v,
                "key" => &mut key,
                "server" => &mut server,
                "mailbox" => &mut mailbox,
                "file" => &mut file,
                "push" => &mut push,
                other => return Err(bad(format!("unknown parameter {}", quoted(other)))),
            };
            if slot.is_some() {
                return Err(bad(format!("{name}: appears twice")));
            }
            let value = crate::percent::decode(raw, false)
                .ok_or_else(|| bad(format!("{name}: bad percent-encoding")))?;
            *slot = Some(value);
        }
        match v.as_deref() {
            Some("1") => {}
            Some(other) => {
                return Err(bad(format!(
                    "v: version {} is not supported",
                    quoted(other)
                )));
            }
            None => return Err(bad("v: missing".into())),
        }
        let key = key.ok_or_else(|| bad("key: missing".into()))?;
        let receiver_key =
            decode_key(&key).ok_or_else(|| bad("key: not an X25519 public key".into()))?;
        let rendezvous = match (server, mailbox, file.as_deref()) {
            (Some(server), Some(id), None) => {
                crate::push::pairing::check_server(&server)
                    .map_err(|e| bad(format!("server: {e}")))?;
                if !is_mailbox_id(&id) {
                    return Err(bad("mailbox: not a mailbox id".into()));
                }
                Rendezvous::Mailbox { server, id }
            }
            (None, None, Some("1")) => Rendezvous::File,
            _ => return Err(bad("needs either server and mailbox, or file=1".into())),
        };
        let push_key = push
            .map(|text| {
                decode_push_key(&text)
                    .ok_or_else(|| bad("push: not a P-256 public key (64 bytes x || y)".into()))
            })
            .transpose()?;
        Ok(Self {
            receiver_key,
            rendezvous,
            push_key,
        })
    }
}

impl std::fmt::Display for Invite {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{INVITE_PREFIX}v=1&key={}", b64url(&self.receiver_key))?;
        match &self.rendezvous {
            Rendezvous::Mailbox { server, id } => write!(
                f,
                "&server={}&mailbox={}",
                crate::percent::encode(server),
                crate::percent::encode(id)
            ),
            Rendezvous::File => write!(f, "&file=1"),
        }?;
        match &self.push_key {
            Some(key) => write!(f, "&push={}", encode_push_key(key)),
            None => Ok(()),
        }
    }
}

/// A mailbox id: 128 random bits in base64url (22 characters).
pub fn is_mailbox_id(id: &str) -> bool {
    id.len() == 22 && b64url_decode(id).is_some_and(|bytes| bytes.len() == 16)
}

fn decode_key(text: &str) -> Option<[u8; KEY_LEN]> {
    b64url_decode(text)?.try_into().ok()
}

/// The receiving side: holds the ephemeral private key until the envelope
/// arrives. Single use.
pub struct Receiver {
    private: EphemeralPrivateKey,
    invite: Invite,
    push_key: Option<SigningKey>,
}

impl std::fmt::Debug for Receiver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Receiver")
            .field("invite", &self.invite)
            .finish_non_exhaustive()
    }
}

impl Receiver {
    /// Makes a fresh key pair for a transfer through `rendezvous`.
    pub fn new(rendezvous: Rendezvous) -> Result<Self, DeviceTransferError> {
        Self::make(rendezvous, false)
    }

    /// Like [`Receiver::new`], and also makes a P-256 key pair for push
    /// hand-offs: its public half goes into the invite (`push=`), the
    /// private half stays in memory and comes back with
    /// [`Received::push_key`].
    pub fn with_push(rendezvous: Rendezvous) -> Result<Self, DeviceTransferError> {
        Self::make(rendezvous, true)
    }

    fn make(rendezvous: Rendezvous, push: bool) -> Result<Self, DeviceTransferError> {
        let push_key = if push {
            Some(
                SigningKey::generate()
                    .map_err(|_| DeviceTransferError::Crypto("could not make a key"))?,
            )
        } else {
            None
        };
        let private = EphemeralPrivateKey::generate(&X25519, &SystemRandom::new())
            .map_err(|_| DeviceTransferError::Crypto("could not make a key"))?;
        let public = private
            .compute_public_key()
            .map_err(|_| DeviceTransferError::Crypto("could not make a key"))?;
        let receiver_key = public
            .as_ref()
            .try_into()
            .map_err(|_| DeviceTransferError::Crypto("unexpected public key length"))?;
        Ok(Self {
            private,
            invite: Invite {
                receiver_key,
                rendezvous,
                push_key: push_key.as_ref().map(|k| k.public_key().clone()),
            },
            push_key,
        })
    }

    /// What to show as a QR code.
    pub fn invite(&self) -> &Invite {
        &self.invite
    }

    /// Decrypts an envelope. The accounts must not be applied until the user
    /// has confirmed that [`Received::confirmation`] matches the code on the
    /// sending device.
    pub fn open(self, envelope: &[u8]) -> Result<Received, DeviceTransferError> {
        if envelope.len() > MAX_ENVELOPE_BYTES {
            return Err(DeviceTransferError::TooLarge {
                size: envelope.len(),
            });
        }
        let file = parse_envelope(envelope)?;
        let sender_key = decode_key(&file.sender_key)
            .ok_or_else(|| malformed("sender_key: not an X25519 public key"))?;
        let nonce = b64url_decode(&file.nonce)
            .filter(|n| n.len() == NONCE_LEN)
            .ok_or_else(|| malformed("nonce: not 12 bytes of base64url"))?;
        let ciphertext = b64url_decode(&file.ciphertext)
            .ok_or_else(|| malformed("ciphertext: not base64url"))?;
        let receiver_key = self.invite.receiver_key;
        let keys = agree(self.private, &sender_key, &receiver_key, &sender_key)?;
        let aad = header_aad(&receiver_key, &sender_key);
        let plaintext = aead::open(&keys.encryption[..], &nonce, &aad, &ciphertext)
            .map_err(|e| DeviceTransferError::Crypto(e.0))?
            .ok_or(DeviceTransferError::NotForThisInvite)?;
        let payload: Payload = serde_json::from_slice(&plaintext).map_err(|e| {
            malformed(&format!(
                "the accounts inside are not readable ({})",
                e.classify_name()
            ))
        })?;
        // Hand-offs are only usable with the key the invite offered; a
        // sender that added some anyway is ignored there.
        let handoffs = if self.push_key.is_some() {
            payload.handoffs
        } else {
            Vec::new()
        };
        Ok(Received {
            confirmation: keys.confirmation,
            // A sender never includes pairings; one that did is not trusted
            // with them either.
            accounts: payload
                .accounts
                .iter()
                .filter_map(Account::without_push)
                .collect(),
            handoffs,
            push_key: self.push_key,
        })
    }
}

trait ClassifyName {
    fn classify_name(&self) -> &'static str;
}

impl ClassifyName for serde_json::Error {
    // The serde message could quote account data; only its category is safe.
    fn classify_name(&self) -> &'static str {
        match self.classify() {
            serde_json::error::Category::Io => "I/O",
            serde_json::error::Category::Syntax => "bad JSON",
            serde_json::error::Category::Data => "unexpected fields",
            serde_json::error::Category::Eof => "truncated",
        }
    }
}

/// What the receiver decrypted.
pub struct Received {
    /// The code both screens must show.
    pub confirmation: String,
    /// The accounts sent (without push pairings). Apply only after the
    /// user confirmed the code.
    pub accounts: Vec<Account>,
    /// Push pairings the old device handed off (empty unless the invite
    /// carried a push key). Claim them
    /// ([`crate::push::claim_handoff`], with [`Received::push_key`]) only
    /// after the user confirmed the code.
    pub handoffs: Vec<HandoffOffer>,
    /// The private key whose public half the invite offered (`push=`): the
    /// new device key of every handed-off pairing.
    pub push_key: Option<SigningKey>,
}

impl std::fmt::Debug for Received {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Received")
            .field("confirmation", &self.confirmation)
            .field("accounts", &self.accounts.len())
            .field("handoffs", &self.handoffs.len())
            .finish_non_exhaustive()
    }
}

/// What the sender produced.
pub struct Sealed {
    /// The code to show on the sending device.
    pub confirmation: String,
    /// The envelope to leave at the rendezvous.
    pub envelope: Vec<u8>,
    /// How many accounts are inside.
    pub accounts: usize,
    /// How many accounts were left out because they hold only a push
    /// pairing (handed off or re-paired on the new device, never copied).
    pub push_only_left_out: usize,
    /// How many push hand-offs are inside.
    pub handoffs: usize,
}

impl std::fmt::Debug for Sealed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sealed")
            .field("confirmation", &self.confirmation)
            .field("envelope", &format_args!("<{} bytes>", self.envelope.len()))
            .field("accounts", &self.accounts)
            .field("push_only_left_out", &self.push_only_left_out)
            .field("handoffs", &self.handoffs)
            .finish()
    }
}

/// Encrypts `accounts` to the invite's receiver. Accounts are sent whole
/// (every field), except that push pairings are left out (an account that
/// is only a pairing is not sent at all): those are re-paired on the new
/// device, `docs/push-protocol.md` §9.
pub fn seal(invite: &Invite, accounts: &[Account]) -> Result<Sealed, DeviceTransferError> {
    seal_with_handoffs(invite, accounts, Vec::new())
}

/// [`seal`], with push hand-offs for the invite's `push` key (made with
/// [`crate::push::PushClient::handoff_offer`]). Refused when the invite
/// has no push key: nobody could claim them.
pub fn seal_with_handoffs(
    invite: &Invite,
    accounts: &[Account],
    handoffs: Vec<HandoffOffer>,
) -> Result<Sealed, DeviceTransferError> {
    if !handoffs.is_empty() && invite.push_key.is_none() {
        return Err(DeviceTransferError::BadInvite(
            "push: missing, so pairings cannot be handed off through this invite".into(),
        ));
    }
    let private = EphemeralPrivateKey::generate(&X25519, &SystemRandom::new())
        .map_err(|_| DeviceTransferError::Crypto("could not make a key"))?;
    let sender_key: [u8; KEY_LEN] = private
        .compute_public_key()
        .map_err(|_| DeviceTransferError::Crypto("could not make a key"))?
        .as_ref()
        .try_into()
        .map_err(|_| DeviceTransferError::Crypto("unexpected public key length"))?;
    let keys = agree(
        private,
        &invite.receiver_key,
        &invite.receiver_key,
        &sender_key,
    )?;
    let sendable: Vec<Account> = accounts.iter().filter_map(Account::without_push).collect();
    let sendable_count = sendable.len();
    let handoff_count = handoffs.len();
    let plaintext = to_json_wiping(&Payload {
        accounts: sendable,
        handoffs,
    })
    .map_err(|_| DeviceTransferError::Crypto("could not encode the accounts"))?;
    let nonce = aead::random_bytes::<NONCE_LEN>().map_err(|e| DeviceTransferError::Crypto(e.0))?;
    let aad = header_aad(&invite.receiver_key, &sender_key);
    let ciphertext = aead::seal(&keys.encryption[..], nonce, &aad, &plaintext)
        .map_err(|e| DeviceTransferError::Crypto(e.0))?;
    let envelope = serde_json::to_vec(&EnvelopeFile {
        format: FORMAT.to_string(),
        version: VERSION,
        sender_key: b64url(&sender_key),
        nonce: b64url(&nonce),
        ciphertext: b64url(&ciphertext),
    })
    .map_err(|_| DeviceTransferError::Crypto("could not encode the envelope"))?;
    if envelope.len() > MAX_ENVELOPE_BYTES {
        return Err(DeviceTransferError::TooLarge {
            size: envelope.len(),
        });
    }
    Ok(Sealed {
        confirmation: keys.confirmation,
        envelope,
        push_only_left_out: accounts.len() - sendable_count,
        accounts: sendable_count,
        handoffs: handoff_count,
    })
}

#[derive(Serialize, Deserialize)]
struct Payload {
    accounts: Vec<Account>,
    /// Optional: absent from envelopes without hand-offs, so older readers
    /// of such envelopes see no change.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    handoffs: Vec<HandoffOffer>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct EnvelopeFile {
    format: String,
    version: u32,
    sender_key: String,
    nonce: String,
    ciphertext: String,
}

#[derive(Deserialize)]
struct Probe {
    format: Option<String>,
    version: Option<i64>,
}

fn malformed(reason: &str) -> DeviceTransferError {
    DeviceTransferError::Malformed(reason.to_string())
}

fn parse_envelope(bytes: &[u8]) -> Result<EnvelopeFile, DeviceTransferError> {
    let probe: Probe =
        serde_json::from_slice(bytes).map_err(|_| malformed("not a Tessera transfer envelope"))?;
    if probe.format.as_deref() != Some(FORMAT) {
        return Err(malformed("the format field is not \"tessera-transfer\""));
    }
    match probe.version {
        Some(v) if v == i64::from(VERSION) => {}
        Some(found) => return Err(DeviceTransferError::UnsupportedVersion { found }),
        None => return Err(malformed("the version field is missing")),
    }
    serde_json::from_slice(bytes)
        .map_err(|e| malformed(&format!("envelope fields: {}", e.classify_name())))
}

/// The associated data: binds the ciphertext to both keys and the version.
fn header_aad(receiver_key: &[u8; KEY_LEN], sender_key: &[u8; KEY_LEN]) -> Vec<u8> {
    let mut aad = Vec::with_capacity(FORMAT.len() + 4 + 2 * KEY_LEN);
    aad.extend_from_slice(FORMAT.as_bytes());
    aad.extend_from_slice(&VERSION.to_be_bytes());
    aad.extend_from_slice(receiver_key);
    aad.extend_from_slice(sender_key);
    aad
}

struct SessionKeys {
    encryption: Zeroizing<[u8; 32]>,
    confirmation: String,
}

struct Len(usize);

impl hkdf::KeyType for Len {
    fn len(&self) -> usize {
        self.0
    }
}

/// X25519 with `peer`, then HKDF over both public keys (in receiver,
/// sender order on both sides).
fn agree(
    private: EphemeralPrivateKey,
    peer: &[u8; KEY_LEN],
    receiver_key: &[u8; KEY_LEN],
    sender_key: &[u8; KEY_LEN],
) -> Result<SessionKeys, DeviceTransferError> {
    let peer = UnparsedPublicKey::new(&X25519, peer);
    agreement::agree_ephemeral(private, &peer, |shared| {
        // ring refuses low-order points (an all-zero shared secret).
        let prk = hkdf::Salt::new(hkdf::HKDF_SHA256, HKDF_SALT).extract(shared);
        let expand = |label: &[u8], out: &mut [u8]| {
            let info = [label, receiver_key.as_slice(), sender_key.as_slice()];
            prk.expand(&info, Len(out.len()))
                .and_then(|okm| okm.fill(out))
        };
        let mut encryption = Zeroizing::new([0u8; 32]);
        let mut confirm = [0u8; 8];
        expand(b"key", &mut encryption[..])?;
        expand(b"confirm", &mut confirm)?;
        // 2^64 mod 10^6 bias is far below anything a user could notice.
        let code = u64::from_be_bytes(confirm) % 10u64.pow(CONFIRMATION_DIGITS as u32);
        Ok::<_, ring::error::Unspecified>(SessionKeys {
            encryption,
            confirmation: format!("{code:0width$}", width = CONFIRMATION_DIGITS),
        })
    })
    .map_err(|_| DeviceTransferError::NotForThisInvite)?
    .map_err(|_| DeviceTransferError::Crypto("key derivation failed"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::otpauth::OtpauthUri;

    fn accounts() -> Vec<Account> {
        [
            "otpauth://totp/Example:alice?secret=JBSWY3DPEHPK3PXP&issuer=Example",
            "otpauth://hotp/Bank:bob?secret=GEZDGNBVGY3TQOJQ&counter=7&digits=8",
        ]
        .iter()
        .map(|uri| Account::from_uri(OtpauthUri::parse(uri).expect("uri").uri, 1_700_000_000))
        .collect()
    }

    fn mailbox() -> Rendezvous {
        Rendezvous::Mailbox {
            server: "http://127.0.0.1:8787".into(),
            id: b64url(&[7u8; 16]),
        }
    }

    #[test]
    fn round_trip_shows_the_same_code_on_both_sides() {
        let receiver = Receiver::new(mailbox()).expect("receiver");
        let invite = Invite::parse(&receiver.invite().to_string()).expect("parse");
        assert_eq!(&invite, receiver.invite());
        let sent = accounts();
        let sealed = seal(&invite, &sent).expect("seal");
        assert_eq!(sealed.confirmation.len(), 6);
        let received = receiver.open(&sealed.envelope).expect("open");
        assert_eq!(received.confirmation, sealed.confirmation);
        assert_eq!(received.accounts, sent);
    }

    #[test]
    fn accounts_that_are_only_a_push_pairing_stay_behind() {
        let receiver = Receiver::new(Rendezvous::File).expect("receiver");
        let mut sent = accounts();
        sent[1].otp = None;
        let sealed = seal(receiver.invite(), &sent).expect("seal");
        assert_eq!((sealed.accounts, sealed.push_only_left_out), (1, 1));
        let received = receiver.open(&sealed.envelope).expect("open");
        assert_eq!(received.accounts, vec![sent[0].clone()]);
    }

    #[test]
    fn an_envelope_for_another_invite_does_not_open() {
        let receiver = Receiver::new(Rendezvous::File).expect("receiver");
        let other = Receiver::new(Rendezvous::File).expect("other");
        let sealed = seal(other.invite(), &accounts()).expect("seal");
        assert_eq!(
            receiver.open(&sealed.envelope).unwrap_err(),
            DeviceTransferError::NotForThisInvite
        );
    }

    #[test]
    fn tampering_is_detected_and_named() {
        let receiver = Receiver::new(Rendezvous::File).expect("receiver");
        let sealed = seal(receiver.invite(), &accounts()).expect("seal");
        let mut file: serde_json::Value = serde_json::from_slice(&sealed.envelope).expect("json");
        // Swapping in another sender key changes the AAD and the shared key.
        let intruder = Receiver::new(Rendezvous::File).expect("intruder");
        file["sender_key"] = b64url(&intruder.invite().receiver_key).into();
        let swapped = serde_json::to_vec(&file).expect("json");
        assert_eq!(
            receiver.open(&swapped).unwrap_err(),
            DeviceTransferError::NotForThisInvite
        );

        let receiver = Receiver::new(Rendezvous::File).expect("receiver");
        let sealed = seal(receiver.invite(), &accounts()).expect("seal");
        let mut file: serde_json::Value = serde_json::from_slice(&sealed.envelope).expect("json");
        let mut ct = b64url_decode(file["ciphertext"].as_str().expect("ct")).expect("b64");
        ct[0] ^= 1;
        file["ciphertext"] = b64url(&ct).into();
        assert_eq!(
            receiver
                .open(&serde_json::to_vec(&file).expect("json"))
                .unwrap_err(),
            DeviceTransferError::NotForThisInvite
        );
    }

    #[test]
    fn bad_envelopes_get_typed_errors() {
        let open = |bytes: &[u8]| Receiver::new(Rendezvous::File).expect("r").open(bytes);
        assert!(matches!(
            open(b"garbage"),
            Err(DeviceTransferError::Malformed(_))
        ));
        assert!(matches!(
            open(br#"{"format":"tessera-transfer","version":2}"#),
            Err(DeviceTransferError::UnsupportedVersion { found: 2 })
        ));
        assert!(matches!(
            open(br#"{"format":"tessera-transfer","version":1,"sender_key":"AA","nonce":"","ciphertext":""}"#),
            Err(DeviceTransferError::Malformed(_))
        ));
        let big = vec![b' '; MAX_ENVELOPE_BYTES + 1];
        assert!(matches!(
            open(&big),
            Err(DeviceTransferError::TooLarge { .. })
        ));
        // A low-order X25519 point (all zeros) as the sender key.
        let zero = format!(
            r#"{{"format":"tessera-transfer","version":1,"sender_key":"{}","nonce":"{}","ciphertext":"{}"}}"#,
            b64url(&[0u8; 32]),
            b64url(&[0u8; 12]),
            b64url(&[0u8; 32])
        );
        assert_eq!(
            open(zero.as_bytes()).unwrap_err(),
            DeviceTransferError::NotForThisInvite
        );
    }

    #[test]
    fn the_push_key_round_trips_through_the_invite() {
        let receiver = Receiver::with_push(mailbox()).expect("receiver");
        let text = receiver.invite().to_string();
        assert!(text.contains("&push="), "{text}");
        let invite = Invite::parse(&text).expect("parse");
        assert_eq!(&invite, receiver.invite());
        assert!(invite.push_key.is_some());
        // Without it, the invite is as before.
        let plain = Receiver::new(Rendezvous::File).expect("plain");
        assert!(!plain.invite().to_string().contains("push="));
        assert_eq!(
            Invite::parse(&plain.invite().to_string())
                .expect("parse")
                .push_key,
            None
        );
        // Strict: wrong length, not on the curve, given twice.
        let key = b64url(&[9u8; 32]);
        for (push, why) in [
            (b64url(&[1u8; 63]), "push:"),
            (b64url(&[1u8; 64]), "push:"),
            ("!!".to_string(), "push:"),
        ] {
            let uri = format!("tessera-transfer://receive?v=1&key={key}&file=1&push={push}");
            let error = Invite::parse(&uri).unwrap_err().to_string();
            assert!(error.contains(why), "{error}");
        }
        let good = &text[text.find("&push=").expect("push")..];
        let twice = format!("{text}{good}");
        assert!(
            Invite::parse(&twice)
                .unwrap_err()
                .to_string()
                .contains("twice")
        );
    }

    #[test]
    fn handoffs_travel_in_the_payload_with_the_push_key() {
        use crate::push::HandoffClaims;
        let receiver = Receiver::with_push(Rendezvous::File).expect("receiver");
        let invite = receiver.invite().clone();
        let new_key = invite.push_key.clone().expect("push key");
        let old = SigningKey::generate().expect("old");
        let offer = HandoffOffer {
            server: "https://push.example.com".into(),
            issuer: "Example".into(),
            account: "alice@example.com".into(),
            user: "alice".into(),
            server_key: SigningKey::generate().expect("server").public_key().clone(),
            authorization: HandoffClaims::create(&old, "dev-1", &new_key, 1_000, 600)
                .expect("sign"),
            account_id: Some("id-1".into()),
        };
        let sealed = seal_with_handoffs(&invite, &accounts(), vec![offer.clone()]).expect("seal");
        assert_eq!(sealed.handoffs, 1);
        let received = receiver.open(&sealed.envelope).expect("open");
        assert_eq!(received.handoffs, vec![offer.clone()]);
        assert_eq!(received.confirmation, sealed.confirmation);
        assert_eq!(
            received.push_key.expect("key").public_key(),
            &new_key,
            "the private half of the invite's key comes back"
        );
        // An invite without a push key cannot carry hand-offs.
        let plain = Receiver::new(Rendezvous::File).expect("plain");
        assert!(matches!(
            seal_with_handoffs(plain.invite(), &accounts(), vec![offer]),
            Err(DeviceTransferError::BadInvite(_))
        ));
        // An envelope without the field reads as no hand-offs.
        let sealed = seal(&invite, &accounts()).expect("seal");
        let receiver2 = Receiver::with_push(Rendezvous::File).expect("r2");
        let sealed2 = seal(receiver2.invite(), &accounts()).expect("seal");
        assert_eq!(sealed.handoffs, 0);
        assert!(
            receiver2
                .open(&sealed2.envelope)
                .expect("open")
                .handoffs
                .is_empty()
        );
    }

    #[test]
    fn invites_are_parsed_strictly() {
        let key = b64url(&[9u8; 32]);
        let ok = format!("tessera-transfer://receive?v=1&key={key}&file=1");
        assert_eq!(Invite::parse(&ok).expect("ok").rendezvous, Rendezvous::File);
        for (uri, field) in [
            (
                format!("tessera-transfer://receive?v=2&key={key}&file=1"),
                "v:",
            ),
            ("tessera-transfer://receive?v=1&file=1".to_string(), "key:"),
            (
                "tessera-transfer://receive?v=1&key=AAAA&file=1".to_string(),
                "key:",
            ),
            (
                format!("tessera-transfer://receive?v=1&key={key}"),
                "needs either",
            ),
            (
                format!("tessera-transfer://receive?v=1&key={key}&file=1&file=1"),
                "twice",
            ),
            (
                format!("tessera-transfer://receive?v=1&key={key}&x=1"),
                "unknown",
            ),
            (
                format!(
                    "tessera-transfer://receive?v=1&key={key}&server=http%3A%2F%2Fexample.com&mailbox={}",
                    b64url(&[1; 16])
                ),
                "server:",
            ),
            (
                format!(
                    "tessera-transfer://receive?v=1&key={key}&server=https%3A%2F%2Fexample.com&mailbox=short"
                ),
                "mailbox:",
            ),
            ("otpauth://totp/x?secret=AA".to_string(), "must start"),
        ] {
            let error = Invite::parse(&uri).unwrap_err().to_string();
            assert!(error.contains(field), "{uri}: {error}");
        }
    }
}
