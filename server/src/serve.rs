//! Accepting connections: one listener, one port, two ways of serving.
//!
//! Each new connection's first request head is read here (at most
//! [`MAX_HEAD`] bytes, within [`HEAD_TIMEOUT`]). A device stream
//! (`GET /v1/device/stream`, HTTP/1.1, no body) is served by the lean SSE
//! responder in [`crate::stream`], which keeps far less per idle connection
//! than hyper. Everything else is handed to hyper, with the bytes already
//! read replayed in front ([`Rewind`]), serving the axum router with
//! keep-alive; a stream request that comes later on such a connection is
//! still answered, through hyper ([`crate::stream::hyper_response`]).

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Weak};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{Method, Request, Response, StatusCode, header};
use bytes::{Buf, Bytes};
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tower::ServiceExt;

use crate::hub::Hub;
use crate::stream;
use crate::{ApiError, AppState};

/// The largest first request head read before deciding how to serve a
/// connection. Every request of the API fits in a few hundred bytes plus a
/// proof (under 1 KiB); a larger head is refused with 431.
pub const MAX_HEAD: usize = 8 * 1024;

/// How long a new connection may take to send its first request head
/// (slow-loris defence); later heads on keep-alive connections get the same
/// limit from hyper.
pub const HEAD_TIMEOUT: Duration = Duration::from_secs(10);

/// How many headers the first request may have.
const MAX_HEADERS: usize = 64;

