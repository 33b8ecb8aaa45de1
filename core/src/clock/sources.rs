//! Time sources: SNTP servers and the HTTPS `Date` header.
//!
//! A source gives one [`TimeSample`]: how far the system clock is behind
//! (positive offset) or ahead of the source, and how uncertain that is.

use std::future::Future;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use super::TimeError;
use super::anchor::ClockReading;
use crate::http::{Http, HttpError, HttpRequest};

/// The NTP port.
const NTP_PORT: u16 = 123;
/// A floor on any NTP sample's uncertainty: scheduling and timestamping
/// jitter on the client, even when the round trip is a few microseconds.
const NTP_FLOOR_MICROS: u64 = 1_000;
/// `Date` has whole seconds: the server's time was somewhere in the second
/// after the stated one.
const HALF_SECOND_MICROS: u64 = 500_000;

/// Which protocol a sample came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SourceKind {
    /// SNTP (RFC 4330) over UDP: precise, unauthenticated.
    Ntp,
    /// The `Date` header over HTTPS: authenticated by TLS, second resolution.
    HttpsDate,
    /// The `Date` header over plain HTTP (loopback only, for tests).
    HttpDate,
}

impl SourceKind {
    /// True when the answer is protected against tampering in transit.
    pub fn is_authenticated(self) -> bool {
        self == Self::HttpsDate
    }
}

/// One measurement of the system clock against a source.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TimeSample {
    /// The source, as configured (`ntp://host:port`, `https://host`).
    pub source: String,
    /// The protocol.
    pub kind: SourceKind,
    /// Source time minus system time, in microseconds: positive means the
    /// system clock is slow (behind).
    pub offset_micros: i64,
    /// The true offset lies within `offset ± uncertainty`.
    pub uncertainty_micros: u64,
    /// The request's round trip, in microseconds.
    pub round_trip_micros: u64,
    /// The system clock when the sample was taken, microseconds since the epoch.
    pub taken_at_micros: i64,
    /// Protocol details for display (stratum, reference id, HTTP status).
    pub detail: String,
}

/// A future returned by a [`TimeSource`].
pub type SampleFuture<'a> =
    Pin<Box<dyn Future<Output = Result<TimeSample, TimeError>> + Send + 'a>>;

/// Something that can tell the time: the port behind which SNTP and HTTPS
/// sources sit (and test doubles, or the push server later).
pub trait TimeSource: Send + Sync {
    /// The source as configured, for reports.
    fn describe(&self) -> String;

    /// Takes one sample, giving up after `timeout`.
    fn sample(&self, timeout: Duration) -> SampleFuture<'_>;
}

/// A configured source, parsed from `ntp://host[:port]`,
/// `https://host[:port][/path]` or (loopback only) `http://…`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SourceSpec {
    /// An SNTP server.
    Ntp {
        /// Host name or address.
        host: String,
        /// UDP port.
        port: u16,
    },
    /// An HTTP(S) server whose `Date` header is read.
    Http {
        /// The URL requested with HEAD.
        url: String,
        /// HTTPS (authenticated) or plain HTTP (loopback only).
        secure: bool,
    },
}

impl SourceSpec {
    /// Parses one entry of a source list.
    pub fn parse(text: &str) -> Result<Self, TimeError> {
        let text = text.trim();
        let bad = |reason: &str| TimeError::BadSource {
            source_text: text.chars().take(100).collect(),
            reason: reason.to_string(),
        };
        if let Some(rest) = strip_prefix_ignore_case(text, "ntp://") {
            let rest = rest.trim_end_matches('/');
            if rest.is_empty() || rest.contains('/') || rest.contains('?') {
                return Err(bad("expected ntp://HOST or ntp://HOST:PORT"));
            }
            let (host, port) = split_host_port(rest)
                .ok_or_else(|| bad("the port is not a number from 1 to 65535"))?;
            return Ok(Self::Ntp {
                host,
                port: port.unwrap_or(NTP_PORT),
            });
        }
        let uri: http::Uri = text.parse().map_err(|e| bad(&format!("not a URL ({e})")))?;
        let (Some(scheme), Some(authority)) = (uri.scheme_str(), uri.authority()) else {
            return Err(bad("not a URL (expected ntp://, https:// or http://)"));
        };
        let path = uri.path_and_query().map_or("/", |p| p.as_str());
        let url = format!("{}://{authority}{path}", scheme.to_ascii_lowercase());
        match scheme.to_ascii_lowercase().as_str() {
            "https" => Ok(Self::Http { url, secure: true }),
            "http" if is_loopback(authority.host()) => Ok(Self::Http { url, secure: false }),
            "http" => Err(bad(
                "plain http:// is allowed for loopback addresses only; use https://",
            )),
            _ => Err(bad("use ntp://, https:// (or http:// on loopback)")),
        }
    }

