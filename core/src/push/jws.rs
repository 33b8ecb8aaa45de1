//! ES256 compact JSON Web Signatures (RFC 7515, RFC 7518 §3.4), P-256 keys as
//! JWK (RFC 7517) and their thumbprints (RFC 7638).
//!
//! # Why by hand on `ring`, not `jsonwebtoken`
//!
//! `jsonwebtoken` 9.x does use `ring` for ES256, but it fits the protocol
//! badly: it is a JWT library (claims validation with `exp` required by
//! default, a fixed `Header` type), it does not check `typ`, it takes EC keys
//! as PEM/DER only (no JWK → key, no RFC 7638 thumbprint), its errors do not
//! say which part of a token is wrong, it has no size limit, and it pulls in
//! `pem` and `simple_asn1`. The current line (10.x, 11.x) moved to a
//! pluggable crypto backend. Compact ES256 is small: three base64url parts, a
//! JSON header and a 64-byte `r || s` signature that `ring`'s
//! `ECDSA_P256_SHA256_FIXED` verifies directly. Writing it here costs about
//! two hundred lines, keeps one crypto library in the crate (`ring`, already
//! used for AES-GCM), and lets every refusal be a typed error naming the
//! problem.
//!
//! # Strictness
//!
//! A token is refused when it is longer than [`MAX_JWS_LEN`], does not have
//! exactly three parts, any part is not canonical unpadded base64url, the
//! header is not one JSON object or repeats a member, `alg` is not exactly
//! `ES256` (so `none` and `HS256` are refused before any key is used), `typ`
//! is not the type the caller expects, `crit` is present, or the signature is
//! not 64 bytes or does not verify.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64URL;
use ring::agreement;
use ring::digest;
use ring::rand::SystemRandom;
use ring::signature::{
    self, ECDSA_P256_SHA256_FIXED, ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair as _,
};
use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde::ser::Serializer;
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

/// The longest compact JWS accepted (16 KiB, the protocol's body limit).
pub const MAX_JWS_LEN: usize = 16 * 1024;

/// The only algorithm accepted and produced.
pub const ALG: &str = "ES256";

/// Length of an ES256 signature (`r || s`, 32 bytes each).
pub const SIGNATURE_LEN: usize = 64;

/// Length of a P-256 coordinate in bytes.
const COORD_LEN: usize = 32;

/// Length of an RFC 7638 SHA-256 thumbprint in base64url characters.
pub const THUMBPRINT_LEN: usize = 43;

/// Which part of a compact JWS.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Part {
    /// The protected header.
    Header,
    /// The payload.
    Payload,
    /// The signature.
    Signature,
}

impl fmt::Display for Part {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Header => "header",
            Self::Payload => "payload",
            Self::Signature => "signature",
        })
    }
}

/// Why a JWK (or a raw public key) was refused. Names the member.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JwkError {
    /// Not a JSON object, or a member has the wrong JSON type.
    #[error("jwk: not a valid JSON object ({reason})")]
    NotAnObject {
        /// What the JSON parser said.
        reason: String,
    },
    /// A member appears twice.
    #[error("{name}: given more than once")]
    Duplicate {
        /// The member's name.
        name: String,
    },
    /// A member is not a JSON string.
    #[error("{name}: must be a string")]
    NotAString {
        /// The member's name.
        name: &'static str,
    },
    /// A required member (`kty`, `crv`, `x`, `y`) is missing.
    #[error("{name}: missing")]
    Missing {
        /// The member's name.
        name: &'static str,
    },
    /// `kty` is not `EC`.
    #[error("kty: \"{found}\" is not supported (only EC)")]
    WrongKeyType {
        /// The value found (shortened).
        found: String,
    },
    /// `crv` is not `P-256`.
    #[error("crv: \"{found}\" is not supported (only P-256)")]
    WrongCurve {
        /// The value found (shortened).
        found: String,
    },
    /// `x` or `y` is not canonical base64url of exactly 32 bytes.
    #[error("{name}: not base64url of exactly 32 bytes")]
    BadCoordinate {
        /// `x` or `y`.
        name: &'static str,
    },
    /// The JWK carries a private key (`d`); only public keys are exchanged.
    #[error("d: a private key must never be sent")]
    PrivateKey,
    /// The coordinates are not a point on P-256.
    #[error("x, y: not a point on the P-256 curve")]
    NotOnCurve,
    /// The system random generator failed while checking the point.
    #[error("the system random generator failed")]
    Rng,
}

