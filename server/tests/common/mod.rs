//! What the push API tests share: the real `tessera-server` binary started
//! on a free port with a temporary database, a small blocking HTTP/1.1
//! client, and a device made of `tessera_core::push` parts.

#![allow(clippy::unwrap_used, clippy::expect_used, dead_code)]

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};
use tessera_core::push::jws;
use tessera_core::push::{
    AnswerClaims, Decision, KeyRef, PairingUri, PromptClaims, ProofClaims, ProofRequest, PublicKey,
    SigningKey,
};

/// The API key the tests' servers accept.
pub const API_KEY: &str = "test-api-key-0123456789abcdef";

/// Seconds since the Unix epoch.
pub fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// An HTTP answer.
#[derive(Debug)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    /// The body as JSON (panics with the text when it is not).
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|_| {
            panic!(
                "status {}: not JSON: {}",
                self.status,
                String::from_utf8_lossy(&self.body)
            )
        })
    }

    /// A header's value (case-insensitive name).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The §8 error code.
    pub fn error(&self) -> String {
        self.json()["error"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    }

    /// Asserts the status and error code, returning the body.
    #[track_caller]
    pub fn expect_error(&self, status: u16, code: &str) -> Value {
        let body = self.json();
        assert_eq!(
            (self.status, body["error"].as_str().unwrap_or_default()),
            (status, code),
            "{body}"
        );
        assert!(body["message"].is_string(), "{body}");
        body
    }

    /// Asserts the status, returning the JSON body.
    #[track_caller]
    pub fn expect(&self, status: u16) -> Value {
        let body = self.json();
        assert_eq!(self.status, status, "{body}");
        body
    }
}

/// Sends one HTTP/1.1 request (`Connection: close`) and reads the answer.
pub fn http(
    addr: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Response {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(90)))
        .unwrap();
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    if !body.is_empty() {
        head.push_str("Content-Type: application/json\r\n");
    }
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes()).unwrap();
    // The server may answer (413) before the whole body is sent and close.
    let _ = stream.write_all(body);
    let mut raw = Vec::new();
    let _ = stream.read_to_end(&mut raw);
    parse_response(&raw)
}

fn parse_response(raw: &[u8]) -> Response {
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or_else(|| panic!("no HTTP head in {:?}", String::from_utf8_lossy(raw)));
    let head = std::str::from_utf8(&raw[..split]).unwrap();
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap();
    let status: u16 = status_line.split(' ').nth(1).unwrap().parse().unwrap();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_string(), v.trim().to_string()))
        .collect();
    let mut body = raw[split + 4..].to_vec();
    let chunked = headers.iter().any(|(n, v)| {
        n.eq_ignore_ascii_case("transfer-encoding") && v.eq_ignore_ascii_case("chunked")
    });
    if chunked {
        body = dechunk(&body);
    }
    Response {
        status,
        headers,
        body,
    }
}

fn dechunk(mut data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let Some(end) = data.windows(2).position(|w| w == b"\r\n") else {
            return out;
        };
        let size_text = std::str::from_utf8(&data[..end]).unwrap();
        let size = usize::from_str_radix(size_text.split(';').next().unwrap().trim(), 16).unwrap();
        if size == 0 {
            return out;
        }
        let start = end + 2;
        out.extend_from_slice(&data[start..start + size]);
        data = &data[start + size + 2..];
    }
}

/// A running server, killed when dropped. Its stderr goes to a file in its
/// directory (shown when a test fails to start it).
pub struct Server {
    child: Child,
    /// `127.0.0.1:PORT`.
    pub addr: String,
    /// `http://127.0.0.1:PORT`.
    pub base: String,
    /// The database file.
    pub db: PathBuf,
    stderr_path: PathBuf,
}

impl Server {
    /// Starts a server on a fresh database in `dir` with [`API_KEY`].
    pub fn start(dir: &Path) -> Self {
        Self::start_with(dir, &[], Some(API_KEY))
    }

    /// Starts a server on the database in `dir` with extra flags and the
    /// API key given by environment (none: the server makes its own).
    pub fn start_with(dir: &Path, args: &[&str], api_key: Option<&str>) -> Self {
        Self::start_on(dir, "127.0.0.1:0", args, api_key)
    }