    /// The source ready to be asked; `http` carries HTTPS `Date` requests.
    pub fn into_source(self, http: &Http) -> Arc<dyn TimeSource> {
        match self {
            Self::Ntp { host, port } => Arc::new(SntpSource { host, port }),
            Self::Http { url, secure } => Arc::new(HttpDateSource {
                url,
                secure,
                http: http.clone(),
            }),
        }
    }

    /// The canonical text form.
    pub fn describe(&self) -> String {
        match self {
            Self::Ntp { host, port } if host.contains(':') => format!("ntp://[{host}]:{port}"),
            Self::Ntp { host, port } => format!("ntp://{host}:{port}"),
            Self::Http { url, .. } => url.clone(),
        }
    }
}

fn strip_prefix_ignore_case<'a>(text: &'a str, prefix: &str) -> Option<&'a str> {
    text.get(..prefix.len())
        .filter(|head| head.eq_ignore_ascii_case(prefix))
        .map(|_| &text[prefix.len()..])
}

/// Splits `host`, `host:port`, `[v6]` or `[v6]:port`; `None` for a bad port.
fn split_host_port(text: &str) -> Option<(String, Option<u16>)> {
    let parse_port = |p: &str| p.parse::<u16>().ok().filter(|p| *p != 0);
    if let Some(rest) = text.strip_prefix('[') {
        let (host, after) = rest.split_once(']')?;
        return match after.strip_prefix(':') {
            Some(port) => Some((host.to_string(), Some(parse_port(port)?))),
            None if after.is_empty() => Some((host.to_string(), None)),
            None => None,
        };
    }
    match text.rsplit_once(':') {
        Some((host, port)) if !host.contains(':') => {
            Some((host.to_string(), Some(parse_port(port)?)))
        }
        _ => Some((text.to_string(), None)),
    }
}

fn is_loopback(host: &str) -> bool {
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    bare.eq_ignore_ascii_case("localhost")
        || bare.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// Parses a comma-separated source list (`TESSERA_TIME_SOURCES`). An empty
/// list is allowed: it means "never ask the network".
pub fn parse_sources(list: &str) -> Result<Vec<SourceSpec>, TimeError> {
    list.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(SourceSpec::parse)
        .collect()
}

/// Public defaults: two HTTPS servers (authenticated) and two NTP pools
/// (precise), run by different operators.
pub fn default_sources() -> Vec<SourceSpec> {
    [
        "https://www.cloudflare.com",
        "https://www.google.com",
        "ntp://time.cloudflare.com",
        "ntp://pool.ntp.org",
    ]
    .iter()
    .filter_map(|s| SourceSpec::parse(s).ok())
    .collect()
}

/// An SNTP server, asked with `rsntp` (which refuses kiss-of-death replies,
/// unsynchronised servers, stratum 0/16, a bad mode or originate timestamp
/// and short packets).
struct SntpSource {
    host: String,
    port: u16,
}

impl SntpSource {
    fn address(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }
}

impl TimeSource for SntpSource {
    fn describe(&self) -> String {
        SourceSpec::Ntp {
            host: self.host.clone(),
            port: self.port,
        }
        .describe()
    }

    fn sample(&self, timeout: Duration) -> SampleFuture<'_> {
        Box::pin(async move {
            let config = rsntp::Config::default().timeout(timeout);
            let client = rsntp::AsyncSntpClient::with_config(config);
            let taken_at = ClockReading::now().system_micros;
            let result = client
                .synchronize(self.address())
                .await
                .map_err(|e| map_sntp_error(e, timeout))?;
            let offset = result.clock_offset().as_secs_f64();
            let round_trip = result.round_trip_delay().as_secs_f64();
            if !offset.is_finite() || !round_trip.is_finite() || round_trip < 0.0 {
                return Err(TimeError::BadNtpReply(
                    "the reply's timestamps are inconsistent".into(),
                ));
            }
            let round_trip_micros = (round_trip * 1e6) as u64;
            Ok(TimeSample {
                source: self.describe(),
                kind: SourceKind::Ntp,
                offset_micros: (offset * 1e6).round() as i64,
                uncertainty_micros: round_trip_micros / 2 + NTP_FLOOR_MICROS,
                round_trip_micros,
                taken_at_micros: taken_at,
                detail: format!(
                    "stratum {}, reference {}",
                    result.stratum(),
                    result.reference_identifier()
                ),
            })
        })
    }
}

