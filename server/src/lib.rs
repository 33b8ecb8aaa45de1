#![doc = include_str!("../README.md")]

pub mod config;
pub mod db;
pub mod device;
pub mod error;
pub mod handoff;
pub mod hub;
pub mod keys;
pub mod mailbox;
pub mod notify;
pub mod prompts;
pub mod rp;
pub mod serve;
pub mod state;
pub mod stream;
pub mod totp;

pub use error::ApiError;
pub use state::AppState;

use axum::Router;
use axum::extract::DefaultBodyLimit;

/// The largest request body accepted (`docs/push-protocol.md` §7).
pub const MAX_BODY: usize = 16 * 1024;

/// Every HTTP route of the server.
pub fn app(state: AppState) -> Router {
    Router::new()
        .merge(rp::router())
        .merge(device::router())
        .merge(handoff::router())
        .merge(totp::router())
        .merge(mailbox::router())
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .with_state(state)
}
