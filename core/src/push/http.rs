//! HTTP for the push client, on the core's stack: `hyper` 1 with
//! `hyper-util`'s pooled client and `hyper-rustls` (ring provider, platform
//! certificate verifier), as the HTTPS `Date` time source does
//! (architecture.md §8.2: no `reqwest`).

use std::time::Duration;

use http_body_util::{BodyExt as _, Full};
use hyper::body::{Bytes, Incoming};
use hyper::header::{HeaderMap, HeaderName, HeaderValue};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

use super::error::PushError;

/// The header carrying a request proof (§4).
pub const PROOF_HEADER: &str = "tessera-proof";

/// How long a plain request (not the stream) may take, headers and body.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(20);

use crate::https::Connector;

/// A pooled HTTP/1.1 client for one push server.
#[derive(Clone)]
pub(crate) struct Http {
    client: Client<Connector, Full<Bytes>>,
}

impl std::fmt::Debug for Http {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Http")
    }
}

/// A finished answer: status, headers and the whole (bounded) body.
pub(crate) struct Answer {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Answer {
    /// `Retry-After` in seconds, when it is a number.
    pub fn retry_after(&self) -> Option<u64> {
        self.headers
            .get(hyper::header::RETRY_AFTER)?
            .to_str()
            .ok()?
            .trim()
            .parse()
            .ok()
    }
}

impl Http {
    /// A client that speaks https (and http, which callers only allow for
    /// loopback hosts).
    pub fn new() -> Result<Self, PushError> {
        let connector =
            crate::https::connector().map_err(|reason| PushError::Network { reason })?;
        let client = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(30))
            .build(connector);
        Ok(Self { client })
    }

    /// Sends a request and returns the response with its body unread (for
    /// the stream), giving up after `timeout` for the headers.
    pub async fn send(
        &self,
        method: &str,
        url: &str,
        headers: &[(&str, &str)],
        body: Vec<u8>,
        timeout: Duration,
    ) -> Result<hyper::Response<Incoming>, PushError> {
        let mut request = hyper::Request::builder()
            .method(method)
            .uri(url)
            .header(hyper::header::USER_AGENT, "tessera-push/1");
        if !body.is_empty() {
            request = request.header(hyper::header::CONTENT_TYPE, "application/json");
        }
        for (name, value) in headers {
            let name = HeaderName::from_bytes(name.as_bytes())
                .map_err(|_| PushError::InvalidInput(format!("bad header name {name}")))?;
            let value = HeaderValue::from_str(value)
                .map_err(|_| PushError::InvalidInput(format!("bad value for header {name}")))?;
            request = request.header(name, value);
        }
        let request = request
            .body(Full::new(Bytes::from(body)))
            .map_err(|e| PushError::InvalidInput(format!("cannot build the request: {e}")))?;
        tokio::time::timeout(timeout, self.client.request(request))
            .await
            .map_err(|_| PushError::Timeout {
                seconds: timeout.as_secs(),
            })?
            .map_err(|e| PushError::Network {
                reason: error_chain(&e),
            })
    }

    /// Sends a request and reads the whole answer (at most `limit` bytes),
    /// within [`REQUEST_TIMEOUT`].
    pub async fn call(
        &self,
        method: &str,
        url: &str,
        headers: &[(&str, &str)],
        body: Vec<u8>,
        limit: usize,
    ) -> Result<Answer, PushError> {
        let work = async {
            let response = self
                .send(method, url, headers, body, REQUEST_TIMEOUT)
                .await?;
            let status = response.status().as_u16();
            let headers = response.headers().clone();
            let body = read_limited(response.into_body(), limit).await?;
            Ok(Answer {
                status,
                headers,
                body,
            })
        };
        tokio::time::timeout(REQUEST_TIMEOUT, work)
            .await
            .map_err(|_| PushError::Timeout {
                seconds: REQUEST_TIMEOUT.as_secs(),
            })?
    }
}

/// Reads a body up to `limit` bytes; a longer one is refused.
pub(crate) async fn read_limited(mut body: Incoming, limit: usize) -> Result<Bytes, PushError> {
    let mut out = Vec::new();
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| PushError::Network {
            reason: error_chain(&e),
        })?;
        if let Ok(data) = frame.into_data() {
            if out.len() + data.len() > limit {
                return Err(PushError::BadResponse {
                    reason: format!("the answer is larger than {limit} bytes"),
                });
            }
            out.extend_from_slice(&data);
        }
    }
    Ok(Bytes::from(out))
}

/// The error and its causes on one line, cleaned for showing.
pub(crate) fn error_chain(error: &dyn std::error::Error) -> String {
    super::error::clean_message(&crate::https::error_chain(error))
}