    /// Like [`Server::start_with`], listening on `listen`.
    pub fn start_on(dir: &Path, listen: &str, args: &[&str], api_key: Option<&str>) -> Self {
        let db = dir.join("server.db");
        let stderr_path = dir.join(format!("stderr-{}.log", now_nanos()));
        let stderr = std::fs::File::create(&stderr_path).unwrap();
        let mut command = Command::new(env!("CARGO_BIN_EXE_tessera-server"));
        command
            .arg("--listen")
            .arg(listen)
            .arg("--database")
            .arg(&db)
            .arg("--issuer")
            .arg("Example")
            .args(args)
            .env_remove("TESSERA_SERVER_CONFIG")
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(stderr));
        match api_key {
            Some(key) => command.env("TESSERA_SERVER_API_KEYS", key),
            None => command.env_remove("TESSERA_SERVER_API_KEYS"),
        };
        let mut child = command.spawn().expect("the server binary starts");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let Some(base) = line.trim().strip_prefix("tessera-server listening on ") else {
            let _ = child.wait();
            panic!(
                "unexpected first line {line:?}; stderr:\n{}",
                std::fs::read_to_string(&stderr_path).unwrap_or_default()
            );
        };
        let base = base.to_string();
        let addr = base.strip_prefix("http://").unwrap().to_string();
        Self {
            child,
            addr,
            base,
            db,
            stderr_path,
        }
    }

    /// What the server wrote to stderr so far.
    pub fn stderr(&self) -> String {
        std::fs::read_to_string(&self.stderr_path).unwrap_or_default()
    }

    /// Kills the server with SIGKILL (no clean shutdown) and waits for it.
    pub fn kill_9(&mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }

    /// An RP call with the API key; `body` JSON when given.
    pub fn rp(&self, method: &str, path: &str, body: Option<Value>) -> Response {
        let auth = format!("Bearer {API_KEY}");
        let body = body.map(|b| b.to_string()).unwrap_or_default();
        http(
            &self.addr,
            method,
            path,
            &[("Authorization", &auth)],
            body.as_bytes(),
        )
    }

    /// Creates a prompt for `user` (201 expected); returns (id, number).
    #[track_caller]
    pub fn prompt(&self, user: &str, extra: Value) -> (String, String) {
        let mut body = json!({"user": user, "site": "Example",
                              "context": {"ip": "203.0.113.7", "app": "Web login"}});
        for (k, v) in extra.as_object().unwrap() {
            body[k] = v.clone();
        }
        let created = self.rp("POST", "/v1/rp/prompts", Some(body)).expect(201);
        (
            created["prompt_id"].as_str().unwrap().to_string(),
            created["number"].as_str().unwrap().to_string(),
        )
    }

    /// The RP's view of a prompt.
    pub fn outcome(&self, id: &str) -> Value {
        self.rp("GET", &format!("/v1/rp/prompts/{id}"), None)
            .expect(200)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn now_nanos() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos()
}

/// A paired device: its key, id and the pinned server key.
pub struct Device {
    pub key: SigningKey,
    pub id: String,
    pub user: String,
    pub pinned: PublicKey,
}

/// What the enrollment call returned, checked.
pub struct Pairing {
    pub device: Device,
    pub uri: PairingUri,
    pub enrollment_header: Value,
    pub enrollment_claims: Value,
}

/// The decoded header and payload of a compact JWS (no check).
pub fn jws_parts(token: &str) -> (Value, Value) {
    use base64::Engine as _;
    let decode = |part: &str| -> Value {
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(part)
            .unwrap();
        serde_json::from_slice(&bytes).unwrap()
    };
    let mut parts = token.split('.');
    (decode(parts.next().unwrap()), decode(parts.next().unwrap()))
}

/// A proof for a request to `server`.
pub fn proof(
    server: &Server,
    key: &SigningKey,
    key_ref: &KeyRef,
    method: &str,
    path: &str,
    body: &[u8],
) -> String {
    ProofClaims::create(
        key,
        key_ref,
        ProofRequest {
            method,
            url: &format!("{}{path}", server.base),
            body,
        },
        now(),
    )
    .unwrap()
}

/// Asks the RP side for an enrollment URI for `user`.
pub fn enrollment_uri(server: &Server, user: &str, body: Option<Value>) -> PairingUri {
    let enrolled = server
        .rp("POST", &format!("/v1/rp/users/{user}/devices/enroll"), body)
        .expect(201);
    PairingUri::parse(enrolled["enrollment_uri"].as_str().unwrap()).unwrap()
}

