//! TOTP verification for relying parties (`docs/push-protocol.md` §10.1).
//!
//! The RP enrolls a user (the server makes a fresh 160-bit secret and shows
//! it as an otpauth URI and QR code), then hands each code the user types to
//! `verify`. The rules (RFC 6238 §5.2 and §6):
//!
//! - a code is accepted for the time step at the user's recorded drift and
//!   one step either side ([`WINDOW`]);
//! - each step is accepted at most once: the last accepted step is stored,
//!   and it and every earlier step are refused as replayed, so a code seen
//!   over a shoulder or phished is worthless once used;
//! - the accepted step's offset from the server's step becomes the drift;
//! - [`LOCK_AFTER`] wrong codes in a row lock verification for
//!   [`FIRST_LOCK_SECS`], doubling per further wrong code up to
//!   [`MAX_LOCK_SECS`]; a right code resets the count. With 3 steps × 10⁶
//!   codes per window this keeps an online guesser far below one success per
//!   year.
//!
//! The decision is the pure function [`decide`], with the time as an
//! argument; the handlers only load the state, call it and store what it
//! returns, all in one `BEGIN IMMEDIATE` transaction so two concurrent
//! verifications of the same code are serialized and the second sees the
//! first's step as used.
//!
//! Secrets are stored sealed with the server's data key, and no secret,
//! code or URI is ever logged or put in an error.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::{delete, post};
use axum::{Json, Router};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use image::{ExtendedColorType, ImageEncoder as _, Luma};
use qrcode::{EcLevel, QrCode};
use ring::rand::{SecureRandom as _, SystemRandom};
use serde::{Deserialize, Serialize};
use tessera_core::otp::{Algorithm, OtpGenerator, OtpKind, OtpParams};
use tessera_core::{OtpauthUri, Secret};
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

use crate::rp::{self, ApiKey};
use crate::{ApiError, AppState, db};

/// Steps accepted on each side of the expected one.
pub const WINDOW: i64 = 1;

/// The largest drift remembered, in steps (5 minutes at 30 s). Drift is
/// learned one step at a time from accepted codes; the cap keeps a series
/// of edge-of-window codes from walking the window arbitrarily far from
/// the server's clock.
pub const MAX_DRIFT: i64 = 10;

/// Wrong codes in a row before verification locks.
pub const LOCK_AFTER: u32 = 5;

/// The first lock, in seconds.
pub const FIRST_LOCK_SECS: u64 = 30;

/// The longest lock, in seconds (15 minutes).
pub const MAX_LOCK_SECS: u64 = 15 * 60;

/// The size of a fresh secret: 160 bits, RFC 4226 §4's recommendation.
pub const SECRET_BYTES: usize = 20;

/// The digit counts accepted at enrollment. Core computes 6 to 10, but
/// authenticator apps commonly show only 6 to 8.
pub const DIGITS: std::ops::RangeInclusive<u8> = 6..=8;

/// The periods accepted at enrollment, in seconds.
pub const PERIODS: std::ops::RangeInclusive<u32> = 15..=300;

/// What the server remembers between verifications of one user.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TotpState {
    /// Offset in steps of the user's authenticator from the server's clock.
    pub drift: i64,
    /// The last accepted step; it and earlier ones are refused.
    pub last_step: Option<u64>,
    /// Wrong codes in a row.
    pub failures: u32,
    /// Verification is locked until this time (seconds since the epoch);
    /// 0 when it is not locked.
    pub locked_until: u64,
}

/// The outcome of one verification.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// The code is right; `drift` is the accepted step's offset from the
    /// server's current step (now the stored drift).
    Accepted {
        /// Offset in steps.
        drift: i64,
    },
    /// The code is right but its step was already used.
    Replayed,
    /// The code is wrong.
    Invalid,
    /// Too many wrong codes: nothing was checked (or this wrong code just
    /// started the lock); try again after `retry_after` seconds.
    Locked {
        /// Seconds until verification is allowed again.
        retry_after: u64,
    },
}

