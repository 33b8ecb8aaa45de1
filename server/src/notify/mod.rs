//! Waking a device when a prompt is created (`docs/push-protocol.md` §3.4).
//!
//! The stream (SSE) always gets the signed prompt through [`crate::hub`];
//! devices that registered a push endpoint are also woken through a
//! [`Notifier`], which carries only the prompt id.
//!
//! [`build`] makes the notifier from the configuration: a dispatcher over
//! the adapters for Web Push / UnifiedPush ([`webpush`]), Firebase Cloud
//! Messaging ([`fcm`]) and the Apple Push Notification service ([`apns`]),
//! each written to the service's public HTTP API. Errors and logs never
//! carry a push token, an endpoint URL or a credential: an endpoint URL is a
//! capability to wake the device, so it is as secret as a token.

use std::sync::{Arc, OnceLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use bytes::Bytes;
use futures_util::future::BoxFuture;
use http_body_util::{BodyExt as _, Full, Limited};
use hyper::{Request, StatusCode, Uri};
use hyper_rustls::{HttpsConnector, HttpsConnectorBuilder};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde::Deserialize;
use tessera_core::push::SigningKey;
use zeroize::Zeroizing;

/// How a device asked to be reached (the `delivery` object of §2): the
/// core's protocol type, shared with the device side.
pub use tessera_core::push::Delivery;

/// What a wake-up says: which prompt to fetch, nothing else.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Wakeup {
    /// The device woken.
    pub device_id: String,
    /// The prompt it should fetch.
    pub prompt_id: String,
}

/// Why a wake-up could not be handed to the delivery service.
#[derive(Debug, thiserror::Error)]
pub enum NotifyError {
    /// This server has no adapter configured for the device's kind.
    #[error("no {0} delivery is configured on this server")]
    NotConfigured(&'static str),
    /// The delivery service refused or could not be reached.
    #[error("{service}: {reason}")]
    Failed {
        /// `webpush`, `fcm` or `apns`.
        service: &'static str,
        /// What went wrong (never a token).
        reason: String,
    },
    /// The service says the token/endpoint is gone for good; the device
    /// should be marked unreachable by push.
    #[error("{0}: the device's registration is no longer valid")]
    Unregistered(&'static str),
}

/// Hands a wake-up to a push service.
pub trait Notifier: Send + Sync {
    /// Wakes the device reachable at `delivery`. `Delivery::Stream` is a
    /// no-op: streams are fed by the hub.
    fn wake<'a>(
        &'a self,
        delivery: &'a Delivery,
        wakeup: &'a Wakeup,
    ) -> BoxFuture<'a, Result<(), NotifyError>>;
}

pub mod apns;
pub mod fcm;
pub mod webpush;

/// The push-service settings (`[notify]` in the server's config file).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NotifyConfig {
    /// Web Push / UnifiedPush endpoints.
    #[serde(default)]
    pub webpush: webpush::WebPushConfig,
    /// Firebase Cloud Messaging (off when absent).
    pub fcm: Option<fcm::FcmConfig>,
    /// Apple Push Notification service (off when absent).
    pub apns: Option<apns::ApnsConfig>,
}

/// Builds the notifier for `config`: a dispatcher that hands each wake-up to
/// the adapter of the device's delivery kind.
///
/// `server_key` signs the VAPID tokens of Web Push. Credentials (the FCM
/// service account, the APNs `.p8` key) are read here, once, so a broken
/// file stops the server at start-up instead of failing every prompt.
/// A kind without a configured adapter answers
/// [`NotifyError::NotConfigured`] when a device of that kind is woken.
pub fn build(
    config: &NotifyConfig,
    server_key: &SigningKey,
) -> Result<Arc<dyn Notifier>, NotifyError> {
    let webpush = if config.webpush.enabled {
        Some(webpush::WebPush::new(&config.webpush, server_key)?)
    } else {
        None
    };
    let fcm = config.fcm.as_ref().map(fcm::Fcm::new).transpose()?;
    let apns = config.apns.as_ref().map(apns::Apns::new).transpose()?;
    Ok(Arc::new(Dispatcher { webpush, fcm, apns }))
}

