//! A Server-Sent Events parser (the WHATWG HTML standard, §9.2 "Server-sent
//! events", the event stream interpretation), fed with chunks as they
//! arrive: a line or an event may be split anywhere, even between the CR and
//! LF of one line break.
//!
//! It is written here, not taken from a crate, because it is about a hundred
//! lines, it must be bounded (a server, or anything between, must not make
//! the device buffer without limit), and the stream client needs comments
//! (heartbeats) and the `id` as the standard defines them.

/// The longest line accepted, in bytes (a prompt JWS is at most 16 KiB).
pub const MAX_LINE: usize = 32 * 1024;
/// The most data one event may accumulate, in bytes.
pub const MAX_EVENT_DATA: usize = 64 * 1024;

/// One thing the stream said.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SseItem {
    /// A dispatched event.
    Event(SseEvent),
    /// A comment line (`: hb`), without the colon; a heartbeat.
    Comment(String),
}

/// An event: its type, its data and the stream's last event id at dispatch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SseEvent {
    /// `event:`; `message` when the event did not name one.
    pub event: String,
    /// The `data:` lines joined with `\n`.
    pub data: String,
    /// The last event id (`id:`) as of this event, if one was ever set.
    pub id: Option<String>,
}

/// Why the stream cannot be parsed further.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SseError {
    /// A line longer than [`MAX_LINE`].
    #[error("a stream line is longer than {MAX_LINE} bytes")]
    LineTooLong,
    /// An event's data over [`MAX_EVENT_DATA`].
    #[error("a stream event is larger than {MAX_EVENT_DATA} bytes")]
    EventTooLarge,
}

/// The parser's state between chunks.
#[derive(Debug, Default)]
pub struct SseParser {
    /// The bytes of the current, unfinished line.
    line: Vec<u8>,
    /// The previous chunk ended with CR: an LF starting the next one belongs
    /// to the same line break.
    after_cr: bool,
    /// Whether the start of the stream (and a possible BOM) was handled.
    started: bool,
    event_type: String,
    data: String,
    has_data: bool,
    last_event_id: Option<String>,
    retry_ms: Option<u64>,
}

impl SseParser {
    /// A parser at the start of a stream.
    pub fn new() -> Self {
        Self::default()
    }

    /// The last event id seen (`Last-Event-ID` for a reconnect).
    pub fn last_event_id(&self) -> Option<&str> {
        self.last_event_id.as_deref()
    }

    /// The reconnection time the server asked for (`retry:`), in ms.
    pub fn retry_ms(&self) -> Option<u64> {
        self.retry_ms
    }

    /// Parses one chunk; returns the events and comments it completed.
    pub fn feed(&mut self, mut chunk: &[u8]) -> Result<Vec<SseItem>, SseError> {
        let mut items = Vec::new();
        if !self.started && !chunk.is_empty() {
            // A UTF-8 BOM may open the stream, split like anything else;
            // only a whole BOM in the first chunk is skipped (a server that
            // splits three bytes apart has other problems).
            self.started = true;
            if let Some(rest) = chunk.strip_prefix(b"\xEF\xBB\xBF") {
                chunk = rest;
            }
        }
        for &byte in chunk {
            if self.after_cr {
                self.after_cr = false;
                if byte == b'\n' {
                    continue;
                }
            }
            match byte {
                b'\r' | b'\n' => {
                    self.after_cr = byte == b'\r';
                    let line = std::mem::take(&mut self.line);
                    if let Some(item) = self.process_line(&line)? {
                        items.push(item);
                    }
                }
                _ => {
                    if self.line.len() >= MAX_LINE {
                        return Err(SseError::LineTooLong);
                    }
                    self.line.push(byte);
                }
            }
        }
        Ok(items)
    }

