use serde_json::json;

use super::prompt::{prompt_new_password, read_password_from_stdin};
use super::{open_store, print_json, read_stdin_line, stdin_is_terminal, UsageError};
use crate::auth::password::hash_password;
use crate::auth::Username;
use crate::config::Settings;
use crate::store::{now, StoreError};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Username of the new user, 1 to 255 characters; an email address works. Prompted for
    /// when missing
    #[arg(long, visible_alias = "email", value_name = "NAME")]
    username: Option<String>,

    /// Read the password (8 to 1024 bytes) from the first line of standard input instead of
    /// prompting (for scripts); requires --username
    #[arg(long)]
    password_stdin: bool,

    /// Print {"user_id", "username"} as JSON instead of text
    #[arg(long)]
    json: bool,
}

pub fn run(args: Args, settings: &Settings) -> Result<(), anyhow::Error> {
    let raw_username = match (args.username, args.password_stdin) {
        (Some(username), _) => username,
        (None, true) => {
            return Err(UsageError(
                "--password-stdin needs --username, because standard input carries the password".to_string(),
            )
            .into());
        }
        (None, false) => prompt_username()?,
    };
    if !args.password_stdin && !stdin_is_terminal() {
        return Err(UsageError(
            "standard input is not a terminal, so the password cannot be prompted for; pass --password-stdin and send it as the first line"
                .to_string(),
        )
        .into());
    }
    let username = Username::parse(&raw_username).map_err(|error| UsageError(format!("invalid username: {error}")))?;

    let store = open_store(settings)?;
    if store.find_login(&username)?.is_some() {
        anyhow::bail!("user '{}' already exists; choose another username", username.as_str());
    }

    let password = if args.password_stdin {
        read_password_from_stdin()?
    } else {
        prompt_new_password()?
    };

    let user = match store.create_user(&username, hash_password(&password), now()) {
        Ok(user) => user,
        Err(StoreError::UsernameTaken) => {
            anyhow::bail!("user '{}' already exists; choose another username", username.as_str())
        }
        Err(error) => return Err(anyhow::Error::new(error).context("failed to create the user")),
    };
    tracing::info!(user_id = %user.user_id, "user created");

    if args.json {
        print_json(&json!({ "user_id": user.user_id, "username": user.username }));
    } else {
        println!("Created user '{}' with user_id {}", user.username, user.user_id);
    }
    Ok(())
}

fn prompt_username() -> Result<String, anyhow::Error> {
    if !stdin_is_terminal() {
        return Err(UsageError(
            "no --username given and standard input is not a terminal; pass --username NAME (and --password-stdin)"
                .to_string(),
        )
        .into());
    }
    eprint!("Username: ");
    read_stdin_line("the username")
}