/// Sends the device enrollment for `uri` with a fresh key.
pub fn enroll_with(server: &Server, uri: &PairingUri, key: &SigningKey) -> Response {
    let body = json!({
        "code": uri.code,
        "device_key": serde_json::from_str::<Value>(&key.public_key().to_jwk_json()).unwrap(),
        "name": "Test phone",
        "delivery": {"kind": "stream"},
    })
    .to_string();
    let proof = proof(
        server,
        key,
        &KeyRef::Jwk,
        "POST",
        "/v1/device/enroll",
        body.as_bytes(),
    );
    http(
        &server.addr,
        "POST",
        "/v1/device/enroll",
        &[("Tessera-Proof", &proof)],
        body.as_bytes(),
    )
}

/// Pairs a new device with `user`, checking the enrollment as a device
/// must (§2 step 5).
pub fn pair(server: &Server, user: &str) -> Pairing {
    let uri = enrollment_uri(server, user, None);
    pair_with_uri(server, uri, user)
}

/// Pairs a new device through an enrollment URI already issued.
pub fn pair_with_uri(server: &Server, uri: PairingUri, user: &str) -> Pairing {
    let key = SigningKey::generate().unwrap();
    let answer = enroll_with(server, &uri, &key).expect(201);
    let token = answer["enrollment"].as_str().unwrap();
    let (header, claims) = jws_parts(token);
    let pinned = PublicKey::from_jwk_value(&claims["server_key"]).unwrap();
    assert_eq!(
        pinned.thumbprint(),
        uri.fingerprint,
        "server_key matches fp"
    );
    jws::verify(token, &pinned, "tessera-enrollment+jwt").unwrap();
    let id = claims["device_id"].as_str().unwrap().to_string();
    Pairing {
        device: Device {
            key,
            id,
            user: user.to_string(),
            pinned,
        },
        uri,
        enrollment_header: header,
        enrollment_claims: claims,
    }
}

impl Device {
    fn kid(&self) -> KeyRef {
        KeyRef::Kid(self.id.clone())
    }

    /// A device call with a fresh proof.
    pub fn call(&self, server: &Server, method: &str, path: &str, body: &[u8]) -> Response {
        let proof = proof(server, &self.key, &self.kid(), method, path, body);
        http(
            &server.addr,
            method,
            path,
            &[("Tessera-Proof", &proof)],
            body,
        )
    }

    /// The pending prompts, each verified under the pinned key.
    pub fn pending(&self, server: &Server) -> Vec<PromptClaims> {
        let listed = self
            .call(server, "GET", "/v1/device/prompts", b"")
            .expect(200);
        listed["prompts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|jws| self.verify_prompt(jws.as_str().unwrap()))
            .collect()
    }

    /// Verifies a prompt JWS as the device does (§3.3).
    pub fn verify_prompt(&self, jws: &str) -> PromptClaims {
        PromptClaims::verify(jws, &self.pinned, &self.id, None)
            .unwrap()
            .0
    }

    /// The pending prompt with this id.
    #[track_caller]
    pub fn prompt(&self, server: &Server, id: &str) -> PromptClaims {
        self.pending(server)
            .into_iter()
            .find(|p| p.prompt_id == id)
            .unwrap_or_else(|| panic!("prompt {id} is not pending for the device"))
    }

    /// A signed answer token.
    pub fn answer_token(
        &self,
        prompt: &PromptClaims,
        decision: Decision,
        number: Option<&str>,
    ) -> String {
        AnswerClaims::create(&self.key, prompt, decision, number, now()).unwrap()
    }

    /// Sends an answer token.
    pub fn send_answer(&self, server: &Server, token: &str) -> Response {
        let body = json!({ "answer": token }).to_string();
        self.call(server, "POST", "/v1/device/answer", body.as_bytes())
    }

    /// Answers a prompt.
    pub fn answer(
        &self,
        server: &Server,
        prompt: &PromptClaims,
        decision: Decision,
        number: Option<&str>,
    ) -> Response {
        let token = self.answer_token(prompt, decision, number);
        self.send_answer(server, &token)
    }
}

/// A number of the same length as `number` that differs from it.
pub fn wrong(number: &str) -> String {
    number
        .chars()
        .map(|c| {
            if c == '9' {
                '0'
            } else {
                char::from(c as u8 + 1)
            }
        })
        .collect()
}