    fn process_line(&mut self, line: &[u8]) -> Result<Option<SseItem>, SseError> {
        if line.is_empty() {
            return Ok(self.dispatch());
        }
        let line = String::from_utf8_lossy(line);
        if let Some(comment) = line.strip_prefix(':') {
            return Ok(Some(SseItem::Comment(
                comment.strip_prefix(' ').unwrap_or(comment).to_string(),
            )));
        }
        let (field, value) = match line.split_once(':') {
            Some((field, value)) => (field, value.strip_prefix(' ').unwrap_or(value)),
            None => (line.as_ref(), ""),
        };
        match field {
            "event" => self.event_type = value.to_string(),
            "data" => {
                if self.data.len() + value.len() + 1 > MAX_EVENT_DATA {
                    return Err(SseError::EventTooLarge);
                }
                if self.has_data {
                    self.data.push('\n');
                }
                self.data.push_str(value);
                self.has_data = true;
            }
            "id" if !value.contains('\0') => self.last_event_id = Some(value.to_string()),
            "retry" if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) => {
                self.retry_ms = value.parse().ok();
            }
            // Unknown fields are ignored, as the standard says.
            _ => {}
        }
        Ok(None)
    }

    fn dispatch(&mut self) -> Option<SseItem> {
        let event_type = std::mem::take(&mut self.event_type);
        let data = std::mem::take(&mut self.data);
        if !std::mem::take(&mut self.has_data) {
            return None;
        }
        Some(SseItem::Event(SseEvent {
            event: if event_type.is_empty() {
                "message".into()
            } else {
                event_type
            },
            data,
            id: self.last_event_id.clone(),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(event: &str, data: &str, id: Option<&str>) -> SseItem {
        SseItem::Event(SseEvent {
            event: event.into(),
            data: data.into(),
            id: id.map(String::from),
        })
    }

    fn parse_all(chunks: &[&[u8]]) -> Vec<SseItem> {
        let mut parser = SseParser::new();
        chunks
            .iter()
            .flat_map(|c| parser.feed(c).unwrap())
            .collect()
    }

    const STREAM: &str = "event: prompt\nid: 7\ndata: aaa.bbb.ccc\n\n: hb\n\nevent: revoked\ndata: {\"reason\":\"revoked\"}\n\n";

    #[test]
    fn parses_prompts_heartbeats_and_revocation() {
        let items = parse_all(&[STREAM.as_bytes()]);
        assert_eq!(
            items,
            vec![
                event("prompt", "aaa.bbb.ccc", Some("7")),
                SseItem::Comment("hb".into()),
                event("revoked", "{\"reason\":\"revoked\"}", Some("7")),
            ]
        );
    }

    #[test]
    fn any_split_gives_the_same_items() {
        let whole = parse_all(&[STREAM.as_bytes()]);
        let bytes = STREAM.as_bytes();
        for cut in 0..=bytes.len() {
            assert_eq!(
                parse_all(&[&bytes[..cut], &bytes[cut..]]),
                whole,
                "cut {cut}"
            );
        }
        let singles: Vec<&[u8]> = bytes.chunks(1).collect();
        assert_eq!(parse_all(&singles), whole);
    }

    #[test]
    fn crlf_and_cr_line_breaks_even_when_split() {
        let crlf = STREAM.replace('\n', "\r\n");
        let cr = STREAM.replace('\n', "\r");
        let whole = parse_all(&[STREAM.as_bytes()]);
        assert_eq!(parse_all(&[crlf.as_bytes()]), whole);
        assert_eq!(parse_all(&[cr.as_bytes()]), whole);
        let bytes = crlf.as_bytes();
        for cut in 0..=bytes.len() {
            assert_eq!(
                parse_all(&[&bytes[..cut], &bytes[cut..]]),
                whole,
                "cut {cut}"
            );
        }
    }

    #[test]
    fn multi_line_data_and_field_forms() {
        let items = parse_all(&[
            b"\xEF\xBB\xBFdata: one\ndata:two\ndata\ndata:  three\nfoo: ignored\n\n",
            b"id\nretry: 2500\ndata: x\n\n",
            b"event: prompt\nid: a\0b\ndata: y\n\n",
        ]);
        assert_eq!(
            items,
            vec![
                event("message", "one\ntwo\n\n three", None),
                event("message", "x", Some("")),
                event("prompt", "y", Some("")),
            ]
        );
        let mut parser = SseParser::new();
        parser.feed(b"retry: 2500\nretry: x\n").unwrap();
        assert_eq!(parser.retry_ms(), Some(2500));
    }

    #[test]
    fn an_event_without_data_is_not_dispatched_but_its_id_is_kept() {
        let mut parser = SseParser::new();
        assert_eq!(parser.feed(b"event: prompt\nid: 9\n\n").unwrap(), vec![]);
        assert_eq!(parser.last_event_id(), Some("9"));
        assert_eq!(
            parser.feed(b"data: z\n\n").unwrap(),
            vec![event("message", "z", Some("9"))]
        );
    }

    #[test]
    fn an_unfinished_event_waits_for_its_blank_line() {
        let mut parser = SseParser::new();
        assert_eq!(parser.feed(b"event: prompt\ndata: x\n").unwrap(), vec![]);
        assert_eq!(
            parser.feed(b"\n").unwrap(),
            vec![event("prompt", "x", None)]
        );
    }

    #[test]
    fn limits_are_enforced() {
        let mut parser = SseParser::new();
        let long = vec![b'a'; MAX_LINE + 1];
        assert_eq!(parser.feed(&long), Err(SseError::LineTooLong));
        let mut parser = SseParser::new();
        let line = format!("data: {}\n", "b".repeat(MAX_LINE - 10));
        let mut result = Ok(Vec::new());
        for _ in 0..3 {
            result = parser.feed(line.as_bytes());
        }
        assert_eq!(result, Err(SseError::EventTooLarge));
    }
}
