//! Moving a pairing to a new device (`docs/push-protocol.md` §9).
//!
//! The old device signs a **hand-off authorization** with its device key:
//! a JWS `typ: tessera-handoff+jwt`, `kid: <old device id>`, whose payload
//! names the new device's public key (`handoff_to`), a short lifetime and a
//! single-use nonce. It travels to the new device inside the encrypted
//! transfer envelope ([`HandoffOffer`]); the new device then claims it with
//! `POST /v1/device/handoff`, proving with a request proof signed by the
//! new key (carried as `jwk`, as at enrollment) that it holds that key.
//!
//! Why a signed authorization and not a fresh enrollment: the site does not
//! have to issue a new QR code, and the server can check that the device
//! the user is leaving agreed to the move — nobody else holds its key.

use serde::{Deserialize, Serialize};

use super::jws::{self, KeyRef, PublicKey, SigningKey, UnverifiedJws};
use super::messages::{MessageError, VERSION, random_id};

/// `typ` of a hand-off authorization.
pub const HANDOFF_TYP: &str = "tessera-handoff+jwt";

/// The longest an authorization may live (`exp - iat`), in seconds: the
/// transfer mailbox itself lives 10 minutes.
pub const MAX_HANDOFF_LIFETIME: u64 = 600;

/// How far in the future an `iat` may be (clock skew between the devices
/// and the server), in seconds.
pub const HANDOFF_IAT_SKEW: u64 = 60;

/// The payload of a hand-off authorization (§9).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HandoffClaims {
    /// Protocol version (1).
    pub v: u32,
    /// The old device, whose key signs.
    pub device_id: String,
    /// The new device's public key.
    pub handoff_to: PublicKey,
    /// Issued at.
    pub iat: u64,
    /// Expires at (at most [`MAX_HANDOFF_LIFETIME`] after `iat`).
    pub exp: u64,
    /// 128 random bits: the server accepts each authorization once.
    pub nonce: String,
}

impl HandoffClaims {
    /// Signs an authorization that moves `device_id`'s pairing to
    /// `new_key`, valid from `now` for `lifetime` seconds (capped at
    /// [`MAX_HANDOFF_LIFETIME`]).
    pub fn create(
        device_key: &SigningKey,
        device_id: &str,
        new_key: &PublicKey,
        now: u64,
        lifetime: u64,
    ) -> Result<String, MessageError> {
        if device_id.is_empty() {
            return Err(MessageError::Empty { field: "device_id" });
        }
        let claims = Self {
            v: VERSION,
            device_id: device_id.to_string(),
            handoff_to: new_key.clone(),
            iat: now,
            exp: now.saturating_add(lifetime.clamp(1, MAX_HANDOFF_LIFETIME)),
            nonce: random_id()?,
        };
        Ok(device_key.sign_json(HANDOFF_TYP, &KeyRef::Kid(device_id.to_string()), &claims)?)
    }

    /// The `kid` of an authorization (the old device id), read before the
    /// signature is checked so the verifier can find the device's key.
    pub fn kid(token: &str) -> Result<String, MessageError> {
        UnverifiedJws::parse(token, HANDOFF_TYP)?
            .header()
            .kid
            .clone()
            .ok_or(MessageError::WrongKid)
    }

    /// Verifies an authorization under the old device's registered key:
    /// signature, `kid` and `device_id` both equal to `device_id`, `v` 1,
    /// `exp > iat`, `exp - iat ≤ 600`, `iat` not more than 60 s ahead of
    /// `now`, `now < exp`, and a well-formed nonce. Whether the nonce was
    /// used before is the server's state to check.
    pub fn verify(
        token: &str,
        device_key: &PublicKey,
        device_id: &str,
        now: u64,
    ) -> Result<Self, MessageError> {
        let verified = jws::verify(token, device_key, HANDOFF_TYP)?;
        if verified.header.kid.as_deref() != Some(device_id) {
            return Err(MessageError::WrongKid);
        }
        let claims: Self = jws::decode_claims(&verified.payload)?;
        if claims.v != VERSION {
            return Err(MessageError::UnsupportedVersion { found: claims.v });
        }
        if claims.device_id != device_id {
            return Err(MessageError::WrongDevice);
        }
        if claims.exp <= claims.iat {
            return Err(MessageError::ExpiresBeforeIssued);
        }
        let lifetime = claims.exp - claims.iat;
        if lifetime > MAX_HANDOFF_LIFETIME {
            return Err(MessageError::LifetimeTooLong { lifetime });
        }
        if claims.iat > now.saturating_add(HANDOFF_IAT_SKEW) {
            return Err(MessageError::IatOutOfWindow {
                iat: claims.iat,
                now,
            });
        }
        if now >= claims.exp {
            return Err(MessageError::Expired);
        }
        if !(claims.nonce.len() == 22
            && jws::b64url_decode(&claims.nonce).is_some_and(|b| b.len() == 16))
        {
            return Err(MessageError::BadRandom { field: "nonce" });
        }
        Ok(claims)
    }
}