impl JwkError {
    /// The member at fault (`kty`, `crv`, `x`, `y`, `d`, or `jwk`).
    pub fn field(&self) -> &str {
        match self {
            Self::NotAnObject { .. } | Self::Rng => "jwk",
            Self::Duplicate { name } => name,
            Self::Missing { name } | Self::BadCoordinate { name } | Self::NotAString { name } => {
                name
            }
            Self::WrongKeyType { .. } => "kty",
            Self::WrongCurve { .. } => "crv",
            Self::PrivateKey => "d",
            Self::NotOnCurve => "x",
        }
    }
}

/// Why a compact JWS was refused or could not be made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JwsError {
    /// Longer than [`MAX_JWS_LEN`].
    #[error("jws: {len} bytes long; the limit is {max}", max = MAX_JWS_LEN)]
    TooLarge {
        /// The token's length in bytes.
        len: usize,
    },
    /// Fewer than three dot-separated parts.
    #[error("jws: not a compact JWS (expected header.payload.signature)")]
    NotCompact,
    /// More than three parts (data after the signature).
    #[error("jws: unexpected data after the signature")]
    TrailingData,
    /// A part is empty or not canonical unpadded base64url.
    #[error("{part}: not valid base64url")]
    BadBase64 {
        /// The part at fault.
        part: Part,
    },
    /// The header is not a single JSON object.
    #[error("header: not a JSON object ({reason})")]
    BadHeader {
        /// What the JSON parser said.
        reason: String,
    },
    /// A header member appears twice.
    #[error("header.{name}: given more than once")]
    DuplicateHeaderMember {
        /// The member's name (shortened).
        name: String,
    },
    /// `alg` or `typ` is missing from the header.
    #[error("header.{name}: missing")]
    MissingHeaderMember {
        /// The member's name.
        name: &'static str,
    },
    /// A header member has the wrong JSON type (e.g. `kid` a number).
    #[error("header.{name}: must be a {expected}")]
    BadHeaderMember {
        /// The member's name.
        name: &'static str,
        /// The JSON type expected.
        expected: &'static str,
    },
    /// `alg` is not exactly `ES256` (`none`, `HS256`, `es256`, …).
    #[error("header.alg: \"{found}\" is not accepted (only ES256)")]
    BadAlgorithm {
        /// The algorithm found (shortened).
        found: String,
    },
    /// `typ` is not the type this message must have.
    #[error("header.typ: expected \"{expected}\", found \"{found}\"")]
    WrongType {
        /// The type the caller expects.
        expected: String,
        /// The type found (shortened).
        found: String,
    },
    /// `crit` lists extensions, none of which this implementation supports.
    #[error("header.crit: critical extensions are not supported")]
    CriticalExtension,
    /// The header's `jwk` is not a valid P-256 public key.
    #[error("header.jwk: {0}")]
    BadHeaderJwk(JwkError),
    /// The signature is not 64 bytes.
    #[error("signature: {len} bytes; ES256 signatures are 64")]
    SignatureLength {
        /// The decoded length.
        len: usize,
    },
    /// The signature does not verify under the key (wrong key, tampered
    /// token, or an invalid public key).
    #[error("signature: does not verify under the expected key")]
    BadSignature,
    /// The payload is not the JSON object this message must be.
    #[error("payload: {reason}")]
    BadPayload {
        /// What is wrong (shortened parser message).
        reason: String,
    },
    /// A stored private key could not be loaded.
    #[error("key: the PKCS#8 document is not a P-256 ECDSA key")]
    BadPrivateKey,
    /// Signing or key generation failed (the system random generator).
    #[error("the system random generator failed")]
    Rng,
}

impl JwsError {
    /// The part or member at fault (`jws`, `header.alg`, `signature`, …).
    pub fn field(&self) -> &'static str {
        match self {
            Self::TooLarge { .. } | Self::NotCompact | Self::TrailingData => "jws",
            Self::BadBase64 { part } => match part {
                Part::Header => "header",
                Part::Payload => "payload",
                Part::Signature => "signature",
            },
            Self::BadHeader { .. } | Self::DuplicateHeaderMember { .. } => "header",
            Self::MissingHeaderMember { name } | Self::BadHeaderMember { name, .. } => {
                match *name {
                    "alg" => "header.alg",
                    "typ" => "header.typ",
                    "kid" => "header.kid",
                    "jwk" => "header.jwk",
                    _ => "header",
                }
            }
            Self::BadAlgorithm { .. } => "header.alg",
            Self::WrongType { .. } => "header.typ",
            Self::CriticalExtension => "header.crit",
            Self::BadHeaderJwk(_) => "header.jwk",
            Self::SignatureLength { .. } | Self::BadSignature => "signature",
            Self::BadPayload { .. } => "payload",
            Self::BadPrivateKey | Self::Rng => "key",
        }
    }
}

