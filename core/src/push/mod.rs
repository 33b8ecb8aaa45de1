//! The building blocks of the Tessera push protocol (`docs/push-protocol.md`),
//! shared by the push server and the device client. No networking here: only
//! the canonical encodings and the checks both ends must agree on.
//!
//! - [`jws`] — ES256 compact JSON Web Signatures, P-256 keys, JWK and JWK
//!   thumbprints.
//! - [`pairing`] — the `tessera-push://pair` URI shown as a QR code.
//! - [`messages`] — signed prompts, device request proofs and answers, with
//!   the validation rules of the protocol.

pub mod jws;
pub mod messages;
pub mod pairing;

pub use jws::{JwkError, JwsError, JwsHeader, KeyRef, PublicKey, SigningKey, Verified};
pub use messages::{
    AnswerClaims, Decision, DeviceTime, MemoryReplayGuard, MessageError, PromptClaims,
    PromptContext, PromptFreshness, PromptMode, ProofClaims, ProofRequest, ReplayGuard,
};
pub use pairing::{PairingError, PairingUri};
