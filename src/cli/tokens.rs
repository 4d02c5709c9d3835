use anyhow::Context;
use chrono::Duration;
use serde_json::{json, Value};

use super::{
    counted, find_user_id, format_table, format_time, json_time, open_store, parse_username_option, print_json,
    write_stdout, UsageError,
};
use crate::auth::PlainToken;
use crate::config::{Settings, MAX_TOKEN_EXPIRY_MINUTES};
use crate::store::models::TokenInfo;
use crate::store::{now, Access};
use crate::title::{parse_title, TitleError, MAX_TITLE_CHARS};

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: TokensCommand,
}

#[derive(Debug, clap::Subcommand)]
enum TokensCommand {
    /// List a user's tokens, newest first, revoked and expired ones included until pruned;
    /// never shows a token or its digest
    List(ListArgs),
    /// Create a token for a user and print it once
    Create(CreateArgs),
    /// Delete expired tokens, tokens revoked more than 30 days ago and login attempts older
    /// than the rate-limit window (SESAME_RATE_LIMIT_WINDOW_MINUTES); the server also does
    /// this hourly
    Prune {
        /// Print {"tokens", "login_attempts"} (rows deleted) as JSON instead of text
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, clap::Args)]
struct ListArgs {
    /// User whose tokens to list, in any letter case
    #[arg(long, visible_alias = "email", value_name = "NAME")]
    username: String,

    /// Print a JSON array of {"token_id", "title", "created_at", "expires_at", "last_used_at",
    /// "revoked"} instead of a table
    #[arg(long)]
    json: bool,
}

#[derive(Debug, clap::Args)]
struct CreateArgs {
    /// User who owns the new token, in any letter case
    #[arg(long, visible_alias = "email", value_name = "NAME")]
    username: String,

    /// Label shown by `sesame tokens list`, 1 to 255 characters
    #[arg(long, value_name = "TITLE")]
    title: Option<String>,

    /// Lifetime of the token in minutes, from 1 to 52560000 (100 years)
    /// [default: SESAME_TOKEN_EXPIRY, which defaults to 525600, one year]
    #[arg(long, value_name = "MINUTES", value_parser = clap::value_parser!(u32).range(1..=i64::from(MAX_TOKEN_EXPIRY_MINUTES)))]
    expires_in: Option<u32>,

    /// Print {"token", "token_id", "user_id", "username", "title", "created_at", "expires_at",
    /// "revoked_oldest"} as JSON instead of the token alone
    #[arg(long)]
    json: bool,
}

pub fn run(args: Args, settings: &Settings) -> Result<(), anyhow::Error> {
    match args.command {
        TokensCommand::List(args) => list(args, settings),
        TokensCommand::Create(args) => create(args, settings),
        TokensCommand::Prune { json } => prune(json, settings),
    }
}

fn list(args: ListArgs, settings: &Settings) -> Result<(), anyhow::Error> {
    let username = parse_username_option(&args.username)?;
    let store = open_store(settings)?;
    let user_id = find_user_id(&store, &username)?;
    let tokens = store
        .with_user(&user_id, Access::Read, |tenant| tenant.list_tokens())
        .with_context(|| format!("failed to list the tokens of user '{}'", username.as_str()))?;

    if args.json {
        let array: Vec<Value> = tokens.iter().map(token_json).collect();
        print_json(&Value::Array(array));
        return Ok(());
    }

    if tokens.is_empty() {
        println!("User '{}' has no tokens", username.as_str());
        return Ok(());
    }
    let checked_at = now();
    let rows: Vec<Vec<String>> = tokens
        .iter()
        .map(|token| {
            let status = if token.revoked {
                "revoked"
            } else if token.expires_at <= checked_at {
                "expired"
            } else {
                "live"
            };
            vec![
                token.token_id.clone(),
                token.title.clone().unwrap_or_else(|| "-".to_string()),
                format_time(token.created_at),
                format_time(token.expires_at),
                token.last_used_at.map_or_else(|| "-".to_string(), format_time),
                status.to_string(),
            ]
        })
        .collect();
    let header = [
        "TOKEN_ID",
        "TITLE",
        "CREATED_AT",
        "EXPIRES_AT",
        "LAST_USED_AT",
        "STATUS",
    ];
    write_stdout(format_table(&header, &rows).as_bytes())
}

