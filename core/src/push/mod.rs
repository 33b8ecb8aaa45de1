//! The Tessera push protocol (`docs/push-protocol.md`): the building blocks
//! shared by the push server and the device, and the device's client.
//!
//! - [`jws`] — ES256 compact JSON Web Signatures, P-256 keys, JWK and JWK
//!   thumbprints.
//! - [`pairing`] — the `tessera-push://pair` URI shown as a QR code.
//! - [`messages`] — signed prompts, device request proofs and answers, with
//!   the validation rules of the protocol.
//! - [`client`] — the device side over HTTP(S): [`pair`], then a
//!   [`PushClient`] per pairing to list, fetch, verify and answer prompts,
//!   unpair and change the delivery.
//! - [`handoff`] — moving a pairing to a new device (§9): the old device's
//!   signed authorization, [`claim_handoff`] on the new one.
//! - [`stream`] — the prompt stream (Server-Sent Events) with reconnection:
//!   [`PushClient::subscribe`] → [`Subscription`].
//! - [`sse`] — the Server-Sent Events parser.
//! - [`wake`] — wake-up payloads from web push, FCM and APNs
//!   ([`handle_push_payload`]).
//! - [`time`] — the [`PushClock`] the client judges expiry and signs with.
//! - [`error`] — [`PushError`], the client's one error type.

pub mod client;
pub mod error;
pub mod handoff;
pub(crate) mod http;
pub mod jws;
pub mod messages;
pub mod pairing;
pub mod sse;
pub mod stream;
pub mod time;
pub mod wake;

pub use client::{
    AnswerOutcome, Delivery, ENROLLMENT_TYP, EnrollmentClaims, PushClient, VerifiedPrompt,
    claim_handoff, pair, verify_enrollment,
};
pub use error::PushError;
pub use handoff::{HandoffClaims, HandoffOffer};
pub use jws::{JwkError, JwsError, JwsHeader, KeyRef, PublicKey, SigningKey, Verified};
pub use messages::{
    AnswerClaims, Decision, DeviceTime, MemoryReplayGuard, MessageError, PromptClaims,
    PromptContext, PromptFreshness, PromptMode, ProofClaims, ProofRequest, ReplayGuard,
};
pub use pairing::{PairingError, PairingUri};
pub use stream::{Backoff, PushEvent, Subscription};
pub use time::{KnownTime, PushClock, SystemTimeKnown, UnknownTime};
pub use wake::handle_push_payload;
