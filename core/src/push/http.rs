//! Requests of the push client and the transfer mailbox, through the HTTP
//! port ([`crate::http`]): the user agent, JSON bodies, bounded answers and
//! errors as [`PushError`]s.

use std::time::Duration;

use super::error::PushError;
use crate::http::{Http, HttpError, HttpRequest, HttpResponse, ReadError};

/// The header carrying a request proof (§4).
pub const PROOF_HEADER: &str = "tessera-proof";

/// How long a plain request (not the stream) may take, headers and body.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(20);

/// A finished answer: status, headers and the whole (bounded) body.
pub(crate) struct Answer {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Answer {
    /// `Retry-After` in seconds, when it is a number.
    pub fn retry_after(&self) -> Option<u64> {
        let value = self
            .headers
            .iter()
            .find(|(name, _)| name.eq_ignore_ascii_case("retry-after"))?;
        value.1.trim().parse().ok()
    }
}

impl Http {
    /// Sends a push request and returns the response with its body unread
    /// (for the stream), giving up after `timeout` for the headers.
    pub(crate) async fn request(
        &self,
        method: &str,
        url: &str,
        headers: &[(&str, &str)],
        body: Vec<u8>,
        timeout: Duration,
    ) -> Result<HttpResponse, PushError> {
        let mut all = vec![("user-agent".to_string(), "tessera-push/1".to_string())];
        if !body.is_empty() {
            all.push(("content-type".into(), "application/json".into()));
        }
        all.extend(
            headers
                .iter()
                .map(|(name, value)| (name.to_ascii_lowercase(), value.to_string())),
        );
        self.send(HttpRequest {
            method: method.into(),
            url: url.into(),
            headers: all,
            body,
            timeout,
        })
        .await
        .map_err(network)
    }

    /// Sends a push request and reads the whole answer (at most `limit`
    /// bytes), within [`REQUEST_TIMEOUT`].
    pub(crate) async fn call(
        &self,
        method: &str,
        url: &str,
        headers: &[(&str, &str)],
        body: Vec<u8>,
        limit: usize,
    ) -> Result<Answer, PushError> {
        let work = async {
            let response = self
                .request(method, url, headers, body, REQUEST_TIMEOUT)
                .await?;
            let status = response.status;
            let headers = response.headers.clone();
            let body = response.read_to_end(limit).await.map_err(read_error)?;
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

/// A transport failure, cleaned for showing.
pub(crate) fn network(error: HttpError) -> PushError {
    match error {
        HttpError::Timeout { seconds } => PushError::Timeout { seconds },
        HttpError::Failed(reason) => PushError::Network {
            reason: super::error::clean_message(&reason),
        },
    }
}

/// A failure while reading a body.
pub(crate) fn read_error(error: ReadError) -> PushError {
    match error {
        ReadError::Http(error) => network(error),
        ReadError::TooLarge { .. } => PushError::BadResponse {
            reason: error.to_string(),
        },
    }
}