/// Routes each wake-up to the adapter of its delivery kind.
struct Dispatcher {
    webpush: Option<webpush::WebPush>,
    fcm: Option<fcm::Fcm>,
    apns: Option<apns::Apns>,
}

impl Notifier for Dispatcher {
    fn wake<'a>(
        &'a self,
        delivery: &'a Delivery,
        wakeup: &'a Wakeup,
    ) -> BoxFuture<'a, Result<(), NotifyError>> {
        Box::pin(async move {
            let result = match delivery {
                // Streams are fed by the hub; nothing to wake here.
                Delivery::Stream => return Ok(()),
                Delivery::Webpush { endpoint } => match &self.webpush {
                    Some(adapter) => adapter.send(endpoint, wakeup).await,
                    None => Err(NotifyError::NotConfigured("webpush")),
                },
                Delivery::Fcm { token } => match &self.fcm {
                    Some(adapter) => adapter.send(token, wakeup).await,
                    None => Err(NotifyError::NotConfigured("fcm")),
                },
                Delivery::Apns { token } => match &self.apns {
                    Some(adapter) => adapter.send(token, wakeup).await,
                    None => Err(NotifyError::NotConfigured("apns")),
                },
            };
            match &result {
                Ok(()) => tracing::debug!(
                    device_id = %wakeup.device_id,
                    kind = delivery.kind(),
                    "wake-up handed to the push service"
                ),
                Err(error) => tracing::warn!(
                    device_id = %wakeup.device_id,
                    kind = delivery.kind(),
                    %error,
                    "wake-up not delivered"
                ),
            }
            result
        })
    }
}

/// How long one request to a push service may take, connection included.
/// A prompt lives about two minutes; a wake-up that takes longer than this
/// is better reported as failed so the device can still find the prompt by
/// polling or its stream.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// The largest answer body read from a push service. Answers are small JSON
/// error objects; anything bigger is cut off rather than buffered.
const MAX_REPLY: usize = 64 * 1024;

/// The HTTP client every adapter uses: TLS through rustls with the
/// platform's trust store, plain `http://` allowed so tests can use
/// loopback stand-ins (each adapter decides which URLs it accepts).
///
/// Made on first use, not at start-up: loading the platform's CA roots fails
/// on a machine that has none, and that must not stop a server that only
/// serves streams (Web Push is on by default) from starting. The failure is
/// then reported by each wake-up until the roots appear.
struct HttpClient {
    service: &'static str,
    http2_only: bool,
    client: OnceLock<Client<HttpsConnector<HttpConnector>, Full<Bytes>>>,
}

impl HttpClient {
    /// A client for `service`. `http2_only`: APNs speaks nothing else, so
    /// the TLS handshake offers only `h2` (ALPN) and plain `http://` means
    /// HTTP/2 with prior knowledge (h2c).
    fn new(service: &'static str, http2_only: bool) -> Self {
        Self {
            service,
            http2_only,
            client: OnceLock::new(),
        }
    }

    /// The client, made now if this is the first use.
    fn get(&self) -> Result<&Client<HttpsConnector<HttpConnector>, Full<Bytes>>, NotifyError> {
        if let Some(client) = self.client.get() {
            return Ok(client);
        }
        let builder = HttpsConnectorBuilder::new()
            .try_with_platform_verifier()
            .map_err(|e| failed(self.service, format!("cannot set up TLS: {e}")))?
            .https_or_http();
        let connector = if self.http2_only {
            builder.enable_http2().build()
        } else {
            builder.enable_all_versions().build()
        };
        let mut client = Client::builder(TokioExecutor::new());
        client.http2_only(self.http2_only);
        // Two first uses at once may both build one; either is fine.
        let _ = self.client.set(client.build(connector));
        self.client
            .get()
            .ok_or_else(|| failed(self.service, "cannot set up the HTTP client".to_string()))
    }
}

/// A push service's answer, read whole (up to [`MAX_REPLY`]).
struct Reply {
    status: StatusCode,
    body: Bytes,
}

