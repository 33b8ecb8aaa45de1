//! Firebase Cloud Messaging wake-ups through the HTTP v1 API.
//!
//! Authentication is the OAuth 2.0 service-account flow (RFC 7523): the
//! server signs a JWT assertion (RS256) with the service account's RSA key,
//! trades it at the account's `token_uri` for an access token, and keeps
//! that token until shortly before it expires. A wake-up is
//! `POST {api_base}/v1/projects/{project_id}/messages:send` with a data-only
//! message at high priority: the app wakes, hands the payload to the core,
//! and fetches the signed prompt itself.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64URL;
use bytes::Bytes;
use http_body_util::Full;
use hyper::{Method, Request, StatusCode, header};
use ring::rand::SystemRandom;
use ring::signature::{RSA_PKCS1_SHA256, RsaKeyPair};
use serde::{Deserialize, Serialize};
use tokio::sync::Mutex;
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

use super::{
    HttpClient, NotifyError, Reply, Wakeup, check_url, exchange, failed, pem_der, unix_now,
};

/// The service name in errors.
const SERVICE: &str = "fcm";

/// The OAuth scope that allows sending messages.
pub const SCOPE: &str = "https://www.googleapis.com/auth/firebase.messaging";

/// The JWT-bearer grant type of RFC 7523 §2.1, form-encoded.
const GRANT_TYPE: &str = "urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer";

/// Google's token endpoint, used when the service account names none.
pub const DEFAULT_TOKEN_URI: &str = "https://oauth2.googleapis.com/token";

/// The FCM API's base URL.
pub const DEFAULT_API_BASE: &str = "https://fcm.googleapis.com";

/// How long the assertion is valid; Google accepts at most one hour.
const ASSERTION_LIFETIME_SECS: u64 = 3600;

/// An access token is renewed this long before it expires, so a request
/// never leaves with a token that dies on the way.
const RENEW_MARGIN: Duration = Duration::from_secs(120);

/// Settings for FCM (`[notify.fcm]`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FcmConfig {
    /// The service-account JSON downloaded from the Firebase console
    /// (`client_email`, `private_key`, `token_uri`, `project_id`).
    pub service_account_file: PathBuf,
    /// The Firebase project; defaults to the service account's `project_id`.
    #[serde(default)]
    pub project_id: Option<String>,
    /// The FCM API base URL (tests point it at a stand-in).
    #[serde(default = "default_api_base")]
    pub api_base: String,
    /// Overrides the service account's `token_uri` (tests).
    #[serde(default)]
    pub token_uri: Option<String>,
    /// The Android message TTL in seconds (how long FCM keeps an
    /// undelivered wake-up): the usual prompt lifetime.
    #[serde(default = "default_ttl")]
    pub ttl: u32,
}

fn default_api_base() -> String {
    DEFAULT_API_BASE.to_string()
}

fn default_ttl() -> u32 {
    super::webpush::DEFAULT_TTL_SECS
}

/// The members of a service-account file this adapter uses. The private
/// key is wiped when the struct is dropped.
#[derive(Deserialize, Zeroize, ZeroizeOnDrop)]
struct ServiceAccount {
    client_email: String,
    private_key: String,
    #[serde(default)]
    private_key_id: Option<String>,
    #[serde(default)]
    token_uri: Option<String>,
    #[serde(default)]
    project_id: Option<String>,
}

/// A cached OAuth access token.
struct AccessToken {
    value: Zeroizing<String>,
    renew_at: Instant,
}

/// The FCM adapter.
pub struct Fcm {
    client: HttpClient,
    key: RsaKeyPair,
    client_email: String,
    key_id: Option<String>,
    token_uri: String,
    send_url: String,
    ttl: u32,
    /// The access token; an async mutex so concurrent wake-ups wait for one
    /// token request instead of each making their own.
    token: Mutex<Option<AccessToken>>,
}

/// The JWT assertion's claims (RFC 7523 §3, Google's service-account flow).
#[derive(Serialize)]
struct AssertionClaims<'a> {
    iss: &'a str,
    scope: &'a str,
    aud: &'a str,
    iat: u64,
    exp: u64,
}

/// The token endpoint's answer.
#[derive(Deserialize)]
struct TokenReply {
    access_token: String,
    #[serde(default)]
    expires_in: Option<u64>,
}