/// Shortens input quoted in an error so a huge value cannot flood a message.
pub(crate) fn quoted(value: &str) -> String {
    const MAX: usize = 32;
    match value.char_indices().nth(MAX) {
        Some((cut, _)) => format!("{}…", &value[..cut]),
        None => value.to_string(),
    }
}

/// Decodes canonical unpadded base64url (no padding, no stray bits).
pub(crate) fn b64url_decode(text: &str) -> Option<Vec<u8>> {
    B64URL.decode(text).ok()
}

/// Encodes as unpadded base64url.
pub(crate) fn b64url(bytes: &[u8]) -> String {
    B64URL.encode(bytes)
}

/// A JSON object's members in document order, duplicates kept so that they
/// can be refused (serde_json's own maps keep only the last one).
pub(crate) struct Members(pub(crate) Vec<(String, serde_json::Value)>);

impl<'de> Deserialize<'de> for Members {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct MembersVisitor;
        impl<'de> Visitor<'de> for MembersVisitor {
            type Value = Members;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Members, A::Error> {
                let mut members = Vec::new();
                while let Some(entry) = map.next_entry::<String, serde_json::Value>()? {
                    members.push(entry);
                }
                Ok(Members(members))
            }
        }
        deserializer.deserialize_map(MembersVisitor)
    }
}

impl Members {
    /// Parses one JSON object (nothing after it but whitespace).
    pub(crate) fn parse(bytes: &[u8]) -> Result<Self, String> {
        serde_json::from_slice(bytes).map_err(|e| quoted(&e.to_string()))
    }

    /// The first member name that appears twice.
    pub(crate) fn duplicate(&self) -> Option<&str> {
        self.0.iter().enumerate().find_map(|(i, (name, _))| {
            self.0[..i]
                .iter()
                .any(|(earlier, _)| earlier == name)
                .then_some(name.as_str())
        })
    }

    fn get(&self, name: &str) -> Option<&serde_json::Value> {
        self.0.iter().find(|(n, _)| n == name).map(|(_, v)| v)
    }
}

/// Parses a JWS payload into `T`: it must be one JSON object without
/// repeated members (serde would otherwise also accept a JSON array for a
/// struct, or silently keep the last of two unknown members).
pub(crate) fn decode_claims<T: for<'de> Deserialize<'de>>(payload: &[u8]) -> Result<T, JwsError> {
    let members = Members::parse(payload).map_err(|reason| JwsError::BadPayload { reason })?;
    if let Some(name) = members.duplicate() {
        return Err(JwsError::BadPayload {
            reason: format!("\"{}\" given more than once", quoted(name)),
        });
    }
    serde_json::from_slice(payload).map_err(|e| JwsError::BadPayload {
        reason: quoted(&e.to_string()),
    })
}

/// A P-256 public key (an uncompressed point known to be on the curve).
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct PublicKey {
    /// `0x04 || x || y`.
    point: [u8; 1 + 2 * COORD_LEN],
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("PublicKey")
            .field(&self.thumbprint())
            .finish()
    }
}

/// The JWK members, as they appear on the wire.
#[derive(Serialize)]
struct JwkOut<'a> {
    kty: &'static str,
    crv: &'static str,
    x: &'a str,
    y: &'a str,
}

impl PublicKey {
    /// Builds a key from the coordinates, checking that they are a point on
    /// P-256 (through an ECDH with a throwaway key: `ring` validates the peer
    /// point before using it, including coordinates ≥ p and the point at
    /// infinity).
    pub fn from_coordinates(x: &[u8; COORD_LEN], y: &[u8; COORD_LEN]) -> Result<Self, JwkError> {
        let mut point = [0u8; 1 + 2 * COORD_LEN];
        point[0] = 0x04;
        point[1..=COORD_LEN].copy_from_slice(x);
        point[1 + COORD_LEN..].copy_from_slice(y);
        let rng = SystemRandom::new();
        let probe = agreement::EphemeralPrivateKey::generate(&agreement::ECDH_P256, &rng)
            .map_err(|_| JwkError::Rng)?;
        let peer = agreement::UnparsedPublicKey::new(&agreement::ECDH_P256, &point);
        agreement::agree_ephemeral(probe, &peer, |_| ()).map_err(|_| JwkError::NotOnCurve)?;
        Ok(Self { point })
    }

