//! The device stream, `GET /v1/device/stream` (`docs/push-protocol.md`
//! §3.4 and §10.2): Server-Sent Events written by hand.
//!
//! Most of the server's connections are idle device streams, so their cost
//! decides how many devices one process holds. Served through hyper, each
//! keeps hyper's read and write buffers and its connection state for as long
//! as it is open (about 23 KiB measured, `research/performance.md` §5). A
//! fresh connection whose first request is the stream is therefore taken by
//! [`crate::serve`] before hyper sees it and served here: the task keeps the
//! socket, its [`Subscription`] and nothing else while idle; each event is
//! formatted into a short-lived buffer and written at once; heartbeats come
//! from one shared ticker through the hub instead of a timer per stream.
//!
//! A stream request that arrives later on a keep-alive connection already
//! served by hyper is answered by [`hyper_response`] with the same events
//! as a streaming body: correct, just not as lean.
//!
//! Framing: `Transfer-Encoding: chunked`, one chunk per event, a final empty
//! chunk when the server ends the stream, then the connection closes.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use axum::body::{Body, Bytes, HttpBody};
use axum::http::{HeaderValue, Request, Response, StatusCode, header};
use axum::response::IntoResponse;
use http_body_util::BodyExt;
use tessera_core::push::jws::UnverifiedJws;
use tessera_core::push::messages::PROOF_TYP;
use tokio::io::{AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::hub::{Next, StreamEvent, Subscription};
use crate::{ApiError, AppState};

/// The stream's path.
pub const STREAM_PATH: &str = "/v1/device/stream";

/// The device's request proof header (§4).
pub const PROOF_HEADER: &str = "tessera-proof";

/// The SSE resume header.
pub const LAST_EVENT_ID_HEADER: &str = "last-event-id";

/// The heartbeat comment, as one chunk.
const HEARTBEAT_CHUNK: &[u8] = b"6\r\n: hb\n\n\r\n";

/// The empty chunk that ends a chunked body.
const LAST_CHUNK: &[u8] = b"0\r\n\r\n";

/// An authenticated stream, ready to be served: registered with the hub
/// and holding the backlog to send first.
#[derive(Debug)]
pub struct Opened {
    subscription: Subscription,
    backlog: Vec<StreamEvent>,
    /// The sequence numbers sent in the backlog. A prompt committed before
    /// the backlog was read may still be published live a moment later;
    /// this stops it from being sent twice. Usually empty (no allocation).
    sent: Box<[i64]>,
}

/// Parses the `Last-Event-ID` header: absent, or a sequence number.
pub fn parse_last_event_id(value: Option<&[u8]>) -> Result<Option<i64>, ApiError> {
    let Some(value) = value else {
        return Ok(None);
    };
    std::str::from_utf8(value)
        .ok()
        .map(str::trim)
        .and_then(|text| text.parse::<i64>().ok())
        .map(Some)
        .ok_or_else(|| ApiError::BadRequest("Last-Event-ID must be a sequence number".into()))
}

/// The device id a proof claims (its unverified `kid`), used only to
/// register the stream before the backlog is read.
fn claimed_device(proof: Option<&str>) -> Option<String> {
    let parsed = UnverifiedJws::parse(proof?, PROOF_TYP).ok()?;
    parsed.header().kid.clone()
}

/// Authenticates the request through `device::open_stream` and registers
/// the stream.
///
/// The stream is registered with the device id the proof *claims* before
/// the backlog is read, so a prompt created in between is not missed: it is
/// either in the backlog or published to this subscription (or both, which
/// `Opened::sent` sorts out). Registering does not disturb the device's
/// other streams; only once the proof is accepted does this stream take
/// over from older ones.
pub async fn open(
    state: &AppState,
    proof: Option<&str>,
    last_event_id: Option<i64>,
) -> Result<Opened, ApiError> {
    let early = claimed_device(proof).map(|device| state.hub.subscribe(&device));
    let (device_id, backlog) = crate::device::open_stream(state, proof, last_event_id).await?;
    let subscription = match early {
        Some(subscription) if subscription.device_id() == device_id => subscription,
        // Accepted under another id than the claimed one: register now.
        _ => state.hub.subscribe(&device_id),
    };
    subscription.take_over();
    let sent = backlog
        .iter()
        .filter_map(|event| match event {
            StreamEvent::Prompt { seq, .. } => Some(*seq),
            StreamEvent::Revoked { .. } => None,
        })
        .collect();
    Ok(Opened {
        subscription,
        backlog,
        sent,
    })
}

/// Appends the SSE text of `event` to `out`.
fn event_text(event: &StreamEvent, out: &mut Vec<u8>) {
    match event {
        StreamEvent::Prompt { seq, jws } => {
            out.extend_from_slice(b"event: prompt\nid: ");
            out.extend_from_slice(seq.to_string().as_bytes());
            out.push(b'\n');
            // A compact JWS has no line breaks; splitting keeps the framing
            // right even if one ever did.
            for line in jws.split('\n') {
                out.extend_from_slice(b"data: ");
                out.extend_from_slice(line.as_bytes());
                out.push(b'\n');
            }
        }
        StreamEvent::Revoked { reason } => {
            let data = serde_json::json!({ "reason": reason });
            out.extend_from_slice(b"event: revoked\ndata: ");
            out.extend_from_slice(data.to_string().as_bytes());
            out.push(b'\n');
        }
    }
    out.push(b'\n');
}

/// Appends `event` as one HTTP chunk.
fn event_chunk(event: &StreamEvent, out: &mut Vec<u8>) {
    let mut text = Vec::with_capacity(event_len_hint(event));
    event_text(event, &mut text);
    out.extend_from_slice(format!("{:x}\r\n", text.len()).as_bytes());
    out.extend_from_slice(&text);
    out.extend_from_slice(b"\r\n");
}

fn event_len_hint(event: &StreamEvent) -> usize {
    match event {
        StreamEvent::Prompt { jws, .. } => jws.len() + 48,
        StreamEvent::Revoked { .. } => 48,
    }
}

/// Whether a live event was already sent in the backlog.
fn already_sent(sent: &[i64], event: &StreamEvent) -> bool {
    matches!(event, StreamEvent::Prompt { seq, .. } if sent.contains(seq))
}

/// Writes an error answer in the §8 form (the same bytes the REST routes
/// send: the body comes from `ApiError`'s own response) and closes.
pub async fn write_error(socket: &mut TcpStream, error: ApiError) -> io::Result<()> {
    let response = error.into_response();
    write_response(socket, response).await
}

/// Writes a complete response with a known-length body and `Connection:
/// close`. For the few answers given before hyper is involved.
pub async fn write_response(socket: &mut TcpStream, response: Response<Body>) -> io::Result<()> {
    let (parts, body) = response.into_parts();
    let body = body.collect().await.map_err(io::Error::other)?.to_bytes();
    let mut out = Vec::with_capacity(256 + body.len());
    out.extend_from_slice(
        format!(
            "HTTP/1.1 {} {}\r\n",
            parts.status.as_u16(),
            parts.status.canonical_reason().unwrap_or("")
        )
        .as_bytes(),
    );
    for (name, value) in &parts.headers {
        if name == header::CONTENT_LENGTH || name == header::CONNECTION {
            continue;
        }
        out.extend_from_slice(name.as_str().as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(
        format!(
            "content-length: {}\r\nconnection: close\r\n\r\n",
            body.len()
        )
        .as_bytes(),
    );
    out.extend_from_slice(&body);
    socket.write_all(&out).await?;
    socket.shutdown().await
}

/// Serves an opened stream on a raw socket until the device goes away, is
/// revoked, or the hub ends the stream. Spawn it as its own task.
///
/// Every idle device's task is this future, so it is a plain struct rather
/// than an `async fn`: it holds the socket, the subscription, the backlog's
/// sequence numbers and the output not yet written — nothing else, and no
/// buffer while idle (the output `Vec` is emptied and freed once written).
pub fn run(socket: TcpStream, opened: Opened) -> StreamTask {
    let Opened {
        subscription,
        backlog,
        sent,
    } = opened;
    let mut out =
        Vec::with_capacity(160 + backlog.iter().map(|e| event_len_hint(e) + 8).sum::<usize>());
    out.extend_from_slice(
        b"HTTP/1.1 200 OK\r\n\
          content-type: text/event-stream\r\n\
          cache-control: no-store\r\n\
          x-accel-buffering: no\r\n\
          transfer-encoding: chunked\r\n\
          connection: close\r\n\r\n",
    );
    let mut task = StreamTask {
        socket,
        subscription,
        sent,
        out,
        written: 0,
        closing: false,
    };
    for event in &backlog {
        task.queue(event);
        if task.closing {
            break;
        }
    }
    task
}

/// The future of one lean stream (see [`run`]).
#[derive(Debug)]
pub struct StreamTask {
    socket: TcpStream,
    subscription: Subscription,
    sent: Box<[i64]>,
    /// Bytes to write; `written` of them are already on the socket.
    out: Vec<u8>,
    written: usize,
    /// `revoked` (and the last chunk) are queued: end once written.
    closing: bool,
}

impl StreamTask {
    /// Appends `event` to the output as one chunk; after `revoked`, the last
    /// chunk too, and the stream closes once it is written.
    fn queue(&mut self, event: &StreamEvent) {
        event_chunk(event, &mut self.out);
        if matches!(event, StreamEvent::Revoked { .. }) {
            self.out.extend_from_slice(LAST_CHUNK);
            self.closing = true;
        }
    }

    /// Writes pending output. `Ready(true)`: all written; `Ready(false)`:
    /// the stream must end (socket error, or the hub ended it while the
    /// socket was full — a peer that stopped reading).
    fn poll_flush_out(&mut self, cx: &mut Context<'_>) -> Poll<bool> {
        while self.written < self.out.len() {
            match self.socket.try_write(&self.out[self.written..]) {
                Ok(0) => return Poll::Ready(false),
                Ok(n) => self.written += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    if self.subscription.mailbox().poll_ended(cx).is_ready() {
                        return Poll::Ready(false);
                    }
                    match self.socket.poll_write_ready(cx) {
                        Poll::Pending => return Poll::Pending,
                        Poll::Ready(Ok(())) => {}
                        Poll::Ready(Err(_)) => return Poll::Ready(false),
                    }
                }
                Err(_) => return Poll::Ready(false),
            }
        }
        if self.out.capacity() > 0 {
            // Nothing kept while idle.
            self.out = Vec::new();
            self.written = 0;
        }
        Poll::Ready(true)
    }
}

impl Future for StreamTask {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.get_mut();
        loop {
            match this.poll_flush_out(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(false) => return Poll::Ready(()),
                Poll::Ready(true) => {}
            }
            if this.closing {
                // `revoked` and the last chunk are out: close our side.
                let _ = Pin::new(&mut this.socket).poll_shutdown(cx);
                return Poll::Ready(());
            }
            if poll_peer_gone(&this.socket, cx) {
                return Poll::Ready(());
            }
            match this.subscription.mailbox().poll_next(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Next::Event(event)) if already_sent(&this.sent, &event) => {}
                Poll::Ready(Next::Event(event)) => this.queue(&event),
                Poll::Ready(Next::Heartbeat) => this.out.extend_from_slice(HEARTBEAT_CHUNK),
                Poll::Ready(Next::End(_)) => {
                    // Replaced, overflowed or stalled: end the body cleanly
                    // if the socket takes it at once; the device reconnects
                    // and resumes from its Last-Event-ID.
                    let _ = this.socket.try_write(LAST_CHUNK);
                    return Poll::Ready(());
                }
            }
        }
    }
}

