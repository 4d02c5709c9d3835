//! The command-line interface: one module per command, each with its options and a `run`.

mod create_user;
mod migrate;
mod revoke_tokens;
mod run;
mod tokens;

use std::io::IsTerminal;

use clap::{Parser, Subcommand};

use crate::config::{ConfigError, Overrides, Settings};

const AFTER_HELP: &str = "\
Configuration comes from built-in defaults, a .env file in the working directory, SESAME_*
environment variables and flags, later ones winning. Run `sesame <command> --help` for a
command's options.

Exit codes: 0 success, 1 a failed operation, 2 a usage or configuration error.";

/// Authentication and workspace backend of Open Sesame: an admin CLI and an HTTP API.
#[derive(Debug, Parser)]
#[command(name = "sesame", version, after_help = AFTER_HELP, propagate_version = true)]
pub struct Cli {
    /// Database to use: sqlite://PATH or postgres://USER:PASSWORD@HOST:PORT/DATABASE
    /// [env: SESAME_DATABASE_URL] [default: sqlite://sesame.db]
    #[arg(long, global = true, value_name = "URL")]
    pub database_url: Option<String>,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create a user (prompts for anything not given as a flag)
    CreateUser(create_user::Args),
    /// Serve the HTTP API until SIGINT or SIGTERM
    Run(run::Args),
    /// Revoke every token of a user, or one token
    RevokeTokens(revoke_tokens::Args),
    /// Apply database migrations; on PostgreSQL also create the restricted server role
    Migrate(migrate::Args),
    /// Maintain tokens
    Tokens(tokens::Args),
}

/// A mistake in how the command was called; it exits with status 2.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(pub String);

/// Loads the settings and runs the command.
pub fn execute(cli: Cli) -> Result<(), anyhow::Error> {
    let mut overrides = Overrides { database_url: cli.database_url.clone(), ..Overrides::default() };
    if let Command::Run(args) = &cli.command {
        overrides.host = args.host.clone();
        overrides.port = args.port;
    }
    let settings = Settings::load(&overrides)?;

    // The server logs every request; the admin commands keep stderr for warnings and errors
    // unless SESAME_LOG sets a more verbose filter.
    let default_filter = if matches!(cli.command, Command::Run(_)) { "info" } else { "warn" };
    crate::telemetry::init(settings.log_filter.as_deref(), default_filter)
        .map_err(|error| UsageError(error.to_string()))?;

    match cli.command {
        Command::CreateUser(args) => create_user::run(args, &settings),
        Command::Run(args) => run::run(args, &settings),
        Command::RevokeTokens(args) => revoke_tokens::run(args, &settings),
        Command::Migrate(args) => migrate::run(args, &settings),
        Command::Tokens(args) => tokens::run(args, &settings),
    }
}

/// Maps an error to the process exit status: 2 for usage and configuration errors, 1 for
/// everything else.
pub fn exit_code(error: &anyhow::Error) -> u8 {
    if error.downcast_ref::<UsageError>().is_some() || error.downcast_ref::<ConfigError>().is_some() {
        2
    } else {
        1
    }
}

/// Reads one line from standard input without its line ending.
fn read_stdin_line(what: &str) -> Result<String, anyhow::Error> {
    let mut line = String::new();
    std::io::stdin()
        .read_line(&mut line)
        .map_err(|error| anyhow::anyhow!("failed to read {what} from standard input: {error}"))?;

    let trimmed = line.strip_suffix('\n').unwrap_or(&line);
    let trimmed = trimmed.strip_suffix('\r').unwrap_or(trimmed);
    Ok(trimmed.to_string())
}

fn stdin_is_terminal() -> bool {
    std::io::stdin().is_terminal()
}

/// Prints a JSON document on stdout, for scripts.
fn print_json(value: &serde_json::Value) {
    println!("{value}");
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn command_tree_is_valid() {
        Cli::command().debug_assert();
    }

    #[test]
    fn usage_errors_exit_2() {
        assert_eq!(exit_code(&anyhow::Error::new(UsageError("x".into()))), 2);
        assert_eq!(exit_code(&anyhow::anyhow!("failed")), 1);
    }
}