/// How long verification locks after `failures` wrong codes in a row:
/// nothing before [`LOCK_AFTER`], then [`FIRST_LOCK_SECS`] doubling per
/// further failure, at most [`MAX_LOCK_SECS`].
pub fn lock_secs(failures: u32) -> u64 {
    if failures < LOCK_AFTER {
        return 0;
    }
    // 2^5 × 30 s already exceeds the cap, so larger shifts are not needed
    // (and would overflow for absurd counts).
    let doublings = (failures - LOCK_AFTER).min(6);
    (FIRST_LOCK_SECS << doublings).min(MAX_LOCK_SECS)
}

/// The steps a code may come from at `now`: the server's step moved by the
/// (capped) drift, and [`WINDOW`] steps either side; steps before the epoch
/// are left out.
pub fn candidate_steps(now: u64, period: u32, drift: i64) -> Vec<u64> {
    let current = i128::from(now / u64::from(period.max(1)));
    let center = current + i128::from(drift.clamp(-MAX_DRIFT, MAX_DRIFT));
    (-WINDOW..=WINDOW)
        .filter_map(|offset| u64::try_from(center + i128::from(offset)).ok())
        .collect()
}

/// Decides a verification at `now` (seconds since the epoch) and returns
/// the verdict and the state to store.
///
/// `matches(step)` says whether the presented code is the code of `step`.
/// Every candidate step is tried, so the time taken does not depend on
/// which one matched.
pub fn decide(
    state: &TotpState,
    now: u64,
    period: u32,
    mut matches: impl FnMut(u64) -> bool,
) -> (Verdict, TotpState) {
    if now < state.locked_until {
        return (
            Verdict::Locked {
                retry_after: state.locked_until - now,
            },
            *state,
        );
    }
    let current = now / u64::from(period.max(1));
    let mut accepted = None;
    let mut replayed = false;
    for step in candidate_steps(now, period, state.drift) {
        if !matches(step) {
            continue;
        }
        if state.last_step.is_some_and(|last| step <= last) {
            replayed = true;
        } else if accepted.is_none() {
            accepted = Some(step);
        }
    }
    if let Some(step) = accepted {
        let offset = i128::from(step) - i128::from(current);
        let drift = i64::try_from(offset)
            .unwrap_or(0)
            .clamp(-MAX_DRIFT, MAX_DRIFT);
        let next = TotpState {
            drift,
            last_step: Some(step),
            failures: 0,
            locked_until: 0,
        };
        return (Verdict::Accepted { drift }, next);
    }
    if replayed {
        // A used code is not a guess: it neither counts as a failure nor
        // resets the count.
        return (Verdict::Replayed, *state);
    }
    let failures = state.failures.saturating_add(1);
    let lock = lock_secs(failures);
    let next = TotpState {
        failures,
        locked_until: if lock > 0 { now + lock } else { 0 },
        ..*state
    };
    if lock > 0 {
        (Verdict::Locked { retry_after: lock }, next)
    } else {
        (Verdict::Invalid, next)
    }
}

/// Compares two byte strings without an early exit on the first
/// difference, so timing does not say how much of a code was right.
fn same_code(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let difference = a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y));
    std::hint::black_box(difference) == 0
}

/// The TOTP routes of §10.1.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/rp/users/{user}/totp/enroll", post(enroll))
        .route("/v1/rp/users/{user}/totp/verify", post(verify))
        .route("/v1/rp/users/{user}/totp", delete(disable))
}

/// The optional enrollment body.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct EnrollRequest {
    account: Option<String>,
    digits: Option<u8>,
    period: Option<u32>,
    algorithm: Option<String>,
}

/// The enrollment answer.
#[derive(Serialize)]
struct EnrollResponse<'a> {
    otpauth_uri: &'a str,
    qr_png: &'a str,
    qr_svg: &'a str,
}

/// The verification body; the code is wiped when it is dropped.
#[derive(Deserialize, Zeroize, ZeroizeOnDrop)]
#[serde(deny_unknown_fields)]
struct VerifyRequest {
    code: String,
}

