//! What every handler shares.

use std::sync::Arc;

use sqlx::SqlitePool;

use crate::config::Config;
use crate::hub::Hub;
use crate::keys::ServerKeys;
use crate::notify::Notifier;
use crate::prompts::Waiters;

/// The server's shared state, cheap to clone into handlers.
#[derive(Clone)]
pub struct AppState {
    /// The database, for reads.
    pub db: SqlitePool,
    /// The database's single write connection ([`crate::db::Pools`]): every
    /// write goes through it.
    pub writer: SqlitePool,
    /// The configuration in force.
    pub config: Arc<Config>,
    /// The server's signing key and data key.
    pub keys: Arc<ServerKeys>,
    /// Open device streams.
    pub hub: Arc<Hub>,
    /// Push-service wake-ups.
    pub notifier: Arc<dyn Notifier>,
    /// RP long-polls waiting for prompt outcomes.
    pub waiters: Arc<Waiters>,
}
