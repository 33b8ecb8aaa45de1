//! Apple Push Notification service wake-ups, with token-based (provider
//! token) authentication.
//!
//! The provider token is an ES256 JWT (`kid` = the key id, `iss` = the team
//! id, `iat`) signed with the `.p8` key from Apple's developer portal. Apple
//! refuses tokens older than an hour and also tokens renewed more often than
//! every 20 minutes, so one is kept and renewed every 40 minutes.
//!
//! A wake-up is an HTTP/2 `POST /3/device/{token}` carrying the prompt id and
//! a generic alert ("Sign-in request") with `mutable-content: 1`: the app's
//! Notification Service Extension fetches the signed prompt and rewrites the
//! alert with the real details, so nothing about the login crosses Apple's
//! servers.

use std::path::PathBuf;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::Full;
use hyper::{Method, Request, StatusCode, header};
use serde::{Deserialize, Serialize};
use tessera_core::push::{KeyRef, SigningKey};
use zeroize::Zeroizing;

use super::{
    HttpClient, NotifyError, Reply, Wakeup, check_url, exchange, failed, pem_der, unix_now,
};

/// The service name in errors.
const SERVICE: &str = "apns";

/// Apple's production endpoint.
pub const PRODUCTION_URL: &str = "https://api.push.apple.com";

/// Apple's development (sandbox) endpoint, for apps signed for development.
pub const SANDBOX_URL: &str = "https://api.sandbox.push.apple.com";

/// How long a provider token is used before a new one is signed: between
/// Apple's 20-minute minimum and 60-minute maximum.
pub const TOKEN_RENEWAL: Duration = Duration::from_secs(40 * 60);

/// The longest device token accepted, in hex characters (today's are 64;
/// Apple says they may grow).
const MAX_DEVICE_TOKEN_LEN: usize = 200;

/// The alert shown until the Notification Service Extension replaces it.
const ALERT_TITLE: &str = "Sign-in request";

/// Settings for APNs (`[notify.apns]`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApnsConfig {
    /// The `.p8` signing key (PKCS#8 P-256 PEM) from the developer portal.
    pub key_file: PathBuf,
    /// The key's 10-character id (the JWT's `kid`).
    pub key_id: String,
    /// The developer team id (the JWT's `iss`).
    pub team_id: String,
    /// The app's bundle id (`apns-topic`).
    pub topic: String,
    /// The APNs base URL: [`PRODUCTION_URL`] by default, [`SANDBOX_URL`] for
    /// development builds; tests use `http://` to loopback, which means
    /// HTTP/2 without TLS (prior knowledge).
    #[serde(default = "default_base_url")]
    pub base_url: String,
    /// How long APNs keeps an undelivered wake-up, in seconds
    /// (`apns-expiration` is now plus this): the usual prompt lifetime.
    #[serde(default = "default_expiration")]
    pub expiration: u32,
}

fn default_base_url() -> String {
    PRODUCTION_URL.to_string()
}

fn default_expiration() -> u32 {
    super::webpush::DEFAULT_TTL_SECS
}

/// The APNs adapter.
pub struct Apns {
    client: HttpClient,
    key: SigningKey,
    key_id: String,
    team_id: String,
    topic: String,
    base_url: String,
    expiration: u32,
    /// The provider token and when it was signed. A plain mutex: it is never
    /// held across an await.
    token: Mutex<Option<(String, Instant)>>,
}

/// The provider token's claims.
#[derive(Serialize)]
struct ProviderClaims<'a> {
    iss: &'a str,
    iat: u64,
}

impl Apns {
    /// Reads the `.p8` key and makes the adapter.
    pub fn new(config: &ApnsConfig) -> Result<Self, NotifyError> {
        let text = Zeroizing::new(
            std::fs::read_to_string(&config.key_file)
                .map_err(|e| failed(SERVICE, format!("cannot read the .p8 key file: {e}")))?,
        );
        let der = pem_der(&text, "PRIVATE KEY").ok_or_else(|| {
            failed(
                SERVICE,
                "the .p8 key file is not a PKCS#8 PEM key".to_string(),
            )
        })?;
        let key = SigningKey::from_pkcs8(&der).map_err(|e| {
            failed(
                SERVICE,
                format!("the .p8 key is not a usable P-256 key: {e}"),
            )
        })?;
        for (name, value) in [
            ("key_id", &config.key_id),
            ("team_id", &config.team_id),
            ("topic", &config.topic),
        ] {
            // They go into a JWT and a header: printable ASCII only.
            if value.is_empty() || !value.bytes().all(|b| b.is_ascii_graphic()) {
                return Err(failed(SERVICE, format!("the {name} is not valid")));
            }
        }
        let base_url = config.base_url.trim_end_matches('/').to_string();
        check_url(SERVICE, "base URL", &base_url, true)?;
        Ok(Self {
            client: HttpClient::new(SERVICE, true),
            key,
            key_id: config.key_id.clone(),
            team_id: config.team_id.clone(),
            topic: config.topic.clone(),
            base_url,
            expiration: config.expiration,
            token: Mutex::new(None),
        })
    }