/// `POST /v1/rp/users/{user}/totp/enroll`: a fresh secret, replacing any
/// earlier enrollment (and its drift, replay and lockout state).
async fn enroll(
    _key: ApiKey,
    State(state): State<AppState>,
    Path(user): Path<String>,
    body: Bytes,
) -> Result<impl IntoResponse, ApiError> {
    rp::check_user(&user)?;
    let request: EnrollRequest = if body.iter().all(u8::is_ascii_whitespace) {
        EnrollRequest::default()
    } else {
        rp::parse_json(&body)?
    };
    let params = enrollment_params(&request)?;
    let account = request.account.unwrap_or_else(|| user.clone());
    rp::check_text(&account, "account", rp::MAX_TEXT_CHARS)?;

    let mut bytes = Zeroizing::new(vec![0u8; SECRET_BYTES]);
    SystemRandom::new()
        .fill(&mut bytes)
        .map_err(|_| ApiError::internal("the system random generator failed"))?;
    let secret = Secret::from_bytes(bytes.to_vec()).map_err(ApiError::internal)?;
    let sealed = state.keys.seal(secret.expose())?;

    let uri = OtpauthUri {
        params,
        secret,
        issuer: state.config.issuer.clone(),
        label: account,
        extra: Vec::new(),
    }
    .to_uri();
    let (qr_png, qr_svg) = render_qr(&uri)?;

    sqlx::query(
        "INSERT INTO totp (user, secret, algorithm, digits, period, drift, last_step, \
                           failures, locked_until, created_at) \
         VALUES (?, ?, ?, ?, ?, 0, NULL, 0, 0, ?) \
         ON CONFLICT (user) DO UPDATE SET secret = excluded.secret, \
             algorithm = excluded.algorithm, digits = excluded.digits, \
             period = excluded.period, drift = 0, last_step = NULL, failures = 0, \
             locked_until = 0, created_at = excluded.created_at",
    )
    .bind(&user)
    .bind(sealed)
    .bind(params.algorithm.as_str())
    .bind(i64::from(params.digits))
    .bind(i64::from(params.period))
    .bind(db::now())
    .execute(&state.writer)
    .await?;
    tracing::info!(%user, "TOTP enrolled");
    let body = serde_json::to_vec(&EnrollResponse {
        otpauth_uri: &uri,
        qr_png: &qr_png,
        qr_svg: &qr_svg,
    })
    .map_err(ApiError::internal)?;
    Ok((
        StatusCode::CREATED,
        [(header::CONTENT_TYPE, "application/json")],
        body,
    ))
}

/// The OTP parameters an enrollment asks for, checked.
fn enrollment_params(request: &EnrollRequest) -> Result<OtpParams, ApiError> {
    let mut params = OtpParams::totp();
    if let Some(digits) = request.digits {
        if !DIGITS.contains(&digits) {
            return Err(ApiError::BadRequest(format!(
                "digits must be {} to {}",
                DIGITS.start(),
                DIGITS.end()
            )));
        }
        params.digits = digits;
    }
    if let Some(period) = request.period {
        if !PERIODS.contains(&period) {
            return Err(ApiError::BadRequest(format!(
                "period must be {} to {} seconds",
                PERIODS.start(),
                PERIODS.end()
            )));
        }
        params.period = period;
    }
    if let Some(name) = &request.algorithm {
        params.algorithm = parse_algorithm(name).ok_or_else(|| {
            ApiError::BadRequest("algorithm must be SHA1, SHA256 or SHA512".to_string())
        })?;
    }
    params
        .validate()
        .map_err(|e| ApiError::BadRequest(e.to_string()))?;
    Ok(params)
}

/// `SHA1`, `SHA256` or `SHA512`, any case.
fn parse_algorithm(name: &str) -> Option<Algorithm> {
    [Algorithm::Sha1, Algorithm::Sha256, Algorithm::Sha512]
        .into_iter()
        .find(|a| a.as_str().eq_ignore_ascii_case(name))
}

