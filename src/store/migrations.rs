//! Embedded migrations for both backends, and on PostgreSQL the restricted role the server
//! logs in as.

use std::path::Path;

use diesel::migration::MigrationSource;
use diesel::prelude::*;
use diesel::sql_types::{Bool, Text};
use diesel::PgConnection;
use diesel_migrations::{embed_migrations, EmbeddedMigrations, MigrationHarness};

use super::connection::transaction;
use super::{Access, DbConnection, StoreError};
use crate::config::SecretString;

pub const SQLITE_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/sqlite");
pub const POSTGRES_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/postgres");

/// Arbitrary key of the advisory lock that keeps two `sesame migrate` runs from interleaving.
const MIGRATION_LOCK_KEY: i64 = 0x5e5a_3e00;

/// Prepares the SQLite file before SQLite opens it. A missing directory fails with a clear
/// message, where SQLite reports only "unable to open database file". A new file is created
/// readable by its owner alone, because it contains password hashes, and SQLite gives the
/// `-wal` and `-shm` files the same permissions.
pub(super) fn prepare_sqlite_file(path: &Path) -> Result<(), StoreError> {
    let parent = path.parent().filter(|parent| !parent.as_os_str().is_empty());
    if let Some(parent) = parent {
        if !parent.is_dir() {
            return Err(StoreError::Unavailable(format!(
                "directory {} for the SQLite database does not exist; create it or choose another path",
                parent.display()
            )));
        }
    }

    if path.exists() {
        return Ok(());
    }

    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    match options.open(path) {
        Ok(_) => Ok(()),
        Err(error) if error.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(error) => Err(StoreError::Unavailable(format!(
            "failed to create {}: {error}",
            path.display()
        ))),
    }
}

/// Applies every pending migration in one transaction, so a failure leaves the schema as it
/// was and concurrent runs wait for each other. Returns the versions applied.
pub fn run_pending(connection: &mut DbConnection) -> Result<Vec<String>, StoreError> {
    transaction(connection, Access::Write, |connection| {
        let applied = match connection {
            DbConnection::Sqlite(sqlite) => sqlite.run_pending_migrations(SQLITE_MIGRATIONS),
            DbConnection::Postgres(pg) => {
                diesel::sql_query(format!("SELECT pg_advisory_xact_lock({MIGRATION_LOCK_KEY})::text")).execute(pg)?;
                pg.run_pending_migrations(POSTGRES_MIGRATIONS)
            }
        }
        .map_err(|error| {
            let mut message = error.to_string();
            if message.contains("permission denied") {
                message.push_str(
                    "; run migrate as the owner of the database (SESAME_DATABASE_ADMIN_URL), not as the server's role",
                );
            }
            StoreError::MigrationFailed(message)
        })?;

        Ok(applied.into_iter().map(|version| version.to_string()).collect())
    })
}

#[derive(QueryableByName)]
struct AppliedVersion {
    #[diesel(sql_type = Text)]
    version: String,
}

/// Checks that a PostgreSQL database has every migration this binary embeds, reading the
/// migration table directly: the restricted role may read it but not create it.
pub(super) fn ensure_current(connection: &mut DbConnection) -> Result<(), StoreError> {
    let DbConnection::Postgres(pg) = connection else {
        return Ok(());
    };

    let applied: Vec<AppliedVersion> =
        diesel::sql_query("SELECT version::text AS version FROM __diesel_schema_migrations")
            .load(pg)
            .map_err(|error| StoreError::SchemaOutdated(format!("cannot read the migration table: {error}")))?;

    let missing: Vec<String> = MigrationSource::<diesel::pg::Pg>::migrations(&POSTGRES_MIGRATIONS)
        .map_err(|error| StoreError::SchemaOutdated(error.to_string()))?
        .iter()
        .map(|migration| migration.name().version().to_string())
        .filter(|version| !applied.iter().any(|row| &row.version == version))
        .collect();

    if missing.is_empty() {
        Ok(())
    } else {
        Err(StoreError::SchemaOutdated(format!(
            "missing migrations {}",
            missing.join(", ")
        )))
    }
}

/// The change [`provision_app_role`] made to the restricted role.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RoleOutcome {
    Created,
    Updated,
}

#[derive(QueryableByName)]
struct Statement {
    #[diesel(sql_type = Text)]
    statement: String,
}