/// Whether the peer closed or reset the connection. A device sends nothing
/// after its request, so whatever it does send is read and dropped; the
/// point is to notice end of file or an error without a read buffer or a
/// task per connection.
fn poll_peer_gone(socket: &TcpStream, cx: &mut Context<'_>) -> bool {
    let mut junk = [0u8; 64];
    loop {
        match socket.poll_read_ready(cx) {
            Poll::Pending => return false,
            Poll::Ready(Err(_)) => return true,
            Poll::Ready(Ok(())) => match socket.try_read(&mut junk) {
                Ok(0) => return true,
                // Discarded; `WouldBlock` clears the readiness so the next
                // `poll_read_ready` registers the waker again.
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(_) => return true,
            },
        }
    }
}

/// A stream request that came through hyper (a later request on a
/// keep-alive connection): the same events, as a streaming body.
pub async fn hyper_response<B>(state: &AppState, request: Request<B>) -> Response<Body> {
    let headers = request.headers();
    let proof = match headers.get(PROOF_HEADER).map(HeaderValue::to_str) {
        None => None,
        Some(Ok(proof)) => Some(proof),
        Some(Err(_)) => {
            return ApiError::BadProof("the Tessera-Proof header is not text".into())
                .into_response();
        }
    };
    let last_event_id =
        match parse_last_event_id(headers.get(LAST_EVENT_ID_HEADER).map(HeaderValue::as_bytes)) {
            Ok(id) => id,
            Err(error) => return error.into_response(),
        };
    match open(state, proof, last_event_id).await {
        Ok(opened) => {
            let body = SseBody {
                backlog: opened.backlog.into(),
                sent: opened.sent,
                subscription: opened.subscription,
                done: false,
            };
            (
                StatusCode::OK,
                [
                    (header::CONTENT_TYPE, "text/event-stream"),
                    (header::CACHE_CONTROL, "no-store"),
                ],
                Body::new(body),
            )
                .into_response()
        }
        Err(error) => error.into_response(),
    }
}