/// The QR code of `uri` as base64 PNG and as SVG text. Both hold the secret,
/// so the buffers are wiped when dropped.
fn render_qr(uri: &str) -> Result<(Zeroizing<String>, Zeroizing<String>), ApiError> {
    let code = QrCode::with_error_correction_level(uri.as_bytes(), EcLevel::M)
        .map_err(|e| ApiError::internal(format!("QR code: {e}")))?;
    let image = code.render::<Luma<u8>>().min_dimensions(256, 256).build();
    let (width, height) = image.dimensions();
    let pixels = Zeroizing::new(image.into_raw());
    let mut png = Zeroizing::new(Vec::new());
    image::codecs::png::PngEncoder::new(&mut *png)
        .write_image(&pixels, width, height, ExtendedColorType::L8)
        .map_err(|e| ApiError::internal(format!("QR PNG: {e}")))?;
    let svg = code
        .render::<qrcode::render::svg::Color>()
        .min_dimensions(256, 256)
        .build();
    Ok((Zeroizing::new(BASE64.encode(&*png)), Zeroizing::new(svg)))
}

/// A `totp` row as read for verification: the sealed secret, algorithm,
/// digits, period, drift, last step, failures and lock time.
type StoredRow = (Vec<u8>, String, i64, i64, i64, Option<i64>, i64, i64);