#[derive(QueryableByName)]
struct ExistingRole {
    #[diesel(sql_type = Bool)]
    superuser: bool,
    #[diesel(sql_type = Bool)]
    bypasses_rls: bool,
    #[diesel(sql_type = Bool)]
    is_current: bool,
}

/// Creates (or updates) the restricted login role the server connects as. It grants exactly
/// what the server needs: rows of the tenant tables (still filtered by row-level security),
/// the login-attempt table, the lookup and prune functions, and read access to the migration
/// table. Running it again after an upgrade grants what new migrations added. The role is never a superuser, never BYPASSRLS and never the owner.
pub fn provision_app_role(
    pg: &mut PgConnection,
    role: &str,
    password: Option<&SecretString>,
) -> Result<RoleOutcome, StoreError> {
    pg.transaction(|pg| {
        let existing: Option<ExistingRole> = diesel::sql_query(
            "SELECT rolsuper AS superuser, rolbypassrls AS bypasses_rls, rolname = current_user AS is_current
             FROM pg_roles WHERE rolname = $1",
        )
        .bind::<Text, _>(role)
        .get_result(pg)
        .optional()?;

        let outcome = match existing {
            Some(found) if found.is_current => {
                return Err(StoreError::Misconfigured(format!(
                    "role {role} is the role running the migration, which owns the tables and so escapes row-level security; \
                     set SESAME_DATABASE_ADMIN_URL to an owner account and SESAME_DATABASE_USER to a different role"
                )));
            }
            Some(found) if found.superuser || found.bypasses_rls => {
                return Err(StoreError::Misconfigured(format!(
                    "role {role} is a superuser or has BYPASSRLS, so row-level security would not apply to it; \
                     choose another SESAME_DATABASE_USER"
                )));
            }
            Some(_) => RoleOutcome::Updated,
            None => {
                execute_formatted(pg, "CREATE ROLE %I LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOBYPASSRLS", role, None)
                    .map_err(|error| match error {
                        StoreError::Query(cause) if cause.to_string().contains("permission denied") => {
                            StoreError::Misconfigured(format!(
                                "failed to create role {role}: {cause}; grant CREATEROLE to the admin role, or create role {role} (LOGIN, no BYPASSRLS) beforehand"
                            ))
                        }
                        other => other,
                    })?;
                RoleOutcome::Created
            }
        };

        if let Some(password) = password {
            execute_formatted(pg, "ALTER ROLE %I PASSWORD %L", role, Some(password.expose()))?;
        }

        let grants = [
            "GRANT CONNECT ON DATABASE %I TO %I",
            "GRANT USAGE ON SCHEMA public TO %I",
            "GRANT SELECT, INSERT, UPDATE, DELETE ON users, tokens, workspaces TO %I",
            "GRANT SELECT, INSERT, DELETE ON login_attempts TO %I",
            "GRANT SELECT ON __diesel_schema_migrations TO %I",
            "GRANT EXECUTE ON FUNCTION sesame_find_token(text), sesame_find_login(text) TO %I",
            "GRANT EXECUTE ON FUNCTION sesame_prune(timestamp, timestamp, timestamp) TO %I",
        ];
        for grant in grants {
            if grant.contains("DATABASE") {
                let statement: Statement = diesel::sql_query(format!("SELECT format('{grant}', current_database(), $1::text) AS statement"))
                    .bind::<Text, _>(role)
                    .get_result(pg)?;
                diesel::sql_query(statement.statement).execute(pg)?;
            } else {
                execute_formatted(pg, grant, role, None)?;
            }
        }

        Ok(outcome)
    })
}

/// Runs a statement built by PostgreSQL's `format()`, which quotes the role name as an
/// identifier (`%I`) and the optional password as a literal (`%L`).
fn execute_formatted(
    pg: &mut PgConnection,
    template: &str,
    role: &str,
    literal: Option<&str>,
) -> Result<(), StoreError> {
    let statement: Statement = match literal {
        Some(literal) => diesel::sql_query(format!("SELECT format('{template}', $1::text, $2::text) AS statement"))
            .bind::<Text, _>(role)
            .bind::<Text, _>(literal)
            .get_result(pg)?,
        None => diesel::sql_query(format!("SELECT format('{template}', $1::text) AS statement"))
            .bind::<Text, _>(role)
            .get_result(pg)?,
    };
    diesel::sql_query(statement.statement).execute(pg)?;
    Ok(())
}
