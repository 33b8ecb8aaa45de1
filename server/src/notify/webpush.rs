//! Web Push / UnifiedPush wake-ups (RFC 8030 delivery, RFC 8292 VAPID).
//!
//! The device registered an endpoint URL; a wake-up is
//! `POST <endpoint>` with the body `{"prompt_id": "…"}` and the headers
//! `TTL`, `Urgency: high`, `Content-Type: application/json` and
//! `Authorization: vapid t=<JWT>, k=<server public key>`.
//!
//! # No payload encryption
//!
//! RFC 8291 message encryption is not used. The body carries only the
//! prompt id, which is not secret: it opens nothing by itself, because the
//! device fetches the signed prompt with a request proof made by its own key
//! (`docs/push-protocol.md` §3.4, §4), and the prompt is signed by the pinned
//! server key, so a push service that read or altered the wake-up learns the
//! id of a login attempt at most and can only delay or drop it. UnifiedPush
//! distributors deliver such plain bodies as they are; browser push services
//! that insist on RFC 8291 encrypted bodies are not a target of this adapter.
//!
//! # VAPID
//!
//! The JWT is signed (ES256) with the server key, `aud` is the endpoint's
//! origin, `exp` twelve hours ahead (RFC 8292 allows at most 24 h), `sub`
//! the operator's contact from the configuration when one is set. `k` is the
//! server's public key as an uncompressed P-256 point in base64url, so the
//! push service can check that every wake-up for a subscription comes from
//! the same application server.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64URL;
use bytes::Bytes;
use http_body_util::Full;
use hyper::{Method, Request, Uri, header};
use serde::{Deserialize, Serialize};
use tessera_core::push::{KeyRef, SigningKey};

use super::{HttpClient, NotifyError, Wakeup, check_url, exchange, failed, unix_now};

/// The service name in errors.
const SERVICE: &str = "webpush";

/// How long a VAPID token is valid: half the 24 hours RFC 8292 §2 allows,
/// so a push service whose clock runs ahead still accepts it.
const VAPID_LIFETIME_SECS: u64 = 12 * 60 * 60;

/// The `TTL` used when the configuration gives none: a prompt's default
/// lifetime (`docs/push-protocol.md` §3.1).
pub const DEFAULT_TTL_SECS: u32 = 120;

/// Settings for Web Push / UnifiedPush (`[notify.webpush]`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WebPushConfig {
    /// Whether devices may register Web Push endpoints (on by default: it
    /// needs no credentials beyond the server key).
    pub enabled: bool,
    /// The VAPID `sub` claim: a `mailto:` or `https:` URI where the push
    /// service can reach the operator. Some push services require it.
    pub subject: Option<String>,
    /// The `TTL` header in seconds: how long the push service keeps an
    /// undelivered wake-up. The prompt's own remaining life is not known to
    /// the notifier, so this should match the usual prompt lifetime.
    pub ttl: u32,
    /// Accept `http://` endpoints on loopback addresses. For tests only:
    /// real endpoints are always `https://`.
    pub allow_insecure_loopback: bool,
}

impl Default for WebPushConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            subject: None,
            ttl: DEFAULT_TTL_SECS,
            allow_insecure_loopback: false,
        }
    }
}

/// The Web Push adapter.
pub struct WebPush {
    client: HttpClient,
    key: SigningKey,
    /// `k=`: the public key, uncompressed point, base64url.
    public_key_b64: String,
    subject: Option<String>,
    ttl: u32,
    allow_insecure_loopback: bool,
}

/// The VAPID JWT claims (RFC 8292 §2).
#[derive(Serialize)]
struct VapidClaims<'a> {
    aud: &'a str,
    exp: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    sub: Option<&'a str>,
}

impl WebPush {
    /// Makes the adapter; `server_key` signs the VAPID tokens.
    pub fn new(config: &WebPushConfig, server_key: &SigningKey) -> Result<Self, NotifyError> {
        if let Some(subject) = &config.subject
            && !(subject.starts_with("mailto:") || subject.starts_with("https:"))
        {
            return Err(failed(
                SERVICE,
                "the VAPID subject must be a mailto: or https: URI".to_string(),
            ));
        }
        // `SigningKey` is not `Clone` (it guards its private half), so the
        // adapter keeps its own copy made from the PKCS#8 document.
        let key = SigningKey::from_pkcs8(server_key.pkcs8())
            .map_err(|e| failed(SERVICE, format!("the server key cannot sign: {e}")))?;
        Ok(Self {
            client: HttpClient::new(SERVICE, false),
            public_key_b64: B64URL.encode(key.public_key().sec1_uncompressed()),
            key,
            subject: config.subject.clone(),
            ttl: config.ttl,
            allow_insecure_loopback: config.allow_insecure_loopback,
        })
    }