    /// Sends the wake-up to the device `token` (hex).
    ///
    /// 410, and 400 `BadDeviceToken`, are [`NotifyError::Unregistered`]; a
    /// 403 saying the provider token expired renews it once and retries;
    /// other refusals are [`NotifyError::Failed`] with Apple's reason code.
    pub async fn send(&self, token: &str, wakeup: &Wakeup) -> Result<(), NotifyError> {
        if token.is_empty()
            || token.len() > MAX_DEVICE_TOKEN_LEN
            || !token.bytes().all(|b| b.is_ascii_hexdigit())
        {
            // Checked here because the token becomes part of the URL path.
            return Err(NotifyError::Unregistered(SERVICE));
        }
        let body = serde_json::json!({
            "aps": {"alert": {"title": ALERT_TITLE}, "mutable-content": 1},
            "prompt_id": wakeup.prompt_id,
        });
        let body = Bytes::from(
            serde_json::to_vec(&body)
                .map_err(|e| failed(SERVICE, format!("cannot encode the payload: {e}")))?,
        );
        let mut reply = self.post(token, body.clone(), false).await?;
        if reply.status == StatusCode::FORBIDDEN
            && matches!(
                reason(&reply).as_deref(),
                Some("ExpiredProviderToken" | "InvalidProviderToken")
            )
        {
            reply = self.post(token, body, true).await?;
        }
        classify(&reply)
    }

    async fn post(&self, token: &str, body: Bytes, renew: bool) -> Result<Reply, NotifyError> {
        let jwt = self.provider_token(renew)?;
        let expiration = unix_now() + u64::from(self.expiration);
        let request = Request::builder()
            .method(Method::POST)
            .uri(format!("{}/3/device/{token}", self.base_url))
            .header(header::AUTHORIZATION, format!("bearer {jwt}"))
            .header("apns-topic", self.topic.as_str())
            .header("apns-push-type", "alert")
            .header("apns-priority", "10")
            .header("apns-expiration", expiration)
            .header(header::CONTENT_TYPE, "application/json")
            .body(Full::new(body))
            .map_err(|_| failed(SERVICE, "cannot build the request".to_string()))?;
        exchange(&self.client, request).await
    }

    /// The current provider token, signing a new one when it is older than
    /// [`TOKEN_RENEWAL`] or `renew` asks for one.
    fn provider_token(&self, renew: bool) -> Result<String, NotifyError> {
        // A poisoned lock only means another send panicked mid-update; the
        // cached value is still a whole `Option`, so keep using it.
        let mut cached = self
            .token
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if !renew
            && let Some((token, signed_at)) = cached.as_ref()
            && signed_at.elapsed() < TOKEN_RENEWAL
        {
            return Ok(token.clone());
        }
        let claims = ProviderClaims {
            iss: &self.team_id,
            iat: unix_now(),
        };
        let token = self
            .key
            .sign_json("JWT", &KeyRef::Kid(self.key_id.clone()), &claims)
            .map_err(|e| failed(SERVICE, format!("cannot sign the provider token: {e}")))?;
        *cached = Some((token.clone(), Instant::now()));
        Ok(token)
    }
}

/// Apple's `reason` code from an error answer.
fn reason(reply: &Reply) -> Option<String> {
    reply.json()["reason"]
        .as_str()
        .filter(|r| r.len() <= 64 && r.bytes().all(|b| b.is_ascii_alphanumeric()))
        .map(str::to_string)
}

/// Maps Apple's answer to a result.
fn classify(reply: &Reply) -> Result<(), NotifyError> {
    let status = reply.status.as_u16();
    match (status, reason(reply).as_deref()) {
        (200, _) => Ok(()),
        (410, _) | (400, Some("BadDeviceToken")) => Err(NotifyError::Unregistered(SERVICE)),
        (_, Some(code)) => Err(failed(SERVICE, format!("APNs answered {status} ({code})"))),
        (_, None) => Err(failed(SERVICE, format!("APNs answered {status}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reply(status: u16, body: &str) -> Reply {
        Reply {
            status: StatusCode::from_u16(status).unwrap(),
            body: Bytes::from(body.to_string()),
        }
    }

    #[test]
    fn answers_map_to_results() {
        assert!(classify(&reply(200, "")).is_ok());
        assert!(matches!(
            classify(&reply(410, r#"{"reason":"Unregistered","timestamp":1}"#)),
            Err(NotifyError::Unregistered("apns"))
        ));
        assert!(matches!(
            classify(&reply(400, r#"{"reason":"BadDeviceToken"}"#)),
            Err(NotifyError::Unregistered("apns"))
        ));
        let error = classify(&reply(400, r#"{"reason":"DeviceTokenNotForTopic"}"#)).unwrap_err();
        assert!(matches!(error, NotifyError::Failed { .. }));
        assert!(error.to_string().contains("DeviceTokenNotForTopic"));
        let error = classify(&reply(503, "<html>")).unwrap_err();
        assert_eq!(error.to_string(), "apns: APNs answered 503");
    }
}
