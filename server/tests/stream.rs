//! The device stream end to end, against the real `tessera-server` binary:
//! delivery with a valid JWS, resume with `Last-Event-ID`, heartbeats,
//! revocation, refused proofs, and the REST API sharing the port (also on
//! keep-alive connections that later open a stream).

use std::error::Error;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tessera_core::push::jws::UnverifiedJws;
use tessera_core::push::messages::ProofRequest;
use tessera_core::push::{KeyRef, PairingUri, PromptClaims, ProofClaims, PublicKey, SigningKey};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::timeout;

type TestResult<T = ()> = Result<T, Box<dyn Error + Send + Sync>>;

const API_KEY: &str = "stream-test-key-0123456789";
const WAIT: Duration = Duration::from_secs(10);

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// The server binary on a free port with a fresh database; killed on drop.
struct Server {
    child: Child,
    address: SocketAddr,
    _dir: tempfile::TempDir,
}

impl Server {
    fn start() -> TestResult<Self> {
        let dir = tempfile::tempdir()?;
        let mut child = Command::new(env!("CARGO_BIN_EXE_tessera-server"))
            .args([
                "--listen",
                "127.0.0.1:0",
                "--heartbeat-secs",
                "1",
                "--database",
            ])
            .arg(dir.path().join("server.db"))
            .env("TESSERA_SERVER_API_KEYS", API_KEY)
            .env_remove("TESSERA_SERVER_CONFIG")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()?;
        let stdout = child.stdout.take().ok_or("no stdout")?;
        let mut line = String::new();
        BufReader::new(stdout).read_line(&mut line)?;
        let address = line
            .trim()
            .strip_prefix("tessera-server listening on http://")
            .ok_or_else(|| format!("unexpected first line {line:?}"))?
            .parse()?;
        Ok(Self {
            child,
            address,
            _dir: dir,
        })
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One HTTP/1.1 answer.
struct Answer {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Answer {
    fn json(&self) -> TestResult<serde_json::Value> {
        Ok(serde_json::from_slice(&self.body)?)
    }

    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// A keep-alive connection with a minimal HTTP/1.1 client, so the tests
/// control exactly which requests share a connection.
struct Conn {
    socket: TcpStream,
    buffer: Vec<u8>,
}

impl Conn {
    async fn open(server: &Server) -> TestResult<Self> {
        Ok(Self {
            socket: TcpStream::connect(server.address).await?,
            buffer: Vec::new(),
        })
    }

    async fn send(
        &mut self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> TestResult {
        let mut text = format!("{method} {path} HTTP/1.1\r\nhost: test\r\n");
        for (name, value) in headers {
            text.push_str(&format!("{name}: {value}\r\n"));
        }
        if !body.is_empty() || method == "POST" {
            text.push_str(&format!(
                "content-type: application/json\r\ncontent-length: {}\r\n",
                body.len()
            ));
        }
        text.push_str("\r\n");
        let mut bytes = text.into_bytes();
        bytes.extend_from_slice(body);
        self.socket.write_all(&bytes).await?;
        Ok(())
    }

    async fn fill(&mut self) -> TestResult {
        let n = timeout(WAIT, self.socket.read_buf(&mut self.buffer)).await??;
        if n == 0 {
            return Err("connection closed".into());
        }
        Ok(())
    }

    /// Reads an answer's head; the body is left in the buffer.
    async fn head(&mut self) -> TestResult<(u16, Vec<(String, String)>)> {
        loop {
            let mut headers = [httparse::EMPTY_HEADER; 32];
            let mut response = httparse::Response::new(&mut headers);
            if let httparse::Status::Complete(len) = response.parse(&self.buffer)? {
                let status = response.code.unwrap_or(0);
                let headers = response
                    .headers
                    .iter()
                    .map(|h| {
                        (
                            h.name.to_ascii_lowercase(),
                            String::from_utf8_lossy(h.value).into_owned(),
                        )
                    })
                    .collect();
                self.buffer.drain(..len);
                return Ok((status, headers));
            }
            self.fill().await?;
        }
    }

    /// Reads a whole answer with a `Content-Length` body.
    async fn answer(&mut self) -> TestResult<Answer> {
        let (status, headers) = self.head().await?;
        let length: usize = headers
            .iter()
            .find(|(n, _)| n == "content-length")
            .ok_or("no content-length")?
            .1
            .parse()?;
        while self.buffer.len() < length {
            self.fill().await?;
        }
        let body = self.buffer.drain(..length).collect();
        Ok(Answer {
            status,
            headers,
            body,
        })
    }

    async fn request(
        &mut self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> TestResult<Answer> {
        self.send(method, path, headers, body).await?;
        self.answer().await
    }

    /// The next SSE item of a chunked event stream: an event, a comment,
    /// or `None` at the end of the body.
    async fn sse(&mut self, text: &mut Vec<u8>) -> TestResult<Option<Sse>> {
        loop {
            if let Some(end) = text.windows(2).position(|w| w == b"\n\n") {
                let block: Vec<u8> = text.drain(..end + 2).collect();
                return Ok(Some(Sse::parse(&String::from_utf8(block)?)));
            }
            // One chunk: size line, data, CRLF.
            let line_end = loop {
                if let Some(at) = self.buffer.windows(2).position(|w| w == b"\r\n") {
                    break at;
                }
                self.fill().await?;
            };
            let size = usize::from_str_radix(std::str::from_utf8(&self.buffer[..line_end])?, 16)?;
            if size == 0 {
                return Ok(None);
            }
            while self.buffer.len() < line_end + 2 + size + 2 {
                self.fill().await?;
            }
            text.extend_from_slice(&self.buffer[line_end + 2..line_end + 2 + size]);
            self.buffer.drain(..line_end + 2 + size + 2);
        }
    }

    /// Whether the peer closed the connection (within the wait).
    async fn closed(&mut self) -> bool {
        let mut rest = [0u8; 256];
        matches!(
            timeout(WAIT, self.socket.read(&mut rest)).await,
            Ok(Ok(0)) | Ok(Err(_))
        )
    }
}

#[derive(Debug, PartialEq, Eq)]
enum Sse {
    Event {
        event: String,
        id: Option<String>,
        data: String,
    },
    Comment(String),
}

impl Sse {
    fn parse(block: &str) -> Self {
        let mut event = String::from("message");
        let mut id = None;
        let mut data = Vec::new();
        let mut comment = None;
        for line in block.lines() {
            if let Some(text) = line.strip_prefix(':') {
                comment = Some(text.trim().to_string());
            } else if let Some(value) = line.strip_prefix("event: ") {
                event = value.to_string();
            } else if let Some(value) = line.strip_prefix("id: ") {
                id = Some(value.to_string());
            } else if let Some(value) = line.strip_prefix("data: ") {
                data.push(value.to_string());
            }
        }
        match comment {
            Some(text) if data.is_empty() => Self::Comment(text),
            _ => Self::Event {
                event,
                id,
                data: data.join("\n"),
            },
        }
    }
}

/// A paired device.
struct Device {
    user: String,
    id: String,
    key: SigningKey,
    server_key: PublicKey,
    public_url: String,
}

impl Device {
    async fn pair(server: &Server, user: &str) -> TestResult<Self> {
        let mut conn = Conn::open(server).await?;
        let auth = format!("Bearer {API_KEY}");
        let answer = conn
            .request(
                "POST",
                &format!("/v1/rp/users/{user}/devices/enroll"),
                &[("authorization", &auth)],
                b"",
            )
            .await?;
        assert_eq!(answer.status, 201);
        let uri = answer.json()?["enrollment_uri"]
            .as_str()
            .ok_or("no uri")?
            .to_string();
        let pairing = PairingUri::parse(&uri)?;
        let key = SigningKey::generate()?;
        let body = serde_json::to_vec(&serde_json::json!({
            "code": pairing.code,
            "device_key": serde_json::from_str::<serde_json::Value>(&key.public_key().to_jwk_json())?,
            "name": "stream test",
            "delivery": {"kind": "stream"},
        }))?;
        let url = format!("{}/v1/device/enroll", pairing.server);
        let proof = ProofClaims::create(
            &key,
            &KeyRef::Jwk,
            ProofRequest {
                method: "POST",
                url: &url,
                body: &body,
            },
            now(),
        )?;
        let answer = conn
            .request(
                "POST",
                "/v1/device/enroll",
                &[("tessera-proof", &proof)],
                &body,
            )
            .await?;
        assert_eq!(
            answer.status,
            201,
            "{}",
            String::from_utf8_lossy(&answer.body)
        );
        let token = answer.json()?["enrollment"]
            .as_str()
            .ok_or("no enrollment")?
            .to_string();
        let unverified = UnverifiedJws::parse(&token, "tessera-enrollment+jwt")?;
        let payload: serde_json::Value = serde_json::from_slice(unverified.unverified_payload())?;
        let server_key = PublicKey::from_jwk_value(&payload["server_key"])?;
        assert_eq!(server_key.thumbprint(), pairing.fingerprint);
        unverified.verify(&server_key)?;
        Ok(Self {
            user: user.to_string(),
            id: payload["device_id"]
                .as_str()
                .ok_or("no device_id")?
                .to_string(),
            key,
            server_key,
            public_url: pairing.server,
        })
    }

    fn stream_proof(&self) -> TestResult<String> {
        let url = format!("{}/v1/device/stream", self.public_url);
        Ok(ProofClaims::create(
            &self.key,
            &KeyRef::Kid(self.id.clone()),
            ProofRequest {
                method: "GET",
                url: &url,
                body: b"",
            },
            now(),
        )?)
    }

    /// Opens the stream on `conn` and checks the `200` head.
    async fn open_on(&self, conn: &mut Conn, last_event_id: Option<&str>) -> TestResult {
        let proof = self.stream_proof()?;
        let mut headers = vec![
            ("tessera-proof", proof.as_str()),
            ("accept", "text/event-stream"),
        ];
        if let Some(id) = last_event_id {
            headers.push(("last-event-id", id));
        }
        conn.send("GET", "/v1/device/stream", &headers, b"").await?;
        let (status, headers) = conn.head().await?;
        assert_eq!(status, 200);
        let header = |name: &str| {
            headers
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, v)| v.clone())
        };
        assert_eq!(header("content-type").as_deref(), Some("text/event-stream"));
        assert_eq!(header("cache-control").as_deref(), Some("no-store"));
        assert_eq!(header("transfer-encoding").as_deref(), Some("chunked"));
        Ok(())
    }

    async fn open(&self, server: &Server, last_event_id: Option<&str>) -> TestResult<Conn> {
        let mut conn = Conn::open(server).await?;
        self.open_on(&mut conn, last_event_id).await?;
        Ok(conn)
    }
}

async fn create_prompt(server: &Server, user: &str) -> TestResult<String> {
    let mut conn = Conn::open(server).await?;
    let body = serde_json::to_vec(&serde_json::json!({"user": user, "site": "Example"}))?;
    let auth = format!("Bearer {API_KEY}");
    let answer = conn
        .request("POST", "/v1/rp/prompts", &[("authorization", &auth)], &body)
        .await?;
    assert_eq!(
        answer.status,
        201,
        "{}",
        String::from_utf8_lossy(&answer.body)
    );
    Ok(answer.json()?["prompt_id"]
        .as_str()
        .ok_or("no prompt_id")?
        .to_string())
}

/// The next event, skipping heartbeats.
async fn next_event(
    conn: &mut Conn,
    text: &mut Vec<u8>,
) -> TestResult<(String, Option<String>, String)> {
    loop {
        match conn.sse(text).await?.ok_or("stream ended")? {
            Sse::Event { event, id, data } => return Ok((event, id, data)),
            Sse::Comment(_) => {}
        }
    }
}

fn check_prompt(device: &Device, jws: &str, prompt_id: &str) -> TestResult {
    let (claims, _) = PromptClaims::verify(jws, &device.server_key, &device.id, None)?;
    assert_eq!(claims.prompt_id, prompt_id);
    assert_eq!(claims.user, device.user);
    Ok(())
}

#[tokio::test]
async fn prompts_arrive_resume_after_last_event_id_and_heartbeats_flow() -> TestResult {
    let server = Server::start()?;
    let device = Device::pair(&server, "alice").await?;

    let mut stream = device.open(&server, None).await?;
    let mut text = Vec::new();
    let first = create_prompt(&server, "alice").await?;
    let (event, id, data) = next_event(&mut stream, &mut text).await?;
    assert_eq!(event, "prompt");
    check_prompt(&device, &data, &first)?;
    let first_seq = id.ok_or("no id")?;

    // Heartbeats every second (the server was started with 1 s).
    let heartbeat = timeout(Duration::from_secs(3), async {
        loop {
            if let Some(Sse::Comment(text)) = stream.sse(&mut text).await? {
                return Ok::<_, Box<dyn Error + Send + Sync>>(text);
            }
        }
    })
    .await??;
    assert_eq!(heartbeat, "hb");

    // Away; a second prompt is created meanwhile.
    drop(stream);
    let second = create_prompt(&server, "alice").await?;
    let mut stream = device.open(&server, Some(&first_seq)).await?;
    let mut text = Vec::new();
    let (event, id, data) = next_event(&mut stream, &mut text).await?;
    assert_eq!(event, "prompt");
    check_prompt(&device, &data, &second)?;
    let second_seq: i64 = id.ok_or("no id")?.parse()?;
    assert!(second_seq > first_seq.parse::<i64>()?);
    // Nothing else is pending after it: the next item is a heartbeat.
    assert!(matches!(
        stream.sse(&mut text).await?,
        Some(Sse::Comment(_))
    ));

    // Without Last-Event-ID, both pending prompts come, in order.
    let mut stream = device.open(&server, None).await?;
    let mut text = Vec::new();
    let (_, _, data) = next_event(&mut stream, &mut text).await?;
    check_prompt(&device, &data, &first)?;
    let (_, _, data) = next_event(&mut stream, &mut text).await?;
    check_prompt(&device, &data, &second)?;
    Ok(())
}

#[tokio::test]
async fn a_revoked_device_is_told_and_the_stream_ends() -> TestResult {
    let server = Server::start()?;
    let device = Device::pair(&server, "bob").await?;
    let mut stream = device.open(&server, None).await?;
    let mut text = Vec::new();

    let mut rp = Conn::open(&server).await?;
    let auth = format!("Bearer {API_KEY}");
    let answer = rp
        .request(
            "DELETE",
            &format!("/v1/rp/users/bob/devices/{}", device.id),
            &[("authorization", &auth)],
            b"",
        )
        .await?;
    assert_eq!(answer.status, 200);

    let (event, _, data) = next_event(&mut stream, &mut text).await?;
    assert_eq!(event, "revoked");
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&data)?,
        serde_json::json!({"reason": "revoked"})
    );
    assert_eq!(stream.sse(&mut text).await?, None, "the body ends");
    assert!(stream.closed().await);

    // And it cannot come back.
    let mut again = Conn::open(&server).await?;
    let proof = device.stream_proof()?;
    let answer = again
        .request(
            "GET",
            "/v1/device/stream",
            &[("tessera-proof", &proof)],
            b"",
        )
        .await?;
    assert_eq!(answer.status, 403);
    assert_eq!(answer.json()?["error"], "device_revoked");
    Ok(())
}

#[tokio::test]
async fn refused_proofs_get_the_json_error() -> TestResult {
    let server = Server::start()?;
    let device = Device::pair(&server, "carol").await?;
    for proof in [None, Some("not.a.proof".to_string())] {
        let mut conn = Conn::open(&server).await?;
        let headers: Vec<(&str, &str)> = proof
            .iter()
            .map(|p| ("tessera-proof", p.as_str()))
            .collect();
        let answer = conn
            .request("GET", "/v1/device/stream", &headers, b"")
            .await?;
        assert_eq!(answer.status, 401);
        assert_eq!(answer.header("content-type"), Some("application/json"));
        let json = answer.json()?;
        assert_eq!(json["error"], "bad_proof");
        assert!(json["message"].is_string());
        assert!(conn.closed().await);
    }
    // A proof for another URL (the answer endpoint) is refused too.
    let url = format!("{}/v1/device/answer", device.public_url);
    let proof = ProofClaims::create(
        &device.key,
        &KeyRef::Kid(device.id.clone()),
        ProofRequest {
            method: "GET",
            url: &url,
            body: b"",
        },
        now(),
    )?;
    let mut conn = Conn::open(&server).await?;
    let answer = conn
        .request(
            "GET",
            "/v1/device/stream",
            &[("tessera-proof", &proof)],
            b"",
        )
        .await?;
    assert_eq!(answer.status, 401);
    // A malformed Last-Event-ID is a bad request.
    let proof = device.stream_proof()?;
    let mut conn = Conn::open(&server).await?;
    let answer = conn
        .request(
            "GET",
            "/v1/device/stream",
            &[("tessera-proof", &proof), ("last-event-id", "x")],
            b"",
        )
        .await?;
    assert_eq!(answer.status, 400);
    assert_eq!(answer.json()?["error"], "bad_request");
    Ok(())
}

#[tokio::test]
async fn rest_shares_the_port_with_keep_alive_and_a_later_stream() -> TestResult {
    let server = Server::start()?;
    let device = Device::pair(&server, "dave").await?;
    let auth = format!("Bearer {API_KEY}");

    // Several REST requests on one connection, then the stream on it too
    // (served through hyper this time).
    let mut conn = Conn::open(&server).await?;
    for _ in 0..3 {
        let answer = conn
            .request(
                "GET",
                "/v1/rp/users/dave/devices",
                &[("authorization", &auth)],
                b"",
            )
            .await?;
        assert_eq!(answer.status, 200);
        assert_eq!(
            answer.json()?["devices"][0]["device_id"],
            device.id.as_str()
        );
    }
    let answer = conn.request("GET", "/v1/nowhere", &[], b"").await?;
    assert_eq!(answer.status, 404);
    device.open_on(&mut conn, None).await?;
    let mut text = Vec::new();
    let prompt = create_prompt(&server, "dave").await?;
    let (event, id, data) = next_event(&mut conn, &mut text).await?;
    assert_eq!(event, "prompt");
    assert!(id.is_some());
    check_prompt(&device, &data, &prompt)?;
    let heartbeat = timeout(Duration::from_secs(3), async {
        loop {
            if let Some(Sse::Comment(text)) = conn.sse(&mut text).await? {
                return Ok::<_, Box<dyn Error + Send + Sync>>(text);
            }
        }
    })
    .await??;
    assert_eq!(heartbeat, "hb");

    // A first request head over 8 KiB is refused with 431.
    let mut big = Conn::open(&server).await?;
    let filler = "x".repeat(9000);
    big.send(
        "GET",
        "/v1/rp/users/dave/devices",
        &[("x-filler", &filler)],
        b"",
    )
    .await?;
    let answer = big.answer().await?;
    assert_eq!(answer.status, 431);
    Ok(())
}

#[tokio::test]
async fn a_newer_stream_takes_over_from_an_older_one() -> TestResult {
    let server = Server::start()?;
    let device = Device::pair(&server, "erin").await?;
    let mut old = device.open(&server, None).await?;
    let mut new = device.open(&server, None).await?;
    let mut text = Vec::new();
    // The old body ends (after any heartbeat that was already on its way).
    let ended = timeout(WAIT, async {
        loop {
            match old.sse(&mut text).await? {
                None => return Ok::<_, Box<dyn Error + Send + Sync>>(()),
                Some(Sse::Comment(_)) => {}
                Some(other) => return Err(format!("unexpected {other:?}").into()),
            }
        }
    })
    .await?;
    ended?;
    let prompt = create_prompt(&server, "erin").await?;
    let mut text = Vec::new();
    let (_, _, data) = next_event(&mut new, &mut text).await?;
    check_prompt(&device, &data, &prompt)?;
    Ok(())
}
