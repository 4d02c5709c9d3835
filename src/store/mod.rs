//! The repository: every read and write of users, tokens, workspaces and login attempts, on
//! SQLite or PostgreSQL. Nothing outside this module builds SQL.
//!
//! Tenant data is reached through [`Tenant`], which exists only inside a transaction that has
//! already identified the user: queries filter by `user_id` on both backends, and on PostgreSQL
//! the transaction also sets `app.current_user_id` so row-level security applies.

pub mod admin;
mod connection;
mod login_attempts;
pub mod migrations;
pub mod models;
mod postgres;
pub mod schema;
mod tokens;
mod users;
mod workspaces;

use chrono::{NaiveDateTime, SubsecRound, Utc};
use diesel::result::{DatabaseErrorKind, Error as DieselError};

pub use admin::{AdminStore, BatchOutcome, NewUser, OnConflict, UserFootprint, UserSummary};
pub use connection::{Access, DbConnection, PooledConnection};
pub use tokens::{IssuedToken, PruneReport, TokenSelector, REVOKED_TOKEN_RETENTION};

use crate::config::DatabaseTarget;
use connection::{build_pool, transaction, ConnectionManager, Pool};
use models::Principal;

/// Errors of the repository. The HTTP layer maps each to one status; the CLI prints them.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// No connection could be made, the connection dropped, or the database cannot store
    /// changes for now (a read-only or full SQLite file): worth retrying later.
    #[error("database unavailable: {0}")]
    Unavailable(String),
    #[error("the database schema is not up to date ({0}); run `sesame migrate` with an owner account (SESAME_DATABASE_ADMIN_URL)")]
    SchemaOutdated(String),
    #[error("a migration failed: {0}")]
    MigrationFailed(String),
    /// The configuration would weaken isolation, such as a server role that bypasses
    /// row-level security.
    #[error("{0}")]
    Misconfigured(String),
    #[error("username already exists")]
    UsernameTaken,
    /// The token is unknown, revoked or expired.
    #[error("invalid or revoked token")]
    InvalidToken,
    /// The row does not exist or belongs to another user.
    #[error("not found")]
    NotFound,
    /// A stored value could not be read back, such as a config that is not a JSON object.
    #[error("corrupt stored data: {0}")]
    Corrupt(String),
    #[error("database query failed: {0}")]
    Query(DieselError),
}

impl From<DieselError> for StoreError {
    fn from(error: DieselError) -> Self {
        match &error {
            DieselError::DatabaseError(
                DatabaseErrorKind::ClosedConnection | DatabaseErrorKind::UnableToSendCommand,
                info,
            ) => StoreError::Unavailable(info.message().to_string()),
            DieselError::BrokenTransactionManager => StoreError::Unavailable(error.to_string()),
            DieselError::DatabaseError(DatabaseErrorKind::Unknown, info) => match sqlite_storage_hint(info.message()) {
                Some(hint) => StoreError::Unavailable(format!("{}; {hint}", info.message())),
                None => StoreError::Query(error),
            },
            _ => StoreError::Query(error),
        }
    }
}

/// Returns what an operator can do about a SQLite error that rejects every write until the
/// file system changes, or None for any other message.
///
/// NOTE: diesel passes on SQLite's message but not its result code, so this matches the fixed
/// texts SQLite gives SQLITE_READONLY and SQLITE_FULL (`sqlite3ErrStr` in SQLite 3.x).
fn sqlite_storage_hint(message: &str) -> Option<&'static str> {
    match message {
        "attempt to write a readonly database" => {
            Some("check that the SQLite file and its directory are writable, not immutable (chattr) and not on a read-only mount")
        }
        "database or disk is full" => Some("free space on the file system that holds the SQLite file"),
        _ => None,
    }
}

impl From<r2d2::Error> for StoreError {
    fn from(error: r2d2::Error) -> Self {
        StoreError::Unavailable(error.to_string())
    }
}

/// The database engine behind a [`Store`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Connections a SQLite store keeps for writing. SQLite admits one writer at a time, so a
/// small separate pool lets writers queue for it without taking the connections that reads
/// need.
const SQLITE_WRITER_POOL_SIZE: u32 = 2;

/// The repository, backed by connection pools. Cloning is cheap and shares the pools.
#[derive(Clone)]
pub struct Store {
    /// Connections for reads (and, on PostgreSQL, for everything).
    readers: Pool,
    /// Connections for writes: a separate small pool on SQLite, the same pool on PostgreSQL.
    writers: Pool,
    backend: Backend,
}