/// The stream as an HTTP body, for [`hyper_response`].
struct SseBody {
    subscription: Subscription,
    backlog: VecDeque<StreamEvent>,
    sent: Box<[i64]>,
    done: bool,
}

impl SseBody {
    fn frame(
        &mut self,
        event: &StreamEvent,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, Infallible>>> {
        self.done = matches!(event, StreamEvent::Revoked { .. });
        let mut text = Vec::with_capacity(event_len_hint(event));
        event_text(event, &mut text);
        Poll::Ready(Some(Ok(http_body::Frame::data(Bytes::from(text)))))
    }
}

impl HttpBody for SseBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, Infallible>>> {
        let this = self.get_mut();
        if this.done {
            return Poll::Ready(None);
        }
        if let Some(event) = this.backlog.pop_front() {
            return this.frame(&event);
        }
        loop {
            return match this.subscription.mailbox().poll_next(cx) {
                Poll::Pending => Poll::Pending,
                Poll::Ready(Next::Event(event)) if already_sent(&this.sent, &event) => continue,
                Poll::Ready(Next::Event(event)) => this.frame(&event),
                Poll::Ready(Next::Heartbeat) => Poll::Ready(Some(Ok(http_body::Frame::data(
                    Bytes::from_static(b": hb\n\n"),
                )))),
                Poll::Ready(Next::End(_)) => {
                    this.done = true;
                    Poll::Ready(None)
                }
            };
        }
    }

