//! The core's own HTTP transport (feature `native-http`), for the desktop
//! and the tests: `hyper` 1 with `hyper-util`'s pooled HTTP/1.1 client and
//! `hyper-rustls` (ring provider, platform certificate verifier;
//! architecture.md §8.2). The mobile library leaves it out and takes the
//! app's transport instead.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use http_body_util::{BodyExt as _, Full};
use hyper::body::{Bytes, Incoming};
use hyper::header::{HeaderName, HeaderValue};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

use super::{HttpBody, HttpError, HttpFuture, HttpRequest, HttpResponse, HttpTransport};

type Connector = hyper_rustls::HttpsConnector<HttpConnector>;

/// A pooled HTTP/1.1 client speaking https (and http, which the callers
/// allow for loopback hosts only).
pub struct NativeTransport {
    client: Client<Connector, Full<Bytes>>,
}

impl NativeTransport {
    /// A new client. Fails only when the platform certificate verifier
    /// cannot start.
    pub fn new() -> Result<Self, HttpError> {
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .try_with_platform_verifier()
            .map_err(|e| HttpError::Failed(format!("cannot set up TLS: {e}")))?
            .https_or_http()
            .enable_http1()
            .build();
        let client = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(30))
            .build(connector);
        Ok(Self { client })
    }
}

/// One client shared by every user in the process (connections pooled); a
/// transport that fails every request when TLS cannot be set up.
pub fn shared() -> Arc<dyn HttpTransport> {
    static SHARED: OnceLock<Arc<dyn HttpTransport>> = OnceLock::new();
    Arc::clone(SHARED.get_or_init(|| match NativeTransport::new() {
        Ok(transport) => Arc::new(transport),
        Err(error) => Arc::new(Broken(error)),
    }))
}

/// Stands in when TLS cannot be set up, so the reason reaches each caller.
struct Broken(HttpError);

impl HttpTransport for Broken {
    fn send(&self, _request: HttpRequest) -> HttpFuture<'_, HttpResponse> {
        let error = self.0.clone();
        Box::pin(async move { Err(error) })
    }
}

impl HttpTransport for NativeTransport {
    fn send(&self, request: HttpRequest) -> HttpFuture<'_, HttpResponse> {
        Box::pin(async move {
            let mut builder = hyper::Request::builder()
                .method(request.method.as_str())
                .uri(request.url.as_str());
            for (name, value) in &request.headers {
                let name = HeaderName::from_bytes(name.as_bytes())
                    .map_err(|_| HttpError::Failed(format!("bad header name {name}")))?;
                let value = HeaderValue::from_str(value)
                    .map_err(|_| HttpError::Failed(format!("bad value for header {name}")))?;
                builder = builder.header(name, value);
            }
            let built = builder
                .body(Full::new(Bytes::from(request.body)))
                .map_err(|e| HttpError::Failed(format!("cannot build the request: {e}")))?;
            let response = self
                .client
                .request(built)
                .await
                .map_err(|e| HttpError::Failed(error_chain(&e)))?;
            // Values that are not text reach the caller marked as such
            // (U+FFFD) rather than vanishing, so "not a date" can be said.
            let headers = response
                .headers()
                .iter()
                .map(|(name, value)| {
                    let value = String::from_utf8_lossy(value.as_bytes()).into_owned();
                    (name.as_str().to_string(), value)
                })
                .collect();
            Ok(HttpResponse {
                status: response.status().as_u16(),
                headers,
                body: Box::new(NativeBody(response.into_body())),
            })
        })
    }
}

struct NativeBody(Incoming);

impl HttpBody for NativeBody {
    fn chunk(&mut self) -> HttpFuture<'_, Option<Vec<u8>>> {
        Box::pin(async move {
            loop {
                match self.0.frame().await {
                    None => return Ok(None),
                    Some(Err(error)) => return Err(HttpError::Failed(error_chain(&error))),
                    // Trailers and empty frames carry nothing for the caller.
                    Some(Ok(frame)) => match frame.into_data() {
                        Ok(data) if !data.is_empty() => return Ok(Some(data.to_vec())),
                        _ => continue,
                    },
                }
            }
        })
    }
}

/// The error and its causes on one line (a client's top-level error says
/// little: "client error (Connect)").
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
