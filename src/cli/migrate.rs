use anyhow::Context;

use crate::config::Settings;
use crate::store::migrations::{provision_app_role, run_pending, RoleOutcome};
use crate::store::{DbConnection, Store};

#[derive(Debug, clap::Args)]
pub struct Args {}

/// Applies pending migrations with the admin database URL; on PostgreSQL it then creates or
/// updates the restricted role the server logs in as. Running it twice changes nothing.
pub fn run(_args: Args, settings: &Settings) -> Result<(), anyhow::Error> {
    let database = &settings.database;
    let mut connection = Store::connect_once(&database.admin_target)
        .with_context(|| format!("failed to connect to {}", database.admin_target.redacted()))?;

    let applied = run_pending(&mut connection)?;
    if applied.is_empty() {
        println!("No pending migrations; the schema is up to date");
    }
    for version in &applied {
        println!("Applied migration {version}");
    }

    if let DbConnection::Postgres(pg) = &mut connection {
        let outcome = provision_app_role(pg, &database.app_role, database.app_role_password.as_ref())?;
        let verb = match outcome {
            RoleOutcome::Created => "Created",
            RoleOutcome::Updated => "Updated",
        };
        println!(
            "{verb} role {} with row-level security (no BYPASSRLS) and the grants the server needs",
            database.app_role
        );
        if outcome == RoleOutcome::Created && database.app_role_password.is_none() {
            eprintln!(
                "warning: role {} has no password; set SESAME_DATABASE_PASSWORD and run migrate again unless the server connects with trust or peer authentication",
                database.app_role
            );
        }
    }
    Ok(())
}
