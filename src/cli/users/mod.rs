//! `sesame users`: list and delete users, and change their passwords.

mod delete;
mod list;
mod set_password;

use crate::config::Settings;

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: UsersCommand,
}

#[derive(Debug, clap::Subcommand)]
enum UsersCommand {
    /// List every user with its number of live tokens (on PostgreSQL this needs
    /// SESAME_DATABASE_ADMIN_URL)
    List(list::Args),
    /// Delete a user with its tokens and workspaces (on PostgreSQL this needs
    /// SESAME_DATABASE_ADMIN_URL)
    Delete(delete::Args),
    /// Change a user's password and revoke the user's tokens
    SetPassword(set_password::Args),
}

pub fn run(args: Args, settings: &Settings) -> Result<(), anyhow::Error> {
    match args.command {
        UsersCommand::List(args) => list::run(args, settings),
        UsersCommand::Delete(args) => delete::run(args, settings),
        UsersCommand::SetPassword(args) => set_password::run(args, settings),
    }
}
