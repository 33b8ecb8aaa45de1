//! The SQLite database: opening it durably, migrations, and the small
//! helpers every query module shares.
//!
//! Durability settings, and why:
//! - WAL journal: readers (device polls, RP long-polls) never wait for the
//!   writer, and a commit is one append.
//! - `synchronous = FULL`: every commit is fsynced before it is
//!   acknowledged, so a server killed with `kill -9` (or a power cut) loses
//!   nothing it has answered for — an approved prompt stays approved, a used
//!   answer stays used.
//! - `busy_timeout`: several connections share the file; a writer waits for
//!   another instead of failing.
//! - foreign keys on, so a delivery cannot point at a missing prompt.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Sqlite, SqlitePool, Transaction};

/// How long a connection waits for another's write lock before failing.
pub const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// Connections in the read pool; reads run concurrently with the writer (WAL).
pub const MAX_CONNECTIONS: u32 = 8;

/// The server's two connection pools on one database file.
///
/// SQLite allows one writer at a time, and a connection that finds the write
/// lock taken sleeps in growing steps (1, 2, 5, 10… ms) rather than queueing.
/// With several writers in one pool that sleeping put p99 prompt latency at
/// 54–84 ms under 1,000 prompts/s (docs/benchmarks.md); a pool of exactly one
/// connection for writes makes writers wait their turn in tokio instead, in
/// order, with no sleeping.
#[derive(Debug, Clone)]
pub struct Pools {
    /// For reads (and the one-off writes at start-up).
    pub read: SqlitePool,
    /// The single write connection: every transaction that writes.
    pub write: SqlitePool,
}

/// Why the database could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    /// The file could not be created or opened.
    #[error("database {path}: {reason}")]
    Open {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// A migration failed (a newer or damaged database).
    #[error("database {path}: migration failed: {reason}")]
    Migrate {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
}

/// Opens (creating if missing) the database at `path` with the durability
/// settings above and applies the migrations in `server/migrations`.
pub async fn open(path: &Path) -> Result<Pools, DbError> {
    let open_error = |reason: String| DbError::Open {
        path: path.to_path_buf(),
        reason,
    };
    create_private(path).map_err(|e| open_error(e.to_string()))?;
    let options = SqliteConnectOptions::new()
        .filename(path)
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Full)
        .busy_timeout(BUSY_TIMEOUT)
        .foreign_keys(true);
    let write = SqlitePoolOptions::new()
        .max_connections(1)
        .connect_with(options.clone())
        .await
        .map_err(|e| open_error(e.to_string()))?;
    sqlx::migrate!("./migrations")
        .run(&write)
        .await
        .map_err(|e| DbError::Migrate {
            path: path.to_path_buf(),
            reason: e.to_string(),
        })?;
    let read = SqlitePoolOptions::new()
        .max_connections(MAX_CONNECTIONS)
        .connect_with(options)
        .await
        .map_err(|e| open_error(e.to_string()))?;
    Ok(Pools { read, write })
}

/// Creates the file readable by its owner only, before SQLite creates it
/// with the default umask: it holds the server's private key and data key.
fn create_private(path: &Path) -> std::io::Result<()> {
    if path.exists() {
        return Ok(());
    }
    if let Some(parent) = path.parent()
        && !parent.as_os_str().is_empty()
    {
        std::fs::create_dir_all(parent)?;
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }
    match options.open(path) {
        Ok(_) => Ok(()),
        // Another process created it in the meantime: fine.
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(e),
    }
}

/// Starts a transaction on the write pool ([`Pools::write`]) that takes the
/// write lock at once (`BEGIN IMMEDIATE`). A plain `BEGIN` that reads and then writes can fail with
/// `SQLITE_BUSY` when another writer committed in between, whatever the busy
/// timeout; taking the lock first makes such transactions queue instead.
pub async fn begin_write(pool: &SqlitePool) -> Result<Transaction<'static, Sqlite>, sqlx::Error> {
    pool.begin_with("BEGIN IMMEDIATE").await
}

/// The current time in seconds since the Unix epoch, as stored in the
/// database.
pub fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// [`now`] as the unsigned seconds the protocol messages use.
pub fn now_u64() -> u64 {
    u64::try_from(now()).unwrap_or(0)
}