    /// The x coordinate (32 bytes, big-endian).
    pub fn x(&self) -> &[u8] {
        &self.point[1..=COORD_LEN]
    }

    /// The y coordinate (32 bytes, big-endian).
    pub fn y(&self) -> &[u8] {
        &self.point[1 + COORD_LEN..]
    }

    /// The uncompressed SEC1 encoding, `0x04 || x || y` (65 bytes).
    pub fn sec1_uncompressed(&self) -> &[u8] {
        &self.point
    }

    /// The JWK as a JSON string, members in the RFC 7638 order
    /// (`crv`, `kty`, `x`, `y`) — which is also the thumbprint input.
    pub fn to_jwk_json(&self) -> String {
        self.canonical_json()
    }

    /// Parses a JWK (RFC 7517) from JSON text. See [`PublicKey::from_jwk_value`].
    pub fn from_jwk_json(text: &str) -> Result<Self, JwkError> {
        let members =
            Members::parse(text.as_bytes()).map_err(|reason| JwkError::NotAnObject { reason })?;
        Self::from_members(&members)
    }

    /// Parses a JWK from a JSON value. Strict: `kty` must be `EC`, `crv`
    /// `P-256`, `x` and `y` canonical base64url of 32 bytes each forming a
    /// point on the curve; a member given twice or a private part `d` is
    /// refused; other members (`kid`, `use`, …) are ignored.
    pub fn from_jwk_value(value: &serde_json::Value) -> Result<Self, JwkError> {
        let members = Members::deserialize(value).map_err(|e| JwkError::NotAnObject {
            reason: quoted(&e.to_string()),
        })?;
        Self::from_members(&members)
    }

    fn from_members(members: &Members) -> Result<Self, JwkError> {
        if let Some(name) = members.duplicate() {
            return Err(JwkError::Duplicate { name: quoted(name) });
        }
        if members.get("d").is_some() {
            return Err(JwkError::PrivateKey);
        }
        let text = |name: &'static str| -> Result<&str, JwkError> {
            match members.get(name) {
                None => Err(JwkError::Missing { name }),
                Some(serde_json::Value::String(s)) => Ok(s.as_str()),
                Some(_) => Err(JwkError::NotAString { name }),
            }
        };
        let kty = text("kty")?;
        if kty != "EC" {
            return Err(JwkError::WrongKeyType { found: quoted(kty) });
        }
        let crv = text("crv")?;
        if crv != "P-256" {
            return Err(JwkError::WrongCurve { found: quoted(crv) });
        }
        let coordinate = |name: &'static str| -> Result<[u8; COORD_LEN], JwkError> {
            b64url_decode(text(name)?)
                .and_then(|bytes| <[u8; COORD_LEN]>::try_from(bytes).ok())
                .ok_or(JwkError::BadCoordinate { name })
        };
        let x = coordinate("x")?;
        let y = coordinate("y")?;
        Self::from_coordinates(&x, &y)
    }

    /// The canonical JWK JSON of RFC 7638 §3.2: required members only, in
    /// lexicographic order, no whitespace.
    fn canonical_json(&self) -> String {
        // The values are base64url, so no JSON escaping is ever needed.
        format!(
            r#"{{"crv":"P-256","kty":"EC","x":"{}","y":"{}"}}"#,
            b64url(self.x()),
            b64url(self.y())
        )
    }

    /// The RFC 7638 JWK thumbprint: base64url(SHA-256(canonical JWK)), 43
    /// characters. The protocol's key fingerprint (`fp`, `kid`).
    pub fn thumbprint(&self) -> String {
        b64url(digest::digest(&digest::SHA256, self.canonical_json().as_bytes()).as_ref())
    }

    /// Checks an ES256 signature (64 bytes, `r || s`) over `message`.
    pub fn verify_signature(&self, message: &[u8], signature: &[u8]) -> Result<(), JwsError> {
        if signature.len() != SIGNATURE_LEN {
            return Err(JwsError::SignatureLength {
                len: signature.len(),
            });
        }
        signature::UnparsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, &self.point)
            .verify(message, signature)
            .map_err(|_| JwsError::BadSignature)
    }
}

impl Serialize for PublicKey {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        JwkOut {
            kty: "EC",
            crv: "P-256",
            x: &b64url(self.x()),
            y: &b64url(self.y()),
        }
        .serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for PublicKey {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let members = Members::deserialize(deserializer)?;
        Self::from_members(&members).map_err(de::Error::custom)
    }
}