/// Serves the API on `listener` until the process ends.
pub async fn serve(listener: TcpListener, state: AppState) -> io::Result<()> {
    let period = Duration::from_secs(state.config.heartbeat_secs.max(1));
    tokio::spawn(heartbeats(Arc::downgrade(&state.hub), period));
    let router = crate::app(state.clone());
    loop {
        let (socket, peer) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(error) => {
                // Out of descriptors or memory: wait instead of spinning;
                // connections already open go on.
                tracing::warn!(%error, "accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        // Events are small single writes that should leave at once.
        let _ = socket.set_nodelay(true);
        let state = state.clone();
        let router = router.clone();
        tokio::spawn(async move {
            // An opened stream gets a task of its own: the routing future
            // (request parsing, authentication, the database, or a whole
            // hyper connection) is far larger than an idle stream needs.
            if let Some((socket, opened)) = route(state, router, socket, peer).await {
                tokio::spawn(stream::run(socket, opened));
            }
        });
    }
}

/// One shared ticker for every stream's heartbeat: it visits one hub shard
/// per `period / shards`, so each stream gets one heartbeat per period and
/// the writes are spread evenly instead of arriving all at once. Stops when
/// the hub is gone.
async fn heartbeats(hub: Weak<Hub>, period: Duration) {
    let shards = hub
        .upgrade()
        .map(|hub| hub.shard_count())
        .unwrap_or(1)
        .max(1);
    let mut ticker = tokio::time::interval(period / shards as u32);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    // The first tick is immediate; a new stream need not get a heartbeat
    // at once.
    ticker.tick().await;
    let mut shard = 0;
    loop {
        ticker.tick().await;
        let Some(hub) = hub.upgrade() else {
            return;
        };
        hub.heartbeat_shard(shard);
        shard = (shard + 1) % shards;
    }
}

/// What the first request head says.
enum First {
    /// A device stream; the headers it needs.
    Stream {
        proof: Option<Result<String, ()>>,
        last_event_id: Option<Vec<u8>>,
    },
    /// Anything else: hyper serves it.
    Other,
    /// Head larger than [`MAX_HEAD`].
    TooLarge,
}

/// Reads the first head and serves the connection. Returns the socket and
/// the opened stream when it is a device stream, to be run in a task of
/// its own.
async fn route(
    state: AppState,
    router: Router,
    mut socket: TcpStream,
    peer: SocketAddr,
) -> Option<(TcpStream, stream::Opened)> {
    let mut buffer = Vec::with_capacity(1024);
    let first = match tokio::time::timeout(HEAD_TIMEOUT, read_head(&mut socket, &mut buffer)).await
    {
        Ok(Ok(Some(first))) => first,
        // Timed out, closed before a full head, or failed: just close.
        Ok(Ok(None)) | Ok(Err(_)) | Err(_) => return None,
    };
    match first {
        First::TooLarge => {
            let response = Response::builder()
                .status(StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE)
                .header(header::CONTENT_TYPE, "application/json")
                .body(Body::from(
                    serde_json::json!({
                        "error": "bad_request",
                        "message": "the request head is larger than 8 KiB",
                    })
                    .to_string(),
                ));
            if let Ok(response) = response {
                let _ = stream::write_response(&mut socket, response).await;
            }
            None
        }
        First::Stream {
            proof,
            last_event_id,
        } => {
            drop(buffer);
            let proof = match proof.transpose() {
                Ok(proof) => proof,
                Err(()) => {
                    let error = ApiError::BadProof("the Tessera-Proof header is not text".into());
                    let _ = stream::write_error(&mut socket, error).await;
                    return None;
                }
            };
            let opened = match stream::parse_last_event_id(last_event_id.as_deref()) {
                Ok(last_event_id) => stream::open(&state, proof.as_deref(), last_event_id).await,
                Err(error) => Err(error),
            };
            match opened {
                Ok(opened) => Some((socket, opened)),
                Err(error) => {
                    let _ = stream::write_error(&mut socket, error).await;
                    None
                }
            }
        }
        First::Other => {
            let io = TokioIo::new(Rewind {
                prefix: Bytes::from(buffer),
                inner: socket,
            });
            let service = hyper::service::service_fn(move |mut request: Request<Incoming>| {
                request.extensions_mut().insert(ConnectInfo(peer));
                let state = state.clone();
                let router = router.clone();
                async move {
                    if is_stream_request(request.method(), request.uri().path()) {
                        Ok::<_, std::convert::Infallible>(
                            stream::hyper_response(&state, request).await,
                        )
                    } else {
                        router.oneshot(request).await
                    }
                }
            });
            let served = hyper::server::conn::http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(HEAD_TIMEOUT)
                // Later heads on the connection are bounded too (hyper
                // answers 431 past this); bodies stream through it.
                .max_buf_size(MAX_HEAD + crate::MAX_BODY)
                .keep_alive(true)
                .serve_connection(io, service)
                .await;
            if let Err(error) = served {
                tracing::debug!(%error, %peer, "connection ended with an error");
            }
            None
        }
    }
}

fn is_stream_request(method: &Method, path: &str) -> bool {
    method == Method::GET && path == stream::STREAM_PATH
}

/// Reads until the first request head is complete. `Ok(None)`: the peer
/// closed first.
async fn read_head(socket: &mut TcpStream, buffer: &mut Vec<u8>) -> io::Result<Option<First>> {
    loop {
        if buffer.len() >= MAX_HEAD {
            return Ok(Some(First::TooLarge));
        }
        // Grow in steps, never past the limit: most heads fit the first KiB.
        if buffer.capacity() == buffer.len() {
            buffer.reserve(buffer.len().max(1024).min(MAX_HEAD - buffer.len()));
        }
        let room = (MAX_HEAD - buffer.len()).min(buffer.capacity() - buffer.len());
        let n = (&mut *socket).take(room as u64).read_buf(buffer).await?;
        if n == 0 {
            return Ok(None);
        }
        if let Some(first) = classify(buffer) {
            return Ok(Some(first));
        }
    }
}

/// Decides from the bytes so far; `None` when more are needed.
fn classify(buffer: &[u8]) -> Option<First> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut request = httparse::Request::new(&mut headers);
    match request.parse(buffer) {
        // The whole head, for every first request: the size and time limits
        // apply before anything else reads it.
        Ok(httparse::Status::Complete(_)) => {}
        Ok(httparse::Status::Partial) => return None,
        // Malformed or too many headers: hyper gives the proper answer.
        Err(_) => return Some(First::Other),
    }
    let path = request.path.unwrap_or("");
    let path = path.split('?').next().unwrap_or(path);
    if request.method != Some("GET") || path != stream::STREAM_PATH || request.version != Some(1) {
        return Some(First::Other);
    }
    let mut proof = None;
    let mut last_event_id = None;
    for header in request.headers.iter() {
        let name = header.name;
        let has_body = (name.eq_ignore_ascii_case("content-length") && header.value != b"0")
            || name.eq_ignore_ascii_case("transfer-encoding");
        if has_body {
            // A GET with a body is odd enough to leave to hyper.
            return Some(First::Other);
        }
        if name.eq_ignore_ascii_case(stream::PROOF_HEADER) && proof.is_none() {
            proof = Some(
                std::str::from_utf8(header.value)
                    .map(|text| text.trim().to_string())
                    .map_err(|_| ()),
            );
        } else if name.eq_ignore_ascii_case(stream::LAST_EVENT_ID_HEADER) && last_event_id.is_none()
        {
            last_event_id = Some(header.value.to_vec());
        }
    }
    Some(First::Stream {
        proof,
        last_event_id,
    })
}

/// A socket with bytes already read from it put back in front, so hyper
/// reads the request from its first byte.
pub struct Rewind {
    prefix: Bytes,
    inner: TcpStream,
}

impl AsyncRead for Rewind {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.prefix.has_remaining() {
            let n = this.prefix.len().min(buf.remaining());
            buf.put_slice(&this.prefix[..n]);
            this.prefix.advance(n);
            if !this.prefix.has_remaining() {
                // Release the head buffer as soon as it is replayed.
                this.prefix = Bytes::new();
            }
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut this.inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for Rewind {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classify_stream_and_other_requests() {
        let head = b"GET /v1/device/stream HTTP/1.1\r\nHost: x\r\nTessera-Proof: a.b.c\r\nLast-Event-ID: 7\r\n\r\n";
        match classify(head) {
            Some(First::Stream {
                proof,
                last_event_id,
            }) => {
                assert_eq!(proof, Some(Ok("a.b.c".to_string())));
                assert_eq!(last_event_id.as_deref(), Some(&b"7"[..]));
            }
            _ => panic!("not a stream"),
        }
        // Incomplete stream head: wait for more.
        assert!(classify(b"GET /v1/device/stream HTTP/1.1\r\nHost:").is_none());
        // Not the stream, once the head is complete.
        assert!(classify(b"POST /v1/rp/prompts HTTP/1.1\r\nHo").is_none());
        assert!(matches!(
            classify(b"POST /v1/rp/prompts HTTP/1.1\r\n\r\n{}"),
            Some(First::Other)
        ));
        assert!(matches!(
            classify(b"GET /v1/device/streamx HTTP/1.1\r\n\r\n"),
            Some(First::Other)
        ));
        // HTTP/1.0 and bodies go to hyper.
        assert!(matches!(
            classify(b"GET /v1/device/stream HTTP/1.0\r\n\r\n"),
            Some(First::Other)
        ));
        assert!(matches!(
            classify(b"GET /v1/device/stream HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc"),
            Some(First::Other)
        ));
        assert!(matches!(
            classify(b"\x00\x01garbage\r\n\r\n"),
            Some(First::Other)
        ));
    }

    #[tokio::test]
    async fn rewind_replays_the_prefix_first() -> Result<(), Box<dyn std::error::Error>> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let address = listener.local_addr()?;
        let client = tokio::spawn(async move {
            let mut socket = TcpStream::connect(address).await?;
            tokio::io::AsyncWriteExt::write_all(&mut socket, b" world").await?;
            Ok::<_, io::Error>(())
        });
        let (socket, _) = listener.accept().await?;
        let mut rewind = Rewind {
            prefix: Bytes::from_static(b"hello"),
            inner: socket,
        };
        let mut all = Vec::new();
        rewind.read_to_end(&mut all).await?;
        client.await??;
        assert_eq!(all, b"hello world");
        Ok(())
    }
}