/// One pairing offered to the new device, as it travels inside the
/// transfer envelope (`docs/backup-format.md`, `handoffs`). Holds no
/// private key: only the authorization, which works for the new key alone.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HandoffOffer {
    /// The push server's base URL.
    pub server: String,
    /// The account's issuer in the sender's vault (where to attach it).
    pub issuer: String,
    /// The account's name in the sender's vault (where to attach it).
    pub account: String,
    /// The user name at the relying party.
    pub user: String,
    /// The server key the old device pinned; the new device pins it too.
    pub server_key: PublicKey,
    /// The hand-off authorization JWS.
    pub authorization: String,
    /// The sender's account id, so the pairing lands on the same account
    /// when that account travels in the same envelope.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account_id: Option<String>,
}

impl std::fmt::Debug for HandoffOffer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The authorization is a bearer credential for whoever holds the
        // new key; it is kept out of logs all the same.
        f.debug_struct("HandoffOffer")
            .field("server", &self.server)
            .field("issuer", &self.issuer)
            .field("account", &self.account)
            .field("user", &self.user)
            .field("server_key", &self.server_key)
            .field("account_id", &self.account_id)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys() -> (SigningKey, SigningKey) {
        (
            SigningKey::generate().expect("old"),
            SigningKey::generate().expect("new"),
        )
    }

    #[test]
    fn a_signed_authorization_verifies_under_the_old_key_only() {
        let (old, new) = keys();
        let token =
            HandoffClaims::create(&old, "dev-1", new.public_key(), 1_000, 600).expect("sign");
        assert_eq!(HandoffClaims::kid(&token).expect("kid"), "dev-1");
        let claims =
            HandoffClaims::verify(&token, old.public_key(), "dev-1", 1_100).expect("verify");
        assert_eq!(claims.handoff_to, *new.public_key());
        assert_eq!(claims.exp, 1_600);
        assert!(matches!(
            HandoffClaims::verify(&token, new.public_key(), "dev-1", 1_100),
            Err(MessageError::Jws(_))
        ));
        assert_eq!(
            HandoffClaims::verify(&token, old.public_key(), "dev-2", 1_100),
            Err(MessageError::WrongKid)
        );
    }

    #[test]
    fn time_window_is_enforced() {
        let (old, new) = keys();
        let token =
            HandoffClaims::create(&old, "dev-1", new.public_key(), 1_000, 60).expect("sign");
        assert_eq!(
            HandoffClaims::verify(&token, old.public_key(), "dev-1", 1_060),
            Err(MessageError::Expired)
        );
        assert!(matches!(
            HandoffClaims::verify(&token, old.public_key(), "dev-1", 900),
            Err(MessageError::IatOutOfWindow { .. })
        ));
        // A lifetime asked beyond the cap is capped when signing.
        let long =
            HandoffClaims::create(&old, "dev-1", new.public_key(), 1_000, 9_999).expect("sign");
        let claims = HandoffClaims::verify(&long, old.public_key(), "dev-1", 1_001).expect("ok");
        assert_eq!(claims.exp - claims.iat, MAX_HANDOFF_LIFETIME);
        // One signed with a longer lifetime by hand is refused.
        let forged = old
            .sign_json(
                HANDOFF_TYP,
                &KeyRef::Kid("dev-1".into()),
                &HandoffClaims {
                    v: 1,
                    device_id: "dev-1".into(),
                    handoff_to: new.public_key().clone(),
                    iat: 1_000,
                    exp: 1_000 + 3_600,
                    nonce: random_id().expect("nonce"),
                },
            )
            .expect("sign");
        assert!(matches!(
            HandoffClaims::verify(&forged, old.public_key(), "dev-1", 1_001),
            Err(MessageError::LifetimeTooLong { .. })
        ));
    }

    #[test]
    fn offers_round_trip_and_hide_the_authorization() {
        let (old, new) = keys();
        let offer = HandoffOffer {
            server: "https://push.example.com".into(),
            issuer: "Example".into(),
            account: "alice@example.com".into(),
            user: "alice".into(),
            server_key: old.public_key().clone(),
            authorization: HandoffClaims::create(&old, "d", new.public_key(), 5, 60).expect("sign"),
            account_id: None,
        };
        let json = serde_json::to_string(&offer).expect("json");
        assert!(!json.contains("account_id"));
        let back: HandoffOffer = serde_json::from_str(&json).expect("parse");
        assert_eq!(back, offer);
        assert!(!format!("{offer:?}").contains(&offer.authorization));
    }
}
