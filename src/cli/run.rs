use std::io::Write;

use std::sync::Arc;

use anyhow::Context;
use chrono::Duration;
use tokio::sync::Semaphore;

use crate::auth::PasswordHasher;
use crate::config::Settings;
use crate::http::{self, AppState};
use crate::store::{now, Store};

/// How often the server prunes expired tokens and old login attempts.
const PRUNE_INTERVAL: std::time::Duration = std::time::Duration::from_secs(60 * 60);

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Address to listen on [env: SESAME_WEBAPP_HOST] [default: 127.0.0.1]
    #[arg(long, value_name = "HOST")]
    pub host: Option<String>,

    /// Port to listen on; 0 picks a free one [env: SESAME_WEBAPP_PORT] [default: 8000]
    #[arg(long, value_name = "PORT")]
    pub port: Option<u16>,
}

pub fn run(_args: Args, settings: &Settings) -> Result<(), anyhow::Error> {
    tracing::info!(database = %settings.database.target.redacted(), "starting");

    let store = Store::open(&settings.database.target, settings.database.pool_size)
        .with_context(|| format!("failed to open the database {}", settings.database.target.redacted()))?;
    let listener = http::bind(&settings.server)?;

    // Hash at most one password per core at a time: more would only queue inside the CPU
    // while holding 19 MiB each.
    let cores = std::thread::available_parallelism().map_or(2, usize::from);
    let state = AppState {
        store,
        hasher: PasswordHasher::new(cores),
        auth: settings.auth.clone(),
        show_web_ui: settings.server.show_web_ui,
        database_slots: Arc::new(Semaphore::new(settings.database.pool_size as usize)),
    };

    let server = settings.server.clone();
    let login_window = Duration::minutes(i64::from(settings.auth.rate_limit_window_minutes));
    let store = state.store.clone();
    actix_web::rt::System::new().block_on(async move {
        actix_web::rt::spawn(prune_periodically(store, login_window));
        http::serve(listener, state, &server, |url| {
            println!("Open Sesame is running at {url}");
            let _ = std::io::stdout().flush();
        })
        .await
    })
}

/// Prunes expired and long-revoked tokens and old login attempts at start-up and then every
/// [`PRUNE_INTERVAL`]. Expired tokens are rejected on use whether or not they were pruned.
async fn prune_periodically(store: Store, login_window: Duration) {
    let mut ticks = actix_web::rt::time::interval(PRUNE_INTERVAL);
    loop {
        ticks.tick().await;
        let store = store.clone();
        match actix_web::web::block(move || store.prune(now(), login_window)).await {
            Ok(Ok(report)) if report.tokens + report.login_attempts > 0 => {
                tracing::info!(
                    tokens = report.tokens,
                    login_attempts = report.login_attempts,
                    "pruned old rows"
                );
            }
            Ok(Ok(_)) => {}
            Ok(Err(error)) => tracing::warn!(%error, "pruning failed; will retry at the next interval"),
            Err(error) => tracing::error!(%error, "pruning task failed"),
        }
    }
}