impl Reply {
    /// The body as JSON, `Null` when it is not JSON.
    fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or(serde_json::Value::Null)
    }
}

/// Sends `request` and reads the answer, within [`REQUEST_TIMEOUT`].
///
/// The failure reasons are built from the error's kind only: the request's
/// URL may carry a device's push token (a Web Push endpoint is itself a
/// capability), and the client's errors could quote it.
async fn exchange(
    client: &HttpClient,
    request: Request<Full<Bytes>>,
) -> Result<Reply, NotifyError> {
    let service = client.service;
    let client = client.get()?;
    let work = async {
        let response = client.request(request).await.map_err(|e| {
            let what = if e.is_connect() {
                "could not connect to the service"
            } else {
                "the request failed"
            };
            match io_kind(&e) {
                Some(kind) => failed(service, format!("{what} ({kind})")),
                None => failed(service, what.to_string()),
            }
        })?;
        let status = response.status();
        let body = Limited::new(response.into_body(), MAX_REPLY)
            .collect()
            .await
            .map_err(|_| failed(service, format!("could not read the answer ({status})")))?
            .to_bytes();
        Ok(Reply { status, body })
    };
    tokio::time::timeout(REQUEST_TIMEOUT, work)
        .await
        .map_err(|_| failed(service, "the service did not answer in time".to_string()))?
}

/// The I/O error kind at the root of `error`, if any ("connection refused").
fn io_kind(error: &(dyn std::error::Error + 'static)) -> Option<std::io::ErrorKind> {
    let mut source = Some(error);
    while let Some(current) = source {
        if let Some(io) = current.downcast_ref::<std::io::Error>() {
            return Some(io.kind());
        }
        source = current.source();
    }
    None
}

/// Shorthand for [`NotifyError::Failed`].
fn failed(service: &'static str, reason: String) -> NotifyError {
    NotifyError::Failed { service, reason }
}

/// Checks the URL of a push service (or a Web Push endpoint): `https`, or
/// `http` to a loopback address when `allow_loopback_http` (tests). Returns
/// the parsed URI.
fn check_url(
    service: &'static str,
    what: &str,
    url: &str,
    allow_loopback_http: bool,
) -> Result<Uri, NotifyError> {
    let uri: Uri = url
        .parse()
        .map_err(|_| failed(service, format!("the {what} is not a valid URL")))?;
    let Some(authority) = uri.authority() else {
        return Err(failed(service, format!("the {what} has no host")));
    };
    if authority.as_str().contains('@') {
        return Err(failed(
            service,
            format!("the {what} must not carry credentials"),
        ));
    }
    match uri.scheme_str() {
        Some("https") => Ok(uri),
        Some("http") if allow_loopback_http && is_loopback(authority.host()) => Ok(uri),
        Some("http") => Err(failed(
            service,
            format!("the {what} must use https (plain http only to loopback in tests)"),
        )),
        _ => Err(failed(service, format!("the {what} must use https"))),
    }
}

/// True for `localhost` and loopback IP addresses (`127.0.0.0/8`, `[::1]`).
fn is_loopback(host: &str) -> bool {
    if host.eq_ignore_ascii_case("localhost") {
        return true;
    }
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    bare.parse::<std::net::IpAddr>()
        .is_ok_and(|ip| ip.is_loopback())
}

/// The DER bytes inside a PEM block labelled `label` (`PRIVATE KEY`).
/// `None` when there is no such block or its base64 is broken.
fn pem_der(text: &str, label: &str) -> Option<Zeroizing<Vec<u8>>> {
    let begin = format!("-----BEGIN {label}-----");
    let end = format!("-----END {label}-----");
    let start = text.find(&begin)? + begin.len();
    let stop = start + text[start..].find(&end)?;
    let base64: Zeroizing<String> = Zeroizing::new(
        text[start..stop]
            .chars()
            .filter(|c| !c.is_ascii_whitespace())
            .collect(),
    );
    BASE64.decode(base64.as_bytes()).ok().map(Zeroizing::new)
}

/// Seconds since the Unix epoch (0 if the clock is before it).
fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}