impl Fcm {
    /// Reads the service account and makes the adapter.
    pub fn new(config: &FcmConfig) -> Result<Self, NotifyError> {
        let text = Zeroizing::new(
            std::fs::read_to_string(&config.service_account_file).map_err(|e| {
                failed(
                    SERVICE,
                    format!("cannot read the service-account file: {e}"),
                )
            })?,
        );
        let account: ServiceAccount = serde_json::from_str(&text).map_err(|e| {
            // serde's message names a line and column, never the content.
            failed(
                SERVICE,
                format!("the service-account file is not valid: {e}"),
            )
        })?;
        let der = pem_der(&account.private_key, "PRIVATE KEY").ok_or_else(|| {
            failed(
                SERVICE,
                "the service account's private_key is not a PKCS#8 PEM key".to_string(),
            )
        })?;
        let key = RsaKeyPair::from_pkcs8(&der).map_err(|e| {
            failed(
                SERVICE,
                format!("the service account's private_key is not a usable RSA key: {e}"),
            )
        })?;
        let token_uri = config
            .token_uri
            .clone()
            .or_else(|| account.token_uri.clone())
            .unwrap_or_else(|| DEFAULT_TOKEN_URI.to_string());
        check_url(SERVICE, "token URI", &token_uri, true)?;
        let project_id = config
            .project_id
            .clone()
            .or_else(|| account.project_id.clone())
            .ok_or_else(|| failed(SERVICE, "no project_id is configured".to_string()))?;
        if project_id.is_empty()
            || !project_id.bytes().all(|b| {
                b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.' || b == b':'
            })
        {
            return Err(failed(SERVICE, "the project_id is not valid".to_string()));
        }
        let api_base = config.api_base.trim_end_matches('/');
        check_url(SERVICE, "API base URL", api_base, true)?;
        Ok(Self {
            client: HttpClient::new(SERVICE, false),
            key,
            client_email: account.client_email.clone(),
            key_id: account.private_key_id.clone(),
            token_uri,
            send_url: format!("{api_base}/v1/projects/{project_id}/messages:send"),
            ttl: config.ttl,
            token: Mutex::new(None),
        })
    }

    /// Sends a data-only, high-priority message to the registration `token`.
    ///
    /// A 401 answer renews the access token once and retries. 404
    /// `UNREGISTERED`, and 400 `INVALID_ARGUMENT` about the token, are
    /// [`NotifyError::Unregistered`]; other refusals are
    /// [`NotifyError::Failed`].
    pub async fn send(&self, token: &str, wakeup: &Wakeup) -> Result<(), NotifyError> {
        let message = serde_json::json!({
            "message": {
                "token": token,
                "data": {"prompt_id": wakeup.prompt_id},
                "android": {"priority": "HIGH", "ttl": format!("{}s", self.ttl)},
            }
        });
        let body = Bytes::from(
            serde_json::to_vec(&message)
                .map_err(|e| failed(SERVICE, format!("cannot encode the message: {e}")))?,
        );
        let access = self.access_token(false).await?;
        let mut reply = self.post_message(&access, body.clone()).await?;
        if reply.status == StatusCode::UNAUTHORIZED {
            // The token may have been revoked or expired early: one fresh try.
            let access = self.access_token(true).await?;
            reply = self.post_message(&access, body).await?;
        }
        classify(&reply)
    }

    async fn post_message(&self, access: &str, body: Bytes) -> Result<Reply, NotifyError> {
        let request = Request::builder()
            .method(Method::POST)
            .uri(self.send_url.as_str())
            .header(header::AUTHORIZATION, format!("Bearer {access}"))
            .header(header::CONTENT_TYPE, "application/json; charset=utf-8")
            .body(Full::new(body))
            .map_err(|_| failed(SERVICE, "cannot build the request".to_string()))?;
        exchange(&self.client, request).await
    }

    /// The cached access token, or a new one when there is none, it is about
    /// to expire, or `renew` asks for a fresh one.
    async fn access_token(&self, renew: bool) -> Result<Zeroizing<String>, NotifyError> {
        let mut cached = self.token.lock().await;
        if !renew
            && let Some(token) = cached.as_ref()
            && Instant::now() < token.renew_at
        {
            return Ok(token.value.clone());
        }
        *cached = None;
        let fresh = self.fetch_token().await?;
        let value = fresh.value.clone();
        *cached = Some(fresh);
        Ok(value)
    }