    /// POSTs the wake-up to `endpoint`.
    ///
    /// 404 and 410 mean the subscription is gone
    /// ([`NotifyError::Unregistered`]); any other refusal is
    /// [`NotifyError::Failed`] with the status, never the endpoint.
    pub async fn send(&self, endpoint: &str, wakeup: &Wakeup) -> Result<(), NotifyError> {
        let uri = check_url(
            SERVICE,
            "push endpoint",
            endpoint,
            self.allow_insecure_loopback,
        )?;
        let audience = origin(&uri)
            .ok_or_else(|| failed(SERVICE, "the push endpoint has no origin".to_string()))?;
        let token = self.vapid_token(&audience, unix_now())?;
        let body = serde_json::to_vec(&serde_json::json!({"prompt_id": wakeup.prompt_id}))
            .map_err(|e| failed(SERVICE, format!("cannot encode the wake-up: {e}")))?;
        let request = Request::builder()
            .method(Method::POST)
            .uri(uri)
            .header("ttl", self.ttl)
            .header("urgency", "high")
            .header(header::CONTENT_TYPE, "application/json")
            .header(
                header::AUTHORIZATION,
                format!("vapid t={token}, k={}", self.public_key_b64),
            )
            .body(Full::new(Bytes::from(body)))
            .map_err(|_| failed(SERVICE, "cannot build the request".to_string()))?;
        let reply = exchange(&self.client, request).await?;
        match reply.status.as_u16() {
            200..=299 => Ok(()),
            404 | 410 => Err(NotifyError::Unregistered(SERVICE)),
            status => Err(failed(
                SERVICE,
                format!("the push service answered {status}"),
            )),
        }
    }

    /// A VAPID JWT for `audience` (an origin), valid from `now` for
    /// [`VAPID_LIFETIME_SECS`].
    fn vapid_token(&self, audience: &str, now: u64) -> Result<String, NotifyError> {
        let claims = VapidClaims {
            aud: audience,
            exp: now + VAPID_LIFETIME_SECS,
            sub: self.subject.as_deref(),
        };
        self.key
            .sign_json("JWT", &KeyRef::None, &claims)
            .map_err(|e| failed(SERVICE, format!("cannot sign the VAPID token: {e}")))
    }
}

/// The ASCII serialization of the URI's origin (RFC 6454 §6.2): scheme,
/// lower-case host, and the port only when it is not the scheme's default.
fn origin(uri: &Uri) -> Option<String> {
    let scheme = uri.scheme_str()?;
    let host = uri.host()?.to_ascii_lowercase();
    let default_port = match scheme {
        "https" => 443,
        "http" => 80,
        _ => return None,
    };
    Some(match uri.port_u16() {
        Some(port) if port != default_port => format!("{scheme}://{host}:{port}"),
        _ => format!("{scheme}://{host}"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origin_drops_path_query_and_default_port() {
        let uri: Uri = "https://Push.Example.com:443/wpush/v2/abc?x=1"
            .parse()
            .unwrap();
        assert_eq!(origin(&uri).unwrap(), "https://push.example.com");
        let uri: Uri = "https://push.example.com:8443/abc".parse().unwrap();
        assert_eq!(origin(&uri).unwrap(), "https://push.example.com:8443");
        let uri: Uri = "http://127.0.0.1:9000/up/abc".parse().unwrap();
        assert_eq!(origin(&uri).unwrap(), "http://127.0.0.1:9000");
    }

    #[test]
    fn endpoints_must_be_https_unless_loopback_is_allowed() {
        assert!(check_url(SERVICE, "e", "https://push.example.com/x", false).is_ok());
        assert!(check_url(SERVICE, "e", "http://push.example.com/x", false).is_err());
        assert!(check_url(SERVICE, "e", "http://127.0.0.1:1/x", false).is_err());
        assert!(check_url(SERVICE, "e", "http://127.0.0.1:1/x", true).is_ok());
        assert!(check_url(SERVICE, "e", "http://[::1]:1/x", true).is_ok());
        assert!(check_url(SERVICE, "e", "http://localhost:1/x", true).is_ok());
        assert!(check_url(SERVICE, "e", "http://10.0.0.1/x", true).is_err());
        assert!(check_url(SERVICE, "e", "ftp://push.example.com/x", true).is_err());
        assert!(check_url(SERVICE, "e", "https://user:pw@push.example.com/x", false).is_err());
        assert!(check_url(SERVICE, "e", "not a url", false).is_err());
    }

    #[test]
    fn subject_must_be_a_contact_uri() {
        let key = SigningKey::generate().unwrap();
        let config = WebPushConfig {
            subject: Some("admin@example.com".into()),
            ..WebPushConfig::default()
        };
        assert!(WebPush::new(&config, &key).is_err());
        let config = WebPushConfig {
            subject: Some("mailto:admin@example.com".into()),
            ..WebPushConfig::default()
        };
        assert!(WebPush::new(&config, &key).is_ok());
    }
}
