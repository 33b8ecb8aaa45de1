//! The HTTP port: how the core's network code (the HTTPS `Date` time
//! source, the push client, the transfer mailbox) sends requests.
//!
//! The platform provides the transport: the mobile apps pass their own HTTP
//! stack (`HttpURLConnection`, `URLSession`) through the FFI, so TLS, the
//! trust store, proxies and VPN rules are the system's, and the mobile
//! library carries no TLS stack of its own (architecture.md §8.5). The
//! desktop CLI and the tests use `http::native` (feature `native-http`):
//! `hyper` with `rustls` and the platform certificate verifier.
//!
//! A transport's contract: send the request as given (the core sets every
//! header it needs), follow no redirects (a 3xx comes back as it is), use no
//! caches, cookies or credentials of its own, and return as soon as the
//! status and headers are in: the body is read piece by piece, and the push
//! stream's body never ends.

#[cfg(feature = "native-http")]
pub mod native;

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

/// A boxed future, as the port's methods return them (the port is used as
/// a trait object, so it cannot have `async fn`s).
pub type HttpFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, HttpError>> + Send + 'a>>;

/// A request the core wants sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpRequest {
    /// `GET`, `HEAD`, `POST`, `PUT` or `DELETE`.
    pub method: String,
    /// `https://…`, or `http://…` to a loopback host (the callers check).
    pub url: String,
    /// Headers to send, names in lower case.
    pub headers: Vec<(String, String)>,
    /// The body; empty for none.
    pub body: Vec<u8>,
    /// How long connecting and receiving the status and headers may take.
    pub timeout: Duration,
}

/// Why a request failed before a response arrived, or while its body was
/// read. The text is for people and must hold no secret (no header values,
/// no query).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HttpError {
    /// No connection, a TLS failure, a broken body…
    #[error("{0}")]
    Failed(String),
    /// No status and headers within the request's timeout.
    #[error("no answer within {seconds} s")]
    Timeout {
        /// The timeout, in whole seconds.
        seconds: u64,
    },
}

/// A response whose body is still to be read.
pub struct HttpResponse {
    /// The status code.
    pub status: u16,
    /// The headers as received (names in any case; repeated ones repeated).
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Box<dyn HttpBody>,
}

impl fmt::Debug for HttpResponse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpResponse")
            .field("status", &self.status)
            .field("headers", &self.headers.len())
            .finish_non_exhaustive()
    }
}

impl HttpResponse {
    /// The first value of header `name` (any case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Reads the whole body, refusing one longer than `limit` bytes.
    pub async fn read_to_end(mut self, limit: usize) -> Result<Vec<u8>, ReadError> {
        let mut out = Vec::new();
        while let Some(chunk) = self.body.chunk().await.map_err(ReadError::Http)? {
            if out.len() + chunk.len() > limit {
                return Err(ReadError::TooLarge { limit });
            }
            out.extend_from_slice(&chunk);
        }
        Ok(out)
    }
}

/// Why a whole body could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReadError {
    /// The transport failed.
    #[error(transparent)]
    Http(HttpError),
    /// The body is longer than allowed.
    #[error("the answer is larger than {limit} bytes")]
    TooLarge {
        /// The limit, in bytes.
        limit: usize,
    },
}

/// A response body, read piece by piece. Dropping it releases the
/// connection, also before the end.
pub trait HttpBody: Send {
    /// The next bytes as soon as any arrive; `None` at the end.
    fn chunk(&mut self) -> HttpFuture<'_, Option<Vec<u8>>>;
}

/// Sends HTTP requests: the port the platform implements.
pub trait HttpTransport: Send + Sync {
    /// Sends `request` and returns once the status and headers are in.
    fn send(&self, request: HttpRequest) -> HttpFuture<'_, HttpResponse>;
}

/// The transport to use, or why there is none; cheap to clone.
#[derive(Clone)]
pub struct Http {
    transport: Option<Arc<dyn HttpTransport>>,
}

impl fmt::Debug for Http {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.transport.is_some() {
            "Http"
        } else {
            "Http(none)"
        })
    }
}

impl Http {
    /// Network access through `transport`.
    pub fn new(transport: Arc<dyn HttpTransport>) -> Self {
        Self {
            transport: Some(transport),
        }
    }

    /// No network access: every request fails saying so (an app that gave
    /// no HTTP transport, or a test that must stay offline).
    pub fn none() -> Self {
        Self { transport: None }
    }

    /// The core's own transport (`http::native`).
    #[cfg(feature = "native-http")]
    pub fn native() -> Self {
        Self::new(native::shared())
    }

    /// Sends `request` through the transport.
    pub async fn send(&self, request: HttpRequest) -> Result<HttpResponse, HttpError> {
        let transport = self.transport.as_ref().ok_or_else(|| {
            HttpError::Failed(
                "no HTTP transport was given to Tessera, so it cannot reach the network".into(),
            )
        })?;
        // Also bounded here: a transport that ignores the timeout must not
        // hang its caller.
        let timeout = request.timeout;
        tokio::time::timeout(timeout, transport.send(request))
            .await
            .map_err(|_| HttpError::Timeout {
                seconds: timeout.as_secs(),
            })?
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Pieces(Vec<Vec<u8>>);

    impl HttpBody for Pieces {
        fn chunk(&mut self) -> HttpFuture<'_, Option<Vec<u8>>> {
            let next = if self.0.is_empty() {
                None
            } else {
                Some(self.0.remove(0))
            };
            Box::pin(async move { Ok(next) })
        }
    }

    fn response(pieces: &[&[u8]]) -> HttpResponse {
        HttpResponse {
            status: 200,
            headers: vec![("Retry-After".into(), "5".into())],
            body: Box::new(Pieces(pieces.iter().map(|p| p.to_vec()).collect())),
        }
    }

    #[tokio::test]
    async fn reads_a_body_in_pieces_up_to_its_limit() {
        let answer = response(&[b"ab", b"", b"cd"]);
        assert_eq!(answer.header("retry-after"), Some("5"));
        assert_eq!(answer.header("date"), None);
        assert_eq!(answer.read_to_end(4).await.unwrap(), b"abcd");
        assert_eq!(
            response(&[b"ab", b"cde"]).read_to_end(4).await,
            Err(ReadError::TooLarge { limit: 4 })
        );
    }

    #[tokio::test]
    async fn without_a_transport_requests_fail_plainly() {
        let request = HttpRequest {
            method: "GET".into(),
            url: "https://example.com/".into(),
            headers: Vec::new(),
            body: Vec::new(),
            timeout: Duration::from_secs(1),
        };
        let error = Http::none().send(request).await.unwrap_err();
        assert!(error.to_string().contains("no HTTP transport"), "{error}");
    }
}
