//! The foreign `HttpTransport` trait (the app's HTTP stack: `HttpURLConnection`
//! on Android, `URLSession` on iOS) and its adapter to the core's HTTP port
//! (`tessera_core::http`). The mobile library has no TLS stack of its own:
//! the platform's checks certificates, with its trust store, proxies and
//! network security settings.

use std::sync::Arc;

use tessera_core::http::{
    HttpError, HttpFuture, HttpRequest as CoreRequest, HttpResponse as CoreResponse,
};

use crate::TesseraError;

/// One HTTP header.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct HttpHeader {
    /// The name (any case).
    pub name: String,
    /// The value.
    pub value: String,
}

/// A request Tessera wants sent.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct HttpRequest {
    /// `GET`, `HEAD`, `POST`, `PUT` or `DELETE`.
    pub method: String,
    /// `https://…`, or `http://…` to a loopback host only.
    pub url: String,
    /// Headers to send exactly as given (Tessera sets its user agent and
    /// content type itself).
    pub headers: Vec<HttpHeader>,
    /// The body; empty for none.
    pub body: Vec<u8>,
    /// How long connecting and receiving the status and headers may take,
    /// in milliseconds.
    pub timeout_ms: u64,
}

/// The app's HTTP client, which Tessera's network calls go through (HTTPS
/// time sources, push approval, transfer mailboxes).
///
/// The contract: send the request as given; follow no redirects (return a
/// 3xx as it is); use no cache, cookies or credentials; return as soon as
/// the status and headers have arrived, since the body may be an endless
/// `text/event-stream`. Throw `TesseraError.Network` when no response
/// arrives (no connection, TLS failure, timeout), with a short reason that
/// names at most the host.
#[uniffi::export(with_foreign)]
#[async_trait::async_trait]
pub trait HttpTransport: Send + Sync {
    /// Sends `request` and returns its response, body unread.
    async fn send(&self, request: HttpRequest) -> Result<HttpResponse, TesseraError>;
}

/// A response: its status and headers, and the body still to be read.
#[derive(Clone, uniffi::Record)]
pub struct HttpResponse {
    /// The status code.
    pub status: u16,
    /// The headers (names in any case; repeated headers repeated).
    pub headers: Vec<HttpHeader>,
    /// The body, read piece by piece.
    pub body: Arc<dyn HttpBody>,
}

/// A response body that Tessera reads piece by piece.
#[uniffi::export(with_foreign)]
#[async_trait::async_trait]
pub trait HttpBody: Send + Sync {
    /// The next bytes of the body as soon as any arrive (never wait to fill
    /// a large buffer: the push stream sends small events far apart);
    /// `null`/`nil` at the end of the body.
    async fn read(&self) -> Result<Option<Vec<u8>>, TesseraError>;
    /// Stops reading and releases the connection. Tessera calls it exactly
    /// once when done, possibly before the end of the body and while a
    /// `read` is pending on another thread, which must then end. (Not
    /// `close`: the generated Kotlin class has its own `close()`.)
    fn cancel(&self);
}

/// Lets the core send requests through the app's transport.
pub struct ForeignTransport(pub Arc<dyn HttpTransport>);

impl tessera_core::http::HttpTransport for ForeignTransport {
    fn send(&self, request: CoreRequest) -> HttpFuture<'_, CoreResponse> {
        let request = HttpRequest {
            method: request.method,
            url: request.url,
            headers: request
                .headers
                .into_iter()
                .map(|(name, value)| HttpHeader { name, value })
                .collect(),
            body: request.body,
            timeout_ms: u64::try_from(request.timeout.as_millis()).unwrap_or(u64::MAX),
        };
        Box::pin(async move {
            let response = self.0.send(request).await.map_err(failed)?;
            Ok(CoreResponse {
                status: response.status,
                headers: response
                    .headers
                    .into_iter()
                    .map(|h| (h.name, h.value))
                    .collect(),
                body: Box::new(ForeignBody(response.body)),
            })
        })
    }
}

/// A foreign body, closed when the core drops it.
struct ForeignBody(Arc<dyn HttpBody>);

impl tessera_core::http::HttpBody for ForeignBody {
    fn chunk(&mut self) -> HttpFuture<'_, Option<Vec<u8>>> {
        Box::pin(async move {
            // An empty piece is not the end; only `None` is.
            loop {
                match self.0.read().await.map_err(failed)? {
                    Some(bytes) if bytes.is_empty() => continue,
                    other => return Ok(other),
                }
            }
        })
    }
}

impl Drop for ForeignBody {
    fn drop(&mut self) {
        self.0.cancel();
    }
}

/// The app's failure as the core's: its own reason, without our prefixes.
fn failed(error: TesseraError) -> HttpError {
    let reason = match error {
        TesseraError::Network { reason } | TesseraError::Storage { reason } => reason,
        other => other.to_string(),
    };
    HttpError::Failed(reason.chars().take(300).collect())
}
