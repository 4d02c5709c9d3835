//! The command-line interface: one module per command, each with its options and a `run`.

mod completions;
mod create_user;
mod import_users;
mod migrate;
mod prompt;
mod revoke_tokens;
mod run;
mod tokens;
mod users;

use std::io::{IsTerminal, Write};

use anyhow::Context;
use chrono::{DateTime, NaiveDateTime, Utc};
use clap::{Parser, Subcommand};

use crate::auth::Username;
use crate::config::{ConfigError, Overrides, Settings};
use crate::store::{AdminStore, Store, StoreError};

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
    /// List, create and prune tokens
    Tokens(tokens::Args),
    /// List and delete users, and change their passwords
    Users(users::Args),
    /// Create users in bulk from a CSV or JSON lines file
    ImportUsers(import_users::Args),
    /// Print a shell completion script (bash, zsh or fish) on stdout
    Completions(completions::Args),
}

/// A mistake in how the command was called; it exits with status 2.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(pub String);

/// Loads the settings and runs the command.
pub fn execute(cli: Cli) -> Result<(), anyhow::Error> {
    // Completions need no settings, so a broken configuration cannot stop a shell setup.
    if let Command::Completions(args) = &cli.command {
        return completions::run(args);
    }

    let mut overrides = Overrides {
        database_url: cli.database_url.clone(),
        ..Overrides::default()
    };
    if let Command::Run(args) = &cli.command {
        overrides.host = args.host.clone();
        overrides.port = args.port;
    }
    let settings = Settings::load(&overrides)?;

    // The server logs every request; the admin commands keep stderr for warnings and errors
    // unless SESAME_LOG sets a more verbose filter.
    let default_filter = if matches!(cli.command, Command::Run(_)) {
        "info"
    } else {
        "warn"
    };
    crate::telemetry::init(settings.log_filter.as_deref(), default_filter)
        .map_err(|error| UsageError(error.to_string()))?;

    match cli.command {
        Command::CreateUser(args) => create_user::run(args, &settings),
        Command::Run(args) => run::run(args, &settings),
        Command::RevokeTokens(args) => revoke_tokens::run(args, &settings),
        Command::Migrate(args) => migrate::run(args, &settings),
        Command::Tokens(args) => tokens::run(args, &settings),
        Command::Users(args) => users::run(args, &settings),
        Command::ImportUsers(args) => import_users::run(args, &settings),
        Command::Completions(_) => unreachable!("handled before the settings are loaded"),
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

/// Writes text to stdout. A reader that closed the pipe early, as `| head` does, ends the
/// output without an error.
fn write_stdout(text: &[u8]) -> Result<(), anyhow::Error> {
    let mut stdout = std::io::stdout().lock();
    match stdout.write_all(text).and_then(|()| stdout.flush()) {
        Err(error) if error.kind() != std::io::ErrorKind::BrokenPipe => {
            Err(anyhow::anyhow!("failed to write to standard output: {error}"))
        }
        _ => Ok(()),
    }
}

/// Parses the value of `--username`; an invalid one is a usage error that shows it.
fn parse_username_option(raw: &str) -> Result<Username, UsageError> {
    Username::parse(raw).map_err(|error| UsageError(format!("invalid --username '{}': {error}", raw.escape_debug())))
}

/// Opens the database of the per-user commands. On PostgreSQL this is the restricted role,
/// and [`Store::with_user`] makes one user the tenant of each transaction.
fn open_store(settings: &Settings) -> Result<Store, anyhow::Error> {
    let target = &settings.database.target;
    Store::open(target, 1).with_context(|| format!("failed to open the database {}", target.redacted()))
}

/// Opens the database of the commands that work across users, with the admin URL
/// (SESAME_DATABASE_ADMIN_URL). A PostgreSQL role that row-level security confines to one
/// user is a configuration error (exit 2).
fn open_admin_store(settings: &Settings) -> Result<AdminStore, anyhow::Error> {
    let target = &settings.database.admin_target;
    match AdminStore::open(target) {
        Ok(store) => Ok(store),
        Err(StoreError::Misconfigured(message)) => Err(UsageError(message).into()),
        Err(error) => {
            Err(anyhow::Error::new(error).context(format!("failed to open the database {}", target.redacted())))
        }
    }
}

/// Returns the user_id of `username`; an unknown user is a failed operation (exit 1).
fn find_user_id(store: &Store, username: &Username) -> Result<String, anyhow::Error> {
    match store
        .find_login(username)
        .with_context(|| format!("failed to look up user '{}'", username.as_str()))?
    {
        Some(login) => Ok(login.user_id),
        None => anyhow::bail!(
            "user '{}' not found; check the spelling or run `sesame users list`",
            username.as_str()
        ),
    }
}

/// Formats a stored UTC time for a table: RFC 3339 to the second.
fn format_time(time: NaiveDateTime) -> String {
    time.format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// Converts a stored UTC time for JSON output, which serializes it as RFC 3339 with
/// microseconds, as the HTTP API does.
fn json_time(time: NaiveDateTime) -> DateTime<Utc> {
    DateTime::from_naive_utc_and_offset(time, Utc)
}

/// Formats a count with its noun, adding an `s` unless the count is 1.
fn counted(count: u64, noun: &str) -> String {
    if count == 1 {
        format!("1 {noun}")
    } else {
        format!("{count} {noun}s")
    }
}

/// Formats a header and rows as lines of columns separated by two spaces, each column as
/// wide as its widest cell in characters. The last column is not padded.
fn format_table(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = header.iter().map(|cell| cell.chars().count()).collect();
    for row in rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }

    let format_row = |cells: &mut dyn Iterator<Item = &str>| {
        let padded: Vec<String> = cells
            .zip(&widths)
            .map(|(cell, &width)| format!("{cell:<width$}"))
            .collect();
        padded.join("  ").trim_end().to_string()
    };

    let mut table = format_row(&mut header.iter().copied());
    table.push('\n');
    for row in rows {
        table.push_str(&format_row(&mut row.iter().map(String::as_str)));
        table.push('\n');
    }
    table
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
    fn table_pads_columns_by_characters() {
        let rows = vec![
            vec!["élise".to_string(), "x".to_string(), "1".to_string()],
            vec!["bo".to_string(), "longer".to_string(), "12".to_string()],
        ];
        let table = format_table(&["NAME", "ID", "N"], &rows);
        assert_eq!(table, "NAME   ID      N\nélise  x       1\nbo     longer  12\n");
    }

    #[test]
    fn counted_adds_plural_s() {
        assert_eq!(counted(0, "token"), "0 tokens");
        assert_eq!(counted(1, "token"), "1 token");
        assert_eq!(counted(2, "token"), "2 tokens");
    }

    #[test]
    fn usage_errors_exit_2() {
        assert_eq!(exit_code(&anyhow::Error::new(UsageError("x".into()))), 2);
        assert_eq!(exit_code(&anyhow::anyhow!("failed")), 1);
    }
}
