//! `tessera-server`: reads its settings, opens the database, loads (or
//! makes) its keys, binds, prints one line saying where it listens, and
//! serves until SIGTERM or Ctrl-C.

use std::io::{IsTerminal as _, Write as _};
use std::process::ExitCode;
use std::sync::Arc;

use clap::Parser as _;
use tessera_server::config::{Cli, Config, LogFormat};
use tessera_server::hub::Hub;
use tessera_server::keys::ServerKeys;
use tessera_server::{AppState, db, notify, prompts, rp, serve};
use tokio::net::TcpListener;
use tracing_subscriber::EnvFilter;

/// Exit status for a configuration the server cannot use.
const EXIT_CONFIG: u8 = 2;

#[tokio::main]
async fn main() -> ExitCode {
    let config = match Config::load(Cli::parse()) {
        Ok(config) => config,
        Err(e) => {
            eprintln!("tessera-server: {e}");
            return ExitCode::from(EXIT_CONFIG);
        }
    };
    init_logging(config.log_format);
    match run(config).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("tessera-server: {message}");
            ExitCode::FAILURE
        }
    }
}

fn init_logging(format: LogFormat) {
    // `RUST_LOG` overrides; by default the server's own events at info.
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn,hyper=warn"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        // Colour codes only for a person at a terminal, not in log files.
        .with_ansi(std::io::stderr().is_terminal());
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}

async fn run(mut config: Config) -> Result<(), String> {
    let pools = db::open(&config.database)
        .await
        .map_err(|e| e.to_string())?;
    let keys = ServerKeys::load_or_create(&pools.write)
        .await
        .map_err(|e| format!("server keys: {}", internal_detail(&e)))?;
    if config.api_keys.is_empty() {
        config.api_keys = rp::stored_api_keys(&pools.read)
            .await
            .map_err(|e| format!("API keys: {}", internal_detail(&e)))?;
        if config.api_keys.is_empty() {
            let key = rp::generate_api_key(&pools.write)
                .await
                .map_err(|e| format!("API keys: {}", internal_detail(&e)))?;
            config
                .api_keys
                .push_hash(tessera_server::config::ApiKeyHashes::hash(&key));
            // Shown once, on stderr (stdout carries only the listening
            // line); only its hash is stored.
            eprintln!(
                "tessera-server: no API key is configured, so this server made one. Relying parties send it as \
                 `Authorization: Bearer <key>`. It is shown only now (the database keeps just its hash):\n\n    {}\n",
                key.as_str()
            );
        }
    }
    let notifier =
        notify::build(&config.notify, keys.signing_key()).map_err(|e| format!("notify: {e}"))?;
    let listener = TcpListener::bind(config.listen)
        .await
        .map_err(|e| format!("listen {}: {e}", config.listen))?;
    let bound = listener.local_addr().map_err(|e| format!("listen: {e}"))?;
    config
        .resolve_public_url(bound)
        .map_err(|e| e.to_string())?;
    tracing::info!(
        public_url = %config.public_url,
        database = %config.database.display(),
        server_key = keys.thumbprint(),
        "starting"
    );
    let state = AppState {
        db: pools.read.clone(),
        writer: pools.write.clone(),
        config: Arc::new(config),
        keys: Arc::new(keys),
        hub: Arc::new(Hub::new()),
        notifier,
        waiters: Arc::default(),
    };
    let sweeper = prompts::spawn_sweeper(state.clone());

    // Tests and scripts read this line to learn the port: exactly one line
    // on stdout, flushed before the first request can arrive.
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "tessera-server listening on http://{bound}").map_err(|e| e.to_string())?;
    stdout.flush().map_err(|e| e.to_string())?;
    drop(stdout);

    let result = tokio::select! {
        served = serve::serve(listener, state) => served.map_err(|e| format!("serving: {e}")),
        () = shutdown_signal() => {
            tracing::info!("shutting down");
            Ok(())
        }
    };
    sweeper.abort();
    // Closing the pools checkpoints the WAL cleanly.
    pools.read.close().await;
    pools.write.close().await;
    result
}

/// The detail of an internal error for the operator's console (never sent
/// to a client).
fn internal_detail(error: &tessera_server::ApiError) -> String {
    match error {
        tessera_server::ApiError::Internal(detail) => detail.clone(),
        other => other.to_string(),
    }
}

/// Resolves on Ctrl-C or (on Unix) SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = terminate => {}
    }
}