/// A P-256 signing key (the server key, or a device key), made from the
/// system RNG. The PKCS#8 document is kept, zeroized on drop, so the vault can
/// store it; `Debug` shows only the public key's thumbprint.
pub struct SigningKey {
    pair: EcdsaKeyPair,
    pkcs8: Zeroizing<Vec<u8>>,
    public: PublicKey,
}

/// A device's key: the same type as the server's.
pub type DeviceKey = SigningKey;

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningKey")
            .field("public", &self.public.thumbprint())
            .field("pkcs8", &"[redacted]")
            .finish()
    }
}

impl SigningKey {
    /// Makes a fresh key pair from the operating system's CSPRNG.
    pub fn generate() -> Result<Self, JwsError> {
        let rng = SystemRandom::new();
        let document = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng)
            .map_err(|_| JwsError::Rng)?;
        Self::from_pkcs8(document.as_ref())
    }

    /// Loads a key from its PKCS#8 document (as returned by [`SigningKey::pkcs8`]).
    pub fn from_pkcs8(pkcs8: &[u8]) -> Result<Self, JwsError> {
        let rng = SystemRandom::new();
        let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8, &rng)
            .map_err(|_| JwsError::BadPrivateKey)?;
        let point = <[u8; 1 + 2 * COORD_LEN]>::try_from(pair.public_key().as_ref())
            .map_err(|_| JwsError::BadPrivateKey)?;
        Ok(Self {
            pair,
            pkcs8: Zeroizing::new(pkcs8.to_vec()),
            public: PublicKey { point },
        })
    }

    /// The PKCS#8 document, for the vault. Secret.
    pub fn pkcs8(&self) -> &[u8] {
        &self.pkcs8
    }

    /// The public half.
    pub fn public_key(&self) -> &PublicKey {
        &self.public
    }

    /// Signs `payload` as a compact JWS with header
    /// `{"alg":"ES256","typ":typ}` plus `kid` or `jwk` as `key_ref` says.
    pub fn sign(&self, typ: &str, key_ref: &KeyRef, payload: &[u8]) -> Result<String, JwsError> {
        #[derive(Serialize)]
        struct HeaderOut<'a> {
            alg: &'static str,
            typ: &'a str,
            #[serde(skip_serializing_if = "Option::is_none")]
            kid: Option<&'a str>,
            #[serde(skip_serializing_if = "Option::is_none")]
            jwk: Option<&'a PublicKey>,
        }
        let header = HeaderOut {
            alg: ALG,
            typ,
            kid: match key_ref {
                KeyRef::Kid(kid) => Some(kid),
                _ => None,
            },
            jwk: match key_ref {
                KeyRef::Jwk => Some(&self.public),
                _ => None,
            },
        };
        let header = serde_json::to_vec(&header).map_err(|e| JwsError::BadHeader {
            reason: quoted(&e.to_string()),
        })?;
        let mut token = b64url(&header);
        token.push('.');
        token.push_str(&b64url(payload));
        let signature = self
            .pair
            .sign(&SystemRandom::new(), token.as_bytes())
            .map_err(|_| JwsError::Rng)?;
        token.push('.');
        token.push_str(&b64url(signature.as_ref()));
        Ok(token)
    }

    /// Serializes `claims` as JSON and signs them (see [`SigningKey::sign`]).
    pub fn sign_json<T: Serialize>(
        &self,
        typ: &str,
        key_ref: &KeyRef,
        claims: &T,
    ) -> Result<String, JwsError> {
        let payload = serde_json::to_vec(claims).map_err(|e| JwsError::BadPayload {
            reason: quoted(&e.to_string()),
        })?;
        self.sign(typ, key_ref, &payload)
    }
}

/// What the header says about the signing key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyRef {
    /// No key reference.
    None,
    /// `kid`: a key id (the server key's thumbprint, or a device id).
    Kid(String),
    /// `jwk`: the signer's own public key (a proof at enrollment).
    Jwk,
}

/// The checked protected header of a JWS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JwsHeader {
    /// `typ` (equal to the expected type).
    pub typ: String,
    /// `kid`, if present.
    pub kid: Option<String>,
    /// `jwk`, if present (already validated as a P-256 public key).
    pub jwk: Option<PublicKey>,
}

