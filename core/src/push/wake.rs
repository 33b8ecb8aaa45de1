//! Wake-ups: the payload a web push endpoint, FCM data message or APNs
//! notification carries (`docs/push-protocol.md` §3.4). It only says which
//! prompt to fetch; the signed details always come from the server.
//!
//! The app owns the OS push system and hands the payload bytes to the core
//! (mozilla/application-services' rule): `{"prompt_id": "…"}`, possibly
//! beside other members a push service adds (APNs' `aps`), which are
//! ignored.

use super::error::PushError;

/// The largest wake-up payload read (4 KiB; APNs allows 4 KiB, web push
/// about as much).
pub const MAX_WAKE_UP_BYTES: usize = 4 * 1024;

/// The longest prompt id accepted, in characters.
pub const MAX_PROMPT_ID_LEN: usize = 128;

/// Parses a wake-up payload and returns the id of the prompt to fetch
/// (then [`super::PushClient::fetch`] it). Strict: one JSON object, at most
/// [`MAX_WAKE_UP_BYTES`], with one string `prompt_id` that
/// [`check_prompt_id`] accepts.
pub fn handle_push_payload(bytes: &[u8]) -> Result<String, PushError> {
    let bad = |reason| PushError::BadWakeUp { reason };
    if bytes.len() > MAX_WAKE_UP_BYTES {
        return Err(bad("larger than 4 KiB"));
    }
    if bytes.is_empty() {
        return Err(bad("empty"));
    }
    let members = super::jws::Members::parse(bytes).map_err(|_| bad("not a JSON object"))?;
    if members.duplicate().is_some() {
        return Err(bad("a member is given more than once"));
    }
    let id = match members.0.iter().find(|(name, _)| name == "prompt_id") {
        None => return Err(bad("prompt_id is missing")),
        Some((_, serde_json::Value::String(id))) => id,
        Some(_) => return Err(bad("prompt_id is not a string")),
    };
    check_prompt_id(id).map_err(|_| bad("prompt_id is not a valid prompt id"))?;
    Ok(id.clone())
}

/// A prompt id must be 1 to [`MAX_PROMPT_ID_LEN`] characters of
/// `A-Z a-z 0-9 - _ .` : it goes into a URL path.
pub fn check_prompt_id(id: &str) -> Result<(), PushError> {
    let ok = !id.is_empty()
        && id.len() <= MAX_PROMPT_ID_LEN
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
        && id != "."
        && id != "..";
    if ok {
        Ok(())
    } else {
        Err(PushError::InvalidInput(
            "a prompt id is 1 to 128 letters, digits, '-', '_' or '.'".into(),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_prompt_id() {
        assert_eq!(
            handle_push_payload(br#"{"prompt_id":"p-1_A.b"}"#).unwrap(),
            "p-1_A.b"
        );
        // APNs adds "aps"; FCM data may add other keys.
        assert_eq!(
            handle_push_payload(br#" {"aps":{"content-available":1},"prompt_id":"abc"} "#).unwrap(),
            "abc"
        );
    }

    #[test]
    fn refuses_anything_else_with_a_reason() {
        let big = format!(r#"{{"prompt_id":"{}"}}"#, "a".repeat(5000));
        for (payload, reason) in [
            (&b""[..], "empty"),
            (b"[]", "not a JSON object"),
            (b"{\"prompt_id\":\"a\"} x", "not a JSON object"),
            (b"{", "not a JSON object"),
            (b"{}", "prompt_id is missing"),
            (b"{\"prompt_id\":1}", "prompt_id is not a string"),
            (
                b"{\"prompt_id\":\"\"}",
                "prompt_id is not a valid prompt id",
            ),
            (
                b"{\"prompt_id\":\"../x\"}",
                "prompt_id is not a valid prompt id",
            ),
            (
                b"{\"prompt_id\":\"..\"}",
                "prompt_id is not a valid prompt id",
            ),
            (
                b"{\"prompt_id\":\"a b\"}",
                "prompt_id is not a valid prompt id",
            ),
            (
                b"{\"prompt_id\":\"a\",\"prompt_id\":\"b\"}",
                "a member is given more than once",
            ),
            (big.as_bytes(), "larger than 4 KiB"),
        ] {
            assert_eq!(
                handle_push_payload(payload),
                Err(PushError::BadWakeUp { reason }),
                "{}",
                String::from_utf8_lossy(payload)
            );
        }
        let long_id = format!(r#"{{"prompt_id":"{}"}}"#, "a".repeat(129));
        assert!(handle_push_payload(long_id.as_bytes()).is_err());
    }
}