fn map_sntp_error(error: rsntp::SynchronizationError, timeout: Duration) -> TimeError {
    match error {
        rsntp::SynchronizationError::IOError(io)
            if matches!(
                io.kind(),
                std::io::ErrorKind::TimedOut | std::io::ErrorKind::WouldBlock
            ) =>
        {
            TimeError::Timeout(u64::try_from(timeout.as_millis()).unwrap_or(u64::MAX))
        }
        rsntp::SynchronizationError::IOError(io) => TimeError::Network(io.to_string()),
        rsntp::SynchronizationError::ProtocolError(protocol) => {
            TimeError::BadNtpReply(protocol.to_string())
        }
    }
}

/// Reads the `Date` header of a HEAD request.
struct HttpDateSource {
    url: String,
    secure: bool,
    http: Http,
}

impl TimeSource for HttpDateSource {
    fn describe(&self) -> String {
        self.url.clone()
    }

    fn sample(&self, timeout: Duration) -> SampleFuture<'_> {
        Box::pin(async move {
            let timeout_error =
                || TimeError::Timeout(u64::try_from(timeout.as_millis()).unwrap_or(u64::MAX));
            // Transports follow no redirects: the first reply's Date is used.
            let request = HttpRequest {
                method: "HEAD".into(),
                url: self.url.clone(),
                headers: vec![("user-agent".into(), "tessera-time".into())],
                body: Vec::new(),
                timeout,
            };
            let before = ClockReading::now().system_micros;
            let response = self.http.send(request).await.map_err(|e| match e {
                HttpError::Timeout { .. } => timeout_error(),
                HttpError::Failed(reason) => TimeError::Network(short(&reason)),
            })?;
            let after = ClockReading::now().system_micros;
            let text = response
                .header("date")
                .ok_or_else(|| TimeError::BadDate("the reply has no Date header".into()))?;
            let date = httpdate::parse_http_date(text).map_err(|_| {
                TimeError::BadDate(format!(
                    "\"{}\" is not an HTTP date",
                    text.chars().take(40).collect::<String>()
                ))
            })?;
            let date_micros = date
                .duration_since(UNIX_EPOCH)
                .map_err(|_| TimeError::BadDate("the Date is before 1970".into()))
                .map(|d| i64::try_from(d.as_micros()).unwrap_or(i64::MAX))?;
            let round_trip = u64::try_from(after.saturating_sub(before)).unwrap_or(0);
            let midpoint = before + (after - before) / 2;
            Ok(TimeSample {
                source: self.url.clone(),
                kind: if self.secure {
                    SourceKind::HttpsDate
                } else {
                    SourceKind::HttpDate
                },
                offset_micros: date_micros + HALF_SECOND_MICROS as i64 - midpoint,
                uncertainty_micros: HALF_SECOND_MICROS + round_trip / 2,
                round_trip_micros: round_trip,
                taken_at_micros: before,
                detail: format!("HTTP {}", response.status),
            })
        })
    }
}

/// A transport's error, cut to a readable length.
fn short(reason: &str) -> String {
    reason.chars().take(300).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_source_lists() {
        let sources =
            parse_sources(" ntp://127.0.0.1:11123, https://example.com ,http://localhost:8080/x,ntp://[::1]:5, ntp://pool.ntp.org")
                .unwrap();
        assert_eq!(
            sources,
            vec![
                SourceSpec::Ntp {
                    host: "127.0.0.1".into(),
                    port: 11123
                },
                SourceSpec::Http {
                    url: "https://example.com/".into(),
                    secure: true
                },
                SourceSpec::Http {
                    url: "http://localhost:8080/x".into(),
                    secure: false
                },
                SourceSpec::Ntp {
                    host: "::1".into(),
                    port: 5
                },
                SourceSpec::Ntp {
                    host: "pool.ntp.org".into(),
                    port: 123
                },
            ]
        );
        assert_eq!(parse_sources("").unwrap(), vec![]);
        assert_eq!(sources[3].describe(), "ntp://[::1]:5");
    }

    #[test]
    fn refuses_bad_sources_with_a_reason() {
        for (text, needle) in [
            ("http://example.com", "loopback"),
            ("http://10.0.0.1", "loopback"),
            ("ftp://example.com", "use ntp://"),
            ("ntp://host:0", "port"),
            ("ntp://host:99999", "port"),
            ("ntp://", "expected"),
            ("ntp://host/path", "expected"),
            ("example.com", "not a URL"),
        ] {
            let error = SourceSpec::parse(text).unwrap_err();
            assert!(error.to_string().contains(needle), "{text}: {error}");
        }
    }

    #[test]
    fn defaults_mix_authenticated_and_precise_sources() {
        let defaults = default_sources();
        assert_eq!(defaults.len(), 4);
        assert!(
            defaults
                .iter()
                .any(|s| matches!(s, SourceSpec::Http { secure: true, .. }))
        );
        assert!(defaults.iter().any(|s| matches!(s, SourceSpec::Ntp { .. })));
    }
}
