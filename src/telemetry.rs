//! Logging through `tracing`, to stderr.
//!
//! Policy: log starts, stops, every request (method, path, status, duration, request id and
//! user id when known) and every error that is caught and not passed on. Never log a
//! password, a token, a digest, a password hash or a username.

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

/// Installs the global subscriber. `filter` uses `EnvFilter` syntax (such as `info` or
/// `sesame=debug,actix_web=warn`); `default` applies when it is `None`.
pub fn init(filter: Option<&str>, default: &str) -> Result<(), anyhow::Error> {
    let directives = filter.unwrap_or(default);
    let filter = EnvFilter::try_new(directives).map_err(|error| {
        anyhow::anyhow!("invalid SESAME_LOG '{directives}': {error}; use a level such as info or debug")
    })?;

    // A second call (as in tests that run several commands in one process) keeps the first
    // subscriber.
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_target(false)
        .try_init();
    Ok(())
}