impl Store {
    /// Opens the database the server and the admin commands use. A SQLite file is created if
    /// needed and migrated; a PostgreSQL database must already be migrated by `sesame migrate`.
    pub fn open(target: &DatabaseTarget, pool_size: u32) -> Result<Store, StoreError> {
        let backend = match target {
            DatabaseTarget::Sqlite { path } => {
                migrations::prepare_sqlite_file(path)?;
                Backend::Sqlite
            }
            DatabaseTarget::Postgres { .. } => Backend::Postgres,
        };
        // Migrations and checks run on a connection of their own, before the pools start
        // connecting in background threads: a failed check then exits with no thread inside
        // libpq, where process exit could crash it.
        let mut connection = Store::connect_once(target)?;
        match backend {
            Backend::Sqlite => {
                let applied = migrations::run_pending(&mut connection)?;
                for version in &applied {
                    tracing::info!(%version, "applied migration");
                }
            }
            Backend::Postgres => {
                migrations::ensure_current(&mut connection)?;
                postgres::warn_if_rls_bypassed(&mut connection);
            }
        }
        drop(connection);

        let readers = build_pool(target, pool_size);
        let writers = match backend {
            Backend::Sqlite => build_pool(target, SQLITE_WRITER_POOL_SIZE),
            Backend::Postgres => readers.clone(),
        };
        Ok(Store {
            readers,
            writers,
            backend,
        })
    }

    /// Opens one connection for `sesame migrate`, outside any pool.
    pub fn connect_once(target: &DatabaseTarget) -> Result<DbConnection, StoreError> {
        if let DatabaseTarget::Sqlite { path } = target {
            migrations::prepare_sqlite_file(path)?;
        }
        ConnectionManager::establish(target).map_err(|error| {
            let message = error.to_string().trim_end().to_string();
            if message.contains("role \"") && message.contains("does not exist") {
                StoreError::Misconfigured(format!(
                    "{message}; run `sesame migrate` with SESAME_DATABASE_ADMIN_URL first, which creates the server's role"
                ))
            } else if message.contains("password authentication failed") {
                StoreError::Misconfigured(format!("{message}; check SESAME_DATABASE_PASSWORD or the password in the URL"))
            } else {
                StoreError::Unavailable(message)
            }
        })
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Takes a connection that may write, waiting a few seconds at most.
    pub fn connection(&self) -> Result<PooledConnection, StoreError> {
        Ok(self.writers.get()?)
    }

    /// Takes a connection for reading only, waiting a few seconds at most.
    pub fn read_connection(&self) -> Result<PooledConnection, StoreError> {
        Ok(self.readers.get()?)
    }

    fn connection_for(&self, access: Access) -> Result<PooledConnection, StoreError> {
        match access {
            Access::Read => self.read_connection(),
            Access::Write => self.connection(),
        }
    }

    /// Runs a trivial query to check that the database responds.
    pub fn ping(&self) -> Result<(), StoreError> {
        use diesel::r2d2::R2D2Connection;
        let mut connection = self.read_connection()?;
        connection.ping()?;
        Ok(())
    }

    /// Authenticates a token and runs `body` for its owner, all in one transaction.
    pub fn with_token<T>(
        &self,
        digest: &crate::auth::TokenDigest,
        now: NaiveDateTime,
        access: Access,
        body: impl FnOnce(&mut Tenant<'_>) -> Result<T, StoreError>,
    ) -> Result<(Principal, T), StoreError> {
        let mut connection = self.connection_for(access)?;
        transaction(&mut connection, access, |connection| {
            let principal = tokens::authenticate(connection, digest, now)?;
            let mut tenant = Tenant {
                connection,
                user_id: principal.user_id.clone(),
            };
            let value = body(&mut tenant)?;
            Ok((principal, value))
        })
    }

    /// Runs `body` for a user already identified (by password or by an admin command), in
    /// one transaction.
    pub fn with_user<T>(
        &self,
        user_id: &str,
        access: Access,
        body: impl FnOnce(&mut Tenant<'_>) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let mut connection = self.connection_for(access)?;
        transaction(&mut connection, access, |connection| {
            postgres::enter_tenant(connection, user_id)?;
            let mut tenant = Tenant {
                connection,
                user_id: user_id.to_string(),
            };
            body(&mut tenant)
        })
    }
}

/// One user's view of the database inside a transaction. Every query it runs is limited to
/// `user_id`.
pub struct Tenant<'c> {
    connection: &'c mut DbConnection,
    user_id: String,
}

impl Tenant<'_> {
    pub fn user_id(&self) -> &str {
        &self.user_id
    }
}

/// Returns the current time in UTC, truncated to microseconds so that both backends store and
/// return the same value.
pub fn now() -> NaiveDateTime {
    Utc::now().naive_utc().trunc_subsecs(6)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unknown_error(message: &str) -> DieselError {
        DieselError::DatabaseError(DatabaseErrorKind::Unknown, Box::new(message.to_string()))
    }

    #[test]
    fn full_sqlite_file_is_unavailable() {
        let error = StoreError::from(unknown_error("database or disk is full"));
        assert_eq!(
            error.to_string(),
            "database unavailable: database or disk is full; free space on the file system that holds the SQLite file"
        );
    }

    #[test]
    fn read_only_sqlite_file_is_unavailable() {
        let error = StoreError::from(unknown_error("attempt to write a readonly database"));
        assert!(matches!(error, StoreError::Unavailable(_)), "{error:?}");
    }

    #[test]
    fn other_database_errors_are_query_errors() {
        let error = StoreError::from(unknown_error("no such table: users"));
        assert!(matches!(error, StoreError::Query(_)), "{error:?}");
    }
}