    fn is_end_stream(&self) -> bool {
        self.done
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn events_are_framed_as_sse_chunks() {
        let mut out = Vec::new();
        event_chunk(
            &StreamEvent::Prompt {
                seq: 42,
                jws: Arc::from("h.p.s"),
            },
            &mut out,
        );
        assert_eq!(out, b"22\r\nevent: prompt\nid: 42\ndata: h.p.s\n\n\r\n");
        let mut out = Vec::new();
        event_text(&StreamEvent::Revoked { reason: "handoff" }, &mut out);
        assert_eq!(out, b"event: revoked\ndata: {\"reason\":\"handoff\"}\n\n");
        assert_eq!(&HEARTBEAT_CHUNK[3..9], b": hb\n\n");
    }

    /// What an idle stream's task holds, apart from the socket's kernel
    /// buffers: the `run` future (inside tokio's task cell), which owns the
    /// `Subscription` (pointing at the hub's `Mailbox`). Printed for
    /// `docs/benchmarks.md`; bounded so a change that drags a buffer or a
    /// big future into the idle state fails here.
    #[tokio::test]
    async fn the_idle_stream_future_is_small() -> Result<(), Box<dyn std::error::Error>> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let client = TcpStream::connect(listener.local_addr()?).await?;
        let (socket, _) = listener.accept().await?;
        let hub = Arc::new(crate::hub::Hub::new());
        let opened = Opened {
            subscription: hub.subscribe("device"),
            backlog: Vec::new(),
            sent: Box::new([]),
        };
        let future = run(socket, opened);
        let size = std::mem::size_of_val(&future);
        println!(
            "run future: {size} bytes; Subscription {} bytes; Mailbox {} bytes",
            std::mem::size_of::<Subscription>(),
            std::mem::size_of::<crate::hub::Mailbox>()
        );
        assert!(size <= 160, "the idle stream future grew to {size} bytes");
        drop(future);
        drop(client);
        Ok(())
    }

    #[test]
    fn last_event_id_is_a_number_or_absent() {
        assert_eq!(parse_last_event_id(None).ok(), Some(None));
        assert_eq!(parse_last_event_id(Some(b" 17 ")).ok(), Some(Some(17)));
        assert!(parse_last_event_id(Some(b"x")).is_err());
    }
}
