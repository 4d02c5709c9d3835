use serde_json::json;

use super::{open_store, print_json, read_stdin_line, UsageError};
use crate::auth::{PlainToken, Username};
use crate::config::Settings;
use crate::store::{now, Access, StoreError, TokenSelector};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// User whose tokens to revoke
    #[arg(long, visible_alias = "email", value_name = "NAME")]
    username: String,

    /// Revoke only this token (ses_...), or read it from standard input with -; by default
    /// every token of the user is revoked
    #[arg(long, value_name = "TOKEN")]
    token: Option<String>,

    /// Print {"username", "user_id", "revoked"} as JSON instead of text
    #[arg(long)]
    json: bool,
}

pub fn run(args: Args, settings: &Settings) -> Result<(), anyhow::Error> {
    let username = Username::parse(&args.username).map_err(|error| UsageError(format!("invalid username: {error}")))?;
    let token = match args.token.as_deref() {
        Some("-") => Some(PlainToken::from_client(read_stdin_line("the token")?.trim())),
        Some(token) if token.trim().is_empty() => {
            return Err(UsageError("--token is empty; leave it out to revoke every token".to_string()).into());
        }
        Some(token) => Some(PlainToken::from_client(token.trim())),
        None => None,
    };
    if let Some(token) = &token {
        if token.expose().is_empty() {
            return Err(UsageError("standard input is empty; send the token as its first line".to_string()).into());
        }
        if !token.is_well_formed() {
            return Err(UsageError(
                "the token is not a sesame token: tokens start with ses_ and are 47 characters long".to_string(),
            )
            .into());
        }
    }

    let store = open_store(settings)?;
    let Some(login) = store.find_login(&username)? else {
        anyhow::bail!("user '{}' not found; check the spelling", username.as_str());
    };

    let digest = token.as_ref().map(PlainToken::digest);
    let selector = digest.as_ref().map_or(TokenSelector::All, TokenSelector::Digest);
    let revoked = match store.with_user(&login.user_id, Access::Write, |tenant| {
        tenant.revoke_tokens(selector, now())
    }) {
        Ok(revoked) => revoked,
        Err(StoreError::NotFound) => {
            anyhow::bail!(
                "the token does not belong to user '{}'; check the token and the username",
                username.as_str()
            )
        }
        Err(error) => return Err(anyhow::Error::new(error).context("failed to revoke tokens")),
    };
    tracing::info!(user_id = %login.user_id, revoked, "tokens revoked");

    if args.json {
        print_json(&json!({ "username": username.as_str(), "user_id": login.user_id, "revoked": revoked }));
    } else {
        let noun = if revoked == 1 { "token" } else { "tokens" };
        println!("Revoked {revoked} {noun} of user '{}'", username.as_str());
    }
    Ok(())
}