/// `POST /v1/rp/users/{user}/totp/verify`.
async fn verify(
    _key: ApiKey,
    State(state): State<AppState>,
    Path(user): Path<String>,
    body: Bytes,
) -> Result<Json<serde_json::Value>, ApiError> {
    rp::check_user(&user)?;
    let request: VerifyRequest = serde_json::from_slice(&body).map_err(|_| {
        // serde's message could quote the code; say only what is expected.
        ApiError::BadRequest("the body must be {\"code\": \"<digits>\"}".to_string())
    })?;
    // Apps often show a code as "123 456"; users paste it that way.
    let code: Zeroizing<String> = Zeroizing::new(
        request
            .code
            .chars()
            .filter(|c| !c.is_whitespace())
            .collect(),
    );

    // BEGIN IMMEDIATE: the row is read under the write lock, so a second
    // verification of the same code waits and then sees the step used.
    let mut tx = db::begin_write(&state.writer).await?;
    let row: Option<StoredRow> = sqlx::query_as(
        "SELECT secret, algorithm, digits, period, drift, last_step, failures, locked_until \
         FROM totp WHERE user = ?",
    )
    .bind(&user)
    .fetch_optional(&mut *tx)
    .await?;
    let Some((sealed, algorithm, digits, period, drift, last_step, failures, locked_until)) = row
    else {
        return Err(ApiError::NotFound("TOTP enrollment"));
    };
    let stored = |what: &str| ApiError::internal(format!("stored TOTP {what} is not valid"));
    let params = OtpParams {
        kind: OtpKind::Totp,
        algorithm: parse_algorithm(&algorithm).ok_or_else(|| stored("algorithm"))?,
        digits: u8::try_from(digits).map_err(|_| stored("digits"))?,
        period: u32::try_from(period).map_err(|_| stored("period"))?,
        counter: 0,
    };
    let before = TotpState {
        drift,
        last_step: last_step.and_then(|s| u64::try_from(s).ok()),
        failures: u32::try_from(failures).unwrap_or(u32::MAX),
        locked_until: u64::try_from(locked_until).unwrap_or(0),
    };
    let secret =
        Secret::from_bytes(state.keys.open(&sealed)?.to_vec()).map_err(|_| stored("secret"))?;
    let generator = OtpGenerator::new(params, &secret).map_err(|_| stored("parameters"))?;
    // A code of the wrong shape cannot match any step; it still counts as a
    // wrong code, like any other guess.
    let well_formed =
        code.len() == usize::from(params.digits) && code.bytes().all(|b| b.is_ascii_digit());
    let (verdict, after) = decide(&before, db::now_u64(), params.period, |step| {
        let expected = Zeroizing::new(generator.code_for_counter(step));
        well_formed & same_code(expected.as_bytes(), code.as_bytes())
    });
    if after != before {
        sqlx::query(
            "UPDATE totp SET drift = ?, last_step = ?, failures = ?, locked_until = ? \
             WHERE user = ?",
        )
        .bind(after.drift)
        .bind(after.last_step.and_then(|s| i64::try_from(s).ok()))
        .bind(i64::from(after.failures))
        .bind(i64::try_from(after.locked_until).unwrap_or(i64::MAX))
        .bind(&user)
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    match verdict {
        Verdict::Accepted { drift } => Ok(Json(serde_json::json!({"valid": true, "drift": drift}))),
        Verdict::Replayed => Err(ApiError::TotpReplayed),
        Verdict::Invalid => Err(ApiError::TotpInvalid),
        Verdict::Locked { retry_after } => Err(ApiError::TotpLocked { retry_after }),
    }
}

/// `DELETE /v1/rp/users/{user}/totp`.
async fn disable(
    _key: ApiKey,
    State(state): State<AppState>,
    Path(user): Path<String>,
) -> Result<Json<serde_json::Value>, ApiError> {
    rp::check_user(&user)?;
    let done = sqlx::query("DELETE FROM totp WHERE user = ?")
        .bind(&user)
        .execute(&state.writer)
        .await?;
    if done.rows_affected() == 0 {
        return Err(ApiError::NotFound("TOTP enrollment"));
    }
    tracing::info!(%user, "TOTP disabled");
    Ok(Json(serde_json::json!({"disabled": true})))
}

#[cfg(test)]
mod tests {
    use super::*;

    const P: u32 = 30;
    /// A time in the middle of step 1000.
    const NOW: u64 = 1000 * 30 + 15;

    /// A `matches` that accepts exactly `step`.
    fn only(step: u64) -> impl FnMut(u64) -> bool {
        move |s| s == step
    }

    #[test]
    fn window_is_one_step_either_side_of_the_drift() {
        assert_eq!(candidate_steps(NOW, P, 0), vec![999, 1000, 1001]);
        assert_eq!(candidate_steps(NOW, P, 2), vec![1001, 1002, 1003]);
        assert_eq!(candidate_steps(NOW, P, -1), vec![998, 999, 1000]);
        // No negative steps near the epoch.
        assert_eq!(candidate_steps(5, P, 0), vec![0, 1]);
        // Drift beyond the cap is treated as the cap.
        assert_eq!(candidate_steps(NOW, P, 1000), vec![1009, 1010, 1011]);
    }

    #[test]
    fn current_previous_and_next_steps_are_accepted_with_their_drift() {
        let state = TotpState::default();
        for (step, drift) in [(1000, 0), (999, -1), (1001, 1)] {
            let (verdict, after) = decide(&state, NOW, P, only(step));
            assert_eq!(verdict, Verdict::Accepted { drift });
            assert_eq!(after.drift, drift);
            assert_eq!(after.last_step, Some(step));
        }
    }

    #[test]
    fn two_steps_off_is_invalid() {
        let state = TotpState::default();
        for step in [998, 1002] {
            let (verdict, after) = decide(&state, NOW, P, only(step));
            assert_eq!(verdict, Verdict::Invalid);
            assert_eq!(after.failures, 1);
            assert_eq!(after.last_step, None);
        }
    }

    #[test]
    fn recorded_drift_moves_the_window() {
        // The authenticator runs one step fast; its code two steps ahead of
        // the server is then only one step off the drift.
        let state = TotpState {
            drift: 1,
            ..TotpState::default()
        };
        let (verdict, after) = decide(&state, NOW, P, only(1002));
        assert_eq!(verdict, Verdict::Accepted { drift: 2 });
        assert_eq!(after.drift, 2);
        // And a code two steps behind the drift is refused.
        let (verdict, _) = decide(&state, NOW, P, only(999));
        assert_eq!(verdict, Verdict::Invalid);
    }

    #[test]
    fn each_step_is_accepted_once() {
        let (_, after) = decide(&TotpState::default(), NOW, P, only(1000));
        let (verdict, again) = decide(&after, NOW, P, only(1000));
        assert_eq!(verdict, Verdict::Replayed);
        assert_eq!(again, after, "a replay changes nothing");
        // An earlier step than the last accepted one is refused too.
        let (verdict, _) = decide(&after, NOW, P, only(999));
        assert_eq!(verdict, Verdict::Replayed);
        // The next step is fine.
        let (verdict, _) = decide(&after, NOW + 30, P, only(1001));
        assert_eq!(verdict, Verdict::Accepted { drift: 0 });
    }

    #[test]
    fn a_replay_neither_counts_nor_resets_failures() {
        let state = TotpState {
            last_step: Some(1000),
            failures: 3,
            ..TotpState::default()
        };
        let (verdict, after) = decide(&state, NOW, P, only(1000));
        assert_eq!(verdict, Verdict::Replayed);
        assert_eq!(after.failures, 3);
    }

    #[test]
    fn lock_grows_from_30_s_to_15_min() {
        assert_eq!(lock_secs(0), 0);
        assert_eq!(lock_secs(4), 0);
        assert_eq!(lock_secs(5), 30);
        assert_eq!(lock_secs(6), 60);
        assert_eq!(lock_secs(7), 120);
        assert_eq!(lock_secs(8), 240);
        assert_eq!(lock_secs(9), 480);
        assert_eq!(lock_secs(10), 900);
        assert_eq!(lock_secs(11), 900);
        assert_eq!(lock_secs(u32::MAX), 900);
    }

    #[test]
    fn five_failures_lock_and_the_lock_doubles() {
        let never = |_| false;
        let mut state = TotpState::default();
        let mut now = NOW;
        for _ in 0..4 {
            let (verdict, next) = decide(&state, now, P, never);
            assert_eq!(verdict, Verdict::Invalid);
            state = next;
        }
        let (verdict, next) = decide(&state, now, P, never);
        assert_eq!(verdict, Verdict::Locked { retry_after: 30 });
        assert_eq!(next.locked_until, now + 30);
        state = next;
        // While locked even the right code is not checked.
        now += 10;
        let (verdict, same) = decide(&state, now, P, |_| true);
        assert_eq!(verdict, Verdict::Locked { retry_after: 20 });
        assert_eq!(same, state);
        // After the lock, one more wrong code locks for twice as long.
        now = state.locked_until;
        let (verdict, next) = decide(&state, now, P, never);
        assert_eq!(verdict, Verdict::Locked { retry_after: 60 });
        state = next;
        // A right code after that lock resets everything.
        now = state.locked_until;
        let step = now / u64::from(P);
        let (verdict, next) = decide(&state, now, P, only(step));
        assert_eq!(verdict, Verdict::Accepted { drift: 0 });
        assert_eq!(next.failures, 0);
        assert_eq!(next.locked_until, 0);
    }

    #[test]
    fn success_resets_the_failure_count() {
        let state = TotpState {
            failures: 4,
            ..TotpState::default()
        };
        let (_, after) = decide(&state, NOW, P, only(1000));
        assert_eq!(after.failures, 0);
        let (verdict, _) = decide(&after, NOW, P, |_| false);
        assert_eq!(verdict, Verdict::Invalid);
    }

    #[test]
    fn codes_compare_in_full() {
        assert!(same_code(b"123456", b"123456"));
        assert!(!same_code(b"123456", b"123457"));
        assert!(!same_code(b"123456", b"12345"));
    }

    #[test]
    fn enrollment_parameters_are_checked() {
        let ok = EnrollRequest {
            digits: Some(8),
            period: Some(60),
            algorithm: Some("sha256".into()),
            ..EnrollRequest::default()
        };
        let params = enrollment_params(&ok).unwrap();
        assert_eq!(
            (params.digits, params.period, params.algorithm),
            (8, 60, Algorithm::Sha256)
        );
        let defaults = enrollment_params(&EnrollRequest::default()).unwrap();
        assert_eq!(defaults, OtpParams::totp());
        for bad in [
            EnrollRequest {
                digits: Some(5),
                ..EnrollRequest::default()
            },
            EnrollRequest {
                digits: Some(9),
                ..EnrollRequest::default()
            },
            EnrollRequest {
                period: Some(0),
                ..EnrollRequest::default()
            },
            EnrollRequest {
                algorithm: Some("MD5".into()),
                ..EnrollRequest::default()
            },
        ] {
            assert!(enrollment_params(&bad).is_err());
        }
    }

    #[test]
    fn qr_codes_hold_the_uri() {
        let uri = "otpauth://totp/Example:alice?secret=JBSWY3DPEHPK3PXP&issuer=Example";
        let (png, svg) = render_qr(uri).unwrap();
        let decoded = tessera_core::qr::decode_image(&BASE64.decode(png.as_bytes()).unwrap());
        assert_eq!(decoded.unwrap(), vec![uri.to_string()]);
        assert!(svg.contains("<svg"));
    }
}