    /// Trades a fresh assertion for an access token.
    async fn fetch_token(&self) -> Result<AccessToken, NotifyError> {
        let assertion = self.assertion(unix_now())?;
        let form = Zeroizing::new(format!("grant_type={GRANT_TYPE}&assertion={}", *assertion));
        let request = Request::builder()
            .method(Method::POST)
            .uri(self.token_uri.as_str())
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(Full::new(Bytes::copy_from_slice(form.as_bytes())))
            .map_err(|_| failed(SERVICE, "cannot build the token request".to_string()))?;
        let reply = exchange(&self.client, request).await?;
        if !reply.status.is_success() {
            // RFC 6749 §5.2: `error` is a short ASCII code such as
            // `invalid_grant`; quoted only when it looks like one.
            let code = reply.json()["error"]
                .as_str()
                .filter(|c| c.len() <= 40 && c.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'))
                .map(|c| format!(", {c}"))
                .unwrap_or_default();
            return Err(failed(
                SERVICE,
                format!(
                    "the token endpoint refused the service account ({}{code})",
                    reply.status.as_u16()
                ),
            ));
        }
        let parsed: TokenReply = serde_json::from_slice(&reply.body).map_err(|_| {
            failed(
                SERVICE,
                "the token endpoint's answer has no access_token".to_string(),
            )
        })?;
        let value = Zeroizing::new(parsed.access_token);
        if value.is_empty() {
            return Err(failed(
                SERVICE,
                "the token endpoint gave an empty access token".to_string(),
            ));
        }
        // Google's tokens last an hour; absent `expires_in`, assume that.
        let lifetime = Duration::from_secs(parsed.expires_in.unwrap_or(3600));
        let renew_after = if lifetime > RENEW_MARGIN * 2 {
            lifetime - RENEW_MARGIN
        } else {
            lifetime / 2
        };
        Ok(AccessToken {
            value,
            renew_at: Instant::now() + renew_after,
        })
    }

    /// The signed RS256 JWT assertion, issued at `now`.
    fn assertion(&self, now: u64) -> Result<Zeroizing<String>, NotifyError> {
        let mut header = serde_json::json!({"alg": "RS256", "typ": "JWT"});
        if let Some(kid) = &self.key_id {
            header["kid"] = kid.as_str().into();
        }
        let claims = AssertionClaims {
            iss: &self.client_email,
            scope: SCOPE,
            aud: &self.token_uri,
            iat: now,
            exp: now + ASSERTION_LIFETIME_SECS,
        };
        let header = serde_json::to_vec(&header)
            .map_err(|e| failed(SERVICE, format!("cannot encode the assertion: {e}")))?;
        let claims = serde_json::to_vec(&claims)
            .map_err(|e| failed(SERVICE, format!("cannot encode the assertion: {e}")))?;
        let mut jwt = Zeroizing::new(format!(
            "{}.{}",
            B64URL.encode(header),
            B64URL.encode(claims)
        ));
        let mut signature = vec![0u8; self.key.public().modulus_len()];
        self.key
            .sign(
                &RSA_PKCS1_SHA256,
                &SystemRandom::new(),
                jwt.as_bytes(),
                &mut signature,
            )
            .map_err(|_| failed(SERVICE, "cannot sign the assertion".to_string()))?;
        jwt.push('.');
        jwt.push_str(&B64URL.encode(signature));
        Ok(jwt)
    }
}

/// Maps FCM's answer to a result (FCM v1 error codes).
fn classify(reply: &Reply) -> Result<(), NotifyError> {
    if reply.status.is_success() {
        return Ok(());
    }
    let body = reply.json();
    let error = &body["error"];
    let details = error["details"].as_array();
    let fcm_code = details
        .into_iter()
        .flatten()
        .find_map(|d| d["errorCode"].as_str());
    let about_token = details.into_iter().flatten().any(|d| {
        d["fieldViolations"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|v| v["field"].as_str() == Some("message.token"))
    });
    let status = reply.status.as_u16();
    match (status, fcm_code) {
        (404, Some("UNREGISTERED")) => Err(NotifyError::Unregistered(SERVICE)),
        (400, Some("INVALID_ARGUMENT")) if about_token => Err(NotifyError::Unregistered(SERVICE)),
        // Only the codes are quoted: FCM's `message` may echo the token.
        (_, Some(code)) => Err(failed(SERVICE, format!("FCM answered {status} ({code})"))),
        (_, None) => Err(failed(SERVICE, format!("FCM answered {status}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reply(status: u16, body: serde_json::Value) -> Reply {
        Reply {
            status: StatusCode::from_u16(status).unwrap(),
            body: Bytes::from(body.to_string()),
        }
    }

    #[test]
    fn unregistered_tokens_are_recognised() {
        let gone = reply(
            404,
            serde_json::json!({"error": {"code": 404, "status": "NOT_FOUND", "details": [
                {"@type": "type.googleapis.com/google.firebase.fcm.v1.FcmError",
                 "errorCode": "UNREGISTERED"}]}}),
        );
        assert!(matches!(
            classify(&gone),
            Err(NotifyError::Unregistered("fcm"))
        ));
        let bad_token = reply(
            400,
            serde_json::json!({"error": {"code": 400, "status": "INVALID_ARGUMENT", "details": [
                {"@type": "type.googleapis.com/google.firebase.fcm.v1.FcmError",
                 "errorCode": "INVALID_ARGUMENT"},
                {"@type": "type.googleapis.com/google.rpc.BadRequest",
                 "fieldViolations": [{"field": "message.token",
                                      "description": "Invalid registration token"}]}]}}),
        );
        assert!(matches!(
            classify(&bad_token),
            Err(NotifyError::Unregistered("fcm"))
        ));
    }

    #[test]
    fn other_refusals_fail_without_quoting_the_message() {
        let bad_ttl = reply(
            400,
            serde_json::json!({"error": {"code": 400, "message": "secret-token-123 bad ttl",
                "details": [{"errorCode": "INVALID_ARGUMENT"}]}}),
        );
        let error = classify(&bad_ttl).unwrap_err();
        assert!(matches!(error, NotifyError::Failed { .. }));
        assert!(!error.to_string().contains("secret-token-123"));
        // A bare 404 (a wrong API base, say) must not unregister devices.
        let html = Reply {
            status: StatusCode::NOT_FOUND,
            body: Bytes::from_static(b"<html>"),
        };
        assert!(matches!(classify(&html), Err(NotifyError::Failed { .. })));
        assert!(classify(&reply(200, serde_json::json!({"name": "x"}))).is_ok());
    }
}
