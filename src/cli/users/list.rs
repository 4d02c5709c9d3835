use anyhow::Context;
use serde_json::{json, Value};

use crate::cli::{format_table, format_time, json_time, open_admin_store, print_json, write_stdout};
use crate::config::Settings;
use crate::store::now;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Print a JSON array of {"user_id", "username", "created_at", "live_tokens"} instead of
    /// a table
    #[arg(long)]
    json: bool,
}

/// Prints every user in case-insensitive username order. Live tokens are those neither
/// revoked nor expired.
pub fn run(args: Args, settings: &Settings) -> Result<(), anyhow::Error> {
    let store = open_admin_store(settings)?;
    let users = store.list_users(now()).context("failed to list users")?;

    if args.json {
        let array: Vec<Value> = users
            .iter()
            .map(|summary| {
                json!({
                    "user_id": summary.user.user_id,
                    "username": summary.user.username,
                    "created_at": json_time(summary.user.created_at),
                    "live_tokens": summary.live_tokens,
                })
            })
            .collect();
        print_json(&Value::Array(array));
        return Ok(());
    }

    if users.is_empty() {
        println!("No users yet; create one with `sesame create-user` or `sesame import-users`");
        return Ok(());
    }
    let rows: Vec<Vec<String>> = users
        .iter()
        .map(|summary| {
            vec![
                summary.user.username.clone(),
                summary.user.user_id.clone(),
                format_time(summary.user.created_at),
                summary.live_tokens.to_string(),
            ]
        })
        .collect();
    write_stdout(format_table(&["USERNAME", "USER_ID", "CREATED_AT", "LIVE_TOKENS"], &rows).as_bytes())
}
