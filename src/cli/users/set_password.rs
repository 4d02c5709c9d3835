use anyhow::Context;
use serde_json::json;

use crate::auth::password::hash_password;
use crate::cli::prompt::{prompt_new_password, read_password_from_stdin};
use crate::cli::{counted, find_user_id, open_store, parse_username_option, print_json, stdin_is_terminal, UsageError};
use crate::config::Settings;
use crate::store::{now, Access, StoreError};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// User whose password to change, in any letter case
    #[arg(long, visible_alias = "email", value_name = "NAME")]
    username: String,

    /// Read the new password (8 to 1024 bytes) from the first line of standard input instead
    /// of prompting twice on the terminal (for scripts)
    #[arg(long)]
    password_stdin: bool,

    /// Keep the user's tokens valid. By default every live token is revoked, so that tokens
    /// minted with a leaked password stop working too
    #[arg(long)]
    keep_tokens: bool,

    /// Print {"user_id", "username", "revoked"} as JSON instead of text; revoked counts the
    /// tokens revoked
    #[arg(long)]
    json: bool,
}

/// Replaces a user's password hash and, unless --keep-tokens, revokes the user's tokens in
/// the same transaction.
pub fn run(args: Args, settings: &Settings) -> Result<(), anyhow::Error> {
    let username = parse_username_option(&args.username)?;
    if !args.password_stdin && !stdin_is_terminal() {
        return Err(UsageError(
            "standard input is not a terminal, so the new password cannot be prompted for; pass --password-stdin and send it as the first line"
                .to_string(),
        )
        .into());
    }

    let store = open_store(settings)?;
    let user_id = find_user_id(&store, &username)?;

    let password = if args.password_stdin {
        read_password_from_stdin()?
    } else {
        prompt_new_password()?
    };
    let password_hash = hash_password(&password);

    let revoked = match store.with_user(&user_id, Access::Write, |tenant| {
        tenant.set_password(password_hash, now(), args.keep_tokens)
    }) {
        Ok(revoked) => revoked,
        Err(StoreError::NotFound) => {
            anyhow::bail!(
                "user '{}' was deleted by another command in the meantime",
                username.as_str()
            )
        }
        Err(error) => {
            return Err(anyhow::Error::new(error))
                .context(format!("failed to change the password of user '{}'", username.as_str()))
        }
    };
    tracing::info!(%user_id, revoked, "password changed");

    if args.json {
        print_json(&json!({ "user_id": user_id, "username": username.as_str(), "revoked": revoked }));
    } else if args.keep_tokens {
        println!(
            "Changed the password of user '{}' and kept its tokens",
            username.as_str()
        );
    } else {
        println!(
            "Changed the password of user '{}' and revoked {}",
            username.as_str(),
            counted(revoked as u64, "token")
        );
    }
    Ok(())
}
