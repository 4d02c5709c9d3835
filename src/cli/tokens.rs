use anyhow::Context;
use chrono::Duration;
use serde_json::json;

use super::print_json;
use crate::config::Settings;
use crate::store::{now, Store};

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: TokensCommand,
}

#[derive(Debug, clap::Subcommand)]
enum TokensCommand {
    /// Delete expired tokens, tokens revoked more than 30 days ago and login attempts older
    /// than the rate-limit window (SESAME_RATE_LIMIT_WINDOW_MINUTES); the server also does
    /// this hourly
    Prune {
        /// Print {"tokens", "login_attempts"} (rows deleted) as JSON instead of text
        #[arg(long)]
        json: bool,
    },
}

pub fn run(args: Args, settings: &Settings) -> Result<(), anyhow::Error> {
    match args.command {
        TokensCommand::Prune { json } => prune(json, settings),
    }
}

fn prune(json: bool, settings: &Settings) -> Result<(), anyhow::Error> {
    let store = Store::open(&settings.database.target, 1).context("failed to open the database")?;
    let window = Duration::minutes(i64::from(settings.auth.rate_limit_window_minutes));
    let report = store.prune(now(), window).context("failed to prune")?;

    if json {
        print_json(&json!({ "tokens": report.tokens, "login_attempts": report.login_attempts }));
    } else {
        println!(
            "Pruned {} expired or revoked tokens and {} old login attempts",
            report.tokens, report.login_attempts
        );
    }
    Ok(())
}