/// Converts a token to the JSON object that `GET /api/tokens` lists: every field except the
/// token and its digest.
fn token_json(token: &TokenInfo) -> Value {
    json!({
        "token_id": token.token_id,
        "title": token.title,
        "created_at": json_time(token.created_at),
        "expires_at": json_time(token.expires_at),
        "last_used_at": token.last_used_at.map(json_time),
        "revoked": token.revoked,
    })
}

/// Creates a token and prints it once. Like a login, it revokes the user's oldest live tokens
/// when the user would otherwise hold more than SESAME_MAX_TOKENS_PER_USER.
fn create(args: CreateArgs, settings: &Settings) -> Result<(), anyhow::Error> {
    let username = parse_username_option(&args.username)?;
    let title = args.title.as_deref().map(validate_title).transpose()?;
    let lifetime_minutes = args.expires_in.unwrap_or(settings.auth.token_expiry_minutes);

    let store = open_store(settings)?;
    let user_id = find_user_id(&store, &username)?;

    let token = PlainToken::generate();
    let created_at = now();
    let expires_at = created_at + Duration::minutes(i64::from(lifetime_minutes));
    let max_live = settings.auth.max_tokens_per_user;
    let issued = store
        .with_user(&user_id, Access::Write, |tenant| {
            tenant.issue_token(&token.digest(), title, created_at, expires_at, max_live)
        })
        .with_context(|| format!("failed to create a token for user '{}'", username.as_str()))?;
    tracing::info!(%user_id, token_id = %issued.row.token_id, revoked_for_cap = issued.revoked_for_cap, "token created");

    if args.json {
        print_json(&json!({
            "token": token.expose(),
            "token_id": issued.row.token_id,
            "user_id": user_id,
            "username": username.as_str(),
            "title": issued.row.title,
            "created_at": json_time(issued.row.created_at),
            "expires_at": json_time(issued.row.expires_at),
            "revoked_oldest": issued.revoked_for_cap,
        }));
    } else {
        println!("{}", token.expose());
        eprintln!(
            "Created token {} for user '{}', valid until {}. It is shown only this once, so store it now.",
            issued.row.token_id,
            username.as_str(),
            format_time(issued.row.expires_at)
        );
    }
    if issued.revoked_for_cap > 0 {
        eprintln!(
            "note: revoked the oldest {} of user '{}' to stay within SESAME_MAX_TOKENS_PER_USER ({max_live})",
            counted(issued.revoked_for_cap as u64, "live token"),
            username.as_str()
        );
    }
    Ok(())
}

/// Checks a token title as the HTTP API does: 1 to 255 characters after trimming and no
/// control characters. Returns the trimmed title.
fn validate_title(raw: &str) -> Result<String, UsageError> {
    parse_title(raw).map_err(|error| {
        let problem = match error {
            TitleError::Empty => "it must not be empty; leave --title out for no title".to_string(),
            TitleError::TooLong => format!("it must be at most {MAX_TITLE_CHARS} characters"),
            TitleError::ControlCharacter => "it must not contain control characters".to_string(),
        };
        UsageError(format!("invalid --title '{}': {problem}", raw.escape_debug()))
    })
}

fn prune(json: bool, settings: &Settings) -> Result<(), anyhow::Error> {
    let store = open_store(settings)?;
    let window = Duration::minutes(i64::from(settings.auth.rate_limit_window_minutes));
    let report = store.prune(now(), window).context("failed to prune")?;

    if json {
        print_json(&json!({ "tokens": report.tokens, "login_attempts": report.login_attempts }));
    } else {
        println!(
            "Pruned {} (expired or revoked) and {}",
            counted(report.tokens, "token"),
            counted(report.login_attempts, "old login attempt")
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn title_is_trimmed_and_checked() {
        assert_eq!(validate_title("  deploy bot ").unwrap(), "deploy bot");
        assert!(validate_title("   ").is_err());
        assert!(validate_title(&"t".repeat(255)).is_ok());
        assert!(validate_title(&"t".repeat(256)).is_err());
        assert!(validate_title("a\u{7}b").is_err());
    }
}
