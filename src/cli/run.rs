use std::io::Write;

use anyhow::Context;

use crate::auth::PasswordHasher;
use crate::config::Settings;
use crate::http::{self, AppState};
use crate::store::Store;

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
    };

    let server = settings.server.clone();
    actix_web::rt::System::new().block_on(http::serve(listener, state, &server, |url| {
        println!("Open Sesame is running at {url}");
        let _ = std::io::stdout().flush();
    }))
}
