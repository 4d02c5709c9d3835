use anyhow::Context;
use serde_json::json;

use crate::cli::prompt::confirm_username;
use crate::cli::{counted, open_admin_store, parse_username_option, print_json, stdin_is_terminal, UsageError};
use crate::config::Settings;
use crate::store::StoreError;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// User to delete, in any letter case
    #[arg(long, visible_alias = "email", value_name = "NAME")]
    username: String,

    /// Delete without asking. Required when standard input is not a terminal; otherwise the
    /// command asks you to type the username
    #[arg(long)]
    yes: bool,

    /// Print {"user_id", "username", "deleted_tokens", "deleted_workspaces"} as JSON instead
    /// of text
    #[arg(long)]
    json: bool,
}

/// Deletes a user and, by cascade, every token and workspace of the user, after the
/// operator confirms by typing the username (unless --yes).
pub fn run(args: Args, settings: &Settings) -> Result<(), anyhow::Error> {
    let username = parse_username_option(&args.username)?;
    if !args.yes && !stdin_is_terminal() {
        return Err(UsageError(format!(
            "standard input is not a terminal, so the deletion of user '{}' cannot be confirmed; pass --yes to delete without asking",
            username.as_str()
        ))
        .into());
    }

    let store = open_admin_store(settings)?;
    let Some(found) = store
        .find_user(&username)
        .with_context(|| format!("failed to look up user '{}'", username.as_str()))?
    else {
        anyhow::bail!(
            "user '{}' not found, so nothing was deleted; run `sesame users list` to see every user",
            username.as_str()
        );
    };

    if !args.yes {
        let question = format!(
            "Delete user '{}' (user_id {}) with {} and {}? This cannot be undone.\nType the username to confirm: ",
            found.user.username,
            found.user.user_id,
            counted(found.tokens, "token"),
            counted(found.workspaces, "workspace"),
        );
        if !confirm_username(&question, &username)? {
            anyhow::bail!(
                "the typed name does not match '{}', so nothing was deleted",
                found.user.username
            );
        }
    }

    let deleted = match store.delete_user(&found.user.user_id) {
        Ok(deleted) => deleted,
        Err(StoreError::NotFound) => {
            anyhow::bail!(
                "user '{}' was deleted by another command in the meantime",
                found.user.username
            )
        }
        Err(error) => {
            return Err(anyhow::Error::new(error).context(format!("failed to delete user '{}'", found.user.username)));
        }
    };
    tracing::info!(
        user_id = %deleted.user.user_id,
        tokens = deleted.tokens,
        workspaces = deleted.workspaces,
        "user deleted"
    );

    if args.json {
        print_json(&json!({
            "user_id": deleted.user.user_id,
            "username": deleted.user.username,
            "deleted_tokens": deleted.tokens,
            "deleted_workspaces": deleted.workspaces,
        }));
    } else {
        println!(
            "Deleted user '{}' (user_id {}) with {} and {}",
            deleted.user.username,
            deleted.user.user_id,
            counted(deleted.tokens, "token"),
            counted(deleted.workspaces, "workspace"),
        );
    }
    Ok(())
}