/// A compact JWS whose form and header were checked but whose signature was
/// not yet: lets a verifier read `kid`/`jwk` to find the key.
#[derive(Debug, Clone)]
pub struct UnverifiedJws<'a> {
    header: JwsHeader,
    signing_input: &'a str,
    payload: Vec<u8>,
    signature: Vec<u8>,
}

/// A JWS whose signature verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    /// The protected header.
    pub header: JwsHeader,
    /// The payload bytes.
    pub payload: Vec<u8>,
}

impl<'a> UnverifiedJws<'a> {
    /// Parses a compact JWS and checks its header (`alg` exactly ES256, `typ`
    /// equal to `expected_typ`); see the module documentation.
    pub fn parse(token: &'a str, expected_typ: &str) -> Result<Self, JwsError> {
        if token.len() > MAX_JWS_LEN {
            return Err(JwsError::TooLarge { len: token.len() });
        }
        let mut parts = token.split('.');
        let (Some(header_b64), Some(payload_b64), Some(signature_b64)) =
            (parts.next(), parts.next(), parts.next())
        else {
            return Err(JwsError::NotCompact);
        };
        if parts.next().is_some() {
            return Err(JwsError::TrailingData);
        }
        let signing_input = &token[..header_b64.len() + 1 + payload_b64.len()];
        let header_bytes = nonempty_b64(header_b64, Part::Header)?;
        let header = parse_header(&header_bytes, expected_typ)?;
        let payload = b64url_decode(payload_b64).ok_or(JwsError::BadBase64 {
            part: Part::Payload,
        })?;
        let signature = nonempty_b64(signature_b64, Part::Signature)?;
        if signature.len() != SIGNATURE_LEN {
            return Err(JwsError::SignatureLength {
                len: signature.len(),
            });
        }
        Ok(Self {
            header,
            signing_input,
            payload,
            signature,
        })
    }

    /// The checked header (not yet authenticated).
    pub fn header(&self) -> &JwsHeader {
        &self.header
    }

    /// The payload bytes, **not yet authenticated**: only for finding the
    /// key to verify with (an enrollment names the server key inside).
    pub fn unverified_payload(&self) -> &[u8] {
        &self.payload
    }

    /// Verifies the signature under `key`.
    pub fn verify(self, key: &PublicKey) -> Result<Verified, JwsError> {
        key.verify_signature(self.signing_input.as_bytes(), &self.signature)?;
        Ok(Verified {
            header: self.header,
            payload: self.payload,
        })
    }
}

/// Parses and verifies a compact JWS of type `expected_typ` under `key`.
pub fn verify(token: &str, key: &PublicKey, expected_typ: &str) -> Result<Verified, JwsError> {
    UnverifiedJws::parse(token, expected_typ)?.verify(key)
}

fn nonempty_b64(text: &str, part: Part) -> Result<Vec<u8>, JwsError> {
    match b64url_decode(text) {
        Some(bytes) if !bytes.is_empty() => Ok(bytes),
        _ => Err(JwsError::BadBase64 { part }),
    }
}

fn parse_header(bytes: &[u8], expected_typ: &str) -> Result<JwsHeader, JwsError> {
    let members = Members::parse(bytes).map_err(|reason| JwsError::BadHeader { reason })?;
    if let Some(name) = members.duplicate() {
        return Err(JwsError::DuplicateHeaderMember { name: quoted(name) });
    }
    let string = |name: &'static str| -> Result<Option<&str>, JwsError> {
        match members.get(name) {
            None => Ok(None),
            Some(serde_json::Value::String(s)) => Ok(Some(s)),
            Some(_) => Err(JwsError::BadHeaderMember {
                name,
                expected: "string",
            }),
        }
    };
    let alg = string("alg")?.ok_or(JwsError::MissingHeaderMember { name: "alg" })?;
    if alg != ALG {
        return Err(JwsError::BadAlgorithm { found: quoted(alg) });
    }
    if members.get("crit").is_some() {
        return Err(JwsError::CriticalExtension);
    }
    let typ = string("typ")?.ok_or(JwsError::MissingHeaderMember { name: "typ" })?;
    if typ != expected_typ {
        return Err(JwsError::WrongType {
            expected: expected_typ.to_string(),
            found: quoted(typ),
        });
    }
    let kid = string("kid")?.map(str::to_string);
    let jwk = members
        .get("jwk")
        .map(PublicKey::from_jwk_value)
        .transpose()
        .map_err(JwsError::BadHeaderJwk)?;
    Ok(JwsHeader {
        typ: typ.to_string(),
        kid,
        jwk,
    })
}
